//! One non-blocking attempt at an operation, and the thin syscall wrappers the
//! epoll backend needs. Nothing here locks or keeps state: the caller owns an
//! operation's progress and passes it in.

use std::io;
use std::os::fd::{BorrowedFd, RawFd};

use libc::c_long;
use rustix::event::{epoll, PollFlags};

use crate::backend::sys::{is_ready, so_error};

use super::super::{RawOp, Syscall};

/// What one attempt at an operation achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The operation is over, with this result (`>= 0` value, `< 0` -errno).
    Done(i32),
    /// Some bytes went out, not all: try again at once. The retry usually
    /// ends in `Blocked`, which is what guarantees a later EPOLLOUT edge.
    Progress,
    /// Nothing more can happen until the fd becomes ready again.
    Blocked,
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Runs a syscall returning `-1` on error, retrying on EINTR; `Err(errno)`.
fn cvt(mut f: impl FnMut() -> isize) -> Result<usize, i32> {
    loop {
        let r = f();
        if let Ok(n) = usize::try_from(r) {
            return Ok(n);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// A byte count as a completion result (counts never exceed `i32::MAX`:
/// `submit` rejects longer operations).
fn to_res(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A finished syscall as a step: EAGAIN means "not yet", any other error ends
/// the operation.
fn settle(r: Result<usize, i32>) -> Step {
    match r {
        Ok(n) => Step::Done(to_res(n)),
        Err(libc::EAGAIN) => Step::Blocked,
        Err(e) => Step::Done(-e),
    }
}

/// Tries `op` once without blocking. `progress` is the backend's private
/// per-op state: bytes sent so far (Send, SendMsg), or 1 once a connect is
/// in progress. `total` is the byte count a stream send must reach; `stream`
/// says whether the fd is a SOCK_STREAM socket (only those loop on sends).
///
/// # Safety
/// `op`'s pointers must be valid as `Backend::submit` requires, and nobody
/// else may use the memory they point to during the call.
pub(super) unsafe fn attempt(op: &RawOp, stream: bool, total: usize, progress: &mut usize) -> Step {
    match op.code {
        Syscall::Accept => settle(cvt(|| {
            // SAFETY: addr/addrlen are null or valid out-parameters (submit contract).
            let fd =
                unsafe { libc::accept4(op.fd, op.addr.cast(), op.addrlen, libc::SOCK_CLOEXEC) };
            fd as isize
        })),
        // SAFETY: forwarded from this function's contract.
        Syscall::Connect => unsafe { connect(op, progress) },
        // A zero-byte recv is a readiness probe: recv(.., 0, ..) would return
        // 0 at once on TCP (and eat a datagram on UDP), so ask poll() instead.
        Syscall::Recv if op.len == 0 => match is_ready(op.fd, PollFlags::IN | PollFlags::RDHUP) {
            Ok(true) => Step::Done(0),
            Ok(false) => Step::Blocked,
            Err(e) => Step::Done(-e),
        },
        Syscall::Recv => settle(cvt(|| {
            // SAFETY: buf is valid for writes of len bytes and ours alone.
            unsafe { recv(op.fd, op.buf, op.len) }
        })),
        Syscall::RecvMsg => settle(cvt(|| {
            // SAFETY: msg and everything it points to is valid (submit contract).
            unsafe { recvmsg(op.fd, op.msg) }
        })),
        Syscall::Send => {
            let sent = *progress;
            let r = cvt(|| {
                // SAFETY: sent < len (checked by `advance`), so buf + sent is
                // inside the caller's buffer, valid for len - sent bytes.
                unsafe { send(op.fd, op.buf.add(sent), op.len - sent) }
            });
            advance(r, stream, total, progress)
        }
        Syscall::SendMsg => {
            // SAFETY: forwarded from this function's contract.
            let r = unsafe { send_msg(op, *progress) };
            advance(r, stream, total, progress)
        }
        // SAFETY: forwarded from this function's contract.
        Syscall::Read | Syscall::Write => Step::Done(unsafe { file_io(op) }),
        Syscall::ReadStream => settle(cvt(|| {
            // SAFETY: buf is valid for writes of len bytes and ours alone.
            unsafe { libc::read(op.fd, op.buf.cast(), op.len) }
        })),
        Syscall::WriteStream => {
            let r = cvt(|| {
                // SAFETY: buf is valid for reads of len bytes.
                unsafe { libc::write(op.fd, op.buf.cast(), op.len) }
            });
            // One write: the op layer goes on after a short one.
            advance(r, false, total, progress)
        }
        Syscall::Shutdown => settle(cvt(|| {
            // SAFETY: no pointer is passed.
            unsafe { libc::shutdown(op.fd, op.offset as libc::c_int) as isize }
        })),
    }
}

// The socket syscalls of the hot path, made with syscall(2) rather than
// through glibc's wrappers: those are cancellation points, which in a
// multi-threaded process cost two atomic operations per call around the
// syscall; cport never cancels threads. Each returns -1 with errno on error.
// Every integer argument is passed as a full `c_long`, as syscall(2) reads it.
// They stay raw rather than rustix calls: recvmsg/sendmsg must use the op
// layer's own msghdr (the kernel writes the source address, its length and
// MSG_TRUNC into it), which rustix's wrappers build for themselves; and
// recv/send take the op's raw pointer and length as they are, where rustix
// wants a slice (which a zero-length op's null pointer cannot be).

fn long(x: libc::c_int) -> c_long {
    c_long::from(x)
}

/// recv(fd, buf, len, 0).
///
/// # Safety
/// `buf` must be valid for writes of `len` bytes.
unsafe fn recv(fd: RawFd, buf: *mut u8, len: usize) -> isize {
    let no_addr = std::ptr::null_mut::<libc::sockaddr>();
    let no_len = std::ptr::null_mut::<libc::socklen_t>();
    // SAFETY: recvfrom with no source address writes only `buf[..len]`,
    // valid per the caller's contract.
    let r = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            long(fd),
            buf,
            len,
            0 as c_long,
            no_addr,
            no_len,
        )
    };
    r as isize
}

/// send(fd, buf, len, MSG_NOSIGNAL).
///
/// # Safety
/// `buf` must be valid for reads of `len` bytes.
unsafe fn send(fd: RawFd, buf: *const u8, len: usize) -> isize {
    let no_addr = std::ptr::null::<libc::sockaddr>();
    let flags = long(libc::MSG_NOSIGNAL);
    // SAFETY: sendto with no destination reads only `buf[..len]`, valid per
    // the caller's contract.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            long(fd),
            buf,
            len,
            flags,
            no_addr,
            0 as c_long,
        )
    };
    r as isize
}

/// recvmsg(fd, msg, 0).
///
/// # Safety
/// `msg` and everything it points to must be valid (as for recvmsg(2)).
unsafe fn recvmsg(fd: RawFd, msg: *mut libc::msghdr) -> isize {
    // SAFETY: forwarded from this function's contract.
    unsafe { libc::syscall(libc::SYS_recvmsg, long(fd), msg, 0 as c_long) as isize }
}

/// sendmsg(fd, msg, MSG_NOSIGNAL).
///
/// # Safety
/// `msg` and everything it points to must be valid (as for sendmsg(2)).
unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr) -> isize {
    // SAFETY: forwarded from this function's contract.
    unsafe { libc::syscall(libc::SYS_sendmsg, long(fd), msg, long(libc::MSG_NOSIGNAL)) as isize }
}

/// Accounts for one send: datagram sends are one call, stream sends continue
/// until `total` bytes went out. An error after partial progress is reported
/// as the error (the bytes already sent cannot be taken back anyway).
fn advance(r: Result<usize, i32>, stream: bool, total: usize, progress: &mut usize) -> Step {
    match r {
        Ok(n) => {
            *progress += n;
            if !stream || n == 0 || *progress >= total {
                Step::Done(to_res(*progress))
            } else {
                Step::Progress
            }
        }
        Err(libc::EAGAIN) => Step::Blocked,
        Err(e) => Step::Done(-e),
    }
}

/// connect(): the first attempt starts it; once it is in progress, each later
/// attempt checks writability and then reads SO_ERROR. (Calling connect() a
/// second time after a failure would start a new connection.)
///
/// # Safety
/// As for [`attempt`].
unsafe fn connect(op: &RawOp, progress: &mut usize) -> Step {
    const STARTED: usize = 1;
    if *progress == STARTED {
        return match is_ready(op.fd, PollFlags::OUT) {
            Ok(false) => Step::Blocked,
            Ok(true) => match so_error(op.fd) {
                Ok(err) | Err(err) => Step::Done(-err),
            },
            Err(err) => Step::Done(-err),
        };
    }
    // SAFETY: addrlen points to the address length (submit contract).
    let len = unsafe { *op.addrlen };
    match cvt(|| {
        // SAFETY: addr is valid for reads of len bytes (submit contract).
        unsafe { libc::connect(op.fd, op.addr.cast(), len) as isize }
    }) {
        Ok(_) => Step::Done(0),
        // EALREADY: an EINTR retry of a connect that had already started.
        Err(libc::EINPROGRESS | libc::EALREADY) => {
            *progress = STARTED;
            Step::Blocked
        }
        Err(e) => settle(Err(e)),
    }
}

/// sendmsg(), continuing after `sent` bytes: a stream send that went out
/// partly is resumed from a private copy of the iovec array advanced past the
/// sent bytes (the caller's msghdr is never modified). The address and control
/// data went out with the first bytes and are not repeated.
///
/// # Safety
/// As for [`attempt`].
unsafe fn send_msg(op: &RawOp, sent: usize) -> Result<usize, i32> {
    if sent == 0 {
        return cvt(|| {
            // SAFETY: msg and what it points to is valid (submit contract).
            unsafe { sendmsg(op.fd, op.msg) }
        });
    }
    // SAFETY: msg is valid for reads (submit contract).
    let iovs = unsafe { iovecs(&*op.msg) };
    let mut skip = sent;
    let mut rest = Vec::with_capacity(iovs.len());
    for iov in iovs {
        if skip >= iov.iov_len {
            skip -= iov.iov_len;
            continue;
        }
        rest.push(libc::iovec {
            // SAFETY: skip < iov_len, so the pointer stays inside this iovec.
            iov_base: unsafe { iov.iov_base.cast::<u8>().add(skip) }.cast(),
            iov_len: iov.iov_len - skip,
        });
        skip = 0;
    }
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = rest.as_mut_ptr();
    msg.msg_iovlen = rest.len() as _;
    cvt(|| {
        // SAFETY: msg points to `rest`, alive for the call, whose entries
        // point into the caller's buffers (valid per the submit contract).
        unsafe { sendmsg(op.fd, &msg) }
    })
}

/// The iovec array of `msg`.
///
/// # Safety
/// `msg.msg_iov` must be null or valid for `msg.msg_iovlen` entries.
pub(super) unsafe fn iovecs(msg: &libc::msghdr) -> &[libc::iovec] {
    if msg.msg_iov.is_null() || msg.msg_iovlen == 0 {
        return &[];
    }
    // SAFETY: non-null and valid for msg_iovlen entries (caller's contract).
    unsafe { std::slice::from_raw_parts(msg.msg_iov, msg.msg_iovlen) }
}

/// pread / pwrite at `op.offset`; a write continues until every byte is
/// written. A file that cannot seek (a terminal, a pipe: ESPIPE) is read or
/// written where it is, the offset ignored, as io_uring and Windows do for
/// such files. Runs on a file worker thread: it may block.
///
/// # Safety
/// As for [`attempt`].
unsafe fn file_io(op: &RawOp) -> i32 {
    let Ok(offset) = libc::off_t::try_from(op.offset) else {
        return -libc::EINVAL;
    };
    // Positioned, or in place on a file that cannot seek. Callers pass a
    // buffer valid for `len` bytes (for reads: writable and ours alone).
    let read_at = |buf: *mut u8, len: usize, at: libc::off_t| {
        cvt(|| {
            // SAFETY: buf is valid for writes of len bytes (see above).
            unsafe { libc::pread(op.fd, buf.cast(), len, at) }
        })
        .or_else(|e| {
            if e != libc::ESPIPE {
                return Err(e);
            }
            cvt(|| {
                // SAFETY: as for pread.
                unsafe { libc::read(op.fd, buf.cast(), len) }
            })
        })
    };
    let write_at = |buf: *const u8, len: usize, at: libc::off_t| {
        cvt(|| {
            // SAFETY: buf is valid for reads of len bytes (see above).
            unsafe { libc::pwrite(op.fd, buf.cast(), len, at) }
        })
        .or_else(|e| {
            if e != libc::ESPIPE {
                return Err(e);
            }
            cvt(|| {
                // SAFETY: as for pwrite.
                unsafe { libc::write(op.fd, buf.cast(), len) }
            })
        })
    };
    if op.code == Syscall::Read {
        return match read_at(op.buf, op.len, offset) {
            Ok(n) => to_res(n),
            Err(e) => -e,
        };
    }
    let mut done = 0usize;
    loop {
        // done <= len <= i32::MAX, so this cannot overflow an off_t.
        let at = offset.saturating_add(done as libc::off_t);
        // SAFETY: done <= len: buf + done stays inside the caller's buffer,
        // valid for len - done bytes.
        match write_at(unsafe { op.buf.add(done) }, op.len - done, at) {
            // 0 bytes written (len 0, or a file that takes no more): stop.
            Ok(0) => return to_res(done),
            Ok(n) => done += n,
            Err(e) => return -e,
        }
        if done >= op.len {
            return to_res(done);
        }
    }
}

/// epoll_ctl(ADD) of `file` with `events`, and `token` as the event's data.
pub(super) fn epoll_add(
    epfd: BorrowedFd<'_>,
    file: RawFd,
    events: u32,
    token: u64,
) -> io::Result<()> {
    // SAFETY: `file` is being registered: the caller keeps it open.
    let file = unsafe { BorrowedFd::borrow_raw(file) };
    let flags = epoll::EventFlags::from_bits_retain(events);
    Ok(epoll::add(
        epfd,
        file,
        epoll::EventData::new_u64(token),
        flags,
    )?)
}

/// epoll_ctl(DEL) of `file` (errors ignored: the fd may be gone already).
pub(super) fn epoll_delete(epfd: BorrowedFd<'_>, file: RawFd) {
    // SAFETY: the caller keeps `file` open until this returns (it is closed
    // after `deregister`).
    let file = unsafe { BorrowedFd::borrow_raw(file) };
    let _ = epoll::delete(epfd, file);
}
