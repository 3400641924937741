//! Threads: `CreateThread`, `ResumeThread`, `GetExitCodeThread`, `ExitProcess`
//! and the thread handle, which `WaitForSingleObject`/`WaitForMultipleObjects`
//! see as signalled once the thread has exited; TLS and FLS ([`tls`]);
//! `QueueUserAPC` and the alertable waits that run APCs ([`apc`]).
//!
//! # Implementation notes
//!
//! A `CreateThread` thread is a Rust `std::thread` that calls the program's
//! start routine. Its [`ThreadObj`] (shared by the handle, which
//! `CloseHandle` may drop at any time, and by the thread itself) records the
//! exit code and the "exited" signal. The signal is set by a thread-local
//! guard that the thread registers *before* running the start routine:
//! thread-local destructors run in reverse order of registration, so the
//! guard's runs last — after the library's own thread-exit bookkeeping, which
//! gives the thread's slot in its completion port's concurrency count back.
//! A waiter that sees the handle signalled therefore also sees the slot freed,
//! as on Windows.
//!
//! `CreateThread` returns once the new thread has reported its thread id (so
//! `lpThreadId` holds the id `GetCurrentThreadId` will return in it).
//! `CREATE_SUSPENDED` holds the thread before its start routine until
//! `ResumeThread` brings its suspend count to 0. `SuspendThread` of a running
//! thread is not provided (Linux has no safe equivalent).

pub(crate) mod apc;
pub(crate) mod tls;

use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use crate::engine::signal::{current_tid, ThreadObj};
use crate::error::{boundary, fail};
use crate::handles::{self, Object};
use crate::types::*;

/// `LPTHREAD_START_ROUTINE`.
pub(crate) type StartRoutine = unsafe extern "C" fn(*mut c_void) -> DWORD;

/// Signals the thread's handle when the thread's thread-locals are torn down.
struct ExitSignal(Option<Arc<ThreadObj>>);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.exited.store(true, Ordering::SeqCst);
            crate::engine::signal::EVENTS.kick();
        }
    }
}

thread_local! {
    static EXIT_SIGNAL: RefCell<ExitSignal> = const { RefCell::new(ExitSignal(None)) };
}

/// Default stack of a `CreateThread` thread with `dwStackSize == 0`, and the
/// smallest one given to a thread that asks for less (cport's own calls run
/// on it too).
const DEFAULT_STACK: usize = 2 << 20;
const MIN_STACK: usize = 256 << 10;

/// The body of a `CreateThread` thread.
///
/// # Safety
/// `start` must be a thread routine that may be called with `param`
/// (`CreateThread`'s contract).
unsafe fn run(obj: Arc<ThreadObj>, start: StartRoutine, param: usize, started: mpsc::Sender<u32>) {
    // Registered first, so that it is torn down last (see the module docs).
    let _ = EXIT_SIGNAL.try_with(|s| s.borrow_mut().0 = Some(obj.clone()));
    let tid = current_tid();
    obj.tid.store(tid, Ordering::Relaxed);
    // Its APC queue exists before anybody can see its id (QueueUserAPC on
    // the handle), and goes, at exit, before the handle is signalled.
    apc::register_current();
    let _ = started.send(tid);
    drop(started);
    obj.wait_resumed();
    // SAFETY: the program gave this start routine and parameter to
    // CreateThread; calling it with the parameter is the contract (caller
    // contract of `run`). A foreign exception unwinding out of it aborts the
    // process (as an unhandled exception ends a Windows process).
    let code = unsafe { start(param as *mut c_void) };
    obj.exit_code.store(code, Ordering::SeqCst);
}

/// `CreateThread`. The security attributes are ignored; of the creation flags,
/// `CREATE_SUSPENDED` and `STACK_SIZE_PARAM_IS_A_RESERVATION` are understood.
///
/// # Safety
/// `start` must be a valid thread routine for `param`; `tid` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateThread(
    _security: *mut c_void,
    stack: usize,
    start: Option<StartRoutine>,
    param: *mut c_void,
    flags: DWORD,
    tid: *mut DWORD,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        let null = std::ptr::null_mut();
        let Some(start) = start else {
            return fail(ERROR_INVALID_PARAMETER, null);
        };
        let obj = Arc::new(ThreadObj::new(flags & CREATE_SUSPENDED != 0));
        let Some(h) = handles::insert(Object::Thread(obj.clone())) else {
            return fail(ERROR_NOT_ENOUGH_MEMORY, null);
        };
        let size = match stack {
            0 => DEFAULT_STACK,
            n => n.max(MIN_STACK),
        };
        let (tx, rx) = mpsc::channel();
        let param = param as usize;
        let thread_obj = obj.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(size)
            // SAFETY: the program's routine and parameter (caller contract).
            .spawn(move || unsafe { run(thread_obj, start, param, tx) });
        if spawned.is_err() {
            handles::remove(h);
            return fail(ERROR_NOT_ENOUGH_MEMORY, null);
        }
        // The thread reports its id before anything else; a thread that
        // could not even do that has exited, and its id is 0.
        let id = rx.recv().unwrap_or(0);
        if !tid.is_null() {
            // SAFETY: valid out-pointer (caller contract).
            unsafe { *tid = id };
        }
        h as HANDLE
    })
}

/// `ResumeThread`: the previous suspend count (0 for a running thread), or
/// `(DWORD)-1` + `ERROR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn ResumeThread(h: HANDLE) -> DWORD {
    boundary(u32::MAX, || match handles::thread(h as usize) {
        Some(t) => t.resume(),
        None => fail(ERROR_INVALID_HANDLE, u32::MAX),
    })
}

/// `GetExitCodeThread`: `STILL_ACTIVE` (259) while the thread runs.
///
/// # Safety
/// `code` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn GetExitCodeThread(h: HANDLE, code: *mut DWORD) -> BOOL {
    boundary(FALSE, || {
        let Some(t) = handles::thread(h as usize) else {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        };
        if code.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        let value = if t.has_exited() {
            t.exit_code.load(Ordering::SeqCst)
        } else {
            STILL_ACTIVE
        };
        // SAFETY: valid out-pointer (checked non-NULL; caller contract).
        unsafe { *code = value };
        TRUE
    })
}

/// `GetThreadId`: the id of the thread behind a `CreateThread` handle.
#[no_mangle]
pub extern "C" fn GetThreadId(h: HANDLE) -> DWORD {
    boundary(0, || match handles::thread(h as usize) {
        Some(t) => t.tid.load(Ordering::Relaxed),
        None => fail(ERROR_INVALID_HANDLE, 0),
    })
}

/// `GetCurrentThread`: the pseudo-handle `(HANDLE)-2` (CloseHandle accepts
/// it and does nothing; it is not waitable here).
#[no_mangle]
pub extern "C" fn GetCurrentThread() -> HANDLE {
    boundary(-2isize as HANDLE, || -2isize as HANDLE)
}

/// `GetCurrentThreadId` (the Linux thread id).
#[no_mangle]
pub extern "C" fn GetCurrentThreadId() -> DWORD {
    boundary(0, current_tid)
}

/// `ExitProcess`: `exit(code)` (the C runtime's exit handlers run and its
/// streams are flushed; Windows would skip the former).
#[no_mangle]
pub extern "C" fn ExitProcess(code: UINT) -> ! {
    // SAFETY: exit does not return; it unwinds no Rust frame.
    boundary((), || unsafe { libc::exit(code as i32) });
    // SAFETY: not reached (exit does not return); abort keeps `!` honest.
    unsafe { libc::abort() }
}
