//! Wait objects: `CreateThreadpoolWait`, `SetThreadpoolWait(Ex)`,
//! `WaitForThreadpoolWaitCallbacks`, `CloseThreadpoolWait`.
//!
//! Each wait object has a thread of its own (started by its first
//! `SetThreadpoolWait`) that waits — through the engine's wait bus, so on
//! events, semaphores, mutexes and thread handles — on the object it was set
//! to and on a private cancel event, then queues the callback on the pool's
//! port with `WAIT_OBJECT_0` or, when the timeout passed, `WAIT_TIMEOUT`.
//! A wait fires once; the program sets it again for more. Setting it again
//! (or to NULL) sets the cancel event, so the thread drops the old wait.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Instant;

use super::object::{self, borrow, Kind, TpObj};
use super::timer::{deadline_of, read_filetime};
use super::TP_CALLBACK_ENVIRON_V3;
use crate::engine::signal::{wait_events, Event, WaitResult, Waitable};
use crate::error::{boundary, fail};
use crate::handles::{self, Object};
use crate::types::*;
use crate::types_sync::FILETIME;

/// What the wait object waits for now.
pub(crate) struct Arm {
    target: Waitable,
    deadline: Option<Instant>,
    generation: u64,
}

/// A wait object's state (under the object's lock).
#[derive(Default)]
pub(crate) struct WaitState {
    /// Bumped by every set, so the thread can tell a stale wait.
    generation: u64,
    /// The wait the thread has not picked up yet.
    arm: Option<Arm>,
    /// The thread is waiting for this generation (not yet fired).
    pending: Option<u64>,
    /// The object was closed: the thread ends.
    stopped: bool,
}

fn waitable(h: usize) -> Option<Waitable> {
    Some(match handles::get(h)? {
        Object::Event(e) => Waitable::Event(e),
        Object::Thread(t) => Waitable::Thread(t),
        Object::Semaphore(s) => Waitable::Other(s),
        Object::Mutex(m) => Waitable::Other(m),
        _ => return None,
    })
}

/// The wait object's thread.
fn run(obj: Arc<TpObj>, cancel: Arc<Event>) {
    loop {
        let arm = {
            let mut st = obj.lock();
            loop {
                if st.wait.stopped {
                    return;
                }
                if let Some(a) = st.wait.arm.take() {
                    st.wait.pending = Some(a.generation);
                    break a;
                }
                obj.idle.wait(&mut st);
            }
        };
        let timeout = arm
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        let waits = [Waitable::Event(cancel.clone()), arm.target];
        let got = wait_events(&waits, false, timeout);
        let [_, target] = waits;
        let result = match got {
            WaitResult::Signaled(0) | WaitResult::Abandoned(0) => None,
            WaitResult::TimedOut => Some(WAIT_TIMEOUT),
            _ => Some(WAIT_OBJECT_0),
        };
        let mut st = obj.lock();
        let current = st.wait.generation == arm.generation && !st.wait.stopped;
        match result {
            Some(r) if current => {
                st.wait.pending = None;
                drop(st);
                obj.queue(r);
            }
            // Woken by the cancel event while still current (it was set for
            // an earlier change): wait again.
            None if current && st.wait.arm.is_none() => {
                st.wait.arm = Some(Arm {
                    target,
                    deadline: arm.deadline,
                    generation: arm.generation,
                });
            }
            _ => {
                if st.wait.pending == Some(arm.generation) {
                    st.wait.pending = None;
                }
            }
        }
    }
}

/// Stops the wait object's thread for good (close).
pub(crate) fn stop(obj: &Arc<TpObj>) {
    {
        let mut st = obj.lock();
        st.wait.stopped = true;
        st.wait.generation += 1;
        st.wait.arm = None;
    }
    obj.idle.notify_all();
    if let Some(c) = obj.waiter.lock().as_ref() {
        c.set();
    }
}

fn set(obj: &Arc<TpObj>, h: usize, due: Option<i64>) -> bool {
    let cancel = {
        let mut w = obj.waiter.lock();
        match &*w {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(Event::new(false, false));
                let (o, c2) = (obj.clone(), c.clone());
                if std::thread::Builder::new()
                    .name("cport-tp-wait".into())
                    .spawn(move || run(o, c2))
                    .is_err()
                {
                    return false;
                }
                *w = Some(c.clone());
                c
            }
        }
    };
    let target = if h == 0 { None } else { waitable(h) };
    let was = {
        let mut st = obj.lock();
        st.wait.generation += 1;
        let was = st.wait.pending.take().is_some() || st.wait.arm.is_some();
        st.wait.arm = target.map(|target| Arm {
            target,
            deadline: due.map(deadline_of),
            generation: st.wait.generation,
        });
        was
    };
    obj.idle.notify_all();
    cancel.set();
    was
}

/// `CreateThreadpoolWait`.
///
/// # Safety
/// `env` must be NULL or an initialised environment with live objects.
#[no_mangle]
pub unsafe extern "C" fn CreateThreadpoolWait(
    callback: *mut c_void,
    context: *mut c_void,
    env: *const TP_CALLBACK_ENVIRON_V3,
) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: forwarded caller contract.
        unsafe { object::create(Kind::Wait, callback, context, env) }
    })
}

/// `SetThreadpoolWaitEx`: TRUE if a wait was pending (and is replaced).
/// A NULL handle cancels; a NULL timeout waits forever.
///
/// # Safety
/// `wait` must be a live wait object; `timeout` NULL or a readable FILETIME.
#[no_mangle]
pub unsafe extern "C" fn SetThreadpoolWaitEx(
    wait: *mut c_void,
    h: HANDLE,
    timeout: *const FILETIME,
    _reserved: *mut c_void,
) -> BOOL {
    boundary(FALSE, || {
        if wait.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: caller contract.
        let (obj, due) = unsafe { (borrow(wait), read_filetime(timeout)) };
        BOOL::from(set(&obj, h as usize, due))
    })
}

/// `SetThreadpoolWait`.
///
/// # Safety
/// As `SetThreadpoolWaitEx`.
#[no_mangle]
pub unsafe extern "C" fn SetThreadpoolWait(wait: *mut c_void, h: HANDLE, timeout: *const FILETIME) {
    // SAFETY: forwarded caller contract.
    unsafe { SetThreadpoolWaitEx(wait, h, timeout, std::ptr::null_mut()) };
}

/// `WaitForThreadpoolWaitCallbacks`.
///
/// # Safety
/// `wait` must be a live wait object.
#[no_mangle]
pub unsafe extern "C" fn WaitForThreadpoolWaitCallbacks(wait: *mut c_void, cancel: BOOL) {
    boundary((), || {
        // SAFETY: caller contract.
        unsafe { object::wait_callbacks(wait, cancel) }
    })
}

/// `CloseThreadpoolWait`: the wait is cancelled; queued callbacks still run.
///
/// # Safety
/// `wait` must be a live wait object, closed once.
#[no_mangle]
pub unsafe extern "C" fn CloseThreadpoolWait(wait: *mut c_void) {
    boundary((), || {
        // SAFETY: caller contract.
        unsafe { object::close(wait, stop) }
    })
}
