//! The waiters: a thread that finds nothing to run joins the LIFO stack of
//! waiters and sleeps on its own parker, or — as the poller — in the
//! reactor; a hand-off, the port's close, its deadline or an interrupt ends
//! its wait ([`Core::wait`]). Also how a waiter leaves: by unwinding
//! ([`Core::abandon`]), by giving up the poller role ([`Core::resign`]).
//! The rules are in the module notes of the port core.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::time::Duration;

use super::guards::Abandon;
use super::state::MAX_THREADS;
use super::Core;
use crate::error::GetError;
use crate::loom::{
    current, fence, park, park_timeout, spin_loop, yield_now, AtomicBool, AtomicU32, Deadline,
    MutexGuard, Ordering, Thread, SPIN_LIMIT, YIELD_LIMIT,
};

/// A waiter that sleeps on its parker.
pub(super) const FOLLOWER: u32 = 0;
/// A waiter asked to become the poller (set under the waiters lock).
pub(super) const POLL_REQUESTED: u32 = 1;
/// The waiter that reaps completions (at most one per port).
pub(super) const POLLING: u32 = 2;

/// A waiter's node is on the stack and has not been given anything yet.
pub(super) const WAITING: u32 = 0;
/// A packet was written into the node's slot; the waiter is now active.
pub(super) const HANDED: u32 = 1;
/// The port was closed; the waiter returns [`GetError::Closed`].
pub(super) const CLOSED: u32 = 2;

/// A thread blocked in `get`, living on that thread's stack.
pub(super) struct Waiter<T> {
    pub(super) state: AtomicU32,
    /// Written only by the thread that pops the node off the stack (under the
    /// waiters mutex) before it publishes `HANDED`; read by the owner only after
    /// it observed `HANDED`.
    pub(super) slot: UnsafeCell<Option<T>>,
    pub(super) thread: Thread,
    /// FOLLOWER, POLL_REQUESTED or POLLING: how to wake it, what to do when woken.
    pub(super) role: AtomicU32,
    /// Set (under the waiters mutex) by [`Core::interrupt`]: the waiter
    /// withdraws as if its deadline had passed.
    pub(super) interrupted: AtomicBool,
}

/// Pointer to a [`Waiter`] on the LIFO stack.
pub(super) struct WaiterRef<T>(pub(super) NonNull<Waiter<T>>);

// SAFETY: the pointee is only touched under the waiters mutex (slot write, state
// store) while its owner keeps it alive (see `Core::wait`); `T: Send` because the
// packet moves from the posting thread to the waiting one.
unsafe impl<T: Send> Send for WaiterRef<T> {}

pub(super) type Stack<'a, T> = MutexGuard<'a, Vec<WaiterRef<T>>>;

impl<T> Core<T> {
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

    /// The calling waiter gives up the poller role (it got a packet, timed
    /// out, or the port closed); another waiter takes it over if needed.
    pub(super) fn resign(&self, node: &Waiter<T>) {
        if node.role.swap(FOLLOWER, Ordering::AcqRel) == FOLLOWER {
            return;
        }
        self.give_up_poller_role();
    }

    /// The poller (a waiter, or a helper reaper) stops polling: the most
    /// recent waiter is asked to take the role over, or, with nobody to ask,
    /// the reactor is told.
    pub(super) fn give_up_poller_role(&self) {
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

    /// Slow path of [`take`](Self::take): join the LIFO waiters and sleep.
    /// `before` is the caller's slot (0 or 1).
    #[cold]
    pub(super) fn wait(
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
    pub(super) fn abandon(&self, node: &Waiter<T>, before: u32) {
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
    pub(super) fn poll_once(&self, node: &Waiter<T>, timeout: Duration) {
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
    pub(super) fn keep_for_self(&self, node: &Waiter<T>, item: T) -> Option<T> {
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
    pub(super) fn collect(
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
}
