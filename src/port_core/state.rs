//! The port's thread counters packed into one atomic word, so that every
//! decision of the queue rules about threads ("is a thread waiting, is
//! active < limit"; docs/semantics.md, "Queue rules") is made and committed
//! by a single compare-and-swap. The packets themselves are counted by the
//! queue (see the port core's notes): the word is not
//! written when a hot worker takes a queued packet or a post finds nobody
//! waiting, so producers and consumers do not contend on it.

/// `active`: threads released by the port and not back in `get` nor paused (bits 0..15).
const ACTIVE_SHIFT: u32 = 0;
/// `waiting`: threads parked in `get` on the LIFO stack (bits 15..30).
const WAITING_SHIFT: u32 = 15;
const COUNT15_MASK: u64 = 0x7FFF;
/// `closed`: the port refuses posts and every waiter has been woken (bit 63).
const CLOSED_BIT: u64 = 1 << 63;

/// Largest number of active or waiting threads the word can count.
pub(crate) const MAX_THREADS: u32 = COUNT15_MASK as u32;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct State(pub(crate) u64);

impl State {
    #[inline]
    pub(crate) fn active(self) -> u32 {
        ((self.0 >> ACTIVE_SHIFT) & COUNT15_MASK) as u32
    }
    #[inline]
    pub(crate) fn waiting(self) -> u32 {
        ((self.0 >> WAITING_SHIFT) & COUNT15_MASK) as u32
    }
    #[inline]
    pub(crate) fn closed(self) -> bool {
        self.0 & CLOSED_BIT != 0
    }
    #[inline]
    pub(crate) fn with_active(self, n: u32) -> State {
        debug_assert!(n <= MAX_THREADS);
        let n = u64::from(n) & COUNT15_MASK;
        State((self.0 & !(COUNT15_MASK << ACTIVE_SHIFT)) | (n << ACTIVE_SHIFT))
    }
    #[inline]
    pub(crate) fn with_waiting(self, n: u32) -> State {
        debug_assert!(n <= MAX_THREADS);
        let n = u64::from(n) & COUNT15_MASK;
        State((self.0 & !(COUNT15_MASK << WAITING_SHIFT)) | (n << WAITING_SHIFT))
    }
    #[inline]
    pub(crate) fn with_closed(self) -> State {
        State(self.0 | CLOSED_BIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_independent() {
        let s = State(0).with_active(3).with_waiting(MAX_THREADS);
        assert_eq!(
            (s.active(), s.waiting(), s.closed()),
            (3, MAX_THREADS, false)
        );
        let s = s.with_active(MAX_THREADS).with_closed();
        assert_eq!(
            (s.active(), s.waiting(), s.closed()),
            (MAX_THREADS, MAX_THREADS, true)
        );
        let s = s.with_waiting(0).with_active(0);
        assert_eq!((s.active(), s.waiting(), s.closed()), (0, 0, true));
    }
}
