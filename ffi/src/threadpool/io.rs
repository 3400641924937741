//! I/O objects: `CreateThreadpoolIo`, `StartThreadpoolIo`,
//! `CancelThreadpoolIo`, `WaitForThreadpoolIoCallbacks`,
//! `CloseThreadpoolIo`.
//!
//! `CreateThreadpoolIo` associates the socket or file with the pool's port
//! (as `CreateIoCompletionPort` would) under the object's address with the
//! low bit set; the engine routes each completion there. `StartThreadpoolIo`
//! counts one expected completion and takes a reference to the object that
//! the completion's callback — or `CancelThreadpoolIo`, after a call that
//! failed without going pending — gives back.

use std::ffi::c_void;
use std::sync::Arc;

use super::object::{self, borrow, Kind, TpObj};
use super::{read_env, TP_CALLBACK_ENVIRON_V3};
use crate::error::{boundary, fail, status_to_win32};
use crate::handles;
use crate::types::*;

/// `PTP_WIN32_IO_CALLBACK`.
type IoCallback = unsafe extern "C" fn(
    *mut super::instance::Instance,
    *mut c_void,
    *mut c_void,
    ULONG,
    ULONG_PTR,
    *mut c_void,
);

/// Runs the callback of a completion routed to a pool's port.
pub(crate) fn dispatch(obj_addr: usize, ov: usize, status: DWORD, bytes: u32) {
    // SAFETY: an I/O packet's key is the address of an I/O object, and
    // StartThreadpoolIo took the reference this completion gives back.
    let obj = unsafe { Arc::from_raw(obj_addr as *const TpObj) };
    let result = if nt_success(status) {
        0
    } else {
        status_to_win32(status)
    };
    let ptr = obj.ptr();
    let ctx = obj.context as *mut c_void;
    // SAFETY: the program gave a PTP_WIN32_IO_CALLBACK for this object.
    let f: IoCallback = unsafe { std::mem::transmute(obj.callback) };
    obj.run(|inst| {
        // SAFETY: calling the program's callback with its context, its
        // OVERLAPPED, the result, the byte count and its object.
        unsafe {
            f(
                inst,
                ctx,
                ov as *mut c_void,
                result,
                bytes as ULONG_PTR,
                ptr,
            )
        }
    });
}

/// `CreateThreadpoolIo`: NULL with 6 for a handle that is not a socket or
/// file, 87 for one not overlapped or already associated with a port.
///
/// # Safety
/// `env` must be NULL or an initialised environment with live objects.
#[no_mangle]
pub unsafe extern "C" fn CreateThreadpoolIo(
    handle: HANDLE,
    callback: *mut c_void,
    context: *mut c_void,
    env: *const TP_CALLBACK_ENVIRON_V3,
) -> *mut c_void {
    let null = std::ptr::null_mut();
    boundary(null, || {
        if callback.is_null() {
            return fail(ERROR_INVALID_PARAMETER, null);
        }
        let Some(io) = handles::io(handle as usize) else {
            return fail(ERROR_INVALID_HANDLE, null);
        };
        if !io.is_overlapped() {
            return fail(ERROR_INVALID_PARAMETER, null);
        }
        // SAFETY: forwarded caller contract.
        let Some(env) = (unsafe { read_env(env) }) else {
            return fail(ERROR_NOT_ENOUGH_MEMORY, null);
        };
        let obj = TpObj::new(Kind::Io, callback as usize, context as usize, env);
        let core = obj.pool.core.clone();
        if !io.associate(&core.cport, Arc::as_ptr(&obj) as usize | 1) {
            if let Some(g) = obj.group.as_ref().and_then(std::sync::Weak::upgrade) {
                g.remove(&obj);
            }
            return fail(ERROR_INVALID_PARAMETER, null);
        }
        // Completions are posted by the engine, not through the pool: make
        // sure a worker waits for them.
        while core.threads() < crate::engine::cport::processors().min(core.max_threads()) {
            if !core.grow(true) {
                break;
            }
        }
        Arc::into_raw(obj) as *mut c_void
    })
}

/// `StartThreadpoolIo`: before each overlapped call on the handle.
///
/// # Safety
/// `pio` must be a live I/O object.
#[no_mangle]
pub unsafe extern "C" fn StartThreadpoolIo(pio: *mut c_void) {
    boundary((), || {
        if pio.is_null() {
            return;
        }
        // SAFETY: caller contract; the reference is kept (forgotten here)
        // for the completion's callback.
        let obj = unsafe { borrow(pio) };
        obj.lock().queued += 1;
        std::mem::forget(obj);
    })
}

/// `CancelThreadpoolIo`: after an overlapped call that failed without going
/// pending (or completed inline in skip-on-success mode).
///
/// # Safety
/// `pio` must be a live I/O object with a started, uncompleted I/O.
#[no_mangle]
pub unsafe extern "C" fn CancelThreadpoolIo(pio: *mut c_void) {
    boundary((), || {
        if pio.is_null() {
            return;
        }
        // SAFETY: caller contract: gives back StartThreadpoolIo's reference.
        let obj = unsafe { Arc::from_raw(pio as *const TpObj) };
        {
            let mut st = obj.lock();
            st.queued = st.queued.saturating_sub(1);
        }
        obj.idle.notify_all();
    })
}

/// `WaitForThreadpoolIoCallbacks`: until every started I/O has completed
/// and its callback returned (or, with `cancel`, was dropped).
///
/// # Safety
/// `pio` must be a live I/O object.
#[no_mangle]
pub unsafe extern "C" fn WaitForThreadpoolIoCallbacks(pio: *mut c_void, cancel: BOOL) {
    boundary((), || {
        // SAFETY: caller contract.
        unsafe { object::wait_callbacks(pio, cancel) }
    })
}

/// `CloseThreadpoolIo`: the object goes once its started I/O completed.
///
/// # Safety
/// `pio` must be a live I/O object, closed once.
#[no_mangle]
pub unsafe extern "C" fn CloseThreadpoolIo(pio: *mut c_void) {
    boundary((), || {
        // SAFETY: caller contract.
        unsafe { object::close(pio, |_| {}) }
    })
}
