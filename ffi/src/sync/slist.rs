//! Interlocked singly linked lists (SLists): `InitializeSListHead`,
//! `InterlockedPushEntrySList`, `InterlockedPopEntrySList`,
//! `InterlockedFlushSList`, `QueryDepthSList`, with Windows x64's 16-byte
//! `SLIST_HEADER` and `SLIST_ENTRY`.
//!
//! # Implementation notes
//!
//! Windows makes these lock-free with a 16-byte compare-and-swap
//! (`cmpxchg16b`), which stable Rust does not offer portably — and a
//! lock-free pop reads the first entry's `Next` while another thread may pop
//! that entry and free it: Windows survives that read of freed memory with a
//! fault handler in the kernel; here it would crash the program if the entry
//! was, say, `VirtualFree`d. So each header carries a *tiny spin lock*: bit 63 of its first word (the
//! top bit of Windows' 48-bit sequence number, which keeps 47 bits). An
//! operation holds it for a handful of instructions — no system call, no
//! allocation, no sleep (so it is not a blocking section) — and yields the
//! CPU if it spins for long (the holder was preempted). Under the lock, a
//! pop reads the first entry's `Next` knowing no other thread can pop that
//! entry meanwhile, which is what the sequence number protects on Windows
//! (the ABA problem).
//!
//! The layout is Windows': the first word is depth (bits 0-15) and sequence
//! (bits 16-62), the second the first entry's address (entries are 16-byte
//! aligned on Windows, so its low four bits are Windows' reserved bits; an
//! entry with a smaller alignment works here too). The depth wraps at 65536
//! as Windows' does.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::boundary;
use crate::types::*;
use crate::types_sync::*;

const LOCKED: u64 = 1 << 63;
const DEPTH: u64 = 0xFFFF;
const SEQ_ONE: u64 = 1 << 16;
const SEQ_MASK: u64 = !DEPTH & !LOCKED;

/// The header's two words.
struct Header<'a> {
    meta: &'a AtomicU64,
    first: &'a AtomicU64,
}

/// Holds a header's lock; the first word's new value is stored on release.
struct Locked<'a> {
    h: Header<'a>,
    meta: u64,
}

impl<'a> Header<'a> {
    /// # Safety
    /// `head` must be non-NULL and point to a live, 16-byte aligned
    /// `SLIST_HEADER` only accessed through these functions meanwhile.
    unsafe fn of(head: *mut SLIST_HEADER) -> Self {
        // SAFETY: two aligned u64 fields of a live structure (caller
        // contract); AtomicU64 has the same layout.
        unsafe {
            Header {
                meta: AtomicU64::from_ptr(&raw mut (*head).Alignment),
                first: AtomicU64::from_ptr(&raw mut (*head).Region),
            }
        }
    }

    fn lock(self) -> Locked<'a> {
        let mut spins = 0u32;
        loop {
            let m = self.meta.fetch_or(LOCKED, Ordering::Acquire);
            if m & LOCKED == 0 {
                return Locked { h: self, meta: m };
            }
            while self.meta.load(Ordering::Relaxed) & LOCKED != 0 {
                spins += 1;
                if spins % 128 == 0 {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

impl Locked<'_> {
    fn first(&self) -> *mut SLIST_ENTRY {
        self.h.first.load(Ordering::Relaxed) as usize as *mut SLIST_ENTRY
    }

    /// Sets the first entry and the new depth, bumps the sequence, unlocks.
    fn unlock_with(self, first: *mut SLIST_ENTRY, depth: u64) {
        self.h.first.store(first as usize as u64, Ordering::Relaxed);
        let seq = (self.meta & SEQ_MASK).wrapping_add(SEQ_ONE) & SEQ_MASK;
        self.h.meta.store(seq | (depth & DEPTH), Ordering::Release);
    }

    fn depth(&self) -> u64 {
        self.meta & DEPTH
    }
}

/// `InitializeSListHead`: an empty list.
///
/// # Safety
/// `head` must be NULL or point to a 16-byte aligned `SLIST_HEADER` no thread uses.
#[no_mangle]
pub unsafe extern "C" fn InitializeSListHead(head: *mut SLIST_HEADER) {
    boundary((), || {
        if !head.is_null() {
            // SAFETY: non-NULL, caller contract.
            unsafe {
                head.write(SLIST_HEADER {
                    Alignment: 0,
                    Region: 0,
                })
            };
        }
    })
}

/// `InterlockedPushEntrySList`: the previous first entry (NULL if the list was empty).
///
/// # Safety
/// `head` must point to an initialised header, `entry` to an entry that is in
/// no list and stays valid while it is in this one.
#[no_mangle]
pub unsafe extern "C" fn InterlockedPushEntrySList(
    head: *mut SLIST_HEADER,
    entry: *mut SLIST_ENTRY,
) -> *mut SLIST_ENTRY {
    boundary(std::ptr::null_mut(), || {
        if head.is_null() || entry.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: non-NULL, caller contract.
        let l = unsafe { Header::of(head) }.lock();
        let old = l.first();
        // SAFETY: the entry is the caller's, in no list (contract); nobody
        // else reads it until it is published by `unlock_with`.
        unsafe { (*entry).Next = old };
        let depth = l.depth() + 1;
        l.unlock_with(entry, depth);
        old
    })
}

/// `InterlockedPopEntrySList`: the first entry, or NULL if the list is empty.
///
/// # Safety
/// `head` must point to an initialised header whose entries are valid.
#[no_mangle]
pub unsafe extern "C" fn InterlockedPopEntrySList(head: *mut SLIST_HEADER) -> *mut SLIST_ENTRY {
    boundary(std::ptr::null_mut(), || {
        if head.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: non-NULL, caller contract.
        let l = unsafe { Header::of(head) }.lock();
        let first = l.first();
        if first.is_null() {
            let depth = l.depth();
            l.unlock_with(first, depth);
            return first;
        }
        // SAFETY: `first` is in the list, so valid (contract), and under the
        // lock no other thread can pop it and hand it back to the program.
        let next = unsafe { (*first).Next };
        let depth = l.depth().wrapping_sub(1);
        l.unlock_with(next, depth);
        first
    })
}

/// `InterlockedFlushSList`: the whole chain (NULL if empty); the list is empty.
///
/// # Safety
/// `head` must point to an initialised header.
#[no_mangle]
pub unsafe extern "C" fn InterlockedFlushSList(head: *mut SLIST_HEADER) -> *mut SLIST_ENTRY {
    boundary(std::ptr::null_mut(), || {
        if head.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: non-NULL, caller contract.
        let l = unsafe { Header::of(head) }.lock();
        let first = l.first();
        l.unlock_with(std::ptr::null_mut(), 0);
        first
    })
}

/// `QueryDepthSList`: the number of entries (modulo 65536), without locking.
///
/// # Safety
/// `head` must point to an initialised header.
#[no_mangle]
pub unsafe extern "C" fn QueryDepthSList(head: *mut SLIST_HEADER) -> WORD {
    boundary(0, || {
        if head.is_null() {
            return 0;
        }
        // SAFETY: non-NULL, caller contract.
        let h = unsafe { Header::of(head) };
        (h.meta.load(Ordering::Acquire) & DEPTH) as WORD
    })
}
