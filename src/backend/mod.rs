//! The contract between the op layer and the kernel interfaces
//! (docs/semantics.md, "Backends"), and the choice of backend. io_uring and
//! epoll code lives only below this module, and knows nothing of the op
//! layer or the port: it sees raw operations (pointers and a user_data, laid
//! out by [`user_data`]) and reports their completions.
//!
//! The op layer owns every operation's memory in a slot (what the kernel
//! touches is on the heap, where it does not move) and describes the
//! operation to a backend as a [`RawOp`] of raw pointers into that memory. A backend starts the operation and later reports exactly one
//! [`Completion`] for it from [`Backend::poll`]. Until that completion has been
//! returned, the op layer keeps every pointed-to byte alive and unmoved — also
//! when the handle is closed or the port dropped: dropping a port cancels
//! every operation and reaps until each has completed (bounded by
//! [`DROP_WAIT`](crate::DROP_WAIT)), and the op layer leaks, never frees, the
//! slots of any operation still in flight after that, before the backend
//! (ring, epoll fd, file workers) is dropped.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub(crate) mod epoll;
pub(crate) mod sys;
pub(crate) mod uring;
pub(crate) mod user_data;

use crate::port_core::FlushHint;

/// What an operation does. Results follow the Linux syscall convention:
/// `res >= 0` is the syscall's return value, `res < 0` is `-errno`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Syscall {
    /// accept4(fd, addr, addrlen, SOCK_CLOEXEC) → the new fd.
    Accept,
    /// connect(fd, addr, *addrlen) → 0. Non-blocking connect completes when
    /// the socket is writable; the result is then SO_ERROR.
    Connect,
    /// recv(fd, buf, len, 0) → bytes (0 = peer closed).
    Recv,
    /// send(fd, buf, len, MSG_NOSIGNAL), repeated until all `len` bytes are
    /// sent or an error occurs (overlapped WSASend semantics) → bytes.
    /// On a datagram socket one send.
    Send,
    /// recvmsg(fd, msg, 0) → bytes; `msg` carries iovecs and the source address.
    RecvMsg,
    /// sendmsg(fd, msg, MSG_NOSIGNAL) until all bytes are sent (stream) → bytes.
    SendMsg,
    /// pread(fd, buf, len, offset) → bytes (0 = end of file).
    Read,
    /// pwrite(fd, buf, len, offset), repeated until all bytes are written → bytes.
    Write,
    /// read(fd, buf, len) at the fd's own position (pipes, ttys, eventfds,
    /// character devices) → bytes (0 = end of stream). Waits for readability.
    ReadStream,
    /// write(fd, buf, len) at the fd's own position → bytes. Waits for
    /// writability; the op layer goes on after a short write.
    WriteStream,
    /// shutdown(fd, offset as how) → 0. Runs in the fd's write direction.
    Shutdown,
}

/// An operation described by raw pointers into memory the op layer keeps
/// alive and unmoved until the operation's [`Completion`] was returned.
#[derive(Clone, Copy)]
pub(crate) struct RawOp {
    pub code: Syscall,
    pub fd: RawFd,
    /// Identifies the operation in its completion (layout: [`user_data`]);
    /// the top three bits are never set.
    pub user_data: u64,
    /// Recv/Send/Read/Write: the buffer. May be empty (a zero-byte recv is a
    /// readiness probe: it completes with 0 once data is available).
    pub buf: *mut u8,
    pub len: usize,
    /// RecvMsg/SendMsg: the message header (iovecs, optional address).
    pub msg: *mut libc::msghdr,
    /// Accept: where the peer address goes (in/out length in `addrlen`).
    /// Connect: the address to connect to (`*addrlen` bytes).
    pub addr: *mut libc::sockaddr_storage,
    pub addrlen: *mut libc::socklen_t,
    /// Read/Write: the file offset.
    pub offset: u64,
    /// Per-operation timeout: when it passes first, the operation completes
    /// with `-ECANCELED` (the op layer reports "timed out"). The backend may
    /// keep a pointer to `timespec` until the completion.
    pub timeout: Option<Duration>,
    pub timespec: *mut Timespec,
    /// The submitting thread will come back to the port soon (it is an active
    /// worker): the backend may hold the submission until [`Backend::flush`]
    /// or its next `poll`, to batch many into one system call.
    pub defer: bool,
}

// SAFETY: the pointers refer to memory owned by the op layer's slot, which is
// kept alive until the completion whichever thread reports it.
unsafe impl Send for RawOp {}

/// Kernel timespec layout (`struct __kernel_timespec`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

impl From<Duration> for Timespec {
    fn from(d: Duration) -> Self {
        Timespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(d.subsec_nanos()),
        }
    }
}

/// One finished operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    pub user_data: u64,
    /// `>= 0`: the syscall's result; `< 0`: `-errno`; `-ECANCELED` after
    /// [`Backend::cancel`] or a per-operation timeout.
    pub res: i32,
    /// The kernel did not report data left in the socket after this
    /// operation (io_uring on Linux 5.19 or later: a successful completion
    /// without `IORING_CQE_F_SOCK_NONEMPTY`); `false` when not known. Linux
    /// reports that for TCP receives only, so it means "the socket is
    /// empty" only there: the op layer reads it for receives, and the C ABI
    /// for TCP sockets.
    pub drained: bool,
}

impl Completion {
    pub(crate) fn new(user_data: u64, res: i32) -> Completion {
        Completion {
            user_data,
            res,
            drained: false,
        }
    }
}

/// A kernel interface that runs operations (docs/semantics.md, "Backends").
///
/// Threads: `submit`, `cancel` and `wake` may be called from any thread at any
/// time; `poll` is called by one thread at a time (the port's poller), and
/// another thread's `wake` must make a blocked `poll` return promptly.
pub(crate) trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;

    /// How the backend runs, in words, where it has modes (io_uring: how
    /// task work runs, and why not as asked if the kernel refused it).
    fn mode(&self) -> Option<&str> {
        None
    }

    /// Prepares `fd` for operations (epoll: non-blocking + interest list).
    fn register(&self, fd: RawFd) -> io::Result<()>;

    /// Forgets `fd`. Called once no operation on it is in flight, right
    /// before the op layer closes it.
    fn deregister(&self, fd: RawFd);

    /// Starts `op`. Socket operations come one per fd and direction at a
    /// time (reading: Accept, Recv, RecvMsg; writing: Connect, Send,
    /// SendMsg): the op layer's lanes keep issue order, so a backend never
    /// orders them itself (epoll refuses a second one with EBUSY).
    ///
    /// # Safety
    /// Every pointer in `op` must stay valid, and the memory it points to must
    /// not be moved, freed or (for buffers the kernel writes) read or written
    /// by anyone else, until `poll` has returned this op's completion.
    /// `Err` means the operation was not started: no completion will come.
    unsafe fn submit(&self, op: &RawOp) -> io::Result<()>;

    /// Asks for the operation to end early. Its one completion still comes
    /// (`-ECANCELED`, or its real result if it finished first). Unknown or
    /// finished `user_data` is ignored.
    fn cancel(&self, user_data: u64);

    /// [`cancel`](Backend::cancel) for several operations (one system call
    /// where the backend can batch).
    fn cancel_many(&self, user_data: &[u64]) {
        user_data.iter().for_each(|&ud| self.cancel(ud));
    }

    /// Waits up to `timeout` (`None`: forever, zero: don't block) for
    /// completions and appends them to `out`. Returns early (possibly with
    /// none) after [`wake`](Backend::wake).
    fn poll(&self, timeout: Option<Duration>, out: &mut Vec<Completion>) -> io::Result<()>;

    /// Makes a `poll` blocked in another thread return.
    fn wake(&self);

    /// Starts every submission held back by `defer` (`poll` does it too).
    /// `urgent` (see the port core's `Reactor::flush`): also run now what
    /// only the calling thread can run (io_uring's pending task work). The
    /// port core calls it only when the port's [`FlushHint`] (handed to the
    /// backend when it opens) says it may have work: a backend whose flush
    /// does anything keeps that hint up to date.
    fn flush(&self, _urgent: bool) {}
}

/// Opens the backend `choice` asks for. With `Auto`, io_uring is probed first
/// and epoll used if that fails; the second value then says why (and the
/// fallback is logged to stderr once per process).
/// `hint` goes to the backend, which keeps it up to date (see [`FlushHint`]).
pub(crate) fn open(
    choice: BackendChoice,
    uring: UringOptions,
    hint: Arc<FlushHint>,
) -> io::Result<(Box<dyn Backend>, Option<String>)> {
    open_with(choice, || {
        uring::UringBackend::new(uring, hint).map(|b| Box::new(b) as Box<dyn Backend>)
    })
}

/// A port's backend, opened on first use — the first handle associated, or
/// a question only the open backend can answer (its kind, its mode, why it
/// fell back) — so that a port that only posts and gets (every C port made
/// by `CreateIoCompletionPort(INVALID_HANDLE_VALUE, …)`) opens no kernel
/// object. Until then the calls that need an open backend find nothing to
/// do: without a handle no operation can be in flight.
pub(crate) struct LazyBackend {
    opened: OnceLock<(Box<dyn Backend>, Option<String>)>,
    choice: BackendChoice,
    uring: UringOptions,
    /// Serialises the opening (`opened` is read without it).
    opening: parking_lot::Mutex<()>,
    /// Handed to the backend when it opens; all clear until then.
    hint: Arc<FlushHint>,
}

impl LazyBackend {
    /// A backend to open later. An explicit io_uring choice is checked now
    /// (a ring set up and closed again), so that a port that cannot have
    /// io_uring fails to build, as it always did.
    pub(crate) fn new(choice: BackendChoice, uring: UringOptions) -> io::Result<Self> {
        if choice == BackendChoice::Uring {
            // A hint of its own: this ring is closed again at once.
            drop(open(choice, uring, Arc::default())?);
        }
        Ok(LazyBackend {
            opened: OnceLock::new(),
            choice,
            uring,
            opening: parking_lot::Mutex::new(()),
            hint: Arc::default(),
        })
    }

    /// A backend that is open already (the op layer's tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn opened(backend: Box<dyn Backend>) -> Self {
        let lazy = LazyBackend {
            opened: OnceLock::new(),
            choice: BackendChoice::Auto,
            uring: UringOptions::default(),
            opening: parking_lot::Mutex::new(()),
            hint: Arc::default(),
        };
        let _ = lazy.opened.set((backend, None));
        lazy
    }

    /// The backend if it is open.
    #[inline]
    pub(crate) fn get(&self) -> Option<&dyn Backend> {
        self.opened.get().map(|(b, _)| &**b)
    }

    /// The backend, opened now if it is not yet.
    pub(crate) fn open(&self) -> io::Result<&dyn Backend> {
        if let Some(b) = self.get() {
            return Ok(b);
        }
        let _opening = self.opening.lock();
        if self.opened.get().is_none() {
            let _ = self
                .opened
                .set(open(self.choice, self.uring, self.hint.clone())?);
        }
        Ok(self
            .get()
            .expect("cport invariant: the backend was just opened"))
    }

    /// The hint the backend keeps (see [`FlushHint`]).
    pub(crate) fn flush_hint(&self) -> Arc<FlushHint> {
        self.hint.clone()
    }

    /// Why `Auto` runs on epoll (opens the backend to know).
    pub(crate) fn fallback_reason(&self) -> io::Result<Option<&str>> {
        self.open()?;
        Ok(self.opened.get().and_then(|(_, why)| why.as_deref()))
    }
}

impl Backend for LazyBackend {
    /// The kind of the open backend; an unopened one is opened to know it
    /// (falling back to the choice if that fails: the next use reports why).
    fn kind(&self) -> BackendKind {
        match (self.open(), self.choice) {
            (Ok(b), _) => b.kind(),
            (Err(_), BackendChoice::Epoll) => BackendKind::Epoll,
            (Err(_), _) => BackendKind::Uring,
        }
    }

    fn mode(&self) -> Option<&str> {
        self.open().ok()?.mode()
    }

    fn register(&self, fd: RawFd) -> io::Result<()> {
        self.open()?.register(fd)
    }

    fn deregister(&self, fd: RawFd) {
        if let Some(b) = self.get() {
            b.deregister(fd)
        }
    }

    unsafe fn submit(&self, op: &RawOp) -> io::Result<()> {
        match self.get() {
            // SAFETY: forwarded from this function's contract.
            Some(b) => unsafe { b.submit(op) },
            // Nothing was registered: no fd can take an operation.
            None => Err(io::Error::from_raw_os_error(libc::EBADF)),
        }
    }

    fn cancel(&self, user_data: u64) {
        if let Some(b) = self.get() {
            b.cancel(user_data)
        }
    }

    fn cancel_many(&self, user_data: &[u64]) {
        if let Some(b) = self.get() {
            b.cancel_many(user_data)
        }
    }

    fn poll(&self, timeout: Option<Duration>, out: &mut Vec<Completion>) -> io::Result<()> {
        match self.get() {
            Some(b) => b.poll(timeout, out),
            // Nothing can be in flight, so nobody polls for it (the port core
            // polls only while operations are in flight).
            None => Ok(()),
        }
    }

    fn wake(&self) {
        if let Some(b) = self.get() {
            b.wake()
        }
    }

    fn flush(&self, urgent: bool) {
        if let Some(b) = self.get() {
            b.flush(urgent)
        }
    }
}

/// Which kernel interface a port uses .
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendChoice {
    /// io_uring where the kernel allows it, else epoll (the reason is recorded).
    Auto,
    /// io_uring, or an error.
    Uring,
    /// epoll.
    Epoll,
}

impl std::str::FromStr for BackendChoice {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(BackendChoice::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(BackendChoice::Uring),
            "epoll" => Ok(BackendChoice::Epoll),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown backend {other:?} (expected auto, uring or epoll)"),
            )),
        }
    }
}

/// How an io_uring ring is set up (see the builder's `uring_*` methods).
#[derive(Clone, Copy, Debug)]
pub(crate) struct UringOptions {
    /// SQPOLL with this idle time.
    pub sqpoll_idle: Option<Duration>,
    /// COOP_TASKRUN (+ TASKRUN_FLAG): task work waits for the thread's next
    /// entry into the kernel instead of interrupting it.
    pub cooperative_task_run: bool,
}

impl Default for UringOptions {
    fn default() -> Self {
        UringOptions {
            sqpoll_idle: None,
            cooperative_task_run: true,
        }
    }
}

fn open_with(
    choice: BackendChoice,
    probe_uring: impl FnOnce() -> io::Result<Box<dyn Backend>>,
) -> io::Result<(Box<dyn Backend>, Option<String>)> {
    match choice {
        BackendChoice::Uring => probe_uring().map(|b| (b, None)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("io_uring is unavailable: {}", explain(&e)),
            )
        }),
        BackendChoice::Epoll => Ok((Box::new(epoll::EpollBackend::new()?), None)),
        BackendChoice::Auto => match probe_uring() {
            Ok(b) => Ok((b, None)),
            Err(e) => {
                let why = explain(&e);
                static LOGGED: std::sync::Once = std::sync::Once::new();
                LOGGED.call_once(|| eprintln!("cport: io_uring unavailable ({why}); using epoll"));
                Ok((Box::new(epoll::EpollBackend::new()?), Some(why)))
            }
        },
    }
}

/// Why io_uring could not be set up, in words (docs/semantics.md, "Backends").
pub(crate) fn explain(e: &io::Error) -> String {
    let why = match e.raw_os_error() {
        Some(libc::ENOSYS) => "kernel too old (io_uring_setup: ENOSYS)",
        Some(libc::EPERM) => "disabled by sysctl kernel.io_uring_disabled or by seccomp (EPERM)",
        Some(libc::ENOMEM) => "locked-memory limit too low (ENOMEM; raise ulimit -l)",
        Some(libc::EINVAL) => "kernel lacks a required io_uring feature (EINVAL)",
        _ => return e.to_string(),
    };
    why.to_string()
}

/// Which kernel interface a port runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// io_uring (the default where the kernel allows it).
    Uring,
    /// epoll (the fallback).
    Epoll,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Uring => "io_uring",
            BackendKind::Epoll => "epoll",
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn failing(errno: i32) -> impl FnOnce() -> io::Result<Box<dyn Backend>> {
        move || Err(io::Error::from_raw_os_error(errno))
    }

    #[test]
    fn auto_falls_back_to_epoll_and_says_why() {
        for (errno, words) in [
            (libc::ENOSYS, "kernel too old"),
            (libc::EPERM, "io_uring_disabled"),
            (libc::ENOMEM, "locked-memory"),
            (libc::EINVAL, "feature"),
        ] {
            let (backend, why) = open_with(BackendChoice::Auto, failing(errno)).unwrap();
            assert_eq!(backend.kind(), BackendKind::Epoll);
            let why = why.expect("a reason");
            assert!(why.contains(words), "{why}");
        }
    }

    #[test]
    fn missing_opcode_is_reported_by_name() {
        let probe = || {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks opcode SENDMSG",
            ))
        };
        let (_, why) = open_with(BackendChoice::Auto, probe).unwrap();
        assert!(why.unwrap().contains("SENDMSG"));
    }

    #[test]
    fn forcing_uring_where_it_fails_is_an_error_not_a_fallback() {
        let err = open_with(BackendChoice::Uring, failing(libc::EPERM))
            .err()
            .expect("an error");
        assert!(err.to_string().contains("io_uring is unavailable"), "{err}");
    }

    #[test]
    fn choices_parse_from_the_environment_spelling() {
        for (text, choice) in [
            ("auto", BackendChoice::Auto),
            ("", BackendChoice::Auto),
            ("uring", BackendChoice::Uring),
            ("EPOLL", BackendChoice::Epoll),
        ] {
            assert_eq!(text.parse::<BackendChoice>().unwrap(), choice);
        }
        assert_eq!(
            "kqueue".parse::<BackendChoice>().unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
