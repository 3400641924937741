//! The epoll backend (docs/semantics.md, "Backends"): readiness in the
//! kernel, the system calls here. It owns its fds' bookkeeping and its file
//! workers, and touches an op's memory only between `submit` and the op's
//! completion.
//!
//! # Implementation notes
//!
//! * **Edge-triggered, registered once.** `register` adds a socket with
//!   `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET` and never touches the interest
//!   list again. Each fd has two [`FdSide`]s, *read* (Accept, Recv, RecvMsg)
//!   and *write* (Connect, Send, SendMsg), each with at most one pending op:
//!   issue order per direction is the op layer's (its lanes send one op per
//!   socket and direction at a time); a second op is refused (EBUSY).
//! * **One driver per side, syscalls outside the lock.** Whoever finds a
//!   side idle with an op (a `submit`, or the poller on an event) marks it
//!   `busy` and *drives* it: attempt the op with the lock released, relock,
//!   record the outcome. An edge that arrives while the driver is inside a
//!   syscall bumps the side's `tick`; a driver whose attempt would block
//!   retries if the tick moved, so no edge is lost.
//! * **A submit to a ready side tries the op before storing it.** Most
//!   sends, and receives on a socket with data waiting, finish in that first
//!   attempt; they never enter the op table. Only an op that would block (or
//!   sent part of its bytes) is stored as its side's op, and its timer
//!   armed. Until then the op is unknown
//!   to [`Backend::cancel`], which ignores it: a cancel can only be sure to
//!   find an op once `submit` returned (the op layer cancels again after
//!   `submit` for this reason, as the deferred submissions of io_uring need).
//! * **An op inside a syscall is never completed by someone else.** Its phase
//!   is [`Phase::Running`]; `cancel` or its timeout turn that into
//!   [`Phase::CancelWhenDone`], and the driver reports `-ECANCELED` after the
//!   syscall returned (or the real result, if the attempt finished the op).
//!   This is what keeps the op layer's memory untouched after the completion.
//! * **Readiness is remembered per side.** A side is *ready* until an
//!   attempt shows the fd drained: it would block (EAGAIN), or — on TCP — a
//!   receive came back short (fewer bytes than asked; epoll(7): a short read
//!   on a stream socket means its read space is exhausted). Every edge for
//!   the side makes it ready again. An op submitted to a side that is not
//!   ready waits for the next edge instead of making a syscall bound to
//!   fail (except Connect, whose first step starts the connection). This is
//!   safe because an edge-triggered fd reports every later arrival: an idle
//!   side with a pending op is never ready, so the edge that makes it ready
//!   also drives it. The short-read rule is trusted only on TCP, and no more
//!   once the fd reported EPOLLRDHUP, EPOLLHUP, EPOLLERR or EPOLLPRI (end of
//!   stream, errors and urgent data can end a read early or leave something
//!   to read that no new edge announces).
//! * **Completions** go to a ready list that `poll` drains. Whoever adds one
//!   while the poller sleeps in `epoll_wait` rings an eventfd (once per sleep),
//!   after unlocking. The same eventfd is [`Backend::wake`].
//! * **Files are not pollable** (epoll_ctl says EPERM), and pread/pwrite may
//!   block on the disk. Read and Write therefore always run on a small pool of
//!   [`FILE_WORKERS`] threads, started on the first file op, which push their
//!   completions like everyone else. A file op can be cancelled only while it
//!   waits for a worker; once running, it completes with its real result.
//!   Workers use the backend's own duplicate of a file's fd, so that the fd
//!   they use stays open as long as they may use it (see the next point).
//! * **Dropping the backend** stops the workers: queued file ops are never
//!   started, and it waits up to [`WORKER_EXIT_WAIT`] for a pread/pwrite in
//!   progress. One still running after that (stuck in the kernel: NFS, FUSE, a
//!   userfaultfd page) cannot be interrupted, so its worker is detached: it
//!   keeps the shared state and the fd duplicate alive, finishes its syscall
//!   whenever the kernel lets it, and exits. The op's memory is then the
//!   caller's to leak, never to free: its completion will not be reported (the
//!   op layer leaks every op that has no completion when it is dropped).
//! * **`poll` looks at epoll at least every other call.** With completions
//!   already in hand (results of inline attempts), it returns them without an
//!   epoll_wait if the previous call did one; otherwise it looks once without
//!   blocking, so readiness is never starved by inline results.
//! * **Bookkeeping without hashing, in few cache lines.** Every syscall
//!   evicts much of the cache, so what an op touches afterwards is kept small
//!   and direct: per-fd state is one 64-byte entry in a vector indexed by fd
//!   (fds are small, dense integers), holding each side's op by user_data;
//!   the op table is a vector
//!   indexed by the low bits of the user_data (the op layer's slot index,
//!   dense as well), with a map for the rare op whose index is taken or too
//!   large ([`OpTable`]).
//! * **Timers** for per-op timeouts are a min-heap of `(deadline, seq, op)`,
//!   checked by `poll`, whose epoll_wait timeout is cut to the nearest deadline
//!   (rounded up to a millisecond). Entries of ops that already completed are
//!   skipped by sequence number and purged when they outnumber live ops. A
//!   timer earlier than the poller's current sleep wakes it.

mod driver;
mod files;
pub(crate) mod sys;
mod tables;
#[cfg(all(test, not(loom)))]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use rustix::event::epoll;

use super::{Backend, BackendKind, Completion, RawOp, Syscall};
use sys::Step;
use tables::*;

/// Threads running pread/pwrite for files.
const FILE_WORKERS: usize = 2;
/// How long dropping the backend waits for a file worker inside pread/pwrite
/// before it detaches the worker. Short: a port has already waited
/// [`DROP_WAIT`](crate::DROP_WAIT) for its operations before its backend drops.
pub(crate) const WORKER_EXIT_WAIT: Duration = Duration::from_millis(100);
/// epoll data of the wake eventfd (fds are non-negative, so no fd uses it).
const WAKE_TOKEN: u64 = u64::MAX;
/// No op (on a side). A user_data never has its top bit set.
const NO_OP: u64 = u64::MAX;
/// Ops whose index is below this live in the direct part of the [`OpTable`]
/// (at most a few MiB of it).
const DIRECT_OPS: usize = 1 << 16;
/// Interest set of every registered fd. EPOLLPRI (TCP urgent data) only
/// serves to tell when a short read may not mean "drained".
const INTEREST: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32;
/// Events after which a short read no longer proves an fd drained.
const UNSURE: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) as u32;
/// Events that concern the read side, and the write side.
const READ_EVENTS: u32 =
    (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLERR | libc::EPOLLHUP) as u32;
const WRITE_EVENTS: u32 = (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32;
/// Events delivered to one epoll_wait call at most.
const MAX_EVENTS: usize = 64;

#[derive(Default)]
struct Bookkeeping {
    fds: FdTable,
    ops: OpTable,
    ready: Vec<Completion>,
    timers: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    file_queue: VecDeque<u64>,
    next_seq: u64,
    /// The poller is (about to be) blocked in epoll_wait...
    sleeping: bool,
    /// ...until then (None: no timeout).
    sleep_until: Option<Instant>,
    /// Ring the eventfd once the lock is released.
    wake_due: bool,
    /// The last `poll` called epoll_wait (see the module notes).
    looked: bool,
    /// The backend is being dropped: file workers exit.
    shutdown: bool,
    /// File workers started and not yet exited.
    live_workers: usize,
    /// The fds (as the op layer knows them) of the file ops inside
    /// pread/pwrite right now: at most one per worker.
    files_in_use: Vec<RawFd>,
}

struct Shared {
    epfd: OwnedFd,
    wakefd: OwnedFd,
    state: Mutex<Bookkeeping>,
    /// Signalled when a file op is queued (or on shutdown).
    file_work: Condvar,
    /// Signalled when a file worker exits.
    worker_exited: Condvar,
}

/// Runs operations on non-blocking fds driven by epoll readiness, and file
/// I/O on worker threads. See the module notes.
pub(crate) struct EpollBackend {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// At least one file worker runs (`workers` is not empty).
    workers_started: AtomicBool,
}

fn errno_err(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

impl EpollBackend {
    pub(crate) fn new() -> io::Result<EpollBackend> {
        let epfd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wakefd = crate::backend::sys::eventfd()?;
        // Level-triggered: the doorbell stays readable until a poll drains it.
        sys::epoll_add(
            epfd.as_fd(),
            wakefd.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKE_TOKEN,
        )?;
        Ok(EpollBackend {
            shared: Arc::new(Shared {
                epfd,
                wakefd,
                state: Mutex::new(Bookkeeping::default()),
                file_work: Condvar::new(),
                worker_exited: Condvar::new(),
            }),
            workers: Mutex::new(Vec::new()),
            workers_started: AtomicBool::new(false),
        })
    }
}

/// Bytes `op` moves at most; `submit` refuses more than a result can report.
///
/// # Safety
/// `op.msg` must be valid for RecvMsg/SendMsg (submit contract).
unsafe fn op_len(op: &RawOp) -> io::Result<usize> {
    let len = match op.code {
        Syscall::RecvMsg | Syscall::SendMsg => {
            // SAFETY: msg is valid for reads (caller's contract).
            let iovs = unsafe { sys::iovecs(&*op.msg) };
            iovs.iter()
                .try_fold(0usize, |sum, iov| sum.checked_add(iov.iov_len))
        }
        _ => Some(op.len),
    };
    len.filter(|&n| n <= i32::MAX as usize)
        .ok_or_else(|| errno_err(libc::EINVAL))
}

impl Backend for EpollBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Epoll
    }

    fn register(&self, fd: RawFd) -> io::Result<()> {
        crate::backend::sys::set_nonblocking(fd)?;
        let kind = crate::backend::sys::socket_kind(fd);
        // The entry goes in before the fd enters the interest list: adding it
        // reports what is pending already (data, end of stream) as an edge,
        // which the poller may dispatch at once; with no entry yet that edge
        // would be dropped, and a short read later would take the fd for
        // drained and wait for good for an end of stream already reported.
        let entry = FdEntry {
            sides: Default::default(),
            file: None,
            pollable: true,
            stream: kind.stream,
            short_read_drains: kind.tcp,
        };
        self.shared.lock().fds.insert(fd, entry);
        let added = sys::epoll_add(self.shared.epfd.as_fd(), fd, INTEREST, fd as u64);
        #[cfg(all(test, not(loom)))]
        tests::after_interest_added(self);
        match added {
            Ok(()) => Ok(()),
            // A regular file: its ops run on the file workers, with their
            // own duplicate of the fd.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let dup = crate::backend::sys::dup(fd);
                let mut st = self.shared.lock();
                match dup {
                    Ok(file) => {
                        if let Some(entry) = st.fds.get_mut(fd) {
                            entry.file = Some(file);
                            entry.pollable = false;
                            entry.short_read_drains = false;
                        }
                        Ok(())
                    }
                    Err(e) => {
                        st.fds.remove(fd);
                        Err(e)
                    }
                }
            }
            Err(e) => {
                self.shared.lock().fds.remove(fd);
                Err(e)
            }
        }
    }

    fn deregister(&self, fd: RawFd) {
        let mut st = self.shared.lock();
        // The contract says nothing is pending; if something is, end it rather
        // than leave it without a completion.
        for side in [Side::Read, Side::Write] {
            if let Some(user_data) = st.side_op(fd, side) {
                st.cancel(user_data);
            }
        }
        let on_fd: Vec<u64> = st
            .file_queue
            .iter()
            .copied()
            .filter(|&ud| st.ops.get(ud).is_some_and(|op| op.raw.fd == fd))
            .collect();
        for user_data in on_fd {
            st.cancel(user_data);
        }
        let mut entry = st.fds.remove(fd);
        if st.files_in_use.contains(&fd) {
            // A worker is inside pread/pwrite on the duplicate (which the
            // contract rules out): leak it rather than close it under the
            // worker, whose next call could reach a reused fd number.
            if let Some(file) = entry.as_mut().and_then(|e| e.file.take()) {
                mem::forget(file);
            }
        }
        self.shared.unlock(st);
        // Dropped here, unlocked: closes the file duplicate.
        if entry.is_some_and(|e| e.pollable) {
            sys::epoll_delete(self.shared.epfd.as_fd(), fd);
        }
    }

    unsafe fn submit(&self, op: &RawOp) -> io::Result<()> {
        // SAFETY: forwarded from this function's contract.
        let total = unsafe { op_len(op) }?;
        let is_file = matches!(op.code, Syscall::Read | Syscall::Write);
        if is_file && !self.workers_started.load(Ordering::Acquire) {
            self.start_workers()?;
        }
        let shared = &*self.shared;
        let mut st = shared.lock();
        if st.ops.contains(op.user_data) {
            return Err(errno_err(libc::EEXIST)); // op layer bug: would lose a completion
        }
        let Some(entry) = st.fds.get_mut(op.fd) else {
            return Err(errno_err(libc::EBADF)); // not registered
        };
        if is_file {
            st.store(*op, WaitsIn::FileQueue, total, 0);
            st.file_queue.push_back(op.user_data);
            shared.unlock(st);
            shared.file_work.notify_one();
            return Ok(());
        }
        let side = Side::of(op.code);
        let (pollable, stream) = (entry.pollable, entry.stream);
        let lane = &mut entry.sides[side as usize];
        if lane.busy || lane.op != NO_OP {
            // The op layer keeps one op per socket and direction in flight
            // (its lanes keep issue order): a second one is its bug.
            return Err(errno_err(libc::EBUSY));
        }
        // Attempt at once only on a ready side: on a drained fd the attempt
        // would fail (the next edge drives the side). A connect's first step
        // starts the connection: it never waits.
        if lane.ready || op.code == Syscall::Connect {
            lane.busy = true;
            let head = Head {
                user_data: op.user_data,
                stored: false,
                tick: lane.tick,
                pollable,
                stream,
                raw: *op,
                total,
                progress: 0,
            };
            st = shared.drive(st, op.fd, side, Some(head));
        } else {
            st.store(*op, WaitsIn::Fd(side), total, 0);
            st.link(op.fd, side, op.user_data);
        }
        shared.unlock(st);
        Ok(())
    }

    fn cancel(&self, user_data: u64) {
        let mut st = self.shared.lock();
        st.cancel(user_data);
        self.shared.unlock(st);
    }

    fn poll(&self, timeout: Option<Duration>, out: &mut Vec<Completion>) -> io::Result<()> {
        let shared = &*self.shared;
        let start_len = out.len();
        // None: forever (also when the deadline is beyond the clock).
        // The clock is read only when a deadline or a timer needs it, and the
        // first look reuses the reading taken for the deadline.
        let mut clock = timeout.map(|_| Instant::now());
        let deadline = timeout.zip(clock).and_then(|(t, now)| now.checked_add(t));
        // Written by epoll_wait before they are read (no zeroing per call).
        let mut events = [const { mem::MaybeUninit::<libc::epoll_event>::uninit() }; MAX_EVENTS];
        let mut woken = false;
        let mut waited = false;
        loop {
            let mut st = shared.lock();
            let now = match clock.take() {
                Some(now) => Some(now),
                None => (deadline.is_some() || !st.timers.is_empty()).then(Instant::now),
            };
            let next_timer = now.and_then(|now| st.expire_timers(now));
            out.append(&mut st.ready);
            let got = out.len() > start_len;
            let expired = matches!((deadline, now), (Some(d), Some(now)) if now >= d);
            let done = got || woken || expired;
            // Even with completions in hand, look at epoll once (without
            // blocking) unless the previous poll did, so that readiness is
            // never starved by inline results for more than one call.
            if done && (waited || (got && st.looked)) {
                st.looked = waited;
                return Ok(());
            }
            let until = if done {
                None
            } else {
                [deadline, next_timer].into_iter().flatten().min()
            };
            let wait_ms = match (done, until, now) {
                (true, _, _) => 0,
                (false, Some(t), Some(now)) => {
                    let ns = t.saturating_duration_since(now).as_nanos();
                    i32::try_from(ns.div_ceil(1_000_000)).unwrap_or(i32::MAX)
                }
                // A deadline or timer implies `now`; without either, forever.
                (false, _, _) => -1,
            };
            st.sleeping = wait_ms != 0;
            st.sleep_until = until;
            drop(st);
            // A libc call: this is where the poller sleeps, so glibc's
            // cancellation-point cost is lost in the wait, and `dispatch`
            // reads the events in libc's epoll_event layout.
            // SAFETY: `events` is a writable array of MAX_EVENTS entries.
            let n = unsafe {
                libc::epoll_wait(
                    shared.epfd.as_raw_fd(),
                    events.as_mut_ptr().cast(),
                    MAX_EVENTS as i32,
                    wait_ms,
                )
            };
            let n = if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    shared.lock().sleeping = false;
                    return Err(err);
                }
                0
            } else {
                n as usize
            };
            waited = true;
            // SAFETY: epoll_wait wrote the first `n` (<= MAX_EVENTS) entries.
            let got_events = unsafe { std::slice::from_raw_parts(events.as_ptr().cast(), n) };
            woken |= shared.dispatch(got_events);
        }
    }

    fn wake(&self) {
        self.shared.ring();
    }
}
