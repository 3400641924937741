//! Socket lifecycle and the blocking calls: `socket`/`WSASocket`, `bind`
//! (Windows' address rules), `listen`, `connect`, `accept`/`WSAAccept`,
//! `closesocket`, `shutdown`, `getsockname`/`getpeername`, and
//! `send`/`sendto`/`recv`/`recvfrom`.

use std::ffi::c_void;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::*;
use crate::engine::{self, IoObj, ObjKind};
use crate::error::{boundary, errno_to_wsa, fail};
use crate::handles::{self, Object};

/// `socket`.
#[no_mangle]
pub extern "C" fn cport_socket(af: i32, ty: i32, protocol: i32) -> SOCKET {
    boundary(INVALID_SOCKET, || new_socket(af, ty, protocol, true))
}

/// `WSAPROTOCOL_INFOA` up to the fields `WSASocket` reads.
#[repr(C)]
struct ProtocolInfoHead {
    service_flags: [DWORD; 4],
    provider_flags: DWORD,
    provider_id: GUID,
    catalog_entry_id: DWORD,
    chain_len: i32,
    chain_entries: [DWORD; 7],
    version: i32,
    address_family: i32,
    max_sockaddr: i32,
    min_sockaddr: i32,
    socket_type: i32,
    protocol: i32,
}

/// `WSASocket`: the family, type and protocol may come from
/// `lpProtocolInfo`.
///
/// # Safety
/// `info` must be NULL or point to a `WSAPROTOCOL_INFO`.
unsafe fn wsa_socket(
    af: i32,
    ty: i32,
    protocol: i32,
    info: *const ProtocolInfoHead,
    flags: DWORD,
) -> SOCKET {
    let (mut af, mut ty, mut protocol) = (af, ty, protocol);
    if !info.is_null() {
        // SAFETY: a non-NULL lpProtocolInfo points to a WSAPROTOCOL_INFO
        // (caller contract), whose first fields are ProtocolInfoHead.
        let i = unsafe { &*info };
        if af == FROM_PROTOCOL_INFO {
            af = i.address_family;
        }
        if ty == FROM_PROTOCOL_INFO {
            ty = i.socket_type;
        }
        if protocol == FROM_PROTOCOL_INFO {
            protocol = i.protocol;
        }
    }
    new_socket(af, ty, protocol, flags & WSA_FLAG_OVERLAPPED != 0)
}

/// Defines `WSASocketA` and `WSASocketW`: both are [`wsa_socket`], which
/// reads only the fields the two `WSAPROTOCOL_INFO` types share.
macro_rules! wsa_socket_export {
    ($export:ident, $info:literal) => {
        #[doc = concat!("`", stringify!($export), "`.")]
        ///
        /// # Safety
        #[doc = concat!("`info` must be NULL or point to a `", $info, "`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $export(
            af: i32,
            ty: i32,
            protocol: i32,
            info: *const c_void,
            _group: u32,
            flags: DWORD,
        ) -> SOCKET {
            // SAFETY: `info` is NULL or a WSAPROTOCOL_INFO (caller contract).
            boundary(INVALID_SOCKET, || unsafe {
                wsa_socket(af, ty, protocol, info.cast(), flags)
            })
        }
    };
}

wsa_socket_export!(WSASocketA, "WSAPROTOCOL_INFOA");
wsa_socket_export!(WSASocketW, "WSAPROTOCOL_INFOW");

/// Runs a simple socket syscall: `0` or `SOCKET_ERROR` + the mapped error.
fn simple(s: SOCKET, f: impl FnOnce(&IoObj, RawFd) -> isize) -> i32 {
    let obj = sock_or!(s, SOCKET_ERROR);
    match with_fd(&obj, |fd| check(f(&obj, fd))) {
        Ok(Ok(_)) => 0,
        Ok(Err(e)) | Err(e) => fail(errno_to_wsa(e), SOCKET_ERROR),
    }
}

/// A TCP address bound by a cport socket of this process (for Windows'
/// address-sharing rules, which Linux's SO_REUSEADDR relaxes).
struct Bound {
    obj: Weak<IoObj>,
    addr: SocketAddr,
    exclusive: bool,
}

static BOUND: Mutex<Vec<Bound>> = Mutex::new(Vec::new());

/// Two bind addresses collide: same family and port, and the same IP or
/// either one the wildcard.
fn collide(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Windows' bind rules for a TCP socket on a fixed port, before the kernel's:
/// an address that another socket of this process holds is in use
/// (`WSAEADDRINUSE`) unless the new socket set SO_REUSEADDR and the other
/// did not set SO_EXCLUSIVEADDRUSE (then `WSAEACCES`).
fn check_bind(obj: &Arc<IoObj>, addr: &SocketAddr, bound: &mut Vec<Bound>) -> Result<(), DWORD> {
    bound.retain(|b| b.obj.upgrade().is_some_and(|o| o.current().is_some()));
    let reuse = obj.reuse_addr.load(Ordering::Acquire);
    for b in bound.iter().filter(|b| collide(&b.addr, addr)) {
        if b.obj.upgrade().is_some_and(|o| Arc::ptr_eq(&o, obj)) {
            continue; // binding twice: the kernel says WSAEINVAL
        }
        match (b.exclusive, reuse) {
            (true, true) => return Err(WSAEACCES),
            (_, false) => return Err(WSAEADDRINUSE),
            (false, true) => {}
        }
    }
    Ok(())
}

fn set_int_opt(fd: RawFd, level: i32, name: i32, value: i32) -> isize {
    // SAFETY: an int option from a local.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        ) as isize
    }
}

/// `bind`. A TCP socket gets SO_REUSEADDR underneath (unless the program
/// asked for SO_EXCLUSIVEADDRUSE): on Windows a server can bind its port
/// again while connections of an earlier instance sit in TIME_WAIT, which
/// Linux allows only when both the old and the new socket had SO_REUSEADDR
/// — so every TCP bind sets it, also to port 0 (whose connections a
/// restarted server may meet on the port it was given; the kernel still
/// picks a port nobody uses). Linux's SO_REUSEADDR still refuses an address
/// that a socket listens on; an address that another socket of this process
/// merely holds is refused by `check_bind`, as Windows refuses it.
///
/// # Safety
/// `name` must be NULL or valid for `namelen` bytes.
#[no_mangle]
pub unsafe extern "C" fn cport_bind(s: SOCKET, name: *const libc::sockaddr, namelen: i32) -> i32 {
    boundary(SOCKET_ERROR, || {
        if name.is_null() || namelen < 2 {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        let obj = sock_or!(s, SOCKET_ERROR);
        // SAFETY: `name` is valid for `namelen` bytes (caller contract).
        let tcp = match unsafe { to_std(name, namelen) } {
            Ok(a) if sock_type(&obj) == libc::SOCK_STREAM => Some(a),
            _ => None,
        };
        // Only a fixed port can collide with another socket's.
        let fixed = tcp.filter(|a| a.port() != 0);
        let mut bound = BOUND.lock();
        if let Some(addr) = &fixed {
            if let Err(e) = check_bind(&obj, addr, &mut bound) {
                return fail(e, SOCKET_ERROR);
            }
        }
        let exclusive = obj.exclusive_addr.load(Ordering::Acquire);
        let r = simple(s, |o, fd| {
            if tcp.is_some() && !exclusive && !o.reuse_addr.load(Ordering::Acquire) {
                set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
            }
            // SAFETY: `name` is valid for `namelen` bytes (caller contract).
            unsafe { libc::bind(fd, name, namelen as libc::socklen_t) as isize }
        });
        if let (0, Some(addr)) = (r, fixed) {
            bound.push(Bound {
                obj: Arc::downgrade(&obj),
                addr,
                exclusive,
            });
        }
        r
    })
}

/// `listen`.
#[no_mangle]
pub extern "C" fn cport_listen(s: SOCKET, backlog: i32) -> i32 {
    boundary(SOCKET_ERROR, || {
        let r = simple(s, |_, fd| {
            // SAFETY: plain syscall.
            unsafe { libc::listen(fd, backlog.clamp(1, 4096)) as isize }
        });
        if r == 0 {
            if let Ok(o) = sock(s) {
                o.listening.store(true, Ordering::Release);
                // A socket selected before it listened: FD_ACCEPT can fire now.
                super::event_select::reenable(&o, 0, false);
            }
        }
        r
    })
}

/// `connect` (blocking unless FIONBIO; never queues a packet).
///
/// # Safety
/// `name` must be NULL or valid for `namelen` bytes.
#[no_mangle]
pub unsafe extern "C" fn cport_connect(
    s: SOCKET,
    name: *const libc::sockaddr,
    namelen: i32,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        if name.is_null() || namelen < 2 {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        // SAFETY: `name` is valid for `namelen` bytes (caller contract).
        let r = with_fd(&obj, |fd| unsafe {
            check(libc::connect(fd, name, namelen as libc::socklen_t) as isize)
        });
        let r = match r {
            Ok(Err(libc::EINPROGRESS)) if obj.nonblocking.load(Ordering::Acquire) => {
                Err(libc::EAGAIN)
            }
            Ok(Err(libc::EINPROGRESS)) => wait_ready(&obj, libc::POLLOUT, None)
                .and_then(|()| with_fd(&obj, so_error).and_then(|e| e)),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) | Err(e) => Err(e),
        };
        if matches!(r, Ok(()) | Err(libc::EAGAIN)) {
            obj.mark_connected();
            super::event_select::reenable(&obj, 0, true);
        }
        match r {
            Ok(()) => 0,
            Err(e) => fail(errno_to_wsa(e), SOCKET_ERROR),
        }
    })
}

/// SO_ERROR of a socket: `Ok(())` if none.
fn so_error(fd: RawFd) -> Result<(), i32> {
    match take_so_error(fd)? {
        0 => Ok(()),
        e => Err(e),
    }
}

/// `accept` (blocking unless FIONBIO).
///
/// # Safety
/// `addr`/`addrlen` must be NULL or valid (`*addrlen` bytes at `addr`).
#[no_mangle]
pub unsafe extern "C" fn cport_accept(
    s: SOCKET,
    addr: *mut libc::sockaddr,
    addrlen: *mut i32,
) -> SOCKET {
    boundary(INVALID_SOCKET, || {
        let obj = sock_or!(s, INVALID_SOCKET);
        if !addr.is_null() && addrlen.is_null() {
            return fail(WSAEFAULT, INVALID_SOCKET);
        }
        if !obj.listening.load(Ordering::Acquire) {
            return fail(WSAEINVAL, INVALID_SOCKET);
        }
        let mut len: libc::socklen_t = if addrlen.is_null() {
            0
        } else {
            // SAFETY: valid per the caller contract.
            (unsafe { *addrlen }).max(0) as libc::socklen_t
        };
        let lenp: *mut libc::socklen_t = if addrlen.is_null() {
            std::ptr::null_mut()
        } else {
            &mut len
        };
        let r = blocking_call(&obj, libc::POLLIN, 0, |fd| {
            // SAFETY: `addr` is NULL or valid for `len` bytes; `lenp` NULL or ours.
            unsafe { libc::accept4(fd, addr, lenp, libc::SOCK_CLOEXEC) as isize }
        });
        // After the accept: FD_ACCEPT again only if connections remain.
        super::event_select::reenable(&obj, super::event_select::FD_ACCEPT, false);
        let fd = match r {
            Ok(fd) => fd as RawFd,
            Err(e) => return fail(errno_to_wsa(e), INVALID_SOCKET),
        };
        if !addrlen.is_null() {
            // SAFETY: valid per the caller contract.
            unsafe { *addrlen = len as i32 };
        }
        // SAFETY: accept4 returned a new fd that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let kind = ObjKind::Socket {
            family: sock_family(&obj),
            ty: libc::SOCK_STREAM,
        };
        match handles::register(owned, kind, true) {
            Ok(h) => {
                if let Ok(o) = sock(h) {
                    o.mark_connected();
                }
                h
            }
            Err(e) => fail(errno_to_wsa(e), INVALID_SOCKET),
        }
    })
}

/// `LPCONDITIONPROC`: (caller id, caller data, SQOS, GQOS, callee id,
/// callee data, group, callback data) → `CF_ACCEPT` / `CF_REJECT` / `CF_DEFER`.
type ConditionProc = unsafe extern "C" fn(
    *mut WSABUF,
    *mut WSABUF,
    *mut c_void,
    *mut c_void,
    *mut WSABUF,
    *mut WSABUF,
    *mut u32,
    usize,
) -> i32;

/// `WSAAccept`: `accept`, and, with a condition function, the decision: the
/// function sees the peer's address (caller id) and the local one (callee
/// id); no caller/callee data or QOS. `CF_REJECT` resets the connection and
/// fails with `WSAECONNREFUSED`. `CF_DEFER` cannot leave the connection
/// queued on Linux (the kernel accepted it already): it is reset too, and
/// the call fails with `WSATRY_AGAIN`.
///
/// # Safety
/// As `accept`; `condition` NULL or a valid condition function.
#[no_mangle]
pub unsafe extern "C" fn WSAAccept(
    s: SOCKET,
    addr: *mut libc::sockaddr,
    addrlen: *mut i32,
    condition: Option<ConditionProc>,
    data: usize,
) -> SOCKET {
    boundary(INVALID_SOCKET, || {
        let Some(condition) = condition else {
            // SAFETY: forwarded caller contract.
            return unsafe { cport_accept(s, addr, addrlen) };
        };
        if !addr.is_null() && addrlen.is_null() {
            return fail(WSAEFAULT, INVALID_SOCKET);
        }
        // SAFETY: an all-zero sockaddr_storage is valid.
        let mut peer: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut peer_len = std::mem::size_of::<libc::sockaddr_storage>() as i32;
        // SAFETY: local storage of the stated length.
        let a = unsafe { cport_accept(s, (&raw mut peer).cast(), &mut peer_len) };
        if a == INVALID_SOCKET {
            return INVALID_SOCKET; // the last error is set
        }
        let local = sock(a)
            .ok()
            .and_then(|o| o.current())
            .and_then(engine::local_addr)
            .map(engine::sockaddr_bytes)
            .unwrap_or_default();
        let mut caller = WSABUF {
            len: peer_len as ULONG,
            buf: (&raw mut peer).cast(),
        };
        let mut local = local;
        let mut callee = WSABUF {
            len: local.len() as ULONG,
            buf: local.as_mut_ptr(),
        };
        let mut group: u32 = 0;
        // SAFETY: the program's condition function, with valid WSABUFs that
        // live across the call and NULL for what cport does not provide.
        let verdict = unsafe {
            condition(
                &mut caller,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut callee,
                std::ptr::null_mut(),
                &mut group,
                data,
            )
        };
        if verdict != CF_ACCEPT {
            if let Ok(o) = sock(a) {
                // An abortive close: the peer sees a reset, as on Windows.
                let _ = with_fd(&o, |fd| {
                    let lg = libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    // SAFETY: a linger struct from a local.
                    unsafe {
                        libc::setsockopt(
                            fd,
                            libc::SOL_SOCKET,
                            libc::SO_LINGER,
                            (&raw const lg).cast(),
                            std::mem::size_of::<libc::linger>() as libc::socklen_t,
                        )
                    }
                });
            }
            closesocket(a);
            let e = match verdict {
                CF_REJECT => WSAECONNREFUSED,
                CF_DEFER => WSATRY_AGAIN,
                _ => WSAEINVAL,
            };
            return fail(e, INVALID_SOCKET);
        }
        if !addr.is_null() {
            // SAFETY: addrlen valid (checked non-NULL); addr valid for
            // *addrlen bytes (caller contract).
            unsafe {
                let cap = (*addrlen).max(0) as usize;
                let n = (peer_len as usize).min(cap);
                std::ptr::copy_nonoverlapping((&raw const peer).cast::<u8>(), addr.cast::<u8>(), n);
                *addrlen = peer_len;
            }
        }
        a
    })
}

/// `closesocket`: pending receives and sends complete with 1236, a pending
/// AcceptEx with 995; threads blocked on the socket return `WSAEINTR`.
#[no_mangle]
pub extern "C" fn closesocket(s: SOCKET) -> i32 {
    boundary(SOCKET_ERROR, || {
        match handles::remove_if(s, |o| matches!(o, Object::Io(o) if o.is_socket())) {
            Some(Object::Io(obj)) => {
                super::event_select::closed(&obj);
                obj.close();
                0
            }
            _ => fail(WSAENOTSOCK, SOCKET_ERROR),
        }
    })
}

/// `shutdown` (no packet).
#[no_mangle]
pub extern "C" fn cport_shutdown(s: SOCKET, how: i32) -> i32 {
    boundary(SOCKET_ERROR, || {
        if !(SD_RECEIVE..=SD_BOTH).contains(&how) {
            return fail(WSAEINVAL, SOCKET_ERROR);
        }
        let r = simple(s, |_, fd| {
            // SAFETY: plain syscall; SD_* equal SHUT_*.
            unsafe { libc::shutdown(fd, how) as isize }
        });
        if r == 0 && how != SD_RECEIVE {
            if let Ok(o) = sock(s) {
                o.shut_send.store(true, Ordering::Release);
            }
        }
        r
    })
}

/// getsockname (`peer == false`) or getpeername.
///
/// # Safety
/// `namelen` must be NULL or valid, and `name` NULL or valid for writes of
/// `*namelen` bytes.
unsafe fn name_call(s: SOCKET, name: *mut libc::sockaddr, namelen: *mut i32, peer: bool) -> i32 {
    let f: unsafe extern "C" fn(RawFd, *mut libc::sockaddr, *mut libc::socklen_t) -> i32 = if peer {
        libc::getpeername
    } else {
        libc::getsockname
    };
    let obj = sock_or!(s, SOCKET_ERROR);
    if name.is_null() || namelen.is_null() {
        return fail(WSAEFAULT, SOCKET_ERROR);
    }
    if obj.accept_for.lock().is_some() {
        // An accept socket whose AcceptEx has not completed (even if the
        // connection is there underneath, waiting for its first data) has
        // no peer and no address yet.
        let e = if peer { WSAENOTCONN } else { WSAEINVAL };
        return fail(e, SOCKET_ERROR);
    }
    // SAFETY: namelen valid (caller contract).
    let mut len = unsafe { *namelen }.max(0) as libc::socklen_t;
    // SAFETY: name valid for *namelen bytes (caller contract).
    let r = with_fd(&obj, |fd| check(unsafe { f(fd, name, &mut len) } as isize));
    match r {
        Ok(Ok(_)) => {
            // SAFETY: as above.
            unsafe { *namelen = len as i32 };
            0
        }
        Ok(Err(libc::EINVAL)) if !obj.listening.load(Ordering::Acquire) => {
            fail(WSAEINVAL, SOCKET_ERROR)
        }
        Ok(Err(e)) | Err(e) => fail(errno_to_wsa(e), SOCKET_ERROR),
    }
}

/// Defines the `getsockname` and `getpeername` exports: both are
/// [`name_call`], for one side of the connection or the other.
macro_rules! name_export {
    ($export:ident, $win32:literal, peer: $peer:literal) => {
        #[doc = concat!("`", $win32, "`.")]
        ///
        /// # Safety
        /// `name`/`namelen` must be valid (`*namelen` bytes at `name`).
        #[no_mangle]
        pub unsafe extern "C" fn $export(
            s: SOCKET,
            name: *mut libc::sockaddr,
            namelen: *mut i32,
        ) -> i32 {
            // SAFETY: the caller's pointers, as `name_call` requires.
            boundary(SOCKET_ERROR, || unsafe {
                name_call(s, name, namelen, $peer)
            })
        }
    };
}

name_export!(cport_getsockname, "getsockname", peer: false);
name_export!(cport_getpeername, "getpeername", peer: true);

/// `send` (blocking: sends everything unless FIONBIO).
///
/// # Safety
/// `buf` must be valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn cport_send(s: SOCKET, buf: *const c_void, len: i32, flags: i32) -> i32 {
    // SAFETY: the caller's contract for `buf`; no destination address.
    unsafe { cport_sendto(s, buf, len, flags, std::ptr::null(), 0) }
}

/// `sendto`.
///
/// # Safety
/// `buf` must be valid for `len` bytes, `to` NULL or for `tolen` bytes.
#[no_mangle]
pub unsafe extern "C" fn cport_sendto(
    s: SOCKET,
    buf: *const c_void,
    len: i32,
    flags: i32,
    to: *const libc::sockaddr,
    tolen: i32,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        if len < 0 || (buf.is_null() && len > 0) {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        // SAFETY: valid for len bytes (caller contract).
        let iov = [unsafe { iovec(buf as *mut u8, len as usize) }];
        // SAFETY: `buf` for `len` bytes and `to` for `tolen` (caller contract).
        match unsafe { send_all(&obj, &iov, flags, to, tolen) } {
            Ok(n) => n as i32,
            Err(e) => fail(e, SOCKET_ERROR),
        }
    })
}

/// `recv` (blocking unless FIONBIO).
///
/// # Safety
/// `buf` must be valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn cport_recv(s: SOCKET, buf: *mut c_void, len: i32, flags: i32) -> i32 {
    // SAFETY: the caller's contract for `buf`; no source address wanted.
    unsafe {
        cport_recvfrom(
            s,
            buf,
            len,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `recvfrom`.
///
/// # Safety
/// `buf` valid for `len` bytes; `from`/`fromlen` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cport_recvfrom(
    s: SOCKET,
    buf: *mut c_void,
    len: i32,
    flags: i32,
    from: *mut libc::sockaddr,
    fromlen: *mut i32,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        if len < 0 || (buf.is_null() && len > 0) || (!from.is_null() && fromlen.is_null()) {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        // SAFETY: valid for len bytes (caller contract).
        let iov = [unsafe { iovec(buf as *mut u8, len as usize) }];
        // SAFETY: `buf` for `len` bytes, `from`/`fromlen` (caller contract).
        match unsafe { recv_blocking(&obj, &iov, flags, from, fromlen) } {
            Ok(n) => n as i32,
            Err(e) => fail(e, SOCKET_ERROR),
        }
    })
}

/// A blocking send of everything (one attempt in FIONBIO mode).
///
/// # Safety
/// Each iovec must describe memory valid for reads, and `to` be NULL or
/// valid for `tolen` bytes.
pub(super) unsafe fn send_all(
    obj: &IoObj,
    iov: &[libc::iovec],
    flags: i32,
    to: *const libc::sockaddr,
    tolen: i32,
) -> Result<usize, DWORD> {
    if obj.reset.load(Ordering::Acquire) {
        return Err(WSAECONNRESET);
    }
    let total: usize = iov.iter().map(|v| v.iov_len).sum();
    let mut iov = iov.to_vec();
    let mut done = 0;
    loop {
        let m = engine::msghdr(&iov, to as *mut c_void, tolen.max(0) as u32);
        let timeout = obj.send_timeout_ms.load(Ordering::Acquire);
        let r = blocking_call(obj, libc::POLLOUT, timeout, |fd| {
            // SAFETY: the iovecs and the address are valid (caller contract).
            unsafe { libc::sendmsg(fd, &m, flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) }
        });
        let n = match r {
            Ok(n) => n,
            Err(libc::EAGAIN) if done > 0 => return Ok(done),
            Err(libc::EAGAIN) => {
                // Windows gives FD_WRITE again only after a send would block.
                super::event_select::reenable(obj, super::event_select::FD_WRITE, false);
                return Err(WSAEWOULDBLOCK);
            }
            Err(e) => return Err(stream_error(obj, e)),
        };
        done += n;
        if done >= total
            || obj.nonblocking.load(Ordering::Acquire)
            || sock_type(obj) != libc::SOCK_STREAM
        {
            return Ok(done);
        }
        advance(&mut iov, n);
    }
}

/// Drops the first `n` bytes from an iovec list.
pub(super) fn advance(iov: &mut Vec<libc::iovec>, mut n: usize) {
    while n > 0 && !iov.is_empty() {
        if iov[0].iov_len <= n {
            n -= iov[0].iov_len;
            iov.remove(0);
        } else {
            // Stays inside the same buffer (n < its length).
            iov[0].iov_base = iov[0].iov_base.cast::<u8>().wrapping_add(n).cast();
            iov[0].iov_len -= n;
            n = 0;
        }
    }
}

/// A blocking receive (recv / recvfrom / non-overlapped WSARecv).
///
/// # Safety
/// Each iovec must describe memory valid for writes; `fromlen` must be NULL
/// or valid, and `from` NULL or valid for `*fromlen` bytes.
pub(super) unsafe fn recv_blocking(
    obj: &IoObj,
    iov: &[libc::iovec],
    flags: i32,
    from: *mut libc::sockaddr,
    fromlen: *mut i32,
) -> Result<usize, DWORD> {
    if obj.reset.load(Ordering::Acquire) {
        return Err(WSAECONNRESET);
    }
    let cap = if fromlen.is_null() {
        0
    } else {
        // SAFETY: valid (caller contract).
        unsafe { *fromlen }.max(0) as u32
    };
    let mut m = engine::msghdr(iov, from.cast(), cap);
    let timeout = obj.recv_timeout_ms.load(Ordering::Acquire);
    let r = blocking_call(obj, libc::POLLIN, timeout, |fd| {
        m.msg_namelen = cap;
        // SAFETY: the iovecs and the address buffer are valid (caller contract).
        unsafe { libc::recvmsg(fd, &mut m, flags | libc::MSG_DONTWAIT) }
    });
    // After the receive, as on Windows: FD_READ comes again only if data
    // remains (the watcher may look at once).
    super::event_select::reenable(obj, super::event_select::FD_READ, false);
    match r {
        Ok(n) => {
            if !fromlen.is_null() && !from.is_null() {
                // SAFETY: valid (caller contract).
                unsafe { *fromlen = m.msg_namelen as i32 };
            }
            if engine::is_datagram(obj) && m.msg_flags & libc::MSG_TRUNC != 0 {
                // The buffers hold the datagram's start; the rest is lost.
                return Err(WSAEMSGSIZE);
            }
            Ok(n)
        }
        Err(e) => Err(stream_error(obj, e)),
    }
}
