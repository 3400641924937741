//! `BCryptGenRandom` with the system-preferred generator: Linux's
//! `getrandom`. Algorithm providers (`BCryptOpenAlgorithmProvider`) are not
//! provided, so a non-NULL algorithm handle is `STATUS_INVALID_HANDLE`.

use std::ffi::c_void;

use crate::types::*;

const BCRYPT_USE_SYSTEM_PREFERRED_RNG: ULONG = 0x2;
const BCRYPT_RNG_USE_ENTROPY_IN_BUFFER: ULONG = 0x1;

/// `BCryptGenRandom`: an NTSTATUS (`STATUS_SUCCESS`, `STATUS_INVALID_HANDLE`,
/// `STATUS_INVALID_PARAMETER`).
///
/// # Safety
/// `buf` must be valid for `len` bytes of writes.
#[no_mangle]
pub unsafe extern "C" fn BCryptGenRandom(
    alg: *mut c_void,
    buf: *mut u8,
    len: ULONG,
    flags: ULONG,
) -> DWORD {
    crate::error::boundary(STATUS_INVALID_PARAMETER, || {
        if flags & !(BCRYPT_USE_SYSTEM_PREFERRED_RNG | BCRYPT_RNG_USE_ENTROPY_IN_BUFFER) != 0 {
            return STATUS_INVALID_PARAMETER;
        }
        if flags & BCRYPT_USE_SYSTEM_PREFERRED_RNG == 0 || !alg.is_null() {
            return STATUS_INVALID_HANDLE;
        }
        if len == 0 {
            return STATUS_SUCCESS;
        }
        if buf.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        let mut done = 0usize;
        while done < len as usize {
            // SAFETY: `buf` is valid for `len` bytes (caller contract); this
            // writes the `len - done` bytes from `done`.
            let n = unsafe { libc::getrandom(buf.add(done).cast(), len as usize - done, 0) };
            if n < 0 {
                if crate::error::errno() == libc::EINTR {
                    continue;
                }
                return STATUS_INVALID_PARAMETER;
            }
            done += n as usize;
        }
        STATUS_SUCCESS
    })
}
