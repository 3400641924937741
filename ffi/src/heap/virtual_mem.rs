//! Virtual memory: `VirtualAlloc` and `VirtualFree` (`MEM_RESERVE`,
//! `MEM_COMMIT`, `MEM_DECOMMIT`, `MEM_RELEASE`; `PAGE_NOACCESS`,
//! `PAGE_READONLY`, `PAGE_READWRITE` and the `PAGE_EXECUTE…` forms).
//!
//! # Implementation notes
//!
//! A reservation is an anonymous private `mmap` at a 64 KiB boundary (the
//! allocation granularity `GetSystemInfo` reports; the surplus of a larger
//! mapping is unmapped again), with `PROT_NONE` until committed; committing
//! is `mprotect`, so committed memory reads as zero the first time, as on
//! Windows. Decommitting drops the pages (`MADV_DONTNEED`) and makes them
//! inaccessible again. The reservations live in a table (base → size), so
//! `MEM_RELEASE` (size 0, the base address) knows what to unmap and a foreign
//! address fails with `ERROR_INVALID_ADDRESS` (487) instead of unmapping the
//! program's other memory; commits and decommits must lie inside one
//! reservation. Buffers for `FILE_FLAG_NO_BUFFERING` (which needs sector
//! alignment) are therefore page aligned or better.

use std::collections::BTreeMap;
use std::ffi::c_void;

use parking_lot::Mutex;

use crate::error::{boundary, errno, errno_to_win32, fail};
use crate::types::*;
use crate::types_sync::*;

/// Windows' allocation granularity.
const GRANULARITY: usize = 64 << 10;
/// `MEM_TOP_DOWN`: a placement hint, accepted and ignored.
const MEM_TOP_DOWN: DWORD = 0x0010_0000;

/// Reservations: base → size.
static REGIONS: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

fn page() -> usize {
    // SAFETY: sysconf has no memory arguments.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

fn prot_of(protect: DWORD) -> Option<i32> {
    Some(match protect {
        PAGE_NOACCESS => libc::PROT_NONE,
        PAGE_READONLY => libc::PROT_READ,
        PAGE_READWRITE => libc::PROT_READ | libc::PROT_WRITE,
        PAGE_EXECUTE => libc::PROT_EXEC,
        PAGE_EXECUTE_READ => libc::PROT_READ | libc::PROT_EXEC,
        PAGE_EXECUTE_READWRITE => libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
        _ => return None,
    })
}

/// The reservation `[start, end)` lies in, as (base, size).
fn region_of(regions: &BTreeMap<usize, usize>, start: usize, end: usize) -> Option<(usize, usize)> {
    let (&base, &size) = regions.range(..=start).next_back()?;
    (end <= base + size).then_some((base, size))
}

/// Reserves `size` bytes at a 64 KiB boundary (at `want` if non-zero).
fn reserve(want: usize, size: usize, prot: i32) -> Result<usize, DWORD> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    if want != 0 {
        let base = want & !(GRANULARITY - 1);
        let len = (want + size).next_multiple_of(page()) - base;
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping;
        // the result is checked.
        let p = unsafe {
            libc::mmap(
                base as *mut c_void,
                len,
                prot,
                flags | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED || p as usize != base {
            if p != libc::MAP_FAILED {
                // An old kernel ignored the flag and placed it elsewhere.
                // SAFETY: the mapping just made, nobody else knows it.
                unsafe { libc::munmap(p, len) };
            }
            return Err(ERROR_INVALID_ADDRESS);
        }
        REGIONS.lock().insert(base, len);
        return Ok(base);
    }
    let len = size.next_multiple_of(page());
    let total = len
        .checked_add(GRANULARITY)
        .ok_or(ERROR_NOT_ENOUGH_MEMORY)?;
    // SAFETY: a fresh anonymous mapping; the result is checked.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), total, prot, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(ERROR_NOT_ENOUGH_MEMORY);
    }
    let raw = p as usize;
    let base = raw.next_multiple_of(GRANULARITY);
    // SAFETY: unmaps the parts of the fresh mapping before `base` and after
    // `base + len`, which nobody uses.
    unsafe {
        if base > raw {
            libc::munmap(p, base - raw);
        }
        let tail = raw + total - (base + len);
        if tail > 0 {
            libc::munmap((base + len) as *mut c_void, tail);
        }
    }
    REGIONS.lock().insert(base, len);
    Ok(base)
}

fn virtual_alloc(addr: usize, size: usize, kind: DWORD, protect: DWORD) -> Result<usize, DWORD> {
    let prot = prot_of(protect).ok_or(ERROR_INVALID_PARAMETER)?;
    let kind = kind & !MEM_TOP_DOWN;
    if size == 0 || kind & !(MEM_COMMIT | MEM_RESERVE) != 0 || kind == 0 {
        return Err(ERROR_INVALID_PARAMETER);
    }
    if size > isize::MAX as usize / 2 {
        return Err(ERROR_NOT_ENOUGH_MEMORY);
    }
    let commit = kind & MEM_COMMIT != 0;
    if kind & MEM_RESERVE != 0 || addr == 0 {
        // A commit without a reservation at NULL reserves too, as on Windows.
        return reserve(addr, size, if commit { prot } else { libc::PROT_NONE });
    }
    // Commit pages of an existing reservation.
    let start = addr & !(page() - 1);
    let end = (addr + size).next_multiple_of(page());
    let regions = REGIONS.lock();
    region_of(&regions, start, end).ok_or(ERROR_INVALID_ADDRESS)?;
    // SAFETY: the range lies in a reservation this module mapped.
    if unsafe { libc::mprotect(start as *mut c_void, end - start, prot) } < 0 {
        return Err(errno_to_win32(errno()));
    }
    Ok(start)
}

fn virtual_free(addr: usize, size: usize, kind: DWORD) -> Result<(), DWORD> {
    match kind {
        MEM_RELEASE => {
            if size != 0 {
                return Err(ERROR_INVALID_PARAMETER);
            }
            let mut regions = REGIONS.lock();
            let len = regions.remove(&addr).ok_or(ERROR_INVALID_ADDRESS)?;
            // SAFETY: a whole reservation this module mapped, now forgotten.
            unsafe { libc::munmap(addr as *mut c_void, len) };
            Ok(())
        }
        MEM_DECOMMIT => {
            let regions = REGIONS.lock();
            let start = addr & !(page() - 1);
            let end = if size == 0 {
                // The rest of the reservation.
                let (base, len) =
                    region_of(&regions, start, start + 1).ok_or(ERROR_INVALID_ADDRESS)?;
                base + len
            } else {
                (addr + size).next_multiple_of(page())
            };
            region_of(&regions, start, end).ok_or(ERROR_INVALID_ADDRESS)?;
            // SAFETY: the range lies in a reservation this module mapped;
            // the program gives its contents up by decommitting.
            unsafe {
                libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED);
                libc::mprotect(start as *mut c_void, end - start, libc::PROT_NONE);
            }
            Ok(())
        }
        _ => Err(ERROR_INVALID_PARAMETER),
    }
}

/// `VirtualAlloc`: the base of the reserved and/or committed pages, or NULL
/// with `ERROR_INVALID_PARAMETER` (size 0, unknown type or protection),
/// `ERROR_INVALID_ADDRESS` (a commit outside a reservation, a taken
/// address) or `ERROR_NOT_ENOUGH_MEMORY`.
#[no_mangle]
pub extern "C" fn VirtualAlloc(
    address: *mut c_void,
    size: usize,
    kind: DWORD,
    protect: DWORD,
) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        match virtual_alloc(address as usize, size, kind, protect) {
            Ok(p) => p as *mut c_void,
            Err(e) => fail(e, std::ptr::null_mut()),
        }
    })
}

/// `VirtualFree`: `MEM_RELEASE` (size 0, the base `VirtualAlloc` returned)
/// or `MEM_DECOMMIT` (a range of one reservation; size 0: to its end).
///
/// # Safety
/// The program must not use the released or decommitted memory afterwards.
#[no_mangle]
pub unsafe extern "C" fn VirtualFree(address: *mut c_void, size: usize, kind: DWORD) -> BOOL {
    boundary(FALSE, || match virtual_free(address as usize, size, kind) {
        Ok(()) => TRUE,
        Err(e) => fail(e, FALSE),
    })
}
