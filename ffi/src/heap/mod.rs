//! The process heap: `GetProcessHeap`, `HeapAlloc`, `HeapReAlloc`, `HeapFree`,
//! `HeapSize`.
//!
//! Blocks come from the C allocator with a 16-byte header in front (so the
//! block keeps `malloc`'s 16-byte alignment, Windows'
//! `MEMORY_ALLOCATION_ALIGNMENT` on x64) that holds the size the program
//! asked for. A set of the live blocks lets `HeapFree`/`HeapReAlloc`/`HeapSize`
//! refuse a pointer that did not come from `HeapAlloc`, or was freed already,
//! with `ERROR_INVALID_PARAMETER` — without reading its memory — instead of
//! corrupting the allocator (Windows would break into the debugger or corrupt
//! its heap).
//! `HEAP_ZERO_MEMORY` zeroes new blocks and the grown part of a reallocated
//! one. As on Windows, failed allocations do not set the last error.

pub(crate) mod virtual_mem;

use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::error::{boundary, fail};
use crate::handles::{self, Object};
use crate::types::*;

const HEADER: usize = 16;

/// The addresses of the live blocks (what the program holds).
static LIVE: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn track(p: usize) {
    LIVE.lock().get_or_insert_with(HashSet::new).insert(p);
}

/// Forgets a block; `false` if it was not live.
fn untrack(p: usize) -> bool {
    LIVE.lock().as_mut().is_some_and(|s| s.remove(&p))
}

fn is_live(p: usize) -> bool {
    LIVE.lock().as_ref().is_some_and(|s| s.contains(&p))
}

/// The largest block (Windows refuses sizes near the address space too).
const MAX_BLOCK: usize = isize::MAX as usize - HEADER;

static PROCESS_HEAP: OnceLock<usize> = OnceLock::new();

/// `GetProcessHeap`: the one heap handle (NULL only if the handle table is full).
#[no_mangle]
pub extern "C" fn GetProcessHeap() -> HANDLE {
    boundary(std::ptr::null_mut(), || {
        let h = PROCESS_HEAP.get_or_init(|| handles::insert(Object::Heap).unwrap_or(0));
        *h as HANDLE
    })
}

fn is_heap(h: HANDLE) -> bool {
    matches!(handles::get(h as usize), Some(Object::Heap))
}

/// The header of a live block.
///
/// # Safety
/// `p` must be a live block (checked with `is_live`/`untrack` first).
unsafe fn header(p: *mut c_void) -> *mut usize {
    // SAFETY: a block from `alloc` has its header right before it.
    unsafe { p.cast::<u8>().sub(HEADER) }.cast::<usize>()
}

fn alloc(size: usize, zero: bool) -> *mut c_void {
    if size > MAX_BLOCK {
        return std::ptr::null_mut();
    }
    // SAFETY: plain C allocation; the result is checked for NULL.
    let raw = unsafe {
        if zero {
            libc::calloc(1, size + HEADER)
        } else {
            libc::malloc(size + HEADER)
        }
    }
    .cast::<usize>();
    if raw.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: `raw` holds at least HEADER bytes, 16-aligned (malloc).
    let p = unsafe {
        raw.write(size);
        raw.cast::<u8>().add(HEADER)
    };
    track(p as usize);
    p.cast()
}

/// `HeapAlloc`.
#[no_mangle]
pub extern "C" fn HeapAlloc(heap: HANDLE, flags: DWORD, size: usize) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        if !is_heap(heap) {
            return fail(ERROR_INVALID_HANDLE, std::ptr::null_mut());
        }
        alloc(size, flags & HEAP_ZERO_MEMORY != 0)
    })
}

/// `HeapFree`: `TRUE` for NULL; `FALSE` + 87 for a pointer that is not a live block.
///
/// # Safety
/// `p` must be NULL, or a block from `HeapAlloc`/`HeapReAlloc` that no other
/// thread frees meanwhile (a pointer that is neither is refused).
#[no_mangle]
pub unsafe extern "C" fn HeapFree(heap: HANDLE, _flags: DWORD, p: *mut c_void) -> BOOL {
    boundary(FALSE, || {
        if !is_heap(heap) {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        }
        if p.is_null() {
            return TRUE;
        }
        if !untrack(p as usize) {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: a live block, now forgotten: give it back to malloc.
        unsafe { libc::free(header(p).cast()) };
        TRUE
    })
}

/// `HeapReAlloc`: `HEAP_ZERO_MEMORY` zeroes the grown part;
/// `HEAP_REALLOC_IN_PLACE_ONLY` succeeds only for a size that fits the block.
///
/// # Safety
/// As `HeapFree`.
#[no_mangle]
pub unsafe extern "C" fn HeapReAlloc(
    heap: HANDLE,
    flags: DWORD,
    p: *mut c_void,
    size: usize,
) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        let null = std::ptr::null_mut();
        if !is_heap(heap) {
            return fail(ERROR_INVALID_HANDLE, null);
        }
        if !is_live(p as usize) {
            return fail(ERROR_INVALID_PARAMETER, null);
        }
        // SAFETY: a live block (checked).
        let h = unsafe { header(p) };
        // SAFETY: as above.
        let old = unsafe { h.read() };
        if flags & HEAP_REALLOC_IN_PLACE_ONLY != 0 {
            // SAFETY: a live block from malloc.
            let usable = unsafe { libc::malloc_usable_size(h.cast()) } - HEADER;
            if size > usable {
                return fail(ERROR_NOT_ENOUGH_MEMORY, null);
            }
            if size > old && flags & HEAP_ZERO_MEMORY != 0 {
                // SAFETY: [old, size) lies inside the usable block.
                unsafe { std::ptr::write_bytes(p.cast::<u8>().add(old), 0, size - old) };
            }
            // SAFETY: as above.
            unsafe { h.write(size) };
            return p;
        }
        if size > MAX_BLOCK {
            return null;
        }
        // Forgotten before realloc may free its address (which a concurrent
        // HeapAlloc may then get and track), tracked again if realloc fails.
        if !untrack(p as usize) {
            return fail(ERROR_INVALID_PARAMETER, null);
        }
        // SAFETY: a live block from malloc; on failure it stays valid.
        let raw = unsafe { libc::realloc(h.cast(), size + HEADER) }.cast::<usize>();
        if raw.is_null() {
            track(p as usize);
            return null;
        }
        // SAFETY: the (moved) block holds size + HEADER bytes.
        let data = unsafe {
            raw.write(size);
            let data = raw.cast::<u8>().add(HEADER);
            if size > old && flags & HEAP_ZERO_MEMORY != 0 {
                std::ptr::write_bytes(data.add(old), 0, size - old);
            }
            data
        };
        track(data as usize);
        data.cast()
    })
}

/// `HeapSize`: the size asked for, or `(SIZE_T)-1` + 87 for a pointer that
/// is not a live block.
///
/// # Safety
/// As `HeapFree`.
#[no_mangle]
pub unsafe extern "C" fn HeapSize(heap: HANDLE, _flags: DWORD, p: *const c_void) -> usize {
    boundary(usize::MAX, || {
        if !is_heap(heap) {
            return fail(ERROR_INVALID_HANDLE, usize::MAX);
        }
        if !is_live(p as usize) {
            return fail(ERROR_INVALID_PARAMETER, usize::MAX);
        }
        // SAFETY: a live block's header (checked).
        unsafe { header(p as *mut c_void).read() }
    })
}
