//! A worker pool on a port: the IOCP "seed" workflow made easy (N threads
//! calling `get` in a loop and running a handler on each packet), with a
//! shutdown that ends every worker reliably.

use std::any::Any;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::error::GetError;
use crate::op::buf::IoBuf;
use crate::packet::Packet;
use crate::port::Port;

/// What a pool did, returned by [`Pool::shutdown`] and [`Pool::join`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PoolReport {
    /// Packets handed to the handler (including those whose handler panicked).
    pub handled: u64,
    /// The message of every handler panic, in the order they happened.
    pub panics: Vec<String>,
    /// Operations that were in flight when `shutdown` began (each was
    /// cancelled and its packet handled).
    pub cancelled_in_flight: usize,
}

/// Most packets a worker takes at once.
const BATCH: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(32) {
    Some(n) => n,
    None => unreachable!(),
};

struct Shared {
    handled: AtomicU64,
    panics: Mutex<Vec<String>>,
}

/// Worker threads that take packets from a port and run a handler on each.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// let port: cport::Port<u32, u64> = cport::Port::builder().concurrency(2).build()?;
/// let sum = Arc::new(AtomicU64::new(0));
/// let pool = {
///     let sum = sum.clone();
///     cport::Pool::start(&port, 0, move |_port, packet| {
///         sum.fetch_add(packet.value, Ordering::Relaxed);
///     })?
/// };
/// for i in 1..=10 {
///     port.post(0, 0, i).unwrap();
/// }
/// let report = pool.shutdown();
/// assert_eq!((report.handled, sum.load(Ordering::Relaxed)), (10, 55));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Pool<K, V, B = Vec<u8>>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    port: Port<K, V, B>,
    workers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    cancelled_in_flight: usize,
}

impl<K, V, B> Pool<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    /// Starts `workers` threads (0 = the port's concurrency limit), each
    /// calling `get` in a loop and `handler(port, packet)` on every packet.
    ///
    /// Handlers may start operations and post packets. A handler that panics
    /// is contained: the panic is recorded in the report, the packet it was
    /// given is dropped with the unwinding (its buffer and value freed once,
    /// never leaked), and the worker goes on, so the pool keeps its size.
    /// Workers exit when `get` reports the port closed.
    pub fn start<F>(port: &Port<K, V, B>, workers: usize, handler: F) -> io::Result<Self>
    where
        F: Fn(&Port<K, V, B>, Packet<K, V, B>) + Send + Sync + 'static,
    {
        let workers = if workers == 0 { port.limit() } else { workers };
        let handler = Arc::new(handler);
        let shared = Arc::new(Shared {
            handled: AtomicU64::new(0),
            panics: Mutex::new(Vec::new()),
        });
        let mut pool = Pool {
            port: port.clone(),
            workers: Vec::with_capacity(workers),
            shared: shared.clone(),
            cancelled_in_flight: 0,
        };
        for i in 0..workers {
            let (port, handler, shared) = (port.clone(), handler.clone(), shared.clone());
            let worker = std::thread::Builder::new()
                .name(format!("cport-worker-{i}"))
                .spawn(move || work(&port, &*handler, &shared));
            match worker {
                Ok(w) => pool.workers.push(w),
                Err(e) => {
                    pool.stop();
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// The port the workers serve.
    pub fn port(&self) -> &Port<K, V, B> {
        &self.port
    }

    /// How many worker threads run.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Shuts the port down ([`Port::shutdown`]: refuse new operations, cancel
    /// and deliver everything in flight) and returns once every worker has
    /// handled the remaining packets and exited.
    pub fn shutdown(mut self) -> PoolReport {
        self.stop()
    }

    /// Waits until the workers exit because the port was closed or shut down
    /// by someone else.
    pub fn join(mut self) -> PoolReport {
        self.join_workers()
    }

    fn stop(&mut self) -> PoolReport {
        self.cancelled_in_flight = self.port.shutdown();
        self.join_workers()
    }

    fn join_workers(&mut self) -> PoolReport {
        for w in self.workers.drain(..) {
            // Handler panics are caught inside the worker; a join error would
            // mean a panic outside it, which is recorded rather than re-raised.
            if let Err(p) = w.join() {
                self.shared.panics.lock().push(panic_message(&*p));
            }
        }
        PoolReport {
            handled: self.shared.handled.load(Ordering::Relaxed),
            panics: self.shared.panics.lock().clone(),
            cancelled_in_flight: self.cancelled_in_flight,
        }
    }
}

impl<K, V, B> Drop for Pool<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.stop();
        }
    }
}

fn work<K, V, B, F>(port: &Port<K, V, B>, handler: &F, shared: &Shared)
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
    F: Fn(&Port<K, V, B>, Packet<K, V, B>),
{
    // Packets are taken in batches (one `get_many` counts as one `get`): the
    // operations the handlers start for a whole batch then reach the kernel
    // together, with the poller's next wait.
    let mut batch = Vec::with_capacity(BATCH.get());
    loop {
        match port.get_many(&mut batch, BATCH, None) {
            Ok(_) => {
                for packet in batch.drain(..) {
                    shared.handled.fetch_add(1, Ordering::Relaxed);
                    if let Err(p) = catch_unwind(AssertUnwindSafe(|| handler(port, packet))) {
                        shared.panics.lock().push(panic_message(&*p));
                    }
                }
            }
            Err(GetError::Closed) => return,
            Err(_) => {}
        }
    }
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "handler panicked".to_string()
    }
}
