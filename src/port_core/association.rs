//! Which port the calling thread counts on (docs/semantics.md, "Threads").
//!
//! A thread is associated with at most one port: the last one it took a packet
//! from. It counts there as *active* until it comes back to `get`, or as
//! *paused* inside a blocking section. Calling `get` on another port moves it;
//! thread exit (this thread-local's destructor) stops it counting.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};

use super::Core;
use crate::loom::thread_local;

/// What the thread-local needs from a port, whatever its packet type.
pub(crate) trait Accounting: Send + Sync {
    fn deactivate(&self);
    fn forget_paused(&self);
}

impl<T: Send> Accounting for Core<T> {
    fn deactivate(&self) {
        Core::deactivate(self)
    }
    fn forget_paused(&self) {
        Core::forget_paused(self)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Active,
    Paused,
}

/// The port the thread is associated with. A weak reference: a thread that
/// once used a port must not keep it (and its kernel resources) alive. The
/// weak count also keeps the allocation, so the address cannot be reused by
/// another port while this thread compares against it.
struct Current(Option<(Weak<dyn Accounting>, Mode)>);

impl Drop for Current {
    fn drop(&mut self) {
        // Thread exit: the port gets the slot back (may release a waiter).
        if let Some((port, mode)) = self.0.take() {
            // Never unwind out of this drop (at thread exit a panic aborts the
            // process): the accounting itself does not panic, but releasing the
            // last reference may drop the port's queued packets, and with
            // them user values whose `Drop` might.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                if let Some(port) = port.upgrade() {
                    match mode {
                        Mode::Active => port.deactivate(),
                        Mode::Paused => port.forget_paused(),
                    }
                }
            }));
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Current> = RefCell::new(Current(None));
}

#[inline]
fn same(a: &Weak<dyn Accounting>, b: *const ()) -> bool {
    Weak::as_ptr(a) as *const () == b
}

/// Whether the calling thread counts as active on `port` (it will come back
/// to `get`, or leave through a path that flushes deferred submissions).
#[inline]
pub(crate) fn is_active_on(port: *const ()) -> bool {
    CURRENT
        .try_with(|c| {
            c.try_borrow()
                .is_ok_and(|c| matches!(&c.0, Some((p, Mode::Active)) if same(p, port)))
        })
        .unwrap_or(false)
}

/// Entering `get` on `port`: returns whether the thread counted as active there.
/// An association with another port ends first (that port gets its slot back).
#[inline]
pub(crate) fn enter_get(port: *const ()) -> bool {
    CURRENT
        .try_with(|c| {
            // Never borrowed re-entrantly; `try_` keeps even that panic-free.
            let Ok(mut c) = c.try_borrow_mut() else {
                return false;
            };
            match &c.0 {
                Some((p, mode)) if same(p, port) => *mode == Mode::Active,
                None => false,
                Some(_) => {
                    let old = c.0.take();
                    drop(c);
                    drop(Current(old));
                    false
                }
            }
        })
        .unwrap_or(false)
}

/// Leaving `get`: the thread now counts as active on `port` (`true`) or not at all.
#[inline]
pub(crate) fn leave_get(port: &Arc<dyn Accounting>, active: bool) {
    let _ = CURRENT.try_with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return;
        };
        let here = matches!(&c.0, Some((p, _)) if same(p, Arc::as_ptr(port) as *const ()));
        match (here, active) {
            (true, true) => {
                // Inside a blocking section `get` ran as a non-active thread; the
                // thread is active now, so the section's end must not count it again.
                if let Some((_, mode)) = &mut c.0 {
                    if *mode == Mode::Paused {
                        *mode = Mode::Active;
                        port.forget_paused();
                    }
                }
            }
            (false, true) => c.0 = Some((Arc::downgrade(port), Mode::Active)),
            (true, false) => {
                if let Some((_, Mode::Paused)) = c.0.take() {
                    port.forget_paused();
                }
            }
            (false, false) => {}
        }
    });
}

/// Switches the thread's mode on `port` from `from` to `to`; false if the thread
/// is not associated with `port` in mode `from`.
pub(crate) fn switch(port: *const (), from: Mode, to: Mode) -> bool {
    CURRENT
        .try_with(
            |c| match c.try_borrow_mut().as_deref_mut().map(|c| &mut c.0) {
                Ok(Some((p, mode))) if same(p, port) && *mode == from => {
                    *mode = to;
                    true
                }
                _ => false,
            },
        )
        .unwrap_or(false)
}
