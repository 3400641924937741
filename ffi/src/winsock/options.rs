//! Socket options and ioctls: `setsockopt`/`getsockopt` (with
//! `SO_UPDATE_ACCEPT_CONTEXT`, `SO_UPDATE_CONNECT_CONTEXT`,
//! `SO_EXCLUSIVEADDRUSE`, `SO_RCVTIMEO`/`SO_SNDTIMEO` as Windows' DWORD
//! milliseconds), `ioctlsocket` (`FIONBIO`, `FIONREAD`) and
//! `WSAIoctl`, which also hands out the extension functions
//! (`SIO_GET_EXTENSION_FUNCTION_POINTER`, see [`super::extensions`]).

use std::ffi::c_void;
use std::sync::atomic::Ordering;

use super::extensions::{
    connect_ex, disconnect_ex, AcceptEx, AcceptExFn, ConnectExFn, DisconnectExFn,
    GetAcceptExSockaddrs, GetAcceptExSockaddrsFn, TransmitFile, TransmitFileFn,
};
use super::*;
use crate::engine::{self, IoObj};
use crate::error::{boundary, errno_to_wsa, fail};
use crate::handles;

/// `setsockopt`. `SO_UPDATE_ACCEPT_CONTEXT` / `SO_UPDATE_CONNECT_CONTEXT` are
/// accepted (the socket is fully usable without them); `SO_SNDBUF = 0` is
/// ignored; the rest goes to Linux (Linux `SOL_SOCKET`
/// and `SO_*` values, which the headers define).
///
/// # Safety
/// `optval` must be NULL or valid for `optlen` bytes.
#[no_mangle]
pub unsafe extern "C" fn cport_setsockopt(
    s: SOCKET,
    level: i32,
    optname: i32,
    optval: *const c_void,
    optlen: i32,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        let sol = level == libc::SOL_SOCKET || level == 0xFFFF;
        if sol && (optname == SO_UPDATE_ACCEPT_CONTEXT || optname == SO_UPDATE_CONNECT_CONTEXT) {
            if optname == SO_UPDATE_ACCEPT_CONTEXT
                && (optval.is_null() || optlen < std::mem::size_of::<SOCKET>() as i32)
            {
                return fail(WSAEFAULT, SOCKET_ERROR);
            }
            return 0;
        }
        if optval.is_null() && optlen > 0 {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        if sol && (optname == libc::SO_RCVTIMEO || optname == libc::SO_SNDTIMEO) {
            // Windows' form: a DWORD of milliseconds, 0 = forever. The
            // blocking calls honour it (the fd underneath is non-blocking).
            if optval.is_null() || optlen < 4 {
                return fail(WSAEFAULT, SOCKET_ERROR);
            }
            // SAFETY: optval is valid for optlen (≥ 4) bytes.
            let ms = unsafe { std::ptr::read_unaligned(optval.cast::<u32>()) };
            let slot = if optname == libc::SO_RCVTIMEO {
                &obj.recv_timeout_ms
            } else {
                &obj.send_timeout_ms
            };
            slot.store(ms, Ordering::Release);
            return 0;
        }
        if sol && (optname == SO_EXCLUSIVEADDRUSE || optname == libc::SO_REUSEADDR) {
            if optval.is_null() || optlen < 4 {
                return fail(WSAEFAULT, SOCKET_ERROR);
            }
            // SAFETY: optval is valid for optlen (≥ 4) bytes.
            let on = unsafe { std::ptr::read_unaligned(optval.cast::<i32>()) } != 0;
            let (this, other) = if optname == SO_EXCLUSIVEADDRUSE {
                (&obj.exclusive_addr, &obj.reuse_addr)
            } else {
                (&obj.reuse_addr, &obj.exclusive_addr)
            };
            // Windows refuses to set both.
            if on && other.load(Ordering::Acquire) {
                return fail(WSAEINVAL, SOCKET_ERROR);
            }
            this.store(on, Ordering::Release);
            if optname == SO_EXCLUSIVEADDRUSE {
                return 0; // no Linux option: bind honours it
            }
        }
        if sol && optname == libc::SO_SNDBUF && optlen >= 4 {
            // SAFETY: optval is valid for optlen (≥ 4) bytes.
            if unsafe { std::ptr::read_unaligned(optval.cast::<i32>()) } == 0 {
                return 0;
            }
        }
        let level = if level == 0xFFFF {
            libc::SOL_SOCKET
        } else {
            level
        };
        let r = with_fd(&obj, |fd| {
            // SAFETY: optval valid for optlen bytes (caller contract).
            check(unsafe {
                libc::setsockopt(fd, level, optname, optval, optlen.max(0) as libc::socklen_t)
            } as isize)
        });
        match r {
            Ok(Ok(_)) => 0,
            Ok(Err(e)) | Err(e) => fail(errno_to_wsa(e), SOCKET_ERROR),
        }
    })
}

/// `getsockopt`.
///
/// # Safety
/// `optval`/`optlen` must be valid (`*optlen` bytes at `optval`).
#[no_mangle]
pub unsafe extern "C" fn cport_getsockopt(
    s: SOCKET,
    level: i32,
    optname: i32,
    optval: *mut c_void,
    optlen: *mut i32,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        if optval.is_null() || optlen.is_null() {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        let level = if level == 0xFFFF {
            libc::SOL_SOCKET
        } else {
            level
        };
        if level == libc::SOL_SOCKET && optname == SO_CONNECT_TIME {
            // Seconds since the connection was made (its connect started),
            // 0xFFFFFFFF while not connected.
            // SAFETY: optlen valid (caller contract).
            if unsafe { *optlen } < 4 {
                return fail(WSAEFAULT, SOCKET_ERROR);
            }
            let connected = with_fd(&obj, |fd| {
                // SAFETY: a sockaddr_storage and its length, both local.
                unsafe {
                    let mut ss: libc::sockaddr_storage = std::mem::zeroed();
                    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                    libc::getpeername(
                        fd,
                        (&mut ss as *mut libc::sockaddr_storage).cast(),
                        &mut len,
                    ) == 0
                }
            })
            .unwrap_or(false);
            let at = *obj.connected_at.lock();
            let v = match at {
                Some(t) if connected => t.elapsed().as_secs().min(u64::from(u32::MAX - 1)) as u32,
                _ => u32::MAX,
            };
            // SAFETY: optval valid for *optlen (≥ 4) bytes (caller contract).
            unsafe {
                std::ptr::write_unaligned(optval.cast::<u32>(), v);
                *optlen = 4;
            }
            return 0;
        }
        if level == libc::SOL_SOCKET
            && (optname == libc::SO_RCVTIMEO || optname == libc::SO_SNDTIMEO)
        {
            // SAFETY: optlen valid (caller contract).
            if unsafe { *optlen } < 4 {
                return fail(WSAEFAULT, SOCKET_ERROR);
            }
            let ms = if optname == libc::SO_RCVTIMEO {
                obj.recv_timeout_ms.load(Ordering::Acquire)
            } else {
                obj.send_timeout_ms.load(Ordering::Acquire)
            };
            // SAFETY: optval holds *optlen (≥ 4) bytes (caller contract).
            unsafe {
                std::ptr::write_unaligned(optval.cast::<u32>(), ms);
                *optlen = 4;
            }
            return 0;
        }
        if level == libc::SOL_SOCKET
            && (optname == SO_EXCLUSIVEADDRUSE || optname == libc::SO_REUSEADDR)
        {
            // What the program set (bind sets SO_REUSEADDR underneath).
            // SAFETY: optlen valid (caller contract).
            if unsafe { *optlen } < 4 {
                return fail(WSAEFAULT, SOCKET_ERROR);
            }
            let flag = if optname == SO_EXCLUSIVEADDRUSE {
                &obj.exclusive_addr
            } else {
                &obj.reuse_addr
            };
            let v = i32::from(flag.load(Ordering::Acquire));
            // SAFETY: optval valid for *optlen (≥ 4) bytes (caller contract).
            unsafe {
                std::ptr::write_unaligned(optval.cast::<i32>(), v);
                *optlen = 4;
            }
            return 0;
        }
        // SAFETY: optlen valid (caller contract).
        let mut len = unsafe { *optlen }.max(0) as libc::socklen_t;
        let r = with_fd(&obj, |fd| {
            // SAFETY: optval valid for *optlen bytes (caller contract).
            check(unsafe { libc::getsockopt(fd, level, optname, optval, &mut len) } as isize)
        });
        match r {
            Ok(Ok(_)) => {
                let buf = optname == libc::SO_SNDBUF || optname == libc::SO_RCVBUF;
                if level == libc::SOL_SOCKET && buf && len >= 4 {
                    // Linux reports twice the size set (its bookkeeping
                    // overhead); Windows reports the size set.
                    // SAFETY: optval holds the 4-byte value just read.
                    unsafe {
                        let v = std::ptr::read_unaligned(optval.cast::<i32>());
                        std::ptr::write_unaligned(optval.cast::<i32>(), v / 2);
                    }
                }
                // SAFETY: as above.
                unsafe { *optlen = len as i32 };
                0
            }
            Ok(Err(e)) | Err(e) => fail(errno_to_wsa(e), SOCKET_ERROR),
        }
    })
}

fn is_fionbio(cmd: i64) -> bool {
    cmd as u32 == FIONBIO as u32 || cmd == libc::FIONBIO as i64
}

fn is_fionread(cmd: i64) -> bool {
    cmd as u32 == FIONREAD as u32 || cmd == libc::FIONREAD as i64
}

/// FIONBIO / FIONREAD on a socket.
///
/// # Safety
/// `arg` must be NULL or valid for reads and writes of one `u_long`.
unsafe fn ioctl(obj: &IoObj, cmd: i64, arg: *mut libc::c_ulong) -> Result<(), DWORD> {
    if arg.is_null() {
        return Err(WSAEFAULT);
    }
    if is_fionbio(cmd) {
        // SAFETY: arg is valid (caller contract).
        let on = unsafe { *arg } != 0;
        obj.nonblocking.store(on, Ordering::Release);
        Ok(())
    } else if is_fionread(cmd) {
        let mut n: i32 = 0;
        let r = with_fd(obj, |fd| {
            // SAFETY: FIONREAD writes one int into `n`.
            check(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } as isize)
        });
        match r {
            Ok(Ok(_)) => {
                // SAFETY: arg is valid (caller contract).
                unsafe { *arg = n.max(0) as libc::c_ulong };
                Ok(())
            }
            Ok(Err(e)) | Err(e) => Err(errno_to_wsa(e)),
        }
    } else {
        Err(WSAEINVAL)
    }
}

/// `SIO_KEEPALIVE_VALS`: keep-alive on or off, with the idle time and the
/// probe interval in milliseconds (Linux counts whole seconds: rounded up).
fn keepalive(obj: &IoObj, on: bool, time_ms: ULONG, interval_ms: ULONG) -> Result<(), DWORD> {
    let secs = |ms: ULONG| ms.div_ceil(1000).clamp(1, 32767) as i32;
    let set = |fd: RawFd, level: i32, name: i32, v: i32| {
        // SAFETY: an int option from a local.
        check(unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&v as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        } as isize)
    };
    let r = with_fd(obj, |fd| {
        set(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, i32::from(on))?;
        if on {
            set(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(time_ms))?;
            set(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_KEEPINTVL,
                secs(interval_ms),
            )?;
        }
        Ok(0)
    });
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) | Err(e) => Err(errno_to_wsa(e)),
    }
}

/// `ioctlsocket` (FIONBIO, FIONREAD; Windows or Linux command values).
///
/// # Safety
/// `arg` must be NULL or valid for one `u_long`.
#[no_mangle]
pub unsafe extern "C" fn ioctlsocket(s: SOCKET, cmd: libc::c_long, arg: *mut libc::c_ulong) -> i32 {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        // SAFETY: `arg` is NULL or valid (caller contract).
        match unsafe { ioctl(&obj, cmd, arg) } {
            Ok(()) => 0,
            Err(e) => fail(e, SOCKET_ERROR),
        }
    })
}

/// `WSAIoctl`: `SIO_GET_EXTENSION_FUNCTION_POINTER` (AcceptEx, ConnectEx,
/// GetAcceptExSockaddrs, DisconnectEx, TransmitFile), `SIO_KEEPALIVE_VALS`,
/// FIONBIO, FIONREAD.
///
/// # Safety
/// Buffers valid for their lengths; `ov` NULL or valid until completion.
#[no_mangle]
pub unsafe extern "C" fn WSAIoctl(
    s: SOCKET,
    code: DWORD,
    inbuf: *mut c_void,
    inlen: DWORD,
    outbuf: *mut c_void,
    outlen: DWORD,
    returned: *mut DWORD,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        if !routine.is_null() {
            return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
        }
        let mut n_out = 0usize;
        let r = if code == SIO_GET_EXTENSION_FUNCTION_POINTER {
            if inbuf.is_null()
                || (inlen as usize) < std::mem::size_of::<GUID>()
                || outbuf.is_null()
                || (outlen as usize) < std::mem::size_of::<usize>()
            {
                Err(WSAEFAULT)
            } else {
                // SAFETY: inbuf holds a GUID (length checked).
                let guid = unsafe { std::ptr::read_unaligned(inbuf.cast::<GUID>()) };
                let f: Option<usize> = if guid == WSAID_ACCEPTEX {
                    Some(AcceptEx as AcceptExFn as usize)
                } else if guid == WSAID_GETACCEPTEXSOCKADDRS {
                    Some(GetAcceptExSockaddrs as GetAcceptExSockaddrsFn as usize)
                } else if guid == WSAID_CONNECTEX {
                    Some(connect_ex as ConnectExFn as usize)
                } else if guid == WSAID_DISCONNECTEX {
                    Some(disconnect_ex as DisconnectExFn as usize)
                } else if guid == WSAID_TRANSMITFILE {
                    Some(TransmitFile as TransmitFileFn as usize)
                } else if guid == WSAID_WSARECVMSG {
                    Some(super::msg::RECV_MSG as usize)
                } else if guid == WSAID_WSASENDMSG {
                    Some(super::msg::SEND_MSG as usize)
                } else {
                    None
                };
                match f {
                    Some(f) => {
                        // SAFETY: outbuf holds a pointer (length checked).
                        unsafe { std::ptr::write_unaligned(outbuf.cast::<usize>(), f) };
                        n_out = std::mem::size_of::<usize>();
                        Ok(())
                    }
                    None => Err(WSAEINVAL),
                }
            }
        } else if code == SIO_KEEPALIVE_VALS {
            if inbuf.is_null() || (inlen as usize) < std::mem::size_of::<[ULONG; 3]>() {
                Err(WSAEFAULT)
            } else {
                // SAFETY: inbuf holds a struct tcp_keepalive (length checked).
                let v = unsafe { std::ptr::read_unaligned(inbuf.cast::<[ULONG; 3]>()) };
                keepalive(&obj, v[0] != 0, v[1], v[2])
            }
        } else if is_fionbio(i64::from(code as i32)) {
            if inbuf.is_null() || (inlen as usize) < 4 {
                Err(WSAEFAULT)
            } else {
                // SAFETY: inbuf holds at least 4 bytes (checked).
                let mut v =
                    unsafe { std::ptr::read_unaligned(inbuf.cast::<u32>()) } as libc::c_ulong;
                // SAFETY: a local u_long.
                unsafe { ioctl(&obj, FIONBIO as i64, &mut v) }
            }
        } else if is_fionread(i64::from(code as i32)) {
            if outbuf.is_null() || (outlen as usize) < 4 {
                Err(WSAEFAULT)
            } else {
                let mut v: libc::c_ulong = 0;
                // SAFETY: a local u_long.
                let r = unsafe { ioctl(&obj, FIONREAD as i64, &mut v) };
                if r.is_ok() {
                    // SAFETY: outbuf holds at least 4 bytes (checked).
                    unsafe { std::ptr::write_unaligned(outbuf.cast::<u32>(), v as u32) };
                    n_out = 4;
                }
                r
            }
        } else {
            Err(WSAEINVAL)
        };
        if let Err(e) = r {
            return fail(e, SOCKET_ERROR);
        }
        if !returned.is_null() {
            // SAFETY: valid out-pointer (caller contract).
            unsafe { *returned = n_out as DWORD };
        }
        if !ov.is_null() {
            // An overlapped WSAIoctl that completes at once still queues a packet.
            // SAFETY: ov is valid (caller contract).
            match unsafe { handles::prepare(&obj, ov) } {
                Ok(p) => {
                    engine::complete_inline(p, &obj, n_out);
                }
                Err(e) => return fail(e, SOCKET_ERROR),
            }
        }
        0
    })
}
