//! One-time initialisation (`INIT_ONCE`): `InitOnceInitialize`,
//! `InitOnceExecuteOnce`, `InitOnceBeginInitialize`, `InitOnceComplete`.
//!
//! # Implementation notes
//!
//! The program's pointer-sized word holds the whole state, as on Windows
//! (zero = `INIT_ONCE_STATIC_INIT`); its low `INIT_ONCE_CTX_RESERVED_BITS`
//! bits say which:
//!
//! | low bits | state |
//! |---|---|
//! | 0 (word 0) | not started |
//! | 1 | a synchronous initialisation runs; other synchronous callers wait |
//! | 2 | done; the other bits are the context |
//! | 3 | asynchronous initialisations run (any number, first to complete wins) |
//!
//! A caller that waits for another thread's initialisation sleeps on the
//! word's address (`crate::sync::park`) inside a blocking section of its completion
//! port. A failed synchronous initialisation (`INIT_ONCE_INIT_FAILED`, or the
//! callback of `InitOnceExecuteOnce` returning `FALSE`) puts the word back to
//! "not started" and wakes the waiters, one of which then runs it.
//! Mixing synchronous and asynchronous calls on one word, a context with its
//! reserved bits set, and the flag combinations Windows refuses fail with
//! `ERROR_INVALID_PARAMETER`; `INIT_ONCE_CHECK_ONLY` before completion and a
//! `InitOnceComplete` with nothing in progress (or an asynchronous one that
//! lost the race) fail with `ERROR_GEN_FAILURE`.

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{boundary, fail};
use crate::sync::park::{self, Space};
use crate::types::*;
use crate::types_sync::*;

const STATE: usize = 3;
const SYNC_RUNNING: usize = 1;
const DONE: usize = 2;
const ASYNC_RUNNING: usize = 3;

/// # Safety
/// `once` must be non-NULL and point to a live, aligned `INIT_ONCE`.
unsafe fn word<'a>(once: *mut INIT_ONCE) -> &'a AtomicUsize {
    // SAFETY: an aligned pointer-sized field of a live structure (caller
    // contract); AtomicUsize has the same layout.
    unsafe { AtomicUsize::from_ptr((&raw mut (*once).Ptr).cast()) }
}

/// What `begin` found.
enum Begun {
    /// The caller initialises (`fPending` TRUE).
    Pending,
    /// Done; the context.
    Done(usize),
}

fn begin(w: &AtomicUsize, flags: DWORD) -> Result<Begun, DWORD> {
    if flags & !(INIT_ONCE_CHECK_ONLY | INIT_ONCE_ASYNC) != 0 {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let asynchronous = flags & INIT_ONCE_ASYNC != 0;
    if flags & INIT_ONCE_CHECK_ONLY != 0 {
        if asynchronous {
            return Err(ERROR_INVALID_PARAMETER);
        }
        let v = w.load(Ordering::Acquire);
        return match v & STATE {
            DONE => Ok(Begun::Done(v & !STATE)),
            _ => Err(ERROR_GEN_FAILURE),
        };
    }
    loop {
        let v = w.load(Ordering::Acquire);
        match (v & STATE, asynchronous) {
            (0, _) => {
                let running = if asynchronous {
                    ASYNC_RUNNING
                } else {
                    SYNC_RUNNING
                };
                if w.compare_exchange(0, running, Ordering::Acquire, Ordering::Acquire)
                    .is_ok()
                {
                    return Ok(Begun::Pending);
                }
            }
            (DONE, _) => return Ok(Begun::Done(v & !STATE)),
            (ASYNC_RUNNING, true) => return Ok(Begun::Pending),
            (SYNC_RUNNING, false) => {
                crate::engine::cport::blocking(|| {
                    park::sleep(w.as_ptr() as usize, Space::InitOnce, None, || {
                        w.load(Ordering::Acquire) & STATE == SYNC_RUNNING
                    })
                });
            }
            // A synchronous caller on an asynchronous initialisation or the
            // other way round.
            _ => return Err(ERROR_INVALID_PARAMETER),
        }
    }
}

fn complete(w: &AtomicUsize, flags: DWORD, context: usize) -> Result<(), DWORD> {
    if flags & !(INIT_ONCE_ASYNC | INIT_ONCE_INIT_FAILED) != 0 || context & STATE != 0 {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let failed = flags & INIT_ONCE_INIT_FAILED != 0;
    let asynchronous = flags & INIT_ONCE_ASYNC != 0;
    if failed && (context != 0 || asynchronous) {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let new = if failed { 0 } else { context | DONE };
    let v = w.load(Ordering::Acquire);
    match (v & STATE, asynchronous) {
        (SYNC_RUNNING, false) => {
            w.store(new, Ordering::Release);
            park::wake_all(w.as_ptr() as usize, Space::InitOnce);
            Ok(())
        }
        (ASYNC_RUNNING, true) => w
            .compare_exchange(v, new, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| ERROR_GEN_FAILURE),
        (SYNC_RUNNING, true) | (ASYNC_RUNNING, false) => Err(ERROR_INVALID_PARAMETER),
        _ => Err(ERROR_GEN_FAILURE),
    }
}

/// `InitOnceInitialize`: back to "not started".
///
/// # Safety
/// `once` must be NULL or point to an `INIT_ONCE` no thread uses.
#[no_mangle]
pub unsafe extern "C" fn InitOnceInitialize(once: *mut INIT_ONCE) {
    boundary((), || {
        if !once.is_null() {
            // SAFETY: non-NULL, caller contract.
            unsafe { word(once) }.store(0, Ordering::Release);
        }
    })
}

/// `InitOnceBeginInitialize`: `TRUE` with `*pending` TRUE if the caller must
/// initialise (and then call `InitOnceComplete`), or FALSE and `*context`
/// set if it is done; waits while another thread initialises synchronously.
///
/// # Safety
/// `once` must point to an `INIT_ONCE`; `pending` NULL or valid (NULL fails);
/// `context` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn InitOnceBeginInitialize(
    once: *mut INIT_ONCE,
    flags: DWORD,
    pending: *mut BOOL,
    context: *mut *mut c_void,
) -> BOOL {
    boundary(FALSE, || {
        if once.is_null() || pending.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: non-NULL, caller contract.
        match begin(unsafe { word(once) }, flags) {
            Ok(Begun::Pending) => {
                // SAFETY: valid out-pointer (checked non-NULL).
                unsafe { pending.write(TRUE) };
                TRUE
            }
            Ok(Begun::Done(ctx)) => {
                // SAFETY: valid out-pointers (NULL context skipped).
                unsafe {
                    pending.write(FALSE);
                    if !context.is_null() {
                        context.write(ctx as *mut c_void);
                    }
                }
                TRUE
            }
            Err(e) => fail(e, FALSE),
        }
    })
}

/// `InitOnceComplete`: ends the caller's initialisation with `context` (its
/// low two bits must be clear), or as failed with `INIT_ONCE_INIT_FAILED`.
///
/// # Safety
/// `once` must point to an `INIT_ONCE`.
#[no_mangle]
pub unsafe extern "C" fn InitOnceComplete(
    once: *mut INIT_ONCE,
    flags: DWORD,
    context: *mut c_void,
) -> BOOL {
    boundary(FALSE, || {
        if once.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: non-NULL, caller contract.
        match complete(unsafe { word(once) }, flags, context as usize) {
            Ok(()) => TRUE,
            Err(e) => fail(e, FALSE),
        }
    })
}

/// `InitOnceExecuteOnce`: runs `init` once across all callers (the others
/// wait for it); `TRUE` and `*context` = its context once it succeeded,
/// `FALSE` if `init` returned `FALSE` (a later call tries again).
///
/// # Safety
/// `once` must point to an `INIT_ONCE`; `init` must be a valid callback for
/// `param`; `context` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn InitOnceExecuteOnce(
    once: *mut INIT_ONCE,
    init: Option<InitOnceFn>,
    param: *mut c_void,
    context: *mut *mut c_void,
) -> BOOL {
    boundary(FALSE, || {
        let Some(init) = init else {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        };
        if once.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: non-NULL, caller contract.
        let w = unsafe { word(once) };
        match begin(w, 0) {
            Ok(Begun::Done(ctx)) => {
                if !context.is_null() {
                    // SAFETY: valid out-pointer (caller contract).
                    unsafe { context.write(ctx as *mut c_void) };
                }
                TRUE
            }
            Ok(Begun::Pending) => {
                let mut ctx: *mut c_void = std::ptr::null_mut();
                // SAFETY: the program's callback with its own parameter and
                // our local as the context out-pointer.
                let ok = unsafe { init(once, param, &mut ctx) };
                if ok == FALSE {
                    let _ = complete(w, INIT_ONCE_INIT_FAILED, 0);
                    // The last error is the callback's, as on Windows.
                    return FALSE;
                }
                if let Err(e) = complete(w, 0, ctx as usize) {
                    // A context with its reserved bits set: nobody is left
                    // waiting forever.
                    let _ = complete(w, INIT_ONCE_INIT_FAILED, 0);
                    return fail(e, FALSE);
                }
                if !context.is_null() {
                    // SAFETY: valid out-pointer (caller contract).
                    unsafe { context.write(ctx) };
                }
                TRUE
            }
            Err(e) => fail(e, FALSE),
        }
    })
}
