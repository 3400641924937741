//! The epoll backend (SPEC §6): readiness in the kernel, the syscalls here.
//!
//! # Implementation notes
//!
//! * **Edge-triggered, registered once.** `register` adds a socket with
//!   `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET` and never touches the interest
//!   list again. Each fd has two [`Lane`]s, *read* (Accept, Recv, RecvMsg) and
//!   *write* (Connect, Send, SendMsg), each a FIFO of pending ops served in
//!   order: only the head is ever attempted.
//! * **One driver per lane, syscalls outside the lock.** Whoever finds a lane
//!   idle with work (a `submit` on an empty lane, or the poller on an event)
//!   marks it `busy` and *drives* it: attempt the head op with the lock
//!   released, relock, record the outcome, go on with the next head until one
//!   would block. Others only append to a busy lane. An edge that arrives while
//!   the driver is inside a syscall bumps the lane's `tick`; a driver whose
//!   attempt would block retries if the tick moved, so no edge is lost.
//! * **An op inside a syscall is never completed by someone else.** Its phase
//!   is [`Phase::Running`]; `cancel` or its timeout turn that into
//!   [`Phase::CancelWhenDone`], and the driver reports `-ECANCELED` after the
//!   syscall returned (or the real result, if the attempt finished the op).
//!   This is what keeps the op layer's memory untouched after the completion.
//! * **Readiness is remembered per lane.** A lane is *ready* until an
//!   attempt shows the fd drained: it would block (EAGAIN), or — on TCP — a
//!   receive came back short (fewer bytes than asked; epoll(7): a short read
//!   on a stream socket means its read space is exhausted). Every edge for
//!   the lane makes it ready again. An op submitted to an idle lane that is
//!   not ready waits for the next edge instead of making a syscall bound to
//!   fail (except Connect, whose first step starts the connection). This is
//!   safe because an edge-triggered fd reports every later arrival: an idle
//!   lane with queued ops is never ready, so the edge that makes it ready
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
//!   Dropping the backend stops the workers and joins them (an I/O in progress
//!   finishes first); queued file ops are never started.
//! * **`poll` looks at epoll at least every other call.** With completions
//!   already in hand (results of inline attempts), it returns them without an
//!   epoll_wait if the previous call did one; otherwise it looks once without
//!   blocking, so readiness is never starved by inline results.
//! * **Bookkeeping without SipHash.** Per-fd state is a vector indexed by fd
//!   (fds are small, dense integers); ops are keyed by user_data with a
//!   one-multiply hash ([`UdHasher`]).
//! * **Timers** for per-op timeouts are a min-heap of `(deadline, seq, op)`,
//!   checked by `poll`, whose epoll_wait timeout is cut to the nearest deadline
//!   (rounded up to a millisecond). Entries of ops that already completed are
//!   skipped by sequence number and purged when they outnumber live ops. A
//!   timer earlier than the poller's current sleep wakes it.

mod sys;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::{Backend, BackendKind, Completion, OpCode, RawOp};
use sys::Step;

/// Threads running pread/pwrite for files.
const FILE_WORKERS: usize = 2;
/// epoll data of the wake eventfd (fds are non-negative, so no fd uses it).
const WAKE_TOKEN: u64 = u64::MAX;
/// Interest set of every registered fd. EPOLLPRI (TCP urgent data) only
/// serves to tell when a short read may not mean "drained".
const INTEREST: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32;
/// Events after which a short read no longer proves an fd drained.
const UNSURE: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) as u32;
/// Events delivered to one epoll_wait call at most.
const MAX_EVENTS: usize = 64;

/// An fd's two FIFOs of pending socket ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// Accept, Recv, RecvMsg: wait for EPOLLIN.
    Read = 0,
    /// Connect, Send, SendMsg: wait for EPOLLOUT.
    Write = 1,
}

impl Side {
    fn of(code: OpCode) -> Side {
        match code {
            OpCode::Connect | OpCode::Send | OpCode::SendMsg => Side::Write,
            _ => Side::Read,
        }
    }
}

/// One side of an fd: pending ops (user_data), served head first.
struct Lane {
    queue: VecDeque<u64>,
    /// A thread is driving this lane; others only append.
    busy: bool,
    /// Counts readiness edges, so a driver can tell one arrived during its syscall.
    tick: u64,
    /// No attempt showed the fd drained since the last edge (see the module
    /// notes). An idle lane with queued ops is never ready.
    ready: bool,
}

impl Default for Lane {
    fn default() -> Self {
        Lane {
            queue: VecDeque::new(),
            busy: false,
            tick: 0,
            ready: true,
        }
    }
}

/// A registered fd.
struct FdEntry {
    /// In the epoll set (false for regular files: epoll_ctl said EPERM).
    pollable: bool,
    /// SOCK_STREAM: sends loop until every byte went out.
    stream: bool,
    /// A short receive proves the fd drained: TCP, and no [`UNSURE`] event yet.
    short_read_drains: bool,
    lanes: [Lane; 2],
}

/// Registered fds, indexed by fd (fds are small dense integers).
#[derive(Default)]
struct FdTable(Vec<Option<FdEntry>>);

impl FdTable {
    fn get(&self, fd: RawFd) -> Option<&FdEntry> {
        self.0.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    fn get_mut(&mut self, fd: RawFd) -> Option<&mut FdEntry> {
        self.0.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }

    fn contains(&self, fd: RawFd) -> bool {
        self.get(fd).is_some()
    }

    /// `fd` must be non-negative (it is: the kernel accepted it).
    fn insert(&mut self, fd: RawFd, entry: FdEntry) {
        let Ok(i) = usize::try_from(fd) else { return };
        if i >= self.0.len() {
            self.0.resize_with(i + 1, || None);
        }
        self.0[i] = Some(entry);
    }

    fn remove(&mut self, fd: RawFd) -> Option<FdEntry> {
        self.0.get_mut(usize::try_from(fd).ok()?)?.take()
    }
}

/// Hashes a user_data with one 64×64→128-bit multiply, folded. The keys come
/// from the op layer (a slab index and a generation), not from the network,
/// so SipHash's protection against chosen keys buys nothing here. Dense slab
/// indices in the low bits land in distinct buckets; the high bits (and the
/// generation) feed both halves of the product.
#[derive(Default)]
struct UdHasher(u64);

impl UdHasher {
    /// 2^64 / φ, odd: Fibonacci hashing's multiplier.
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
}

impl Hasher for UdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by u64 keys; correct for anything else all the same.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let p = u128::from(self.0 ^ x) * u128::from(Self::K);
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type OpMap = HashMap<u64, OpState, BuildHasherDefault<UdHasher>>;

/// Where a pending op waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Lane(Side),
    FileQueue,
}

/// Who may touch a pending op's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting in its lane or the file queue: may be completed by anyone.
    Queued,
    /// A thread is inside a syscall on its memory: only that thread completes it.
    Running,
    /// Running, and cancelled (or timed out) meanwhile: -ECANCELED unless the
    /// running attempt finishes it.
    CancelWhenDone,
}

/// A submitted op until its completion.
struct OpState {
    raw: RawOp,
    /// Tells this op from an earlier one with the same user_data (timers).
    seq: u64,
    place: Place,
    phase: Phase,
    /// Private progress (bytes sent; connect started): see [`sys::attempt`].
    progress: usize,
    /// Bytes a Send/SendMsg must send.
    total: usize,
}

/// A lane's head op, taken for one attempt (see [`State::start_head`]).
struct Head {
    user_data: u64,
    /// The lane's tick when the attempt started.
    tick: u64,
    pollable: bool,
    stream: bool,
    raw: RawOp,
    total: usize,
    progress: usize,
}

#[derive(Default)]
struct State {
    fds: FdTable,
    ops: OpMap,
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
}

struct Shared {
    epfd: OwnedFd,
    wakefd: OwnedFd,
    state: Mutex<State>,
    /// Signalled when a file op is queued (or on shutdown).
    file_work: Condvar,
}

/// Runs operations on non-blocking fds driven by epoll readiness, and file
/// I/O on worker threads. See the module notes.
pub(crate) struct EpollBackend {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

fn errno_err(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

impl EpollBackend {
    pub(crate) fn new() -> io::Result<EpollBackend> {
        // SAFETY: plain syscall; the result is checked before use.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: epfd is a new fd that nothing else owns.
        let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
        // SAFETY: plain syscall; the result is checked before use.
        let wakefd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if wakefd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: wakefd is a new fd that nothing else owns.
        let wakefd = unsafe { OwnedFd::from_raw_fd(wakefd) };
        // Level-triggered: the doorbell stays readable until a poll drains it.
        sys::epoll_ctl(
            epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            wakefd.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKE_TOKEN,
        )?;
        Ok(EpollBackend {
            shared: Arc::new(Shared {
                epfd,
                wakefd,
                state: Mutex::new(State::default()),
                file_work: Condvar::new(),
            }),
            workers: Mutex::new(Vec::new()),
        })
    }

    /// Starts the file workers on first use. Fails only if none could start.
    #[cold]
    fn start_workers(&self) -> io::Result<()> {
        let mut workers = self.workers.lock();
        while workers.len() < FILE_WORKERS {
            let shared = Arc::clone(&self.shared);
            match thread::Builder::new()
                .name("cport-epoll-file".into())
                .spawn(move || shared.file_worker())
            {
                Ok(handle) => workers.push(handle),
                Err(e) if workers.is_empty() => return Err(e),
                Err(_) => break, // one worker is enough to make progress
            }
        }
        Ok(())
    }
}

impl Drop for EpollBackend {
    fn drop(&mut self) {
        self.shared.state.lock().shutdown = true;
        self.shared.file_work.notify_all();
        for handle in self.workers.get_mut().drain(..) {
            let _ = handle.join(); // a worker never panics; ignore if it did
        }
        // The fds close when `shared` drops (the workers' clones are gone).
    }
}

impl State {
    /// Reports `user_data`'s one completion and forgets the op.
    fn finish(&mut self, user_data: u64, res: i32) {
        self.ops.remove(&user_data);
        self.ready.push(Completion { user_data, res });
        if self.sleeping {
            self.sleeping = false;
            self.wake_due = true;
        }
    }

    fn unqueue(&mut self, user_data: u64, fd: RawFd, place: Place) {
        match place {
            Place::Lane(side) => {
                if let Some(entry) = self.fds.get_mut(fd) {
                    let queue = &mut entry.lanes[side as usize].queue;
                    // Mostly the head (a driver completing it).
                    if queue.front() == Some(&user_data) {
                        queue.pop_front();
                    } else {
                        queue.retain(|&u| u != user_data);
                    }
                }
            }
            Place::FileQueue => self.file_queue.retain(|&u| u != user_data),
        }
    }

    /// Cancels a pending op: at once if queued, after its syscall if running.
    fn cancel(&mut self, user_data: u64) {
        let Some(op) = self.ops.get_mut(&user_data) else {
            return; // unknown or already completed
        };
        match op.phase {
            Phase::Queued => {
                let (fd, place) = (op.raw.fd, op.place);
                // No need to drive the lane: the next op waits for the same
                // readiness the cancelled head was waiting for.
                self.unqueue(user_data, fd, place);
                self.finish(user_data, -libc::ECANCELED);
            }
            Phase::Running => op.phase = Phase::CancelWhenDone,
            Phase::CancelWhenDone => {}
        }
    }

    /// Marks the head op of a busy lane Running and returns what attempting
    /// it needs; `None` (lane idle again) when the lane is empty or gone.
    fn start_head(&mut self, fd: RawFd, side: Side) -> Option<Head> {
        let entry = self.fds.get_mut(fd)?;
        let lane = &mut entry.lanes[side as usize];
        loop {
            let Some(&user_data) = lane.queue.front() else {
                lane.busy = false;
                return None;
            };
            let Some(op) = self.ops.get_mut(&user_data) else {
                lane.queue.pop_front(); // cannot happen: queued ops are in `ops`
                continue;
            };
            op.phase = Phase::Running;
            return Some(Head {
                user_data,
                tick: lane.tick,
                pollable: entry.pollable,
                stream: entry.stream,
                raw: op.raw,
                total: op.total,
                progress: op.progress,
            });
        }
    }

    fn arm_timer(&mut self, user_data: u64, seq: u64, timeout: Duration) {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return; // beyond any clock: never fires
        };
        // Purge entries of completed ops so the heap stays proportional to
        // the ops in flight.
        if self.timers.len() >= 64 && self.timers.len() > 2 * self.ops.len() {
            let ops = &self.ops;
            self.timers
                .retain(|Reverse((_, seq, ud))| ops.get(ud).is_some_and(|o| o.seq == *seq));
        }
        self.timers.push(Reverse((deadline, seq, user_data)));
        let sooner = match self.sleep_until {
            None => true, // the poller sleeps without a timeout
            Some(until) => deadline < until,
        };
        if self.sleeping && sooner {
            self.sleeping = false;
            self.wake_due = true;
        }
    }

    fn timer_is_live(&self, seq: u64, user_data: u64) -> bool {
        self.ops.get(&user_data).is_some_and(|op| op.seq == seq)
    }

    /// Cancels the ops whose deadline passed; returns the nearest live deadline.
    fn expire_timers(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&Reverse((deadline, seq, user_data))) = self.timers.peek() {
            let live = self.timer_is_live(seq, user_data);
            if live && deadline > now {
                return Some(deadline);
            }
            self.timers.pop();
            if live {
                self.cancel(user_data);
            }
        }
        None
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    fn ring(&self) {
        sys::eventfd_ring(self.wakefd.as_raw_fd());
    }

    /// Releases the lock, then rings the doorbell if a completion was added
    /// while the poller slept.
    fn unlock(&self, mut st: MutexGuard<'_, State>) {
        let wake = mem::take(&mut st.wake_due);
        drop(st);
        if wake {
            self.ring();
        }
    }

    /// Serves `fd`'s `side` lane, which the caller marked busy, until it is
    /// empty or its head would block. Syscalls run with the lock released.
    fn drive<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        fd: RawFd,
        side: Side,
    ) -> MutexGuard<'a, State> {
        loop {
            let Some(mut head) = st.start_head(fd, side) else {
                return st;
            };
            let wake = mem::take(&mut st.wake_due);
            let step = MutexGuard::unlocked(&mut st, || {
                if wake {
                    self.ring();
                }
                // SAFETY: the op is pending and Running: its memory is valid
                // (submit contract) and nobody completes it meanwhile.
                unsafe { sys::attempt(&head.raw, head.stream, head.total, &mut head.progress) }
            });
            let Some(op) = st.ops.get_mut(&head.user_data) else {
                continue; // cannot happen: only we complete a Running op
            };
            let cancelled = op.phase == Phase::CancelWhenDone;
            op.phase = Phase::Queued;
            op.progress = head.progress;
            let res = match step {
                Step::Done(res) => res,
                Step::Progress | Step::Blocked if cancelled => -libc::ECANCELED,
                Step::Progress => continue,
                // Nothing will ever signal readiness: don't wait for it.
                Step::Blocked if !head.pollable => -libc::EAGAIN,
                Step::Blocked => {
                    let Some(entry) = st.fds.get_mut(fd) else {
                        return st;
                    };
                    let lane = &mut entry.lanes[side as usize];
                    if lane.tick != head.tick {
                        continue; // an edge arrived during the attempt: retry
                    }
                    lane.ready = false;
                    lane.busy = false;
                    return st;
                }
            };
            st.unqueue(head.user_data, fd, Place::Lane(side));
            st.finish(head.user_data, res);
            if is_short_read(&head, step) {
                let Some(entry) = st.fds.get_mut(fd) else {
                    return st;
                };
                let drains = entry.short_read_drains;
                let lane = &mut entry.lanes[side as usize];
                // A short read proves the fd drained if nothing arrived since
                // the attempt started (an edge meanwhile bumped the tick).
                if drains && lane.tick == head.tick {
                    lane.ready = false;
                    lane.busy = false;
                    return st;
                }
            }
        }
    }

    /// Handles epoll events: bumps the lanes' ticks and drives idle lanes
    /// that have work. Returns whether the doorbell rang.
    fn dispatch(&self, events: &[libc::epoll_event]) -> bool {
        let mut woken = false;
        let mut st = self.lock();
        st.sleeping = false;
        for ev in events {
            let (bits, token) = (ev.events, ev.u64);
            if token == WAKE_TOKEN {
                woken = true;
                continue;
            }
            let fd = token as RawFd;
            let both = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
            let read = both | (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32;
            let write = both | libc::EPOLLOUT as u32;
            for (side, mask) in [(Side::Read, read), (Side::Write, write)] {
                if bits & mask == 0 {
                    continue;
                }
                let Some(entry) = st.fds.get_mut(fd) else {
                    break; // deregistered after the event was queued
                };
                if bits & UNSURE != 0 {
                    entry.short_read_drains = false; // for good
                }
                let lane = &mut entry.lanes[side as usize];
                lane.tick = lane.tick.wrapping_add(1);
                lane.ready = true;
                if !lane.busy && !lane.queue.is_empty() {
                    lane.busy = true;
                    st = self.drive(st, fd, side);
                }
            }
        }
        self.unlock(st);
        if woken {
            sys::eventfd_drain(self.wakefd.as_raw_fd());
        }
        woken
    }

    /// A file worker: runs queued Read/Write ops until shutdown.
    fn file_worker(&self) {
        let mut st = self.lock();
        while !st.shutdown {
            let Some(user_data) = st.file_queue.pop_front() else {
                self.file_work.wait(&mut st);
                continue;
            };
            let Some(op) = st.ops.get_mut(&user_data) else {
                continue;
            };
            op.phase = Phase::Running;
            let raw = op.raw;
            // SAFETY: the op is pending and Running: its memory is valid
            // (submit contract) and nobody completes it meanwhile.
            let step =
                MutexGuard::unlocked(&mut st, || unsafe { sys::attempt(&raw, false, 0, &mut 0) });
            // pread/pwrite always finish: a cancel that came meanwhile loses.
            let res = match step {
                Step::Done(res) => res,
                Step::Progress | Step::Blocked => -libc::EAGAIN,
            };
            st.finish(user_data, res);
            if mem::take(&mut st.wake_due) {
                MutexGuard::unlocked(&mut st, || self.ring());
            }
        }
    }
}

/// Whether `step`, the outcome of an attempt at `head`, is a receive that got
/// some bytes but fewer than it asked for.
fn is_short_read(head: &Head, step: Step) -> bool {
    matches!(head.raw.code, OpCode::Recv | OpCode::RecvMsg)
        && matches!(step, Step::Done(n) if n > 0 && (n as usize) < head.total)
}

/// Bytes `op` moves at most; `submit` refuses more than a result can report.
///
/// # Safety
/// `op.msg` must be valid for RecvMsg/SendMsg (submit contract).
unsafe fn op_len(op: &RawOp) -> io::Result<usize> {
    let len = match op.code {
        OpCode::RecvMsg | OpCode::SendMsg => {
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
        sys::set_nonblocking(fd)?;
        let kind = sys::socket_kind(fd);
        let epfd = self.shared.epfd.as_raw_fd();
        let pollable = match sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, INTEREST, fd as u64) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => false, // regular file
            Err(e) => return Err(e),
        };
        let entry = FdEntry {
            pollable,
            stream: kind.stream,
            short_read_drains: pollable && kind.tcp,
            lanes: Default::default(),
        };
        self.shared.lock().fds.insert(fd, entry);
        Ok(())
    }

    fn deregister(&self, fd: RawFd) {
        let mut st = self.shared.lock();
        let Some(entry) = st.fds.remove(fd) else {
            return;
        };
        // The contract says nothing is pending; if something is, end it rather
        // than leave it without a completion.
        for user_data in entry.lanes.iter().flat_map(|lane| lane.queue.iter()) {
            st.cancel(*user_data);
        }
        self.shared.unlock(st);
        if entry.pollable {
            let epfd = self.shared.epfd.as_raw_fd();
            let _ = sys::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, 0, 0);
        }
    }

    unsafe fn submit(&self, op: &RawOp) -> io::Result<()> {
        // SAFETY: forwarded from this function's contract.
        let total = unsafe { op_len(op) }?;
        let is_file = matches!(op.code, OpCode::Read | OpCode::Write);
        if is_file && self.workers.lock().is_empty() {
            self.start_workers()?;
        }
        let shared = &*self.shared;
        let mut st = shared.lock();
        if st.ops.contains_key(&op.user_data) {
            return Err(errno_err(libc::EEXIST)); // op layer bug: would lose a completion
        }
        let place = if is_file {
            Place::FileQueue
        } else if st.fds.contains(op.fd) {
            Place::Lane(Side::of(op.code))
        } else {
            return Err(errno_err(libc::EBADF)); // not registered
        };
        st.next_seq += 1;
        let seq = st.next_seq;
        let state = OpState {
            raw: *op,
            seq,
            place,
            phase: Phase::Queued,
            progress: 0,
            total,
        };
        st.ops.insert(op.user_data, state);
        if let Some(timeout) = op.timeout {
            st.arm_timer(op.user_data, seq, timeout);
        }
        match place {
            Place::FileQueue => {
                st.file_queue.push_back(op.user_data);
                shared.unlock(st);
                shared.file_work.notify_one();
            }
            Place::Lane(side) => {
                let entry = st
                    .fds
                    .get_mut(op.fd)
                    .ok_or_else(|| errno_err(libc::EBADF))?;
                let lane = &mut entry.lanes[side as usize];
                // Attempt at once only on an idle, empty lane that is ready:
                // ops already queued wait for readiness, a busy lane's driver
                // will reach this op in order, and on a drained fd the attempt
                // would fail (the next edge drives the lane). A connect's
                // first step starts the connection: it never waits.
                let start = !lane.busy
                    && lane.queue.is_empty()
                    && (lane.ready || op.code == OpCode::Connect);
                lane.queue.push_back(op.user_data);
                if start {
                    lane.busy = true;
                    st = shared.drive(st, op.fd, side);
                }
                shared.unlock(st);
            }
        }
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
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        let mut woken = false;
        let mut waited = false;
        loop {
            let now = Instant::now();
            let mut st = shared.lock();
            let next_timer = st.expire_timers(now);
            out.append(&mut st.ready);
            let got = out.len() > start_len;
            let done = got || woken || deadline.is_some_and(|d| now >= d);
            // Even with completions in hand, look at epoll once (without
            // blocking) unless the previous poll did, so that readiness is
            // never starved by inline results for more than one call.
            if done && (waited || (got && st.looked)) {
                st.looked = waited;
                return Ok(());
            }
            let until = if done {
                Some(now)
            } else {
                [deadline, next_timer].into_iter().flatten().min()
            };
            let wait_ms = until.map_or(-1, |t| {
                let ns = t.saturating_duration_since(now).as_nanos();
                i32::try_from(ns.div_ceil(1_000_000)).unwrap_or(i32::MAX)
            });
            st.sleeping = wait_ms != 0;
            st.sleep_until = until;
            drop(st);
            // SAFETY: `events` is a writable array of MAX_EVENTS entries.
            let n = unsafe {
                libc::epoll_wait(
                    shared.epfd.as_raw_fd(),
                    events.as_mut_ptr(),
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
            woken |= shared.dispatch(&events[..n]);
        }
    }

    fn wake(&self) {
        self.shared.ring();
    }
}
