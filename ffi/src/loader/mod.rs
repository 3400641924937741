//! Module and procedure lookup: `GetModuleHandleA/W` and `GetProcAddress`.
//!
//! There are no DLLs: `kernel32`, `ntdll` and `ws2_32` (any case, with or
//! without `.dll`) are names for parts of libcport, and NULL names the
//! program. `GetProcAddress` knows the entry points cport provides that
//! programs look up at run time to adapt to the Windows version; for any
//! other name it returns NULL with `ERROR_PROC_NOT_FOUND`, as an older
//! Windows without that entry point does. ntdll's `NtSetInformationFile` is
//! there for `FileReplaceCompletionInformation` (Asio's `release()`);
//! `NtFlushBuffersFileEx` is not, so programs take their documented fallback
//! (Asio's file sync uses `FlushFileBuffers`).

use std::ffi::{c_char, c_void, CStr};

use crate::error::{boundary, fail};
use crate::types::*;

const ERROR_MOD_NOT_FOUND: DWORD = 126;
const ERROR_PROC_NOT_FOUND: DWORD = 127;

/// The modules, by the handle value `GetModuleHandle` returns for them.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Module {
    Program,
    Kernel32,
    Ntdll,
    Ws2_32,
}

/// Module handles: page-aligned values above the handle table's range (as
/// module base addresses are), never 0.
const BASE: usize = 0x7ff0_0000_0000;
const MODULES: [Module; 4] = [
    Module::Program,
    Module::Kernel32,
    Module::Ntdll,
    Module::Ws2_32,
];

fn handle_of(m: Module) -> HANDLE {
    let i = MODULES.iter().position(|x| *x == m).unwrap_or(0);
    (BASE + (i << 16)) as HANDLE
}

fn module_of(h: HANDLE) -> Option<Module> {
    let v = (h as usize).checked_sub(BASE)?;
    if v & 0xffff != 0 {
        return None;
    }
    MODULES.get(v >> 16).copied()
}

fn module_named(name: &str) -> Option<Module> {
    let lower = name.to_ascii_lowercase();
    let base = lower.strip_suffix(".dll").unwrap_or(&lower);
    match base {
        "kernel32" | "kernelbase" => Some(Module::Kernel32),
        "ntdll" => Some(Module::Ntdll),
        "ws2_32" => Some(Module::Ws2_32),
        _ => None,
    }
}

fn get_module(name: Option<String>) -> HANDLE {
    match name {
        None => handle_of(Module::Program),
        Some(n) => match module_named(&n) {
            Some(m) => handle_of(m),
            None => fail(ERROR_MOD_NOT_FOUND, std::ptr::null_mut()),
        },
    }
}

/// `GetModuleHandleA`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn GetModuleHandleA(name: *const c_char) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        let name = (!name.is_null()).then(|| {
            // SAFETY: NUL-terminated (caller contract).
            unsafe { CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned()
        });
        get_module(name)
    })
}

/// `GetModuleHandleW` (UTF-32 `WCHAR`s).
///
/// # Safety
/// `name` must be NULL or a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn GetModuleHandleW(name: *const u32) -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        let name = (!name.is_null()).then(|| {
            let mut s = String::new();
            let mut p = name;
            // SAFETY: NUL-terminated (caller contract); reads stop at the NUL.
            while let c @ 1.. = unsafe { *p } {
                s.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                // SAFETY: not past the terminator.
                p = unsafe { p.add(1) };
            }
            s
        });
        get_module(name)
    })
}

/// The entry points `GetProcAddress` finds, per module.
fn lookup(m: Module, name: &str) -> Option<*const c_void> {
    let f: *const c_void = match (m, name) {
        (Module::Kernel32, "CancelIoEx") => crate::file::overlapped::CancelIoEx as *const c_void,
        (Module::Kernel32, "CancelIo") => crate::file::overlapped::CancelIo as *const c_void,
        (Module::Kernel32, "SetFileCompletionNotificationModes") => {
            crate::file::overlapped::SetFileCompletionNotificationModes as *const c_void
        }
        (Module::Kernel32, "GetQueuedCompletionStatusEx") => {
            crate::port::GetQueuedCompletionStatusEx as *const c_void
        }
        (Module::Kernel32, "GetTickCount64") => crate::system::GetTickCount64 as *const c_void,
        (Module::Kernel32, "CreateWaitableTimerExW") => {
            crate::sync::waitable_timer::CreateWaitableTimerExW as *const c_void
        }
        (Module::Kernel32, "QueueUserAPC") => crate::thread::apc::QueueUserAPC as *const c_void,
        (Module::Ntdll, "NtSetInformationFile") => {
            crate::port::nt_set_information_file as *const c_void
        }
        (Module::Ws2_32, "setsockopt") => {
            crate::winsock::options::cport_setsockopt as *const c_void
        }
        (Module::Ws2_32, "getsockopt") => {
            crate::winsock::options::cport_getsockopt as *const c_void
        }
        (Module::Ws2_32, "getaddrinfo") => {
            crate::winsock::names::cport_getaddrinfo as *const c_void
        }
        (Module::Ws2_32, "freeaddrinfo") => {
            crate::winsock::names::cport_freeaddrinfo as *const c_void
        }
        (Module::Ws2_32, "getnameinfo") => {
            crate::winsock::names::cport_getnameinfo as *const c_void
        }
        (Module::Ws2_32, "WSAIoctl") => crate::winsock::options::WSAIoctl as *const c_void,
        _ => return None,
    };
    Some(f)
}

/// `GetProcAddress` by name (ordinals are not supported: `ERROR_PROC_NOT_FOUND`).
///
/// # Safety
/// `name` must be a NUL-terminated string or an ordinal (a value below 65536).
#[no_mangle]
pub unsafe extern "C" fn GetProcAddress(module: HANDLE, name: *const c_char) -> *const c_void {
    boundary(std::ptr::null(), || {
        let Some(m) = module_of(module) else {
            return fail(ERROR_INVALID_HANDLE, std::ptr::null());
        };
        if (name as usize) < 0x10000 {
            return fail(ERROR_PROC_NOT_FOUND, std::ptr::null());
        }
        // SAFETY: NUL-terminated (caller contract; ordinals excluded above).
        let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        match lookup(m, &name) {
            Some(f) => f,
            None => fail(ERROR_PROC_NOT_FOUND, std::ptr::null()),
        }
    })
}
