//! Timers: packets queued after a delay (`Port::post_after`). They live in
//! the op layer beside the operations' own deadlines: the poller waits no
//! longer than the earliest timer, and each reap queues the packets of the
//! timers that are due. No thread of its own: a port with pending timers is
//! busy, so a waiting thread polls (docs/semantics.md, "Operations and packets").

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::*;

/// Identifies a timer started by [`Port::post_after`](crate::Port::post_after),
/// for [`Port::cancel_timer`](crate::Port::cancel_timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

/// A timer's packet, kept until it is due or cancelled.
struct Pending<K, V> {
    key: K,
    bytes: usize,
    value: V,
}

/// The pending timers of one port.
pub(super) struct Timers<K, V> {
    /// Deadlines, earliest first; entries of cancelled timers are skipped.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    pending: HashMap<u64, Pending<K, V>>,
    next_id: u64,
}

impl<K, V> Default for Timers<K, V> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            pending: HashMap::new(),
            next_id: 0,
        }
    }
}

impl<K, V> Timers<K, V> {
    /// Drops heap entries of cancelled timers from the top; the earliest
    /// pending deadline after that.
    fn earliest(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, id))) = self.heap.peek() {
            if self.pending.contains_key(&id) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }
}

impl<K, V, B> Io<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    /// Starts a timer; returns its id and whether it is now the earliest (the
    /// poller must then wake to wait less). Refused after shutdown, and when
    /// the backend (which the poller sleeps in) cannot be opened.
    pub(crate) fn add_timer(
        &self,
        deadline: Instant,
        key: K,
        bytes: usize,
        value: V,
    ) -> Result<(TimerId, bool), (io::Error, V)> {
        if let Err(e) = self.backend.open() {
            return Err((e, value));
        }
        let mut timers = self.timers.lock();
        // Read under the timers lock: shutdown sets it before it takes the
        // pending timers under the same lock, so no timer slips past it.
        if self.refusing.load(Ordering::Acquire) {
            return Err((shutting_down(), value));
        }
        let id = timers.next_id;
        timers.next_id += 1;
        let earliest = timers.earliest().is_none_or(|first| deadline < first);
        timers.heap.push(Reverse((deadline, id)));
        timers.pending.insert(id, Pending { key, bytes, value });
        self.timer_count
            .store(timers.pending.len(), Ordering::Release);
        Ok((TimerId(id), earliest))
    }

    /// Cancels a pending timer: its value back, and its packet never comes.
    /// `None` if it fired (its packet is on its way or taken) or was cancelled.
    pub(crate) fn cancel_timer(&self, id: TimerId) -> Option<V> {
        let mut timers = self.timers.lock();
        let pending = timers.pending.remove(&id.0)?;
        if timers.pending.is_empty() {
            timers.heap.clear();
        }
        self.timer_count
            .store(timers.pending.len(), Ordering::Release);
        drop(timers);
        Some(pending.value)
    }

    /// Every pending timer, cancelled (shutdown), as packets whose result is
    /// the aborted error, in deadline order.
    pub(crate) fn take_timers(&self) -> Vec<Packet<K, V, B>> {
        let mut timers = self.timers.lock();
        let mut out = Vec::with_capacity(timers.pending.len());
        while let Some(Reverse((_, id))) = timers.heap.pop() {
            if let Some(p) = timers.pending.remove(&id) {
                out.push(
                    Packet::new(p.key, 0, p.value)
                        .with_result(Err(io::Error::from_raw_os_error(libc::ECANCELED)), None),
                );
            }
        }
        timers.pending.clear();
        self.timer_count.store(0, Ordering::Release);
        out
    }

    /// How many timers are pending.
    pub(crate) fn timers_pending(&self) -> usize {
        self.timer_count.load(Ordering::Acquire)
    }

    /// How long until the earliest timer is due (zero if one is), if any.
    pub(super) fn next_timer_in(&self) -> Option<Duration> {
        if self.timers_pending() == 0 {
            return None;
        }
        let first = self.timers.lock().earliest()?;
        Some(first.saturating_duration_since(Instant::now()))
    }

    /// Queues (through `sink`) the packet of every timer that is due. One at
    /// a time, outside the lock: user code in `sink` that panics loses only
    /// the packet in hand; the other due timers fire at the next reap.
    pub(super) fn fire_timers(&self, sink: &mut dyn FnMut(Packet<K, V, B>)) {
        if self.timers_pending() == 0 {
            return;
        }
        let now = Instant::now();
        loop {
            let due = {
                let mut timers = self.timers.lock();
                match timers.earliest() {
                    Some(deadline) if deadline <= now => {
                        let Some(Reverse((_, id))) = timers.heap.pop() else {
                            return;
                        };
                        let due = timers.pending.remove(&id);
                        self.timer_count
                            .store(timers.pending.len(), Ordering::Release);
                        due
                    }
                    _ => return,
                }
            };
            if let Some(p) = due {
                sink(Packet::new(p.key, p.bytes, p.value));
            }
        }
    }
}
