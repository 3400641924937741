//! The thread pool (threadpoolapiset.h): pools, callback environments and
//! the worker threads that run every callback.
//!
//! A pool is a C completion port ([`CPort`], the object
//! `CreateIoCompletionPort` makes) served by worker threads that wait on it
//! exactly as a `GetQueuedCompletionStatus` loop does — so the port's FIFO
//! packets, LIFO wake-up, concurrency limit and blocking sections apply to
//! callbacks as to any other worker. Every callback is a packet:
//!
//! * work, simple callbacks, timers and waits post a packet whose key is a
//!   strong reference to the object ([`TpObj`], `Arc::into_raw`), consumed by
//!   the worker that dequeues it;
//! * I/O: `CreateThreadpoolIo` associates the handle with the pool's port
//!   under the object's address with the low bit set, so the engine routes
//!   each completion there like to any port; `StartThreadpoolIo` takes the
//!   reference that completion (or `CancelThreadpoolIo`) gives back.
//!
//! Workers are started on demand: when a packet is posted and fewer workers
//! wait than packets are queued, one more starts (up to the pool's maximum),
//! so a callback that blocks does not hold up the others. Workers do not
//! retire while the pool lives.
//!
//! | module | what |
//! |---|---|
//! | [`object`] | the callback object shared by every kind: pending and running callbacks, waiting for them, closing |
//! | `work` | TrySubmitThreadpoolCallback, work objects |
//! | `timer` | timer objects and the timer thread |
//! | `wait` | wait objects |
//! | `io` | I/O objects |
//! | `cleanup` | cleanup groups |
//! | `instance` | the callback instance and what happens when a callback returns |

pub(crate) mod object;

mod cleanup;
mod instance;
mod io;
mod timer;
mod wait;
mod work;

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use cport_core::{GetError, Port};

use crate::engine::cport::{close_port, processors, set_current, CPort};
use crate::engine::{CBuf, PacketValue};
use crate::error::{boundary, fail};
use crate::types::*;
pub(crate) use crate::types_sync::TP_CALLBACK_ENVIRON_V3;
use object::TpObj;

/// Windows' default maximum number of threads of a pool.
const DEFAULT_MAX_THREADS: usize = 512;

/// What the workers share: the port and the thread counts.
pub(crate) struct PoolCore {
    pub(crate) cport: Arc<CPort>,
    /// Workers started and not ended.
    threads: AtomicUsize,
    /// Workers waiting on the port for a packet.
    idle: AtomicUsize,
    /// Packets posted by the pool and not dequeued yet.
    queued: AtomicUsize,
    min: AtomicUsize,
    max: AtomicUsize,
}

/// A pool as the program and its objects hold it: when the last reference
/// goes (`CloseThreadpool` and every object of the pool released), the port
/// closes and the workers end.
pub(crate) struct Pool {
    pub(crate) core: Arc<PoolCore>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        close_port(&self.core.cport);
    }
}

impl Pool {
    fn new() -> Option<Arc<Pool>> {
        let port = Port::builder()
            .concurrency(processors())
            .build::<usize, PacketValue, CBuf>()
            .ok()?;
        Some(Arc::new(Pool {
            core: Arc::new(PoolCore {
                cport: CPort::new(port),
                threads: AtomicUsize::new(0),
                idle: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
                min: AtomicUsize::new(0),
                max: AtomicUsize::new(DEFAULT_MAX_THREADS),
            }),
        }))
    }

    /// Queues a callback of `obj` (the packet holds a reference to it);
    /// `value` reaches the dispatcher (a wait's result). `false` if the
    /// pool's port is closed.
    pub(crate) fn post(&self, obj: Arc<TpObj>, value: u32) -> bool {
        let key = Arc::into_raw(obj) as usize;
        self.core.queued.fetch_add(1, Ordering::SeqCst);
        if self.core.cport.post(key, value, 0, STATUS_SUCCESS) {
            self.core.grow(false);
            true
        } else {
            self.core.queued.fetch_sub(1, Ordering::SeqCst);
            // SAFETY: the reference made by `into_raw` above was not queued.
            drop(unsafe { Arc::from_raw(key as *const TpObj) });
            false
        }
    }
}

impl PoolCore {
    /// Starts a worker if fewer wait than packets are queued (or `always`),
    /// within the maximum. `true` if one was started.
    pub(crate) fn grow(self: &Arc<Self>, always: bool) -> bool {
        loop {
            let n = self.threads.load(Ordering::SeqCst);
            let short = self.idle.load(Ordering::SeqCst) < self.queued.load(Ordering::SeqCst);
            if !(always || short) || n >= self.max.load(Ordering::SeqCst) {
                return false;
            }
            if self
                .threads
                .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                break;
            }
        }
        let core = self.clone();
        let started = std::thread::Builder::new()
            .name("cport-tp-worker".into())
            .spawn(move || worker(core))
            .is_ok();
        if !started {
            self.threads.fetch_sub(1, Ordering::SeqCst);
        }
        started
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads.load(Ordering::SeqCst)
    }

    pub(crate) fn max_threads(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    /// Whether a worker is waiting for a packet now.
    pub(crate) fn has_idle(&self) -> bool {
        self.idle.load(Ordering::SeqCst) > 0
    }

    /// Starts workers up to the minimum.
    fn fill_to_min(self: &Arc<Self>) -> bool {
        while self.threads.load(Ordering::SeqCst) < self.min.load(Ordering::SeqCst) {
            if !self.grow(true) {
                return false;
            }
        }
        true
    }
}

/// A worker: waits on the pool's port and runs the callback of each packet.
fn worker(core: Arc<PoolCore>) {
    loop {
        core.idle.fetch_add(1, Ordering::SeqCst);
        let got = core.cport.port.get(None);
        core.idle.fetch_sub(1, Ordering::SeqCst);
        match got {
            Ok(p) => {
                // Blocking inside a callback is a blocking section of this port.
                set_current(Some(&core.cport));
                let bytes = p.result.as_ref().map_or(0, |&n| n as u32);
                if p.key & 1 == 1 {
                    let e = p.value.entry();
                    io::dispatch(p.key & !1, e.ov, e.status, bytes);
                } else {
                    core.queued.fetch_sub(1, Ordering::SeqCst);
                    // SAFETY: posted keys are references made by `Pool::post`.
                    let obj = unsafe { Arc::from_raw(p.key as *const TpObj) };
                    object::dispatch(obj, bytes);
                }
            }
            Err(GetError::TimedOut) => {}
            Err(_) => break,
        }
    }
    set_current(None);
    core.threads.fetch_sub(1, Ordering::SeqCst);
}

/// The process's default pool, used when an environment names none.
fn default_pool() -> Option<Arc<Pool>> {
    static DEFAULT: OnceLock<Option<Arc<Pool>>> = OnceLock::new();
    DEFAULT.get_or_init(Pool::new).clone()
}

/// What an object takes from its callback environment.
pub(crate) struct Env {
    pub(crate) pool: Arc<Pool>,
    pub(crate) group: Option<Arc<cleanup::Group>>,
    pub(crate) cancel_callback: usize,
}

/// Reads a callback environment (NULL: the default pool, no group).
///
/// # Safety
/// `env` must be NULL or point to an initialised `TP_CALLBACK_ENVIRON_V3`
/// whose pool and cleanup group are live objects of this module.
pub(crate) unsafe fn read_env(env: *const TP_CALLBACK_ENVIRON_V3) -> Option<Env> {
    if env.is_null() {
        return Some(Env {
            pool: default_pool()?,
            group: None,
            cancel_callback: 0,
        });
    }
    // SAFETY: caller contract: an initialised environment.
    let e = unsafe { &*env };
    let pool = if e.Pool.is_null() {
        default_pool()?
    } else {
        // SAFETY: a pool pointer is an `Arc<Pool>` from CreateThreadpool,
        // live until CloseThreadpool (caller contract).
        unsafe { clone_arc(e.Pool as *const Pool) }
    };
    let group = (!e.CleanupGroup.is_null()).then(|| {
        // SAFETY: as for the pool: a live group from CreateThreadpoolCleanupGroup.
        unsafe { clone_arc(e.CleanupGroup as *const cleanup::Group) }
    });
    Some(Env {
        pool,
        group,
        cancel_callback: e.CleanupGroupCancelCallback as usize,
    })
}

/// A new strong reference to the `Arc` behind `ptr`.
///
/// # Safety
/// `ptr` must come from `Arc::into_raw` and that reference must still be held.
pub(crate) unsafe fn clone_arc<T>(ptr: *const T) -> Arc<T> {
    // SAFETY: caller contract: a held `into_raw` reference, so the count is
    // at least 1 while we add one.
    unsafe {
        Arc::increment_strong_count(ptr);
        Arc::from_raw(ptr)
    }
}

/// `CreateThreadpool`: a private pool (`reserved` must be NULL).
#[no_mangle]
pub extern "C" fn CreateThreadpool(reserved: *mut c_void) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        if !reserved.is_null() {
            return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
        }
        match Pool::new() {
            Some(p) => Arc::into_raw(p) as *mut c_void,
            None => fail(ERROR_NOT_ENOUGH_MEMORY, std::ptr::null_mut()),
        }
    })
}

/// `CloseThreadpool`: the pool goes once its objects are released too.
///
/// # Safety
/// `pool` must come from `CreateThreadpool` and not be closed yet.
#[no_mangle]
pub unsafe extern "C" fn CloseThreadpool(pool: *mut c_void) {
    boundary((), || {
        if !pool.is_null() {
            // SAFETY: caller contract: the program's reference, given back once.
            drop(unsafe { Arc::from_raw(pool as *const Pool) });
        }
    })
}

/// `SetThreadpoolThreadMaximum` (a minimum above it comes down to it).
///
/// # Safety
/// `pool` must be a live pool from `CreateThreadpool`.
#[no_mangle]
pub unsafe extern "C" fn SetThreadpoolThreadMaximum(pool: *mut c_void, most: DWORD) {
    boundary((), || {
        if pool.is_null() {
            return;
        }
        // SAFETY: caller contract: a live pool.
        let core = unsafe { &(*(pool as *const Pool)).core };
        let most = (most as usize).max(1);
        core.max.store(most, Ordering::SeqCst);
        if core.min.load(Ordering::SeqCst) > most {
            core.min.store(most, Ordering::SeqCst);
        }
    })
}

/// `SetThreadpoolThreadMinimum`: starts workers up to it at once (a maximum
/// below it goes up to it). FALSE if a thread could not be started.
///
/// # Safety
/// `pool` must be a live pool from `CreateThreadpool`.
#[no_mangle]
pub unsafe extern "C" fn SetThreadpoolThreadMinimum(pool: *mut c_void, least: DWORD) -> BOOL {
    boundary(FALSE, || {
        if pool.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: caller contract: a live pool.
        let core = unsafe { &(*(pool as *const Pool)).core };
        let least = least as usize;
        core.min.store(least, Ordering::SeqCst);
        if core.max.load(Ordering::SeqCst) < least {
            core.max.store(least, Ordering::SeqCst);
        }
        if core.fill_to_min() {
            TRUE
        } else {
            fail(ERROR_NOT_ENOUGH_MEMORY, FALSE)
        }
    })
}
