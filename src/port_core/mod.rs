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
//!   caller's sink. If it unwinds, guards ([`guards::Abandon`], [`OnUnwind`], the
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
mod waiting;

use std::time::Duration;

use crossbeam_utils::CachePadded;

use self::guards::{Helper, OnUnwind};
pub(crate) use self::reactor::{FlushHint, Reactor};
use self::state::{State, MAX_THREADS};
use self::waiting::{Stack, Waiter, WaiterRef, CLOSED, HANDED, POLLING, POLL_REQUESTED};
use crate::error::GetError;
use crate::loom::{
    fence, spin_loop, yield_now, AtomicBool, AtomicU64, AtomicUsize, Deadline, Mutex, Ordering,
    Queue, Thread, PRE_SPIN, PRE_YIELD,
};

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
