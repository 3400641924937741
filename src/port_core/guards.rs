//! The port core's unwind guards: user code runs inside the core (the
//! reactor's `poll`, the caller's sink), and if it panics these put the
//! waiter stack, the poller role and the thread's accounting back as they
//! were (see the core's notes on panic safety).

use super::waiting::Waiter;
use super::Core;

/// Unwind guard of a thread in [`Core::wait`] whose node is (or was) on the
/// waiter stack: if user code panics before `wait` returns, the drop runs
/// [`Core::abandon`], so no node on a dead stack frame stays reachable.
/// Normal returns [`disarm`](Abandon::disarm) it.
pub(super) struct Abandon<'a, T> {
    pub(super) core: &'a Core<T>,
    pub(super) node: &'a Waiter<T>,
    /// The thread's slot before the call (0 or 1), to restore.
    pub(super) before: u32,
}

impl<T> Abandon<'_, T> {
    #[inline]
    pub(super) fn disarm(self) {
        std::mem::forget(self);
    }
}

impl<T> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        self.core.abandon(self.node, self.before);
    }
}

/// Runs `undo` when dropped armed, i.e. when a panic unwinds past it;
/// [`disarm`](OnUnwind::disarm) on the normal path.
pub(super) struct OnUnwind<F: FnOnce()> {
    undo: Option<F>,
}

impl<F: FnOnce()> OnUnwind<F> {
    #[inline]
    pub(super) fn new(undo: F) -> Self {
        OnUnwind { undo: Some(undo) }
    }
    #[inline]
    pub(super) fn disarm(mut self) {
        self.undo = None;
    }
}

impl<F: FnOnce()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        if let Some(undo) = self.undo.take() {
            undo();
        }
    }
}

/// The helper reaper of [`Core::reap_as_helper`]; dropping it (after `poll`
/// returned or unwound) gives the poller role up and posts what was reaped.
pub(super) struct Helper<'a, T> {
    pub(super) core: &'a Core<T>,
    pub(super) items: Vec<T>,
}

impl<T> Drop for Helper<'_, T> {
    fn drop(&mut self) {
        let core = self.core;
        core.give_up_poller_role();
        self.items
            .drain(..)
            .for_each(|item| core.post_even_if_closed(item));
    }
}
