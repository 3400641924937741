//! Observing and ending overlapped operations on any handle:
//! `GetOverlappedResult`, `CancelIo` (the calling thread's operations),
//! `CancelIoEx`, `SetFileCompletionNotificationModes`.

use crate::engine::{self};
use crate::error::{boundary, fail, status_to_win32};
use crate::handles::{self};
use crate::types::*;

/// `GetOverlappedResult`.
///
/// # Safety
/// `ov` valid; `bytes` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn GetOverlappedResult(
    h: HANDLE,
    ov: *mut OVERLAPPED,
    bytes: *mut DWORD,
    wait: BOOL,
) -> BOOL {
    boundary(FALSE, || {
        // The handle is not checked (as on Windows) unless the call has to
        // wait on it: an operation that ended, also by the handle's close
        // (1236 / 995), reports what its OVERLAPPED holds.
        if ov.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: valid pointers (caller contract).
        match unsafe {
            engine::overlapped_result(
                || handles::io(h as usize).is_some(),
                ov,
                bytes,
                wait != FALSE,
            )
        } {
            Ok(()) => TRUE,
            Err(STATUS_PENDING) => fail(ERROR_IO_INCOMPLETE, FALSE),
            Err(status) => fail(status_to_win32(status), FALSE),
        }
    })
}

/// `CancelIo`: the calling thread's operations on `h`; `TRUE` even if none.
#[no_mangle]
pub extern "C" fn CancelIo(h: HANDLE) -> BOOL {
    boundary(FALSE, || match handles::io(h as usize) {
        Some(o) => {
            o.cancel(None, true);
            TRUE
        }
        None => fail(ERROR_INVALID_HANDLE, FALSE),
    })
}

/// `CancelIoEx`: the operations on `h` with `ov` (all if NULL), any thread;
/// `ERROR_NOT_FOUND` if none is pending.
#[no_mangle]
pub extern "C" fn CancelIoEx(h: HANDLE, ov: *mut OVERLAPPED) -> BOOL {
    boundary(FALSE, || match handles::io(h as usize) {
        Some(o) => {
            let which = (!ov.is_null()).then_some(ov as usize);
            if o.cancel(which, false) > 0 {
                TRUE
            } else {
                fail(ERROR_NOT_FOUND, FALSE)
            }
        }
        None => fail(ERROR_INVALID_HANDLE, FALSE),
    })
}

/// `SetFileCompletionNotificationModes`.
#[no_mangle]
pub extern "C" fn SetFileCompletionNotificationModes(h: HANDLE, flags: u8) -> BOOL {
    boundary(FALSE, || match handles::io(h as usize) {
        Some(o) => {
            if u32::from(flags)
                & !(FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE)
                != 0
            {
                return fail(ERROR_INVALID_PARAMETER, FALSE);
            }
            o.set_modes(flags);
            TRUE
        }
        None => fail(ERROR_INVALID_HANDLE, FALSE),
    })
}
