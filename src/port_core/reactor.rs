//! The interface through which the port core reaches completed I/O. The core
//! defines it and knows nothing else of I/O; the op layer implements it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where completed I/O comes from: the op layer over a kernel backend.
///
/// Waiting threads reap it themselves (leader/follower; docs/semantics.md, "Backends"): at most one
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
    /// The poller role fell free and no waiter took it over (the poller
    /// resigned with no waiter to promote, or a helper reaper finished).
    fn poller_gone(&self) {}

    /// What says, without a call through the reactor, whether
    /// [`flush`](Reactor::flush) has anything to do. `None`: always call it.
    fn flush_hint(&self) -> Option<Arc<FlushHint>> {
        None
    }
}

/// Whether a flush could do anything, readable with one load: the core
/// calls [`Reactor::flush`] on every `get`, and on most ports (those that
/// never did I/O, those on epoll, io_uring ones with nothing held back) it
/// would find nothing to do. Set by the backend, read by the core.
#[derive(Debug, Default)]
pub(crate) struct FlushHint(AtomicU8);

/// Submissions wait in the backend for a flush (or the next poll).
const DEFERRED: u8 = 1;
/// An urgent flush may have work even with nothing deferred (io_uring with
/// cooperative task running: task work that only the thread's own entry
/// into the kernel runs).
const URGENT_WORK: u8 = 2;

impl FlushHint {
    /// Whether a flush, `urgent` or not, may have something to do.
    #[inline]
    pub(crate) fn wanted(&self, urgent: bool) -> bool {
        Self::wanted_in(self.0.load(Ordering::Acquire), urgent)
    }

    /// Whether any flush may have something to do (then `wanted` decides).
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.0.load(Ordering::Acquire) != 0
    }

    #[inline]
    fn wanted_in(flags: u8, urgent: bool) -> bool {
        flags & DEFERRED != 0 || (urgent && flags & URGENT_WORK != 0)
    }

    /// Submissions were held back. Stored after they are in the backend's
    /// queue, so a flush that sees the flag finds them.
    pub(crate) fn set_deferred(&self) {
        self.0.fetch_or(DEFERRED, Ordering::Release);
    }

    /// Whether submissions are held back (a load: cheap when none are).
    #[inline]
    pub(crate) fn deferred(&self) -> bool {
        self.0.load(Ordering::Acquire) & DEFERRED != 0
    }

    /// Takes the held-back flag: `true` if it was set (the caller now owes
    /// the submission, or must set the flag again).
    pub(crate) fn take_deferred(&self) -> bool {
        self.deferred() && self.0.fetch_and(!DEFERRED, Ordering::AcqRel) & DEFERRED != 0
    }

    /// Urgent flushes always have something to check (set once, when the
    /// backend is set up that way).
    pub(crate) fn set_urgent_work(&self) {
        self.0.fetch_or(URGENT_WORK, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_flush_is_wanted_only_for_deferred_submissions_or_urgent_task_work() {
        let hint = FlushHint::default();
        assert!(!hint.any() && !hint.wanted(false) && !hint.wanted(true));
        hint.set_deferred();
        assert!(hint.any() && hint.wanted(false) && hint.wanted(true));
        assert!(hint.take_deferred());
        assert!(!hint.take_deferred(), "taken once");
        assert!(!hint.wanted(true));
        hint.set_urgent_work();
        assert!(hint.any() && hint.wanted(true) && !hint.wanted(false));
        hint.set_deferred();
        assert!(hint.wanted(false));
        assert!(hint.take_deferred());
        assert!(
            hint.wanted(true) && !hint.wanted(false),
            "urgent work stays"
        );
    }
}
