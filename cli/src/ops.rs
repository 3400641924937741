//! Issuing operations with an account of how many packets are still due.

use std::sync::atomic::{AtomicUsize, Ordering};

use cport::{IssueError, Issued, Packet, Port};

/// What a start call returns.
pub type Started<V> = Result<Issued<V, Vec<u8>>, IssueError<V, Vec<u8>>>;

/// Starts an operation with `start` and counts it in `outstanding` (one packet
/// due) if it was started. An operation that completed inline (skip-on-success
/// mode) is posted to the port as its packet, so callers see one path only.
/// On failure nothing is due and the value and buffer come back.
pub fn issue<K, V>(
    port: &Port<K, V, Vec<u8>>,
    outstanding: &AtomicUsize,
    key: K,
    start: impl FnOnce(&Port<K, V, Vec<u8>>) -> Started<V>,
) -> Result<(), IssueError<V, Vec<u8>>>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
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
