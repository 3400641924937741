//! Issuing operations with an account of how many packets are still due.

use std::sync::atomic::{AtomicUsize, Ordering};

use cport::{IoBuf, IssueError, Issued, Packet, Port};

/// What a start call returns.
pub type Started<V, B = Vec<u8>> = Result<Issued<V, B>, IssueError<V, B>>;

/// A fixed heap buffer of which an operation uses the first `len` bytes: a
/// receive fills up to `capacity()`, a send of `n` bytes sets `len = n`,
/// and nothing is reallocated or zeroed between the two.
pub struct FixedBuf {
    data: Box<[u8]>,
    len: usize,
}

impl FixedBuf {
    pub fn new(capacity: usize) -> Self {
        FixedBuf {
            data: vec![0; capacity].into_boxed_slice(),
            len: capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Uses the first `len` bytes (at most the capacity) from now on.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.data.len());
    }
}

// SAFETY: the bytes live in a boxed slice, whose heap memory does not move
// when the `FixedBuf` moves and is never reallocated; `len` never exceeds the
// slice's length, so `stable_ptr` is valid for `stable_len` bytes.
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    fn stable_len(&self) -> usize {
        self.len
    }
}

/// Starts an operation with `start` and counts it in `outstanding` (one packet
/// due) if it was started. An operation that completed inline (skip-on-success
/// mode) is posted to the port as its packet, so callers see one path only.
/// On failure nothing is due and the value and buffer come back.
pub fn issue<K, V, B>(
    port: &Port<K, V, B>,
    outstanding: &AtomicUsize,
    key: K,
    start: impl FnOnce(&Port<K, V, B>) -> Started<V, B>,
) -> Result<(), IssueError<V, B>>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    outstanding.fetch_add(1, Ordering::SeqCst);
    match start(port) {
        Ok(Issued::Pending(_)) => Ok(()),
        Ok(Issued::Completed { bytes, value, buf }) => {
            let mut packet = Packet::new(key, bytes, value);
            packet.buf = buf;
            port.post_packet(packet).map_err(|e| {
                outstanding.fetch_sub(1, Ordering::SeqCst);
                let p = e.into_inner();
                IssueError {
                    error: std::io::Error::new(
                        std::io::ErrorKind::BrokenPipe,
                        "the port is closed",
                    ),
                    value: p.value,
                    buf: p.buf,
                    bufs: Vec::new(),
                }
            })
        }
        Err(e) => {
            outstanding.fetch_sub(1, Ordering::SeqCst);
            Err(e)
        }
    }
}
