//! The op layer (docs/semantics.md, "Operations and packets"): handles,
//! owned buffers and per-operation values, the in-flight table, and the
//! translation of backend completions into packets. It builds on the port
//! core (it implements the core's `Reactor`) and drives a backend through
//! the `Backend` trait; it may not import the public port module nor any
//! backend's internals.
//!
//! Every started operation owns a [`Slot`] in the op table that owns
//! everything the kernel may touch (the buffers, iovecs, msghdr, socket
//! address, timespec), all of it on the heap, so it stays put when the slot
//! moves. A slot is freed — its buffers handed back in the packet — only
//! when the backend returned the operation's one completion. Slots and their
//! allocations are reused, so in steady state an operation allocates
//! nothing beyond what the caller passes.

#[cfg(feature = "futures")]
pub(crate) mod awaiting;
pub(crate) mod buf;
mod completion;
pub use completion::filtered_receive_drained;
mod handles;
mod issue;
mod lanes;
mod slots;
mod table;
#[cfg(all(test, not(loom)))]
mod tests;
mod timers;

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use slab::Slab;

use self::buf::{window, IoBuf, RecvAccess};
use self::handles::*;
use self::lanes::*;
use self::slots::*;
use self::table::*;
pub use self::timers::TimerId;
use crate::backend::user_data::{self, MAX_IN_FLIGHT, TIMER_EVENT};
use crate::backend::{Backend, Completion, LazyBackend, RawOp, Syscall, Timespec};
use crate::packet::{Accepted, Bodies, MsgInfo, Packet, Queued};
use crate::port_core::Reactor;

/// A handle associated with a port (a socket or file the port owns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    index: u32,
    generation: u32,
}

/// Identifies one started operation (for [`Port::cancel_op`](crate::Port::cancel_op)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(u64);

/// How a start call ended when it did not fail.
#[derive(Debug)]
pub enum Issued<V, B> {
    /// The operation is in flight; its packet will come through the port.
    Pending(OpId),
    /// It completed at once on a handle in skip-on-success mode: no packet
    /// will come; the result, value and buffer are here.
    Completed {
        /// Bytes transferred.
        bytes: usize,
        /// The per-operation value, back.
        value: V,
        /// The buffer, back.
        buf: Option<B>,
    },
}

/// An operation that could not be started: nothing was queued, and the
/// value and buffers come back here.
pub struct IssueError<V, B> {
    /// Why (EBADF: invalid or closed handle; ECONNRESET: the peer reset the
    /// connection earlier; EINVAL: bad input; the backend's error otherwise).
    pub error: io::Error,
    /// The per-operation value, back.
    pub value: V,
    /// The buffer, back.
    pub buf: Option<B>,
    /// The buffers of a vectored operation, back.
    pub bufs: Vec<B>,
}

impl<V, B> std::fmt::Debug for IssueError<V, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssueError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<V, B> std::fmt::Display for IssueError<V, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "operation not started: {}", self.error)
    }
}

impl<V, B> std::error::Error for IssueError<V, B> {}

/// How an operation is issued: its timeout, whether the backend may batch
/// its submission (the issuing thread is an active worker of the port and
/// will flush when it returns to `get`), and (feature `futures`) the cell its
/// packet goes to instead of the queue.
pub(crate) struct How<V, B> {
    pub timeout: Option<Duration>,
    pub defer: bool,
    #[cfg(feature = "futures")]
    pub awaiter: Option<Arc<awaiting::AwaitCell<V, B>>>,
    #[cfg(not(feature = "futures"))]
    pub awaiter: std::marker::PhantomData<fn() -> (V, B)>,
}

impl<V, B> Default for How<V, B> {
    fn default() -> Self {
        How {
            timeout: None,
            defer: false,
            awaiter: Default::default(),
        }
    }
}

/// Whether `e` is the error of an operation that was cancelled, or whose
/// handle was closed, before it finished ("aborted", ERROR_OPERATION_ABORTED).
pub fn is_aborted(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECANCELED)
}

struct Tables<K, V, B> {
    handles: Slab<HandleEntry<K>>,
    /// The operations in flight (see `table`).
    ops: OpTable<V, B>,
    generation: u32,
    /// Numbers the started operations (see `backend::user_data`).
    next_seq: u64,
    /// Deadlines of operations waiting in a lane (the kernel times only those
    /// it has): earliest first; entries of ops that left are skipped.
    waiting_deadlines: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, u64)>>,
}

/// The slot index in an operation's `user_data` (layout: `backend::user_data`).
fn op_index(user_data: u64) -> usize {
    user_data::index(user_data)
}

/// Runs on every completed operation's packet before it is queued (see
/// [`Port::set_completion_filter`](crate::Port::set_completion_filter)).
pub type CompletionFilter<K, V, B> = Box<dyn Fn(&mut Packet<K, V, B>) -> bool + Send + Sync>;

/// The op layer of one port.
pub(crate) struct Io<K, V, B> {
    backend: LazyBackend,
    tables: Mutex<Tables<K, V, B>>,
    in_flight: AtomicUsize,
    /// Boxes for the rest of queued packets, reused (see `packet::Queued`).
    pub(crate) bodies: Bodies<B>,
    filter: std::sync::OnceLock<CompletionFilter<K, V, B>>,
    /// Set by shutdown (under the tables lock): new operations are refused.
    refusing: std::sync::atomic::AtomicBool,
    /// Counts the calls that stop operations (`stop`, `cancel_all`), changed
    /// under the tables lock (see `start`).
    stops: AtomicU64,
    /// Completions left by a reaper that panicked (see `reap`).
    leftovers: Mutex<Vec<Completion>>,
    has_leftovers: std::sync::atomic::AtomicBool,
    /// `tables.waiting_deadlines.len()`, readable without the lock: a poll
    /// with no lane-waiting deadline skips the lock and the clock.
    waiting_deadlines: AtomicUsize,
    /// Packets to queue after a delay (`Port::post_after`).
    timers: Mutex<timers::Timers<K, V>>,
    /// How many timers are pending, readable without the lock.
    timer_count: AtomicUsize,
    /// Awaited operations in flight (see `awaiting`).
    #[cfg(feature = "futures")]
    awaited: AtomicUsize,
    /// The port's driver thread of awaited operations, once started.
    #[cfg(feature = "futures")]
    driver: std::sync::OnceLock<std::thread::Thread>,
    /// The driver is parked, or about to park (see `Io::wake_driver`).
    #[cfg(feature = "futures")]
    driver_idle: std::sync::atomic::AtomicBool,
}

pub(crate) fn shutting_down() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the completion port is shut down",
    )
}

fn ebadf(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what} (EBADF)"))
}

/// The op layer as the port core's reactor.
pub(crate) struct IoReactor<K, V, B>(pub(crate) Arc<Io<K, V, B>>);

impl<K, V, B> Reactor<Queued<K, V, B>> for IoReactor<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    fn busy(&self) -> bool {
        // Pending timers need a poller as much as operations do: it is the
        // one that waits for them and fires them.
        self.0.in_flight() > 0 || self.0.timers_pending() > 0
    }
    fn poll(&self, timeout: Option<Duration>, sink: &mut dyn FnMut(Queued<K, V, B>)) {
        let bodies = &self.0.bodies;
        self.0.reap(timeout, &mut |p| sink(Queued::new(p, bodies)))
    }
    fn wake(&self) {
        self.0.backend.wake()
    }
    fn flush(&self, urgent: bool) {
        self.0.backend.flush(urgent)
    }
    #[cfg(feature = "futures")]
    fn poller_gone(&self) {
        // Awaited operations need a poller even when no thread is in `get`:
        // the port's driver thread takes the role back.
        if self.0.awaited() > 0 {
            self.0.wake_driver();
        }
    }

    fn flush_hint(&self) -> Option<Arc<crate::port_core::FlushHint>> {
        Some(self.0.backend.flush_hint())
    }
}

impl<K, V, B> Drop for Io<K, V, B> {
    fn drop(&mut self) {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // Some op never completed (its kernel request may still touch its
            // slot): leak the slots rather than free memory under the kernel.
            let ops = mem::take(&mut self.tables.get_mut().ops);
            mem::forget(ops);
        }
        for (_, e) in self.tables.get_mut().handles.iter() {
            forget_association(e.who);
        }
    }
}

impl<K, V, B> Io<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    pub(crate) fn new(backend: LazyBackend) -> Self {
        Io {
            backend,
            tables: Mutex::new(Tables {
                handles: Slab::new(),
                ops: OpTable::default(),
                generation: 0,
                next_seq: 0,
                waiting_deadlines: Default::default(),
            }),
            in_flight: AtomicUsize::new(0),
            bodies: Bodies::new(),
            filter: std::sync::OnceLock::new(),
            refusing: std::sync::atomic::AtomicBool::new(false),
            stops: AtomicU64::new(0),
            leftovers: Mutex::new(Vec::new()),
            has_leftovers: std::sync::atomic::AtomicBool::new(false),
            waiting_deadlines: AtomicUsize::new(0),
            timers: Mutex::new(Default::default()),
            timer_count: AtomicUsize::new(0),
            #[cfg(feature = "futures")]
            awaited: AtomicUsize::new(0),
            #[cfg(feature = "futures")]
            driver: std::sync::OnceLock::new(),
            #[cfg(feature = "futures")]
            driver_idle: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn set_filter(&self, filter: CompletionFilter<K, V, B>) -> io::Result<()> {
        self.filter.set(filter).map_err(|_| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a completion filter is set already",
            )
        })
    }

    pub(crate) fn backend(&self) -> &LazyBackend {
        &self.backend
    }
}

impl<K, V, B> Io<K, V, B> {
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}
