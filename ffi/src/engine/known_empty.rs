//! When a `WSARecv` may skip its first, inline receive attempt.
//!
//! Windows completes a `WSARecv` at once when the data is already there,
//! and cport keeps that: the call first tries `recvmsg` without waiting. On
//! a request/response connection that attempt mostly finds nothing (the
//! peer has not answered yet), and then costs a system call for nothing.
//!
//! io_uring says, with every TCP receive it completes, whether data was left
//! in the socket (`IORING_CQE_F_SOCK_NONEMPTY`, Linux 5.19). When it left
//! none, the socket is **known to be empty** — until something happens
//! through which the program could learn that new data arrived. Those
//! events are counted in one process-wide number, the **sync points**:
//!
//! * every socket call other than an overlapped `WSARecv`/`WSASend` (a
//!   `send` to a socket of this process, a `select`, an `ioctlsocket`, …);
//! * the end of every wait and sleep (object and event waits,
//!   `GetOverlappedResult` with wait, `Sleep`, `select`, `WSAPoll`, the C
//!   library's blocking calls on a thread of a port), and every
//!   `PostQueuedCompletionStatus`.
//!
//! A receive's completion records the count when the kernel reported the
//! socket empty; the next `WSARecv` on that socket skips the attempt when
//! the count has not moved since, and its operation goes to the port. The
//! program cannot tell this from data that arrived a moment after the call:
//! it did nothing in between that could have shown it the data. (Data it
//! learns of through channels cport does not see — shared memory written by
//! another process, a blocking call on a thread not associated with a port
//! — may find the operation pending rather than complete; Windows documents
//! both outcomes for every `WSARecv`. So may a program that watches a socket
//! with `select` while a receive of it is in flight and nobody reaps its
//! completion: the socket is stamped when the completion is reaped, which
//! may come after the program saw new data.)
//!
//! The GetQueuedCompletionStatus loop of a server, in which a worker takes a
//! packet and issues the connection's next receive and send, makes none of
//! these calls, so its receives go to the port's next batch with no
//! attempt.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{IoObj, ObjKind};

/// The sync points so far (see the module docs).
static SYNC_POINTS: AtomicU64 = AtomicU64::new(0);

/// Counts a sync point: a call through which the program may learn of, or
/// cause, new data in a socket.
#[inline]
pub(crate) fn sync_point() {
    SYNC_POINTS.fetch_add(1, Ordering::Relaxed);
}

/// The value a socket's record holds while it is known to be empty: never
/// 0, which means "not known".
fn stamp() -> u64 {
    SYNC_POINTS.load(Ordering::Relaxed).wrapping_add(1) | 1 << 63
}

fn is_tcp(obj: &IoObj) -> bool {
    matches!(obj.kind, ObjKind::Socket { family, ty }
        if ty == libc::SOCK_STREAM && (family == libc::AF_INET || family == libc::AF_INET6))
}

/// A receive of `obj` completed; `drained`: the kernel reported the socket
/// empty after it.
pub(crate) fn receive_completed(obj: &IoObj, drained: bool) {
    let value = if drained && is_tcp(obj) { stamp() } else { 0 };
    obj.empty_since.store(value, Ordering::Relaxed);
}

/// Whether `obj` is known to be empty: a `WSARecv` may skip its inline
/// attempt.
#[inline]
pub(crate) fn is_known_empty(obj: &IoObj) -> bool {
    let at = obj.empty_since.load(Ordering::Relaxed);
    at != 0 && at == stamp()
}
