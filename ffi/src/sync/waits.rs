//! Waits: `Sleep`/`SleepEx`, `WaitForSingleObject`,
//! `WaitForMultipleObjects` and `WSAWaitForMultipleEvents` — on events and on
//! thread handles (signalled when their thread exits) — each a blocking
//! section of the calling thread's port.

use std::time::Duration;

use crate::engine::signal::{self, timeout_of, WaitResult, Waitable};
use crate::error::{boundary, fail};
use crate::handles::{self, Object};
use crate::types::*;

fn sleep(ms: DWORD) {
    crate::engine::cport::blocking(|| {
        // A sleeping thread reaps the completions of ports nobody waits on
        // (the classic `while (!HasOverlappedIoCompleted(ov)) Sleep(0);`
        // after the workers have gone): the sleep is spent in the backend's
        // wait while operations are in flight.
        let start = std::time::Instant::now();
        let total = crate::engine::signal::timeout_of(ms);
        let helping = crate::engine::Helping::enter();
        loop {
            let left = total.map(|t| t.saturating_sub(start.elapsed()));
            let slice = left.unwrap_or(crate::engine::HELP_SLICE);
            if !crate::engine::help_reap(&helping, slice) {
                break;
            }
            if left.is_some_and(|l| l.is_zero()) || total.is_some_and(|t| start.elapsed() >= t) {
                return;
            }
        }
        drop(helping);
        match total.map(|t| t.saturating_sub(start.elapsed())) {
            Some(Duration::ZERO) => std::thread::yield_now(),
            None => loop {
                std::thread::park();
            },
            Some(left) => std::thread::sleep(left),
        }
    })
}

/// `Sleep`: a blocking section of the thread's completion port.
#[no_mangle]
pub extern "C" fn Sleep(ms: DWORD) {
    boundary((), || sleep(ms))
}

/// `SleepEx`: 0 after the full time; alertable, `WAIT_IO_COMPLETION` as
/// soon as queued APCs ran (see `thread/apc.rs`).
#[no_mangle]
pub extern "C" fn SleepEx(ms: DWORD, alertable: BOOL) -> DWORD {
    boundary(0, || {
        if alertable != FALSE {
            return crate::thread::apc::alertable_sleep(ms);
        }
        sleep(ms);
        0
    })
}

/// Resolves a wait's handle array to events, threads, semaphores and
/// mutexes, and waits; `interrupted` as in [`signal::wait_events_or`]
/// (`None`: it ended the wait).
///
/// # Safety
/// `handles` must be valid for `n` entries (checked non-NULL).
pub(crate) unsafe fn wait_many_or(
    n: DWORD,
    hs: *const HANDLE,
    all: BOOL,
    ms: DWORD,
    interrupted: impl FnMut() -> bool,
) -> Option<DWORD> {
    if n == 0 || n > MAXIMUM_WAIT_OBJECTS || hs.is_null() {
        return Some(fail(ERROR_INVALID_PARAMETER, WAIT_FAILED));
    }
    // SAFETY: valid for n entries (caller contract).
    let hs = unsafe { std::slice::from_raw_parts(hs, n as usize) };
    let mut events = Vec::with_capacity(hs.len());
    for &h in hs {
        match handles::get(h as usize) {
            Some(Object::Event(e)) => events.push(Waitable::Event(e)),
            Some(Object::Thread(t)) => events.push(Waitable::Thread(t)),
            Some(Object::Semaphore(sem)) => events.push(Waitable::Other(sem)),
            Some(Object::Mutex(m)) => events.push(Waitable::Other(m)),
            _ => return Some(fail(ERROR_INVALID_HANDLE, WAIT_FAILED)),
        }
    }
    Some(
        match signal::wait_events_or(&events, all != FALSE, timeout_of(ms), interrupted)? {
            WaitResult::Signaled(i) => WAIT_OBJECT_0 + i as DWORD,
            WaitResult::Abandoned(i) => WAIT_ABANDONED_0 + i as DWORD,
            WaitResult::TimedOut => WAIT_TIMEOUT,
        },
    )
}

/// A wait on a handle array (see [`wait_many_or`]), not interruptible.
///
/// # Safety
/// `handles` must be valid for `n` entries (checked non-NULL).
unsafe fn wait_many(n: DWORD, hs: *const HANDLE, all: BOOL, ms: DWORD) -> DWORD {
    // SAFETY: forwarded caller contract.
    unsafe { wait_many_or(n, hs, all, ms, || false) }.unwrap_or(WAIT_TIMEOUT)
}

/// `WaitForSingleObject` (events, threads, semaphores, mutexes).
#[no_mangle]
pub extern "C" fn WaitForSingleObject(h: HANDLE, ms: DWORD) -> DWORD {
    boundary(WAIT_FAILED, || {
        let one = [h];
        // SAFETY: a local array of one handle.
        unsafe { wait_many(1, one.as_ptr(), TRUE, ms) }
    })
}

/// `WaitForMultipleObjects` (events, threads, semaphores, mutexes; at most 64).
///
/// # Safety
/// `hs` must be valid for `n` handles.
#[no_mangle]
pub unsafe extern "C" fn WaitForMultipleObjects(
    n: DWORD,
    hs: *const HANDLE,
    all: BOOL,
    ms: DWORD,
) -> DWORD {
    // SAFETY: forwarded caller contract.
    boundary(WAIT_FAILED, || unsafe { wait_many(n, hs, all, ms) })
}

/// `WSAWaitForMultipleEvents`; alertable, it runs the thread's APCs and
/// completion routines and returns `WSA_WAIT_IO_COMPLETION`.
///
/// # Safety
/// `events` must be valid for `n` handles.
#[no_mangle]
pub unsafe extern "C" fn WSAWaitForMultipleEvents(
    n: DWORD,
    events: *const HANDLE,
    all: BOOL,
    ms: DWORD,
    alertable: BOOL,
) -> DWORD {
    if alertable != FALSE {
        // SAFETY: forwarded caller contract.
        return boundary(WSA_WAIT_FAILED, || unsafe {
            crate::thread::apc::alertable_wait(n, events, all, ms)
        });
    }
    // SAFETY: forwarded caller contract.
    boundary(WSA_WAIT_FAILED, || unsafe { wait_many(n, events, all, ms) })
}
