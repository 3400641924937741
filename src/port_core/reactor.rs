//! The interface through which the port core reaches completed I/O. The core
//! defines it and knows nothing else of I/O; the op layer implements it.

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
}
