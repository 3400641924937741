//! Cleanup groups: `CreateThreadpoolCleanupGroup`,
//! `CloseThreadpoolCleanupGroupMembers`, `CloseThreadpoolCleanupGroup`.
//!
//! An object made in an environment with a cleanup group is a member until
//! the program closes it; a simple callback until it has run (or was
//! dropped). Closing the members stops timers and waits, waits for the
//! callbacks (dropping the queued ones with `fCancelPendingCallbacks`, and
//! then calling the environment's cancel callback with each member's
//! context), and releases every member as its `Close…` function would.

use std::ffi::c_void;
use std::sync::Arc;

use parking_lot::Mutex;

use super::object::{Kind, TpObj};
use crate::error::{boundary, fail};
use crate::types::*;

/// `PTP_CLEANUP_GROUP_CANCEL_CALLBACK`.
type CancelCallback = unsafe extern "C" fn(*mut c_void, *mut c_void);

/// A cleanup group: its members.
#[derive(Default)]
pub(crate) struct Group {
    members: Mutex<Vec<Arc<TpObj>>>,
}

impl Group {
    pub(crate) fn add(&self, obj: &Arc<TpObj>) {
        self.members.lock().push(obj.clone());
    }

    pub(crate) fn remove(&self, obj: &Arc<TpObj>) {
        self.members.lock().retain(|m| !Arc::ptr_eq(m, obj));
    }
}

/// `CreateThreadpoolCleanupGroup`.
#[no_mangle]
pub extern "C" fn CreateThreadpoolCleanupGroup() -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        Arc::into_raw(Arc::new(Group::default())) as *mut c_void
    })
}

/// `CloseThreadpoolCleanupGroupMembers`.
///
/// # Safety
/// `group` must be a live cleanup group; its members must not be closed by
/// the program afterwards (this releases them).
#[no_mangle]
pub unsafe extern "C" fn CloseThreadpoolCleanupGroupMembers(
    group: *mut c_void,
    cancel: BOOL,
    cleanup_context: *mut c_void,
) {
    boundary((), || {
        if group.is_null() {
            return fail(ERROR_INVALID_PARAMETER, ());
        }
        // SAFETY: caller contract: a live group.
        let group = unsafe { &*(group as *const Group) };
        let members = std::mem::take(&mut *group.members.lock());
        for obj in &members {
            match obj.kind {
                Kind::Timer => {
                    super::timer::cancel(obj);
                }
                Kind::Wait => super::wait::stop(obj),
                _ => {}
            }
        }
        for obj in members {
            obj.wait_callbacks(cancel != FALSE);
            if cancel != FALSE && obj.cancel_callback != 0 {
                // SAFETY: the environment's PTP_CLEANUP_GROUP_CANCEL_CALLBACK.
                let f: CancelCallback = unsafe { std::mem::transmute(obj.cancel_callback) };
                // SAFETY: calling the program's callback with its contexts.
                unsafe { f(obj.context as *mut c_void, cleanup_context) };
            }
            if obj.kind != Kind::Simple {
                if obj.kind == Kind::Wait {
                    super::wait::stop(&obj);
                }
                // SAFETY: a member still holds the program's reference (its
                // Close… function would have taken it out of the group).
                unsafe { Arc::decrement_strong_count(Arc::as_ptr(&obj)) };
            }
        }
    })
}

/// `CloseThreadpoolCleanupGroup`.
///
/// # Safety
/// `group` must be a live cleanup group, closed once.
#[no_mangle]
pub unsafe extern "C" fn CloseThreadpoolCleanupGroup(group: *mut c_void) {
    boundary((), || {
        if !group.is_null() {
            // SAFETY: caller contract: the program's reference, given back once.
            drop(unsafe { Arc::from_raw(group as *const Group) });
        }
    })
}
