//! The packet queue: an unbounded lock-free MPMC FIFO that recycles its
//! memory.
//!
//! This is crossbeam-queue's `SegQueue` (crossbeam-queue 0.3.14,
//! `src/seg_queue.rs`, MIT OR Apache-2.0, © the Crossbeam project
//! developers): a linked list of blocks of 31 slots, where a producer claims
//! a slot with one CAS on the tail index and a consumer with one CAS on the
//! head index. The one change: a block whose slots have all been read is
//! kept in a small cache of spare blocks instead of being freed, and the
//! next block a producer needs comes from there instead of the allocator.
//! `SegQueue` sends every block through the allocator, and a block freed
//! by the consumer's thread and allocated by the producer's does not stay
//! in either thread's cache: when the port queued whole 56-byte packets
//! (2 KiB blocks), a quarter of the CPU time of the post → get benchmark
//! went to the malloc arena lock and to page faults. The port now queues
//! 24-byte entries (`packet::Queued`, 1 KiB blocks); the cache still saves
//! the allocator round trip.
//!
//! Why recycling is safe: a block reaches `Block::destroy`'s end only when
//! every slot has been read and no thread uses it (the `READ`/`DESTROY`
//! protocol below, unchanged). A thread that still holds a stale pointer to
//! it dereferences it only after a successful CAS of an index inside the
//! block's lap, which cannot happen any more: indices only grow. So handing
//! the block out again is exactly as safe as `free` followed by a `malloc`
//! that returns the same address, which the allocator may do anyway.

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{self, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::spares::Spares;
use crossbeam_utils::{Backoff, CachePadded};

type Index = u64;

// Bits indicating the state of a slot:
// * If a value has been written into the slot, `WRITE` is set.
// * If a value has been read from the slot, `READ` is set.
// * If the block is being destroyed, `DESTROY` is set.
const WRITE: usize = 1;
const READ: usize = 2;
const DESTROY: usize = 4;

// Each block covers one "lap" of indices.
const LAP: Index = 32;
// The maximum number of values a block can hold.
const BLOCK_CAP: usize = LAP as usize - 1;
// How many lower bits are reserved for metadata.
const SHIFT: u32 = 1;
// Indicates that the block is not the last one.
const HAS_NEXT: Index = 1;

/// Spare blocks kept for reuse (about 1 KiB each for a 24-byte entry).
const SPARES: usize = 16;

/// A slot in a block.
struct QueueSlot<T> {
    /// The value.
    value: UnsafeCell<MaybeUninit<T>>,
    /// The state of the slot.
    state: AtomicUsize,
}

impl<T> QueueSlot<T> {
    /// Waits until a value is written into the slot.
    fn wait_write(&self) {
        let backoff = Backoff::new();
        while self.state.load(Ordering::Acquire) & WRITE == 0 {
            backoff.snooze();
        }
    }
}

/// A block in a linked list.
struct Block<T> {
    /// The next block in the linked list.
    next: AtomicPtr<Block<T>>,
    /// Slots for values.
    slots: [QueueSlot<T>; BLOCK_CAP],
}

impl<T> Block<T> {
    const LAYOUT: Layout = Layout::new::<Self>();

    /// Allocates an empty block.
    fn alloc() -> *mut Block<T> {
        // SAFETY: the layout is not zero-sized (the block has an AtomicPtr).
        let ptr = unsafe { alloc_zeroed(Self::LAYOUT) };
        if ptr.is_null() {
            handle_alloc_error(Self::LAYOUT)
        }
        // All zeroes is an empty block: a null `next`, slot states 0, and
        // values that are `MaybeUninit`.
        ptr.cast()
    }

    /// Frees a block that nobody uses and whose values were all moved out.
    ///
    /// # Safety
    ///
    /// `this` came from [`Block::alloc`] and no thread uses it any more.
    unsafe fn free(this: *mut Block<T>) {
        // SAFETY: by the contract, allocated with this layout and unused.
        unsafe { dealloc(this.cast(), Self::LAYOUT) }
    }

    /// Waits until the next pointer is set.
    fn wait_next(&self) -> *mut Block<T> {
        let backoff = Backoff::new();
        loop {
            let next = self.next.load(Ordering::Acquire);
            if !next.is_null() {
                return next;
            }
            backoff.snooze();
        }
    }
}

/// A position in a queue.
struct Position<T> {
    /// The index in the queue.
    index: AtomicU64,
    /// The block in the linked list.
    block: AtomicPtr<Block<T>>,
}

/// An unbounded MPMC FIFO queue; see the module notes.
pub(crate) struct Queue<T> {
    head: CachePadded<Position<T>>,
    tail: CachePadded<Position<T>>,
    /// Blocks that every slot has been read from, for producers to reuse.
    spares: Spares<Block<T>, SPARES>,
    /// Dropping the queue may drop values of type `T`.
    _marker: PhantomData<T>,
}

// SAFETY: values move between threads whole through the slots (`T: Send`);
// every shared field is atomic.
unsafe impl<T: Send> Send for Queue<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Queue<T> {}

impl<T> Queue<T> {
    pub(crate) fn new() -> Queue<T> {
        Queue {
            head: CachePadded::new(Position {
                block: AtomicPtr::new(ptr::null_mut()),
                index: AtomicU64::new(0),
            }),
            tail: CachePadded::new(Position {
                block: AtomicPtr::new(ptr::null_mut()),
                index: AtomicU64::new(0),
            }),
            spares: Spares::new(),
            _marker: PhantomData,
        }
    }

    /// An empty block: a spare one if there is any, else a new one.
    #[cold]
    #[inline(never)]
    fn new_block(&self) -> *mut Block<T> {
        let Some(block) = self.spares.take() else {
            return Block::alloc();
        };
        // SAFETY: `take` gave us the only pointer to this unused block (see
        // `recycle`); nobody else can reach it, so plain stores reset it to
        // the state `Block::alloc` returns.
        unsafe {
            (*block).next.store(ptr::null_mut(), Ordering::Relaxed);
            for slot in (*block).slots.iter() {
                slot.state.store(0, Ordering::Relaxed);
            }
        }
        block
    }

    /// Keeps a block that nobody uses any more as a spare, or frees it.
    ///
    /// # Safety
    ///
    /// Every slot of `block` has been read and no thread uses it any more.
    unsafe fn recycle(&self, block: *mut Block<T>) {
        if let Err(block) = self.spares.keep(block) {
            // SAFETY: by the contract, unused; it came from `Block::alloc`.
            unsafe { Block::free(block) }
        }
    }

    /// Sets the `DESTROY` bit in slots starting from `start` and recycles the
    /// block once no thread reads from it.
    ///
    /// # Safety
    ///
    /// The caller read the block's last slot (`start == 0`), or read slot
    /// `start - 1` and found `DESTROY` set.
    #[cold]
    #[inline(never)]
    unsafe fn destroy(&self, this: *mut Block<T>, start: usize) {
        // It is not necessary to set the `DESTROY` bit in the last slot because that slot has
        // begun destruction of the block.
        for i in start..BLOCK_CAP - 1 {
            // SAFETY: the block stays allocated until this function (or the
            // reader it hands over to) finishes; `i < BLOCK_CAP`.
            let slot = unsafe { (*this).slots.get_unchecked(i) };
            // Mark the `DESTROY` bit if a thread is still using the slot.
            if slot.state.load(Ordering::Acquire) & READ == 0
                && slot.state.fetch_or(DESTROY, Ordering::AcqRel) & READ == 0
            {
                // If a thread is still using the slot, it will continue destruction of the block.
                return;
            }
        }
        // SAFETY: no thread is using the block, and every slot was read.
        unsafe { self.recycle(this) }
    }

    /// Pushes `value` to the tail.
    #[inline]
    pub(crate) fn push(&self, value: T) {
        let backoff = Backoff::new();
        let mut tail = self.tail.index.load(Ordering::Acquire);
        let mut block = self.tail.block.load(Ordering::Acquire);
        let mut next_block: *mut Block<T> = ptr::null_mut();

        loop {
            // Calculate the offset of the index into the block.
            let offset = ((tail >> SHIFT) % LAP) as usize;

            // If we reached the end of the block, wait until the next one is installed.
            if offset == BLOCK_CAP {
                backoff.snooze();
                tail = self.tail.index.load(Ordering::Acquire);
                block = self.tail.block.load(Ordering::Acquire);
                continue;
            }

            // If we're going to have to install the next block, get it in advance in order to
            // make the wait for other threads as short as possible.
            if offset + 1 == BLOCK_CAP && next_block.is_null() {
                next_block = self.new_block();
            }

            // If this is the first push operation, we need to allocate the first block.
            if block.is_null() {
                let new = self.new_block();
                if self
                    .tail
                    .block
                    .compare_exchange(block, new, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    self.head.block.store(new, Ordering::Release);
                    block = new;
                } else {
                    if next_block.is_null() {
                        next_block = new;
                    } else {
                        // SAFETY: `new` never became reachable; every slot is
                        // empty, so recycling it is as good as freeing it.
                        unsafe { self.recycle(new) };
                    }
                    tail = self.tail.index.load(Ordering::Acquire);
                    block = self.tail.block.load(Ordering::Acquire);
                    continue;
                }
            }

            let new_tail = tail + (1 << SHIFT);

            // Try advancing the tail forward.
            match self.tail.index.compare_exchange_weak(
                tail,
                new_tail,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                // SAFETY: the CAS gave us slot `offset` of `block`, which stays
                // allocated until that slot is read; at the block's last slot
                // we own `next_block` (taken above) and publish it.
                Ok(_) => unsafe {
                    // If we've reached the end of the block, install the next one.
                    if offset + 1 == BLOCK_CAP {
                        let next_index = new_tail.wrapping_add(1 << SHIFT);
                        self.tail.block.store(next_block, Ordering::Release);
                        self.tail.index.store(next_index, Ordering::Release);
                        (*block).next.store(next_block, Ordering::Release);
                        next_block = ptr::null_mut();
                    }

                    // Write the value into the slot.
                    let slot = (*block).slots.get_unchecked(offset);
                    slot.value.get().write(MaybeUninit::new(value));
                    slot.state.fetch_or(WRITE, Ordering::Release);
                    if !next_block.is_null() {
                        // Taken in advance but not needed: keep it.
                        self.recycle(next_block);
                    }
                    return;
                },
                Err(t) => {
                    tail = t;
                    block = self.tail.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    /// Pops the head element; `None` if the queue is empty.
    #[inline]
    pub(crate) fn pop(&self) -> Option<T> {
        let backoff = Backoff::new();
        let mut head = self.head.index.load(Ordering::Acquire);
        let mut block = self.head.block.load(Ordering::Acquire);

        loop {
            // Calculate the offset of the index into the block.
            let offset = ((head >> SHIFT) % LAP) as usize;

            // If we reached the end of the block, wait until the next one is installed.
            if offset == BLOCK_CAP {
                backoff.snooze();
                head = self.head.index.load(Ordering::Acquire);
                block = self.head.block.load(Ordering::Acquire);
                continue;
            }

            let mut new_head = head + (1 << SHIFT);

            if new_head & HAS_NEXT == 0 {
                atomic::fence(Ordering::SeqCst);
                let tail = self.tail.index.load(Ordering::Relaxed);

                // If the tail equals the head, that means the queue is empty.
                if head >> SHIFT == tail >> SHIFT {
                    return None;
                }

                // If head and tail are not in the same block, set `HAS_NEXT` in head.
                if (head >> SHIFT) / LAP != (tail >> SHIFT) / LAP {
                    new_head |= HAS_NEXT;
                }
            }

            // The block can be null here only if the first push operation is in progress. In that
            // case, just wait until it gets initialized.
            if block.is_null() {
                backoff.snooze();
                head = self.head.index.load(Ordering::Acquire);
                block = self.head.block.load(Ordering::Acquire);
                continue;
            }

            // Try moving the head index forward.
            match self.head.index.compare_exchange_weak(
                head,
                new_head,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                // SAFETY: the CAS gave us slot `offset` of `block`; the block
                // is recycled only after this slot is marked READ (or by us).
                Ok(_) => unsafe {
                    // If we've reached the end of the block, move to the next one.
                    if offset + 1 == BLOCK_CAP {
                        self.advance_head(block, new_head);
                    }

                    // Read the value.
                    let slot = (*block).slots.get_unchecked(offset);
                    slot.wait_write();
                    let value = slot.value.get().read().assume_init();

                    // Destroy the block if we've reached the end, or if another thread wanted to
                    // destroy but couldn't because we were busy reading from the slot.
                    if offset + 1 == BLOCK_CAP {
                        self.destroy(block, 0);
                    } else if slot.state.fetch_or(READ, Ordering::AcqRel) & DESTROY != 0 {
                        self.destroy(block, offset + 1);
                    }

                    return Some(value);
                },
                Err(h) => {
                    head = h;
                    block = self.head.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    /// The head claimed the last slot of `block`: move it to the next block.
    ///
    /// # Safety
    ///
    /// The caller's CAS set the head index to `new_head`, the last slot of
    /// `block`, so `block` stays allocated until the caller read that slot.
    #[cold]
    #[inline(never)]
    unsafe fn advance_head(&self, block: *mut Block<T>, new_head: Index) {
        // SAFETY: by the contract `block` is alive; its successor is alive
        // while the head has not passed it.
        unsafe {
            let next = (*block).wait_next();
            let mut next_index = (new_head & !HAS_NEXT).wrapping_add(1 << SHIFT);
            if !(*next).next.load(Ordering::Relaxed).is_null() {
                next_index |= HAS_NEXT;
            }
            self.head.block.store(next, Ordering::Release);
            self.head.index.store(next_index, Ordering::Release);
        }
    }

    /// Whether the queue is empty (at the moment of the call).
    pub(crate) fn is_empty(&self) -> bool {
        let head = self.head.index.load(Ordering::SeqCst);
        let tail = self.tail.index.load(Ordering::SeqCst);
        head >> SHIFT == tail >> SHIFT
    }

    /// The number of elements (exact when nobody pushes or pops concurrently).
    pub(crate) fn len(&self) -> usize {
        loop {
            // Load the tail index, then load the head index.
            let mut tail = self.tail.index.load(Ordering::SeqCst);
            let mut head = self.head.index.load(Ordering::SeqCst);

            // If the tail index didn't change, we've got consistent indices to work with.
            if self.tail.index.load(Ordering::SeqCst) == tail {
                // Erase the lower bits.
                tail &= !((1 << SHIFT) - 1);
                head &= !((1 << SHIFT) - 1);

                // Fix up indices if they fall onto block ends.
                if (tail >> SHIFT) & (LAP - 1) == LAP - 1 {
                    tail = tail.wrapping_add(1 << SHIFT);
                }
                if (head >> SHIFT) & (LAP - 1) == LAP - 1 {
                    head = head.wrapping_add(1 << SHIFT);
                }

                // Rotate indices so that head falls into the first block.
                let lap = (head >> SHIFT) / LAP;
                tail = tail.wrapping_sub((lap * LAP) << SHIFT);
                head = head.wrapping_sub((lap * LAP) << SHIFT);

                // Remove the lower bits.
                tail >>= SHIFT;
                head >>= SHIFT;

                // Return the difference minus the number of blocks between tail and head.
                return (tail - head - tail / LAP) as usize;
            }
        }
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        // SAFETY: spares are unused blocks from `Block::alloc`.
        self.spares.drain(|block| unsafe { Block::free(block) });
        let mut head = *self.head.index.get_mut();
        let mut tail = *self.tail.index.get_mut();
        let mut block = *self.head.block.get_mut();

        // Erase the lower bits.
        head &= !((1 << SHIFT) - 1);
        tail &= !((1 << SHIFT) - 1);

        // Values dropped below may panic: free the blocks even then.
        struct Blocks<T>(*mut Block<T>);
        impl<T> Drop for Blocks<T> {
            fn drop(&mut self) {
                let mut block = self.0;
                while !block.is_null() {
                    // SAFETY: `&mut Queue` in `drop`: nobody else uses the
                    // blocks; the chain from the current one on was not freed.
                    unsafe {
                        let next = *(*block).next.get_mut();
                        Block::free(block);
                        block = next;
                    }
                }
            }
        }

        // SAFETY: exclusive access; slots between head and tail hold values.
        unsafe {
            let mut guard = Blocks(block);
            // Drop all values between `head` and `tail` and free the blocks.
            while head != tail {
                let offset = ((head >> SHIFT) % LAP) as usize;
                if offset < BLOCK_CAP {
                    // Move the value out first, so that a panicking drop does
                    // not leave it to be dropped again.
                    let slot = (*block).slots.get_unchecked(offset);
                    let value = slot.value.get().read().assume_init();
                    head = head.wrapping_add(1 << SHIFT);
                    drop(value);
                    continue;
                }
                // Deallocate the block and move to the next one.
                let next = *(*block).next.get_mut();
                guard.0 = next;
                Block::free(block);
                block = next;
                head = head.wrapping_add(1 << SHIFT);
            }
            drop(guard);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn fifo_across_blocks_and_len() {
        let q = Queue::new();
        assert!(q.is_empty());
        for round in 0..3 {
            for i in 0..200 {
                q.push(round * 1000 + i);
            }
            assert_eq!(q.len(), 200);
            for i in 0..200 {
                assert_eq!(q.pop(), Some(round * 1000 + i));
            }
            assert_eq!(q.pop(), None);
            assert!(q.is_empty());
        }
        // Blocks that emptied were kept for reuse.
        assert!(q.spares.any());
    }

    /// Also the block-recycling check under Miri (`cargo +nightly miri test
    /// --lib port_core::queue`): blocks are emptied, cached and handed out
    /// again while other threads still hold stale pointers to them, and
    /// Miri reports any access the protocol fails to order (a data race) or
    /// any use of memory that is not live.
    #[test]
    fn every_value_once_under_contention() {
        // Under Miri: fewer values (it interprets every access), still
        // about twenty blocks per producer, so blocks are recycled many times.
        const PER: u64 = if cfg!(miri) { 600 } else { 50_000 };
        let q = Arc::new(Queue::new());
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || (0..PER).for_each(|i| q.push(p * PER + i)))
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut last = [None::<u64>; 2];
                    while got.len() < PER as usize {
                        if let Some(v) = q.pop() {
                            // Each producer's values come out in order.
                            let p = (v / PER) as usize;
                            assert!(last[p].is_none_or(|l| l < v));
                            last[p] = Some(v);
                            got.push(v);
                        }
                    }
                    got
                })
            })
            .collect();
        producers.into_iter().for_each(|p| p.join().unwrap());
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..2 * PER).collect::<Vec<_>>());
    }

    #[test]
    fn dropping_the_queue_drops_what_is_left() {
        let value = Arc::new(());
        let q = Queue::new();
        (0..100).for_each(|_| q.push(value.clone()));
        (0..40).for_each(|_| drop(q.pop()));
        drop(q);
        assert_eq!(Arc::strong_count(&value), 1);
    }
}
