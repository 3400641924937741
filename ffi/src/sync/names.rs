//! Names of semaphores and mutexes, within the process: `CreateSemaphore` /
//! `CreateMutex` with a name that exists return a new handle to the existing
//! object with `ERROR_ALREADY_EXISTS`, and `OpenSemaphore` / `OpenMutex`
//! find it. Names are case-sensitive and shared by both kinds, as on Windows
//! (a name taken by the other kind: `ERROR_INVALID_HANDLE`). A name lives as
//! long as one handle to its object is open. Other processes do not see
//! them (no kernel object namespace on Linux), and events stay unnamed.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::error::{fail, set_last_error};
use crate::handles::{self, Object};
use crate::sync::mutex::MutexObj;
use crate::sync::semaphore::Semaphore;
use crate::types::*;

/// A named object.
pub(crate) enum Named {
    Semaphore(Arc<Semaphore>),
    Mutex(Arc<MutexObj>),
}

/// The kind of a named object: a `Create*`/`Open*` call wants one and fails
/// on a name the other kind holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Semaphore,
    Mutex,
}

impl Named {
    fn kind(&self) -> Kind {
        match self {
            Named::Semaphore(_) => Kind::Semaphore,
            Named::Mutex(_) => Kind::Mutex,
        }
    }

    fn into_object(self) -> Object {
        match self {
            Named::Semaphore(s) => Object::Semaphore(s),
            Named::Mutex(m) => Object::Mutex(m),
        }
    }
}

enum Entry {
    Semaphore(Weak<Semaphore>),
    Mutex(Weak<MutexObj>),
}

impl Entry {
    fn upgrade(&self) -> Option<Named> {
        match self {
            Entry::Semaphore(w) => w.upgrade().map(Named::Semaphore),
            Entry::Mutex(w) => w.upgrade().map(Named::Mutex),
        }
    }
}

static NAMES: Mutex<Option<HashMap<String, Entry>>> = Mutex::new(None);

/// The live object named `name`.
fn find(name: &str) -> Option<Named> {
    let names = NAMES.lock();
    names.as_ref()?.get(name)?.upgrade()
}

/// Creates the object `make` builds under `name`, unless an object of that
/// name lives: then that one, and `true` (already existed).
fn create_or_find(name: &str, make: impl FnOnce() -> Named) -> (Named, bool) {
    let mut guard = NAMES.lock();
    let names = guard.get_or_insert_with(HashMap::new);
    if let Some(existing) = names.get(name).and_then(Entry::upgrade) {
        return (existing, true);
    }
    names.retain(|_, e| match e {
        Entry::Semaphore(w) => w.strong_count() > 0,
        Entry::Mutex(w) => w.strong_count() > 0,
    });
    let obj = make();
    let entry = match &obj {
        Named::Semaphore(s) => Entry::Semaphore(Arc::downgrade(s)),
        Named::Mutex(m) => Entry::Mutex(Arc::downgrade(m)),
    };
    names.insert(name.to_string(), entry);
    (obj, false)
}

/// The `Create*` of a named or unnamed object of kind `kind`: a handle to a
/// new object from `make`, or, for a `name` that lives, to that object with
/// `ERROR_ALREADY_EXISTS` (`make` is not called). NULL with
/// `ERROR_INVALID_HANDLE` if the other kind holds the name.
pub(crate) fn create_handle(
    kind: Kind,
    name: Option<String>,
    make: impl FnOnce() -> Named,
) -> HANDLE {
    let null = std::ptr::null_mut();
    let (obj, existed) = match name {
        Some(n) => create_or_find(&n, make),
        None => (make(), false),
    };
    if obj.kind() != kind {
        return fail(ERROR_INVALID_HANDLE, null);
    }
    match handles::insert(obj.into_object()) {
        Some(h) => {
            set_last_error(if existed {
                ERROR_ALREADY_EXISTS
            } else {
                NO_ERROR
            });
            h as HANDLE
        }
        None => fail(ERROR_NOT_ENOUGH_MEMORY, null),
    }
}

/// The `Open*` of the object of kind `kind` called `name`: a new handle to
/// it; `ERROR_INVALID_PARAMETER` for no name, `ERROR_FILE_NOT_FOUND` if none
/// lives, `ERROR_INVALID_HANDLE` if the other kind holds the name.
pub(crate) fn open_handle(kind: Kind, name: Option<String>) -> HANDLE {
    let null = std::ptr::null_mut();
    let Some(name) = name else {
        return fail(ERROR_INVALID_PARAMETER, null);
    };
    match find(&name) {
        Some(obj) if obj.kind() == kind => match handles::insert(obj.into_object()) {
            Some(h) => h as HANDLE,
            None => fail(ERROR_NOT_ENOUGH_MEMORY, null),
        },
        Some(_) => fail(ERROR_INVALID_HANDLE, null),
        None => fail(ERROR_FILE_NOT_FOUND, null),
    }
}

/// Defines the `OpenXxxA` and `OpenXxxW` exports of one kind: both are
/// [`open_handle`] of the name, narrow or wide.
macro_rules! open_exports {
    ($kind:expr, $a:ident, $w:ident, $($doc:literal),+) => {
        #[doc = concat!("`", stringify!($a), "`: ", $($doc),+)]
        /// The access mask and inheritance are not enforced.
        ///
        /// # Safety
        /// `name` must be NULL or a NUL-terminated string.
        #[no_mangle]
        pub unsafe extern "C" fn $a(
            _access: $crate::types::DWORD,
            _inherit: $crate::types::BOOL,
            name: *const i8,
        ) -> $crate::types::HANDLE {
            $crate::error::boundary(std::ptr::null_mut(), || {
                // SAFETY: NULL or NUL-terminated (caller contract).
                let name = unsafe { $crate::strings::narrow(name) };
                $crate::sync::names::open_handle($kind, name)
            })
        }

        #[doc = concat!("`", stringify!($w), "`: as `", stringify!($a), "`.")]
        ///
        /// # Safety
        /// `name` must be NULL or a NUL-terminated wide string.
        #[no_mangle]
        pub unsafe extern "C" fn $w(
            _access: $crate::types::DWORD,
            _inherit: $crate::types::BOOL,
            name: *const libc::wchar_t,
        ) -> $crate::types::HANDLE {
            $crate::error::boundary(std::ptr::null_mut(), || {
                // SAFETY: NULL or NUL-terminated (caller contract).
                let name = unsafe { $crate::strings::wide(name) };
                $crate::sync::names::open_handle($kind, name)
            })
        }
    };
}
pub(crate) use open_exports;
