//! Events: `CreateEventA/W`, `WSACreateEvent`, `SetEvent`/`ResetEvent`,
//! `WSASetEvent`/`WSAResetEvent`, `WSACloseEvent` (the event object itself
//! is the engine's, which sets it when an operation completes).

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use crate::engine::signal::Event;
use crate::error::{boundary, fail};
use crate::handles::{self, Object};
use crate::types::*;

fn create_event(manual: BOOL, initial: BOOL) -> HANDLE {
    match handles::insert(Object::Event(Arc::new(Event::new(
        manual != FALSE,
        initial != FALSE,
    )))) {
        Some(h) => h as HANDLE,
        None => fail(ERROR_NOT_ENOUGH_MEMORY, std::ptr::null_mut()),
    }
}

/// `CreateEventA` (names are ignored: every event is unnamed).
#[no_mangle]
pub extern "C" fn CreateEventA(
    _security: *mut c_void,
    manual: BOOL,
    initial: BOOL,
    _name: *const c_char,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || create_event(manual, initial))
}

/// `CreateEventW` (names are ignored).
#[no_mangle]
pub extern "C" fn CreateEventW(
    _security: *mut c_void,
    manual: BOOL,
    initial: BOOL,
    _name: *const u32,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || create_event(manual, initial))
}

/// `WSACreateEvent`: manual-reset, not signalled.
#[no_mangle]
pub extern "C" fn WSACreateEvent() -> HANDLE {
    boundary(std::ptr::null_mut(), || create_event(TRUE, FALSE))
}

fn with_event(h: HANDLE, f: impl FnOnce(&Event)) -> BOOL {
    match handles::event(h as usize) {
        Some(e) => {
            f(&e);
            TRUE
        }
        None => fail(ERROR_INVALID_HANDLE, FALSE),
    }
}

/// `SetEvent`.
#[no_mangle]
pub extern "C" fn SetEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || with_event(h, Event::set))
}

/// `ResetEvent`.
#[no_mangle]
pub extern "C" fn ResetEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || with_event(h, Event::reset))
}

/// `WSASetEvent`.
#[no_mangle]
pub extern "C" fn WSASetEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || with_event(h, Event::set))
}

/// `WSAResetEvent`.
#[no_mangle]
pub extern "C" fn WSAResetEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || with_event(h, Event::reset))
}

/// `WSACloseEvent`.
#[no_mangle]
pub extern "C" fn WSACloseEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || {
        match handles::remove_if(h as usize, |o| matches!(o, Object::Event(_))) {
            Some(_) => TRUE,
            None => fail(WSA_INVALID_HANDLE, FALSE),
        }
    })
}
