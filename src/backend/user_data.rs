//! The one definition of an operation's `user_data`, the 64-bit number that
//! names it between the op layer (which makes it) and a backend (which
//! carries it through the kernel and indexes its own tables by it).
//!
//! ```text
//!  63        62       61           INDEX_BITS ..= 60    0 .. INDEX_BITS
//! [backend] [probe] [timer event] [start sequence]     [slot index]
//! ```
//!
//! The op layer sets only the low 61 bits: its slot index in the low
//! [`INDEX_BITS`] bits (dense: free slots are reused first) and, above them,
//! a sequence number unique to this start of the op, so that neither a late
//! completion nor a stale op id can be taken for a later operation in the
//! same slot. The top three bits are the backends': [`BACKEND_REQUEST`] marks
//! requests a backend makes for itself, [`PROBE`] a readiness probe standing
//! for an op, [`TIMER_EVENT`] news of an op's timer.

/// Bits of the slot index.
pub(crate) const INDEX_BITS: u32 = 22;
/// Most operations one port can have in flight at once (one per slot index).
pub(crate) const MAX_IN_FLIGHT: usize = 1 << INDEX_BITS;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// The bits an op's own user_data may use.
const OP_MASK: u64 = (1 << 61) - 1;

/// Set in the user_data of requests a backend makes for itself (never
/// reported as completions).
pub(crate) const BACKEND_REQUEST: u64 = 1 << 63;
/// Set (with the op's own user_data) on the readiness poll that runs a
/// zero-byte receive on io_uring.
pub(crate) const PROBE: u64 = 1 << 62;
/// Set in a completion's `user_data` (with the op's own) when it is not the
/// op's completion but news that the op's per-operation timer ended
/// (io_uring: its linked timeout completed with `res`). The op is still in
/// flight or about to complete; the op layer makes sure it ends (io_uring
/// cannot cancel it by itself when the thread that submitted it has exited).
/// Backends that run their own timers never report it.
pub(crate) const TIMER_EVENT: u64 = 1 << 61;

/// The user_data of the op in slot `index`, started for the `seq`-th time.
pub(crate) fn make(seq: u64, index: usize) -> u64 {
    ((seq << INDEX_BITS) | index as u64) & OP_MASK
}

/// The slot index of `user_data` (its other bits ignored).
pub(crate) fn index(user_data: u64) -> usize {
    (user_data & INDEX_MASK) as usize
}

const _: () = assert!(MAX_IN_FLIGHT.is_power_of_two() && INDEX_BITS < 61);
