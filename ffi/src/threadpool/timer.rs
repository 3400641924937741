//! Timer objects: `CreateThreadpoolTimer`, `SetThreadpoolTimer(Ex)`,
//! `IsThreadpoolTimerSet`, `WaitForThreadpoolTimerCallbacks`,
//! `CloseThreadpoolTimer`.
//!
//! One timer thread per process keeps the armed timers ordered by deadline
//! and, when one is due, queues its callback on its pool's port (and arms it
//! again a period later if it has one). Due times are FILETIMEs: negative =
//! relative, in 100 ns units; otherwise absolute (100 ns units since 1601,
//! UTC); 0 or a time in the past fires at once. The window is accepted and
//! not used (the timer fires at its due time).

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use super::object::{self, borrow, Kind, TpObj};
use super::TP_CALLBACK_ENVIRON_V3;
use crate::error::{boundary, fail};
use crate::types::*;
use crate::types_sync::FILETIME;

/// A timer object's state (under the object's lock).
#[derive(Default)]
pub(crate) struct TimerState {
    /// Its entry in the timer thread's table while armed.
    key: Option<(Instant, u64)>,
    period: Duration,
    /// Set with a due time (and not with NULL) since creation.
    set: bool,
}

struct Timers {
    armed: BTreeMap<(Instant, u64), Arc<TpObj>>,
    next_seq: u64,
}

static TIMERS: Mutex<Timers> = Mutex::new(Timers {
    armed: BTreeMap::new(),
    next_seq: 0,
});
static CHANGED: Condvar = Condvar::new();
static THREAD: Once = Once::new();

/// FILETIME of 1970-01-01 (100 ns units since 1601).
const UNIX_EPOCH_FILETIME: i64 = 116_444_736_000_000_000;

/// The deadline of a FILETIME due time.
pub(crate) fn deadline_of(due: i64) -> Instant {
    let now = Instant::now();
    if due < 0 {
        return now + Duration::from_nanos(due.unsigned_abs().saturating_mul(100));
    }
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let now_ft = UNIX_EPOCH_FILETIME + (since_epoch.as_nanos() / 100) as i64;
    let ahead = due.saturating_sub(now_ft).max(0) as u64;
    now + Duration::from_nanos(ahead.saturating_mul(100))
}

/// Reads a FILETIME the program passed.
///
/// # Safety
/// `ft` must be NULL or valid for reads.
pub(crate) unsafe fn read_filetime(ft: *const FILETIME) -> Option<i64> {
    // SAFETY: caller contract.
    let ft = unsafe { ft.as_ref()? };
    Some(((u64::from(ft.dwHighDateTime) << 32) | u64::from(ft.dwLowDateTime)) as i64)
}

fn timer_thread() {
    let mut t = TIMERS.lock();
    loop {
        let Some((&key, _)) = t.armed.iter().next() else {
            CHANGED.wait(&mut t);
            continue;
        };
        let now = Instant::now();
        if key.0 > now {
            CHANGED.wait_until(&mut t, key.0);
            continue;
        }
        let Some(obj) = t.armed.remove(&key) else {
            continue;
        };
        {
            let mut st = obj.lock();
            if st.timer.key != Some(key) {
                continue;
            }
            st.timer.key = None;
            if !st.timer.period.is_zero() {
                // The next expiry a period after this one (not after a late
                // wake-up), but never in the past.
                let at = (key.0 + st.timer.period).max(now);
                let next = (at, t.next_seq);
                t.next_seq += 1;
                st.timer.key = Some(next);
                t.armed.insert(next, obj.clone());
            }
        }
        drop(t);
        obj.queue(0);
        t = TIMERS.lock();
    }
}

/// Disarms a timer; `true` if it was armed.
pub(crate) fn cancel(obj: &Arc<TpObj>) -> bool {
    let mut t = TIMERS.lock();
    let mut st = obj.lock();
    match st.timer.key.take() {
        Some(k) => {
            t.armed.remove(&k);
            true
        }
        None => false,
    }
}

fn set(obj: &Arc<TpObj>, due: Option<i64>, period_ms: DWORD) -> bool {
    THREAD.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("cport-tp-timer".into())
            .spawn(timer_thread);
    });
    let mut t = TIMERS.lock();
    let mut st = obj.lock();
    let was = st.timer.key.take();
    if let Some(k) = was {
        t.armed.remove(&k);
    }
    st.timer.set = due.is_some();
    if let Some(due) = due {
        let key = (deadline_of(due), t.next_seq);
        t.next_seq += 1;
        st.timer.key = Some(key);
        st.timer.period = Duration::from_millis(u64::from(period_ms));
        t.armed.insert(key, obj.clone());
    }
    drop(st);
    drop(t);
    CHANGED.notify_all();
    was.is_some()
}

/// `CreateThreadpoolTimer`.
///
/// # Safety
/// `env` must be NULL or an initialised environment with live objects.
#[no_mangle]
pub unsafe extern "C" fn CreateThreadpoolTimer(
    callback: *mut c_void,
    context: *mut c_void,
    env: *const TP_CALLBACK_ENVIRON_V3,
) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: forwarded caller contract.
        unsafe { object::create(Kind::Timer, callback, context, env) }
    })
}

/// `SetThreadpoolTimerEx`: TRUE if the timer was armed (and is replaced or
/// cancelled).
///
/// # Safety
/// `timer` must be a live timer object; `due` NULL or a readable FILETIME.
#[no_mangle]
pub unsafe extern "C" fn SetThreadpoolTimerEx(
    timer: *mut c_void,
    due: *const FILETIME,
    period_ms: DWORD,
    _window_ms: DWORD,
) -> BOOL {
    boundary(FALSE, || {
        if timer.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: caller contract.
        let (obj, due) = unsafe { (borrow(timer), read_filetime(due)) };
        BOOL::from(set(&obj, due, period_ms))
    })
}

/// `SetThreadpoolTimer`: arm (or, with a NULL due time, cancel) the timer.
///
/// # Safety
/// `timer` must be a live timer object; `due` NULL or a readable FILETIME.
#[no_mangle]
pub unsafe extern "C" fn SetThreadpoolTimer(
    timer: *mut c_void,
    due: *const FILETIME,
    period_ms: DWORD,
    window_ms: DWORD,
) {
    // SAFETY: forwarded caller contract.
    unsafe { SetThreadpoolTimerEx(timer, due, period_ms, window_ms) };
}

/// `IsThreadpoolTimerSet`: TRUE once set with a due time, until set with NULL.
///
/// # Safety
/// `timer` must be a live timer object.
#[no_mangle]
pub unsafe extern "C" fn IsThreadpoolTimerSet(timer: *mut c_void) -> BOOL {
    boundary(FALSE, || {
        if timer.is_null() {
            return FALSE;
        }
        // SAFETY: caller contract.
        BOOL::from(unsafe { borrow(timer) }.lock().timer.set)
    })
}

/// `WaitForThreadpoolTimerCallbacks`.
///
/// # Safety
/// `timer` must be a live timer object.
#[no_mangle]
pub unsafe extern "C" fn WaitForThreadpoolTimerCallbacks(timer: *mut c_void, cancel: BOOL) {
    boundary((), || {
        // SAFETY: caller contract.
        unsafe { object::wait_callbacks(timer, cancel) }
    })
}

/// `CloseThreadpoolTimer`: disarms it; callbacks already queued still run.
///
/// # Safety
/// `timer` must be a live timer object, closed once.
#[no_mangle]
pub unsafe extern "C" fn CloseThreadpoolTimer(timer: *mut c_void) {
    boundary((), || {
        // SAFETY: caller contract.
        unsafe {
            object::close(timer, |obj| {
                cancel(obj);
            })
        }
    })
}
