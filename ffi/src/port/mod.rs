//! Completion ports: `CreateIoCompletionPort`, `GetQueuedCompletionStatus(Ex)`,
//! `PostQueuedCompletionStatus`; and ([`libc_waits`]) the C library's
//! blocking calls as blocking sections of the calling thread's port. The
//! port object, its close and the thread association are the engine's
//! (`crate::engine::cport`).
//!
//! Each C port is one `cport::Port` that only ever carries posted packets:
//! I/O runs on the engine (`crate::engine`), which, when an operation
//! completes, writes its `OVERLAPPED`, signals its event and posts the packet
//! here with the key the handle is associated with *at that moment* (so an
//! association made after the operation started still routes it). Waiting,
//! LIFO release, the concurrency limit and close are the library's.

pub(crate) mod libc_waits;

use cport_core::{GetError, Port};

use crate::engine::cport::{close_port, processors, set_current, CPort};
use crate::engine::signal::timeout_of;
use crate::engine::{CBuf, EnginePort, PacketValue};
use crate::error::{fail, status_to_win32};
use crate::handles::{self, Object};
use crate::types::*;

fn create_port(concurrency: DWORD) -> Result<usize, DWORD> {
    let limit = match concurrency {
        0 => processors(),
        n => (n as usize).min(EnginePort::MAX_CONCURRENCY as usize),
    };
    // The backend opens when the first handle's operation starts (a port
    // that only carries posted packets never opens one).
    let port = Port::builder()
        .concurrency(limit)
        .build::<usize, PacketValue, CBuf>()
        .map_err(|e| crate::error::errno_to_win32(crate::error::errno_of(&e)))?;
    handles::insert(Object::Port(CPort::new(port))).ok_or(ERROR_NOT_ENOUGH_MEMORY)
}

/// `CreateIoCompletionPort`: create a port, associate a handle with an
/// existing one (returns that port), or both. A second association of a
/// handle, or a non-overlapped handle: NULL, 87.
#[no_mangle]
pub extern "C" fn CreateIoCompletionPort(
    file_handle: HANDLE,
    existing_port: HANDLE,
    completion_key: ULONG_PTR,
    concurrency: DWORD,
) -> HANDLE {
    crate::error::boundary(std::ptr::null_mut(), || {
        let null = std::ptr::null_mut();
        let file = file_handle as usize;
        let existing = existing_port as usize;
        if file == INVALID_HANDLE_VALUE {
            if existing != 0 {
                return fail(ERROR_INVALID_PARAMETER, null);
            }
            return match create_port(concurrency) {
                Ok(h) => h as HANDLE,
                Err(e) => fail(e, null),
            };
        }
        let obj = match handles::get(file) {
            Some(Object::Io(o)) => o,
            // A port or event (wrong type) or no object: 6.
            _ => return fail(ERROR_INVALID_HANDLE, null),
        };
        if !obj.is_overlapped() {
            return fail(ERROR_INVALID_PARAMETER, null);
        }
        let (port_value, port, created) = if existing == 0 {
            match create_port(concurrency) {
                Ok(h) => match handles::port(h) {
                    Some(p) => (h, p, true),
                    None => return fail(ERROR_INVALID_HANDLE, null),
                },
                Err(e) => return fail(e, null),
            }
        } else {
            match handles::port(existing) {
                Some(p) => (existing, p, false),
                None => return fail(ERROR_INVALID_HANDLE, null),
            }
        };
        if obj.associate(&port, completion_key) {
            port_value as HANDLE
        } else {
            if created {
                // As on Windows, a failed create-and-associate closes the new port.
                if let Some(Object::Port(p)) = handles::remove(port_value) {
                    close_port(&p);
                }
            }
            fail(ERROR_INVALID_PARAMETER, null)
        }
    })
}

/// `GetQueuedCompletionStatus`.
///
/// # Safety
/// `bytes`, `key` and `overlapped` must be NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn GetQueuedCompletionStatus(
    port: HANDLE,
    bytes: *mut DWORD,
    key: *mut ULONG_PTR,
    overlapped: *mut *mut OVERLAPPED,
    ms: DWORD,
) -> BOOL {
    crate::error::boundary(FALSE, || {
        if overlapped.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: the caller passes a valid out-pointer (checked non-NULL).
        unsafe { overlapped.write(std::ptr::null_mut()) };
        let Some(cport) = handles::port(port as usize) else {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        };
        let got = if crate::engine::REPLACED_ANY.load(std::sync::atomic::Ordering::Acquire) {
            let mut one = Vec::with_capacity(1);
            match get_reaping(&cport, &mut one, std::num::NonZeroUsize::MIN, ms, false) {
                Ok(_) => one.pop().ok_or(GetError::Closed),
                Err(e) => Err(e.unwrap_or(GetError::TimedOut)),
            }
        } else {
            cport.port.get(timeout_of(ms))
        };
        set_current(match &got {
            Err(GetError::Closed) => None,
            _ => Some(&cport),
        });
        match got {
            Ok(p) => {
                let n = p.result.as_ref().map_or(0, |&n| n as DWORD);
                // SAFETY: valid out-pointers per the C contract (NULL skipped).
                unsafe {
                    if !bytes.is_null() {
                        bytes.write(n);
                    }
                    if !key.is_null() {
                        key.write(p.key);
                    }
                    overlapped.write(p.value.entry().ov as *mut OVERLAPPED);
                }
                if nt_success(p.value.entry().status) {
                    TRUE
                } else {
                    fail(status_to_win32(p.value.entry().status), FALSE)
                }
            }
            Err(GetError::TimedOut) => fail(WAIT_TIMEOUT, FALSE),
            Err(GetError::Closed) => fail(ERROR_ABANDONED_WAIT_0, FALSE),
            Err(_) => fail(ERROR_INVALID_PARAMETER, FALSE),
        }
    })
}

/// `GetQueuedCompletionStatusEx`. Alertable, it first runs the thread's APCs
/// and completion routines (then `FALSE`, `WAIT_IO_COMPLETION`, no entries),
/// and while it waits an APC queued to the thread ends the wait the same way
/// (checked every few milliseconds).
///
/// # Safety
/// `entries` must be valid for `count` writes, `removed` for one.
#[no_mangle]
pub unsafe extern "C" fn GetQueuedCompletionStatusEx(
    port: HANDLE,
    entries: *mut OVERLAPPED_ENTRY,
    count: ULONG,
    removed: *mut ULONG,
    ms: DWORD,
    alertable: BOOL,
) -> BOOL {
    crate::error::boundary(FALSE, || {
        let Some(count) = std::num::NonZeroUsize::new(count as usize) else {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        };
        if entries.is_null() || removed.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        let Some(cport) = handles::port(port as usize) else {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        };
        let mut out = Vec::new();
        let sliced = alertable != FALSE
            || crate::engine::REPLACED_ANY.load(std::sync::atomic::Ordering::Acquire);
        let got = if !sliced {
            cport.port.get_many(&mut out, count, timeout_of(ms))
        } else {
            match get_reaping(&cport, &mut out, count, ms, alertable != FALSE) {
                Err(None) => {
                    // SAFETY: valid out-pointer (checked non-NULL).
                    unsafe { removed.write(0) };
                    return fail(WAIT_IO_COMPLETION, FALSE);
                }
                Err(Some(e)) => Err(e),
                Ok(n) => Ok(n),
            }
        };
        set_current(match &got {
            Err(GetError::Closed) => None,
            _ => Some(&cport),
        });
        match got {
            Ok(_) => {
                for (i, p) in out.iter().enumerate() {
                    let e = p.value.entry();
                    let entry = OVERLAPPED_ENTRY {
                        lpCompletionKey: p.key,
                        lpOverlapped: e.ov as *mut OVERLAPPED,
                        Internal: e.status as ULONG_PTR,
                        dwNumberOfBytesTransferred: p.result.as_ref().map_or(0, |&n| n as DWORD),
                    };
                    // SAFETY: `i < out.len() <= count`, and the caller's array
                    // holds `count` entries.
                    unsafe { entries.add(i).write(entry) };
                }
                // SAFETY: valid out-pointer (checked non-NULL).
                unsafe { removed.write(out.len() as ULONG) };
                TRUE
            }
            Err(e) => {
                // SAFETY: as above.
                unsafe { removed.write(0) };
                match e {
                    GetError::TimedOut => fail(WAIT_TIMEOUT, FALSE),
                    GetError::Closed => fail(ERROR_ABANDONED_WAIT_0, FALSE),
                    _ => fail(ERROR_INVALID_PARAMETER, FALSE),
                }
            }
        }
    })
}

/// `get_many` in turns, for the two waits that must look at something else
/// meanwhile: an alertable wait runs the thread's APCs first and ends
/// (`Err(None)`) when one is queued — which interrupts its turn at once
/// ([`crate::thread::apc::PortWait`]); and after a handle's association was
/// replaced, operations still complete on ports nobody may wait on, which
/// each turn (a few milliseconds) reaps ([`crate::engine::help_reap`]).
fn get_reaping(
    cport: &CPort,
    out: &mut Vec<cport_core::Packet<usize, PacketValue, CBuf>>,
    count: std::num::NonZeroUsize,
    ms: DWORD,
    alertable: bool,
) -> Result<usize, Option<GetError>> {
    let deadline = timeout_of(ms).and_then(|t| std::time::Instant::now().checked_add(t));
    loop {
        if alertable && crate::thread::apc::run_pending() {
            return Err(None);
        }
        let replaced = crate::engine::REPLACED_ANY.load(std::sync::atomic::Ordering::Acquire);
        if replaced {
            crate::engine::help_reap(&crate::engine::Helping::enter(), std::time::Duration::ZERO);
        }
        let mut slice = if replaced {
            crate::engine::REAP_SLICE
        } else {
            crate::thread::apc::SLICE
        };
        if let Some(d) = deadline {
            slice = slice.min(d.saturating_duration_since(std::time::Instant::now()));
        }
        // An APC queued from here on interrupts the wait in the port.
        let waiting = if alertable {
            match crate::thread::apc::PortWait::enter(&cport.port) {
                Some(w) => Some(w),
                None => continue, // APCs came meanwhile: run them
            }
        } else {
            None
        };
        let got = cport.port.get_many(out, count, Some(slice));
        drop(waiting);
        let expired = deadline.is_some_and(|d| std::time::Instant::now() >= d);
        if !matches!(got, Err(GetError::TimedOut)) || expired {
            return got.map_err(Some);
        }
    }
}

/// ntdll's `FILE_INFORMATION_CLASS` value cport understands.
const FILE_REPLACE_COMPLETION_INFORMATION: ULONG = 61;

/// ntdll's `FILE_COMPLETION_INFORMATION`.
#[repr(C)]
struct FileCompletionInformation {
    port: HANDLE,
    key: *mut std::ffi::c_void,
}

/// ntdll's `NtSetInformationFile`, for `FileReplaceCompletionInformation`
/// (61) only: replaces a handle's completion port association (`Port` NULL
/// removes it) — how Asio's `release()` hands a socket back. Returns the
/// NTSTATUS (also written to the `IO_STATUS_BLOCK`'s first field):
/// `STATUS_INVALID_INFO_CLASS` for another class,
/// `STATUS_INFO_LENGTH_MISMATCH` for a short buffer,
/// `STATUS_INVALID_HANDLE` for a handle that is not a socket or overlapped
/// file, or a port value that is not a port. Programs find it with
/// `GetProcAddress(GetModuleHandle("ntdll"), "NtSetInformationFile")`, as on
/// Windows; the library exports it as `cport_NtSetInformationFile`, so that
/// no ntdll name enters the program's namespace.
///
/// # Safety
/// `iosb` must be NULL or valid for writing two pointer-sized fields, and
/// `info` valid for reading `len` bytes.
#[export_name = "cport_NtSetInformationFile"]
pub unsafe extern "C" fn nt_set_information_file(
    file: HANDLE,
    iosb: *mut ULONG_PTR,
    info: *const std::ffi::c_void,
    len: ULONG,
    class: ULONG,
) -> LONG {
    let status = crate::error::boundary(STATUS_INVALID_PARAMETER, || {
        if class != FILE_REPLACE_COMPLETION_INFORMATION {
            return STATUS_INVALID_INFO_CLASS;
        }
        if info.is_null() || (len as usize) < std::mem::size_of::<FileCompletionInformation>() {
            return STATUS_INFO_LENGTH_MISMATCH;
        }
        let Some(obj) = handles::io(file as usize).filter(|o| o.is_overlapped()) else {
            return STATUS_INVALID_HANDLE;
        };
        // SAFETY: `info` holds a FILE_COMPLETION_INFORMATION (caller
        // contract; the length was checked); read unaligned, as callers pass
        // any buffer.
        let fci = unsafe { info.cast::<FileCompletionInformation>().read_unaligned() };
        if fci.port.is_null() {
            obj.replace_association(None);
            return STATUS_SUCCESS;
        }
        let Some(port) = handles::port(fci.port as usize) else {
            return STATUS_INVALID_HANDLE;
        };
        obj.replace_association(Some((&port, fci.key as usize)));
        STATUS_SUCCESS
    });
    if !iosb.is_null() {
        // SAFETY: IO_STATUS_BLOCK is two pointer-sized fields (caller contract).
        unsafe {
            iosb.write(status as ULONG_PTR);
            iosb.add(1).write(0);
        }
    }
    status as LONG
}

/// `PostQueuedCompletionStatus`: the three values go into the packet verbatim.
#[no_mangle]
pub extern "C" fn PostQueuedCompletionStatus(
    port: HANDLE,
    bytes: DWORD,
    key: ULONG_PTR,
    overlapped: *mut OVERLAPPED,
) -> BOOL {
    crate::error::boundary(FALSE, || {
        // The packet may tell its taker that data arrived.
        crate::engine::known_empty::sync_point();
        let Some(cport) = handles::port(port as usize) else {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        };
        if cport.post(key, bytes, overlapped as usize, STATUS_SUCCESS) {
            TRUE
        } else {
            fail(ERROR_INVALID_HANDLE, FALSE)
        }
    })
}
