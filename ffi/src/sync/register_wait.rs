//! Thread-pool waits: `RegisterWaitForSingleObject`, `UnregisterWait`,
//! `UnregisterWaitEx`.
//!
//! Each registration has a thread of its own that waits (with
//! `WaitForMultipleObjects`, so every waitable object works) on the object
//! and on a private cancel event, and calls the callback with
//! `TimerOrWaitFired` FALSE when the object was signalled, TRUE when the
//! timeout passed. With `WT_EXECUTEONLYONCE` it ends after the first call,
//! otherwise it waits again (an auto-reset object is consumed by each wait,
//! as on Windows).
//!
//! The wait handle is not a kernel handle (nothing to `CloseHandle`); it
//! names the registration until `UnregisterWait(Ex)`. Unregistering sets the
//! cancel event; then
//! * `UnregisterWaitEx(h, INVALID_HANDLE_VALUE)` waits until the callback,
//!   if running, has returned (unless called from that callback, which would
//!   wait for itself);
//! * `UnregisterWaitEx(h, NULL)` / `UnregisterWait(h)` return at once:
//!   `FALSE` with `ERROR_IO_PENDING` while the callback runs;
//! * `UnregisterWaitEx(h, event)` sets `event` once the callback is done.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{boundary, fail};
use crate::types::*;

/// `WAITORTIMERCALLBACK`.
type WaitCallback = unsafe extern "C" fn(*mut c_void, u8);

const WT_EXECUTEONLYONCE: ULONG = 0x8;

#[derive(Default)]
struct State {
    /// The registration's thread has finished (no callback will run again).
    finished: bool,
    /// The thread id of a callback now running, if any.
    running_in: Option<u32>,
    /// The event to set when finished (`UnregisterWaitEx(h, event)`).
    notify: Option<usize>,
}

struct Registration {
    cancel: usize,
    state: Mutex<State>,
    done: Condvar,
}

impl Registration {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

static REGISTRY: Mutex<Option<HashMap<usize, Arc<Registration>>>> = Mutex::new(None);
/// Wait handle values: odd multiples of 2, far from the handle table's
/// values (multiples of 4 below 2^31), so one is never taken for the other.
static NEXT: AtomicUsize = AtomicUsize::new(1);

fn registry() -> MutexGuard<'static, Option<HashMap<usize, Arc<Registration>>>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The registration's thread.
fn run(reg: Arc<Registration>, object: usize, cb: WaitCallback, ctx: usize, ms: ULONG, once: bool) {
    let handles = [reg.cancel as HANDLE, object as HANDLE];
    loop {
        // The cancel event first: when both are signalled, cancelling wins.
        // SAFETY: a local array of two handles.
        let r =
            unsafe { crate::sync::waits::WaitForMultipleObjects(2, handles.as_ptr(), FALSE, ms) };
        let fired = match r {
            x if x == WAIT_OBJECT_0 + 1 => 0u8,
            WAIT_TIMEOUT => 1u8,
            // Cancelled, or the object is gone.
            _ => break,
        };
        {
            let mut st = reg.lock();
            st.running_in = Some(crate::engine::signal::current_tid());
        }
        // SAFETY: the program registered this callback with this context.
        unsafe { cb(ctx as *mut c_void, fired) };
        reg.lock().running_in = None;
        if once {
            break;
        }
    }
    let notify = {
        let mut st = reg.lock();
        st.finished = true;
        st.running_in = None;
        st.notify.take()
    };
    reg.done.notify_all();
    if let Some(ev) = notify {
        crate::sync::events::SetEvent(ev as HANDLE);
    }
    crate::handles::CloseHandle(reg.cancel as HANDLE);
}

/// `RegisterWaitForSingleObject`. Of the flags only `WT_EXECUTEONLYONCE`
/// changes anything (every callback runs on the registration's own thread).
///
/// # Safety
/// `out` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn RegisterWaitForSingleObject(
    out: *mut HANDLE,
    object: HANDLE,
    callback: Option<WaitCallback>,
    context: *mut c_void,
    ms: ULONG,
    flags: ULONG,
) -> BOOL {
    boundary(FALSE, || {
        if out.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        let Some(cb) = callback else {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        };
        if crate::handles::get(object as usize).is_none() {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        }
        let cancel =
            crate::sync::events::CreateEventW(std::ptr::null_mut(), TRUE, FALSE, std::ptr::null());
        if cancel.is_null() {
            return FALSE;
        }
        let reg = Arc::new(Registration {
            cancel: cancel as usize,
            state: Mutex::new(State::default()),
            done: Condvar::new(),
        });
        let value = (NEXT.fetch_add(1, Ordering::Relaxed) << 1 | 1) | 1 << 40;
        let thread_reg = reg.clone();
        let (obj, ctx, once) = (
            object as usize,
            context as usize,
            flags & WT_EXECUTEONLYONCE != 0,
        );
        let spawned = std::thread::Builder::new()
            .name("cport-wait".into())
            .stack_size(256 << 10)
            .spawn(move || run(thread_reg, obj, cb, ctx, ms, once));
        if spawned.is_err() {
            crate::handles::CloseHandle(cancel);
            return fail(ERROR_NOT_ENOUGH_MEMORY, FALSE);
        }
        registry()
            .get_or_insert_with(HashMap::new)
            .insert(value, reg);
        // SAFETY: valid out-pointer (checked non-NULL; caller contract).
        unsafe { *out = value as HANDLE };
        TRUE
    })
}

fn unregister(wait: HANDLE, completion: HANDLE) -> BOOL {
    let reg = registry().as_mut().and_then(|m| m.remove(&(wait as usize)));
    let Some(reg) = reg else {
        return fail(ERROR_INVALID_HANDLE, FALSE);
    };
    crate::sync::events::SetEvent(reg.cancel as HANDLE);
    let me = crate::engine::signal::current_tid();
    let mut st = reg.lock();
    if completion as usize == INVALID_HANDLE_VALUE {
        while !st.finished && st.running_in.is_some_and(|t| t != me) {
            st = reg.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        return TRUE;
    }
    if !completion.is_null() {
        if st.finished || st.running_in.is_none() {
            drop(st);
            crate::sync::events::SetEvent(completion);
        } else {
            st.notify = Some(completion as usize);
        }
        return TRUE;
    }
    if st.running_in.is_some_and(|t| t != me) && !st.finished {
        return fail(ERROR_IO_PENDING, FALSE);
    }
    TRUE
}

/// `UnregisterWaitEx` (see the module docs for `CompletionEvent`).
#[no_mangle]
pub extern "C" fn UnregisterWaitEx(wait: HANDLE, completion: HANDLE) -> BOOL {
    boundary(FALSE, || unregister(wait, completion))
}

/// `UnregisterWait`: `UnregisterWaitEx(wait, NULL)`.
#[no_mangle]
pub extern "C" fn UnregisterWait(wait: HANDLE) -> BOOL {
    boundary(FALSE, || unregister(wait, std::ptr::null_mut()))
}
