//! Mutexes: `CreateMutexA/W`, `CreateMutexExA/W`, `OpenMutexA/W`, `ReleaseMutex`. A mutex
//! handle is waitable with `WaitForSingleObject`/`WaitForMultipleObjects`
//! (a satisfied wait makes the caller the owner; the owner's own waits
//! succeed at once and nest) and closed with `CloseHandle`.
//!
//! # Implementation notes
//!
//! Owner (thread id, 0 = free), depth and the "abandoned" flag are kept
//! under a small lock. Waits go through the event module's wait bus
//! (`crate::engine::signal`), which checks and takes ownership under its lock (so a
//! wait-all takes all its objects or none); `ReleaseMutex` only frees (which
//! cannot invalidate such a check), then kicks the bus.
//!
//! Each thread keeps a list of the mutexes it owns in a thread-local whose
//! destructor runs when the thread exits: a mutex still owned then is
//! *abandoned* — freed and flagged, and the next wait that takes it returns
//! `WAIT_ABANDONED_0 + i` (the caller owns it; the flag is cleared). The list
//! is registered on a thread's first acquisition, after a `CreateThread`
//! thread's exit signal, so it is torn down first: whoever sees the thread
//! handle signalled also finds its mutexes abandoned. Names are the process's
//! own (`crate::sync::names`).

use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::engine::signal::current_tid;
use crate::engine::signal::WaitObject;
use crate::error::{boundary, fail};
use crate::handles::{self, Object};
use crate::strings;
use crate::sync::names::{self, Kind, Named};
use crate::types::*;
use crate::types_sync::*;

struct State {
    owner: u32,
    depth: u32,
    abandoned: bool,
}

/// A mutex object.
pub(crate) struct MutexObj {
    state: Mutex<State>,
}

/// The mutexes the current thread owns; abandons them when dropped (thread exit).
struct Owned(Vec<Weak<MutexObj>>);

impl Drop for Owned {
    fn drop(&mut self) {
        let me = current_tid();
        let mut any = false;
        for m in self.0.drain(..).filter_map(|w| w.upgrade()) {
            let mut s = m.state.lock();
            if s.owner == me {
                s.owner = 0;
                s.depth = 0;
                s.abandoned = true;
                any = true;
            }
        }
        if any {
            crate::engine::signal::EVENTS.kick();
        }
    }
}

thread_local! {
    static OWNED: RefCell<Owned> = const { RefCell::new(Owned(Vec::new())) };
}

impl WaitObject for MutexObj {
    /// Whether a wait by the calling thread would be satisfied now.
    fn available(&self) -> bool {
        let s = self.state.lock();
        s.owner == 0 || s.owner == current_tid()
    }

    /// Under the event bus lock, after `available`: the calling thread takes
    /// (or re-enters) the mutex; whether it had been abandoned.
    fn take(self: Arc<Self>) -> bool {
        let me = current_tid();
        let mut s = self.state.lock();
        if s.owner == me {
            s.depth = s.depth.saturating_add(1);
            return false;
        }
        s.owner = me;
        s.depth = 1;
        let abandoned = std::mem::take(&mut s.abandoned);
        drop(s);
        let weak = Arc::downgrade(&self);
        let _ = OWNED.try_with(|o| o.borrow_mut().0.push(weak));
        abandoned
    }
}

impl MutexObj {
    /// `ReleaseMutex`.
    fn release(self: &Arc<Self>) -> Result<(), DWORD> {
        let me = current_tid();
        let mut s = self.state.lock();
        if s.owner != me || s.depth == 0 {
            return Err(ERROR_NOT_OWNER);
        }
        s.depth -= 1;
        if s.depth > 0 {
            return Ok(());
        }
        s.owner = 0;
        drop(s);
        let _ = OWNED.try_with(|o| {
            o.borrow_mut()
                .0
                .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(self)))
        });
        crate::engine::signal::EVENTS.kick();
        Ok(())
    }
}

fn create(initial_owner: bool, name: Option<String>) -> HANDLE {
    // An existing named mutex: `initial_owner` is ignored, as on Windows.
    names::create_handle(Kind::Mutex, name, || {
        let m = Arc::new(MutexObj {
            state: Mutex::new(State {
                owner: 0,
                depth: 0,
                abandoned: false,
            }),
        });
        if initial_owner {
            m.clone().take();
        }
        Named::Mutex(m)
    })
}

/// `CreateMutexA`: owned by the caller if `initial_owner`. With the name of
/// a live mutex: a handle to it and `ERROR_ALREADY_EXISTS`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CreateMutexA(
    _security: *mut c_void,
    initial_owner: BOOL,
    name: *const i8,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: NULL or NUL-terminated (caller contract).
        create(initial_owner != FALSE, unsafe { strings::narrow(name) })
    })
}

/// `CreateMutexW`: as `CreateMutexA`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn CreateMutexW(
    _security: *mut c_void,
    initial_owner: BOOL,
    name: *const libc::wchar_t,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: NULL or NUL-terminated (caller contract).
        create(initial_owner != FALSE, unsafe { strings::wide(name) })
    })
}

fn create_ex(flags: DWORD, name: Option<String>) -> HANDLE {
    if flags & !CREATE_MUTEX_INITIAL_OWNER != 0 {
        return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
    }
    create(flags & CREATE_MUTEX_INITIAL_OWNER != 0, name)
}

/// `CreateMutexExA`: `CREATE_MUTEX_INITIAL_OWNER` in `flags`; the access
/// mask is not enforced.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CreateMutexExA(
    _security: *mut c_void,
    name: *const i8,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: NULL or NUL-terminated (caller contract).
        create_ex(flags, unsafe { strings::narrow(name) })
    })
}

/// `CreateMutexExW`: as `CreateMutexExA`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn CreateMutexExW(
    _security: *mut c_void,
    name: *const libc::wchar_t,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        // SAFETY: NULL or NUL-terminated (caller contract).
        create_ex(flags, unsafe { strings::wide(name) })
    })
}

names::open_exports!(
    Kind::Mutex,
    OpenMutexA,
    OpenMutexW,
    "a new handle to the mutex of that name; `ERROR_FILE_NOT_FOUND` if none, ",
    "`ERROR_INVALID_HANDLE` if a semaphore has it."
);

/// `ReleaseMutex`: one level of the caller's ownership; `FALSE` +
/// `ERROR_NOT_OWNER` (288) if the caller does not own it.
#[no_mangle]
pub extern "C" fn ReleaseMutex(h: HANDLE) -> BOOL {
    boundary(FALSE, || {
        let Some(Object::Mutex(m)) = handles::get(h as usize) else {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        };
        match m.release() {
            Ok(()) => TRUE,
            Err(e) => fail(e, FALSE),
        }
    })
}
