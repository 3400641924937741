//! The one place that chooses between `std` and `loom` synchronisation primitives.
//!
//! The port core is written against these names only, so the same code runs in
//! production and under the loom model checker (`RUSTFLAGS="--cfg loom"`).
//! Under loom the lock-free queue is replaced by a mutex-protected `VecDeque`
//! whose emptiness check synchronises with nothing: the models check the port
//! protocol, assuming a linearisable FIFO queue and no more.

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use std::thread::{current, park, Thread};
    pub(crate) use std::thread_local;

    /// A mutex whose `lock` cannot fail (parking_lot never poisons).
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(parking_lot::Mutex::new(value))
        }
        #[inline]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    /// Lock-free MPMC FIFO queue that recycles its blocks (`port_core/queue.rs`).
    pub(crate) use crate::port_core::queue::Queue;

    /// Sleeps until unparked, or until `timeout` passes (spurious returns allowed).
    #[inline]
    pub(crate) fn park_timeout(timeout: std::time::Duration) {
        std::thread::park_timeout(timeout)
    }

    /// A point in time after which a wait gives up.
    #[derive(Clone, Copy)]
    pub(crate) struct Deadline(Option<std::time::Instant>);

    impl Deadline {
        /// `None` waits forever; a timeout too large to represent also waits forever.
        pub(crate) fn after(timeout: Option<std::time::Duration>) -> Self {
            Deadline(timeout.and_then(|t| std::time::Instant::now().checked_add(t)))
        }
        pub(crate) fn is_forever(&self) -> bool {
            self.0.is_none()
        }
        /// Time left, or `None` once the deadline passed. Forever → `Some(MAX)`.
        pub(crate) fn remaining(&self) -> Option<std::time::Duration> {
            match self.0 {
                None => Some(std::time::Duration::MAX),
                Some(at) => at
                    .checked_duration_since(std::time::Instant::now())
                    .filter(|d| !d.is_zero()),
            }
        }
    }

    /// Spin briefly before parking: a hand-off often arrives within a few hundred
    /// nanoseconds when producer and consumer run on different cores.
    pub(crate) const SPIN_LIMIT: u32 = 200;
    /// Then yield the CPU this many times before parking.
    pub(crate) const YIELD_LIMIT: u32 = 10;
    /// A hot worker that finds the queue empty watches it this many spins
    /// before it joins the waiters ...
    pub(crate) const PRE_SPIN: u32 = 200;
    /// ... and this many yields of the CPU.
    pub(crate) const PRE_YIELD: u32 = 4;
    pub(crate) use std::thread::yield_now;

    #[inline]
    pub(crate) fn spin_loop() {
        std::hint::spin_loop()
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use loom::thread::{current, park, Thread};
    pub(crate) use loom::thread_local;

    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    /// A linearisable FIFO queue whose emptiness check synchronises with
    /// nothing: `is_empty` reads a length kept with `Relaxed` accesses, so
    /// the models check that the port's own fences order a push against
    /// the state word (the lock-free queue promises no more than that).
    pub(crate) struct Queue<T> {
        items: loom::sync::Mutex<std::collections::VecDeque<T>>,
        len: loom::sync::atomic::AtomicUsize,
    }

    impl<T> Queue<T> {
        pub(crate) fn new() -> Self {
            Queue {
                items: loom::sync::Mutex::new(std::collections::VecDeque::new()),
                len: loom::sync::atomic::AtomicUsize::new(0),
            }
        }
        pub(crate) fn push(&self, value: T) {
            let mut items = self.items.lock().unwrap();
            items.push_back(value);
            self.len.store(items.len(), Ordering::Relaxed);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            let mut items = self.items.lock().unwrap();
            let item = items.pop_front();
            self.len.store(items.len(), Ordering::Relaxed);
            item
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.len.load(Ordering::Relaxed) == 0
        }
        pub(crate) fn len(&self) -> usize {
            self.len.load(Ordering::Relaxed)
        }
    }

    /// loom has no timed park: a timed wait yields once and then counts as expired,
    /// which lets the model explore a timeout at every interleaving point.
    pub(crate) fn park_timeout(_timeout: std::time::Duration) {
        loom::thread::yield_now()
    }

    #[derive(Clone, Copy)]
    pub(crate) struct Deadline(Option<()>);

    impl Deadline {
        pub(crate) fn after(timeout: Option<std::time::Duration>) -> Self {
            Deadline(timeout.map(|_| ()))
        }
        pub(crate) fn is_forever(&self) -> bool {
            self.0.is_none()
        }
        pub(crate) fn remaining(&self) -> Option<std::time::Duration> {
            match self.0 {
                None => Some(std::time::Duration::MAX),
                Some(()) => None,
            }
        }
    }

    pub(crate) const SPIN_LIMIT: u32 = 0;
    pub(crate) const YIELD_LIMIT: u32 = 0;
    /// One look at the queue before joining the waiters, so that the models
    /// cover that path without the spin's interleavings.
    pub(crate) const PRE_SPIN: u32 = 0;
    pub(crate) const PRE_YIELD: u32 = 1;
    pub(crate) use loom::thread::yield_now;

    pub(crate) fn spin_loop() {
        loom::thread::yield_now()
    }
}

pub(crate) use imp::*;
