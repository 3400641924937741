//! The completion port (SPEC §1–3): a FIFO packet queue, LIFO waiters with direct
//! hand-off, and the concurrency limit.

mod association;
pub(crate) mod core;
pub(crate) mod state;

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use self::association::{Accounting, Mode};
use self::core::Core;
pub use self::core::Counters;
use crate::error::{GetError, PostError};

/// A completion packet: what a worker takes from the port.
///
/// `key` is the completion key of the handle the operation ran on (or whatever
/// was posted), `result` the number of bytes transferred or the operation's
/// error, and `value` the per-operation value given when the operation was
/// issued (the analogue of an `OVERLAPPED`-embedding struct).
pub struct Packet<K, V> {
    /// Per-handle data (the completion key).
    pub key: K,
    /// Bytes transferred, or why the operation failed.
    pub result: io::Result<usize>,
    /// Per-operation data, returned intact.
    pub value: V,
}

impl<K, V> Packet<K, V> {
    /// A packet as `post` would queue it: a successful result of `bytes`.
    pub fn new(key: K, bytes: usize, value: V) -> Self {
        Packet {
            key,
            result: Ok(bytes),
            value,
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Packet<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("key", &self.key)
            .field("result", &self.result)
            .field("value", &self.value)
            .finish()
    }
}

/// Builds a [`Port`].
#[derive(Clone, Debug, Default)]
pub struct Builder {
    concurrency: usize,
}

impl Builder {
    /// The concurrency limit: how many threads may run packets at once.
    /// 0 (the default) means the number of CPUs this process may run on.
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit;
        self
    }

    /// Creates the port. Fails with `InvalidInput` if the limit is above
    /// [`Port::MAX_CONCURRENCY`].
    pub fn build<K, V>(self) -> io::Result<Port<K, V>>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let limit = match self.concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let limit = u32::try_from(limit)
            .ok()
            .filter(|&l| l <= Port::<K, V>::MAX_CONCURRENCY)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "concurrency limit {limit} is above the maximum of {}",
                        Port::<K, V>::MAX_CONCURRENCY
                    ),
                )
            })?;
        let core = Arc::new(Core::new(limit));
        Ok(Port {
            owner: Arc::new(Owner { core }),
        })
    }
}

/// Closes the port when the last [`Port`] clone goes away. (Threads that are
/// associated with the port keep its core alive, not its owner.)
struct Owner<K, V> {
    core: Arc<Core<Packet<K, V>>>,
}

impl<K, V> Drop for Owner<K, V> {
    fn drop(&mut self) {
        self.core.close();
    }
}

/// An I/O completion port.
///
/// Worker threads call [`get`](Port::get) in a loop; packets arrive in FIFO
/// order; the most recent waiter is released first; at most `limit` threads
/// run packets at once. Cloning a `Port` gives another handle to the same
/// port; the port closes when the last handle is dropped or on
/// [`close`](Port::close).
///
/// ```
/// use std::time::Duration;
/// let port: cport::Port<&str, u32> = cport::Port::builder().concurrency(2).build()?;
/// let worker = {
///     let port = port.clone();
///     std::thread::spawn(move || {
///         let packet = port.get(None).unwrap();
///         (packet.key, packet.value)
///     })
/// };
/// port.post("job", 0, 42).unwrap();
/// assert_eq!(worker.join().unwrap(), ("job", 42));
/// assert_eq!(port.get(Some(Duration::ZERO)).unwrap_err(), cport::GetError::TimedOut);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Port<K = usize, V = ()> {
    owner: Arc<Owner<K, V>>,
}

impl<K, V> Clone for Port<K, V> {
    fn clone(&self) -> Self {
        Port {
            owner: Arc::clone(&self.owner),
        }
    }
}

impl<K: Send + 'static, V: Send + 'static> fmt::Debug for Port<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port")
            .field("counters", &self.counters())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Port {
    /// Starts building a port; the key and value types are chosen by
    /// [`Builder::build`]'s result type.
    pub fn builder() -> Builder {
        Builder::default()
    }
}

impl<K: Send + 'static, V: Send + 'static> Port<K, V> {
    /// The largest concurrency limit a port accepts.
    pub const MAX_CONCURRENCY: u32 = state::MAX_THREADS;

    /// A port whose limit is the number of CPUs available to the process.
    pub fn new() -> io::Result<Self> {
        Builder::default().build()
    }

    #[inline]
    fn core(&self) -> &Arc<Core<Packet<K, V>>> {
        &self.owner.core
    }

    #[inline]
    fn id(&self) -> *const () {
        Arc::as_ptr(self.core()) as *const ()
    }

    fn accounting(&self) -> Arc<dyn Accounting> {
        self.core().clone()
    }

    /// Takes the next packet (GetQueuedCompletionStatus).
    ///
    /// `timeout`: `None` waits forever, `Some(Duration::ZERO)` polls. A timeout
    /// too large to represent waits forever. Returns [`GetError::TimedOut`] if
    /// nothing arrived in time and [`GetError::Closed`] if the port is or gets
    /// closed; a failed operation is an `Ok` packet whose `result` is an error.
    ///
    /// The calling thread becomes associated with this port: it counts as
    /// active until it calls `get` again (when it stops counting first, so it
    /// takes the next queued packet itself with no context switch), enters a
    /// [`blocking`](Port::blocking) section, uses another port, or exits. As on
    /// Windows, it also counts as active after a timed-out `get`; use
    /// [`drain`](Port::drain) to collect packets from a thread that is not a worker.
    pub fn get(&self, timeout: Option<Duration>) -> Result<Packet<K, V>, GetError> {
        let mut out = None;
        self.take(1, timeout, &mut |p| out = Some(p))?;
        out.ok_or(GetError::Closed)
    }

    /// Takes up to `max` packets in one call (GetQueuedCompletionStatusEx),
    /// appending them to `out` in FIFO order; returns how many. It waits only
    /// until at least one packet is available and counts as one `get` for the
    /// concurrency rules. `max == 0` is [`GetError::ZeroMax`].
    pub fn get_many(
        &self,
        out: &mut Vec<Packet<K, V>>,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<usize, GetError> {
        if max == 0 {
            return Err(GetError::ZeroMax);
        }
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        self.take(max, timeout, &mut |p| out.push(p))
            .map(|n| n as usize)
    }

    fn take(
        &self,
        max: u32,
        timeout: Option<Duration>,
        sink: &mut dyn FnMut(Packet<K, V>),
    ) -> Result<u32, GetError> {
        let was_active = association::enter_get(self.id());
        let result = self.core().take(was_active, max, timeout, sink);
        let active = !matches!(result, Err(GetError::Closed));
        // The hot case (active before and after) needs no thread-local update.
        if !(was_active && active) {
            association::leave_get(&self.accounting(), active);
        }
        result
    }

    /// Queues a successful packet of `bytes` with `key` and `value`
    /// (PostQueuedCompletionStatus). Never blocks. On a closed port the packet
    /// comes back in the error.
    #[inline]
    pub fn post(&self, key: K, bytes: usize, value: V) -> Result<(), PostError<Packet<K, V>>> {
        self.post_packet(Packet::new(key, bytes, value))
    }

    /// Queues any packet, including one that carries an error.
    #[inline]
    pub fn post_packet(&self, packet: Packet<K, V>) -> Result<(), PostError<Packet<K, V>>> {
        self.core().post(packet).map_err(PostError)
    }

    /// Removes every queued packet without waiting and without associating the
    /// calling thread (for a thread that is not a worker, e.g. after `close`).
    pub fn drain(&self) -> Vec<Packet<K, V>> {
        let mut out = Vec::new();
        self.core().drain(&mut |p| out.push(p));
        out
    }

    /// Closes the port: later posts fail and give their packet back, and every
    /// thread waiting in `get` returns [`GetError::Closed`] — all of them, not
    /// only the most recent. Queued packets stay available to
    /// [`drain`](Port::drain). Returns `false` if the port was closed already.
    pub fn close(&self) -> bool {
        self.core().close()
    }

    /// Whether [`close`](Port::close) has run.
    pub fn is_closed(&self) -> bool {
        self.core().is_closed()
    }

    /// The concurrency limit.
    pub fn limit(&self) -> usize {
        self.counters().limit as usize
    }

    /// A snapshot of the counters (queued, waiting, active, paused, limit).
    pub fn counters(&self) -> Counters {
        self.core().counters()
    }

    /// Runs `f` as a blocking section (SPEC §3): see
    /// [`enter_blocking`](Port::enter_blocking).
    pub fn blocking<R>(&self, f: impl FnOnce() -> R) -> R {
        let _section = self.enter_blocking();
        f()
    }

    /// Tells the port that the calling worker is about to block outside it.
    ///
    /// If the thread is active on this port it moves to *paused*: it stops
    /// counting against the limit, which may release a waiter to take a queued
    /// packet. Dropping the guard makes it active again, even if that briefly
    /// exceeds the limit (as on Windows; no new waiter is released until the
    /// count drops below the limit). On a thread that is not active here the
    /// guard does nothing.
    pub fn enter_blocking(&self) -> Blocking<'_, K, V> {
        let paused = association::switch(self.id(), Mode::Active, Mode::Paused);
        if paused {
            self.core().pause();
        }
        Blocking {
            port: self,
            paused,
            _not_send: PhantomData,
        }
    }
}

/// A blocking section; see [`Port::enter_blocking`]. Not `Send`: it belongs
/// to the thread that entered it.
#[must_use = "the section ends when the guard is dropped"]
pub struct Blocking<'a, K: Send + 'static, V: Send + 'static> {
    port: &'a Port<K, V>,
    paused: bool,
    _not_send: PhantomData<*const ()>,
}

impl<K: Send + 'static, V: Send + 'static> Drop for Blocking<'_, K, V> {
    fn drop(&mut self) {
        // If the thread called `get` inside the section it is accounted already.
        if self.paused && association::switch(self.port.id(), Mode::Paused, Mode::Active) {
            self.port.core().resume();
        }
    }
}
