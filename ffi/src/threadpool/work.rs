//! Work objects and simple callbacks: `TrySubmitThreadpoolCallback`,
//! `CreateThreadpoolWork`, `SubmitThreadpoolWork`,
//! `WaitForThreadpoolWorkCallbacks`, `CloseThreadpoolWork`. Each submission
//! is one packet on the pool's port, so one callback.

use std::ffi::c_void;
use std::sync::Arc;

use super::object::{self, borrow, Kind, TpObj};
use super::{read_env, TP_CALLBACK_ENVIRON_V3};
use crate::error::{boundary, fail};
use crate::types::*;

fn queue(obj: &Arc<TpObj>) -> bool {
    obj.queue(0)
}

/// `TrySubmitThreadpoolCallback`.
///
/// # Safety
/// `env` must be NULL or an initialised environment with live objects.
#[no_mangle]
pub unsafe extern "C" fn TrySubmitThreadpoolCallback(
    callback: *mut c_void,
    context: *mut c_void,
    env: *const TP_CALLBACK_ENVIRON_V3,
) -> BOOL {
    boundary(FALSE, || {
        if callback.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: forwarded caller contract.
        let Some(env) = (unsafe { read_env(env) }) else {
            return fail(ERROR_NOT_ENOUGH_MEMORY, FALSE);
        };
        let obj = TpObj::new(Kind::Simple, callback as usize, context as usize, env);
        if queue(&obj) {
            TRUE
        } else {
            if let Some(g) = obj.group.as_ref().and_then(std::sync::Weak::upgrade) {
                g.remove(&obj);
            }
            fail(ERROR_INVALID_HANDLE, FALSE)
        }
    })
}

/// `CreateThreadpoolWork`.
///
/// # Safety
/// `env` must be NULL or an initialised environment with live objects.
#[no_mangle]
pub unsafe extern "C" fn CreateThreadpoolWork(
    callback: *mut c_void,
    context: *mut c_void,
    env: *const TP_CALLBACK_ENVIRON_V3,
) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: forwarded caller contract.
        unsafe { object::create(Kind::Work, callback, context, env) }
    })
}

/// `SubmitThreadpoolWork`: one more callback.
///
/// # Safety
/// `work` must be a live work object.
#[no_mangle]
pub unsafe extern "C" fn SubmitThreadpoolWork(work: *mut c_void) {
    boundary((), || {
        if !work.is_null() {
            // SAFETY: caller contract.
            queue(&unsafe { borrow(work) });
        }
    })
}

/// `WaitForThreadpoolWorkCallbacks`.
///
/// # Safety
/// `work` must be a live work object.
#[no_mangle]
pub unsafe extern "C" fn WaitForThreadpoolWorkCallbacks(work: *mut c_void, cancel: BOOL) {
    boundary((), || {
        // SAFETY: caller contract.
        unsafe { object::wait_callbacks(work, cancel) }
    })
}

/// `CloseThreadpoolWork`: queued callbacks still run; the object goes after them.
///
/// # Safety
/// `work` must be a live work object, closed only once.
#[no_mangle]
pub unsafe extern "C" fn CloseThreadpoolWork(work: *mut c_void) {
    boundary((), || {
        // SAFETY: caller contract.
        unsafe { object::close(work, |_| {}) }
    })
}
