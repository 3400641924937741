//! Sleeping by address, for the objects that live in the program's memory:
//! SRW locks, condition variables, one-time initialisation and
//! `WaitOnAddress`. Built on `parking_lot_core`'s keyed wait queues: a
//! sleeper checks its condition under the queue's lock before it sleeps, and
//! a waker changes the memory first and then wakes the queue, so no wake-up
//! is lost.
//!
//! Each kind of object sleeps in its own key space (the kind in the top bits
//! of the key, above every user-space address), so a program that calls
//! `WaitOnAddress` on the address of one of its SRW locks does not steal the
//! lock's wake-ups. Callers wrap a sleep in `crate::engine::cport::blocking`.

use std::time::{Duration, Instant};

use parking_lot_core::{ParkResult, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};

use crate::types::{DWORD, INFINITE};

/// Which kind of object sleeps on an address.
#[derive(Clone, Copy)]
pub(crate) enum Space {
    Address = 0,
    SrwLock = 1,
    CondVar = 2,
    InitOnce = 3,
}

fn key(addr: usize, space: Space) -> usize {
    // User-space addresses fit in 57 bits on x86-64 and aarch64.
    addr | ((space as usize) << 60)
}

/// How a sleep ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Woke {
    /// Woken by `wake_one` / `wake_all`.
    Woken,
    /// The condition no longer held when checked under the queue's lock.
    NotNeeded,
    TimedOut,
}

/// Sleeps on `(addr, space)` if `still()` holds (checked under the queue's
/// lock), until woken or until `deadline`. `still` must not panic or sleep.
pub(crate) fn sleep(
    addr: usize,
    space: Space,
    deadline: Option<Instant>,
    still: impl FnOnce() -> bool,
) -> Woke {
    // SAFETY: the key is in a key space only this module uses (the top bits
    // are never part of a user-space address, nor of parking_lot's own
    // keys); `still` and the empty callbacks neither panic nor park.
    let r = unsafe {
        parking_lot_core::park(
            key(addr, space),
            still,
            || {},
            |_, _| {},
            DEFAULT_PARK_TOKEN,
            deadline,
        )
    };
    match r {
        ParkResult::Unparked(_) => Woke::Woken,
        ParkResult::Invalid => Woke::NotNeeded,
        ParkResult::TimedOut => Woke::TimedOut,
    }
}

/// Wakes one sleeper of `(addr, space)`; whether there was one.
pub(crate) fn wake_one(addr: usize, space: Space) -> bool {
    // SAFETY: as in `sleep`; the callback does nothing.
    let r = unsafe { parking_lot_core::unpark_one(key(addr, space), |_| DEFAULT_UNPARK_TOKEN) };
    r.unparked_threads > 0
}

/// Wakes every sleeper of `(addr, space)`.
pub(crate) fn wake_all(addr: usize, space: Space) {
    // SAFETY: as in `sleep`.
    unsafe { parking_lot_core::unpark_all(key(addr, space), DEFAULT_UNPARK_TOKEN) };
}

/// The deadline of a Win32 timeout in milliseconds (`INFINITE`: none).
pub(crate) fn deadline(ms: DWORD) -> Option<Instant> {
    if ms == INFINITE {
        return None;
    }
    // A deadline too far to represent is no deadline.
    Instant::now().checked_add(Duration::from_millis(u64::from(ms)))
}

/// Spins briefly before a sleep: most SRW holds are a few instructions long.
pub(crate) fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..64 {
        if done() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}
