//! The port core: the completion-port algorithm (docs/semantics.md, "Queue
//! rules" and "Threads"), generic over the packet type — the FIFO queue, the
//! state word, the LIFO waiters with direct hand-off, the concurrency limit,
//! the threads' association. It owns no I/O and knows none: packets are
//! items of type `T`, and completed I/O arrives only through [`Reactor`]. It
//! may not import the op layer, the backends or the public `Port`.
//!
//! # Implementation notes
//!
//! * Packets live in a lock-free FIFO queue, which also counts them. The
//!   thread counters (active, waiting, closed) live in one atomic [`State`]
//!   word; every decision about threads ("take a slot", "hand a packet to a
//!   waiter", "join the waiters") is one CAS on it.
//! * The hot paths do not write the state word: a worker that returns to
//!   `get` keeps its slot and pops the next packet (docs/semantics.md, "Queue rules": it
//!   stops counting and counts again, a no-op), and a post that finds nobody
//!   waiting only pushes. So a producer and a consumer each make one atomic
//!   read-modify-write per packet, on the queue's tail and head, as in a
//!   channel. A hot worker that finds the queue empty spins briefly on it
//!   before it joins the waiters, still holding its slot — as if it came
//!   back to `get` a moment later.
//! * Waiters form a LIFO stack of nodes that live on the waiting threads' own
//!   stacks; each thread parks on its own parker. The stack is behind a mutex,
//!   taken only on the slow paths (a thread must sleep, or a sleeping thread must
//!   be handed a packet). `waiting` in the state word always equals the stack's
//!   length outside that mutex, so lock-free posters can tell whether anyone waits.
//! * Invariant I: in every stable state it is never true that a packet is queued,
//!   a thread waits, `active < limit` and the port is open. The steps that
//!   could create that state — a push, a slot given back, a thread joining the
//!   waiters — are each followed by a SeqCst fence and a look at the other
//!   side (a push looks at the state word; the others look at the queue), so
//!   of two racing steps at least one sees the other (the store-buffering
//!   pattern) and hands the oldest packet to the most recent waiter, under
//!   the waiters mutex ([`Core::release_locked`]).
//! * Wakes happen after the mutex is released (decide under the lock, make the
//!   system call after unlocking).
//! * Panic safety: user code runs inside the port core — the reactor's `poll`
//!   (a completion filter, `K::clone`, drops of values and buffers) and the
//!   caller's sink. If it unwinds, guards ([`Abandon`], [`OnUnwind`], the
//!   helper reaper's drop) take the waiter's node off the stack, pass the
//!   poller role on, re-queue a packet already written into the node, and
//!   restore the thread's accounting to what it was before the call (which
//!   is what its thread-local association still says). Packets not yet
//!   popped simply stay queued. The port stays usable.

pub(crate) mod association;
mod guards;
#[cfg(not(loom))]
pub(crate) mod queue;
mod reactor;
pub(crate) mod state;

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use self::guards::{Abandon, Helper, OnUnwind};
pub(crate) use self::reactor::{FlushHint, Reactor};
use self::state::{State, MAX_THREADS};
use crate::error::GetError;
use crate::loom::{
    current, fence, park, park_timeout, spin_loop, yield_now, AtomicBool, AtomicU32, AtomicU64,
    AtomicUsize, Deadline, Mutex, MutexGuard, Ordering, Queue, Thread, PRE_SPIN, PRE_YIELD,
    SPIN_LIMIT, YIELD_LIMIT,
};

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
    /// Set (under the waiters mutex) by [`Core::interrupt`]: the waiter
    /// withdraws as if its deadline had passed.
    interrupted: AtomicBool,
}

/// Pointer to a [`Waiter`] on the LIFO stack.
struct WaiterRef<T>(NonNull<Waiter<T>>);

// SAFETY: the pointee is only touched under the waiters mutex (slot write, state
// store) while its owner keeps it alive (see `Core::wait`); `T: Send` because the
// packet moves from the posting thread to the waiting one.
unsafe impl<T: Send> Send for WaiterRef<T> {}

type Stack<'a, T> = MutexGuard<'a, Vec<WaiterRef<T>>>;

/// Snapshot of a port's counters (docs/semantics.md, "Threads").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Operations started whose packet has not been delivered yet (handed
    /// to a thread or queued). Filled in by the port, which owns the I/O.
    pub in_flight: u32,
    /// Timers (`post_after`) that have neither fired nor been cancelled.
    pub timers: u32,
}

pub(crate) struct Core<T> {
    /// Read by every post and get, written on slow paths only: alone on its
    /// cache line, so that writes to neighbours do not invalidate it.
    state: CachePadded<AtomicU64>,
    limit: u32,
    queue: Queue<T>,
    /// LIFO stack of waiters: the last element is the most recent waiter.
    waiters: Mutex<Vec<WaiterRef<T>>>,
    /// A waiter holds (or was asked to take) the poller role. Changed only
    /// under the waiters lock; read without it as a hint.
    poller: AtomicBool,
    reactor: Option<Box<dyn Reactor<T>>>,
    /// The reactor's [`FlushHint`]: lets `get` skip the call to
    /// [`Reactor::flush`] when it would find nothing to do.
    flush_hint: Option<std::sync::Arc<FlushHint>>,
    paused: AtomicUsize,
}

/// How to wake a waiter that was handed a packet or the port's close.
enum Wake {
    Thread(Thread),
    /// The waiter is the poller, maybe blocked in the kernel.
    Reactor,
}

/// The waiters released under the lock, to wake after unlocking.
#[derive(Default)]
struct Wakes {
    first: Option<Wake>,
    /// Rare: one event released more than one waiter.
    more: Vec<Wake>,
}

impl Wakes {
    fn push(&mut self, wake: Option<Wake>) {
        match (&self.first, wake) {
            (_, None) => {}
            (None, w) => self.first = w,
            (Some(_), Some(w)) => self.more.push(w),
        }
    }
}

impl<T> Core<T> {
    /// `limit` must be in `1..=MAX_THREADS` (the builder checks it).
    pub(crate) fn new(limit: u32, reactor: Option<Box<dyn Reactor<T>>>) -> Self {
        debug_assert!((1..=MAX_THREADS).contains(&limit));
        let flush_hint = reactor.as_ref().and_then(|r| r.flush_hint());
        Core {
            state: CachePadded::new(AtomicU64::new(0)),
            limit,
            queue: Queue::new(),
            waiters: Mutex::new(Vec::new()),
            poller: AtomicBool::new(false),
            reactor,
            flush_hint,
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
            if self.flush_hint.as_ref().is_none_or(|h| h.wanted(urgent)) {
                r.flush(urgent)
            }
        }
    }

    /// [`flush`](Self::flush) before running a packet: urgent if threads
    /// wait, which could run completions this thread holds up. With nobody
    /// waiting and more packets queued, the thread keeps what it deferred
    /// until the last packet of the batch (like an event loop's tick): it
    /// comes back for the next one anyway, nobody else could run what the
    /// kernel completes meanwhile, and the batch goes in with one system
    /// call instead of one per packet. Costs one load when the hint says no
    /// flush has anything to do.
    #[inline]
    fn flush_before_packet(&self) {
        if self.reactor.is_some() && self.flush_hint.as_ref().is_none_or(|h| h.any()) {
            let waiting = self.load().waiting() > 0;
            if waiting || self.queue.is_empty() {
                self.flush(waiting)
            }
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

    fn wake_all(&self, wakes: Wakes) {
        if let Some(w) = wakes.first {
            self.wake(w);
        }
        wakes.more.into_iter().for_each(|w| self.wake(w));
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
    fn promote(&self, stack: &mut Stack<'_, T>) -> Option<Thread> {
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
        // Its drop gives the role up and posts what was reaped, also if the
        // reactor unwinds (user code runs in `poll`).
        let mut helper = Helper {
            core: self,
            items: Vec::new(),
        };
        reactor.poll(Some(timeout), &mut |t| helper.items.push(t));
        drop(helper);
        true
    }

    /// Makes the waiting thread `is_target` picks (the most recent such)
    /// withdraw from its wait as if its deadline had passed: its `take`
    /// returns `TimedOut`, unless a packet or the port's close reaches it
    /// first. Returns whether such a thread was waiting.
    #[cfg_attr(loom, allow(dead_code))] // the public caller is not built under loom
    pub(crate) fn interrupt(&self, is_target: &dyn Fn(&Thread) -> bool) -> bool {
        let (thread, polling) = {
            let stack = self.waiters.lock();
            let node = stack
                .iter()
                .rev()
                .map(|w| {
                    // SAFETY: a node on the stack is alive while we hold the
                    // waiters lock: its owner leaves only after taking it off
                    // under this lock, or after a hand-off or close popped it
                    // under this lock.
                    unsafe { w.0.as_ref() }
                })
                .find(|node| is_target(&node.thread));
            let Some(node) = node else {
                return false;
            };
            node.interrupted.store(true, Ordering::Release);
            (
                node.thread.clone(),
                node.role.load(Ordering::Acquire) == POLLING,
            )
        };
        if polling {
            self.interrupt_poller();
        }
        thread.unpark();
        true
    }

    /// Wakes whoever polls the reactor (see `Port::interrupt_reap`).
    pub(crate) fn interrupt_poller(&self) {
        if let Some(reactor) = &self.reactor {
            reactor.wake();
        }
    }

    /// Queues a completed operation's packet; after close it still goes into
    /// the queue, where `get` and `drain` find it.
    pub(crate) fn post_even_if_closed(&self, item: T) {
        if let Err(item) = self.post(item) {
            self.queue.push(item);
            self.pushed();
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
        match self.promote(&mut stack) {
            Some(thread) => {
                drop(stack);
                thread.unpark();
            }
            None => {
                drop(stack);
                self.poller_gone();
            }
        }
    }

    /// Nobody holds the poller role any more: tell the reactor (see
    /// [`Reactor::poller_gone`]).
    pub(super) fn poller_gone(&self) {
        if let Some(r) = &self.reactor {
            r.poller_gone();
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
            queued: u32::try_from(self.queue.len()).unwrap_or(u32::MAX),
            waiting: s.waiting(),
            active: s.active(),
            paused: self.paused.load(Ordering::Relaxed) as u32,
            limit: self.limit,
            in_flight: 0,
            timers: 0,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.load().closed()
    }

    /// Enqueues `item` (PostQueuedCompletionStatus, or a completed operation).
    /// A closed port hands the item back.
    #[inline]
    pub(crate) fn post(&self, item: T) -> Result<(), T> {
        if self.load().closed() {
            return Err(item);
        }
        // A post that races `close` past this check is queued and stays
        // collectable by `get` and `drain`: nothing is lost.
        self.queue.push(item);
        self.pushed();
        Ok(())
    }

    /// After a push: if a waiter may run it, give the oldest packet to the
    /// most recent waiter (invariant I).
    #[inline]
    fn pushed(&self) {
        // Store-buffering with `joined` / `gave_back`: either this load sees
        // the waiter (and the free slot), or that thread sees the packet.
        fence(Ordering::SeqCst);
        if Self::releasable(self.load(), self.limit) {
            self.release();
        }
    }

    /// A thread waits, a slot is free and the port is open: a queued packet
    /// must go to the most recent waiter.
    #[inline]
    fn releasable(s: State, limit: u32) -> bool {
        s.waiting() > 0 && s.active() < limit && !s.closed()
    }

    #[cold]
    fn release(&self) {
        let mut stack = self.waiters.lock();
        let wakes = self.release_locked(&mut stack);
        drop(stack);
        self.wake_all(wakes);
    }

    /// Under the waiters lock: while a thread waits, a slot is free and a
    /// packet is queued, hand the oldest packet to the most recent waiter.
    /// Returns whom to wake after unlocking.
    fn release_locked(&self, stack: &mut Stack<'_, T>) -> Wakes {
        let mut wakes = Wakes::default();
        let mut s = self.load();
        loop {
            if !Self::releasable(s, self.limit) || self.queue.is_empty() {
                return wakes;
            }
            // Take the waiter off the count and give it a slot; then its packet.
            let new = s.with_waiting(s.waiting() - 1).with_active(s.active() + 1);
            if let Err(cur) = self.cas(s, new) {
                s = cur;
                continue;
            }
            match self.queue.pop() {
                Some(item) => {
                    wakes.push(self.deliver(stack, item));
                    s = self.load();
                }
                None => {
                    // A worker took it first. Give the waiter and the slot
                    // back, then look again: a post that saw our reservation
                    // left its packet to us.
                    s = self.update(|s| {
                        s.with_waiting(s.waiting() + 1)
                            .with_active(s.active().saturating_sub(1))
                    });
                    fence(Ordering::SeqCst);
                }
            }
        }
    }

    /// Gives `item` to the most recent waiter. The caller holds the waiters lock
    /// and has already decremented `waiting` for it and given it a slot; it
    /// wakes the returned waiter after unlocking.
    fn deliver(&self, stack: &mut Stack<'_, T>, item: T) -> Option<Wake> {
        let Some(top) = stack.pop() else {
            // Unreachable: `waiting` counts the nodes on the stack. Never
            // panic here (this runs in drops and unwind guards): queue the
            // packet and take back the slot given to the missing waiter.
            self.queue.push(item);
            self.update(|s| s.with_active(s.active().saturating_sub(1)));
            return None;
        };
        // The node is alive: its owner only returns (or unwinds, see `Abandon`)
        // after observing a state other than WAITING, or after removing the
        // node under the lock we hold. We popped it, so nobody else writes its
        // slot; the owner reads the slot only after the Release store below.
        // SAFETY: hence the write to the live node's slot is exclusive.
        unsafe {
            let node = top.0.as_ref();
            *node.slot.get() = Some(item);
            let wake = Self::wake_for(node);
            node.state.store(HANDED, Ordering::Release);
            Some(wake)
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
    /// port (it stops counting first: docs/semantics.md, "Threads"). On `Ok` the thread is
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
        let before = u32::from(was_active);
        match self.try_take(before) {
            Some(item) => Ok(self.hand_out(before, item, max, sink)),
            None => self.take_slow(before, max, timeout, Deadline::after(timeout), true, sink),
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
        let before = u32::from(was_active);
        if let Some(item) = self.try_take(before) {
            self.flush_before_packet();
            return Ok(item);
        }
        let deadline = Deadline::after(timeout);
        if timeout != Some(Duration::ZERO) {
            if let Some(item) = self.watch_queue(before, &deadline) {
                self.flush_before_packet();
                return Ok(item);
            }
        }
        let mut out = None;
        self.take_slow(before, 1, timeout, deadline, false, &mut |t| out = Some(t))?;
        out.ok_or(GetError::Closed)
    }

    /// Fast path of `take` (docs/semantics.md, "Queue rules"): the oldest packet, if the
    /// calling thread may run it now. A thread that holds a slot (`slot ==
    /// 1`) keeps it: it stops counting and counts again, which changes
    /// nothing, so it only pops. Otherwise it takes a free slot first and
    /// gives it back if the queue turned out empty.
    #[inline]
    fn try_take(&self, slot: u32) -> Option<T> {
        let s = self.load();
        if slot == 1 {
            // A closed port hands out what is still queued, limit or not, so
            // that every packet is delivered before `Closed` is reported.
            if s.active() <= self.limit || s.closed() {
                return self.queue.pop();
            }
            return None;
        }
        if self.queue.is_empty() {
            return None;
        }
        self.take_with_new_slot(s)
    }

    #[cold]
    fn take_with_new_slot(&self, mut s: State) -> Option<T> {
        loop {
            if s.active() >= self.limit && !s.closed() {
                return None;
            }
            match self.cas(s, s.with_active(s.active() + 1)) {
                Ok(()) => break,
                Err(cur) => s = cur,
            }
        }
        let item = self.queue.pop();
        if item.is_none() {
            self.give_back();
        }
        item
    }

    /// The caller took `first` with a slot: feeds it and up to `max - 1`
    /// more queued packets (they cost no further slot) to `sink`. If the sink
    /// unwinds, the caller's accounting goes back to `before`, as the
    /// thread-local association, which the unwind skips, still says.
    fn hand_out(&self, before: u32, first: T, max: u32, sink: &mut dyn FnMut(T)) -> u32 {
        let restore = OnUnwind::new(|| {
            if before == 0 {
                self.deactivate()
            }
        });
        sink(first);
        let n = 1 + self.take_queued(max - 1, sink);
        restore.disarm();
        self.flush_before_packet();
        n
    }

    /// `deadline` is `timeout` from the call's start; `watch`: whether to
    /// watch the queue first (`take_one` did already).
    #[cold]
    fn take_slow(
        &self,
        slot: u32,
        max: u32,
        timeout: Option<Duration>,
        deadline: Deadline,
        watch: bool,
        sink: &mut dyn FnMut(T),
    ) -> Result<u32, GetError> {
        if timeout == Some(Duration::ZERO) && !self.busy() {
            if self.load().closed() && self.queue.is_empty() {
                if slot == 1 {
                    self.update(|s| s.with_active(s.active().saturating_sub(1)));
                }
                return Err(GetError::Closed);
            }
            // Nothing for us and no wait: the thread keeps (or takes) its slot.
            if slot == 0 {
                self.activate();
            }
            return Err(GetError::TimedOut);
        }
        if watch && timeout != Some(Duration::ZERO) {
            if let Some(item) = self.watch_queue(slot, &deadline) {
                return Ok(self.hand_out(1, item, max, sink));
            }
        }
        self.wait(slot, max, deadline, sink)
    }

    /// A hot worker (it holds a slot: `slot == 1`) that found the queue
    /// empty watches it for a moment before it sleeps: a producer on another
    /// CPU usually posts again within microseconds, and the packet is then
    /// taken like any queued one, with no hand-off and no wake. The thread
    /// is not a waiter yet — as if it came back to `get` a moment later — so
    /// a packet that a waiter may run still goes to that waiter. Not under a
    /// deadline of zero (the caller checks), and not while operations are in
    /// flight: then packets come from the poller, the thread may be needed
    /// as the poller, deferred submissions wait for its enter, and on a
    /// server pinned to one CPU the spin would take the poller's time.
    #[inline]
    fn watch_queue(&self, slot: u32, deadline: &Deadline) -> Option<T> {
        if slot == 0 || self.busy() {
            return None;
        }
        for step in 0..PRE_SPIN + PRE_YIELD {
            if step < PRE_SPIN {
                spin_loop();
            } else {
                yield_now();
            }
            if step % 32 == 31 && deadline.remaining().is_none() {
                return None;
            }
            if self.queue.is_empty() {
                if self.load().closed() {
                    return None;
                }
                continue;
            }
            if let Some(item) = self.try_take(1) {
                return Some(item);
            }
        }
        None
    }

    /// Slow path of [`take`](Self::take): join the LIFO waiters and sleep.
    /// `before` is the caller's slot (0 or 1).
    #[cold]
    fn wait(
        &self,
        before: u32,
        max: u32,
        deadline: Deadline,
        sink: &mut dyn FnMut(T),
    ) -> Result<u32, GetError> {
        let node = Waiter {
            state: AtomicU32::new(WAITING),
            slot: UnsafeCell::new(None),
            thread: current(),
            role: AtomicU32::new(FOLLOWER),
            interrupted: AtomicBool::new(false),
        };
        let mut slot = before;
        let wakes = {
            let mut stack = self.waiters.lock();
            let mut s = self.load();
            loop {
                if s.closed() && self.queue.is_empty() {
                    drop(stack);
                    if slot == 1 {
                        self.update(|s| s.with_active(s.active().saturating_sub(1)));
                    }
                    return Err(GetError::Closed);
                }
                let active = s.active().saturating_sub(slot);
                if !self.queue.is_empty() && (active < self.limit || s.closed()) {
                    // A packet came while we took the lock: take it ourselves.
                    if slot == 0 {
                        if let Err(cur) = self.cas(s, s.with_active(s.active() + 1)) {
                            s = cur;
                            continue;
                        }
                        slot = 1;
                    }
                    if let Some(item) = self.queue.pop() {
                        drop(stack);
                        return Ok(self.hand_out(before, item, max, sink));
                    }
                    // Taken by someone else: we hold a slot; look again.
                    s = self.load();
                    continue;
                }
                if s.waiting() >= MAX_THREADS {
                    // More waiters than the state word counts: back off and retry.
                    drop(stack);
                    std::thread::yield_now();
                    stack = self.waiters.lock();
                    s = self.load();
                    continue;
                }
                // Join: the thread stops counting as active (docs/semantics.md, "Threads").
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
            // Store-buffering with `pushed` (see the module notes): a post
            // that pushed before our CAS may have seen nobody waiting. Then
            // its packet goes to the most recent waiter now — us, or one
            // our leaving let run.
            fence(Ordering::SeqCst);
            let mut wakes = self.release_locked(&mut stack);
            if node.state.load(Ordering::Relaxed) != WAITING {
                // The first release went to the top of the stack: us, awake.
                wakes.first = None;
            }
            wakes
        };
        self.wake_all(wakes);
        // From here the node is reachable through the stack: this function must
        // not return before the node left it (popped by a hand-off or close, seen
        // as a state other than WAITING, or removed by us under the lock) —
        // nor unwind: `guard` takes it off if user code in the reactor or the
        // sink panics.
        let guard = Abandon {
            core: self,
            node: &node,
            before,
        };
        if node.role.load(Ordering::Relaxed) != POLLING {
            // Only the poller's own enter carries deferred submissions. (Work
            // only this thread can finish interrupts its sleep by itself.)
            self.flush(false);
        }
        let mut spins = 0;
        let mut polled_after_deadline = false;
        loop {
            let state = node.state.load(Ordering::Acquire);
            if state != WAITING {
                self.resign(&node);
                let taken = self.collect(&node, state, max, sink);
                guard.disarm();
                return taken;
            }
            if node.interrupted.load(Ordering::Acquire) {
                break;
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
        // The deadline passed (or the wait was interrupted): withdraw, unless
        // a hand-off or close got there first.
        let mut stack = self.waiters.lock();
        let state = node.state.load(Ordering::Acquire);
        if state != WAITING {
            drop(stack);
            self.resign(&node);
            let taken = self.collect(&node, state, max, sink);
            guard.disarm();
            return taken;
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
        guard.disarm();
        Err(GetError::TimedOut)
    }

    /// A waiter unwinds (see [`Abandon`]): its node leaves the stack, the
    /// poller role passes on, a packet already written into its slot is
    /// re-queued (behind what is queued: FIFO is kept only among packets
    /// that were never taken), and the thread's accounting goes back to
    /// `before`, what it was before the call.
    #[cold]
    fn abandon(&self, node: &Waiter<T>, before: u32) {
        let (counted, item) = {
            let mut stack = self.waiters.lock();
            match node.state.load(Ordering::Acquire) {
                WAITING => {
                    let me = NonNull::from(node);
                    match stack.iter().rposition(|w| w.0 == me) {
                        Some(pos) => {
                            stack.remove(pos);
                            self.update(|s| s.with_waiting(s.waiting() - 1));
                            (0, None)
                        }
                        // Withdrawn after its deadline, which counted it active.
                        None => (1, None),
                    }
                }
                // SAFETY: HANDED was stored (Release) after the slot was
                // written and we loaded it with Acquire; the node is off the
                // stack, so nobody else touches the slot.
                HANDED => (1, unsafe { (*node.slot.get()).take() }),
                // CLOSED: `close` took it off the stack and the count.
                _ => (0, None),
            }
        };
        // Off the stack now, so the role cannot come back to us.
        self.resign(node);
        if let Some(item) = item {
            self.post_even_if_closed(item);
        }
        match counted.cmp(&before) {
            std::cmp::Ordering::Greater => self.deactivate(),
            std::cmp::Ordering::Less => self.activate(),
            std::cmp::Ordering::Equal => {}
        }
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
    fn collect(
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
        let mut n = 0;
        while n < max {
            let Some(item) = self.queue.pop() else { break };
            n += 1;
            sink(item);
        }
        n
    }

    /// Removes the packets queued when it starts, without blocking and
    /// without touching the caller's concurrency accounting (for non-worker
    /// threads and after close).
    pub(crate) fn drain(&self, sink: &mut dyn FnMut(T)) -> u32 {
        let queued = u32::try_from(self.queue.len()).unwrap_or(u32::MAX);
        self.take_queued(queued, sink)
    }

    /// An active thread stops counting (blocking-section entry, thread exit,
    /// moving to another port). If that frees a slot while a packet is queued
    /// and a thread waits, the most recent waiter is released with the oldest
    /// packet (invariant I).
    pub(crate) fn deactivate(&self) {
        self.flush(true);
        self.give_back();
    }

    /// The caller's slot is free again; see [`deactivate`](Self::deactivate).
    fn give_back(&self) {
        let s = self.update(|s| s.with_active(s.active().saturating_sub(1)));
        if s.waiting() == 0 || s.closed() {
            return;
        }
        // Store-buffering with `pushed`: either that post sees the free
        // slot, or we see its packet.
        fence(Ordering::SeqCst);
        if !self.queue.is_empty() && Self::releasable(self.load(), self.limit) {
            self.release();
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
        let mut wakes = Wakes::default();
        while !stack.is_empty() {
            // Most recent waiter first: a queued packet if any is left.
            if let Some(item) = self.queue.pop() {
                self.activate();
                wakes.push(self.deliver(&mut stack, item));
                continue;
            }
            let Some(w) = stack.pop() else { break };
            // SAFETY: as in `deliver`: the node is alive while on the stack and
            // its owner reads nothing from it before seeing this store.
            unsafe {
                let node = w.0.as_ref();
                wakes.push(Some(Self::wake_for(node)));
                node.state.store(CLOSED, Ordering::Release);
            }
        }
        drop(stack);
        self.wake_all(wakes);
        true
    }
}

/// Panic safety of the port core against a mock reactor (the loom models in
/// `loom_models.rs` check the interleavings; these check the unwind paths).
#[cfg(all(test, not(loom)))]
mod tests;
