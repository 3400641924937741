//! Winsock: sockets, their synchronous calls, and the overlapped calls.
//!
//! | module | what |
//! |---|---|
//! | [`socket`] | `socket`/`WSASocket`, `bind`, `listen`, `connect`, `accept`/`WSAAccept`, `closesocket`, `shutdown`, names, blocking `send`/`recv` |
//! | [`options`] | `setsockopt`/`getsockopt`, `ioctlsocket`, `WSAIoctl` |
//! | [`overlapped`] | `WSARecv`, `WSARecvFrom`, `WSASend`, `WSASendTo`, `WSAGetOverlappedResult` |
//! | [`extensions`] | `AcceptEx`, `GetAcceptExSockaddrs`, `ConnectEx`, `DisconnectEx`, `TransmitFile` |
//! | [`msg`] | `WSARecvMsg`, `WSASendMsg` |
//! | [`poll`] | `WSAPoll` (Windows' `POLL*` values) |
//! | [`event_select`] | `WSAEventSelect`, `WSAEnumNetworkEvents` and the watcher thread |
//! | [`names`] | `WSAStartup`/`WSACleanup`, `WSAGetLastError`, `inet_pton`/`inet_ntop`, `getaddrinfo`, `getnameinfo` |
//! | [`select`] | `select`, `__WSAFDIsSet` on Windows' `fd_set` |
//! | [`addr_string`] | `WSAStringToAddressA/W`, `WSAAddressToStringA/W` |
//!
//! The `WSA…Event` functions and `WSAWaitForMultipleEvents` are with their
//! Win32 twins in `crate::sync`.
//!
//! The functions whose Win32 names are also libc names (`socket`, `bind`,
//! `send`, …) are exported as `cport_<name>` and mapped by `winsock2.h`
//! (`#define socket cport_socket`): exporting `socket` itself would replace
//! libc's for the whole process, including the Rust standard library's and
//! cport's own calls.
//!
//! Every socket is non-blocking underneath; the blocking calls (`accept`,
//! `connect`, `send`, `recv` …) wait with `poll` in slices, as blocking
//! sections of the thread's completion port, and return `WSAEINTR` when the
//! socket is closed meanwhile (closesocket also shuts the socket down to wake
//! them at once). `ioctlsocket(FIONBIO)` makes them fail with `WSAEWOULDBLOCK`
//! instead.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{self, IoObj, ObjKind};
use crate::error::{errno, errno_to_wsa, fail};
use crate::handles;
use crate::types::*;

/// The socket behind `s`, or `WSAENOTSOCK`. Every socket call but the
/// overlapped receives and sends is a sync point
/// ([`engine::known_empty`]).
pub(crate) fn sock(s: SOCKET) -> Result<Arc<IoObj>, DWORD> {
    engine::known_empty::sync_point();
    sock_quiet(s)
}

/// [`sock`] without the sync point, for `WSARecv`/`WSASend` and their
/// `…From`/`…To` forms (which count one themselves when they block).
pub(crate) fn sock_quiet(s: SOCKET) -> Result<Arc<IoObj>, DWORD> {
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

// Declared after `sock_or!`, which they use.
pub(crate) mod addr_string;
pub(crate) mod event_select;
pub(crate) mod extensions;
pub(crate) mod msg;
pub(crate) mod names;
pub(crate) mod options;
pub(crate) mod overlapped;
pub(crate) mod poll;
pub(crate) mod select;
pub(crate) mod socket;

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
    crate::engine::cport::blocking(|| loop {
        let Some(fd) = obj.current() else {
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

/// A blocking call: `f` (non-blocking) until it does not say EAGAIN, for at
/// most `timeout_ms` (SO_RCVTIMEO / SO_SNDTIMEO; 0: forever), then `ETIMEDOUT`.
fn blocking_call(
    obj: &IoObj,
    events: i16,
    timeout_ms: u32,
    mut f: impl FnMut(RawFd) -> isize,
) -> Result<usize, i32> {
    let deadline =
        (timeout_ms != 0).then(|| Instant::now() + Duration::from_millis(u64::from(timeout_ms)));
    loop {
        match with_fd(obj, |fd| check(f(fd)))? {
            Ok(n) => return Ok(n),
            Err(libc::EINTR) => continue,
            Err(e) if e == libc::EAGAIN || e == libc::EINPROGRESS => {
                wait_ready(obj, events, deadline)?
            }
            Err(e) => return Err(e),
        }
    }
}

/// A receive/send error as Winsock reports it, remembering a reset.
fn stream_error(obj: &IoObj, errno: i32) -> DWORD {
    let datagram = engine::is_datagram(obj);
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
    if !names::wsa_started() {
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
    match handles::register(
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

/// # Safety
/// `ptr` must be valid for `len` bytes while the iovec is used.
unsafe fn iovec(ptr: *mut u8, len: usize) -> libc::iovec {
    libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
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
    engine::local_addr(fd).is_some_and(|a| a.port() != 0)
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

/// Takes the socket's pending error (`SO_ERROR`, which reading clears):
/// `Ok(0)` if none, `Err(errno)` if `getsockopt` fails.
fn take_so_error(fd: RawFd) -> Result<i32, i32> {
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
    if rc == 0 {
        Ok(err)
    } else {
        Err(errno())
    }
}
