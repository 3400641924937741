//! Small, specific errors: callers must tell a timeout from a closed port from a
//! failed operation (a failed operation is a packet whose `result` is an error).

use std::fmt;
use std::io;

/// Why `get` / `get_many` returned without a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GetError {
    /// The timeout passed and no packet was dequeued (C ABI: `WAIT_TIMEOUT`).
    #[error("timed out waiting for a completion packet")]
    TimedOut,
    /// The port is closed, or was closed while waiting (C ABI: `ERROR_ABANDONED_WAIT_0`).
    #[error("the completion port is closed")]
    Closed,
}

impl From<GetError> for io::Error {
    fn from(e: GetError) -> io::Error {
        let kind = match e {
            GetError::TimedOut => io::ErrorKind::TimedOut,
            GetError::Closed => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, e)
    }
}

/// A post to a closed port; the packet comes back to the caller untouched.
#[derive(thiserror::Error)]
#[error("posting to a closed completion port")]
pub struct PostError<P>(pub P);

impl<P> PostError<P> {
    /// The packet that was not posted.
    pub fn into_inner(self) -> P {
        self.0
    }
}

impl<P> fmt::Debug for PostError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PostError(..)")
    }
}
