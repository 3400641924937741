//! Spare allocations kept for reuse, so that the hot paths allocate nothing
//! in a steady state: a fixed array of atomic pointers, each empty or owning
//! one allocation. Taking is one swap, keeping one compare-exchange; there
//! is no list to link, so no ABA. Used by the port's queue (its blocks) and
//! by the packet entries the queue carries (their boxed rest).

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crossbeam_utils::CachePadded;

pub(crate) struct Spares<T, const N: usize> {
    slots: CachePadded<[AtomicPtr<T>; N]>,
}

impl<T, const N: usize> Spares<T, N> {
    pub(crate) fn new() -> Self {
        Spares {
            slots: CachePadded::new(std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut()))),
        }
    }

    /// A spare, if there is one; the caller owns it from here.
    #[inline]
    pub(crate) fn take(&self) -> Option<*mut T> {
        for slot in self.slots.iter() {
            // Load first: a swap on every empty slot would write its line.
            if slot.load(Ordering::Relaxed).is_null() {
                continue;
            }
            let spare = slot.swap(ptr::null_mut(), Ordering::Acquire);
            if !spare.is_null() {
                return Some(spare);
            }
        }
        None
    }

    /// Keeps `spare` (which the caller owns and no longer uses) if there is
    /// room, else hands it back for the caller to free.
    #[inline]
    pub(crate) fn keep(&self, spare: *mut T) -> Result<(), *mut T> {
        for slot in self.slots.iter() {
            if slot.load(Ordering::Relaxed).is_null()
                && slot
                    .compare_exchange(ptr::null_mut(), spare, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
            {
                return Ok(());
            }
        }
        Err(spare)
    }

    /// Whether any spare is kept (for tests).
    #[cfg(test)]
    pub(crate) fn any(&self) -> bool {
        self.slots
            .iter()
            .any(|s| !s.load(Ordering::Relaxed).is_null())
    }

    /// Hands every spare to `free` (for the owner's `Drop`).
    pub(crate) fn drain(&mut self, mut free: impl FnMut(*mut T)) {
        for slot in self.slots.iter_mut() {
            let spare = std::mem::replace(slot.get_mut(), ptr::null_mut());
            if !spare.is_null() {
                free(spare);
            }
        }
    }
}
