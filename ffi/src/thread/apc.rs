//! User-mode APCs: `QueueUserAPC` and the alertable waits that run them
//! (`SleepEx`, `WaitForSingleObjectEx`, `WaitForMultipleObjectsEx` with
//! `bAlertable`, and `WSAWaitForMultipleEvents` and
//! `GetQueuedCompletionStatusEx` with `fAlertable`), the completion routines
//! of overlapped I/O (`WSARecv`'s `lpCompletionRoutine`, `ReadFileEx`), which
//! the engine hands here as APCs, plus `TerminateThread` (refused).
//!
//! Each thread's queue is keyed by its thread id and made when the thread
//! first needs one (a `CreateThread` thread at its start; any other thread
//! when it issues an operation with a completion routine or queues an APC to
//! itself), with a serial number that tells it from a later thread reusing
//! the id. The thread's exit (a thread-local destructor) removes the queue
//! and drops what is in it; APCs and completion routines for a thread that
//! has exited are dropped, never run by another thread, and `QueueUserAPC`
//! to it fails with `ERROR_GEN_FAILURE`, as on Windows. An alertable wait first
//! runs the queued APCs of its thread, in FIFO order, and then returns
//! `WAIT_IO_COMPLETION` without waiting; otherwise it waits and returns as
//! soon as an APC is queued to it (then runs it) or its wait ends. A
//! non-alertable wait never runs APCs, as on Windows. Every alertable wait is
//! woken at once by an APC queued to its thread: sleeps and object waits
//! through the events bus they sleep on, an alertable
//! `GetQueuedCompletionStatusEx` by interrupting its wait in the port
//! (`Port::interrupt_waiter`; the thread records the port it waits on,
//! [`PortWait`]). An APC queued in the instant between that thread's last
//! look at its queue and its arrival in the port is seen within
//! [`SLICE`].

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::engine::ApcTarget;
use crate::error::{boundary, fail, status_to_win32, status_to_wsa};
use crate::types::*;

/// `PAPCFUNC`.
type ApcFn = unsafe extern "C" fn(ULONG_PTR);

/// `LPWSAOVERLAPPED_COMPLETION_ROUTINE`.
type WsaRoutine = unsafe extern "C" fn(DWORD, DWORD, *mut OVERLAPPED, DWORD);
/// `LPOVERLAPPED_COMPLETION_ROUTINE`.
type FileRoutine = unsafe extern "C" fn(DWORD, DWORD, *mut OVERLAPPED);

/// How long an alertable wait on a completion port waits in the port at
/// most before it looks at its APC queue again (an APC interrupts it sooner;
/// this bounds only the race described in the module docs).
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// One queued APC.
enum Apc {
    /// `QueueUserAPC`'s routine and argument.
    User(ApcFn, ULONG_PTR),
    /// A finished operation's completion routine, with its arguments.
    Completion {
        target: ApcTarget,
        status: DWORD,
        bytes: usize,
        ov: usize,
    },
}

/// One thread's queue.
struct Queue {
    /// Tells this thread from an earlier or later one with the same id.
    serial: u64,
    apcs: VecDeque<Apc>,
    /// The port the thread waits on alertably, if it does ([`PortWait`]).
    waiting_on: Option<(crate::engine::EnginePort, std::thread::ThreadId)>,
}

/// The calling thread waits alertably on `port` while this lives: an APC
/// queued to it interrupts that wait (see the module docs).
pub(crate) struct PortWait {
    tid: u32,
    serial: u64,
}

impl PortWait {
    /// Records the wait; `None` if APCs are queued already (run them
    /// instead of waiting). A thread without a queue (it is exiting) records
    /// nothing: no APC can come.
    pub(crate) fn enter(port: &crate::engine::EnginePort) -> Option<PortWait> {
        let tid = crate::engine::signal::current_tid();
        let serial = register_current();
        let mut map = lock();
        if let Some(q) = map
            .get_mut(&tid)
            .filter(|q| q.serial == serial && serial != 0)
        {
            if !q.apcs.is_empty() {
                return None;
            }
            q.waiting_on = Some((port.clone(), std::thread::current().id()));
        }
        Some(PortWait { tid, serial })
    }
}

impl Drop for PortWait {
    fn drop(&mut self) {
        let left = lock()
            .get_mut(&self.tid)
            .filter(|q| q.serial == self.serial)
            .and_then(|q| q.waiting_on.take());
        drop(left);
    }
}

/// After an APC was queued to a thread whose queue said it waits on a port:
/// ends that wait (the thread then runs the APC).
fn interrupt(waiting_on: Option<(crate::engine::EnginePort, std::thread::ThreadId)>) {
    if let Some((port, thread)) = waiting_on {
        port.interrupt_waiter(thread);
    }
}

type Map = HashMap<u32, Queue>;

/// The next queue's serial number (0 means "none").
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// A thread's claim on its queue: its drop, at thread exit, removes the
/// queue (dropping what is left in it, outside the lock).
struct Registration {
    tid: u32,
    serial: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = {
            let mut map = lock();
            match map.get(&self.tid) {
                Some(q) if q.serial == self.serial => map.remove(&self.tid),
                _ => None,
            }
        };
        drop(removed);
    }
}

thread_local! {
    static REGISTRATION: RefCell<Option<Registration>> = const { RefCell::new(None) };
}

/// The calling thread's queue serial, if it has a queue.
fn current_serial() -> Option<u64> {
    REGISTRATION
        .try_with(|r| r.borrow().as_ref().map(|r| r.serial))
        .ok()
        .flatten()
}

/// The calling thread's queue serial, making its queue if it has none; 0
/// while its thread-locals are being torn down (it is exiting: no queue).
pub(crate) fn register_current() -> u64 {
    REGISTRATION
        .try_with(|r| {
            if let Some(reg) = &*r.borrow() {
                return reg.serial;
            }
            let tid = crate::engine::signal::current_tid();
            let serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
            // A queue left by an earlier thread of this id (one whose
            // destructors never ran) is replaced, its APCs dropped.
            let stale = lock().insert(
                tid,
                Queue {
                    serial,
                    apcs: VecDeque::new(),
                    waiting_on: None,
                },
            );
            drop(stale);
            *r.borrow_mut() = Some(Registration { tid, serial });
            serial
        })
        .unwrap_or(0)
}

struct Queues {
    by_tid: Mutex<Map>,
    queued: Condvar,
}

static QUEUES: std::sync::LazyLock<Queues> = std::sync::LazyLock::new(|| Queues {
    by_tid: Mutex::new(HashMap::new()),
    queued: Condvar::new(),
});

fn lock() -> MutexGuard<'static, Map> {
    QUEUES.by_tid.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the calling thread's queued APCs (not under the lock: an APC may
/// queue another). Returns whether any ran.
pub(crate) fn run_pending() -> bool {
    let tid = crate::engine::signal::current_tid();
    let Some(serial) = current_serial() else {
        return false; // no queue: nothing was ever queued to this thread
    };
    let mut ran = false;
    loop {
        let next = lock()
            .get_mut(&tid)
            .filter(|q| q.serial == serial)
            .and_then(|q| q.apcs.pop_front());
        let Some(apc) = next else {
            return ran;
        };
        // SAFETY: the program queued this APC (or issued this operation with
        // this completion routine); its OVERLAPPED is the program's, which
        // the routine receives as on Windows.
        unsafe { run(apc) };
        ran = true;
    }
}

/// Calls one APC.
///
/// # Safety
/// A `User` APC's routine takes its argument; a completion routine has the
/// signature its family declares.
unsafe fn run(apc: Apc) {
    match apc {
        // SAFETY: caller contract.
        Apc::User(f, data) => unsafe { f(data) },
        Apc::Completion {
            target,
            status,
            bytes,
            ov,
        } => {
            let ovp = ov as *mut OVERLAPPED;
            if target.winsock {
                let err = if nt_success(status) {
                    0
                } else {
                    status_to_wsa(status)
                };
                // SAFETY: the program passed this address as an
                // LPWSAOVERLAPPED_COMPLETION_ROUTINE (caller contract).
                let f: WsaRoutine = unsafe { std::mem::transmute(target.routine) };
                // SAFETY: as above.
                unsafe { f(err, bytes as DWORD, ovp, 0) };
            } else {
                let err = if nt_success(status) {
                    0
                } else {
                    status_to_win32(status)
                };
                // SAFETY: the program passed this address as an
                // LPOVERLAPPED_COMPLETION_ROUTINE (caller contract).
                let f: FileRoutine = unsafe { std::mem::transmute(target.routine) };
                // SAFETY: as above.
                unsafe { f(err, bytes as DWORD, ovp) };
            }
        }
    }
}

/// The engine's [`crate::engine::ApcSink`]: queues a finished operation's
/// completion routine to its issuing thread and wakes that thread; dropped
/// if that thread has exited (its queue is gone, or belongs to a later
/// thread with the same id).
fn queue_completion(target: ApcTarget, status: DWORD, bytes: usize, ov: usize) {
    let mut map = lock();
    match map.get_mut(&target.tid) {
        Some(q) if q.serial == target.serial && target.serial != 0 => {
            q.apcs.push_back(Apc::Completion {
                target,
                status,
                bytes,
                ov,
            });
            let waiting_on = q.waiting_on.clone();
            drop(map);
            wake_waiters();
            interrupt(waiting_on);
        }
        _ => {}
    }
}

/// The target for an operation issued now, on this thread, with the
/// completion routine `routine` (non-NULL); registers the engine's sink.
pub(crate) fn routine_target(routine: usize, winsock: bool) -> ApcTarget {
    let _ = crate::engine::APC_SINK.get_or_init(|| queue_completion);
    ApcTarget {
        tid: crate::engine::signal::current_tid(),
        serial: register_current(),
        routine,
        winsock,
    }
}

fn has_pending(map: &Map, tid: u32, serial: Option<u64>) -> bool {
    map.get(&tid)
        .is_some_and(|q| Some(q.serial) == serial && !q.apcs.is_empty())
}

/// Not a Win32 function: how many APCs and completion routines are queued,
/// over all threads (a test's check that none is left behind).
#[doc(hidden)]
#[no_mangle]
pub extern "C" fn cport_debug_queued_apcs() -> DWORD {
    boundary(0, || lock().values().map(|q| q.apcs.len() as DWORD).sum())
}

/// An alertable `SleepEx`: `WAIT_IO_COMPLETION` once APCs ran, else 0 after
/// the full time.
pub(crate) fn alertable_sleep(ms: DWORD) -> DWORD {
    if run_pending() {
        return WAIT_IO_COMPLETION;
    }
    let tid = crate::engine::signal::current_tid();
    let serial = current_serial();
    let deadline =
        crate::engine::signal::timeout_of(ms).and_then(|t| Instant::now().checked_add(t));
    let woken = crate::engine::cport::blocking(|| {
        let mut map = lock();
        loop {
            if has_pending(&map, tid, serial) {
                return true;
            }
            match deadline {
                None => map = QUEUES.queued.wait(map).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    map = QUEUES
                        .queued
                        .wait_timeout(map, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    });
    if woken && run_pending() {
        WAIT_IO_COMPLETION
    } else {
        0
    }
}

/// `QueueUserAPC`: non-zero once queued; 0 with `ERROR_INVALID_HANDLE` for a
/// handle that is not a thread, or `ERROR_GEN_FAILURE` for a thread that has
/// exited.
#[no_mangle]
pub extern "C" fn QueueUserAPC(f: Option<ApcFn>, thread: HANDLE, data: ULONG_PTR) -> DWORD {
    boundary(0, || {
        let Some(f) = f else {
            return fail(ERROR_INVALID_PARAMETER, 0);
        };
        let mut map;
        let tid = if thread as isize == -2 {
            register_current();
            map = lock();
            crate::engine::signal::current_tid()
        } else {
            let Some(t) = crate::handles::thread(thread as usize) else {
                return fail(ERROR_INVALID_HANDLE, 0);
            };
            let tid = t.tid.load(Ordering::Relaxed);
            map = lock();
            // Checked under the lock: a thread that has not exited yet still
            // has its id, and its queue unless it is exiting (the queue goes
            // first, then the handle is signalled).
            if t.has_exited() || !map.contains_key(&tid) {
                return fail(ERROR_GEN_FAILURE, 0);
            }
            tid
        };
        let waiting_on = match map.get_mut(&tid) {
            Some(q) => {
                q.apcs.push_back(Apc::User(f, data));
                q.waiting_on.clone()
            }
            // The calling thread, exiting (its queue is gone).
            None => return fail(ERROR_GEN_FAILURE, 0),
        };
        drop(map);
        wake_waiters();
        interrupt(waiting_on);
        1
    })
}

/// An alertable multi-object wait: APCs end it with `WAIT_IO_COMPLETION`.
/// An APC queued while it waits wakes it at once (the queueing side kicks
/// the events bus the wait sleeps on).
///
/// # Safety
/// `hs` must be valid for `n` handles.
pub(crate) unsafe fn alertable_wait(n: DWORD, hs: *const HANDLE, all: BOOL, ms: DWORD) -> DWORD {
    if run_pending() {
        return WAIT_IO_COMPLETION;
    }
    let tid = crate::engine::signal::current_tid();
    let serial = current_serial();
    // SAFETY: forwarded caller contract.
    let r = unsafe {
        crate::sync::waits::wait_many_or(n, hs, all, ms, || {
            serial.is_some() && has_pending(&lock(), tid, serial)
        })
    };
    match r {
        Some(r) => r,
        None => {
            run_pending();
            WAIT_IO_COMPLETION
        }
    }
}

/// An APC was queued: wake the waits that may be its thread's.
fn wake_waiters() {
    QUEUES.queued.notify_all();
    crate::engine::signal::EVENTS.kick();
}

/// `WaitForSingleObjectEx`.
#[no_mangle]
pub extern "C" fn WaitForSingleObjectEx(h: HANDLE, ms: DWORD, alertable: BOOL) -> DWORD {
    boundary(WAIT_FAILED, || {
        if alertable == FALSE {
            return crate::sync::waits::WaitForSingleObject(h, ms);
        }
        let one = [h];
        // SAFETY: a local array of one handle.
        unsafe { alertable_wait(1, one.as_ptr(), TRUE, ms) }
    })
}

/// `WaitForMultipleObjectsEx`.
///
/// # Safety
/// `hs` must be valid for `n` handles.
#[no_mangle]
pub unsafe extern "C" fn WaitForMultipleObjectsEx(
    n: DWORD,
    hs: *const HANDLE,
    all: BOOL,
    ms: DWORD,
    alertable: BOOL,
) -> DWORD {
    boundary(WAIT_FAILED, || {
        if alertable == FALSE {
            // SAFETY: forwarded caller contract.
            return unsafe { crate::sync::waits::WaitForMultipleObjects(n, hs, all, ms) };
        }
        // SAFETY: forwarded caller contract.
        unsafe { alertable_wait(n, hs, all, ms) }
    })
}

/// `TerminateThread`: not provided (Linux cannot end another thread
/// safely): `FALSE` with `ERROR_NOT_SUPPORTED`.
#[no_mangle]
pub extern "C" fn TerminateThread(_thread: HANDLE, _code: DWORD) -> BOOL {
    boundary(FALSE, || fail(ERROR_NOT_SUPPORTED, FALSE))
}
