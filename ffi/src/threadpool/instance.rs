//! The callback instance (`PTP_CALLBACK_INSTANCE`): one per running
//! callback, on the worker's stack, and what the program asks to happen when
//! the callback returns — `SetEventWhenCallbackReturns`,
//! `ReleaseSemaphoreWhenCallbackReturns`, `ReleaseMutexWhenCallbackReturns`,
//! `LeaveCriticalSectionWhenCallbackReturns`,
//! `FreeLibraryWhenCallbackReturns` (no modules: nothing to free) — and
//! `CallbackMayRunLong`, `DisassociateCurrentThreadFromCallback`.
//!
//! The actions run on the worker after the callback returns and before it
//! counts as finished, so a `WaitFor…Callbacks` that returns has seen them.

use std::ffi::c_void;
use std::sync::Arc;

use super::object::TpObj;
use crate::error::boundary;
use crate::types::*;

/// A running callback.
pub struct Instance {
    obj: Arc<TpObj>,
    disassociated: bool,
    event: usize,
    semaphore: Option<(usize, i32)>,
    mutex: usize,
    critical_section: usize,
}

impl Instance {
    pub(crate) fn new(obj: &Arc<TpObj>) -> Self {
        Instance {
            obj: obj.clone(),
            disassociated: false,
            event: 0,
            semaphore: None,
            mutex: 0,
            critical_section: 0,
        }
    }

    pub(crate) fn disassociated(&self) -> bool {
        self.disassociated
    }

    /// The program's requests, in Windows' order: the critical section, the
    /// mutex, the semaphore, then the event.
    pub(crate) fn finish(&mut self) {
        if self.critical_section != 0 {
            // SAFETY: the program named a critical section this thread
            // entered, and keeps it alive until the callback returns.
            unsafe {
                crate::sync::critical_section::LeaveCriticalSection(
                    self.critical_section as *mut CRITICAL_SECTION,
                )
            };
        }
        if self.mutex != 0 {
            crate::sync::mutex::ReleaseMutex(self.mutex as HANDLE);
        }
        if let Some((h, n)) = self.semaphore {
            // SAFETY: NULL previous-count pointer.
            unsafe {
                crate::sync::semaphore::ReleaseSemaphore(h as HANDLE, n, std::ptr::null_mut())
            };
        }
        if self.event != 0 {
            crate::sync::events::SetEvent(self.event as HANDLE);
        }
    }
}

/// The instance behind the program's pointer.
///
/// # Safety
/// `inst` must be the instance passed to the running callback (or NULL).
unsafe fn instance<'a>(inst: *mut Instance) -> Option<&'a mut Instance> {
    // SAFETY: caller contract: the worker's live instance, used only by the
    // callback's own thread.
    unsafe { inst.as_mut() }
}

/// `SetEventWhenCallbackReturns`.
///
/// # Safety
/// `inst` must be the running callback's instance.
#[no_mangle]
pub unsafe extern "C" fn SetEventWhenCallbackReturns(inst: *mut Instance, event: HANDLE) {
    boundary((), || {
        // SAFETY: forwarded caller contract.
        if let Some(i) = unsafe { instance(inst) } {
            i.event = event as usize;
        }
    })
}

/// `ReleaseSemaphoreWhenCallbackReturns`.
///
/// # Safety
/// `inst` must be the running callback's instance.
#[no_mangle]
pub unsafe extern "C" fn ReleaseSemaphoreWhenCallbackReturns(
    inst: *mut Instance,
    semaphore: HANDLE,
    count: DWORD,
) {
    boundary((), || {
        // SAFETY: forwarded caller contract.
        if let Some(i) = unsafe { instance(inst) } {
            i.semaphore = Some((semaphore as usize, count as i32));
        }
    })
}

/// `ReleaseMutexWhenCallbackReturns`.
///
/// # Safety
/// `inst` must be the running callback's instance.
#[no_mangle]
pub unsafe extern "C" fn ReleaseMutexWhenCallbackReturns(inst: *mut Instance, mutex: HANDLE) {
    boundary((), || {
        // SAFETY: forwarded caller contract.
        if let Some(i) = unsafe { instance(inst) } {
            i.mutex = mutex as usize;
        }
    })
}

/// `LeaveCriticalSectionWhenCallbackReturns`.
///
/// # Safety
/// `inst` must be the running callback's instance; `cs` live until it returns.
#[no_mangle]
pub unsafe extern "C" fn LeaveCriticalSectionWhenCallbackReturns(
    inst: *mut Instance,
    cs: *mut CRITICAL_SECTION,
) {
    boundary((), || {
        // SAFETY: forwarded caller contract.
        if let Some(i) = unsafe { instance(inst) } {
            i.critical_section = cs as usize;
        }
    })
}

/// `FreeLibraryWhenCallbackReturns`: libcport loads no modules, so there is
/// nothing to free.
#[no_mangle]
pub extern "C" fn FreeLibraryWhenCallbackReturns(_inst: *mut Instance, _module: *mut c_void) {}

/// `CallbackMayRunLong`: TRUE if another worker is waiting or could be
/// started (within the pool's maximum) to run the pool's other callbacks.
///
/// # Safety
/// `inst` must be the running callback's instance.
#[no_mangle]
pub unsafe extern "C" fn CallbackMayRunLong(inst: *mut Instance) -> BOOL {
    boundary(FALSE, || {
        // SAFETY: forwarded caller contract.
        let Some(i) = (unsafe { instance(inst) }) else {
            return FALSE;
        };
        let core = &i.obj.pool.core;
        if core.has_idle() || core.grow(true) {
            TRUE
        } else {
            FALSE
        }
    })
}

/// `DisassociateCurrentThreadFromCallback`: the callback counts as finished
/// for `WaitFor…Callbacks` and cleanup groups from now on.
///
/// # Safety
/// `inst` must be the running callback's instance.
#[no_mangle]
pub unsafe extern "C" fn DisassociateCurrentThreadFromCallback(inst: *mut Instance) {
    boundary((), || {
        // SAFETY: forwarded caller contract.
        if let Some(i) = unsafe { instance(inst) } {
            if !i.disassociated {
                i.disassociated = true;
                i.obj.callback_done();
            }
        }
    })
}
