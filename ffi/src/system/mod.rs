//! The system: `GetSystemInfo`, `GetVersionEx`/`GetVersion`, the clocks
//! (`GetTickCount(64)`, `QueryPerformanceCounter/Frequency`), the process
//! (`GetCurrentProcess(Id)`, `GetProcessHandleCount`), `VerifyVersionInfoA/W`
//! ([`verify_version`]), and cport's own test hooks for the panic guards.

pub(crate) mod extras;
pub(crate) mod verify_version;

use std::ffi::c_void;
use std::time::Duration;

use crate::error::{boundary, fail};
use crate::handles;
use crate::types::*;

/// `GetSystemInfo`: `dwNumberOfProcessors` is the number a concurrency value
/// of 0 stands for.
///
/// # Safety
/// `info` must be NULL or point to a `SYSTEM_INFO`.
#[no_mangle]
pub unsafe extern "C" fn GetSystemInfo(info: *mut SYSTEM_INFO) {
    boundary((), || {
        if info.is_null() {
            return;
        }
        let n = crate::engine::cport::processors();
        // SAFETY: sysconf has no pointers.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as DWORD;
        let mask = if n >= usize::BITS as usize {
            usize::MAX
        } else {
            (1usize << n) - 1
        };
        let si = SYSTEM_INFO {
            wProcessorArchitecture: PROCESSOR_ARCHITECTURE_AMD64,
            wReserved: 0,
            dwPageSize: page,
            lpMinimumApplicationAddress: 0x10000 as *mut c_void,
            lpMaximumApplicationAddress: 0x7FFF_FFFE_FFFF_usize as *mut c_void,
            dwActiveProcessorMask: mask,
            dwNumberOfProcessors: n as DWORD,
            dwProcessorType: PROCESSOR_AMD_X8664,
            dwAllocationGranularity: 65536,
            wProcessorLevel: 6,
            wProcessorRevision: 0,
        };
        // SAFETY: `info` points to a SYSTEM_INFO (caller contract).
        unsafe { info.write(si) };
    })
}

/// Not a Win32 function: panics inside the panic boundary, to test that a
/// Rust panic never unwinds into C (returns `FALSE`, `ERROR_INTERNAL_ERROR`).
#[doc(hidden)]
#[no_mangle]
pub extern "C" fn cport_debug_panic() -> BOOL {
    boundary(FALSE, || {
        panic!("cport_debug_panic: a test of the panic boundary")
    })
}

/// Not a Win32 function: makes the handling of the next completion panic on
/// the thread that reaps it, to test that the panic is caught there and the
/// operation fails with `ERROR_INTERNAL_ERROR` instead of being lost.
#[doc(hidden)]
#[no_mangle]
pub extern "C" fn cport_debug_panic_in_completion() {
    boundary((), || {
        crate::engine::PANIC_NEXT_COMPLETION.store(true, std::sync::atomic::Ordering::Release)
    })
}

/// The version `GetVersionEx` reports: 6.2 build 9200, what Windows 8.1 and
/// later report to programs without a compatibility manifest (the classic
/// samples only check for the NT platform).
const VERSION: (DWORD, DWORD, DWORD) = (6, 2, 9200);

/// `OSVERSIONINFOW` / `OSVERSIONINFOEXW` with this ABI's 32-bit `WCHAR`.
const OSVERSIONINFOW_SIZE: usize = 20 + 128 * 4;
const OSVERSIONINFOEXW_SIZE: usize = OSVERSIONINFOW_SIZE + 8;

/// Fills the common part of an OSVERSIONINFO(EX) (A or W) of `size` bytes.
///
/// # Safety
/// `info` must be valid for `size` bytes, `size` ≥ 20.
unsafe fn fill_version(info: *mut u8, size: usize, ex_at: Option<usize>) {
    let (major, minor, build) = VERSION;
    let head = [size as DWORD, major, minor, build, VER_PLATFORM_WIN32_NT];
    // SAFETY: the first 20 bytes are the five DWORDs (caller contract); the
    // rest (the empty szCSDVersion and the EX fields) is zeroed.
    unsafe {
        std::ptr::write_bytes(info.add(20), 0, size - 20);
        std::ptr::copy_nonoverlapping(head.as_ptr().cast::<u8>(), info, 20);
        if let Some(at) = ex_at {
            // wProductType, after wServicePackMajor/Minor and wSuiteMask.
            info.add(at + 6).write(VER_NT_WORKSTATION);
        }
    }
}

/// `GetVersionExA`: `dwOSVersionInfoSize` must be `sizeof(OSVERSIONINFOA)`
/// or `sizeof(OSVERSIONINFOEXA)`, else `FALSE` + `ERROR_INSUFFICIENT_BUFFER`.
///
/// # Safety
/// `info` must be NULL or point to the structure its size field names.
#[no_mangle]
pub unsafe extern "C" fn GetVersionExA(info: *mut OSVERSIONINFOA) -> BOOL {
    boundary(FALSE, || {
        if info.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: a valid structure (caller contract).
        let size = unsafe { (*info).dwOSVersionInfoSize } as usize;
        let ex_at = if size == std::mem::size_of::<OSVERSIONINFOEXA>() {
            Some(std::mem::size_of::<OSVERSIONINFOA>())
        } else if size == std::mem::size_of::<OSVERSIONINFOA>() {
            None
        } else {
            return fail(ERROR_INSUFFICIENT_BUFFER, FALSE);
        };
        // SAFETY: `size` bytes as checked against the structure sizes.
        unsafe { fill_version(info.cast(), size, ex_at) };
        TRUE
    })
}

/// `GetVersionExW` (with this ABI's 32-bit `WCHAR`: sizes 532 / 540).
///
/// # Safety
/// As `GetVersionExA`.
#[no_mangle]
pub unsafe extern "C" fn GetVersionExW(info: *mut c_void) -> BOOL {
    boundary(FALSE, || {
        if info.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: a valid structure (caller contract), which starts with
        // its DWORD size, as OSVERSIONINFOW does.
        let size = unsafe { info.cast::<DWORD>().read_unaligned() } as usize;
        let ex_at = match size {
            OSVERSIONINFOEXW_SIZE => Some(OSVERSIONINFOW_SIZE),
            OSVERSIONINFOW_SIZE => None,
            _ => return fail(ERROR_INSUFFICIENT_BUFFER, FALSE),
        };
        // SAFETY: `size` bytes as checked against the structure sizes.
        unsafe { fill_version(info.cast(), size, ex_at) };
        TRUE
    })
}

/// `GetVersion`: build << 16 | minor << 8 | major (bit 31 clear: NT).
#[no_mangle]
pub extern "C" fn GetVersion() -> DWORD {
    boundary(0, || {
        let (major, minor, build) = VERSION;
        (build << 16) | (minor << 8) | major
    })
}

fn monotonic() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `GetTickCount64`: milliseconds of the monotonic clock (since boot).
#[no_mangle]
pub extern "C" fn GetTickCount64() -> u64 {
    boundary(0, || monotonic().as_millis() as u64)
}

/// `GetTickCount`: the same, wrapping at 2³² ms.
#[no_mangle]
pub extern "C" fn GetTickCount() -> DWORD {
    boundary(0, || monotonic().as_millis() as DWORD)
}

/// The `QueryPerformanceFrequency` of current Windows: 10 MHz.
const QPC_HZ: i64 = 10_000_000;

/// `QueryPerformanceCounter`: the monotonic clock in 100 ns units.
///
/// # Safety
/// `count` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn QueryPerformanceCounter(count: *mut LARGE_INTEGER) -> BOOL {
    boundary(FALSE, || {
        if count.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        let t = monotonic();
        let ticks = t.as_secs() as i64 * QPC_HZ + i64::from(t.subsec_nanos()) / 100;
        // SAFETY: valid out-pointer (checked non-NULL; caller contract).
        unsafe { count.write(ticks) };
        TRUE
    })
}

/// `QueryPerformanceFrequency`: 10 000 000.
///
/// # Safety
/// `freq` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn QueryPerformanceFrequency(freq: *mut LARGE_INTEGER) -> BOOL {
    boundary(FALSE, || {
        if freq.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: valid out-pointer (checked non-NULL; caller contract).
        unsafe { freq.write(QPC_HZ) };
        TRUE
    })
}

/// `GetCurrentProcessId`.
#[no_mangle]
pub extern "C" fn GetCurrentProcessId() -> DWORD {
    boundary(0, std::process::id)
}

/// `GetProcessHandleCount`: the live cport handles (ports, sockets, files,
/// events, threads, the heap and the standard handles once fetched).
///
/// # Safety
/// `count` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn GetProcessHandleCount(process: HANDLE, count: *mut DWORD) -> BOOL {
    boundary(FALSE, || {
        // Only the current process: its pseudo-handle, (HANDLE)-1.
        if process as usize != INVALID_HANDLE_VALUE {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        }
        if count.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: valid out-pointer (checked non-NULL; caller contract).
        unsafe { *count = handles::count() as DWORD };
        TRUE
    })
}

/// `GetCurrentProcess`: the pseudo-handle `(HANDLE)-1`.
#[no_mangle]
pub extern "C" fn GetCurrentProcess() -> HANDLE {
    boundary(INVALID_HANDLE_VALUE as HANDLE, || {
        INVALID_HANDLE_VALUE as HANDLE
    })
}
