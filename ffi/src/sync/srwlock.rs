//! Slim reader/writer locks (`SRWLOCK`): `InitializeSRWLock`,
//! `AcquireSRWLockExclusive`/`Shared`, `ReleaseSRWLockExclusive`/`Shared`,
//! `TryAcquireSRWLockExclusive`/`Shared`.
//!
//! # Implementation notes
//!
//! The whole lock is the program's pointer-sized word (zero = free, so
//! `SRWLOCK_INIT` and static zeroed memory work without a call):
//!
//! | bits | meaning |
//! |---|---|
//! | 0 | held exclusively |
//! | 1 | some thread sleeps (or is about to) waiting for the lock |
//! | 2.. | the number of shared holders |
//!
//! A contended acquire spins briefly, then marks the word and sleeps on the
//! lock's address (`crate::sync::park`) inside a blocking section of the calling
//! thread's completion port, as on Windows, where the kernel sees the wait.
//! A release that finds the mark clears it and wakes every sleeper; they
//! compete again (no hand-off, no FIFO order: Windows' SRW locks promise
//! none). A shared acquire waits while a writer holds the lock *or any
//! thread sleeps waiting for it*: readers only sleep behind a writer, so this
//! means "while a writer waits", and a steady stream of readers cannot hold a
//! writer off — which is why, as Windows documents, a thread must not acquire
//! an SRW lock shared recursively (it would wait behind the waiting writer,
//! which waits for it).
//!
//! Misuse that Windows answers with an exception (releasing a lock in a mode
//! it is not held in) is ignored; a NULL lock is ignored.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::boundary;
use crate::sync::park::{self, Space};
use crate::types::BYTE;
use crate::types_sync::SRWLOCK;

const WRITER: usize = 1;
const PARKED: usize = 2;
const READER: usize = 4;

/// The lock word of `lock`.
///
/// # Safety
/// `lock` must be non-NULL and point to a live, aligned `SRWLOCK` that is
/// only accessed atomically while the reference lives.
pub(crate) unsafe fn word<'a>(lock: *mut SRWLOCK) -> &'a AtomicUsize {
    // SAFETY: the field is an aligned pointer-sized integer of a live
    // structure (caller contract); AtomicUsize has the same layout.
    unsafe { AtomicUsize::from_ptr((&raw mut (*lock).Ptr).cast()) }
}

fn try_exclusive(w: &AtomicUsize) -> bool {
    let mut s = w.load(Ordering::Relaxed);
    while s & !PARKED == 0 {
        match w.compare_exchange_weak(s, s | WRITER, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => s = now,
        }
    }
    false
}

fn try_shared(w: &AtomicUsize) -> bool {
    let mut s = w.load(Ordering::Relaxed);
    // Not while a writer holds the lock, nor while a thread sleeps waiting
    // for it (a writer, since readers only sleep behind writers).
    while s & (WRITER | PARKED) == 0 {
        match w.compare_exchange_weak(s, s + READER, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => s = now,
        }
    }
    false
}

/// Waits until `try_take` succeeds; `blocked_by` tells which states it waits out.
#[cold]
fn acquire_slow(w: &AtomicUsize, try_take: fn(&AtomicUsize) -> bool, blocked_by: usize) {
    if park::spin_until(|| try_take(w)) {
        return;
    }
    let addr = w.as_ptr() as usize;
    crate::engine::cport::blocking(|| loop {
        if try_take(w) {
            return;
        }
        let s = w.load(Ordering::Relaxed);
        if s & blocked_by == 0 {
            continue; // released meanwhile: try again
        }
        if s & PARKED == 0
            && w.compare_exchange(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        park::sleep(addr, Space::SrwLock, None, || {
            let s = w.load(Ordering::Relaxed);
            s & PARKED != 0 && s & blocked_by != 0
        });
    })
}

/// `AcquireSRWLockExclusive` on a word.
pub(crate) fn lock_exclusive(w: &AtomicUsize) {
    if w.compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        // Blocked by a writer or by readers.
        acquire_slow(w, try_exclusive, !PARKED);
    }
}

/// `AcquireSRWLockShared` on a word.
pub(crate) fn lock_shared(w: &AtomicUsize) {
    if !try_shared(w) {
        acquire_slow(w, try_shared, WRITER | PARKED);
    }
}

/// `ReleaseSRWLockExclusive` on a word (ignored unless held exclusively).
pub(crate) fn unlock_exclusive(w: &AtomicUsize) {
    let mut s = w.load(Ordering::Relaxed);
    loop {
        if s & WRITER == 0 {
            return;
        }
        // While a writer holds the lock there are no readers: the word
        // becomes 0, and the mark, if set, tells us to wake the sleepers.
        match w.compare_exchange_weak(s, 0, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => s = now,
        }
    }
    if s & PARKED != 0 {
        park::wake_all(w.as_ptr() as usize, Space::SrwLock);
    }
}

/// `ReleaseSRWLockShared` on a word (ignored unless held shared).
pub(crate) fn unlock_shared(w: &AtomicUsize) {
    let mut s = w.load(Ordering::Relaxed);
    let new = loop {
        if s & WRITER != 0 || s < READER {
            return;
        }
        // The last reader out clears the mark and wakes the sleepers.
        let new = match s - READER {
            PARKED => 0,
            n => n,
        };
        match w.compare_exchange_weak(s, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break new,
            Err(now) => s = now,
        }
    };
    if new == 0 && s & PARKED != 0 {
        park::wake_all(w.as_ptr() as usize, Space::SrwLock);
    }
}

/// Runs `f` on the lock word unless `lock` is NULL.
fn with_word<R>(lock: *mut SRWLOCK, none: R, f: impl FnOnce(&AtomicUsize) -> R) -> R {
    if lock.is_null() {
        return none;
    }
    // SAFETY: non-NULL; a live SRWLOCK used only through these functions
    // (the contract of every export below).
    f(unsafe { word(lock) })
}

/// `InitializeSRWLock`: the lock is free.
///
/// # Safety
/// `lock` must be NULL or point to an `SRWLOCK` no thread uses.
#[no_mangle]
pub unsafe extern "C" fn InitializeSRWLock(lock: *mut SRWLOCK) {
    boundary((), || {
        with_word(lock, (), |w| w.store(0, Ordering::Release))
    })
}

/// `AcquireSRWLockExclusive`: a contended wait is a blocking section.
///
/// # Safety
/// `lock` must be NULL or point to an initialised `SRWLOCK`.
#[no_mangle]
pub unsafe extern "C" fn AcquireSRWLockExclusive(lock: *mut SRWLOCK) {
    boundary((), || with_word(lock, (), lock_exclusive))
}

/// `AcquireSRWLockShared`: a contended wait is a blocking section.
///
/// # Safety
/// As `AcquireSRWLockExclusive`.
#[no_mangle]
pub unsafe extern "C" fn AcquireSRWLockShared(lock: *mut SRWLOCK) {
    boundary((), || with_word(lock, (), lock_shared))
}

/// `ReleaseSRWLockExclusive`.
///
/// # Safety
/// As `AcquireSRWLockExclusive`.
#[no_mangle]
pub unsafe extern "C" fn ReleaseSRWLockExclusive(lock: *mut SRWLOCK) {
    boundary((), || with_word(lock, (), unlock_exclusive))
}

/// `ReleaseSRWLockShared`.
///
/// # Safety
/// As `AcquireSRWLockExclusive`.
#[no_mangle]
pub unsafe extern "C" fn ReleaseSRWLockShared(lock: *mut SRWLOCK) {
    boundary((), || with_word(lock, (), unlock_shared))
}

/// `TryAcquireSRWLockExclusive`: `TRUE` (1) if the caller now holds it.
///
/// # Safety
/// As `AcquireSRWLockExclusive`.
#[no_mangle]
pub unsafe extern "C" fn TryAcquireSRWLockExclusive(lock: *mut SRWLOCK) -> BYTE {
    boundary(0, || with_word(lock, 0, |w| BYTE::from(try_exclusive(w))))
}

/// `TryAcquireSRWLockShared`: `TRUE` (1) if the caller now holds it shared.
///
/// # Safety
/// As `AcquireSRWLockExclusive`.
#[no_mangle]
pub unsafe extern "C" fn TryAcquireSRWLockShared(lock: *mut SRWLOCK) -> BYTE {
    boundary(0, || with_word(lock, 0, |w| BYTE::from(try_shared(w))))
}
