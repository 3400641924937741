//! The C completion port object ([`CPort`]): a `cport::Port` that runs the
//! operations of the handles associated with it (its own backend, reaped by
//! the threads in `GetQueuedCompletionStatus`) and carries posted packets;
//! and its close. Also which port each thread is associated with, and the
//! blocking sections that take a thread out of its port's count while it
//! waits.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use super::{completion, EnginePort, PacketValue};
use crate::types::*;

/// What a queued packet carries besides its key and byte count.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    /// The `OVERLAPPED*` (or any value given to PQCS).
    pub ov: usize,
    /// The operation's NTSTATUS (`STATUS_SUCCESS` for posted packets).
    pub status: DWORD,
}

/// A C completion port.
pub(crate) struct CPort {
    pub port: EnginePort,
    /// Set by `CloseHandle`. Posts hold the read side, so once the close has
    /// the write side no packet can be queued between its drain and the
    /// library's close (which would hand it to a waking waiter).
    closed: RwLock<bool>,
}

impl CPort {
    /// A C port over `port`, open, whose completion filter publishes each
    /// operation and queues its packet here.
    pub(crate) fn new(port: EnginePort) -> Arc<Self> {
        let cport = Arc::new(CPort {
            port,
            closed: RwLock::new(false),
        });
        // The filter knows its port by address (a `Weak` would be a cycle
        // through the port's own filter; the address is only compared).
        let me = Arc::as_ptr(&cport) as usize;
        // Set once, on a port nobody else has yet: it cannot fail.
        let _ = cport.port.set_completion_filter(completion::filter(me));
        cport
    }

    /// Whether `CloseHandle` has closed the port.
    pub(crate) fn is_closed(&self) -> bool {
        *self.closed.read()
    }

    /// Queues a packet; `false` if the port is closed (the packet is dropped:
    /// on Windows, completions for a closed port are not observable).
    pub(crate) fn post(&self, key: usize, bytes: u32, ov: usize, status: DWORD) -> bool {
        let closed = self.closed.read();
        !*closed
            && self
                .port
                .post(key, bytes as usize, PacketValue::Done(Entry { ov, status }))
                .is_ok()
    }
}

/// The number of processors, as `GetSystemInfo` reports it and as a
/// concurrency value of 0 means.
pub(crate) fn processors() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Closes a port (from `CloseHandle`): queued packets are discarded, waiters
/// wake with 735 and a NULL `OVERLAPPED`, later completions for it are
/// dropped. The library's close would hand what is still queued to the
/// threads it wakes; Windows frees the queue with the port, so the queue is
/// emptied first, with posts shut out until the library's close has run.
pub(crate) fn close_port(port: &CPort) {
    let mut closed = port.closed.write();
    *closed = true;
    drop(port.port.drain());
    port.port.close();
}

thread_local! {
    /// The C port this thread last waited on: blocking calls pause it there.
    static CURRENT: RefCell<Option<Weak<CPort>>> = const { RefCell::new(None) };
    /// Whether `CURRENT` is set: the one check an interposed libc call makes
    /// on a thread that never used a port (a plain TLS load, no destructor).
    static ASSOCIATED: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn set_current(port: Option<&Arc<CPort>>) {
    let _ = CURRENT.try_with(|c| {
        let Ok(mut current) = c.try_borrow_mut() else {
            return;
        };
        // The same port as last time (every GetQueuedCompletionStatus of a
        // worker): keep the weak reference rather than swap it for another.
        let same = match (current.as_ref(), port) {
            (Some(w), Some(p)) => std::ptr::eq(w.as_ptr(), Arc::as_ptr(p)),
            (None, None) => true,
            _ => false,
        };
        if !same {
            *current = port.map(Arc::downgrade);
        }
    });
    let _ = ASSOCIATED.try_with(|a| a.set(port.is_some()));
}

/// Whether the calling thread is associated with a C port (it called
/// GetQueuedCompletionStatus(Ex) on a port that was open then).
#[inline]
pub(crate) fn is_associated() -> bool {
    ASSOCIATED.try_with(Cell::get).unwrap_or(false)
}

/// The C port the calling thread is associated with, if it is still open.
pub(crate) fn current_port() -> Option<Arc<CPort>> {
    if !is_associated() {
        return None;
    }
    CURRENT
        .try_with(|c| c.try_borrow().ok()?.as_ref().and_then(Weak::upgrade))
        .ok()
        .flatten()
}

/// Runs `f` as a blocking section of the calling thread's port: the thread
/// stops counting against the port's concurrency limit meanwhile, which may
/// release a waiter for a queued packet. Every blocking call cport provides
/// (Sleep, the waits, blocking Winsock calls, GetOverlappedResult with wait)
/// goes through here; the C library's blocking calls go through
/// the port family (`port::libc_waits`).
///
/// Its end is a sync point ([`super::known_empty`]): the program may have
/// learnt of new data while it waited.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let r = match current_port() {
        Some(p) => p.port.blocking(f),
        None => f(),
    };
    super::known_empty::sync_point();
    r
}
