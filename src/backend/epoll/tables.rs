//! The epoll backend's bookkeeping: per-fd entries with their two sides,
//! the op table indexed by user_data, the states of a pending op, and the
//! state under the backend's lock with the operations on it (store, link,
//! cancel, timers). No system calls here.

use super::*;

/// The two directions of a socket, each with at most one pending op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    /// Accept, Recv, RecvMsg: wait for EPOLLIN.
    Read = 0,
    /// Connect, Send, SendMsg: wait for EPOLLOUT.
    Write = 1,
}

impl Side {
    pub(super) fn of(code: Syscall) -> Side {
        match code {
            Syscall::Connect
            | Syscall::Send
            | Syscall::SendMsg
            | Syscall::WriteStream
            | Syscall::Shutdown => Side::Write,
            _ => Side::Read,
        }
    }
}

/// One side of an fd: the op waiting for its readiness, if any, and what
/// the backend knows of that readiness. The op layer sends at most one op
/// per socket and direction at a time (its lanes keep issue order), so a
/// side holds one op, never a queue.
pub(super) struct FdSide {
    /// The pending op ([`NO_OP`]: none).
    pub(super) op: u64,
    /// Counts readiness edges, so a driver can tell one arrived during its
    /// syscall (compared for equality only: wrapping is harmless).
    pub(super) tick: u32,
    /// A thread is attempting this side's op (or the op being submitted).
    pub(super) busy: bool,
    /// No attempt showed the fd drained since the last edge (see the module
    /// notes). An idle side with a pending op is never ready.
    pub(super) ready: bool,
}

impl Default for FdSide {
    fn default() -> Self {
        FdSide {
            op: NO_OP,
            tick: 0,
            busy: false,
            ready: true,
        }
    }
}

/// A registered fd: one cache line.
#[repr(align(64))]
pub(super) struct FdEntry {
    pub(super) sides: [FdSide; 2],
    /// Not pollable (a regular file: epoll_ctl said EPERM): the backend's
    /// duplicate of the fd, which file workers use (see the module notes).
    /// Closed by `deregister` (no op in flight then) or with the shared
    /// state, once the last worker is gone.
    pub(super) file: Option<OwnedFd>,
    /// In the epoll set.
    pub(super) pollable: bool,
    /// SOCK_STREAM: sends loop until every byte went out.
    pub(super) stream: bool,
    /// A short receive proves the fd drained: TCP, and no [`UNSURE`] event yet.
    pub(super) short_read_drains: bool,
}

/// Registered fds, indexed by fd (fds are small dense integers).
#[derive(Default)]
pub(super) struct FdTable(pub(super) Vec<Option<FdEntry>>);

impl FdTable {
    pub(super) fn get(&self, fd: RawFd) -> Option<&FdEntry> {
        self.0.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, fd: RawFd) -> Option<&mut FdEntry> {
        self.0.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }

    /// `fd` must be non-negative (it is: the kernel accepted it).
    pub(super) fn insert(&mut self, fd: RawFd, entry: FdEntry) {
        let Ok(i) = usize::try_from(fd) else { return };
        if i >= self.0.len() {
            self.0.resize_with(i + 1, || None);
        }
        self.0[i] = Some(entry);
    }

    pub(super) fn remove(&mut self, fd: RawFd) -> Option<FdEntry> {
        self.0.get_mut(usize::try_from(fd).ok()?)?.take()
    }
}

/// Hashes a user_data with one 64×64→128-bit multiply, folded. The keys come
/// from the op layer (a slab index and a generation), not from the network,
/// so SipHash's protection against chosen keys buys nothing here. Dense slab
/// indices in the low bits land in distinct buckets; the high bits (and the
/// generation) feed both halves of the product.
#[derive(Default)]
pub(super) struct UdHasher(pub(super) u64);

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
pub(super) struct OpTable {
    pub(super) direct: Vec<Option<OpState>>,
    pub(super) spill: HashMap<u64, OpState, BuildHasherDefault<UdHasher>>,
    pub(super) len: usize,
}

impl OpTable {
    pub(super) fn index(user_data: u64) -> usize {
        crate::backend::user_data::index(user_data)
    }

    pub(super) fn get(&self, user_data: u64) -> Option<&OpState> {
        match self.direct.get(Self::index(user_data)) {
            Some(Some(op)) if op.raw.user_data == user_data => Some(op),
            _ if self.spill.is_empty() => None,
            _ => self.spill.get(&user_data),
        }
    }

    pub(super) fn get_mut(&mut self, user_data: u64) -> Option<&mut OpState> {
        let i = Self::index(user_data);
        if matches!(self.direct.get(i), Some(Some(op)) if op.raw.user_data == user_data) {
            return self.direct[i].as_mut();
        }
        if self.spill.is_empty() {
            return None;
        }
        self.spill.get_mut(&user_data)
    }

    pub(super) fn contains(&self, user_data: u64) -> bool {
        self.get(user_data).is_some()
    }

    /// Stores `op`; false (and nothing stored) if its user_data is pending.
    pub(super) fn insert(&mut self, op: OpState) -> bool {
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

    pub(super) fn remove(&mut self, user_data: u64) -> Option<OpState> {
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

    pub(super) fn len(&self) -> usize {
        self.len
    }
}

/// Where a pending op waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WaitsIn {
    Fd(Side),
    FileQueue,
}

/// Who may touch a pending op's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting in its lane or the file queue: may be completed by anyone.
    Queued,
    /// A thread is inside a syscall on its memory: only that thread completes it.
    Running,
    /// Running, and cancelled (or timed out) meanwhile: -ECANCELED unless the
    /// running attempt finishes it.
    CancelWhenDone,
}

/// A stored op until its completion.
pub(super) struct OpState {
    pub(super) raw: RawOp,
    /// Tells this op from an earlier one with the same user_data (timers).
    pub(super) seq: u64,
    pub(super) waits_in: WaitsIn,
    pub(super) phase: Phase,
    /// Private progress (bytes sent; connect started): see [`sys::attempt`].
    pub(super) progress: usize,
    /// Bytes a Send/SendMsg must send.
    pub(super) total: usize,
}

/// An op about to be attempted: a side's op, taken from the op table
/// ([`Bookkeeping::start_head`]), or one being submitted, not stored yet.
pub(super) struct Head {
    pub(super) user_data: u64,
    /// In the op table (and Running there), or not stored yet.
    pub(super) stored: bool,
    /// The lane's tick when the attempt started.
    pub(super) tick: u32,
    pub(super) pollable: bool,
    pub(super) stream: bool,
    pub(super) raw: RawOp,
    pub(super) total: usize,
    pub(super) progress: usize,
}

impl Bookkeeping {
    /// Reports `user_data`'s one completion (the op is no longer stored).
    pub(super) fn report(&mut self, user_data: u64, res: i32) {
        self.ready.push(Completion::new(user_data, res));
        if self.sleeping {
            self.sleeping = false;
            self.wake_due = true;
        }
    }

    /// Forgets a stored op (unlinked already) and reports its completion.
    pub(super) fn retire(&mut self, user_data: u64, res: i32) {
        self.ops.remove(user_data);
        self.report(user_data, res);
    }

    /// Stores a new op (not linked anywhere yet) and arms its timer; false if
    /// its user_data is pending already.
    pub(super) fn store(
        &mut self,
        raw: RawOp,
        waits_in: WaitsIn,
        total: usize,
        progress: usize,
    ) -> bool {
        self.next_seq += 1;
        let seq = self.next_seq;
        let stored = self.ops.insert(OpState {
            raw,
            seq,
            waits_in,
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
    /// finish it, as its side's op. False if its user_data is pending already.
    pub(super) fn store_attempted(&mut self, fd: RawFd, side: Side, head: &Head) -> bool {
        if !self.store(head.raw, WaitsIn::Fd(side), head.total, head.progress) {
            return false;
        }
        self.link(fd, side, head.user_data);
        true
    }

    /// Makes the stored op `user_data` the op of `fd`'s `side`.
    pub(super) fn link(&mut self, fd: RawFd, side: Side, user_data: u64) {
        if let Some(entry) = self.fds.get_mut(fd) {
            entry.sides[side as usize].op = user_data;
        }
    }

    /// Takes the stored op `user_data` off `fd`'s `side`.
    pub(super) fn unlink(&mut self, fd: RawFd, side: Side, user_data: u64) {
        if let Some(entry) = self.fds.get_mut(fd) {
            let s = &mut entry.sides[side as usize];
            if s.op == user_data {
                s.op = NO_OP;
            }
        }
    }

    /// The op pending on `fd`'s `side`, if any.
    pub(super) fn side_op(&self, fd: RawFd, side: Side) -> Option<u64> {
        let op = self.fds.get(fd)?.sides[side as usize].op;
        self.ops.contains(op).then_some(op)
    }

    /// Cancels a pending op: at once if queued, after its syscall if running.
    pub(super) fn cancel(&mut self, user_data: u64) {
        let Some(op) = self.ops.get_mut(user_data) else {
            return; // unknown or already completed
        };
        match op.phase {
            Phase::Queued => {
                match op.waits_in {
                    WaitsIn::Fd(side) => {
                        let fd = op.raw.fd;
                        self.unlink(fd, side, user_data);
                    }
                    WaitsIn::FileQueue => self.file_queue.retain(|&u| u != user_data),
                }
                self.retire(user_data, -libc::ECANCELED);
            }
            Phase::Running => op.phase = Phase::CancelWhenDone,
            Phase::CancelWhenDone => {}
        }
    }

    /// Marks the op of a busy side Running and returns what attempting it
    /// needs; `None` (side idle again) when it has no op or is gone.
    pub(super) fn start_head(&mut self, fd: RawFd, side: Side) -> Option<Head> {
        let entry = self.fds.get_mut(fd)?;
        let lane = &mut entry.sides[side as usize];
        let user_data = lane.op;
        let Some(op) = self.ops.get_mut(user_data) else {
            // None (or, which cannot happen, an op that is not stored).
            (lane.op, lane.busy) = (NO_OP, false);
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

    pub(super) fn arm_timer(&mut self, user_data: u64, seq: u64, timeout: Duration) {
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

    pub(super) fn timer_is_live(&self, seq: u64, user_data: u64) -> bool {
        self.ops.get(user_data).is_some_and(|op| op.seq == seq)
    }

    /// Cancels the ops whose deadline passed; returns the nearest live deadline.
    pub(super) fn expire_timers(&mut self, now: Instant) -> Option<Instant> {
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
