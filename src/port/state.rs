//! The port's counters packed into one atomic word, so that every decision of
//! SPEC §2–3 ("is a packet queued, is a thread waiting, is active < limit") is
//! made and committed by a single compare-and-swap.

/// `queued`: packets in the FIFO queue that are counted (bits 0..32).
const QUEUED_SHIFT: u32 = 0;
const QUEUED_MASK: u64 = 0xFFFF_FFFF;
/// `active`: threads released by the port and not back in `get` nor paused (bits 32..47).
const ACTIVE_SHIFT: u32 = 32;
/// `waiting`: threads parked in `get` on the LIFO stack (bits 47..62).
const WAITING_SHIFT: u32 = 47;
const COUNT15_MASK: u64 = 0x7FFF;
/// `closed`: the port refuses posts and every waiter has been woken (bit 63).
const CLOSED_BIT: u64 = 1 << 63;

/// Largest number of active or waiting threads the word can count.
pub(crate) const MAX_THREADS: u32 = COUNT15_MASK as u32;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct State(pub(crate) u64);

impl State {
    #[inline]
    pub(crate) fn queued(self) -> u32 {
        ((self.0 >> QUEUED_SHIFT) & QUEUED_MASK) as u32
    }
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
    pub(crate) fn with_queued(self, n: u32) -> State {
        State((self.0 & !(QUEUED_MASK << QUEUED_SHIFT)) | (u64::from(n) << QUEUED_SHIFT))
    }
    #[inline]
    pub(crate) fn with_active(self, n: u32) -> State {
        debug_assert!(n <= MAX_THREADS);
        State((self.0 & !(COUNT15_MASK << ACTIVE_SHIFT)) | (u64::from(n) << ACTIVE_SHIFT))
    }
    #[inline]
    pub(crate) fn with_waiting(self, n: u32) -> State {
        debug_assert!(n <= MAX_THREADS);
        State((self.0 & !(COUNT15_MASK << WAITING_SHIFT)) | (u64::from(n) << WAITING_SHIFT))
    }
    #[inline]
    pub(crate) fn with_closed(self) -> State {
        State(self.0 | CLOSED_BIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MAX_QUEUED: u32 = u32::MAX;

    #[test]
    fn fields_are_independent() {
        let s = State(0)
            .with_queued(MAX_QUEUED)
            .with_active(3)
            .with_waiting(MAX_THREADS);
        assert_eq!(s.queued(), MAX_QUEUED);
        assert_eq!(s.active(), 3);
        assert_eq!(s.waiting(), MAX_THREADS);
        assert!(!s.closed());
        let s = s.with_active(MAX_THREADS).with_queued(7).with_closed();
        assert_eq!(
            (s.queued(), s.active(), s.waiting(), s.closed()),
            (7, MAX_THREADS, MAX_THREADS, true)
        );
        let s = s.with_waiting(0).with_active(0);
        assert_eq!(
            (s.queued(), s.active(), s.waiting(), s.closed()),
            (7, 0, 0, true)
        );
    }
}
