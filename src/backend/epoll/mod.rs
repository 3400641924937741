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
//! * **A submit to an idle, empty, ready lane tries the op before storing
//!   it.** Most sends, and receives on a socket with data waiting, finish in
//!   that first attempt; they never enter the op table or the lane's FIFO.
//!   Only an op that would block (or sent part of its bytes) is stored, at
//!   the head of its lane, and its timer armed. Until then the op is unknown
//!   to [`Backend::cancel`], which ignores it: a cancel can only be sure to
//!   find an op once `submit` returned (the op layer cancels again after
//!   `submit` for this reason, as the deferred submissions of io_uring need).
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
//!   (fds are small, dense integers); a lane's FIFO is a doubly linked list
//!   through the op table (no allocation per lane); the op table is a vector
//!   indexed by the low bits of the user_data (the op layer's slot index,
//!   dense as well), with a map for the rare op whose index is taken or too
//!   large ([`OpTable`]).
//! * **Timers** for per-op timeouts are a min-heap of `(deadline, seq, op)`,
//!   checked by `poll`, whose epoll_wait timeout is cut to the nearest deadline
//!   (rounded up to a millisecond). Entries of ops that already completed are
//!   skipped by sequence number and purged when they outnumber live ops. A
//!   timer earlier than the poller's current sleep wakes it.

pub(crate) mod sys;
#[cfg(all(test, not(loom)))]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::{Backend, BackendKind, Completion, OpCode, RawOp};
use sys::Step;

/// Threads running pread/pwrite for files.
const FILE_WORKERS: usize = 2;
/// How long dropping the backend waits for a file worker inside pread/pwrite
/// before it detaches the worker. Short: a port has already waited
/// [`DROP_WAIT`](crate::DROP_WAIT) for its operations before its backend drops.
pub(crate) const WORKER_EXIT_WAIT: Duration = Duration::from_millis(100);
/// epoll data of the wake eventfd (fds are non-negative, so no fd uses it).
const WAKE_TOKEN: u64 = u64::MAX;
/// No op: the end of a lane's list. A user_data never has its top bit set.
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
/// Events that concern the read lane, and the write lane.
const READ_EVENTS: u32 =
    (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLERR | libc::EPOLLHUP) as u32;
const WRITE_EVENTS: u32 = (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32;
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

/// One side of an fd: pending ops, served head first, linked through their
/// [`OpState::next`] / [`OpState::prev`].
struct Lane {
    /// The oldest pending op ([`NO_OP`]: none) ...
    head: u64,
    /// ... and the newest.
    tail: u64,
    /// Counts readiness edges, so a driver can tell one arrived during its
    /// syscall (compared for equality only: wrapping is harmless).
    tick: u32,
    /// A thread is driving this lane; others only append.
    busy: bool,
    /// No attempt showed the fd drained since the last edge (see the module
    /// notes). An idle lane with queued ops is never ready.
    ready: bool,
}

impl Default for Lane {
    fn default() -> Self {
        Lane {
            head: NO_OP,
            tail: NO_OP,
            tick: 0,
            busy: false,
            ready: true,
        }
    }
}

/// A registered fd: one cache line.
#[repr(align(64))]
struct FdEntry {
    lanes: [Lane; 2],
    /// Not pollable (a regular file: epoll_ctl said EPERM): the backend's
    /// duplicate of the fd, which file workers use (see the module notes).
    /// Closed by `deregister` (no op in flight then) or with the shared
    /// state, once the last worker is gone.
    file: Option<OwnedFd>,
    /// In the epoll set.
    pollable: bool,
    /// SOCK_STREAM: sends loop until every byte went out.
    stream: bool,
    /// A short receive proves the fd drained: TCP, and no [`UNSURE`] event yet.
    short_read_drains: bool,
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

/// Pending ops by user_data. The op layer's user_data carries its slot index
/// in the low bits (`backend::user_data`), so nearly every op sits in `direct` at
/// that index; an op whose index is taken (by another user_data with the same
/// low bits) or too large goes to `spill`. Any user_data works; only speed
/// depends on the encoding.
#[derive(Default)]
struct OpTable {
    direct: Vec<Option<OpState>>,
    spill: HashMap<u64, OpState, BuildHasherDefault<UdHasher>>,
    len: usize,
}

impl OpTable {
    fn index(user_data: u64) -> usize {
        super::user_data::index(user_data)
    }

    fn get(&self, user_data: u64) -> Option<&OpState> {
        match self.direct.get(Self::index(user_data)) {
            Some(Some(op)) if op.raw.user_data == user_data => Some(op),
            _ if self.spill.is_empty() => None,
            _ => self.spill.get(&user_data),
        }
    }

    fn get_mut(&mut self, user_data: u64) -> Option<&mut OpState> {
        let i = Self::index(user_data);
        if matches!(self.direct.get(i), Some(Some(op)) if op.raw.user_data == user_data) {
            return self.direct[i].as_mut();
        }
        if self.spill.is_empty() {
            return None;
        }
        self.spill.get_mut(&user_data)
    }

    fn contains(&self, user_data: u64) -> bool {
        self.get(user_data).is_some()
    }

    /// Stores `op`; false (and nothing stored) if its user_data is pending.
    fn insert(&mut self, op: OpState) -> bool {
        let user_data = op.raw.user_data;
        if self.contains(user_data) {
            return false;
        }
        let i = Self::index(user_data);
        if i < DIRECT_OPS {
            if i >= self.direct.len() {
                self.direct.resize_with(i + 1, || None);
            }
            if self.direct[i].is_none() {
                self.direct[i] = Some(op);
                self.len += 1;
                return true;
            }
        }
        self.spill.insert(user_data, op);
        self.len += 1;
        true
    }

    fn remove(&mut self, user_data: u64) -> Option<OpState> {
        let i = Self::index(user_data);
        let op = match self.direct.get_mut(i) {
            Some(slot)
                if slot
                    .as_ref()
                    .is_some_and(|op| op.raw.user_data == user_data) =>
            {
                slot.take()
            }
            _ if self.spill.is_empty() => None,
            _ => self.spill.remove(&user_data),
        };
        if op.is_some() {
            self.len -= 1;
        }
        op
    }

    fn len(&self) -> usize {
        self.len
    }
}

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

/// A stored op until its completion.
struct OpState {
    raw: RawOp,
    /// Neighbours in its lane ([`NO_OP`]: none); unused in the file queue.
    prev: u64,
    next: u64,
    /// Tells this op from an earlier one with the same user_data (timers).
    seq: u64,
    place: Place,
    phase: Phase,
    /// Private progress (bytes sent; connect started): see [`sys::attempt`].
    progress: usize,
    /// Bytes a Send/SendMsg must send.
    total: usize,
}

/// An op about to be attempted: a lane's head, taken from the op table
/// ([`State::start_head`]), or one being submitted, not stored yet.
struct Head {
    user_data: u64,
    /// In the op table (and Running there), or not stored yet.
    stored: bool,
    /// The lane's tick when the attempt started.
    tick: u32,
    pollable: bool,
    stream: bool,
    raw: RawOp,
    total: usize,
    progress: usize,
}

#[derive(Default)]
struct State {
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
    state: Mutex<State>,
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
                worker_exited: Condvar::new(),
            }),
            workers: Mutex::new(Vec::new()),
            workers_started: AtomicBool::new(false),
        })
    }

    /// Starts the file workers on first use. Fails only if none could start.
    #[cold]
    fn start_workers(&self) -> io::Result<()> {
        let mut workers = self.workers.lock();
        while workers.len() < FILE_WORKERS {
            let shared = Arc::clone(&self.shared);
            // Counted before it runs, so that drop waits for it.
            self.shared.lock().live_workers += 1;
            match thread::Builder::new()
                .name("cport-epoll-file".into())
                .spawn(move || shared.file_worker())
            {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    self.shared.lock().live_workers -= 1;
                    if workers.is_empty() {
                        return Err(e);
                    }
                    break; // one worker is enough to make progress
                }
            }
        }
        self.workers_started.store(true, Ordering::Release);
        Ok(())
    }
}

impl Drop for EpollBackend {
    /// Stops the file workers, waiting up to [`WORKER_EXIT_WAIT`] for one
    /// inside pread/pwrite; detaches those still running after that (see the
    /// module notes). Never blocks longer, never panics.
    fn drop(&mut self) {
        let workers = mem::take(self.workers.get_mut());
        let shared = &*self.shared;
        let mut st = shared.lock();
        st.shutdown = true;
        shared.file_work.notify_all();
        let deadline = Instant::now().checked_add(WORKER_EXIT_WAIT);
        while st.live_workers > 0 {
            let Some(deadline) = deadline else { break };
            if shared
                .worker_exited
                .wait_until(&mut st, deadline)
                .timed_out()
            {
                break;
            }
        }
        let all_exited = st.live_workers == 0;
        drop(st);
        for handle in workers {
            if all_exited || handle.is_finished() {
                let _ = handle.join(); // a worker never panics; ignore if it did
            }
            // Otherwise dropping the handle detaches the thread. It owns an
            // Arc of `shared` (the fds, the state, the file fd duplicates),
            // which stays alive until it exits.
        }
        // The fds close when the last Arc of `shared` drops.
    }
}

impl State {
    /// Reports `user_data`'s one completion (the op is no longer stored).
    fn complete(&mut self, user_data: u64, res: i32) {
        self.ready.push(Completion { user_data, res });
        if self.sleeping {
            self.sleeping = false;
            self.wake_due = true;
        }
    }

    /// Forgets a stored op (unlinked already) and reports its completion.
    fn finish(&mut self, user_data: u64, res: i32) {
        self.ops.remove(user_data);
        self.complete(user_data, res);
    }

    /// Stores a new op (not linked anywhere yet) and arms its timer; false if
    /// its user_data is pending already.
    fn store(&mut self, raw: RawOp, place: Place, total: usize, progress: usize) -> bool {
        self.next_seq += 1;
        let seq = self.next_seq;
        let stored = self.ops.insert(OpState {
            raw,
            prev: NO_OP,
            next: NO_OP,
            seq,
            place,
            phase: Phase::Queued,
            progress,
            total,
        });
        if stored {
            if let Some(timeout) = raw.timeout {
                self.arm_timer(raw.user_data, seq, timeout);
            }
        }
        stored
    }

    /// Stores `head`, an op being submitted whose first attempt did not
    /// finish it, at the head of its lane: ops submitted during the attempt
    /// were appended behind it. False if its user_data is pending already.
    fn store_first(&mut self, fd: RawFd, side: Side, head: &Head) -> bool {
        if !self.store(head.raw, Place::Lane(side), head.total, head.progress) {
            return false;
        }
        self.link(fd, side, head.user_data, true);
        true
    }

    /// Appends the stored op `user_data` to `fd`'s `side` lane (or puts it
    /// first, `front`).
    fn link(&mut self, fd: RawFd, side: Side, user_data: u64, front: bool) {
        let Some(entry) = self.fds.get_mut(fd) else {
            return;
        };
        let lane = &mut entry.lanes[side as usize];
        let (prev, next) = if front {
            (NO_OP, lane.head)
        } else {
            (lane.tail, NO_OP)
        };
        if prev == NO_OP {
            lane.head = user_data;
        }
        if next == NO_OP {
            lane.tail = user_data;
        }
        if let Some(op) = self.ops.get_mut(user_data) {
            op.prev = prev;
            op.next = next;
        }
        if let Some(p) = self.ops.get_mut(prev) {
            p.next = user_data;
        }
        if let Some(n) = self.ops.get_mut(next) {
            n.prev = user_data;
        }
    }

    /// Takes the stored op `user_data` out of `fd`'s `side` lane.
    fn unlink(&mut self, fd: RawFd, side: Side, user_data: u64) {
        let Some(op) = self.ops.get_mut(user_data) else {
            return;
        };
        let (prev, next) = (op.prev, op.next);
        (op.prev, op.next) = (NO_OP, NO_OP);
        match self.ops.get_mut(prev) {
            Some(p) => p.next = next,
            None => {
                if let Some(entry) = self.fds.get_mut(fd) {
                    entry.lanes[side as usize].head = next;
                }
            }
        }
        match self.ops.get_mut(next) {
            Some(n) => n.prev = prev,
            None => {
                if let Some(entry) = self.fds.get_mut(fd) {
                    entry.lanes[side as usize].tail = prev;
                }
            }
        }
    }

    /// The ops of `fd`'s `side` lane, head first.
    fn lane_ops(&self, fd: RawFd, side: Side) -> Vec<u64> {
        let mut out = Vec::new();
        let mut at = self
            .fds
            .get(fd)
            .map_or(NO_OP, |e| e.lanes[side as usize].head);
        while let Some(op) = self.ops.get(at) {
            out.push(at);
            at = op.next;
        }
        out
    }

    /// Cancels a pending op: at once if queued, after its syscall if running.
    fn cancel(&mut self, user_data: u64) {
        let Some(op) = self.ops.get_mut(user_data) else {
            return; // unknown or already completed
        };
        match op.phase {
            Phase::Queued => {
                // No need to drive the lane: the next op waits for the same
                // readiness the cancelled head was waiting for.
                match op.place {
                    Place::Lane(side) => {
                        let fd = op.raw.fd;
                        self.unlink(fd, side, user_data);
                    }
                    Place::FileQueue => self.file_queue.retain(|&u| u != user_data),
                }
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
        let user_data = lane.head;
        let Some(op) = self.ops.get_mut(user_data) else {
            // Empty (or, which cannot happen, a head that is not stored).
            (lane.head, lane.tail, lane.busy) = (NO_OP, NO_OP, false);
            return None;
        };
        op.phase = Phase::Running;
        Some(Head {
            user_data,
            stored: true,
            tick: lane.tick,
            pollable: entry.pollable,
            stream: entry.stream,
            raw: op.raw,
            total: op.total,
            progress: op.progress,
        })
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
                .retain(|Reverse((_, seq, ud))| ops.get(*ud).is_some_and(|o| o.seq == *seq));
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
        self.ops.get(user_data).is_some_and(|op| op.seq == seq)
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
    /// empty or its head would block: first `first` (an op being submitted,
    /// not stored), then the stored ops head first. Syscalls run with the
    /// lock released.
    fn drive<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        fd: RawFd,
        side: Side,
        mut first: Option<Head>,
    ) -> MutexGuard<'a, State> {
        loop {
            let mut head = match first.take() {
                Some(head) => head,
                None => match st.start_head(fd, side) {
                    Some(head) => head,
                    None => return st,
                },
            };
            let wake = mem::take(&mut st.wake_due);
            let step = MutexGuard::unlocked(&mut st, || {
                if wake {
                    self.ring();
                }
                // SAFETY: the op is pending and, if stored, Running: its
                // memory is valid (submit contract) and nobody completes it
                // meanwhile (an op not stored yet is known to nobody else).
                unsafe { sys::attempt(&head.raw, head.stream, head.total, &mut head.progress) }
            });
            let mut cancelled = false;
            if head.stored {
                let Some(op) = st.ops.get_mut(head.user_data) else {
                    continue; // cannot happen: only we complete a Running op
                };
                cancelled = op.phase == Phase::CancelWhenDone;
                op.phase = Phase::Queued;
                op.progress = head.progress;
            }
            let res = match step {
                Step::Done(res) => Some(res),
                Step::Progress | Step::Blocked if cancelled => Some(-libc::ECANCELED),
                // Nothing will ever signal readiness: don't wait for it.
                Step::Blocked if !head.pollable => Some(-libc::EAGAIN),
                Step::Progress | Step::Blocked => None,
            };
            let Some(res) = res else {
                // The op stays in its lane, as its head.
                if !head.stored && !st.store_first(fd, side, &head) {
                    // Its user_data was submitted again meanwhile (an op layer
                    // bug): refuse this one.
                    st.complete(head.user_data, -libc::EEXIST);
                    continue;
                }
                if step == Step::Progress {
                    continue;
                }
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
            };
            if head.stored {
                st.unlink(fd, side, head.user_data);
                st.finish(head.user_data, res);
            } else {
                st.complete(head.user_data, res);
            }
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
            for (side, mask) in [(Side::Read, READ_EVENTS), (Side::Write, WRITE_EVENTS)] {
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
                if !lane.busy && lane.head != NO_OP {
                    lane.busy = true;
                    st = self.drive(st, fd, side, None);
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
            let Some(op) = st.ops.get_mut(user_data) else {
                continue;
            };
            op.phase = Phase::Running;
            let mut raw = op.raw;
            // The backend's own duplicate of the fd: it stays open while we
            // use it, even if the backend is dropped meanwhile and the op
            // layer closes its fd (see `FdEntry::file` and `deregister`).
            let op_fd = raw.fd;
            if let Some(file) = st.fds.get(op_fd).and_then(|e| e.file.as_ref()) {
                raw.fd = file.as_raw_fd();
            }
            st.files_in_use.push(op_fd);
            let step = MutexGuard::unlocked(&mut st, || {
                // SAFETY: the op is pending and Running: its memory is valid
                // (submit contract) and nobody completes it meanwhile.
                unsafe { sys::attempt(&raw, false, 0, &mut 0) }
            });
            if let Some(i) = st.files_in_use.iter().position(|&f| f == op_fd) {
                st.files_in_use.swap_remove(i);
            }
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
        st.live_workers -= 1;
        drop(st);
        self.worker_exited.notify_all();
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
        // The entry goes in before the fd enters the interest list: adding it
        // reports what is pending already (data, end of stream) as an edge,
        // which the poller may dispatch at once; with no entry yet that edge
        // would be dropped, and a short read later would take the fd for
        // drained and wait for good for an end of stream already reported.
        let entry = FdEntry {
            lanes: Default::default(),
            file: None,
            pollable: true,
            stream: kind.stream,
            short_read_drains: kind.tcp,
        };
        self.shared.lock().fds.insert(fd, entry);
        let epfd = self.shared.epfd.as_raw_fd();
        let added = sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, INTEREST, fd as u64);
        #[cfg(all(test, not(loom)))]
        tests::after_interest_added(self);
        match added {
            Ok(()) => Ok(()),
            // A regular file: its ops run on the file workers, with their
            // own duplicate of the fd.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let dup = sys::dup(fd);
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
            for user_data in st.lane_ops(fd, side) {
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
            let epfd = self.shared.epfd.as_raw_fd();
            let _ = sys::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, 0, 0);
        }
    }

    unsafe fn submit(&self, op: &RawOp) -> io::Result<()> {
        // SAFETY: forwarded from this function's contract.
        let total = unsafe { op_len(op) }?;
        let is_file = matches!(op.code, OpCode::Read | OpCode::Write);
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
            st.store(*op, Place::FileQueue, total, 0);
            st.file_queue.push_back(op.user_data);
            shared.unlock(st);
            shared.file_work.notify_one();
            return Ok(());
        }
        let side = Side::of(op.code);
        let (pollable, stream) = (entry.pollable, entry.stream);
        let lane = &mut entry.lanes[side as usize];
        // Attempt at once only on an idle, empty lane that is ready: ops
        // already queued wait for readiness, a busy lane's driver will reach
        // this op in order, and on a drained fd the attempt would fail (the
        // next edge drives the lane). A connect's first step starts the
        // connection: it never waits.
        if !lane.busy && lane.head == NO_OP && (lane.ready || op.code == OpCode::Connect) {
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
            st.store(*op, Place::Lane(side), total, 0);
            st.link(op.fd, side, op.user_data, false);
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
