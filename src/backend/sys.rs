//! System-call helpers both backends use (and the epoll backend's fd
//! set-up), made through rustix: safe wrappers that, on Linux, make the
//! system call directly rather than through glibc's cancellation-point
//! wrappers (cport never cancels threads, and those cost two atomic
//! operations per call in a multi-threaded process). Calls that rustix does
//! not cover the way a backend needs stay raw where they are used, with the
//! reason beside them.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use rustix::event::{EventfdFlags, PollFd, PollFlags};
use rustix::fs::OFlags;
use rustix::net::sockopt;

/// Borrows `fd` for one call.
///
/// # Safety
/// `fd` must be open for the duration of the borrow.
unsafe fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: forwarded from this function's contract; the borrow is used
    // for one system call only, while the caller keeps `fd` open.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// A registered fd, open while a backend uses it (the op layer closes it only
/// after `deregister`); any other fd number fails with EBADF in the kernel
/// at worst — never a memory error: fd numbers are plain integers to it.
fn fd(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: see above — an fd passed here is either open (the backend's
    // contract) or makes the system call fail with EBADF.
    unsafe { borrow(fd) }
}

/// getsockopt(SO_ERROR): `Ok` with the pending socket error as a positive
/// errno (0 if none), clearing it; `Err(errno)` if getsockopt itself failed
/// (EBADF, ENOTSOCK).
pub(crate) fn so_error(socket: RawFd) -> Result<i32, i32> {
    match sockopt::socket_error(fd(socket)) {
        Ok(Ok(())) => Ok(0),
        Ok(Err(e)) => Ok(e.raw_os_error()),
        Err(e) => Err(e.raw_os_error()),
    }
}

/// What kind of file an fd is, as far as the backends care.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SocketKind {
    /// A SOCK_STREAM socket: sends loop until every byte went out.
    pub stream: bool,
    /// A TCP socket (IPPROTO_TCP; implies `stream`).
    pub tcp: bool,
}

/// Classifies `fd`: TCP (one getsockopt), another socket type (two), or not
/// a socket (one, failing with ENOTSOCK).
pub(crate) fn socket_kind(socket: RawFd) -> SocketKind {
    match sockopt::socket_protocol(fd(socket)) {
        Ok(Some(p)) if p == rustix::net::ipproto::TCP => SocketKind {
            stream: true,
            tcp: true,
        },
        Err(rustix::io::Errno::NOTSOCK) => SocketKind::default(),
        // Another protocol, or a kernel without SO_PROTOCOL: ask for the type.
        _ => SocketKind {
            stream: sockopt::socket_type(fd(socket)) == Ok(rustix::net::SocketType::STREAM),
            tcp: false,
        },
    }
}

/// Sets O_NONBLOCK on `fd`.
pub(crate) fn set_nonblocking(file: RawFd) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd(file))?;
    if !flags.contains(OFlags::NONBLOCK) {
        rustix::fs::fcntl_setfl(fd(file), flags | OFlags::NONBLOCK)?;
    }
    Ok(())
}

/// A close-on-exec duplicate of `fd`.
pub(crate) fn dup(file: RawFd) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd(file), 0)?)
}

/// Whether `fd` has any of `events` (or an error or hang-up) right now.
pub(crate) fn is_ready(file: RawFd, events: PollFlags) -> Result<bool, i32> {
    let mut fds = [PollFd::from_borrowed_fd(fd(file), events)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&zero)) {
            Ok(n) => return Ok(n > 0 && !fds[0].revents().is_empty()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.raw_os_error()),
        }
    }
}

/// A non-blocking, close-on-exec eventfd: a doorbell a sleeping poller
/// watches.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    Ok(rustix::event::eventfd(
        0,
        EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
    )?)
}

/// Adds 1 to an eventfd. Errors are ignored: EAGAIN means the counter is
/// saturated, so the eventfd is readable anyway.
pub(crate) fn eventfd_ring(file: BorrowedFd<'_>) {
    let _ = rustix::io::write(file, &1u64.to_ne_bytes());
}

/// Resets an eventfd's counter (non-blocking; EAGAIN: it was zero).
pub(crate) fn eventfd_drain(file: BorrowedFd<'_>) {
    let mut buf = [0u8; 8];
    let _ = rustix::io::read(file, &mut buf);
}
