//! The callback object every thread-pool kind shares ([`TpObj`]): its
//! callback and context, its pool and cleanup group, how many of its
//! callbacks are pending and running, waiting for them (with or without
//! cancelling the pending ones), and running one on a worker.
//!
//! A `PTP_WORK`/`PTP_TIMER`/`PTP_WAIT`/`PTP_IO` is the address of the
//! object (`Arc::into_raw`): the program's reference, given back by its
//! `Close…` function; each queued packet holds one more.

use std::ffi::c_void;
use std::sync::{Arc, Weak};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::cleanup::Group;
use super::instance::Instance;
use super::timer::TimerState;
use super::wait::WaitState;
use super::{Env, Pool};
use crate::error::fail;
use crate::types::*;

/// Which function family made an object, and so how its callback is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Simple,
    Work,
    Timer,
    Wait,
    Io,
}

/// Counts and per-kind state, under the object's lock.
#[derive(Default)]
pub(crate) struct State {
    /// Callbacks queued (packets posted, or I/O started) and not yet run.
    pub queued: usize,
    /// Callbacks running now (and not disassociated).
    pub running: usize,
    /// `WaitFor…Callbacks(…, TRUE)` calls in progress: queued callbacks
    /// reaching a worker meanwhile are dropped.
    pub cancelling: usize,
    /// Callbacks dropped that way (cleanup groups report them).
    pub cancelled: usize,
    pub timer: TimerState,
    pub wait: WaitState,
}

/// A work, timer, wait or I/O object, or a simple callback.
pub(crate) struct TpObj {
    pub kind: Kind,
    pub callback: usize,
    pub context: usize,
    pub pool: Arc<Pool>,
    pub group: Option<Weak<Group>>,
    /// The environment's `PTP_CLEANUP_GROUP_CANCEL_CALLBACK`, or 0.
    pub cancel_callback: usize,
    pub state: Mutex<State>,
    /// Signalled when `queued` or `running` falls.
    pub idle: Condvar,
    /// A wait object's own thread and cancel event (set up on first use).
    pub waiter: Mutex<Option<Arc<crate::engine::signal::Event>>>,
}

type SimpleCallback = unsafe extern "C" fn(*mut Instance, *mut c_void);
type ObjCallback = unsafe extern "C" fn(*mut Instance, *mut c_void, *mut c_void);
type WaitCallback = unsafe extern "C" fn(*mut Instance, *mut c_void, *mut c_void, u32);

impl TpObj {
    /// A new object of `kind` in `env`, added to the environment's cleanup group.
    pub(crate) fn new(kind: Kind, callback: usize, context: usize, env: Env) -> Arc<TpObj> {
        let obj = Arc::new(TpObj {
            kind,
            callback,
            context,
            pool: env.pool,
            group: env.group.as_ref().map(Arc::downgrade),
            cancel_callback: env.cancel_callback,
            state: Mutex::new(State::default()),
            idle: Condvar::new(),
            waiter: Mutex::new(None),
        });
        if let Some(g) = &env.group {
            g.add(&obj);
        }
        obj
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// The program's pointer to the object.
    pub(crate) fn ptr(self: &Arc<Self>) -> *mut c_void {
        Arc::as_ptr(self) as *mut c_void
    }

    /// Queues one callback (a packet on the pool's port); `value` reaches a
    /// wait callback as its result. `false` if the pool's port is closed.
    pub(crate) fn queue(self: &Arc<Self>, value: u32) -> bool {
        self.lock().queued += 1;
        if self.pool.post(self.clone(), value) {
            true
        } else {
            let mut st = self.lock();
            st.queued = st.queued.saturating_sub(1);
            drop(st);
            self.idle.notify_all();
            false
        }
    }

    /// Waits until no callback is queued or running; with `cancel`, queued
    /// callbacks that reach a worker meanwhile are dropped instead of run.
    pub(crate) fn wait_callbacks(&self, cancel: bool) {
        crate::engine::cport::blocking(|| {
            let mut st = self.lock();
            if cancel {
                st.cancelling += 1;
            }
            while st.queued > 0 || st.running > 0 {
                self.idle.wait(&mut st);
            }
            if cancel {
                st.cancelling -= 1;
            }
        })
    }

    /// A callback has finished (returned, or disassociated from its thread).
    pub(crate) fn callback_done(&self) {
        let mut st = self.lock();
        st.running = st.running.saturating_sub(1);
        drop(st);
        self.idle.notify_all();
    }

    /// A queued callback reached a worker: `call` runs it with its instance,
    /// unless a cancelling wait drops it.
    pub(crate) fn run(self: &Arc<Self>, call: impl FnOnce(*mut Instance)) {
        {
            let mut st = self.lock();
            st.queued = st.queued.saturating_sub(1);
            if st.cancelling > 0 {
                st.cancelled += 1;
                drop(st);
                self.idle.notify_all();
                return;
            }
            st.running += 1;
        }
        let mut inst = Instance::new(self);
        call(&mut inst);
        inst.finish();
        if !inst.disassociated() {
            self.callback_done();
        }
    }
}

/// Runs the callback of a packet the pool posted for `obj`.
pub(crate) fn dispatch(obj: Arc<TpObj>, value: u32) {
    let ptr = obj.ptr();
    let ctx = obj.context as *mut c_void;
    let cb = obj.callback;
    obj.run(|inst| match obj.kind {
        Kind::Simple => {
            // SAFETY: the program gave a PTP_SIMPLE_CALLBACK for this object.
            let f: SimpleCallback = unsafe { std::mem::transmute(cb) };
            // SAFETY: calling the program's callback with its own context.
            unsafe { f(inst, ctx) }
        }
        Kind::Work | Kind::Timer => {
            // SAFETY: a PTP_WORK_CALLBACK / PTP_TIMER_CALLBACK (same shape).
            let f: ObjCallback = unsafe { std::mem::transmute(cb) };
            // SAFETY: as above; `ptr` is the program's object pointer.
            unsafe { f(inst, ctx, ptr) }
        }
        Kind::Wait => {
            // SAFETY: a PTP_WAIT_CALLBACK.
            let f: WaitCallback = unsafe { std::mem::transmute(cb) };
            // SAFETY: as above; `value` is WAIT_OBJECT_0 or WAIT_TIMEOUT.
            unsafe { f(inst, ctx, ptr, value) }
        }
        // I/O packets go through `io::dispatch`.
        Kind::Io => {}
    });
    if obj.kind == Kind::Simple {
        if let Some(g) = obj.group.as_ref().and_then(Weak::upgrade) {
            g.remove(&obj);
        }
    }
}

/// Gives back the program's reference to an object (its `Close…` call),
/// after taking it out of its cleanup group.
///
/// # Safety
/// `ptr` must be a live object pointer the program has not closed yet.
pub(crate) unsafe fn release(ptr: *mut c_void) {
    // SAFETY: caller contract: the program's `into_raw` reference.
    let obj = unsafe { Arc::from_raw(ptr as *const TpObj) };
    if let Some(g) = obj.group.as_ref().and_then(Weak::upgrade) {
        g.remove(&obj);
    }
}

/// The object behind a program's pointer, borrowed.
///
/// # Safety
/// `ptr` must be a live object pointer (not closed).
pub(crate) unsafe fn borrow(ptr: *mut c_void) -> Arc<TpObj> {
    // SAFETY: caller contract.
    unsafe { super::clone_arc(ptr as *const TpObj) }
}

/// The body of `CreateThreadpoolWork`/`…Timer`/`…Wait`: a new object of
/// `kind`, or NULL with `ERROR_INVALID_PARAMETER` (no callback) or
/// `ERROR_NOT_ENOUGH_MEMORY` (no pool).
///
/// # Safety
/// `env` must be NULL or an initialised environment with live objects.
pub(crate) unsafe fn create(
    kind: Kind,
    callback: *mut c_void,
    context: *mut c_void,
    env: *const super::TP_CALLBACK_ENVIRON_V3,
) -> *mut c_void {
    if callback.is_null() {
        return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
    }
    // SAFETY: forwarded caller contract.
    let Some(env) = (unsafe { super::read_env(env) }) else {
        return fail(ERROR_NOT_ENOUGH_MEMORY, std::ptr::null_mut());
    };
    Arc::into_raw(TpObj::new(kind, callback as usize, context as usize, env)) as *mut c_void
}

/// The body of every `WaitForThreadpool…Callbacks`: nothing for NULL.
///
/// # Safety
/// `ptr` must be NULL or a live object pointer (not closed).
pub(crate) unsafe fn wait_callbacks(ptr: *mut c_void, cancel: BOOL) {
    if !ptr.is_null() {
        // SAFETY: caller contract.
        unsafe { borrow(ptr) }.wait_callbacks(cancel != FALSE);
    }
}

/// The body of every `CloseThreadpool…` but the cleanup group's: `stop`
/// ends what the object has armed, then the program's reference goes.
/// Nothing for NULL.
///
/// # Safety
/// `ptr` must be NULL or a live object pointer the program has not closed yet.
pub(crate) unsafe fn close(ptr: *mut c_void, stop: impl FnOnce(&Arc<TpObj>)) {
    if !ptr.is_null() {
        // SAFETY: caller contract.
        stop(&unsafe { borrow(ptr) });
        // SAFETY: caller contract.
        unsafe { release(ptr) };
    }
}
