//! # cport — Windows-style I/O completion ports for Linux
//!
//! A [`Port`] is a queue of completion packets that worker threads wait on.
//! Packets are taken in FIFO order; waiting threads are released in LIFO
//! order, so the hot thread keeps running and cold threads stay asleep; and
//! at most `limit` threads run packets at once (the concurrency limit).
//!
//! ```
//! let port: cport::Port<u64, String> = cport::Port::builder().concurrency(1).build()?;
//! port.post(7, 3, "abc".to_string()).unwrap();
//! let packet = port.get(None).unwrap();
//! assert_eq!((packet.key, packet.result.unwrap(), packet.value.as_str()), (7, 3, "abc"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Layout (bottom-up; each layer imports only those below it)
//!
//! | module | owns |
//! |---|---|
//! | `port_core` | the queue, the state word, the waiters, thread association, the `Reactor` trait |
//! | `packet` | completion packets |
//! | `backend` | the `Backend` trait, the user_data layout, shared system calls; `epoll/` and `uring/` |
//! | `op` | handles, owned buffers (`IoBuf`, `IoBufMut`), op slots, lanes, completions to packets, timers (implements `Reactor`, drives a `Backend`) |
//! | `port`, `pool` | the public `Port`, `Builder`, `Op`, and the worker pool |
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// The backends are io_uring and epoll, and the port's threads park on futexes:
// Linux system calls that other systems do not have.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "cport runs on Linux only: its backends are io_uring and epoll (on Windows, use the system's own I/O completion ports)"
);

mod backend;
mod error;
mod loom;
mod op;
mod packet;
mod pool;
mod port;
mod port_core;
mod spares;

pub use backend::BackendKind;
pub use error::{GetError, PostError};
pub use op::buf::{FixedBuf, IoBuf, IoBufMut, Slice};
#[doc(hidden)]
pub use op::filtered_receive_drained;
pub use op::{is_aborted, CompletionFilter, Handle, IssueError, Issued, OpId, TimerId};
#[doc(hidden)]
pub use packet::MsgInfo;
pub use pool::{Pool, PoolReport};
#[cfg(feature = "futures")]
pub use port::{Awaitable, OpFuture};
pub use port::{BackendChoice, Blocking, Builder, Counters, Op, Packet, Port, DROP_WAIT};

/// Which of the io_uring opcodes cport's io_uring backend needs the running
/// kernel supports, by name (`cport info` prints them). An error if io_uring
/// cannot be set up at all (its errno tells why: see [`Port::fallback_reason`]).
pub fn io_uring_opcode_support() -> std::io::Result<Vec<(&'static str, bool)>> {
    backend::uring::opcode_support()
}

#[cfg(all(test, loom))]
mod loom_models;
#[cfg(all(test, not(loom)))]
mod testing;

/// The README's examples run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
