//! Winsock: sockets, their synchronous calls, and the overlapped calls
//! (docs/semantics.md).
//!
//! The functions whose Win32 names are also libc names (`socket`, `bind`,
//! `send`, …) are exported as `cport_<name>` and declared by `winsock2.h`
//! under their Winsock names with those symbols as assembler names:
//! exporting `socket` itself would replace libc's for the whole process,
//! including the Rust standard library's and cport's own calls.
//!
//! Every socket is non-blocking underneath; the blocking calls (`accept`,
//! `connect`, `send`, `recv` …) wait with `poll` in slices, as blocking
//! sections of the thread's completion port, and return `WSAEINTR` when the
//! socket is closed meanwhile (closesocket also shuts the socket down to wake
//! them at once). `ioctlsocket(FIONBIO)` makes them fail with `WSAEWOULDBLOCK`
//! instead.

use std::ffi::c_void;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{boundary, errno, errno_of, errno_to_wsa, fail};
use crate::handles::{self, Object};
use crate::io::{self, CBuf, IoObj, ObjKind, OpKind};
use crate::types::*;

/// The socket behind `s`, or `WSAENOTSOCK`.
pub(crate) fn sock(s: SOCKET) -> Result<Arc<IoObj>, DWORD> {
    match handles::io(s) {
        Some(o) if o.is_socket() => Ok(o),
        _ => Err(WSAENOTSOCK),
    }
}

macro_rules! sock_or {
    ($s:expr, $ret:expr) => {
        match sock($s) {
            Ok(o) => o,
            Err(e) => return fail(e, $ret),
        }
    };
}

/// Runs `f` on the socket's fd unless it was closed (`ENOTSOCK`). Holds the
/// socket's read lock, so closesocket waits for the (non-blocking) call.
fn with_fd<R>(obj: &IoObj, f: impl FnOnce(RawFd) -> R) -> Result<R, i32> {
    let c = obj.conn.read();
    if c.closed {
        return Err(libc::ENOTSOCK);
    }
    Ok(f(c.fd))
}

/// A syscall result: the value, or the errno.
fn check(n: isize) -> Result<usize, i32> {
    if n < 0 {
        Err(errno())
    } else {
        Ok(n as usize)
    }
}

const SLICE: Duration = Duration::from_millis(100);

/// Waits until the socket is ready for `events` (a blocking call), or it is
/// closed (`EINTR`, as Windows reports a blocking call that closesocket
/// interrupted), or `deadline` passes (`ETIMEDOUT`). Non-blocking mode: `EAGAIN`.
fn wait_ready(obj: &IoObj, events: i16, deadline: Option<Instant>) -> Result<(), i32> {
    if obj.nonblocking.load(Ordering::Acquire) {
        return Err(libc::EAGAIN);
    }
    struct Blocked<'a>(&'a IoObj);
    impl Drop for Blocked<'_> {
        fn drop(&mut self) {
            self.0.blocked.fetch_sub(1, Ordering::SeqCst);
        }
    }
    obj.blocked.fetch_add(1, Ordering::SeqCst);
    let _blocked = Blocked(obj);
    crate::port::blocking(|| loop {
        let Some((fd, _)) = obj.current() else {
            return Err(libc::EINTR);
        };
        let mut slice = SLICE;
        if let Some(d) = deadline {
            match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => slice = slice.min(left),
                _ => return Err(libc::ETIMEDOUT),
            }
        }
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd. The fd may have been closed by a racing
        // closesocket; then poll reports POLLNVAL or a reused fd's readiness,
        // and the `current()` check above ends the loop on the next turn.
        let n = unsafe { libc::poll(&mut pfd, 1, slice.as_millis() as i32) };
        if obj.current().is_none() {
            return Err(libc::EINTR);
        }
        if n > 0 {
            return Ok(());
        }
    })
}

/// A blocking call: `f` (non-blocking) until it does not say EAGAIN.
fn blocking_call(
    obj: &IoObj,
    events: i16,
    mut f: impl FnMut(RawFd) -> isize,
) -> Result<usize, i32> {
    loop {
        match with_fd(obj, |fd| check(f(fd)))? {
            Ok(n) => return Ok(n),
            Err(libc::EINTR) => continue,
            Err(e) if e == libc::EAGAIN || e == libc::EINPROGRESS => wait_ready(obj, events, None)?,
            Err(e) => return Err(e),
        }
    }
}

/// A receive/send error as Winsock reports it, remembering a reset.
fn stream_error(obj: &IoObj, errno: i32) -> DWORD {
    let datagram = io::is_datagram(obj);
    match errno {
        libc::ECONNRESET if !datagram => {
            obj.reset.store(true, Ordering::Release);
            WSAECONNRESET
        }
        libc::ECONNREFUSED if datagram => WSAECONNRESET,
        libc::EPIPE if obj.shut_send.load(Ordering::Acquire) => WSAESHUTDOWN,
        // Linux says EPIPE for a send on a TCP socket that never connected.
        libc::EPIPE if !obj.ever_connected.load(Ordering::Acquire) => WSAENOTCONN,
        libc::EPIPE => {
            obj.reset.store(true, Ordering::Release);
            WSAECONNRESET
        }
        libc::ENOTSOCK => WSAENOTSOCK,
        e => errno_to_wsa(e),
    }
}

fn sock_type(obj: &IoObj) -> i32 {
    match obj.kind {
        ObjKind::Socket { ty, .. } => ty,
        ObjKind::File => 0,
    }
}

fn sock_family(obj: &IoObj) -> i32 {
    match obj.kind {
        ObjKind::Socket { family, .. } => family,
        ObjKind::File => 0,
    }
}

pub(crate) fn new_socket(af: i32, ty: i32, protocol: i32, overlapped: bool) -> SOCKET {
    if !crate::misc::wsa_started() {
        return fail(WSANOTINITIALISED, INVALID_SOCKET);
    }
    let base_ty = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    // SAFETY: plain syscall, no pointers.
    let fd = unsafe { libc::socket(af, base_ty | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return fail(errno_to_wsa(errno()), INVALID_SOCKET);
    }
    // SAFETY: socket() returned a new fd that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    match io::register(
        owned,
        ObjKind::Socket {
            family: af,
            ty: base_ty,
        },
        overlapped,
    ) {
        Ok(h) => h,
        Err(e) => fail(errno_to_wsa(e), INVALID_SOCKET),
    }
}

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

fn wsa_socket(
    af: i32,
    ty: i32,
    protocol: i32,
    info: *const ProtocolInfoHead,
    flags: DWORD,
) -> SOCKET {
    let (mut af, mut ty, mut protocol) = (af, ty, protocol);
    if !info.is_null() {
        // SAFETY: a non-NULL lpProtocolInfo points to a WSAPROTOCOL_INFO,
        // whose first fields are ProtocolInfoHead.
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

/// `WSASocketA`.
///
/// # Safety
/// `info` must be NULL or point to a `WSAPROTOCOL_INFOA`.
#[no_mangle]
pub unsafe extern "C" fn WSASocketA(
    af: i32,
    ty: i32,
    protocol: i32,
    info: *const c_void,
    _group: u32,
    flags: DWORD,
) -> SOCKET {
    boundary(INVALID_SOCKET, || {
        wsa_socket(af, ty, protocol, info.cast(), flags)
    })
}

/// `WSASocketW`.
///
/// # Safety
/// `info` must be NULL or point to a `WSAPROTOCOL_INFOW`.
#[no_mangle]
pub unsafe extern "C" fn WSASocketW(
    af: i32,
    ty: i32,
    protocol: i32,
    info: *const c_void,
    _group: u32,
    flags: DWORD,
) -> SOCKET {
    boundary(INVALID_SOCKET, || {
        wsa_socket(af, ty, protocol, info.cast(), flags)
    })
}

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
        }
        match r {
            Ok(()) => 0,
            Err(e) => fail(errno_to_wsa(e), SOCKET_ERROR),
        }
    })
}

/// SO_ERROR of a socket: `Ok(())` if none.
fn so_error(fd: RawFd) -> Result<(), i32> {
    let mut err: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for writes of their sizes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut err).cast(),
            &mut len,
        )
    };
    match (rc, err) {
        (0, 0) => Ok(()),
        (0, e) => Err(e),
        _ => Err(errno()),
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
        let r = blocking_call(&obj, libc::POLLIN, |fd| {
            // SAFETY: `addr` is NULL or valid for `len` bytes; `lenp` NULL or ours.
            unsafe { libc::accept4(fd, addr, lenp, libc::SOCK_CLOEXEC) as isize }
        });
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
        match io::register(owned, kind, true) {
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
            .and_then(|(fd, _)| io::local_addr(fd))
            .map(io::sockaddr_bytes)
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

/// `setsockopt`. `SO_UPDATE_ACCEPT_CONTEXT` / `SO_UPDATE_CONNECT_CONTEXT` are
/// accepted (the socket is fully usable without them); `SO_SNDBUF = 0` is
/// ignored (docs/semantics.md); the rest goes to Linux (Linux `SOL_SOCKET`
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

/// getsockname (`peer == false`) or getpeername.
fn name_call(s: SOCKET, name: *mut libc::sockaddr, namelen: *mut i32, peer: bool) -> i32 {
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

/// `getsockname`.
///
/// # Safety
/// `name`/`namelen` must be valid (`*namelen` bytes at `name`).
#[no_mangle]
pub unsafe extern "C" fn cport_getsockname(
    s: SOCKET,
    name: *mut libc::sockaddr,
    namelen: *mut i32,
) -> i32 {
    boundary(SOCKET_ERROR, || name_call(s, name, namelen, false))
}

/// `getpeername`.
///
/// # Safety
/// `name`/`namelen` must be valid (`*namelen` bytes at `name`).
#[no_mangle]
pub unsafe extern "C" fn cport_getpeername(
    s: SOCKET,
    name: *mut libc::sockaddr,
    namelen: *mut i32,
) -> i32 {
    boundary(SOCKET_ERROR, || name_call(s, name, namelen, true))
}

fn is_fionbio(cmd: i64) -> bool {
    cmd as u32 == FIONBIO as u32 || cmd == libc::FIONBIO as i64
}

fn is_fionread(cmd: i64) -> bool {
    cmd as u32 == FIONREAD as u32 || cmd == libc::FIONREAD as i64
}

/// FIONBIO / FIONREAD on a socket.
fn ioctl(obj: &IoObj, cmd: i64, arg: *mut libc::c_ulong) -> Result<(), DWORD> {
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

/// `ioctlsocket` (FIONBIO, FIONREAD; Windows or Linux command values).
///
/// # Safety
/// `arg` must be NULL or valid for one `u_long`.
#[no_mangle]
pub unsafe extern "C" fn ioctlsocket(s: SOCKET, cmd: libc::c_long, arg: *mut libc::c_ulong) -> i32 {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        match ioctl(&obj, cmd, arg) {
            Ok(()) => 0,
            Err(e) => fail(e, SOCKET_ERROR),
        }
    })
}

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
        match send_all(&obj, &iov, flags, to, tolen) {
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
        match recv_blocking(&obj, &iov, flags, from, fromlen) {
            Ok(n) => n as i32,
            Err(e) => fail(e, SOCKET_ERROR),
        }
    })
}

/// # Safety
/// `ptr` must be valid for `len` bytes while the iovec is used.
unsafe fn iovec(ptr: *mut u8, len: usize) -> libc::iovec {
    libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    }
}

pub(crate) fn msghdr(iov: &[libc::iovec], name: *mut c_void, namelen: u32) -> libc::msghdr {
    // SAFETY: an all-zero msghdr is valid.
    let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
    m.msg_iov = iov.as_ptr() as *mut libc::iovec;
    m.msg_iovlen = iov.len();
    m.msg_name = name;
    m.msg_namelen = namelen;
    m
}

/// A blocking send of everything (one attempt in FIONBIO mode).
fn send_all(
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
        let m = msghdr(&iov, to as *mut c_void, tolen.max(0) as u32);
        let r = blocking_call(obj, libc::POLLOUT, |fd| {
            // SAFETY: the iovecs and the address are valid (caller contract).
            unsafe { libc::sendmsg(fd, &m, flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) }
        });
        let n = match r {
            Ok(n) => n,
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
fn advance(iov: &mut Vec<libc::iovec>, mut n: usize) {
    while n > 0 && !iov.is_empty() {
        if iov[0].iov_len <= n {
            n -= iov[0].iov_len;
            iov.remove(0);
        } else {
            // SAFETY: stays inside the same buffer (n < its length).
            iov[0].iov_base = unsafe { iov[0].iov_base.cast::<u8>().add(n) }.cast();
            iov[0].iov_len -= n;
            n = 0;
        }
    }
}

/// A blocking receive (recv / recvfrom / non-overlapped WSARecv).
fn recv_blocking(
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
    let mut m = msghdr(iov, from.cast(), cap);
    let r = blocking_call(obj, libc::POLLIN, |fd| {
        m.msg_namelen = cap;
        // SAFETY: the iovecs and the address buffer are valid (caller contract).
        unsafe { libc::recvmsg(fd, &mut m, flags | libc::MSG_DONTWAIT) }
    });
    match r {
        Ok(n) => {
            if !fromlen.is_null() && !from.is_null() {
                // SAFETY: valid (caller contract).
                unsafe { *fromlen = m.msg_namelen as i32 };
            }
            if io::is_datagram(obj) && m.msg_flags & libc::MSG_TRUNC != 0 {
                // The buffers hold the datagram's start; the rest is lost.
                return Err(WSAEMSGSIZE);
            }
            Ok(n)
        }
        Err(e) => Err(stream_error(obj, e)),
    }
}

/// The WSABUF array as iovecs, or WSAEINVAL / WSAEFAULT.
///
/// # Safety
/// `bufs` must be NULL or valid for `count` WSABUFs.
unsafe fn wsabufs(bufs: *const WSABUF, count: DWORD) -> Result<Vec<libc::iovec>, DWORD> {
    if count == 0 {
        return Err(WSAEINVAL);
    }
    if bufs.is_null() {
        return Err(WSAEFAULT);
    }
    if count > 1024 {
        return Err(WSAENOBUFS);
    }
    // SAFETY: valid for count entries (caller contract).
    let bufs = unsafe { std::slice::from_raw_parts(bufs, count as usize) };
    let mut out = Vec::with_capacity(bufs.len());
    for b in bufs {
        if b.buf.is_null() && b.len > 0 {
            return Err(WSAEFAULT);
        }
        out.push(libc::iovec {
            iov_base: b.buf.cast(),
            iov_len: b.len as usize,
        });
    }
    Ok(out)
}

/// Buffers for the engine, one per iovec.
fn cbufs(iov: &[libc::iovec]) -> Vec<CBuf> {
    iov.iter()
        // SAFETY: the program keeps its WSABUF memory valid until the
        // operation completes (Win32 contract).
        .map(|v| unsafe { CBuf::new(v.iov_base.cast(), v.iov_len) })
        .collect()
}

/// `WSARecv`. With an OVERLAPPED: completes inline (0, and still a packet
/// unless skip mode) when data is there and no receive is pending, else
/// `SOCKET_ERROR` + `WSA_IO_PENDING`; without one: a blocking receive.
///
/// # Safety
/// Pointers per the Win32 contract; buffers and `ov` stay valid until completion.
#[no_mangle]
pub unsafe extern "C" fn WSARecv(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    recvd: *mut DWORD,
    flags: *mut DWORD,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        // SAFETY: forwarded caller contract.
        unsafe {
            recv_common(
                s,
                bufs,
                count,
                recvd,
                flags,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                ov,
                routine,
                false,
            )
        }
    })
}

/// `WSARecvFrom`: as `WSARecv`; `lpFrom`/`lpFromlen` are written at completion.
///
/// # Safety
/// As `WSARecv`; `from`/`fromlen` stay valid until completion.
#[no_mangle]
pub unsafe extern "C" fn WSARecvFrom(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    recvd: *mut DWORD,
    flags: *mut DWORD,
    from: *mut libc::sockaddr,
    fromlen: *mut i32,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        // SAFETY: forwarded caller contract.
        unsafe {
            recv_common(
                s, bufs, count, recvd, flags, from, fromlen, ov, routine, true,
            )
        }
    })
}

#[allow(clippy::too_many_arguments)]
unsafe fn recv_common(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    recvd: *mut DWORD,
    flags: *mut DWORD,
    from: *mut libc::sockaddr,
    fromlen: *mut i32,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
    is_from: bool,
) -> i32 {
    let obj = sock_or!(s, SOCKET_ERROR);
    if !routine.is_null() {
        return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
    }
    if flags.is_null() || (!from.is_null() && fromlen.is_null()) {
        return fail(WSAEFAULT, SOCKET_ERROR);
    }
    // SAFETY: caller contract.
    let iov = match unsafe { wsabufs(bufs, count) } {
        Ok(v) => v,
        Err(e) => return fail(e, SOCKET_ERROR),
    };
    // SAFETY: flags is valid (checked non-NULL).
    let in_flags = unsafe { *flags } as i32;
    if obj.reset.load(Ordering::Acquire) {
        return fail(WSAECONNRESET, SOCKET_ERROR);
    }
    let write_out = |n: usize| {
        // SAFETY: valid out-pointers (caller contract; recvd may be NULL).
        unsafe {
            if !recvd.is_null() {
                *recvd = n as DWORD;
            }
            *flags = 0;
        }
    };
    if ov.is_null() {
        return match recv_blocking(
            &obj,
            &iov,
            in_flags & (libc::MSG_PEEK | libc::MSG_OOB | libc::MSG_WAITALL),
            from,
            fromlen,
        ) {
            Ok(n) => {
                write_out(n);
                0
            }
            Err(e) => fail(e, SOCKET_ERROR),
        };
    }
    let peek_flag = in_flags & libc::MSG_PEEK;
    if in_flags & libc::MSG_OOB != 0 || (is_from && (iov.len() != 1 || peek_flag != 0)) {
        return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
    }
    let datagram = io::is_datagram(&obj);
    // SAFETY: ov is valid until completion (caller contract).
    let p = match unsafe { io::prepare(&obj, ov) } {
        Ok(p) => p,
        Err(e) => return fail(e, SOCKET_ERROR),
    };
    // Inline attempt: only with no receive of this socket in the engine.
    if obj.recv_pending.load(Ordering::Acquire) == 0 {
        let total: usize = iov.iter().map(|v| v.iov_len).sum();
        let cap = if fromlen.is_null() {
            0
        } else {
            // SAFETY: valid (caller contract).
            unsafe { *fromlen }.max(0) as u32
        };
        let mut peek = [0u8; 1];
        let r = with_fd(&obj, |fd| {
            if total == 0 && !is_from {
                // A zero-byte receive: ready if a receive would not block.
                // SAFETY: one byte into a local buffer, not consumed (PEEK).
                check(unsafe {
                    libc::recv(
                        fd,
                        peek.as_mut_ptr().cast(),
                        1,
                        libc::MSG_PEEK | libc::MSG_DONTWAIT,
                    )
                })
                .map(|_| (0, false))
            } else {
                let mut m = msghdr(&iov, from.cast(), cap);
                // SAFETY: the program's buffers and address (caller contract).
                let n = check(unsafe { libc::recvmsg(fd, &mut m, peek_flag | libc::MSG_DONTWAIT) });
                if n.is_ok() && !fromlen.is_null() && !from.is_null() {
                    // SAFETY: valid (caller contract).
                    unsafe { *fromlen = m.msg_namelen as i32 };
                }
                n.map(|n| (n, datagram && m.msg_flags & libc::MSG_TRUNC != 0))
            }
        });
        match r {
            Ok(Ok((n, true))) => {
                // A datagram larger than the buffers: they hold its start
                // (STATUS_BUFFER_OVERFLOW, a warning: the packet is queued).
                write_out(n);
                io::complete_inline_warning(p, &obj, STATUS_BUFFER_OVERFLOW, n);
                return fail(WSAEMSGSIZE, SOCKET_ERROR);
            }
            Ok(Ok((n, false))) => {
                write_out(n);
                io::complete_inline(p, &obj, n);
                return 0;
            }
            Ok(Err(libc::EAGAIN)) => {}
            Ok(Err(e)) | Err(e) => {
                let wsa = stream_error(&obj, e);
                io::fail_sync(p, &obj, crate::error::status_carrying(wsa), false);
                return fail(wsa, SOCKET_ERROR);
            }
        }
    }
    let Some((_, Some(eh))) = obj.current() else {
        io::fail_sync(p, &obj, STATUS_INVALID_HANDLE, false);
        return fail(WSAENOTSOCK, SOCKET_ERROR);
    };
    let kind = if is_from {
        OpKind::RecvFrom {
            from: from as usize,
            fromlen: fromlen as usize,
        }
    } else if peek_flag != 0 {
        OpKind::Peek {
            bufs: iov
                .iter()
                .map(|v| (v.iov_base as usize, v.iov_len))
                .collect(),
        }
    } else {
        OpKind::Recv
    };
    let bufs = if peek_flag != 0 {
        // A zero-byte receive waits for the data without consuming it.
        // SAFETY: a zero-length buffer: the engine writes nothing into it.
        vec![unsafe { CBuf::new(iov[0].iov_base.cast(), 0) }]
    } else {
        cbufs(&iov)
    };
    let mut ctx = p.into_ctx(obj.clone(), kind);
    ctx.want = iov.iter().map(|v| v.iov_len).sum();
    match launch_counted(&obj, &obj.recv_pending, eh, ctx, bufs) {
        Ok(()) => fail(WSA_IO_PENDING, SOCKET_ERROR),
        Err(wsa) => fail(wsa, SOCKET_ERROR),
    }
}

/// Hands a receive or send to the engine, counted in `pending` (the socket's
/// receives or sends in the engine) while it is there. If the engine refuses
/// it, the count is undone, the OVERLAPPED gets the failure status (nothing
/// is queued: a synchronous failure) and the Winsock error is returned.
fn launch_counted(
    obj: &Arc<IoObj>,
    pending: &std::sync::atomic::AtomicUsize,
    eh: cport_core::Handle,
    ctx: io::OpCtx,
    bufs: Vec<CBuf>,
) -> Result<(), DWORD> {
    pending.fetch_add(1, Ordering::AcqRel);
    obj.launch(eh, ctx, bufs).map_err(|(e, ctx)| {
        pending.fetch_sub(1, Ordering::AcqRel);
        let wsa = stream_error(obj, errno_of(&e));
        // SAFETY: the OVERLAPPED is valid during this call (caller contract
        // of the export that issued the operation).
        unsafe {
            io::store_status(
                ctx.ov as *mut OVERLAPPED,
                crate::error::status_carrying(wsa),
            )
        };
        wsa
    })
}

/// `WSASend`: inline when the socket takes all the data at once and no send
/// is pending (0, and still a packet unless skip mode), else pending; the
/// operation completes when every byte was sent.
///
/// # Safety
/// Pointers per the Win32 contract; buffers and `ov` stay valid until completion.
#[no_mangle]
pub unsafe extern "C" fn WSASend(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    sent: *mut DWORD,
    flags: DWORD,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        // SAFETY: forwarded caller contract.
        unsafe {
            send_common(
                s,
                bufs,
                count,
                sent,
                flags,
                std::ptr::null(),
                0,
                ov,
                routine,
            )
        }
    })
}

/// `WSASendTo`.
///
/// # Safety
/// As `WSASend`; `to` valid for `tolen` bytes during the call.
#[no_mangle]
pub unsafe extern "C" fn WSASendTo(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    sent: *mut DWORD,
    flags: DWORD,
    to: *const libc::sockaddr,
    tolen: i32,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        // SAFETY: forwarded caller contract.
        unsafe { send_common(s, bufs, count, sent, flags, to, tolen, ov, routine) }
    })
}

#[allow(clippy::too_many_arguments)]
unsafe fn send_common(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    sent: *mut DWORD,
    flags: DWORD,
    to: *const libc::sockaddr,
    tolen: i32,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    let obj = sock_or!(s, SOCKET_ERROR);
    if !routine.is_null() {
        return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
    }
    // SAFETY: caller contract.
    let iov = match unsafe { wsabufs(bufs, count) } {
        Ok(v) => v,
        Err(e) => return fail(e, SOCKET_ERROR),
    };
    let dest = if to.is_null() {
        None
    } else {
        // SAFETY: `to` valid for tolen bytes (caller contract).
        match unsafe { to_std(to, tolen) } {
            Ok(a) => Some(a),
            Err(e) => return fail(e, SOCKET_ERROR),
        }
    };
    if obj.reset.load(Ordering::Acquire) {
        return fail(WSAECONNRESET, SOCKET_ERROR);
    }
    let write_out = |n: usize| {
        if !sent.is_null() {
            // SAFETY: valid out-pointer (caller contract).
            unsafe { *sent = n as DWORD };
        }
    };
    let flags = (flags as i32) & (libc::MSG_OOB | libc::MSG_DONTROUTE);
    if ov.is_null() {
        return match send_all(&obj, &iov, flags, to, tolen) {
            Ok(n) => {
                write_out(n);
                0
            }
            Err(e) => fail(e, SOCKET_ERROR),
        };
    }
    if dest.is_some() && iov.len() != 1 {
        return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
    }
    // SAFETY: ov is valid until completion (caller contract).
    let p = match unsafe { io::prepare(&obj, ov) } {
        Ok(p) => p,
        Err(e) => return fail(e, SOCKET_ERROR),
    };
    let total: usize = iov.iter().map(|v| v.iov_len).sum();
    let mut done = 0;
    if obj.send_pending.load(Ordering::Acquire) == 0 {
        let m = msghdr(&iov, to as *mut c_void, tolen.max(0) as u32);
        let r = with_fd(&obj, |fd| {
            // SAFETY: the program's buffers and address (caller contract).
            check(unsafe { libc::sendmsg(fd, &m, flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) })
        });
        match r {
            Ok(Ok(n)) if n >= total => {
                write_out(n);
                io::complete_inline(p, &obj, n);
                return 0;
            }
            Ok(Ok(n)) => done = n,
            Ok(Err(libc::EAGAIN)) => {}
            Ok(Err(e)) | Err(e) => {
                let wsa = stream_error(&obj, e);
                io::fail_sync(p, &obj, crate::error::status_carrying(wsa), false);
                return fail(wsa, SOCKET_ERROR);
            }
        }
    }
    let Some((_, Some(eh))) = obj.current() else {
        io::fail_sync(p, &obj, STATUS_INVALID_HANDLE, false);
        return fail(WSAENOTSOCK, SOCKET_ERROR);
    };
    let mut rest = iov;
    advance(&mut rest, done);
    let mut ctx = p.into_ctx(
        obj.clone(),
        match dest {
            Some(to) => OpKind::SendTo { to },
            None => OpKind::Send,
        },
    );
    ctx.base = done;
    ctx.want = total - done;
    match launch_counted(&obj, &obj.send_pending, eh, ctx, cbufs(&rest)) {
        Ok(()) => fail(WSA_IO_PENDING, SOCKET_ERROR),
        Err(wsa) => fail(wsa, SOCKET_ERROR),
    }
}

/// A C socket address as a std one (IPv4 / IPv6 only).
///
/// # Safety
/// `name` must be valid for `len` bytes.
pub(crate) unsafe fn to_std(name: *const libc::sockaddr, len: i32) -> Result<SocketAddr, DWORD> {
    if name.is_null() || len < 2 {
        return Err(WSAEFAULT);
    }
    // SAFETY: at least 2 bytes are valid.
    let family = i32::from(unsafe { (*name).sa_family });
    match family {
        libc::AF_INET => {
            if (len as usize) < std::mem::size_of::<libc::sockaddr_in>() {
                return Err(WSAEFAULT);
            }
            // SAFETY: valid for sizeof(sockaddr_in) bytes (checked).
            let sin = unsafe { std::ptr::read_unaligned(name.cast::<libc::sockaddr_in>()) };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            if (len as usize) < std::mem::size_of::<libc::sockaddr_in6>() {
                return Err(WSAEFAULT);
            }
            // SAFETY: valid for sizeof(sockaddr_in6) bytes (checked).
            let sin6 = unsafe { std::ptr::read_unaligned(name.cast::<libc::sockaddr_in6>()) };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(WSAEAFNOSUPPORT),
    }
}

/// Whether the socket has a local address with a port (is bound).
fn is_bound(fd: RawFd) -> bool {
    io::local_addr(fd).is_some_and(|a| a.port() != 0)
}

fn is_connected(fd: RawFd) -> bool {
    // SAFETY: an all-zero sockaddr_storage is valid; getpeername writes at
    // most `len` bytes.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::getpeername(fd, (&raw mut ss).cast(), &mut len) == 0
    }
}

/// `AcceptEx`: the connection goes into the pre-created `accept` socket; the
/// packet goes to the listener's port with the listener's key.
///
/// # Safety
/// `buf` valid for `recv_len + local_len + remote_len` bytes and `ov` valid,
/// both until completion.
#[no_mangle]
pub unsafe extern "C" fn AcceptEx(
    listen: SOCKET,
    accept: SOCKET,
    buf: *mut c_void,
    recv_len: DWORD,
    local_len: DWORD,
    remote_len: DWORD,
    _received: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    boundary(FALSE, || {
        if ov.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: ov is valid (caller contract). Windows marks it pending
        // even when AcceptEx fails at once.
        unsafe { io::store_status(ov, STATUS_PENDING) };
        let l = sock_or!(listen, FALSE);
        let a = sock_or!(accept, FALSE);
        if !l.listening.load(Ordering::Acquire) || Arc::ptr_eq(&l, &a) {
            return fail(WSAEINVAL, FALSE);
        }
        if remote_len == 0 || buf.is_null() {
            return fail(WSAEFAULT, FALSE);
        }
        let usable = match a.current() {
            Some((fd, _)) => {
                sock_type(&a) == libc::SOCK_STREAM
                    && !a.listening.load(Ordering::Acquire)
                    && !is_bound(fd)
                    && !is_connected(fd)
            }
            None => false,
        };
        if !usable {
            return fail(WSAEINVAL, FALSE);
        }
        let Some((_, Some(eh))) = l.current() else {
            return fail(WSAENOTSOCK, FALSE);
        };
        // SAFETY: ov is valid until completion (caller contract).
        let p = match unsafe { io::prepare(&l, ov) } {
            Ok(p) => p,
            Err(e) => return fail(e, FALSE),
        };
        {
            let mut slot = a.accept_for.lock();
            if slot.is_some() {
                drop(slot);
                io::fail_sync(p, &l, STATUS_PENDING, true);
                return fail(WSAEINVAL, FALSE);
            }
            *slot = Some((Arc::downgrade(&l), p.token));
        }
        let need = io::accept_block_len(sock_family(&l)) as DWORD;
        let too_small = (local_len != 0 && local_len < need) || remote_len < need;
        let ctx = p.into_ctx(
            l.clone(),
            OpKind::Accept(Box::new(io::AcceptCtx {
                accept: a.clone(),
                buf: buf as usize,
                recv_len: recv_len as usize,
                local_len: local_len as usize,
                remote_len: remote_len as usize,
                peer: None,
            })),
        );
        if too_small {
            // Pending, then a packet with ERROR_INSUFFICIENT_BUFFER (docs/semantics.md).
            *a.accept_for.lock() = None;
            io::finish(ctx, STATUS_BUFFER_TOO_SMALL, 0);
            return fail(ERROR_IO_PENDING, FALSE);
        }
        match l.launch(eh, ctx, Vec::new()) {
            Ok(()) => fail(ERROR_IO_PENDING, FALSE),
            Err((e, _ctx)) => {
                *a.accept_for.lock() = None;
                fail(errno_to_wsa(errno_of(&e)), FALSE)
            }
        }
    })
}

/// `GetAcceptExSockaddrs`: reads the address blocks cport's AcceptEx wrote.
///
/// # Safety
/// `buf` as given to AcceptEx; the out-pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn GetAcceptExSockaddrs(
    buf: *mut c_void,
    recv_len: DWORD,
    local_len: DWORD,
    remote_len: DWORD,
    local: *mut *mut libc::sockaddr,
    local_size: *mut i32,
    remote: *mut *mut libc::sockaddr,
    remote_size: *mut i32,
) {
    boundary((), || {
        let block = |offset: usize, len: DWORD| -> (*mut libc::sockaddr, i32) {
            if buf.is_null() || len < 2 {
                return (std::ptr::null_mut(), 0);
            }
            // SAFETY: the buffer holds the blocks AcceptEx was given.
            let p = unsafe { buf.cast::<u8>().add(offset) };
            // SAFETY: at least 2 bytes of the block are valid.
            let family = i32::from(unsafe { std::ptr::read_unaligned(p.cast::<u16>()) });
            let size = match family {
                libc::AF_INET => std::mem::size_of::<libc::sockaddr_in>(),
                libc::AF_INET6 => std::mem::size_of::<libc::sockaddr_in6>(),
                _ => 0,
            };
            (p.cast(), size.min(len as usize) as i32)
        };
        let (l, ls) = block(recv_len as usize, local_len);
        let (r, rs) = block(recv_len as usize + local_len as usize, remote_len);
        // SAFETY: out-pointers valid or NULL (caller contract).
        unsafe {
            if !local.is_null() {
                *local = l;
            }
            if !local_size.is_null() {
                *local_size = ls;
            }
            if !remote.is_null() {
                *remote = r;
            }
            if !remote_size.is_null() {
                *remote_size = rs;
            }
        }
    })
}

/// `ConnectEx` (through `WSAIoctl`): the socket must be bound; a refusal
/// completes through the packet (1225), never synchronously.
///
/// # Safety
/// `name` valid for `namelen` bytes during the call; `send_buf` (if any) and
/// `ov` valid until completion.
pub unsafe extern "C" fn connect_ex(
    s: SOCKET,
    name: *const libc::sockaddr,
    namelen: i32,
    send_buf: *mut c_void,
    send_len: DWORD,
    _sent: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    boundary(FALSE, || {
        if ov.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: ov is valid (caller contract); pending even on failure.
        unsafe { io::store_status(ov, STATUS_PENDING) };
        let obj = sock_or!(s, FALSE);
        let Some((fd, Some(eh))) = obj.current() else {
            return fail(WSAENOTSOCK, FALSE);
        };
        if obj.listening.load(Ordering::Acquire) || !is_bound(fd) {
            return fail(WSAEINVAL, FALSE);
        }
        if is_connected(fd) {
            return fail(WSAEISCONN, FALSE);
        }
        // SAFETY: caller contract.
        let to = match unsafe { to_std(name, namelen) } {
            Ok(a) => a,
            Err(e) => return fail(e, FALSE),
        };
        if send_buf.is_null() && send_len > 0 {
            return fail(WSAEFAULT, FALSE);
        }
        // SAFETY: ov is valid until completion (caller contract).
        let p = match unsafe { io::prepare(&obj, ov) } {
            Ok(p) => p,
            Err(e) => return fail(e, FALSE),
        };
        obj.mark_connected();
        let data = (send_len > 0).then_some((send_buf as usize, send_len as usize));
        let ctx = p.into_ctx(obj.clone(), OpKind::Connect { to, data });
        match obj.launch(eh, ctx, Vec::new()) {
            Ok(()) => fail(ERROR_IO_PENDING, FALSE),
            Err((e, ctx)) => match errno_of(&e) {
                libc::ECONNREFUSED | libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ETIMEDOUT => {
                    // Not a synchronous failure on Windows: pending, then the packet.
                    io::complete(ctx, Err(e), None, None);
                    fail(ERROR_IO_PENDING, FALSE)
                }
                n => fail(errno_to_wsa(n), FALSE),
            },
        }
    })
}

/// `DisconnectEx` (through `WSAIoctl`): shuts the connection down (the peer
/// sees end of stream) and completes at once: `TRUE`, and a packet unless
/// skip mode (without an OVERLAPPED it is simply synchronous). With
/// `TF_REUSE_SOCKET` the socket gets a fresh unbound fd underneath, ready for
/// `AcceptEx` (as the accept socket) or `bind` + `ConnectEx`.
///
/// # Safety
/// `ov` NULL or valid until completion.
pub unsafe extern "C" fn disconnect_ex(
    s: SOCKET,
    ov: *mut OVERLAPPED,
    flags: DWORD,
    reserved: DWORD,
) -> BOOL {
    boundary(FALSE, || {
        let obj = sock_or!(s, FALSE);
        if reserved != 0 || flags & !TF_REUSE_SOCKET != 0 {
            return fail(WSAEINVAL, FALSE);
        }
        if let Err(e) = connected_stream(&obj) {
            return fail(e, FALSE);
        }
        let p = if ov.is_null() {
            None
        } else {
            // SAFETY: ov is valid until completion (caller contract).
            match unsafe { io::prepare(&obj, ov) } {
                Ok(p) => Some(p),
                Err(e) => return fail(e, FALSE),
            }
        };
        match obj.disconnect(flags & TF_REUSE_SOCKET != 0) {
            Ok(()) => {
                if let Some(p) = p {
                    io::complete_inline(p, &obj, 0);
                }
                TRUE
            }
            Err(e) => {
                let wsa = errno_to_wsa(errno_of(&e));
                if let Some(p) = p {
                    io::fail_sync(p, &obj, crate::error::status_carrying(wsa), false);
                }
                fail(wsa, FALSE)
            }
        }
    })
}

/// DisconnectEx and TransmitFile work on a connected TCP socket only
/// (`WSAENOTSOCK` for a closed one, `WSAENOTCONN` otherwise); its engine
/// handle.
fn connected_stream(obj: &IoObj) -> Result<Option<cport_core::Handle>, DWORD> {
    let Some((fd, eh)) = obj.current() else {
        return Err(WSAENOTSOCK);
    };
    if sock_type(obj) != libc::SOCK_STREAM || !is_connected(fd) {
        return Err(WSAENOTCONN);
    }
    Ok(eh)
}

/// The most bytes one TransmitFile call sends (Windows' documented limit).
const TRANSMIT_FILE_MAX: u64 = 2_147_483_646;

/// Appends TransmitFile's file part to `out`: `count` bytes (all, if 0)
/// from `offset`, or from the file pointer (advanced) when `offset` is
/// `None`, stopping at end of file.
fn read_file_part(
    file: HANDLE,
    count: DWORD,
    offset: Option<u64>,
    out: &mut Vec<u8>,
) -> Result<(), DWORD> {
    let fobj = handles::io(file as usize)
        .filter(|o| !o.is_socket())
        .ok_or(ERROR_INVALID_HANDLE)?;
    let (ffd, _) = fobj.current().ok_or(ERROR_INVALID_HANDLE)?;
    let start = match offset {
        Some(o) => o,
        None => {
            // SAFETY: lseek on an fd; no pointers.
            let pos = unsafe { libc::lseek(ffd, 0, libc::SEEK_CUR) };
            if pos < 0 {
                return Err(crate::error::errno_to_win32(errno()));
            }
            pos as u64
        }
    };
    // SAFETY: `stat` is plain integers, so all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on an fd writes into `st`, which outlives the call.
    if unsafe { libc::fstat(ffd, &mut st) } < 0 {
        return Err(crate::error::errno_to_win32(errno()));
    }
    let remaining = (st.st_size.max(0) as u64).saturating_sub(start);
    // One TransmitFile sends at most 2,147,483,646 bytes on Windows; the file
    // part is read into memory here, so refuse a larger one before reading
    // rather than allocating it (the caller splits it, as on Windows).
    let asked = if count == 0 {
        remaining
    } else {
        u64::from(count)
    };
    if asked > TRANSMIT_FILE_MAX {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let base = out.len();
    out.resize(base + asked.min(remaining) as usize, 0);
    let mut got = 0;
    while base + got < out.len() {
        let dst = &mut out[base + got..];
        match crate::file::sync_rw(
            ffd,
            false,
            dst.as_mut_ptr(),
            dst.len(),
            Some(start + got as u64),
        ) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(crate::error::errno_to_win32(e)),
        }
    }
    out.truncate(base + got);
    if offset.is_none() {
        // SAFETY: lseek on an fd; no pointers.
        unsafe { libc::lseek(ffd, (start + got as u64) as libc::off_t, libc::SEEK_SET) };
    }
    Ok(())
}

/// `TransmitFile` (exported, and through `WSAIoctl`): sends the head buffer,
/// the file's bytes (`to_write` of them, all to the end of file if 0, from
/// the OVERLAPPED's offset, or from the file pointer without an OVERLAPPED)
/// and the tail buffer, as one send that completes through the port (bytes =
/// the total). `hFile` may be NULL (buffers only). The file part is read into
/// memory cport owns when the call is made. `TF_DISCONNECT` (with
/// `TF_REUSE_SOCKET`) shuts the connection down after the send, as
/// `DisconnectEx` does. `nNumberOfBytesPerSend` is ignored.
///
/// # Safety
/// `bufs` NULL or valid, with its Head/Tail valid for their lengths during
/// the call; `ov` NULL or valid until completion.
#[no_mangle]
pub unsafe extern "C" fn TransmitFile(
    s: SOCKET,
    file: HANDLE,
    to_write: DWORD,
    _per_send: DWORD,
    ov: *mut OVERLAPPED,
    bufs: *const TRANSMIT_FILE_BUFFERS,
    flags: DWORD,
) -> BOOL {
    boundary(FALSE, || {
        let obj = sock_or!(s, FALSE);
        let known = TF_DISCONNECT
            | TF_REUSE_SOCKET
            | TF_WRITE_BEHIND
            | TF_USE_SYSTEM_THREAD
            | TF_USE_KERNEL_APC;
        if flags & !known != 0 || (flags & TF_REUSE_SOCKET != 0 && flags & TF_DISCONNECT == 0) {
            return fail(WSAEINVAL, FALSE);
        }
        let eh = match connected_stream(&obj) {
            Ok(eh) => eh,
            Err(e) => return fail(e, FALSE),
        };
        if obj.reset.load(Ordering::Acquire) {
            return fail(WSAECONNRESET, FALSE);
        }
        // SAFETY: NULL or valid (caller contract).
        let tfb = unsafe { bufs.as_ref() };
        let part = |p: *mut u8, n: DWORD| -> Result<&[u8], DWORD> {
            match (p.is_null(), n) {
                (_, 0) => Ok(&[]),
                (true, _) => Err(WSAEFAULT),
                // SAFETY: valid for `n` bytes during the call (caller contract).
                (false, n) => Ok(unsafe { std::slice::from_raw_parts(p, n as usize) }),
            }
        };
        let (head, tail) = match tfb {
            Some(b) => match (part(b.Head, b.HeadLength), part(b.Tail, b.TailLength)) {
                (Ok(h), Ok(t)) => (h, t),
                (Err(e), _) | (_, Err(e)) => return fail(e, FALSE),
            },
            None => (&[][..], &[][..]),
        };
        let offset = (!ov.is_null()).then(|| crate::file::file_offset(ov));
        let mut data = head.to_vec();
        if !file.is_null() {
            if let Err(e) = read_file_part(file, to_write, offset, &mut data) {
                return fail(e, FALSE);
            }
        }
        data.extend_from_slice(tail);
        let disconnect = |obj: &IoObj| {
            if flags & TF_DISCONNECT != 0 {
                let _ = obj.disconnect(flags & TF_REUSE_SOCKET != 0);
            }
        };
        if ov.is_null() {
            // SAFETY: `data` is ours and outlives the call.
            let iov = [unsafe { iovec(data.as_mut_ptr(), data.len()) }];
            return match send_all(&obj, &iov, 0, std::ptr::null(), 0) {
                Ok(_) => {
                    disconnect(&obj);
                    TRUE
                }
                Err(e) => fail(e, FALSE),
            };
        }
        // SAFETY: ov is valid until completion (caller contract).
        let p = match unsafe { io::prepare(&obj, ov) } {
            Ok(p) => p,
            Err(e) => return fail(e, FALSE),
        };
        if data.is_empty() {
            disconnect(&obj);
            io::complete_inline(p, &obj, 0);
            return TRUE;
        }
        let Some(eh) = eh else {
            io::fail_sync(p, &obj, STATUS_INVALID_HANDLE, false);
            return fail(WSAENOTSOCK, FALSE);
        };
        let len = data.len();
        // SAFETY: the heap buffer of `data` does not move when the Vec moves
        // into the context, which the engine keeps until the completion; the
        // Vec is dropped only after that (in `io::complete`).
        let cbuf = unsafe { CBuf::new(data.as_mut_ptr(), len) };
        let mut ctx = p.into_ctx(obj.clone(), OpKind::Transmit { data, flags });
        ctx.want = len;
        match launch_counted(&obj, &obj.send_pending, eh, ctx, vec![cbuf]) {
            Ok(()) => fail(ERROR_IO_PENDING, FALSE),
            Err(wsa) => fail(wsa, FALSE),
        }
    })
}

type DisconnectExFn = unsafe extern "C" fn(SOCKET, *mut OVERLAPPED, DWORD, DWORD) -> BOOL;
type TransmitFileFn = unsafe extern "C" fn(
    SOCKET,
    HANDLE,
    DWORD,
    DWORD,
    *mut OVERLAPPED,
    *const TRANSMIT_FILE_BUFFERS,
    DWORD,
) -> BOOL;

type AcceptExFn = unsafe extern "C" fn(
    SOCKET,
    SOCKET,
    *mut c_void,
    DWORD,
    DWORD,
    DWORD,
    *mut DWORD,
    *mut OVERLAPPED,
) -> BOOL;
type GetAcceptExSockaddrsFn = unsafe extern "C" fn(
    *mut c_void,
    DWORD,
    DWORD,
    DWORD,
    *mut *mut libc::sockaddr,
    *mut i32,
    *mut *mut libc::sockaddr,
    *mut i32,
);
type ConnectExFn = unsafe extern "C" fn(
    SOCKET,
    *const libc::sockaddr,
    i32,
    *mut c_void,
    DWORD,
    *mut DWORD,
    *mut OVERLAPPED,
) -> BOOL;

/// `WSAIoctl`: `SIO_GET_EXTENSION_FUNCTION_POINTER` (AcceptEx, ConnectEx,
/// GetAcceptExSockaddrs, DisconnectEx, TransmitFile), FIONBIO, FIONREAD.
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
        } else if is_fionbio(i64::from(code as i32)) {
            if inbuf.is_null() || (inlen as usize) < 4 {
                Err(WSAEFAULT)
            } else {
                // SAFETY: inbuf holds at least 4 bytes (checked).
                let mut v =
                    unsafe { std::ptr::read_unaligned(inbuf.cast::<u32>()) } as libc::c_ulong;
                ioctl(&obj, FIONBIO as i64, &mut v)
            }
        } else if is_fionread(i64::from(code as i32)) {
            if outbuf.is_null() || (outlen as usize) < 4 {
                Err(WSAEFAULT)
            } else {
                let mut v: libc::c_ulong = 0;
                let r = ioctl(&obj, FIONREAD as i64, &mut v);
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
            match unsafe { io::prepare(&obj, ov) } {
                Ok(p) => {
                    io::complete_inline(p, &obj, n_out);
                }
                Err(e) => return fail(e, SOCKET_ERROR),
            }
        }
        0
    })
}

/// `WSAGetOverlappedResult`.
///
/// # Safety
/// `ov` valid; `bytes`/`flags` valid out-pointers.
#[no_mangle]
pub unsafe extern "C" fn WSAGetOverlappedResult(
    s: SOCKET,
    ov: *mut OVERLAPPED,
    bytes: *mut DWORD,
    wait: BOOL,
    flags: *mut DWORD,
) -> BOOL {
    boundary(FALSE, || {
        // As GetOverlappedResult: the socket matters only for a wait on it,
        // so a result stored before (or by) closesocket is still reported.
        if ov.is_null() || bytes.is_null() || flags.is_null() {
            return fail(WSAEFAULT, FALSE);
        }
        // SAFETY: valid pointers (checked non-NULL; caller contract).
        unsafe {
            match crate::file::overlapped_result(s, ov, bytes, wait != FALSE) {
                Ok(()) => {
                    *flags = 0;
                    TRUE
                }
                Err(status) => {
                    *flags = 0;
                    fail(crate::error::status_to_wsa(status), FALSE)
                }
            }
        }
    })
}
