//! Waitable timers: `CreateWaitableTimer(Ex)A/W`, `SetWaitableTimer`,
//! `CancelWaitableTimer`.
//!
//! A waitable timer is an event object in the handle table (so every wait
//! function, `CloseHandle` and the handle count treat it as Windows treats a
//! timer: a waitable object): a manual-reset timer is a manual-reset event, a
//! synchronization timer an auto-reset one. One scheduler thread, started
//! with the first timer, sets the events when their due times pass and
//! re-arms periodic timers. The registry holds the events weakly, so a
//! closed timer's entry goes away at its next turn.
//!
//! `SetWaitableTimer` resets the timer to non-signalled and (re)arms it;
//! `CancelWaitableTimer` disarms it without changing its state, as on
//! Windows. Completion routines (APCs at expiry) are not supported.

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::engine::signal::Event;
use crate::error::{boundary, fail};
use crate::handles::{self, Object};
use crate::types::*;

const CREATE_WAITABLE_TIMER_MANUAL_RESET: DWORD = 0x1;
const CREATE_WAITABLE_TIMER_HIGH_RESOLUTION: DWORD = 0x2;

/// One timer's schedule.
struct Timer {
    event: Weak<Event>,
    due: Option<Instant>,
    period: Duration,
}

struct Scheduler {
    timers: Mutex<HashMap<usize, Timer>>,
    changed: Condvar,
}

fn scheduler() -> &'static Scheduler {
    static S: OnceLock<&'static Scheduler> = OnceLock::new();
    S.get_or_init(|| {
        let s: &'static Scheduler = Box::leak(Box::new(Scheduler {
            timers: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
        }));
        // The thread lives as long as the process; if it cannot be started,
        // timers never fire (reported by SetWaitableTimer, see `arm`).
        let _ = std::thread::Builder::new()
            .name("cport-timers".into())
            .stack_size(64 << 10)
            .spawn(move || run(s));
        s
    })
}

fn lock(s: &Scheduler) -> MutexGuard<'_, HashMap<usize, Timer>> {
    s.timers.lock().unwrap_or_else(|e| e.into_inner())
}

/// The scheduler thread: fires due timers, sleeps until the next due time.
fn run(s: &'static Scheduler) {
    let mut timers = lock(s);
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        timers.retain(|_, t| {
            let Some(event) = t.event.upgrade() else {
                return false; // closed
            };
            if let Some(due) = t.due {
                if due <= now {
                    event.set();
                    t.due = if t.period.is_zero() {
                        None
                    } else {
                        // Periods missed while late are skipped, not bunched.
                        let mut d = due + t.period;
                        if d <= now {
                            d = now + t.period;
                        }
                        Some(d)
                    };
                }
            }
            if let Some(d) = t.due {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
            true
        });
        timers = match next {
            None => s.changed.wait(timers).unwrap_or_else(|e| e.into_inner()),
            Some(n) => {
                let left = n.saturating_duration_since(Instant::now());
                s.changed
                    .wait_timeout(timers, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
}

fn create(manual: bool) -> HANDLE {
    let event = Arc::new(Event::new(manual, false));
    let weak = Arc::downgrade(&event);
    let Some(h) = handles::insert(Object::Event(event)) else {
        return fail(ERROR_NOT_ENOUGH_MEMORY, std::ptr::null_mut());
    };
    lock(scheduler()).insert(
        h,
        Timer {
            event: weak,
            due: None,
            period: Duration::ZERO,
        },
    );
    h as HANDLE
}

/// `CreateWaitableTimerA` (the name is ignored).
#[no_mangle]
pub extern "C" fn CreateWaitableTimerA(
    _security: *mut c_void,
    manual: BOOL,
    _name: *const c_char,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || create(manual != FALSE))
}

/// `CreateWaitableTimerW` (the name is ignored).
#[no_mangle]
pub extern "C" fn CreateWaitableTimerW(
    _security: *mut c_void,
    manual: BOOL,
    _name: *const u32,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || create(manual != FALSE))
}

fn create_ex(flags: DWORD) -> HANDLE {
    let known = CREATE_WAITABLE_TIMER_MANUAL_RESET | CREATE_WAITABLE_TIMER_HIGH_RESOLUTION;
    if flags & !known != 0 {
        return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
    }
    create(flags & CREATE_WAITABLE_TIMER_MANUAL_RESET != 0)
}

/// `CreateWaitableTimerExA` (name and access ignored; every timer has high resolution).
#[no_mangle]
pub extern "C" fn CreateWaitableTimerExA(
    _security: *mut c_void,
    _name: *const c_char,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || create_ex(flags))
}

/// `CreateWaitableTimerExW` (name and access ignored).
#[no_mangle]
pub extern "C" fn CreateWaitableTimerExW(
    _security: *mut c_void,
    _name: *const u32,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || create_ex(flags))
}

/// 100 ns intervals from 1601-01-01 to the Unix epoch.
const EPOCH_DIFF_100NS: i64 = 116_444_736_000_000_000;

/// How long until `due` (Windows units: negative = relative, in 100 ns;
/// positive = absolute FILETIME in UTC).
fn delay_of(due: i64) -> Duration {
    if due < 0 {
        let ticks = due.unsigned_abs();
        return Duration::from_nanos(ticks.saturating_mul(100));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_nanos() / 100) as i64 + EPOCH_DIFF_100NS)
        .unwrap_or(EPOCH_DIFF_100NS);
    match due.checked_sub(now) {
        Some(d) if d > 0 => Duration::from_nanos((d as u64).saturating_mul(100)),
        _ => Duration::ZERO,
    }
}

/// Runs `f` on the timer behind `h` (and its event), or fails with
/// `ERROR_INVALID_HANDLE` if `h` is not a live waitable timer.
fn with_timer(h: HANDLE, f: impl FnOnce(&mut Timer, &Event)) -> BOOL {
    let Some(event) = handles::event(h as usize) else {
        return fail(ERROR_INVALID_HANDLE, FALSE);
    };
    let s = scheduler();
    let mut timers = lock(s);
    match timers.get_mut(&(h as usize)) {
        Some(t) if t.event.upgrade().is_some_and(|e| Arc::ptr_eq(&e, &event)) => {
            f(t, &event);
            s.changed.notify_all();
            TRUE
        }
        _ => fail(ERROR_INVALID_HANDLE, FALSE),
    }
}

/// `SetWaitableTimer`: resets the timer and arms it for `*due` (see
/// [`delay_of`]), then every `period` ms if `period > 0`. `fResume` is
/// ignored (there is no suspended state to wake from).
///
/// # Safety
/// `due` must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn SetWaitableTimer(
    h: HANDLE,
    due: *const LARGE_INTEGER,
    period: LONG,
    completion: Option<unsafe extern "C" fn(*mut c_void, DWORD, DWORD)>,
    _arg: *mut c_void,
    _resume: BOOL,
) -> BOOL {
    boundary(FALSE, || {
        if due.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        if period < 0 {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        if completion.is_some() {
            return fail(ERROR_NOT_SUPPORTED, FALSE);
        }
        // SAFETY: a valid LARGE_INTEGER (checked non-NULL; caller contract).
        let due = unsafe { due.cast::<i64>().read_unaligned() };
        let at = Instant::now() + delay_of(due);
        with_timer(h, |t, event| {
            event.reset();
            t.due = Some(at);
            t.period = Duration::from_millis(period as u64);
        })
    })
}

/// `CancelWaitableTimer`: disarms the timer; its state stays as it is.
#[no_mangle]
pub extern "C" fn CancelWaitableTimer(h: HANDLE) -> BOOL {
    boundary(FALSE, || {
        with_timer(h, |t, _| {
            t.due = None;
            t.period = Duration::ZERO;
        })
    })
}
