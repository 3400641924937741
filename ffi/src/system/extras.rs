//! Small system calls programs use beside completion ports:
//! `GetSystemTimeAsFileTime`, `SwitchToThread`, `MessageBoxA`/`MessageBoxW`.
//!
//! With no window system, `MessageBox` writes "caption: text" to standard
//! error and returns `IDOK` (as if the user pressed OK at once) — whatever
//! the buttons; `MB_YESNO` gets `IDYES`, since such a box has no OK.

use std::ffi::{c_char, c_void};
use std::io::Write;

use crate::error::boundary;
use crate::strings;
use crate::types::*;
use crate::types_sync::*;

/// 100-ns intervals between 1601-01-01 and 1970-01-01.
const EPOCH_DIFF_100NS: u64 = 116_444_736_000_000_000;

/// `GetSystemTimeAsFileTime`: UTC in 100-ns intervals since 1601.
///
/// # Safety
/// `ft` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn GetSystemTimeAsFileTime(ft: *mut FILETIME) {
    boundary((), || {
        if ft.is_null() {
            return;
        }
        let since_1970 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let t = EPOCH_DIFF_100NS
            + since_1970.as_secs() * 10_000_000
            + u64::from(since_1970.subsec_nanos() / 100);
        // SAFETY: valid out-pointer (caller contract).
        unsafe {
            ft.write(FILETIME {
                dwLowDateTime: t as DWORD,
                dwHighDateTime: (t >> 32) as DWORD,
            })
        };
    })
}

/// `SwitchToThread`: yields the processor (`sched_yield`). Linux does not
/// tell whether another thread ran, so it always returns `TRUE`.
#[no_mangle]
pub extern "C" fn SwitchToThread() -> BOOL {
    boundary(FALSE, || {
        std::thread::yield_now();
        TRUE
    })
}

fn message_box(text: &str, caption: &str, kind: UINT) -> i32 {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{caption}: {text}");
    let _ = err.flush();
    match kind & 0xF {
        MB_YESNO => IDYES,
        _ => IDOK,
    }
}

/// `MessageBoxA`: "caption: text" on stderr; `IDOK`. A NULL caption is "Error",
/// as on Windows.
///
/// # Safety
/// `text` and `caption` must be NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn MessageBoxA(
    _owner: *mut c_void,
    text: *const c_char,
    caption: *const c_char,
    kind: UINT,
) -> i32 {
    boundary(0, || {
        // SAFETY: forwarded caller contract.
        let (t, c) = unsafe {
            (
                strings::narrow(text).unwrap_or_default(),
                strings::narrow(caption).unwrap_or_else(|| "Error".into()),
            )
        };
        message_box(&t, &c, kind)
    })
}

/// `MessageBoxW`: as `MessageBoxA`, with wide strings.
///
/// # Safety
/// `text` and `caption` must be NULL or NUL-terminated wide strings.
#[no_mangle]
pub unsafe extern "C" fn MessageBoxW(
    _owner: *mut c_void,
    text: *const libc::wchar_t,
    caption: *const libc::wchar_t,
    kind: UINT,
) -> i32 {
    boundary(0, || {
        // SAFETY: forwarded caller contract.
        let (t, c) = unsafe {
            (
                strings::wide(text).unwrap_or_default(),
                strings::wide(caption).unwrap_or_else(|| "Error".into()),
            )
        };
        message_box(&t, &c, kind)
    })
}
