//! `WaitOnAddress`, `WakeByAddressSingle`, `WakeByAddressAll`: sleeping while
//! a 1-, 2-, 4- or 8-byte value in the program's memory equals a given one.
//!
//! # Implementation notes
//!
//! A keyed wait queue per address (`crate::sync::park`): the sleeper compares the
//! memory with `*compare` under the queue's lock and sleeps only if they are
//! equal; a waker (which changed the value first, as the Windows contract
//! says) takes the same lock to wake, so no wake-up is lost. The address need
//! not be aligned to the size (Windows does not ask it either), so the value
//! is read with an unaligned volatile load — the word is the program's
//! shared memory that other threads change with interlocked operations.
//! The sleep is a blocking section of the calling thread's completion port.
//! As on Windows, `TRUE` does not promise the value changed (a wake-up
//! without a change, or a change back, returns too); a timeout returns
//! `FALSE` with `ERROR_TIMEOUT`.

use std::ffi::c_void;

use crate::error::{boundary, fail};
use crate::sync::park::{self, Space, Woke};
use crate::types::*;
use crate::types_sync::*;

/// Whether the `size` bytes at `a` and `b` are equal.
///
/// # Safety
/// Both must be valid for reads of `size` bytes (1, 2, 4 or 8).
unsafe fn same(a: *const c_void, b: *const c_void, size: usize) -> bool {
    // SAFETY: valid for `size` bytes (caller contract); unaligned reads.
    unsafe {
        match size {
            1 => a.cast::<u8>().read_volatile() == b.cast::<u8>().read_volatile(),
            2 => a.cast::<u16>().read_unaligned() == b.cast::<u16>().read_unaligned(),
            4 => a.cast::<u32>().read_unaligned() == b.cast::<u32>().read_unaligned(),
            _ => a.cast::<u64>().read_unaligned() == b.cast::<u64>().read_unaligned(),
        }
    }
}

/// `WaitOnAddress`: `TRUE` at once if the value differs from `*compare`,
/// else when woken; `FALSE` + `ERROR_TIMEOUT` after `ms`; `FALSE` +
/// `ERROR_INVALID_PARAMETER` for a size other than 1, 2, 4, 8 or NULL pointers.
///
/// # Safety
/// `address` and `compare` must be valid for reads of `size` bytes, and
/// `address` stay valid while the call sleeps.
#[no_mangle]
pub unsafe extern "C" fn WaitOnAddress(
    address: *mut c_void,
    compare: *mut c_void,
    size: usize,
    ms: DWORD,
) -> BOOL {
    boundary(FALSE, || {
        if address.is_null() || compare.is_null() || !matches!(size, 1 | 2 | 4 | 8) {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        let deadline = park::deadline(ms);
        // SAFETY: valid for `size` bytes (caller contract), checked above.
        let equal = || unsafe { same(address, compare, size) };
        if !equal() {
            return TRUE;
        }
        if ms == 0 {
            return fail(ERROR_TIMEOUT, FALSE);
        }
        let woke = crate::engine::cport::blocking(|| {
            park::sleep(address as usize, Space::Address, deadline, equal)
        });
        match woke {
            Woke::TimedOut => fail(ERROR_TIMEOUT, FALSE),
            Woke::Woken | Woke::NotNeeded => TRUE,
        }
    })
}

/// `WakeByAddressSingle`: wakes one thread sleeping on `address`, if any.
#[no_mangle]
pub extern "C" fn WakeByAddressSingle(address: *mut c_void) {
    boundary((), || {
        park::wake_one(address as usize, Space::Address);
    })
}

/// `WakeByAddressAll`: wakes every thread sleeping on `address`.
#[no_mangle]
pub extern "C" fn WakeByAddressAll(address: *mut c_void) {
    boundary((), || park::wake_all(address as usize, Space::Address))
}
