//! The completion-port algorithm (SPEC §1–3), generic over the packet type.
//!
//! # Implementation notes
//!
//! * All counters live in one atomic [`State`] word; every decision ("take a queued
//!   packet", "hand a packet to a waiter", "join the waiters") is one CAS on it.
//! * Packets live in a lock-free FIFO queue. A poster pushes first and counts the
//!   packet afterwards; a taker un-counts first and pops afterwards. So the queue
//!   always holds at least `queued` packets plus one for every taker between its
//!   CAS and its pop, and such a pop never finds the queue empty.
//! * Waiters form a LIFO stack of nodes that live on the waiting threads' own
//!   stacks; each thread parks on its own parker. The stack is behind a mutex,
//!   taken only on the slow paths (a thread must sleep, or a sleeping thread must
//!   be handed a packet). `waiting` in the state word always equals the stack's
//!   length outside that mutex, so lock-free posters can tell whether anyone waits.
//! * Invariant I: in every stable state it is never true that a packet is queued,
//!   a thread waits and `active < limit`. Each CAS that could create that state
//!   (a post, an active thread leaving) instead pairs a packet with the most
//!   recent waiter, under the waiters mutex.
//! * Wakes happen after the mutex is released (decide under the lock, make the
//!   system call after unlocking).

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::time::Duration;

use super::state::{State, MAX_THREADS};
use crate::error::GetError;
use crate::loom::{
    current, park, park_timeout, spin_loop, yield_now, AtomicBool, AtomicU32, AtomicU64,
    AtomicUsize, Deadline, Mutex, MutexGuard, Ordering, Queue, Thread, SPIN_LIMIT, YIELD_LIMIT,
};

/// Where completed I/O comes from: the op layer over a kernel backend.
///
/// Waiting threads reap it themselves (SPEC §6, leader/follower): at most one
/// waiter at a time, the *poller*, blocks in [`poll`](Reactor::poll) instead of
/// on its parker; the others sleep on their parkers as usual.
pub(crate) trait Reactor<T>: Send + Sync {
    /// Whether operations are in flight (only then is there a reason to poll).
    fn busy(&self) -> bool;
    /// Waits up to `timeout` for completions and feeds each one's packet to
    /// `sink`. An operation counts as in flight (`busy`) until `sink` returned
    /// for its packet, so nobody sees "idle" while a packet is in transit.
    fn poll(&self, timeout: Option<Duration>, sink: &mut dyn FnMut(T));
    /// Makes a `poll` blocked in another thread return soon.
    fn wake(&self);
    /// Starts operations whose submission was deferred (batched) by threads
    /// active on this port; `poll` does it as well. `urgent`: the caller
    /// leaves the port for a while, or other threads wait for work, so
    /// anything that only this thread can finish must be finished now.
    fn flush(&self, _urgent: bool) {}
}

/// A waiter that sleeps on its parker.
const FOLLOWER: u32 = 0;
/// A waiter asked to become the poller (set under the waiters lock).
const POLL_REQUESTED: u32 = 1;
/// The waiter that reaps completions (at most one per port).
const POLLING: u32 = 2;

/// A waiter's node is on the stack and has not been given anything yet.
const WAITING: u32 = 0;
/// A packet was written into the node's slot; the waiter is now active.
const HANDED: u32 = 1;
/// The port was closed; the waiter returns [`GetError::Closed`].
const CLOSED: u32 = 2;

/// A thread blocked in `get`, living on that thread's stack.
struct Waiter<T> {
    state: AtomicU32,
    /// Written only by the thread that pops the node off the stack (under the
    /// waiters mutex) before it publishes `HANDED`; read by the owner only after
    /// it observed `HANDED`.
    slot: UnsafeCell<Option<T>>,
    thread: Thread,
    /// FOLLOWER, POLL_REQUESTED or POLLING: how to wake it, what to do when woken.
    role: AtomicU32,
}

/// Pointer to a [`Waiter`] on the LIFO stack.
struct WaiterRef<T>(NonNull<Waiter<T>>);

// SAFETY: the pointee is only touched under the waiters mutex (slot write, state
// store) while its owner keeps it alive (see `Core::wait`); `T: Send` because the
// packet moves from the posting thread to the waiting one.
unsafe impl<T: Send> Send for WaiterRef<T> {}

/// Snapshot of a port's counters (SPEC §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    /// Packets waiting in the FIFO queue.
    pub queued: u32,
    /// Threads blocked in `get` / `get_many`.
    pub waiting: u32,
    /// Threads that took a packet and have not come back to `get` nor paused.
    pub active: u32,
    /// Active threads inside a blocking section.
    pub paused: u32,
    /// The concurrency limit.
    pub limit: u32,
}

pub(crate) struct Core<T> {
    state: AtomicU64,
    limit: u32,
    queue: Queue<T>,
    /// LIFO stack of waiters: the last element is the most recent waiter.
    waiters: Mutex<Vec<WaiterRef<T>>>,
    /// A waiter holds (or was asked to take) the poller role. Changed only
    /// under the waiters lock; read without it as a hint.
    poller: AtomicBool,
    reactor: Option<Box<dyn Reactor<T>>>,
    paused: AtomicUsize,
}

/// What the fast path of `take` found.
enum Reserved {
    /// This many queued packets are now the caller's to pop.
    Packets(u32),
    /// The port is closed and empty.
    Closed,
    /// Nothing the caller may take now.
    Nothing,
}

/// How to wake a waiter that was handed a packet or the port's close.
enum Wake {
    Thread(Thread),
    /// The waiter is the poller, maybe blocked in the kernel.
    Reactor,
}

// SAFETY: every `T` inside is owned by the queue or a waiter slot and moves between
// threads whole (`T: Send`); the waiter nodes are shared only under the mutex.
unsafe impl<T: Send> Send for Core<T> {}
// SAFETY: as above; all shared mutation goes through atomics or the mutex.
unsafe impl<T: Send> Sync for Core<T> {}

impl<T> Core<T> {
    /// `limit` must be in `1..=MAX_THREADS` (the builder checks it).
    pub(crate) fn new(limit: u32, reactor: Option<Box<dyn Reactor<T>>>) -> Self {
        debug_assert!((1..=MAX_THREADS).contains(&limit));
        Core {
            state: AtomicU64::new(0),
            limit,
            queue: Queue::new(),
            waiters: Mutex::new(Vec::new()),
            poller: AtomicBool::new(false),
            reactor,
            paused: AtomicUsize::new(0),
        }
    }

    pub(crate) fn reactor(&self) -> Option<&dyn Reactor<T>> {
        self.reactor.as_deref()
    }

    fn busy(&self) -> bool {
        self.reactor.as_ref().is_some_and(|r| r.busy())
    }

    /// The calling thread is about to run something other than the port's
    /// poll (a packet, a sleep, a blocking call, its exit): submissions it
    /// deferred must go to the kernel now (see [`Reactor::flush`]).
    #[inline]
    fn flush(&self, urgent: bool) {
        if let Some(r) = &self.reactor {
            r.flush(urgent)
        }
    }

    /// [`flush`](Self::flush) before running a packet: urgent if threads
    /// wait, which could run completions this thread holds up.
    #[inline]
    fn flush_before_packet(&self) {
        if self.reactor.is_some() {
            self.flush(self.load().waiting() > 0)
        }
    }

    fn wake(&self, wake: Wake) {
        match wake {
            Wake::Thread(thread) => thread.unpark(),
            Wake::Reactor => {
                if let Some(r) = &self.reactor {
                    r.wake()
                }
            }
        }
    }

    /// Operations were started: if threads sleep on their parkers and nobody
    /// reaps, ask the most recent waiter to become the poller.
    pub(crate) fn io_started(&self) {
        if self.poller.load(Ordering::Acquire) || self.load().waiting() == 0 {
            return;
        }
        let mut stack = self.waiters.lock();
        if let Some(thread) = self.promote(&mut stack) {
            drop(stack);
            thread.unpark();
        }
    }

    /// Under the waiters lock: give the poller role to the most recent waiter
    /// if there is I/O to reap and nobody holds the role. Returns the thread
    /// to unpark after unlocking.
    fn promote(&self, stack: &mut MutexGuard<'_, Vec<WaiterRef<T>>>) -> Option<Thread> {
        if self.poller.load(Ordering::Relaxed) || !self.busy() {
            return None;
        }
        let top = stack.last()?;
        self.poller.store(true, Ordering::Release);
        // SAFETY: nodes on the stack are alive (see `deliver`); `role` is atomic.
        let node = unsafe { top.0.as_ref() };
        node.role.store(POLL_REQUESTED, Ordering::Release);
        Some(node.thread.clone())
    }

    /// Reaps completions on behalf of the port from a thread that is not
    /// waiting in `get` (shutdown), if no waiter holds the poller role: each
    /// packet goes to the most recent waiter or into the queue. Returns
    /// whether it polled.
    pub(crate) fn reap_as_helper(&self, timeout: Duration) -> bool {
        let Some(reactor) = &self.reactor else {
            return false;
        };
        {
            let _stack = self.waiters.lock();
            if self.poller.load(Ordering::Relaxed) {
                return false;
            }
            self.poller.store(true, Ordering::Release);
        }
        let mut items = Vec::new();
        reactor.poll(Some(timeout), &mut |t| items.push(t));
        {
            let mut stack = self.waiters.lock();
            self.poller.store(false, Ordering::Release);
            if let Some(thread) = self.promote(&mut stack) {
                drop(stack);
                thread.unpark();
            }
        }
        items
            .into_iter()
            .for_each(|item| self.post_even_if_closed(item));
        true
    }

    /// Queues a completed operation's packet; after close it still goes into
    /// the queue, where `get` and `drain` find it.
    fn post_even_if_closed(&self, item: T) {
        if let Err(item) = self.post(item) {
            self.queue.push(item);
            self.update(|s| s.with_queued(s.queued() + 1));
        }
    }

    /// The calling waiter gives up the poller role (it got a packet, timed
    /// out, or the port closed); another waiter takes it over if needed.
    fn resign(&self, node: &Waiter<T>) {
        if node.role.swap(FOLLOWER, Ordering::AcqRel) == FOLLOWER {
            return;
        }
        let mut stack = self.waiters.lock();
        self.poller.store(false, Ordering::Release);
        if let Some(thread) = self.promote(&mut stack) {
            drop(stack);
            thread.unpark();
        }
    }

    #[inline]
    fn load(&self) -> State {
        State(self.state.load(Ordering::Acquire))
    }

    #[inline]
    fn cas(&self, old: State, new: State) -> Result<(), State> {
        self.state
            .compare_exchange_weak(old.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(State)
    }

    /// Applies `f` to the state word until the CAS succeeds; returns the new state.
    fn update(&self, f: impl Fn(State) -> State) -> State {
        let mut s = self.load();
        loop {
            let new = f(s);
            match self.cas(s, new) {
                Ok(()) => return new,
                Err(cur) => s = cur,
            }
        }
    }

    pub(crate) fn counters(&self) -> Counters {
        let s = self.load();
        Counters {
            queued: s.queued(),
            waiting: s.waiting(),
            active: s.active(),
            paused: self.paused.load(Ordering::Relaxed) as u32,
            limit: self.limit,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.load().closed()
    }

    /// Pops a packet that a successful CAS has already un-counted (or that the
    /// caller pushed and never counted). See the module notes for why it exists.
    #[inline]
    fn pop_reserved(&self) -> T {
        loop {
            if let Some(item) = self.queue.pop() {
                return item;
            }
            // Unreachable by the counting argument; spinning keeps it panic-free.
            spin_loop();
        }
    }

    /// Enqueues `item` (PostQueuedCompletionStatus, or a completed operation).
    /// A closed port hands the item back.
    #[inline]
    pub(crate) fn post(&self, item: T) -> Result<(), T> {
        if self.load().closed() {
            return Err(item);
        }
        self.queue.push(item);
        let mut s = self.load();
        loop {
            if s.waiting() > 0 && s.active() < self.limit && !s.closed() {
                self.hand_off_uncounted();
                return Ok(());
            }
            // A post that raced `close` past the check above is counted and stays
            // collectable by `drain`: nothing is lost.
            match self.cas(s, s.with_queued(s.queued() + 1)) {
                Ok(()) => return Ok(()),
                Err(cur) => s = cur,
            }
        }
    }

    /// The caller pushed one packet it has not counted and a waiter may be
    /// releasable: give the oldest packet to the most recent waiter, or count it.
    #[cold]
    fn hand_off_uncounted(&self) {
        let stack = self.waiters.lock();
        let mut s = self.load();
        loop {
            if s.waiting() > 0 && s.active() < self.limit && !s.closed() {
                let new = s.with_waiting(s.waiting() - 1).with_active(s.active() + 1);
                if let Err(cur) = self.cas(s, new) {
                    s = cur;
                    continue;
                }
                return self.release_top_waiter(stack);
            }
            match self.cas(s, s.with_queued(s.queued() + 1)) {
                Ok(()) => return,
                Err(cur) => s = cur,
            }
        }
    }

    /// After a CAS that took the most recent waiter off the count (and made it
    /// active) for a packet the caller may pop: pop it, give it to that waiter,
    /// unlock, then wake it.
    fn release_top_waiter(&self, mut stack: MutexGuard<'_, Vec<WaiterRef<T>>>) {
        let item = self.pop_reserved();
        let wake = Self::deliver(&mut stack, item);
        drop(stack);
        self.wake(wake);
    }

    /// Gives `item` to the most recent waiter. The caller holds the waiters lock
    /// and has already decremented `waiting` for it; it unparks the returned
    /// thread after unlocking.
    fn deliver(stack: &mut MutexGuard<'_, Vec<WaiterRef<T>>>, item: T) -> Wake {
        let top = stack
            .pop()
            .expect("cport invariant: `waiting` counts the nodes on the waiter stack");
        // SAFETY: the node is alive: its owner only returns after observing a state
        // other than WAITING, or after removing the node under the lock we hold.
        // We popped it, so nobody else writes its slot; the owner reads the slot
        // only after the Release store below.
        unsafe {
            let node = top.0.as_ref();
            *node.slot.get() = Some(item);
            let wake = Self::wake_for(node);
            node.state.store(HANDED, Ordering::Release);
            wake
        }
    }

    fn wake_for(node: &Waiter<T>) -> Wake {
        if node.role.load(Ordering::Acquire) == POLLING {
            Wake::Reactor
        } else {
            Wake::Thread(node.thread.clone())
        }
    }

    /// GetQueuedCompletionStatus(Ex): takes up to `max` (≥ 1) packets, feeding
    /// them to `sink` in FIFO order, and returns how many.
    ///
    /// `was_active` says whether the calling thread counts as active on this
    /// port (SPEC §2 rule 1: it stops counting first). On `Ok` the thread is
    /// active; on `TimedOut` it is active as well (as on Windows, a thread that
    /// returns from a wait runs again); on `Closed` it is not.
    pub(crate) fn take(
        &self,
        was_active: bool,
        max: u32,
        timeout: Option<Duration>,
        sink: &mut dyn FnMut(T),
    ) -> Result<u32, GetError> {
        debug_assert!(max >= 1);
        let leaving = u32::from(was_active);
        match self.reserve(leaving, max) {
            Reserved::Packets(n) => {
                (0..n).for_each(|_| sink(self.pop_reserved()));
                self.flush_before_packet();
                Ok(n)
            }
            Reserved::Closed => Err(GetError::Closed),
            Reserved::Nothing => self.take_slow(was_active, max, timeout, sink),
        }
    }

    /// [`take`](Self::take) of one packet, returned by value: the hot path
    /// of `get` moves the packet once, with no sink in between.
    #[inline]
    pub(crate) fn take_one(
        &self,
        was_active: bool,
        timeout: Option<Duration>,
    ) -> Result<T, GetError> {
        match self.reserve(u32::from(was_active), 1) {
            Reserved::Packets(_) => {
                let item = self.pop_reserved();
                self.flush_before_packet();
                Ok(item)
            }
            Reserved::Closed => Err(GetError::Closed),
            Reserved::Nothing => {
                let mut out = None;
                self.take_slow(was_active, 1, timeout, &mut |t| out = Some(t))?;
                out.ok_or(GetError::Closed)
            }
        }
    }

    /// Fast path of `take`: un-count up to `max` queued packets for a thread
    /// that may take them now (SPEC §2 rules 1–2), in one CAS.
    #[inline]
    fn reserve(&self, leaving: u32, max: u32) -> Reserved {
        let mut s = self.load();
        loop {
            if s.closed() && s.queued() == 0 {
                self.update(|s| s.with_active(s.active().saturating_sub(leaving)));
                return Reserved::Closed;
            }
            let active = s.active().saturating_sub(leaving);
            // A closed port hands out what is still queued, limit or not, so
            // that every packet is delivered before `Closed` is reported.
            if s.queued() == 0 || (active >= self.limit && !s.closed()) {
                return Reserved::Nothing;
            }
            let n = s.queued().min(max);
            match self.cas(s, s.with_queued(s.queued() - n).with_active(active + 1)) {
                Ok(()) => return Reserved::Packets(n),
                Err(cur) => s = cur,
            }
        }
    }

    #[cold]
    fn take_slow(
        &self,
        was_active: bool,
        max: u32,
        timeout: Option<Duration>,
        sink: &mut dyn FnMut(T),
    ) -> Result<u32, GetError> {
        if timeout == Some(Duration::ZERO) && !self.busy() {
            // Nothing for us and no wait: the thread keeps (or takes) its slot.
            if !was_active {
                self.update(|s| s.with_active(s.active() + 1));
            }
            return Err(GetError::TimedOut);
        }
        self.wait(u32::from(was_active), max, Deadline::after(timeout), sink)
    }

    /// Slow path of [`take`](Self::take): join the LIFO waiters and sleep.
    #[cold]
    fn wait(
        &self,
        leaving: u32,
        max: u32,
        deadline: Deadline,
        sink: &mut dyn FnMut(T),
    ) -> Result<u32, GetError> {
        let node = Waiter {
            state: AtomicU32::new(WAITING),
            slot: UnsafeCell::new(None),
            thread: current(),
            role: AtomicU32::new(FOLLOWER),
        };
        {
            let mut stack = self.waiters.lock();
            let mut s = self.load();
            loop {
                if s.closed() && s.queued() == 0 {
                    drop(stack);
                    self.update(|s| s.with_active(s.active().saturating_sub(leaving)));
                    return Err(GetError::Closed);
                }
                let active = s.active().saturating_sub(leaving);
                if s.queued() > 0 && (active < self.limit || s.closed()) {
                    // A packet became available while we took the lock.
                    let n = s.queued().min(max);
                    if let Err(cur) =
                        self.cas(s, s.with_queued(s.queued() - n).with_active(active + 1))
                    {
                        s = cur;
                        continue;
                    }
                    drop(stack);
                    (0..n).for_each(|_| sink(self.pop_reserved()));
                    self.flush_before_packet();
                    return Ok(n);
                }
                if s.waiting() >= MAX_THREADS {
                    // More waiters than the state word counts: back off and retry.
                    drop(stack);
                    std::thread::yield_now();
                    stack = self.waiters.lock();
                    s = self.load();
                    continue;
                }
                match self.cas(s, s.with_active(active).with_waiting(s.waiting() + 1)) {
                    Ok(()) => break,
                    Err(cur) => s = cur,
                }
            }
            stack.push(WaiterRef(NonNull::from(&node)));
            if !self.poller.load(Ordering::Relaxed) && self.busy() {
                self.poller.store(true, Ordering::Release);
                node.role.store(POLLING, Ordering::Release);
            }
        }
        if node.role.load(Ordering::Relaxed) != POLLING {
            // Only the poller's own enter carries deferred submissions. (Work
            // only this thread can finish interrupts its sleep by itself.)
            self.flush(false);
        }
        // From here the node is reachable through the stack: this function must
        // not return before the node left it (popped by a hand-off or close, seen
        // as a state other than WAITING, or removed by us under the lock).
        let mut spins = 0;
        let mut polled_after_deadline = false;
        loop {
            let state = node.state.load(Ordering::Acquire);
            if state != WAITING {
                self.resign(&node);
                return self.finish(&node, state, max, sink);
            }
            match node.role.load(Ordering::Acquire) {
                POLL_REQUESTED => {
                    // Under the lock, so a concurrent hand-off either sees
                    // POLLING (and wakes the reactor) or stores HANDED before
                    // we look at our state again.
                    let _stack = self.waiters.lock();
                    node.role.store(POLLING, Ordering::Release);
                    continue;
                }
                POLLING => {
                    let left = deadline.remaining();
                    if left.is_none() {
                        if polled_after_deadline {
                            break;
                        }
                        polled_after_deadline = true;
                    }
                    self.poll_once(&node, left.unwrap_or(Duration::ZERO));
                    continue;
                }
                _ => {}
            }
            if spins < SPIN_LIMIT + YIELD_LIMIT {
                // A hand-off from a thread on another CPU usually comes within
                // microseconds: spin, then give the CPU away, then park.
                if spins < SPIN_LIMIT {
                    spin_loop();
                } else {
                    yield_now();
                }
                spins += 1;
                continue;
            }
            match deadline.remaining() {
                None => break,
                Some(_) if deadline.is_forever() => park(),
                Some(left) => park_timeout(left),
            }
        }
        // The deadline passed: withdraw, unless a hand-off or close got there first.
        let mut stack = self.waiters.lock();
        let state = node.state.load(Ordering::Acquire);
        if state != WAITING {
            drop(stack);
            self.resign(&node);
            return self.finish(&node, state, max, sink);
        }
        let me = NonNull::from(&node);
        if let Some(pos) = stack.iter().rposition(|w| w.0 == me) {
            stack.remove(pos);
        }
        // As on Windows, the thread runs again after its wait and counts as active.
        self.update(|s| s.with_waiting(s.waiting() - 1).with_active(s.active() + 1));
        drop(stack);
        // Off the stack now, so the role cannot come back to us.
        self.resign(&node);
        Err(GetError::TimedOut)
    }

    /// The poller's turn: reap completions for up to `timeout`, keep the first
    /// for itself when the limit allows, and post the rest (they go to the
    /// most recent waiters or into the queue).
    fn poll_once(&self, node: &Waiter<T>, timeout: Duration) {
        let Some(reactor) = &self.reactor else { return };
        let forever = timeout == Duration::MAX;
        // Each packet is handed out or queued inside the sink, before the
        // reactor stops counting its operation as in flight: shutdown must
        // never see "nothing in flight" while a packet sits in our hands.
        let mut tried_keeping = false;
        reactor.poll(if forever { None } else { Some(timeout) }, &mut |item| {
            let item = if tried_keeping {
                item
            } else {
                tried_keeping = true;
                match self.keep_for_self(node, item) {
                    None => return,
                    Some(item) => item,
                }
            };
            self.post_even_if_closed(item);
        });
    }

    /// The poller keeps the first packet it reaped if it may run it (it is
    /// still waiting and `active < limit`); otherwise the packet comes back.
    fn keep_for_self(&self, node: &Waiter<T>, item: T) -> Option<T> {
        let mut stack = self.waiters.lock();
        let s = self.load();
        if node.state.load(Ordering::Acquire) != WAITING || s.active() >= self.limit || s.closed() {
            return Some(item);
        }
        let me = NonNull::from(node);
        let Some(pos) = stack.iter().rposition(|w| w.0 == me) else {
            return Some(item);
        };
        stack.remove(pos);
        self.update(|s| s.with_waiting(s.waiting() - 1).with_active(s.active() + 1));
        // SAFETY: we own the node and just took it off the stack, so nobody
        // else writes its slot.
        unsafe { *node.slot.get() = Some(item) };
        node.state.store(HANDED, Ordering::Release);
        None
    }

    /// The node left the stack with `state`: deliver its packet (plus up to
    /// `max - 1` more queued ones) or report the close.
    fn finish(
        &self,
        node: &Waiter<T>,
        state: u32,
        max: u32,
        sink: &mut dyn FnMut(T),
    ) -> Result<u32, GetError> {
        if state == CLOSED {
            return Err(GetError::Closed);
        }
        // SAFETY: state HANDED was stored with Release after the slot was written
        // and we loaded it with Acquire; the node is off the stack, so nobody else
        // touches the slot any more.
        let item = unsafe { (*node.slot.get()).take() };
        let Some(item) = item else {
            return Err(GetError::Closed);
        };
        sink(item);
        // Already active: extra packets for get_many cost no slot.
        Ok(1 + self.take_queued(max - 1, sink))
    }

    /// Takes up to `max` queued packets without any concurrency check (the caller
    /// is active already, or is not a worker at all: `drain`).
    fn take_queued(&self, max: u32, sink: &mut dyn FnMut(T)) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut s = self.load();
        loop {
            let n = s.queued().min(max);
            if n == 0 {
                return 0;
            }
            match self.cas(s, s.with_queued(s.queued() - n)) {
                Ok(()) => {
                    (0..n).for_each(|_| sink(self.pop_reserved()));
                    return n;
                }
                Err(cur) => s = cur,
            }
        }
    }

    /// Removes every queued packet without blocking and without touching the
    /// caller's concurrency accounting (for non-worker threads and after close).
    pub(crate) fn drain(&self, sink: &mut dyn FnMut(T)) -> u32 {
        self.take_queued(u32::MAX, sink)
    }

    /// An active thread stops counting (blocking-section entry, thread exit,
    /// moving to another port). If that frees a slot while a packet is queued
    /// and a thread waits, the most recent waiter is released with the oldest
    /// packet (invariant I).
    pub(crate) fn deactivate(&self) {
        self.flush(true);
        let mut s = self.load();
        loop {
            let new = s.with_active(s.active().saturating_sub(1));
            if Self::releasable(new, self.limit) {
                return self.deactivate_and_release();
            }
            match self.cas(s, new) {
                Ok(()) => return,
                Err(cur) => s = cur,
            }
        }
    }

    #[inline]
    fn releasable(s: State, limit: u32) -> bool {
        s.queued() > 0 && s.waiting() > 0 && s.active() < limit && !s.closed()
    }

    #[cold]
    fn deactivate_and_release(&self) {
        let stack = self.waiters.lock();
        let mut s = self.load();
        loop {
            let new = s.with_active(s.active().saturating_sub(1));
            if Self::releasable(new, self.limit) {
                let released = new
                    .with_queued(new.queued() - 1)
                    .with_waiting(new.waiting() - 1)
                    .with_active(new.active() + 1);
                if let Err(cur) = self.cas(s, released) {
                    s = cur;
                    continue;
                }
                return self.release_top_waiter(stack);
            }
            match self.cas(s, new) {
                Ok(()) => return,
                Err(cur) => s = cur,
            }
        }
    }

    /// A thread counts as active again (end of a blocking section). This may
    /// exceed the limit; no waiter is released until active drops below it.
    pub(crate) fn activate(&self) {
        self.update(|s| s.with_active((s.active() + 1).min(MAX_THREADS)));
    }

    /// Blocking-section entry: active → paused (may release a waiter).
    pub(crate) fn pause(&self) {
        self.paused.fetch_add(1, Ordering::Relaxed);
        self.deactivate();
    }

    /// Blocking-section exit: paused → active.
    pub(crate) fn resume(&self) {
        self.activate();
        self.paused.fetch_sub(1, Ordering::Relaxed);
    }

    /// A paused thread leaves the port for good (it exited or moved on).
    pub(crate) fn forget_paused(&self) {
        self.paused.fetch_sub(1, Ordering::Relaxed);
    }

    /// Closes the port: later posts fail; every waiting thread (all of them,
    /// not only the most recent) is woken — with a queued packet while there
    /// are any, limit or not, then with `Closed`. Packets still queued (or
    /// completed later) are returned by `get` before it reports `Closed`, and
    /// by [`drain`](Self::drain). Returns `false` if it was closed already.
    pub(crate) fn close(&self) -> bool {
        let mut stack = self.waiters.lock();
        let mut s = self.load();
        loop {
            if s.closed() {
                return false;
            }
            match self.cas(s, s.with_closed().with_waiting(0)) {
                Ok(()) => break,
                Err(cur) => s = cur,
            }
        }
        let mut wakes = Vec::with_capacity(stack.len());
        while !stack.is_empty() {
            // Most recent waiter first: a queued packet if any is left.
            let s = self.load();
            if s.queued() > 0 {
                if self
                    .cas(s, s.with_queued(s.queued() - 1).with_active(s.active() + 1))
                    .is_ok()
                {
                    let item = self.pop_reserved();
                    wakes.push(Self::deliver(&mut stack, item));
                }
                continue;
            }
            let Some(w) = stack.pop() else { break };
            // SAFETY: as in `deliver`: the node is alive while on the stack and
            // its owner reads nothing from it before seeing this store.
            unsafe {
                let node = w.0.as_ref();
                wakes.push(Self::wake_for(node));
                node.state.store(CLOSED, Ordering::Release);
            }
        }
        drop(stack);
        wakes.into_iter().for_each(|w| self.wake(w));
        true
    }
}
