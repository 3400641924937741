//! Critical sections (`CRITICAL_SECTION`): recursive locks that live in the
//! program's memory. (The `Interlocked…` functions are inline in the header.)
//!
//! # Implementation notes
//!
//! The whole lock state is in the structure's own fields, so initialising
//! never allocates or fails and `DeleteCriticalSection` has nothing to free:
//!
//! | field | meaning here |
//! |---|---|
//! | `LockCount` | futex word: 0 free, 1 held, 2 held and a thread may sleep on it |
//! | `OwningThread` | the owner's thread id (`GetCurrentThreadId`), 0 when free |
//! | `RecursionCount` | the owner's depth (only the owner reads or writes it) |
//! | `SpinCount` | how many times a contended `Enter` retries before it sleeps |
//!
//! (Windows keeps different numbers in `LockCount`; programs do not read it.)
//! The word protocol is the classic three-state futex mutex: take 0 → 1;
//! when that fails, spin `SpinCount` times, then mark the word 2 and sleep in
//! `FUTEX_WAIT`; release stores 0 and wakes one sleeper if it was 2.
//!
//! A contended `EnterCriticalSection` sleeps inside a blocking section of the
//! calling thread's completion port: while it waits for the lock
//! the thread does not count against the port's concurrency limit, as on
//! Windows, where the kernel sees the wait. The uncontended paths make no
//! system call.
//!
//! Misuse that Windows leaves undefined does no harm here: a `Leave` by a
//! thread that does not own the section is ignored; NULL pointers are ignored
//! (or fail with `ERROR_INVALID_PARAMETER` where the function returns BOOL).

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use crate::engine::signal::current_tid;
use crate::error::{boundary, fail};
use crate::types::*;

const FREE: i32 = 0;
const HELD: i32 = 1;
const CONTENDED: i32 = 2;

/// The default spin count of `InitializeCriticalSection`.
const DEFAULT_SPIN: usize = 0;
/// Spin counts above this are treated as this (a spin is a CPU pause).
const MAX_SPIN: usize = 1 << 16;

/// The atomic views of a section's fields.
struct Cs<'a> {
    word: &'a AtomicI32,
    owner: &'a AtomicUsize,
    depth: &'a AtomicI32,
    spin: &'a AtomicUsize,
}

impl Cs<'_> {
    /// # Safety
    /// `cs` must be non-NULL and point to a live, aligned `CRITICAL_SECTION`
    /// that is only accessed through these functions while the views live.
    unsafe fn of<'a>(cs: *mut CRITICAL_SECTION) -> Cs<'a> {
        // SAFETY: the fields are aligned i32 / pointer-sized integers of a
        // live structure (caller contract); atomics have the same layout.
        unsafe {
            Cs {
                word: AtomicI32::from_ptr(&raw mut (*cs).LockCount),
                owner: AtomicUsize::from_ptr((&raw mut (*cs).OwningThread).cast()),
                depth: AtomicI32::from_ptr(&raw mut (*cs).RecursionCount),
                spin: AtomicUsize::from_ptr(&raw mut (*cs).SpinCount),
            }
        }
    }

    fn owned_by(&self, me: usize) -> bool {
        // Only the owner ever stores its own id here, and it stores 0 before
        // it releases the word, so this is exact for `me` itself.
        self.owner.load(Ordering::Relaxed) == me
    }

    fn try_take(&self) -> bool {
        self.word
            .compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn become_owner(&self, me: usize) {
        self.owner.store(me, Ordering::Relaxed);
        self.depth.store(1, Ordering::Relaxed);
    }

    #[cold]
    fn take_contended(&self) {
        let spins = self.spin.load(Ordering::Relaxed).min(MAX_SPIN);
        for _ in 0..spins {
            if self.word.load(Ordering::Relaxed) == FREE && self.try_take() {
                return;
            }
            std::hint::spin_loop();
        }
        crate::engine::cport::blocking(|| {
            while self.word.swap(CONTENDED, Ordering::Acquire) != FREE {
                futex_wait(self.word, CONTENDED);
            }
        });
    }

    fn release(&self) {
        self.owner.store(0, Ordering::Relaxed);
        if self.word.swap(FREE, Ordering::Release) == CONTENDED {
            futex_wake_one(self.word);
        }
    }
}

fn futex_wait(word: &AtomicI32, expected: i32) {
    // SAFETY: FUTEX_WAIT on a live, aligned i32; the kernel only reads it.
    // It returns at once if the word no longer holds `expected`; EINTR and
    // spurious wake-ups are handled by the caller's loop.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

fn futex_wake_one(word: &AtomicI32) {
    // SAFETY: FUTEX_WAKE on a live, aligned i32; no memory is written.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

/// Writes a free critical section into the program's `CRITICAL_SECTION`.
///
/// # Safety
/// `cs` must be non-NULL and point to a `CRITICAL_SECTION` that nobody uses
/// meanwhile.
unsafe fn init(cs: *mut CRITICAL_SECTION, spin: usize) {
    let value = CRITICAL_SECTION {
        DebugInfo: std::ptr::null_mut(),
        LockCount: FREE,
        RecursionCount: 0,
        OwningThread: std::ptr::null_mut(),
        LockSemaphore: std::ptr::null_mut(),
        SpinCount: spin,
    };
    // SAFETY: `cs` is non-NULL and points to the program's
    // CRITICAL_SECTION, which nobody uses while it is initialised (caller
    // contract).
    unsafe { cs.write(value) };
}

/// `InitializeCriticalSection`.
///
/// # Safety
/// `cs` must be NULL or point to a `CRITICAL_SECTION` not in use.
#[no_mangle]
pub unsafe extern "C" fn InitializeCriticalSection(cs: *mut CRITICAL_SECTION) {
    boundary((), || {
        if !cs.is_null() {
            // SAFETY: non-NULL, and the caller's section is not in use.
            unsafe { init(cs, DEFAULT_SPIN) };
        }
    })
}

/// `InitializeCriticalSectionAndSpinCount`: always `TRUE` (nothing to allocate).
///
/// # Safety
/// As `InitializeCriticalSection`.
#[no_mangle]
pub unsafe extern "C" fn InitializeCriticalSectionAndSpinCount(
    cs: *mut CRITICAL_SECTION,
    spin: DWORD,
) -> BOOL {
    boundary(FALSE, || {
        if cs.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // The high bit asked Windows 2000 to preallocate an event: meaningless here.
        // SAFETY: non-NULL, and the caller's section is not in use.
        unsafe { init(cs, (spin & 0x00FF_FFFF) as usize) };
        TRUE
    })
}

/// `InitializeCriticalSectionEx` (the flags only concern Windows' debug info).
///
/// # Safety
/// As `InitializeCriticalSection`.
#[no_mangle]
pub unsafe extern "C" fn InitializeCriticalSectionEx(
    cs: *mut CRITICAL_SECTION,
    spin: DWORD,
    _flags: DWORD,
) -> BOOL {
    // SAFETY: forwarded caller contract.
    unsafe { InitializeCriticalSectionAndSpinCount(cs, spin) }
}

/// `SetCriticalSectionSpinCount`: the previous spin count.
///
/// # Safety
/// `cs` must be NULL or an initialised section.
#[no_mangle]
pub unsafe extern "C" fn SetCriticalSectionSpinCount(
    cs: *mut CRITICAL_SECTION,
    spin: DWORD,
) -> DWORD {
    boundary(0, || {
        if cs.is_null() {
            return 0;
        }
        // SAFETY: an initialised section (caller contract).
        let c = unsafe { Cs::of(cs) };
        c.spin.swap(spin as usize, Ordering::Relaxed) as DWORD
    })
}

/// `EnterCriticalSection`: recursive; a contended wait is a blocking section.
///
/// # Safety
/// `cs` must be NULL or an initialised section.
#[no_mangle]
pub unsafe extern "C" fn EnterCriticalSection(cs: *mut CRITICAL_SECTION) {
    boundary((), || {
        if cs.is_null() {
            return;
        }
        // SAFETY: an initialised section (caller contract).
        let c = unsafe { Cs::of(cs) };
        let me = current_tid() as usize;
        if c.owned_by(me) {
            c.depth.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !c.try_take() {
            c.take_contended();
        }
        c.become_owner(me);
    })
}

/// `TryEnterCriticalSection`: `TRUE` if the caller now owns the section.
///
/// # Safety
/// `cs` must be NULL or an initialised section.
#[no_mangle]
pub unsafe extern "C" fn TryEnterCriticalSection(cs: *mut CRITICAL_SECTION) -> BOOL {
    boundary(FALSE, || {
        if cs.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: an initialised section (caller contract).
        let c = unsafe { Cs::of(cs) };
        let me = current_tid() as usize;
        if c.owned_by(me) {
            c.depth.fetch_add(1, Ordering::Relaxed);
            return TRUE;
        }
        if c.try_take() {
            c.become_owner(me);
            TRUE
        } else {
            FALSE
        }
    })
}

/// `LeaveCriticalSection`: ignored unless the caller owns the section.
///
/// # Safety
/// `cs` must be NULL or an initialised section.
#[no_mangle]
pub unsafe extern "C" fn LeaveCriticalSection(cs: *mut CRITICAL_SECTION) {
    boundary((), || {
        if cs.is_null() {
            return;
        }
        // SAFETY: an initialised section (caller contract).
        let c = unsafe { Cs::of(cs) };
        if !c.owned_by(current_tid() as usize) {
            return;
        }
        if c.depth.fetch_sub(1, Ordering::Relaxed) <= 1 {
            c.depth.store(0, Ordering::Relaxed);
            c.release();
        }
    })
}

/// `DeleteCriticalSection`: nothing to free; the section reads as free again.
///
/// # Safety
/// `cs` must be NULL or an initialised section that no thread uses.
#[no_mangle]
pub unsafe extern "C" fn DeleteCriticalSection(cs: *mut CRITICAL_SECTION) {
    boundary((), || {
        if !cs.is_null() {
            // SAFETY: non-NULL, and the caller's section is not in use.
            unsafe { init(cs, DEFAULT_SPIN) };
        }
    })
}
