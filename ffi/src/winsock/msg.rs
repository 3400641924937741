//! `WSARecvMsg` (only through `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER,
//! WSAID_WSARECVMSG)`, as on Windows) and `WSASendMsg` (exported, and
//! through `WSAID_WSASENDMSG`): `recvmsg`/`sendmsg` with Windows' `WSAMSG`.
//! The control data is passed through as it is: `WSACMSGHDR` has Linux's
//! `cmsghdr` layout, and the levels, types and payloads (`IP_PKTINFO`'s
//! `struct in_pktinfo` …) are Linux's, like the other socket constants.
//!
//! Without an `OVERLAPPED` both are blocking calls (FIONBIO, SO_RCVTIMEO /
//! SO_SNDTIMEO apply). With one, a receive is made at once if no other
//! receive of the socket is pending: if it completes, it returns 0 and
//! queues its packet as any inline completion does; otherwise it goes
//! pending on the engine like `WSARecv` (`WSA_IO_PENDING`), and the source
//! address, control data length and flags are written into the `WSAMSG` at
//! completion (the program keeps it valid until then, as on Windows); a
//! completion routine reports it as an APC to the issuing thread, as for
//! `WSARecv`. With `MSG_PEEK`/`MSG_OOB` a receive that would wait fails
//! with `WSAEOPNOTSUPP`. A send waits until it can complete (it takes no
//! completion routine: `WSAEOPNOTSUPP`).

use std::ffi::c_void;
use std::sync::atomic::Ordering;

use super::*;
use crate::engine::{CBuf, OpKind};
use crate::error::boundary;

/// `WSAMSG` (Windows x64: 56 bytes).
#[repr(C)]
#[allow(non_snake_case, clippy::upper_case_acronyms)]
pub struct WSAMSG {
    pub name: *mut libc::sockaddr,
    pub namelen: INT,
    pub lpBuffers: *mut WSABUF,
    pub dwBufferCount: ULONG,
    pub Control: WSABUF,
    pub dwFlags: ULONG,
}

/// `MSG_TRUNC` and `MSG_CTRUNC` in `dwFlags`: Linux's values, as the
/// header's `MSG_*` are.
const W_MSG_TRUNC: ULONG = libc::MSG_TRUNC as ULONG;
const W_MSG_CTRUNC: ULONG = libc::MSG_CTRUNC as ULONG;

pub(crate) type RecvMsgFn =
    unsafe extern "C" fn(SOCKET, *mut WSAMSG, *mut DWORD, *mut OVERLAPPED, *const c_void) -> INT;
pub(crate) type SendMsgFn = unsafe extern "C" fn(
    SOCKET,
    *mut WSAMSG,
    DWORD,
    *mut DWORD,
    *mut OVERLAPPED,
    *const c_void,
) -> INT;

/// The message's buffers as iovecs, and a msghdr over them.
///
/// # Safety
/// `msg` must be a valid `WSAMSG` whose buffers are valid.
unsafe fn linux_msg(msg: &WSAMSG) -> Result<(Vec<libc::iovec>, libc::msghdr), DWORD> {
    if msg.dwBufferCount > 0 && msg.lpBuffers.is_null() {
        return Err(WSAEFAULT);
    }
    let bufs = if msg.dwBufferCount == 0 {
        &[][..]
    } else {
        // SAFETY: valid for dwBufferCount entries (caller contract).
        unsafe { std::slice::from_raw_parts(msg.lpBuffers, msg.dwBufferCount as usize) }
    };
    // SAFETY: each WSABUF describes valid memory (caller contract).
    let iov: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| unsafe { iovec(b.buf, b.len as usize) })
        .collect();
    let mut m = engine::msghdr(&iov, msg.name.cast(), msg.namelen.max(0) as u32);
    if msg.name.is_null() {
        m.msg_namelen = 0;
    }
    if !msg.Control.buf.is_null() && msg.Control.len > 0 {
        m.msg_control = msg.Control.buf.cast();
        m.msg_controllen = msg.Control.len as usize;
    }
    m.msg_iov = iov.as_ptr() as *mut libc::iovec;
    Ok((iov, m))
}

/// Ends an overlapped call that completed at once: its packet, 0.
///
/// Reports through a completion routine (an APC to the calling thread, at
/// its next alertable wait) when `routine` is not NULL.
///
/// # Safety
/// `ov` must be a valid OVERLAPPED.
/// `routine` must be NULL or a `LPWSAOVERLAPPED_COMPLETION_ROUTINE`.
unsafe fn complete(obj: &IoObj, ov: *mut OVERLAPPED, n: usize, routine: *const c_void) -> INT {
    // SAFETY: caller contract.
    match unsafe { super::overlapped::prepare_winsock(obj, ov, routine) } {
        Ok(p) => {
            engine::complete_inline(p, obj, n);
            0
        }
        Err(e) => fail(e, SOCKET_ERROR),
    }
}

/// The start of `WSARecvMsg` and `WSASendMsg`: the socket, and the message's
/// buffers as iovecs with a msghdr over them; `WSAENOTSOCK`, or `WSAEFAULT`
/// for a NULL `msg` or buffer array.
///
/// # Safety
/// `msg` must be NULL or a valid `WSAMSG` whose buffers are valid.
unsafe fn socket_and_msg(
    s: SOCKET,
    msg: *const WSAMSG,
) -> Result<(Arc<IoObj>, Vec<libc::iovec>, libc::msghdr), DWORD> {
    let obj = sock(s)?;
    if msg.is_null() {
        return Err(WSAEFAULT);
    }
    // SAFETY: valid (checked non-NULL; caller contract).
    let (iov, m) = unsafe { linux_msg(&*msg) }?;
    Ok((obj, iov, m))
}

/// What a receive that completed on the calling thread reports in the
/// `WSAMSG` (`namelen`, `Control.len`, `dwFlags`) and `*received`; returns
/// whether it truncated a datagram.
///
/// # Safety
/// `received` must be NULL or valid for a write.
unsafe fn write_received(
    obj: &IoObj,
    msg: &mut WSAMSG,
    m: &libc::msghdr,
    n: usize,
    received: *mut DWORD,
) -> bool {
    if !msg.name.is_null() {
        msg.namelen = m.msg_namelen as INT;
    }
    msg.Control.len = if m.msg_control.is_null() {
        0
    } else {
        m.msg_controllen as ULONG
    };
    let mut out = 0;
    if m.msg_flags & libc::MSG_TRUNC != 0 {
        out |= W_MSG_TRUNC;
    }
    if m.msg_flags & libc::MSG_CTRUNC != 0 {
        out |= W_MSG_CTRUNC;
    }
    msg.dwFlags = out;
    if !received.is_null() {
        // SAFETY: valid out-pointer (caller contract).
        unsafe { *received = n as DWORD };
    }
    out & W_MSG_TRUNC != 0 && engine::is_datagram(obj)
}

/// `WSARecvMsg`.
///
/// # Safety
/// `msg` and everything it points to, `received` and `ov` must be valid;
/// with an `ov`, the `WSAMSG`, its buffers, name and control buffer stay
/// valid until the operation's completion is published.
pub(crate) unsafe extern "C" fn wsa_recv_msg(
    s: SOCKET,
    msg: *mut WSAMSG,
    received: *mut DWORD,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> INT {
    boundary(SOCKET_ERROR, || {
        // SAFETY: `msg` NULL or valid (caller contract).
        let (obj, iov, mut m) = match unsafe { socket_and_msg(s, msg) } {
            Ok(x) => x,
            Err(e) => return fail(e, SOCKET_ERROR),
        };
        // SAFETY: valid (checked non-NULL above; caller contract).
        let msg = unsafe { &mut *msg };
        let flags = msg.dwFlags as i32 & (libc::MSG_PEEK | libc::MSG_OOB);
        let namelen = m.msg_namelen;
        let controllen = m.msg_controllen;
        let mut call = |fd: RawFd| {
            m.msg_namelen = namelen;
            m.msg_controllen = controllen;
            // SAFETY: the buffers are valid (caller contract).
            unsafe { libc::recvmsg(fd, &mut m, flags | libc::MSG_DONTWAIT) }
        };
        if ov.is_null() {
            let timeout = obj.recv_timeout_ms.load(Ordering::Acquire);
            let r = blocking_call(&obj, libc::POLLIN, timeout, &mut call);
            // After the receive: FD_READ again only if data remains.
            super::event_select::reenable(&obj, super::event_select::FD_READ, false);
            let n = match r {
                Ok(n) => n,
                Err(e) => return fail(stream_error(&obj, e), SOCKET_ERROR),
            };
            // SAFETY: `received` is valid (caller contract).
            if unsafe { write_received(&obj, msg, &m, n, received) } {
                return fail(WSAEMSGSIZE, SOCKET_ERROR);
            }
            return 0;
        }
        // A completion routine ends the operation as an APC to this thread
        // (without an OVERLAPPED it is ignored, as by WSARecv).
        // SAFETY: ov is valid until completion (caller contract).
        let p = match unsafe { super::overlapped::prepare_winsock(&obj, ov, routine) } {
            Ok(p) => p,
            Err(e) => return fail(e, SOCKET_ERROR),
        };
        // Inline attempt: only with no receive of this socket in the engine
        // (it must get the data first).
        if obj.recv_pending.load(Ordering::Acquire) == 0 {
            let r = with_fd(&obj, |fd| check(call(fd)));
            super::event_select::reenable(&obj, super::event_select::FD_READ, false);
            match r {
                Ok(Ok(n)) => {
                    // SAFETY: `received` is valid (caller contract).
                    if unsafe { write_received(&obj, msg, &m, n, received) } {
                        // A truncated datagram: a warning, its packet queued.
                        engine::complete_inline_warning(p, &obj, STATUS_BUFFER_OVERFLOW, n);
                        return fail(WSAEMSGSIZE, SOCKET_ERROR);
                    }
                    engine::complete_inline(p, &obj, n);
                    return 0;
                }
                Ok(Err(libc::EAGAIN)) => {}
                Ok(Err(e)) | Err(e) => return super::overlapped::failed_at_once(p, &obj, e),
            }
        }
        if flags != 0 {
            // MSG_PEEK / MSG_OOB have no pending form here.
            engine::fail_sync(p, &obj, crate::error::status_carrying(WSAEOPNOTSUPP), false);
            return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
        }
        let Some(home) = obj.io_home() else {
            return super::overlapped::closed_meanwhile(p, &obj);
        };
        let field = |f: *mut u32| f as usize;
        let kind = OpKind::RecvMsg {
            name: m.msg_name as usize,
            namelen: (&raw mut msg.namelen) as usize,
            control_len: field(&raw mut msg.Control.len),
            flags: field(&raw mut msg.dwFlags),
            got: None,
        };
        // SAFETY: the WSABUFs stay valid until completion (caller contract).
        let mut bufs = unsafe { super::overlapped::cbufs(&iov) };
        // The control buffer goes last (none: an empty one).
        // SAFETY: the control buffer stays valid until completion (caller
        // contract); with none, its length is 0 and nothing is written.
        bufs.push(unsafe { CBuf::new(m.msg_control.cast(), m.msg_controllen) });
        let mut ctx = p.into_ctx(obj.clone(), kind);
        ctx.want = iov.iter().map(|v| v.iov_len).sum();
        // SAFETY: the buffers, the WSAMSG and the OVERLAPPED stay valid until
        // completion (caller contract).
        match unsafe {
            super::overlapped::launch_counted(&obj, &obj.recv_pending, &home, ctx, bufs)
        } {
            Ok(()) => fail(WSA_IO_PENDING, SOCKET_ERROR),
            Err(wsa) => fail(wsa, SOCKET_ERROR),
        }
    })
}

/// `WSASendMsg`.
///
/// # Safety
/// `msg` and everything it points to, `sent` and `ov` must be valid.
#[no_mangle]
pub unsafe extern "C" fn WSASendMsg(
    s: SOCKET,
    msg: *mut WSAMSG,
    flags: DWORD,
    sent: *mut DWORD,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> INT {
    boundary(SOCKET_ERROR, || {
        // SAFETY: `msg` NULL or valid (caller contract).
        let (obj, _iov, m) = match unsafe { socket_and_msg(s, msg) } {
            Ok(x) => x,
            Err(e) => return fail(e, SOCKET_ERROR),
        };
        let flags = flags as i32 & (libc::MSG_OOB | libc::MSG_DONTROUTE);
        let timeout = obj.send_timeout_ms.load(Ordering::Acquire);
        let r = blocking_call(&obj, libc::POLLOUT, timeout, |fd| {
            // SAFETY: the buffers are valid (caller contract).
            unsafe { libc::sendmsg(fd, &m, flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) }
        });
        let n = match r {
            Ok(n) => n,
            Err(libc::EAGAIN) => {
                super::event_select::reenable(&obj, super::event_select::FD_WRITE, false);
                return fail(WSAEWOULDBLOCK, SOCKET_ERROR);
            }
            Err(e) => return fail(stream_error(&obj, e), SOCKET_ERROR),
        };
        if !sent.is_null() {
            // SAFETY: valid out-pointer (caller contract).
            unsafe { *sent = n as DWORD };
        }
        if ov.is_null() {
            // As for WSASend: without an OVERLAPPED the routine is ignored.
            0
        } else {
            // SAFETY: valid OVERLAPPED and routine (caller contract).
            unsafe { complete(&obj, ov, n, routine) }
        }
    })
}

/// `WSASendMsg` as the extension function pointer hands it out.
pub(crate) const SEND_MSG: SendMsgFn = WSASendMsg;
/// `WSARecvMsg` as the extension function pointer hands it out.
pub(crate) const RECV_MSG: RecvMsgFn = wsa_recv_msg;
