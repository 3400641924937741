//! Condition variables (`CONDITION_VARIABLE`): `InitializeConditionVariable`,
//! `SleepConditionVariableCS`, `SleepConditionVariableSRW` (exclusive or
//! `CONDITION_VARIABLE_LOCKMODE_SHARED`), `WakeConditionVariable`,
//! `WakeAllConditionVariable`.
//!
//! # Implementation notes
//!
//! The program's pointer-sized word is a wake-up counter (zero =
//! `CONDITION_VARIABLE_INIT`). A sleeper reads it *before* it releases the
//! lock, then sleeps on the variable's address (`crate::sync::park`) only while the
//! counter is unchanged; a waker bumps the counter, then wakes one or all
//! sleepers. So a wake that comes between the release and the sleep is never
//! lost (the sleeper returns at once, which condition variables allow as a
//! spurious wake-up). The sleep is a blocking section of the thread's
//! completion port; re-taking the lock afterwards is one too when contended.
//!
//! As on Windows, `SleepConditionVariableCS` leaves the critical section
//! once (a recursively entered section stays held) and enters it once again.
//! A timeout returns `FALSE` with `ERROR_TIMEOUT` (1460), the lock re-taken.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{boundary, fail};
use crate::sync::park::{self, Space, Woke};
use crate::types::*;
use crate::types_sync::*;

/// The counter word of `cv`.
///
/// # Safety
/// `cv` must be non-NULL and point to a live, aligned `CONDITION_VARIABLE`.
unsafe fn word<'a>(cv: *mut CONDITION_VARIABLE) -> &'a AtomicUsize {
    // SAFETY: an aligned pointer-sized field of a live structure (caller
    // contract); AtomicUsize has the same layout.
    unsafe { AtomicUsize::from_ptr((&raw mut (*cv).Ptr).cast()) }
}

/// Releases the lock with `unlock`, sleeps until woken or `ms` pass, takes
/// the lock again with `relock`.
fn sleep_on(w: &AtomicUsize, ms: DWORD, unlock: impl FnOnce(), relock: impl FnOnce()) -> BOOL {
    let seen = w.load(Ordering::SeqCst);
    let deadline = park::deadline(ms);
    unlock();
    let woke = crate::engine::cport::blocking(|| {
        park::sleep(w.as_ptr() as usize, Space::CondVar, deadline, || {
            w.load(Ordering::SeqCst) == seen
        })
    });
    relock();
    match woke {
        Woke::TimedOut => fail(ERROR_TIMEOUT, FALSE),
        Woke::Woken | Woke::NotNeeded => TRUE,
    }
}

/// `InitializeConditionVariable`.
///
/// # Safety
/// `cv` must be NULL or point to a `CONDITION_VARIABLE` no thread uses.
#[no_mangle]
pub unsafe extern "C" fn InitializeConditionVariable(cv: *mut CONDITION_VARIABLE) {
    boundary((), || {
        if !cv.is_null() {
            // SAFETY: non-NULL, caller contract.
            unsafe { word(cv) }.store(0, Ordering::Release);
        }
    })
}

/// `SleepConditionVariableCS`: `TRUE` when woken; `FALSE` + `ERROR_TIMEOUT`.
///
/// # Safety
/// `cv` must point to an initialised `CONDITION_VARIABLE`, `cs` to a critical
/// section the caller holds.
#[no_mangle]
pub unsafe extern "C" fn SleepConditionVariableCS(
    cv: *mut CONDITION_VARIABLE,
    cs: *mut CRITICAL_SECTION,
    ms: DWORD,
) -> BOOL {
    boundary(FALSE, || {
        if cv.is_null() || cs.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: non-NULL, caller contract.
        let w = unsafe { word(cv) };
        sleep_on(
            w,
            ms,
            // SAFETY: an initialised section the caller holds (contract).
            || unsafe { crate::sync::critical_section::LeaveCriticalSection(cs) },
            // SAFETY: as above.
            || unsafe { crate::sync::critical_section::EnterCriticalSection(cs) },
        )
    })
}

/// `SleepConditionVariableSRW`: the lock is held exclusively, or shared with
/// `CONDITION_VARIABLE_LOCKMODE_SHARED`, and held the same way on return.
///
/// # Safety
/// `cv` must point to an initialised `CONDITION_VARIABLE`, `lock` to an
/// `SRWLOCK` the caller holds in the mode `flags` names.
#[no_mangle]
pub unsafe extern "C" fn SleepConditionVariableSRW(
    cv: *mut CONDITION_VARIABLE,
    lock: *mut SRWLOCK,
    ms: DWORD,
    flags: ULONG,
) -> BOOL {
    boundary(FALSE, || {
        if cv.is_null() || lock.is_null() || flags & !CONDITION_VARIABLE_LOCKMODE_SHARED != 0 {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: non-NULL, caller contract (both).
        let (w, l) = unsafe { (word(cv), crate::sync::srwlock::word(lock)) };
        if flags & CONDITION_VARIABLE_LOCKMODE_SHARED != 0 {
            sleep_on(
                w,
                ms,
                || crate::sync::srwlock::unlock_shared(l),
                || crate::sync::srwlock::lock_shared(l),
            )
        } else {
            sleep_on(
                w,
                ms,
                || crate::sync::srwlock::unlock_exclusive(l),
                || crate::sync::srwlock::lock_exclusive(l),
            )
        }
    })
}

/// `WakeConditionVariable`: wakes one sleeper, if any.
///
/// # Safety
/// `cv` must be NULL or point to an initialised `CONDITION_VARIABLE`.
#[no_mangle]
pub unsafe extern "C" fn WakeConditionVariable(cv: *mut CONDITION_VARIABLE) {
    boundary((), || {
        if cv.is_null() {
            return;
        }
        // SAFETY: non-NULL, caller contract.
        let w = unsafe { word(cv) };
        w.fetch_add(1, Ordering::SeqCst);
        park::wake_one(w.as_ptr() as usize, Space::CondVar);
    })
}

/// `WakeAllConditionVariable`: wakes every sleeper.
///
/// # Safety
/// As `WakeConditionVariable`.
#[no_mangle]
pub unsafe extern "C" fn WakeAllConditionVariable(cv: *mut CONDITION_VARIABLE) {
    boundary((), || {
        if cv.is_null() {
            return;
        }
        // SAFETY: non-NULL, caller contract.
        let w = unsafe { word(cv) };
        w.fetch_add(1, Ordering::SeqCst);
        park::wake_all(w.as_ptr() as usize, Space::CondVar);
    })
}
