//! Operations (SPEC §4–5): handles, owned buffers and per-operation values, the
//! in-flight table, and the translation of backend completions into packets.
//!
//! Every started operation owns a boxed [`Slot`] that holds everything the
//! kernel may touch (the buffers, iovecs, msghdr, socket address, timespec).
//! A slot is freed — its buffers handed back in the packet — only when the
//! backend returned the operation's one completion. Slots are recycled, so in
//! steady state an operation allocates nothing beyond what the caller passes.

pub(crate) mod buf;
#[cfg(all(test, not(loom)))]
mod tests;

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use slab::Slab;

use self::buf::IoBuf;
use crate::backend::user_data::{self, MAX_IN_FLIGHT, TIMER_EVENT};
use crate::backend::{Backend, Completion, OpCode, RawOp, Timespec};
use crate::packet::Packet;
use crate::port_core::Reactor;

/// A handle associated with a port (a socket or file the port owns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    index: u32,
    generation: u32,
}

/// Identifies one started operation (for [`Port::cancel_op`](crate::Port::cancel_op)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(u64);

/// How a start call ended when it did not fail.
#[derive(Debug)]
pub enum Issued<V, B> {
    /// The operation is in flight; its packet will come through the port.
    Pending(OpId),
    /// It completed at once on a handle in skip-on-success mode: no packet
    /// will come; the result, value and buffer are here.
    Completed {
        /// Bytes transferred.
        bytes: usize,
        /// The per-operation value, back.
        value: V,
        /// The buffer, back.
        buf: Option<B>,
    },
}

/// An operation that could not be started: nothing was queued, and the
/// value and buffers come back here.
pub struct IssueError<V, B> {
    /// Why (EBADF: invalid or closed handle; ECONNRESET: the peer reset the
    /// connection earlier; EINVAL: bad input; the backend's error otherwise).
    pub error: io::Error,
    /// The per-operation value, back.
    pub value: V,
    /// The buffer, back.
    pub buf: Option<B>,
    /// The buffers of a vectored operation, back.
    pub bufs: Vec<B>,
}

impl<V, B> std::fmt::Debug for IssueError<V, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssueError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<V, B> std::fmt::Display for IssueError<V, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "operation not started: {}", self.error)
    }
}

impl<V, B> std::error::Error for IssueError<V, B> {}

/// How an operation is issued: its timeout, and whether the backend may
/// batch its submission (the issuing thread is an active worker of the port
/// and will flush when it returns to `get`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct How {
    pub timeout: Option<Duration>,
    pub defer: bool,
}

/// Whether `e` is the error of an operation that was cancelled, or whose
/// handle was closed, before it finished ("aborted", ERROR_OPERATION_ABORTED).
pub fn is_aborted(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECANCELED)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Accept,
    Connect,
    Recv,
    Send,
    RecvFrom,
    SendTo,
    RecvVectored,
    SendVectored,
    ReadAt,
    WriteAt,
}

/// Which way an operation moves data (the skip-on-success order rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    In,
    Out,
    Neither,
}

impl Kind {
    fn direction(self) -> Direction {
        match self {
            Kind::Recv | Kind::RecvFrom | Kind::RecvVectored => Direction::In,
            Kind::Send | Kind::SendTo | Kind::SendVectored => Direction::Out,
            _ => Direction::Neither,
        }
    }

    /// The lane of a socket a stream of such operations runs in, one at a time
    /// and in issue order (see [`Lane`]): receives, sends, or none.
    fn lane(self) -> Option<usize> {
        match self.direction() {
            Direction::In => Some(0),
            Direction::Out => Some(1),
            Direction::Neither => None,
        }
    }

    /// Operations that transfer all their bytes or fail (WSASend, WriteFile).
    /// A datagram send goes out whole or not at all, so `SendTo` is not one.
    fn is_whole_transfer(self) -> bool {
        matches!(self, Kind::Send | Kind::SendVectored | Kind::WriteAt)
    }
}

/// Why an operation was asked to stop early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    None,
    Cancel,
    Close,
}

/// Where a started operation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Submitted to the backend; its completion will come from there.
    Kernel,
    /// Queued in its lane behind an earlier operation of the same direction.
    Waiting,
    /// Was waiting, and was stopped or ran out of time: its completion
    /// ("aborted" or "timed out") was made up by the op layer and is on its
    /// way; it leaves its lane when that is handled (or `next_in_lane` skips it).
    Parked,
}

/// Receives (or sends) of one socket: Windows completes them in the order
/// they were issued, the first pending receive taking the first bytes, and
/// sends keep the stream in order (IOCP-REFERENCE §11.3). io_uring would run
/// them at once and wake them in any order, so one operation of each
/// direction is in the kernel at a time and the others wait here, in order.
#[derive(Default)]
struct Lane {
    /// An operation of this lane is in the kernel.
    busy: bool,
    /// The ones issued after it (their user_data), oldest first.
    waiting: VecDeque<u64>,
}

impl Lane {
    fn idle(&self) -> bool {
        !self.busy && self.waiting.is_empty()
    }
}

/// Everything an in-flight operation owns; boxed so its address is stable.
struct Slot<V, B> {
    user_data: u64,
    place: Place,
    handle: usize,
    kind: Kind,
    stop: Stop,
    value: Option<V>,
    buf: Option<B>,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    /// msghdr, socket address, timespec: see [`KernelArea`].
    kernel: KernelBox,
    timeout: Option<Duration>,
    /// When the per-operation timeout runs out.
    deadline: Option<Instant>,
    offset: u64,
    /// Bytes of a whole transfer (see `Kind::is_whole_transfer`) done by
    /// earlier parts: an inline attempt or a submission that ended short.
    /// The next part starts after them.
    done: usize,
}

impl<V, B> Slot<V, B> {
    /// The kernel area, to fill in before a submission or read after a
    /// completion.
    ///
    /// # Safety
    /// No submission of this slot may be in flight (started and its
    /// completion not yet returned by the backend).
    unsafe fn area(&mut self) -> &mut KernelArea {
        // SAFETY: the pointer is valid (owned by `kernel`), and with nothing
        // in flight nobody else (the kernel) uses the area (caller's contract).
        unsafe { &mut *self.kernel.0.as_ptr() }
    }
}

impl<V, B: IoBuf> Slot<V, B> {
    /// Bytes the operation's buffers hold.
    fn wanted(&self) -> usize {
        self.buf
            .iter()
            .chain(&self.bufs)
            .map(|b| b.stable_len())
            .sum()
    }
}

// SAFETY: the raw pointers inside (iovecs, msghdr, the kernel area) point
// into memory the slot owns, which moves with it; V and B are Send.
unsafe impl<V: Send, B: Send> Send for Slot<V, B> {}

/// The parts of an operation the kernel writes while it is in flight (accept's
/// and recvmsg's peer address and its length, recvmsg's msghdr fields) or
/// reads at submission (the timespec of a linked timeout, also when the
/// submission is deferred). They live in an allocation of their own, reached
/// from the slot only through a raw pointer, so that the `&mut Slot` the op
/// layer takes while the op is in flight (to mark it stopped, to check it)
/// never covers memory the kernel may be writing.
struct KernelArea {
    msg: libc::msghdr,
    addr: libc::sockaddr_storage,
    addrlen: libc::socklen_t,
    timespec: Timespec,
}

/// Owns a [`KernelArea`]; frees it when the slot is dropped, which happens
/// only once no operation is in flight in it (slots of ops that never
/// completed are leaked, not dropped: see `Io::drop`).
struct KernelBox(std::ptr::NonNull<KernelArea>);

impl KernelBox {
    fn new() -> Self {
        let area = Box::new(KernelArea {
            // SAFETY: msghdr and sockaddr_storage are plain C structs for
            // which all-zero bytes are a valid (empty) value.
            msg: unsafe { mem::zeroed() },
            // SAFETY: as above.
            addr: unsafe { mem::zeroed() },
            addrlen: 0,
            timespec: Timespec::default(),
        });
        KernelBox(std::ptr::NonNull::from(Box::leak(area)))
    }
}

impl Drop for KernelBox {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `new` and is freed only
        // here; the kernel is done with the area (see the type's docs).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

impl<V, B> Slot<V, B> {
    fn empty() -> Self {
        Slot {
            user_data: 0,
            place: Place::Kernel,
            handle: 0,
            kind: Kind::Recv,
            stop: Stop::None,
            value: None,
            buf: None,
            bufs: Vec::new(),
            iovecs: Vec::new(),
            kernel: KernelBox::new(),
            timeout: None,
            deadline: None,
            offset: 0,
            done: 0,
        }
    }
}

struct HandleEntry<K> {
    fd: OwnedFd,
    who: Identity,
    key: K,
    generation: u32,
    pending: usize,
    /// Receives (recv, recv_from, vectored) and sends: see [`Lane`]. (An
    /// inline attempt in skip-on-success mode must not overtake them either.)
    lanes: [Lane; 2],
    closing: bool,
    skip_on_success: bool,
    /// The peer reset the connection: later operations fail at once.
    reset: bool,
}

struct Tables<K, V, B> {
    handles: Slab<HandleEntry<K>>,
    ops: Slab<Box<Slot<V, B>>>,
    spare: Vec<Box<Slot<V, B>>>,
    generation: u32,
    /// Numbers the started operations (see `backend::user_data`).
    next_seq: u64,
    /// Deadlines of operations waiting in a lane (the kernel times only those
    /// it has): earliest first; entries of ops that left are skipped.
    waiting_deadlines: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, u64)>>,
}

/// The slot index in an operation's `user_data` (layout: `backend::user_data`).
fn op_index(user_data: u64) -> usize {
    user_data::index(user_data)
}

/// Who an associated fd is, for the one-port-per-handle rule: a socket by
/// its inode (a `dup` or `try_clone` of an associated socket is the same
/// socket, as a duplicated handle is the same file object on Windows); any
/// other fd by its number (two opens of one file are two handles).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Identity {
    Socket { dev: u64, ino: u64 },
    Fd(RawFd),
}

fn identity(fd: RawFd) -> Identity {
    // SAFETY: fstat writes into the zeroed local `st` and nothing else.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: `st` is valid for writes of a `struct stat`.
    if unsafe { libc::fstat(fd, &mut st) } == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK {
        Identity::Socket {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    } else {
        Identity::Fd(fd)
    }
}

/// Handles associated with any port in this process: one handle, one port.
static ASSOCIATED: std::sync::LazyLock<Mutex<std::collections::HashSet<Identity>>> =
    std::sync::LazyLock::new(Default::default);

fn forget_association(who: Identity) {
    ASSOCIATED.lock().remove(&who);
}

/// Runs on every completed operation's packet before it is queued (see
/// [`Port::set_completion_filter`](crate::Port::set_completion_filter)).
pub type CompletionFilter<K, V, B> = Box<dyn Fn(&mut Packet<K, V, B>) -> bool + Send + Sync>;

/// The op layer of one port.
pub(crate) struct Io<K, V, B> {
    backend: Box<dyn Backend>,
    tables: Mutex<Tables<K, V, B>>,
    in_flight: AtomicUsize,
    filter: std::sync::OnceLock<CompletionFilter<K, V, B>>,
    /// Set by shutdown (under the tables lock): new operations are refused.
    refusing: std::sync::atomic::AtomicBool,
    /// Counts the calls that stop operations (`stop`, `cancel_all`), changed
    /// under the tables lock (see `start`).
    stops: AtomicU64,
    /// Completions left by a reaper that panicked (see `reap`).
    leftovers: Mutex<Vec<Completion>>,
    has_leftovers: std::sync::atomic::AtomicBool,
    /// `tables.waiting_deadlines.len()`, readable without the lock: a poll
    /// with no lane-waiting deadline skips the lock and the clock.
    waiting_deadlines: AtomicUsize,
}

pub(crate) fn shutting_down() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the completion port is shut down",
    )
}

fn ebadf(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what} (EBADF)"))
}

impl<K, V, B> Io<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    pub(crate) fn new(backend: Box<dyn Backend>) -> Self {
        Io {
            backend,
            tables: Mutex::new(Tables {
                handles: Slab::new(),
                ops: Slab::new(),
                spare: Vec::new(),
                generation: 0,
                next_seq: 0,
                waiting_deadlines: Default::default(),
            }),
            in_flight: AtomicUsize::new(0),
            filter: std::sync::OnceLock::new(),
            refusing: std::sync::atomic::AtomicBool::new(false),
            stops: AtomicU64::new(0),
            leftovers: Mutex::new(Vec::new()),
            has_leftovers: std::sync::atomic::AtomicBool::new(false),
            waiting_deadlines: AtomicUsize::new(0),
        }
    }

    pub(crate) fn set_filter(&self, filter: CompletionFilter<K, V, B>) -> io::Result<()> {
        self.filter.set(filter).map_err(|_| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a completion filter is set already",
            )
        })
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    pub(crate) fn associate(&self, fd: OwnedFd, key: K) -> io::Result<Handle> {
        let raw = fd.as_raw_fd();
        let who = identity(raw);
        if !ASSOCIATED.lock().insert(who) {
            // `fd` is dropped (closed) here: the caller gave it to us, and it
            // is a descriptor of its own (a dup), so the handle that is
            // associated stays open and keeps working.
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the handle is already associated with a completion port",
            ));
        }
        if let Err(e) = self.backend.register(raw) {
            forget_association(who);
            return Err(e);
        }
        let mut t = self.tables.lock();
        if self.refusing.load(Ordering::Relaxed) {
            drop(t);
            self.backend.deregister(raw);
            forget_association(who);
            return Err(shutting_down());
        }
        t.generation = t.generation.wrapping_add(1);
        let generation = t.generation;
        let index = t.handles.insert(HandleEntry {
            fd,
            who,
            key,
            generation,
            pending: 0,
            lanes: Default::default(),
            closing: false,
            skip_on_success: false,
            reset: false,
        });
        Ok(Handle {
            index: index as u32,
            generation,
        })
    }

    fn entry(t: &mut Tables<K, V, B>, h: Handle) -> io::Result<&mut HandleEntry<K>> {
        match t.handles.get_mut(h.index as usize) {
            Some(e) if e.generation == h.generation && !e.closing => Ok(e),
            _ => Err(ebadf("invalid or closed handle")),
        }
    }

    pub(crate) fn set_skip_on_success(&self, h: Handle, on: bool) -> io::Result<()> {
        Self::entry(&mut self.tables.lock(), h).map(|e| e.skip_on_success = on)
    }

    /// Starts an operation. `fill` writes the kind-specific parts of the slot
    /// (addresses, iovecs) before its pointers are taken.
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        h: Handle,
        kind: Kind,
        value: V,
        buf: Option<B>,
        bufs: Vec<B>,
        offset: u64,
        how: How,
        fill: impl FnOnce(&mut Slot<V, B>) -> io::Result<()>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let fail = |error, value, buf, bufs| {
            Err(IssueError {
                error,
                value,
                buf,
                bufs,
            })
        };
        let mut t = self.tables.lock();
        // Checked under the tables lock that `cancel_all` holds while it sets
        // the flag: an op is either refused here or seen (and cancelled) there.
        if self.refusing.load(Ordering::Relaxed) {
            drop(t);
            return fail(shutting_down(), value, buf, bufs);
        }
        let index = h.index as usize;
        let (fd, inline) = match Self::entry(&mut t, h) {
            Ok(e) if e.reset && kind != Kind::Connect => {
                drop(t);
                return fail(
                    io::Error::from_raw_os_error(libc::ECONNRESET),
                    value,
                    buf,
                    bufs,
                );
            }
            // Skip-on-success mode tries the operation at once, unless an
            // older one of the same direction is still pending (it must get
            // the data, or send its bytes, first).
            Ok(e) => (
                e.fd.as_raw_fd(),
                e.skip_on_success && kind.lane().is_some_and(|i| e.lanes[i].idle()),
            ),
            Err(e) => {
                drop(t);
                return fail(e, value, buf, bufs);
            }
        };
        let mut slot = t.spare.pop().unwrap_or_else(|| Box::new(Slot::empty()));
        slot.handle = index;
        slot.kind = kind;
        slot.stop = Stop::None;
        slot.value = Some(value);
        slot.buf = buf;
        slot.bufs = bufs;
        slot.timeout = how.timeout;
        slot.deadline = how.timeout.and_then(|t| Instant::now().checked_add(t));
        slot.offset = offset;
        slot.done = 0;
        slot.iovecs.clear();
        if let Err(e) = fill(&mut slot) {
            let (value, buf, bufs) = recycle(&mut t, slot);
            drop(t);
            return fail(e, value, buf, bufs);
        }
        // The lane this op runs in: taken for it from here on (an inline
        // attempt runs with the lock released, and nothing of its direction
        // may overtake it meanwhile).
        let lane = kind.lane();
        if inline {
            // `inline` implies a lane, idle: take it, and count the op as
            // pending so the handle (its fd) stays open during the attempt.
            if let Some(i) = lane {
                t.handles[index].lanes[i].busy = true;
            }
            t.handles[index].pending += 1;
            drop(t);
            let bytes = try_inline(fd, &mut slot);
            t = self.tables.lock();
            let e = &mut t.handles[index];
            let stopped = e.closing || self.refusing.load(Ordering::Relaxed);
            if bytes.is_some() || stopped {
                // Done (or closed or shut down meanwhile, before it was
                // started: refused, as if it came after): give the lane and
                // the handle back.
                e.pending -= 1;
                let mut after = Deferred::default();
                if let Some(i) = lane {
                    after.next = self.next_in_lane(&mut t, index, i);
                }
                let (value, buf, bufs) = recycle(&mut t, slot);
                after.closed = self.close_if_done(&mut t, index).map(|(c, _key)| c);
                after.stops = self.stops.load(Ordering::Relaxed);
                drop(t);
                self.run(after);
                return match bytes {
                    Some(bytes) => {
                        debug_assert!(bufs.is_empty());
                        Ok(Issued::Completed { bytes, value, buf })
                    }
                    None if self.refusing.load(Ordering::Relaxed) => {
                        fail(shutting_down(), value, buf, bufs)
                    }
                    None => fail(ebadf("invalid or closed handle"), value, buf, bufs),
                };
            }
            // Not finished: it goes on below as a normal operation, with its
            // lane taken and counted pending already.
            e.pending -= 1;
        } else if let Some(i) = lane {
            if t.handles[index].lanes[i].busy {
                return self.queue_in_lane(t, index, i, slot);
            }
            t.handles[index].lanes[i].busy = true;
        }
        if t.ops.len() >= MAX_IN_FLIGHT {
            let mut after = Deferred::default();
            if let Some(i) = lane {
                after.next = self.next_in_lane(&mut t, index, i);
            }
            let (value, buf, bufs) = recycle(&mut t, slot);
            after.stops = self.stops.load(Ordering::Relaxed);
            drop(t);
            self.run(after);
            let e = io::Error::new(
                io::ErrorKind::OutOfMemory,
                "too many operations in flight on this port",
            );
            return fail(e, value, buf, bufs);
        }
        let user_data = Self::new_user_data(&mut t);
        slot.user_data = user_data;
        t.handles[index].pending += 1;
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        slot.place = Place::Kernel;
        let mut raw = raw_op(&mut slot, fd);
        raw.defer = how.defer;
        let k = t.ops.insert(slot);
        debug_assert_eq!(op_index(user_data), k);
        let stops = self.stops.load(Ordering::Relaxed);
        drop(t);
        // SAFETY: `raw` points into the boxed slot now owned by `ops`; the slot
        // is removed (and its memory released) only in `finish`, after the
        // backend returned this op's completion, or leaked if that never happens.
        match unsafe { self.launch(&raw, stops) } {
            Ok(()) => Ok(Issued::Pending(OpId(user_data))),
            Err(error) => {
                // Not started (the backend's contract): no completion will
                // come, and nothing of the slot is in the kernel's hands.
                let mut t = self.tables.lock();
                let slot = t.ops.remove(op_index(user_data));
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                t.handles[index].pending -= 1;
                let mut after = Deferred::default();
                if let Some(i) = lane {
                    // Others may have queued behind it meanwhile.
                    after.next = self.next_in_lane(&mut t, index, i);
                }
                let (value, buf, bufs) = recycle(&mut t, slot);
                after.closed = self.close_if_done(&mut t, index).map(|(c, _key)| c);
                after.stops = self.stops.load(Ordering::Relaxed);
                drop(t);
                self.run(after);
                fail(error, value, buf, bufs)
            }
        }
    }

    /// A fresh user_data for an op about to enter `ops` (see `backend::user_data`).
    fn new_user_data(t: &mut Tables<K, V, B>) -> u64 {
        t.next_seq = t.next_seq.wrapping_add(1);
        let key = t.ops.vacant_key();
        user_data::make(t.next_seq, key)
    }

    /// Queues `slot` in lane `lane` of handle `index`, behind an earlier op of
    /// its direction: it starts when that one has completed (`next_in_lane`).
    fn queue_in_lane(
        &self,
        mut t: parking_lot::MutexGuard<'_, Tables<K, V, B>>,
        index: usize,
        lane: usize,
        mut slot: Box<Slot<V, B>>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        if t.ops.len() >= MAX_IN_FLIGHT {
            let (value, buf, bufs) = recycle(&mut t, slot);
            drop(t);
            return Err(IssueError {
                error: io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    "too many operations in flight on this port",
                ),
                value,
                buf,
                bufs,
            });
        }
        let user_data = Self::new_user_data(&mut t);
        slot.user_data = user_data;
        t.handles[index].pending += 1;
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        t.handles[index].lanes[lane].waiting.push_back(user_data);
        slot.place = Place::Waiting;
        let mut earliest = false;
        if let Some(d) = slot.deadline {
            t.waiting_deadlines.push(std::cmp::Reverse((d, user_data)));
            self.waiting_deadlines
                .store(t.waiting_deadlines.len(), Ordering::Release);
            earliest = t
                .waiting_deadlines
                .peek()
                .is_some_and(|r| r.0 .1 == user_data);
        }
        let k = t.ops.insert(slot);
        debug_assert_eq!(op_index(user_data), k);
        drop(t);
        if earliest {
            // A poller may be in the kernel with a later (or no) timeout:
            // wake it so that it waits no longer than this op's deadline
            // (`reap` bounds the poll by it).
            self.backend.wake();
        }
        Ok(Issued::Pending(OpId(user_data)))
    }

    /// Submits `raw` to the backend (the tables lock is not held). A stop
    /// (cancel or close) that ran between the decision to start it, taken
    /// under the lock when `Io::stops` was `stops`, and this submission could
    /// not cancel it yet (the backend did not know it): it is cancelled now.
    ///
    /// # Safety
    /// As [`Backend::submit`]: `raw` points into a slot in `ops` that stays
    /// there until this op's completion.
    unsafe fn launch(&self, raw: &RawOp, stops: u64) -> io::Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.backend.submit(raw) }?;
        // `stops` changes under the tables lock whenever ops are stopped, so
        // an unchanged count means none was. (Such a stop's cancel reached the
        // backend before our submit did, through the backend's own lock, so
        // its increment is visible here.)
        if self.stops.load(Ordering::Acquire) != stops {
            let user_data = raw.user_data;
            let stop = self
                .tables
                .lock()
                .ops
                .get(op_index(user_data))
                .filter(|s| s.user_data == user_data)
                .map(|s| s.stop);
            if matches!(stop, Some(Stop::Close | Stop::Cancel)) {
                self.backend.cancel(user_data);
            }
        }
        Ok(())
    }

    /// Carries out what a critical section decided (see [`Deferred`]).
    fn run(&self, after: Deferred<'_>) {
        let Deferred {
            next,
            cancel,
            closed,
            stops,
        } = after;
        if let Some(user_data) = cancel {
            self.backend.cancel(user_data);
        }
        match next {
            Some(Next::Submit(raw)) => {
                // SAFETY: `raw` was built by `next_in_lane` or `restart` from
                // a slot that is in `ops` as in the kernel; it stays there
                // until this op's completion, which comes only once submitted
                // (or made up below if the backend refuses it).
                if let Err(e) = unsafe { self.launch(&raw, stops) } {
                    // Not started: the op ends with the error, through the
                    // port like any completion (`complete` takes it as the
                    // op's result; it must not look like a kernel cancel).
                    let res = match e.raw_os_error() {
                        Some(errno) if errno != libc::ECANCELED => -errno,
                        _ => -libc::EIO,
                    };
                    self.complete_later(&[Completion {
                        user_data: raw.user_data,
                        res,
                    }]);
                }
            }
            Some(Next::MadeUp(c)) => self.complete_later(&[c]),
            None => {}
        }
        drop(closed);
    }

    /// The operation of lane `lane` of handle `index` that was in the kernel
    /// is over: picks the next one waiting (skipping those stopped meanwhile,
    /// whose made-up completions are on their way) and marks it in the kernel;
    /// the caller submits it after unlocking ([`Io::run`]). One whose timeout
    /// ran out while it waited gets a made-up "timed out" completion instead,
    /// whose `finish` moves the lane on again.
    fn next_in_lane(&self, t: &mut Tables<K, V, B>, index: usize, lane: usize) -> Option<Next> {
        let fd = t.handles[index].fd.as_raw_fd();
        t.handles[index].lanes[lane].busy = false;
        while let Some(user_data) = t.handles[index].lanes[lane].waiting.pop_front() {
            let slot = &mut t.ops[op_index(user_data)];
            debug_assert_eq!(slot.user_data, user_data);
            if slot.place != Place::Waiting {
                continue; // Parked: its made-up completion is on its way
            }
            slot.place = Place::Kernel;
            t.handles[index].lanes[lane].busy = true;
            let slot = &mut t.ops[op_index(user_data)];
            let now = Instant::now();
            return Some(match slot.deadline {
                Some(d) if d <= now => Next::MadeUp(Completion {
                    user_data,
                    res: -libc::ETIMEDOUT,
                }),
                _ => {
                    let mut raw = raw_op(slot, fd);
                    raw.timeout = slot.deadline.map(|d| d.saturating_duration_since(now));
                    Next::Submit(raw)
                }
            });
        }
        None
    }

    /// Makes up "timed out" completions for operations whose timeout ran out
    /// while they waited in a lane (into `out`), and returns how long until
    /// the next one runs out.
    fn expire_waiting(&self, out: &mut Vec<Completion>) -> Option<Duration> {
        if self.waiting_deadlines.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut t = self.tables.lock();
        let now = Instant::now();
        while let Some(&std::cmp::Reverse((deadline, user_data))) = t.waiting_deadlines.peek() {
            let waiting = t
                .ops
                .get_mut(op_index(user_data))
                .filter(|s| s.user_data == user_data && s.place == Place::Waiting);
            match waiting {
                // Left its lane, or started: the kernel times it now.
                None => {}
                Some(_) if deadline > now => return Some(deadline - now),
                Some(slot) => {
                    slot.place = Place::Parked;
                    out.push(Completion {
                        user_data,
                        res: -libc::ETIMEDOUT,
                    });
                }
            }
            t.waiting_deadlines.pop();
            self.waiting_deadlines
                .store(t.waiting_deadlines.len(), Ordering::Release);
        }
        None
    }

    /// Queues completions the op layer made up (for operations that are not
    /// in the kernel) for the next reaper, and wakes the poller.
    fn complete_later(&self, made_up: &[Completion]) {
        if made_up.is_empty() {
            return;
        }
        self.leftovers.lock().extend_from_slice(made_up);
        self.has_leftovers.store(true, Ordering::Release);
        self.backend.wake();
    }

    /// Turns a backend completion into the op's packet, releasing its slot
    /// (`None`: not the op's end — a timer event, or the op was started again).
    /// The packet counts as in flight until the returned guard is dropped.
    fn complete(&self, c: Completion) -> Option<(Packet<K, V, B>, Delivered<'_>)> {
        let mut t = self.tables.lock();
        let user_data = c.user_data & !TIMER_EVENT;
        let index = op_index(user_data);
        let slot = match t.ops.get_mut(index) {
            Some(slot) if slot.user_data == user_data => slot,
            // An op that finished already (a late timer event), or none.
            _ => return None,
        };
        if c.user_data & TIMER_EVENT != 0 {
            let cancel =
                (slot.place == Place::Kernel && timer_fired(slot, c.res)).then_some(slot.user_data);
            drop(t);
            self.run(Deferred {
                cancel,
                ..Deferred::default()
            });
            return None;
        }
        if slot.place != Place::Kernel {
            // A made-up completion of an op that never reached the kernel
            // (Parked); it may still be listed in its lane.
            let (handle, lane) = (slot.handle, slot.kind.lane());
            if let Some(i) = lane {
                t.handles[handle].lanes[i]
                    .waiting
                    .retain(|&u| u != user_data);
            }
            return self.finish(t, index, c.res);
        }
        // The clock is read only for ops that have a timeout.
        let now = slot.deadline.map(|_| Instant::now());
        let timed_out = matches!((slot.deadline, now), (Some(d), Some(now)) if d <= now);
        let restart = match c.res {
            // Cancelled by nobody and before its own timeout: the kernel ended
            // it (io_uring cancels a thread's requests when the thread exits).
            // On a port thread exit cancels nothing: start it again.
            r if r == -libc::ECANCELED && slot.stop == Stop::None && !timed_out => true,
            // A stream send or file write that ended short: sends transfer
            // everything or fail. io_uring reports the bytes sent so far when
            // a MSG_WAITALL send is interrupted (thread exit, signal) and hides
            // an error that came after some bytes; go on with the rest, which
            // also brings that error back.
            r if r > 0
                && slot.kind.is_whole_transfer()
                && slot.done + (r as usize) < slot.wanted() =>
            {
                slot.done += r as usize;
                match slot.stop {
                    Stop::Cancel | Stop::Close => {
                        return self.finish(t, index, -libc::ECANCELED);
                    }
                    Stop::None if timed_out => return self.finish(t, index, -libc::ETIMEDOUT),
                    Stop::None => true,
                }
            }
            _ => false,
        };
        if !restart {
            return self.finish(t, index, c.res);
        }
        let raw = restart_op(&mut t, index, now);
        let stops = self.stops.load(Ordering::Relaxed);
        drop(t);
        self.run(Deferred {
            next: Some(Next::Submit(raw)),
            stops,
            ..Deferred::default()
        });
        None
    }

    /// Releases the op's slot and builds its packet from `res` (for whole
    /// transfers: the bytes of the last part; the earlier parts are `done`).
    ///
    /// From the moment the slot leaves `ops`, the op stops counting as in
    /// flight however this ends: the guard returned with the packet is
    /// created first, and a panic of user code here (`K::clone`; a value's
    /// drop when the packet is lost to that panic) leaves every table
    /// consistent, the lane moved on, a closed handle's fd closed and an
    /// accepted socket closed.
    fn finish(
        &self,
        mut guard: parking_lot::MutexGuard<'_, Tables<K, V, B>>,
        index: usize,
        res: i32,
    ) -> Option<(Packet<K, V, B>, Delivered<'_>)> {
        let t = &mut *guard;
        let mut slot = t.ops.remove(index);
        let delivered = Delivered(&self.in_flight);
        let handle = slot.handle;
        t.handles[handle].pending -= 1;
        let mut after = Deferred::default();
        if let (Some(i), Place::Kernel) = (slot.kind.lane(), slot.place) {
            after.next = self.next_in_lane(t, handle, i);
        }
        after.stops = self.stops.load(Ordering::Relaxed);
        let mut result = result_of(res, &slot).map(|n| n + slot.done);
        if slot.stop != Stop::None && slot.kind.is_whole_transfer() {
            // A send cut short by cancel or close is aborted, not a success:
            // sends transfer everything or fail (io_uring reports the partial count).
            if matches!(result, Ok(n) if n < slot.wanted()) {
                result = Err(io::Error::from_raw_os_error(libc::ECANCELED));
            }
        }
        if matches!(&result, Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNRESET | libc::EPIPE)))
            && matches!(
                slot.kind,
                Kind::Recv | Kind::Send | Kind::RecvVectored | Kind::SendVectored
            )
        {
            t.handles[handle].reset = true;
        }
        let mut addr = None;
        let mut stream = None;
        match slot.kind {
            Kind::Accept if res >= 0 => {
                // SAFETY: accept returned a new fd that nobody else owns (the
                // user_data sequence number makes sure this completion is this
                // op's own).
                stream = Some(unsafe { TcpStream::from_raw_fd(res) });
                // SAFETY: the op's completion was returned: nothing in flight.
                let k = unsafe { slot.area() };
                addr = sockaddr_to_std(&k.addr, k.addrlen);
            }
            Kind::RecvFrom | Kind::RecvVectored if res >= 0 => {
                let from = slot.kind == Kind::RecvFrom;
                // SAFETY: as above.
                let k = unsafe { slot.area() };
                if from {
                    addr = sockaddr_to_std(&k.addr, k.msg.msg_namelen);
                }
                if k.msg.msg_flags & libc::MSG_TRUNC != 0 {
                    // A datagram larger than the buffers: they hold its start,
                    // the rest is lost (WSAEMSGSIZE, as on Windows).
                    result = Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
                }
            }
            _ => {}
        }
        let (value, buf, bufs) = recycle(t, slot);
        // The key: moved out of a handle that this op was the last of, or
        // cloned (user code, which may panic: caught so that what this op
        // holds is dropped outside the unwinding, then the panic goes on).
        let key = match self.close_if_done(t, handle) {
            Some((closed, key)) => {
                after.closed = Some(closed);
                Ok(key)
            }
            None => {
                let entry = &t.handles[handle];
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry.key.clone()))
            }
        };
        drop(guard);
        self.run(after);
        let key = match key {
            Ok(key) => key,
            Err(panic) => {
                drop((stream, buf, bufs));
                drop(value);
                drop(delivered);
                std::panic::resume_unwind(panic);
            }
        };
        Some((
            Packet::new(key, 0, value)
                .with_result(result, buf)
                .with_extra(bufs, addr, stream),
            delivered,
        ))
    }

    /// If handle `index` is closing and has no op in flight, forgets it; the
    /// returned [`Closed`] deregisters and closes its fd when dropped (after
    /// unlocking), and its key is handed back.
    fn close_if_done(&self, t: &mut Tables<K, V, B>, index: usize) -> Option<(Closed<'_>, K)> {
        let e = t.handles.get(index)?;
        if !e.closing || e.pending > 0 {
            return None;
        }
        let e = t.handles.remove(index);
        Some((
            Closed {
                backend: &*self.backend,
                fd: Some(e.fd),
                who: e.who,
            },
            e.key,
        ))
    }

    /// Marks the pending ops of `h` (or only `only`) as stopped by `why` and
    /// asks the backend to cancel them. Returns how many.
    fn stop(&self, h: Handle, only: Option<OpId>, why: Stop) -> io::Result<usize> {
        let mut t = self.tables.lock();
        Self::entry(&mut t, h)?;
        let mut targets = Vec::new();
        let mut made_up = Vec::new();
        self.stops.fetch_add(1, Ordering::Release);
        for (_, slot) in t.ops.iter_mut() {
            let wanted = only.is_none_or(|op| op.0 == slot.user_data);
            if slot.handle == h.index as usize && wanted && slot.stop == Stop::None {
                slot.stop = why;
                match slot.place {
                    Place::Kernel => targets.push(slot.user_data),
                    Place::Waiting => {
                        slot.place = Place::Parked;
                        made_up.push(Completion {
                            user_data: slot.user_data,
                            res: -libc::ECANCELED,
                        });
                    }
                    // Timed out while waiting: that completion is on its way.
                    Place::Parked => {}
                }
            }
        }
        let stopped = targets.len() + made_up.len();
        let mut closed = None;
        if why == Stop::Close {
            t.handles[h.index as usize].closing = true;
            closed = self.close_if_done(&mut t, h.index as usize);
        }
        drop(t);
        // Closes the fd (deregistered first), and drops the key, unlocked.
        drop(closed);
        self.backend.cancel_many(&targets);
        self.complete_later(&made_up);
        Ok(stopped)
    }

    pub(crate) fn cancel(&self, h: Handle, only: Option<OpId>) -> io::Result<usize> {
        match self.stop(h, only, Stop::Cancel)? {
            0 => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no pending operation to cancel",
            )),
            n => Ok(n),
        }
    }

    pub(crate) fn close(&self, h: Handle) -> io::Result<()> {
        self.stop(h, None, Stop::Close).map(drop)
    }

    /// Polls the backend and turns completions into packets.
    pub(crate) fn reap(&self, timeout: Option<Duration>, sink: &mut dyn FnMut(Packet<K, V, B>)) {
        thread_local! {
            /// The calling thread's completion buffer, kept between polls so a
            /// poll allocates nothing in steady state.
            static DONE: std::cell::Cell<Vec<Completion>> = const { std::cell::Cell::new(Vec::new()) };
        }
        // Taken out while in use: a nested reap (from user code in `sink`)
        // just starts with an empty one.
        let mut done = DONE.take();
        if self.has_leftovers.swap(false, Ordering::Acquire) {
            done.append(&mut self.leftovers.lock());
        }
        if done.is_empty() {
            // Operations waiting in a lane time out here, not in the kernel:
            // wait no longer than the first of them.
            let timeout = match self.expire_waiting(&mut done) {
                None => timeout,
                Some(d) => Some(timeout.map_or(d, |t| t.min(d))),
            };
            if done.is_empty() && self.backend.poll(timeout, &mut done).is_err() {
                // A failing poll (should not happen) must not spin a waiter hot.
                std::thread::sleep(Duration::from_millis(1));
            }
            self.expire_waiting(&mut done);
        }
        // User code runs below (the completion filter, the sink's hand-off,
        // K::clone, drops of values). If it panics, the completions not yet
        // turned into packets are kept for the next reaper (`Leftovers`), and
        // the packet in hand stops counting as in flight (`Delivered`): it is
        // lost to the panic, but its memory was the kernel's no longer.
        let mut rest = Leftovers {
            io: self,
            done,
            next: 0,
        };
        while let Some(&c) = rest.done.get(rest.next) {
            rest.next += 1;
            if let Some((mut p, _delivered)) = self.complete(c) {
                // Delivered (handed to a waiter or queued) or dropped: no
                // longer in flight once `_delivered` goes out of scope.
                if self.filter.get().is_none_or(|f| f(&mut p)) {
                    sink(p);
                }
            }
        }
        let mut done = mem::take(&mut rest.done);
        drop(rest);
        done.clear();
        DONE.set(done);
    }

    pub(crate) fn accept(
        &self,
        h: Handle,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        self.start(h, Kind::Accept, value, None, Vec::new(), 0, how, |s| {
            // SAFETY: `fill` runs before the op is submitted.
            unsafe { s.area() }.addrlen =
                mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            Ok(())
        })
    }

    pub(crate) fn connect(
        &self,
        h: Handle,
        to: SocketAddr,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        self.start(h, Kind::Connect, value, None, Vec::new(), 0, how, |s| {
            // SAFETY: `fill` runs before the op is submitted.
            let k = unsafe { s.area() };
            k.addrlen = std_to_sockaddr(to, &mut k.addr);
            Ok(())
        })
    }

    pub(crate) fn transfer(
        &self,
        h: Handle,
        send: bool,
        buf: B,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if send { Kind::Send } else { Kind::Recv };
        self.start(h, kind, value, Some(buf), Vec::new(), 0, how, |_| Ok(()))
    }

    pub(crate) fn file(
        &self,
        h: Handle,
        write: bool,
        buf: B,
        offset: u64,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if write { Kind::WriteAt } else { Kind::ReadAt };
        self.start(h, kind, value, Some(buf), Vec::new(), offset, how, |_| {
            Ok(())
        })
    }

    pub(crate) fn datagram(
        &self,
        h: Handle,
        to: Option<SocketAddr>,
        buf: B,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if to.is_some() {
            Kind::SendTo
        } else {
            Kind::RecvFrom
        };
        self.start(h, kind, value, Some(buf), Vec::new(), 0, how, |s| {
            // SAFETY: `fill` runs before the op is submitted.
            let k = unsafe { s.area() };
            k.addrlen = match to {
                Some(to) => std_to_sockaddr(to, &mut k.addr),
                None => mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
            };
            Ok(())
        })
    }

    pub(crate) fn vectored(
        &self,
        h: Handle,
        send: bool,
        bufs: Vec<B>,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if send {
            Kind::SendVectored
        } else {
            Kind::RecvVectored
        };
        self.start(h, kind, value, None, bufs, 0, how, |s| {
            if s.bufs.is_empty() || s.bufs.len() > 1024 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "vectored operations take 1 to 1024 buffers",
                ));
            }
            Ok(())
        })
    }
}

/// The next operation of a lane, decided under the tables lock and carried
/// out after it is released (see [`Deferred`]).
enum Next {
    /// Submit it (it is marked in the kernel already).
    Submit(RawOp),
    /// End it with this made-up completion (it timed out while it waited).
    MadeUp(Completion),
}

/// What a critical section of the op tables decided to do with the backend:
/// done by [`Io::run`] once the lock is released, so that no system call
/// (a submission, a cancel, a wake-up, a deregistration) runs under the lock
/// every start and completion of the port takes.
#[derive(Default)]
#[must_use]
struct Deferred<'a> {
    next: Option<Next>,
    /// Ask the backend to cancel this op (its timer ran out).
    cancel: Option<u64>,
    closed: Option<Closed<'a>>,
    /// `Io::stops` when the decision was taken (see `Io::launch`).
    stops: u64,
}

/// A handle that was closed and has no operation left: dropping this (with
/// the tables lock released) deregisters its fd from the backend, forgets
/// its association, and closes it — also when dropped by a panic.
struct Closed<'a> {
    backend: &'a dyn Backend,
    fd: Option<OwnedFd>,
    who: Identity,
}

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            self.backend.deregister(fd.as_raw_fd());
            forget_association(self.who);
            drop(fd);
        }
    }
}

/// The op's per-operation timer ran out (or could not be armed) and the op
/// is still in flight: whether to cancel it from here. Normally the kernel
/// cancels it by itself; when the thread that started it has exited,
/// io_uring only ends the timer (its cancel would run on the dead thread). A
/// timer that could not be armed (`-EINVAL`: the op went in without its
/// link) is re-armed by cancelling the op, which `complete` then restarts
/// with the time it has left.
fn timer_fired<V, B>(slot: &Slot<V, B>, res: i32) -> bool {
    if slot.stop != Stop::None {
        return false;
    }
    let expired = slot.deadline.is_some_and(|d| d <= Instant::now());
    (expired && res != -libc::ETIME) || (!expired && res == -libc::EINVAL)
}

/// The op in slot `index`, to start again for what is left of it (bytes and
/// time), from this (living) thread; the caller submits it after unlocking.
fn restart_op<K, V, B: IoBuf>(
    t: &mut Tables<K, V, B>,
    index: usize,
    now: Option<Instant>,
) -> RawOp {
    let slot = &mut t.ops[index];
    let fd = t.handles[slot.handle].fd.as_raw_fd();
    let mut raw = raw_op(slot, fd);
    raw.timeout = slot
        .deadline
        .map(|d| d.saturating_duration_since(now.unwrap_or_else(Instant::now)));
    raw
}

/// Takes the slot's value and buffers out and keeps the box for reuse.
fn recycle<K, V, B>(t: &mut Tables<K, V, B>, mut slot: Box<Slot<V, B>>) -> (V, Option<B>, Vec<B>)
where
    V: Send,
{
    let value = slot.value.take();
    let buf = slot.buf.take();
    let bufs = mem::take(&mut slot.bufs);
    if t.spare.len() < 1024 {
        t.spare.push(slot);
    }
    // Every started slot has its value; `start` sets it first.
    (
        value.expect("cport invariant: an op slot holds its value"),
        buf,
        bufs,
    )
}

/// Most bytes one submission moves (Linux's MAX_RW_COUNT: the kernel moves no
/// more per call, and a completion's result must fit an `i32`). A larger
/// buffer is filled or sent in several submissions (see `complete`).
const MAX_PER_SUBMISSION: usize = 0x7fff_f000;

/// Builds the backend's description of the op in `slot`, pointing into it:
/// for a whole transfer resumed after `done` bytes, only at what is left, at
/// most [`MAX_PER_SUBMISSION`] bytes. Called only when none of the slot's
/// submissions is in flight (before the first, and after a completion that
/// `complete` restarts).
fn raw_op<V, B: IoBuf>(slot: &mut Slot<V, B>, fd: RawFd) -> RawOp {
    let done = slot.done;
    let (buf, len) = match &mut slot.buf {
        Some(b) => {
            // SAFETY: `done` is at most the buffer's length (it counts bytes of
            // this buffer already transferred), so the pointer stays inside it
            // or one past its end.
            let ptr = unsafe { b.stable_ptr().add(done) };
            (ptr, (b.stable_len() - done).min(MAX_PER_SUBMISSION))
        }
        None => (std::ptr::null_mut(), 0),
    };
    let code = match slot.kind {
        Kind::Accept => OpCode::Accept,
        Kind::Connect => OpCode::Connect,
        Kind::Recv => OpCode::Recv,
        Kind::Send => OpCode::Send,
        Kind::ReadAt => OpCode::Read,
        Kind::WriteAt => OpCode::Write,
        Kind::RecvFrom | Kind::RecvVectored => OpCode::RecvMsg,
        Kind::SendTo | Kind::SendVectored => OpCode::SendMsg,
    };
    if code == OpCode::RecvMsg || code == OpCode::SendMsg {
        slot.iovecs.clear();
        let mut skip = done;
        let mut room = MAX_PER_SUBMISSION;
        for b in slot.buf.iter_mut().chain(&mut slot.bufs) {
            let len = b.stable_len();
            if skip >= len {
                skip -= len;
                continue;
            }
            if room == 0 {
                break;
            }
            let take = (len - skip).min(room);
            slot.iovecs.push(libc::iovec {
                // SAFETY: `skip < len`, so the pointer stays inside the buffer.
                iov_base: unsafe { b.stable_ptr().add(skip) }.cast(),
                iov_len: take,
            });
            room -= take;
            skip = 0;
        }
        let iov = slot.iovecs.as_mut_ptr();
        let iovlen = slot.iovecs.len();
        let named = matches!(slot.kind, Kind::RecvFrom | Kind::SendTo);
        // SAFETY: `raw_op` runs before a submission (see `raw_op`'s callers).
        let k = unsafe { slot.area() };
        // SAFETY: all-zero is a valid msghdr.
        k.msg = unsafe { mem::zeroed() };
        k.msg.msg_iov = iov;
        k.msg.msg_iovlen = iovlen;
        if named {
            k.msg.msg_name = (&mut k.addr as *mut libc::sockaddr_storage).cast();
            k.msg.msg_namelen = k.addrlen;
        }
    }
    // Pointers into the kernel area, taken from its owning pointer (no
    // reference to the area outlives this function).
    let k = slot.kernel.0.as_ptr();
    // SAFETY: `k` points to a live KernelArea; only field addresses are
    // computed, nothing is read or written.
    let (msg, addr, addrlen, timespec) = unsafe {
        (
            &raw mut (*k).msg,
            &raw mut (*k).addr,
            &raw mut (*k).addrlen,
            &raw mut (*k).timespec,
        )
    };
    RawOp {
        code,
        fd,
        user_data: slot.user_data,
        buf,
        len,
        msg,
        addr,
        addrlen,
        offset: slot.offset + done as u64,
        timeout: slot.timeout,
        timespec,
        defer: false,
    }
}

/// Skip-on-success mode: try the operation without waiting. `Some(n)` if it
/// completed (with data or end of stream; a send or write with all its
/// bytes); otherwise it goes the normal way, through the port — a send that
/// went out in part goes on from where it stopped (`slot.done`), and errors
/// and "would block" are found again by the real operation.
fn try_inline<V, B: IoBuf>(fd: RawFd, slot: &mut Slot<V, B>) -> Option<usize> {
    let kind = slot.kind;
    let buf = slot.buf.as_mut()?;
    let (ptr, len) = (buf.stable_ptr(), buf.stable_len());
    if len == 0 {
        return None; // a zero-byte recv is a readiness probe: it waits
    }
    let iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    let offset = slot.offset as libc::off_t;
    // SAFETY: `ptr` is valid for reads and writes of `len` bytes (IoBuf
    // contract) and the kernel is done with it when each call returns.
    let n = unsafe {
        match kind {
            Kind::Recv => libc::recv(fd, ptr.cast(), len, libc::MSG_DONTWAIT),
            Kind::Send => libc::send(fd, ptr.cast(), len, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL),
            // RWF_NOWAIT: only what the page cache can serve without blocking
            // (EAGAIN otherwise, or EOPNOTSUPP where unsupported).
            Kind::ReadAt => libc::preadv2(fd, &iov, 1, offset, libc::RWF_NOWAIT),
            Kind::WriteAt => libc::pwritev2(fd, &iov, 1, offset, libc::RWF_NOWAIT),
            _ => return None,
        }
    };
    let n = usize::try_from(n).ok()?;
    if kind.is_whole_transfer() && n < len {
        slot.done = n;
        return None;
    }
    Some(n)
}

fn result_of<V, B>(res: i32, slot: &Slot<V, B>) -> io::Result<usize> {
    if res >= 0 {
        return Ok(res as usize);
    }
    let errno = -res;
    if errno == libc::ECANCELED {
        return Err(match slot.stop {
            Stop::Cancel | Stop::Close => io::Error::from_raw_os_error(libc::ECANCELED),
            // Not cancelled by anyone: its per-operation timeout fired.
            Stop::None if slot.timeout.is_some() => io::Error::from_raw_os_error(libc::ETIMEDOUT),
            Stop::None => io::Error::from_raw_os_error(libc::ECANCELED),
        });
    }
    if errno == libc::ETIME {
        return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
    }
    Err(io::Error::from_raw_os_error(errno))
}

fn std_to_sockaddr(addr: SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    let sa = socket2::SockAddr::from(addr);
    let len = sa.len();
    // SAFETY: `sa` holds `len` valid bytes of a sockaddr, which fit in a
    // sockaddr_storage; the regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (out as *mut libc::sockaddr_storage).cast::<u8>(),
            len as usize,
        )
    };
    len
}

fn sockaddr_to_std(addr: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    // SAFETY: the storage is fully initialised (zeroed, then written by the
    // kernel) and `len` is at most its size.
    let sa = unsafe {
        socket2::SockAddr::new(
            mem::transmute_copy::<libc::sockaddr_storage, socket2::SockAddrStorage>(addr),
            len,
        )
    };
    sa.as_socket()
}

impl<K, V, B> Io<K, V, B> {
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Shutdown and port drop: refuses new operations and asks the backend to
    /// cancel every operation in flight (each still completes, aborted).
    pub(crate) fn cancel_all(&self) {
        let mut targets = Vec::new();
        let mut made_up = Vec::new();
        {
            let mut t = self.tables.lock();
            self.refusing.store(true, Ordering::Relaxed);
            self.stops.fetch_add(1, Ordering::Release);
            for (_, s) in t.ops.iter_mut() {
                if s.stop == Stop::None {
                    s.stop = Stop::Close;
                }
                match s.place {
                    Place::Kernel => targets.push(s.user_data),
                    Place::Waiting => {
                        s.place = Place::Parked;
                        made_up.push(Completion {
                            user_data: s.user_data,
                            res: -libc::ECANCELED,
                        });
                    }
                    // Its made-up completion is on its way.
                    Place::Parked => {}
                }
            }
        }
        self.backend.cancel_many(&targets);
        if !made_up.is_empty() {
            self.leftovers.lock().extend_from_slice(&made_up);
            self.has_leftovers.store(true, Ordering::Release);
            self.backend.wake();
        }
    }
}

/// Completions a panicking reaper had not handled yet, kept for the next one.
struct Leftovers<'a, K, V, B> {
    io: &'a Io<K, V, B>,
    done: Vec<Completion>,
    next: usize,
}

impl<K, V, B> Drop for Leftovers<'_, K, V, B> {
    fn drop(&mut self) {
        if self.next < self.done.len() {
            self.io
                .leftovers
                .lock()
                .extend(self.done.drain(self.next..));
            self.io.has_leftovers.store(true, Ordering::Release);
        }
    }
}

/// Un-counts a packet from `in_flight` when it was delivered (or dropped by
/// a panic on the way).
struct Delivered<'a>(&'a AtomicUsize);

impl Drop for Delivered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The op layer as the port core's reactor.
pub(crate) struct IoReactor<K, V, B>(pub(crate) Arc<Io<K, V, B>>);

impl<K, V, B> Reactor<Packet<K, V, B>> for IoReactor<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    fn busy(&self) -> bool {
        self.0.in_flight() > 0
    }
    fn poll(&self, timeout: Option<Duration>, sink: &mut dyn FnMut(Packet<K, V, B>)) {
        self.0.reap(timeout, sink)
    }
    fn wake(&self) {
        self.0.backend.wake()
    }
    fn flush(&self, urgent: bool) {
        self.0.backend.flush(urgent)
    }
}

impl<K, V, B> Drop for Io<K, V, B> {
    fn drop(&mut self) {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // Some op never completed (its kernel request may still touch its
            // slot): leak the slots rather than free memory under the kernel.
            let ops = mem::take(&mut self.tables.get_mut().ops);
            mem::forget(ops);
        }
        for (_, e) in self.tables.get_mut().handles.iter() {
            forget_association(e.who);
        }
    }
}
