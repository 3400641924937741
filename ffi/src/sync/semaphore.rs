//! Semaphores: `CreateSemaphoreA/W`, `CreateSemaphoreExA/W`,
//! `OpenSemaphoreA/W`, `ReleaseSemaphore`. A semaphore handle is waitable with
//! `WaitForSingleObject`/`WaitForMultipleObjects` (each satisfied wait takes
//! one unit) and closed with `CloseHandle`.
//!
//! # Implementation notes
//!
//! The count is an atomic. Waits go through the event module's wait bus
//! (`crate::engine::signal`): a wait checks and takes a unit under the bus lock, so a
//! wait-all on several objects takes all of them or none; `ReleaseSemaphore`
//! only ever raises the count (which cannot invalidate such a check), then
//! kicks the bus. Names are the process's own (`crate::sync::names`).

use std::ffi::c_void;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use crate::engine::signal::WaitObject;
use crate::error::{boundary, fail};
use crate::handles::{self, Object};
use crate::strings;
use crate::sync::names::{self, Kind, Named};
use crate::types::*;
use crate::types_sync::*;

/// A semaphore object.
pub(crate) struct Semaphore {
    count: AtomicI32,
    max: i32,
}

impl WaitObject for Semaphore {
    /// Whether a wait would be satisfied now.
    fn available(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }

    /// Under the event bus lock, after `available`: a satisfied wait takes a unit.
    fn take(self: Arc<Self>) -> bool {
        self.count.fetch_sub(1, Ordering::SeqCst);
        false
    }
}

impl Semaphore {
    /// `ReleaseSemaphore`: the previous count.
    fn release(&self, n: i32) -> Result<i32, DWORD> {
        if n <= 0 {
            return Err(ERROR_INVALID_PARAMETER);
        }
        let mut c = self.count.load(Ordering::SeqCst);
        loop {
            let new = c
                .checked_add(n)
                .filter(|&v| v <= self.max)
                .ok_or(ERROR_TOO_MANY_POSTS)?;
            match self
                .count
                .compare_exchange(c, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        crate::engine::signal::EVENTS.kick();
        Ok(c)
    }
}

fn create(initial: LONG, max: LONG, name: Option<String>) -> HANDLE {
    if max <= 0 || initial < 0 || initial > max {
        return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
    }
    names::create_handle(Kind::Semaphore, name, || {
        Named::Semaphore(Arc::new(Semaphore {
            count: AtomicI32::new(initial),
            max,
        }))
    })
}

/// `CreateSemaphoreA`: NULL + `ERROR_INVALID_PARAMETER` unless
/// `0 <= initial <= max` and `max > 0`. With the name of a live semaphore:
/// a handle to it and `ERROR_ALREADY_EXISTS` (the counts are ignored).
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CreateSemaphoreA(
    _security: *mut c_void,
    initial: LONG,
    max: LONG,
    name: *const i8,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: NULL or NUL-terminated (caller contract).
        create(initial, max, unsafe { strings::narrow(name) })
    })
}

/// `CreateSemaphoreW`: as `CreateSemaphoreA`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn CreateSemaphoreW(
    _security: *mut c_void,
    initial: LONG,
    max: LONG,
    name: *const libc::wchar_t,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: NULL or NUL-terminated (caller contract).
        create(initial, max, unsafe { strings::wide(name) })
    })
}

/// `CreateSemaphoreEx`: `flags` is reserved and must be 0.
fn create_ex(initial: LONG, max: LONG, flags: DWORD, name: Option<String>) -> HANDLE {
    if flags != 0 {
        return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
    }
    create(initial, max, name)
}

/// `CreateSemaphoreExA`: `flags` is reserved (must be 0); the access mask is
/// not enforced.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CreateSemaphoreExA(
    _security: *mut c_void,
    initial: LONG,
    max: LONG,
    name: *const i8,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: NULL or NUL-terminated (caller contract).
        create_ex(initial, max, flags, unsafe { strings::narrow(name) })
    })
}

/// `CreateSemaphoreExW`: as `CreateSemaphoreExA`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn CreateSemaphoreExW(
    _security: *mut c_void,
    initial: LONG,
    max: LONG,
    name: *const libc::wchar_t,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: NULL or NUL-terminated (caller contract).
        create_ex(initial, max, flags, unsafe { strings::wide(name) })
    })
}

names::open_exports!(
    Kind::Semaphore,
    OpenSemaphoreA,
    OpenSemaphoreW,
    "a new handle to the semaphore of that name; `ERROR_FILE_NOT_FOUND` if none, ",
    "`ERROR_INVALID_HANDLE` if a mutex has it."
);

/// `ReleaseSemaphore`: raises the count by `n` and writes the previous count;
/// past the maximum: `FALSE` + `ERROR_TOO_MANY_POSTS` (298), count unchanged.
///
/// # Safety
/// `previous` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ReleaseSemaphore(h: HANDLE, n: LONG, previous: *mut LONG) -> BOOL {
    boundary(FALSE, || {
        let Some(Object::Semaphore(sem)) = handles::get(h as usize) else {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        };
        match sem.release(n) {
            Ok(prev) => {
                if !previous.is_null() {
                    // SAFETY: valid out-pointer (caller contract).
                    unsafe { previous.write(prev) };
                }
                TRUE
            }
            Err(e) => fail(e, FALSE),
        }
    })
}
