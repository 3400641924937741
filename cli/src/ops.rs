//! Issuing operations with an account of how many packets are still due.

use std::sync::atomic::{AtomicUsize, Ordering};

use cport::{IoBuf, IssueError, Issued, Packet, Port};

/// What a start call returns.
pub type Started<V, B = Vec<u8>> = Result<Issued<V, B>, IssueError<V, B>>;

/// The crate's fixed heap buffer: a receive fills up to its capacity, a
/// send sends its first `len` bytes.
pub use cport::FixedBuf;

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
