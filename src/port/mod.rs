//! The public completion port: [`Port`], its [`Builder`] and the [`Op`]
//! builder of operations — the top layer, which puts the port core, the op
//! layer and a lazily opened backend together (docs/semantics.md, "Queue
//! rules" and "Threads"). Nothing below imports it.

#[cfg(feature = "futures")]
mod future;
#[cfg(feature = "futures")]
pub use self::future::{Awaitable, OpFuture};

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

pub use crate::backend::BackendChoice;
use crate::backend::{self, Backend, BackendKind};
use crate::error::{GetError, PostError};
use crate::op::buf::{IoBuf, IoBufMut, RecvAccess};
use crate::op::{Handle, How, Io, IoReactor, IssueError, Issued, OpId, TimerId};
pub use crate::packet::Packet;
use crate::packet::{Bodies, Queued};
use crate::port_core::association::{self, Accounting, Mode};
use crate::port_core::state;
use crate::port_core::Core;
pub use crate::port_core::Counters;

/// Builds a [`Port`].
#[derive(Clone, Debug, Default)]
pub struct Builder {
    concurrency: usize,
    backend: Option<BackendChoice>,
    uring: backend::UringOptions,
}

impl Builder {
    /// The concurrency limit: how many threads may run packets at once.
    /// 0 (the default) means the number of CPUs this process may run on.
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit;
        self
    }

    /// The backend. Without this call the environment variable
    /// `CPORT_BACKEND` (`auto`, `uring`, `epoll`) decides, and `auto` if unset.
    pub fn backend(mut self, choice: BackendChoice) -> Self {
        self.backend = Some(choice);
        self
    }

    /// io_uring only: start operations from a kernel thread that polls the
    /// submission queue (SQPOLL), which sleeps after `idle` without work.
    /// Submitting then needs no system call while that thread is awake, at
    /// the price of a CPU kept busy; it needs privileges on older kernels.
    /// Off by default.
    pub fn uring_sqpoll(mut self, idle: Duration) -> Self {
        self.uring.sqpoll_idle = Some(idle);
        self
    }

    /// io_uring only: cooperative task running (`IORING_SETUP_COOP_TASKRUN`),
    /// on by default.
    ///
    /// io_uring runs the last step of an operation (e.g. copying the data a
    /// recv found) on the thread that submitted it. Without this mode the
    /// kernel interrupts that thread for it at once — an inter-processor
    /// interrupt per completion while the thread runs user code, which on a
    /// busy server costs about as much CPU as the rest of the message
    /// (README, measurements). With it, that step runs at the thread's next
    /// entry into the kernel: a system call, the port's own (every `get`,
    /// `get_many` and blocking section makes one when the kernel flags
    /// pending work and another thread waits), or any interrupt — at the
    /// latest the next scheduler tick (4 ms at HZ=250), since a thread that
    /// sleeps is woken for it and a running one takes ticks. So an operation
    /// still completes whatever its thread does, at worst one tick late; on
    /// a `nohz_full` CPU, where a lone busy thread takes no ticks, only at
    /// its next system call. Turn it off (`false`) to get the kernel's
    /// immediate interrupts back.
    pub fn uring_cooperative_task_run(mut self, on: bool) -> Self {
        self.uring.cooperative_task_run = on;
        self
    }

    /// Creates the port. Fails with `InvalidInput` if the limit is above
    /// [`Port::MAX_CONCURRENCY`].
    pub fn build<K, V, B>(self) -> io::Result<Port<K, V, B>>
    where
        K: Clone + Send + 'static,
        V: Send + 'static,
        B: IoBuf,
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
                        Port::<K, V, B>::MAX_CONCURRENCY
                    ),
                )
            })?;
        let choice = match self.backend {
            Some(choice) => choice,
            None => std::env::var("CPORT_BACKEND").unwrap_or_default().parse()?,
        };
        let backend = backend::LazyBackend::new(choice, self.uring)?;
        let io = Arc::new(Io::new(backend));
        let core = Arc::new(Core::new(limit, Some(Box::new(IoReactor(io.clone())))));
        Ok(Port {
            owner: Arc::new(Owner {
                core,
                io,
                #[cfg(feature = "futures")]
                driver_start: parking_lot::Mutex::new(()),
            }),
        })
    }
}

/// Closes the port when the last [`Port`] clone goes away. (A thread
/// associated with the port holds only a weak reference to its core, so it
/// keeps neither the port nor its kernel resources alive.)
struct Owner<K, V, B> {
    core: Arc<Core<Queued<K, V, B>>>,
    io: Arc<Io<K, V, B>>,
    /// Taken while the driver thread of awaited operations is started.
    #[cfg(feature = "futures")]
    driver_start: parking_lot::Mutex<()>,
}

/// How long dropping a port waits for the kernel to finish cancelled operations.
pub const DROP_WAIT: Duration = Duration::from_secs(5);

impl<K, V, B> Drop for Owner<K, V, B> {
    fn drop(&mut self) {
        // Stop the kernel before anything is freed: cancel every operation and
        // reap until each has completed (bounded; the op layer leaks, never
        // frees, what is still in flight after that). Their packets are dropped.
        self.core.close();
        self.io.cancel_all();
        // The driver of awaited operations (if any) exits when it sees the
        // port gone.
        #[cfg(feature = "futures")]
        self.io.wake_driver();
        let start = std::time::Instant::now();
        // User code runs while packets are reaped and dropped (a completion
        // filter, `K::clone`, drops of values and buffers): a panic there is
        // contained, never unwound out of this drop.
        let contained =
            |f: &mut dyn FnMut()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
        if let Some(reactor) = self.core.reactor() {
            while self.io.in_flight() > 0 && start.elapsed() < DROP_WAIT {
                contained(&mut || reactor.poll(Some(Duration::from_millis(20)), &mut drop));
            }
        }
        // Nobody can take what is still queued any more. Each panicking drop
        // consumes its packet, so this ends.
        while !contained(&mut || {
            self.core.drain(&mut drop);
        }) {}
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
pub struct Port<K = usize, V = (), B = Vec<u8>> {
    owner: Arc<Owner<K, V, B>>,
}

impl<K, V, B> Clone for Port<K, V, B> {
    fn clone(&self) -> Self {
        Port {
            owner: Arc::clone(&self.owner),
        }
    }
}

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> fmt::Debug for Port<K, V, B> {
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

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> Port<K, V, B> {
    /// The largest concurrency limit a port accepts.
    pub const MAX_CONCURRENCY: u32 = state::MAX_THREADS;

    /// A port whose limit is the number of CPUs available to the process.
    pub fn new() -> io::Result<Self> {
        Builder::default().build()
    }

    #[inline]
    fn core(&self) -> &Arc<Core<Queued<K, V, B>>> {
        &self.owner.core
    }

    #[inline]
    fn bodies(&self) -> &Bodies<B> {
        &self.owner.io.bodies
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
    #[inline]
    pub fn get(&self, timeout: Option<Duration>) -> Result<Packet<K, V, B>, GetError> {
        let was_active = association::enter_get(self.id());
        let result = self.core().take_one(was_active, timeout);
        self.after_get(was_active, !matches!(result, Err(GetError::Closed)));
        result.map(|q| q.into_packet(self.bodies()))
    }

    /// Takes up to `max` packets in one call (GetQueuedCompletionStatusEx),
    /// appending them to `out` in FIFO order; returns how many. It waits only
    /// until at least one packet is available and counts as one `get` for the
    /// concurrency rules. `max` is a `NonZeroUsize`: a call that could take
    /// nothing would be a wait with no purpose.
    pub fn get_many(
        &self,
        out: &mut Vec<Packet<K, V, B>>,
        max: NonZeroUsize,
        timeout: Option<Duration>,
    ) -> Result<usize, GetError> {
        let max = u32::try_from(max.get()).unwrap_or(u32::MAX);
        self.take(max, timeout, &mut |p| out.push(p))
            .map(|n| n as usize)
    }

    fn take(
        &self,
        max: u32,
        timeout: Option<Duration>,
        sink: &mut dyn FnMut(Packet<K, V, B>),
    ) -> Result<u32, GetError> {
        let was_active = association::enter_get(self.id());
        let result = self.core().take(was_active, max, timeout, &mut |q| {
            sink(q.into_packet(self.bodies()))
        });
        self.after_get(was_active, !matches!(result, Err(GetError::Closed)));
        result
    }

    /// Records whether the thread now counts as active on this port.
    #[inline]
    fn after_get(&self, was_active: bool, active: bool) {
        // The hot case (active before and after) needs no thread-local update.
        if !(was_active && active) {
            association::leave_get(&self.accounting(), active);
        }
    }

    /// Queues a successful packet of `bytes` with `key` and `value`
    /// (PostQueuedCompletionStatus). Never blocks. On a closed port the packet
    /// comes back in the error.
    #[inline]
    pub fn post(&self, key: K, bytes: usize, value: V) -> Result<(), PostError<Packet<K, V, B>>> {
        self.core()
            .post(Queued::posted(key, bytes, value))
            .map_err(|q| PostError(q.into_packet(self.bodies())))
    }

    /// Queues any packet, including one that carries an error.
    #[inline]
    pub fn post_packet(&self, packet: Packet<K, V, B>) -> Result<(), PostError<Packet<K, V, B>>> {
        self.core()
            .post(Queued::new(packet, self.bodies()))
            .map_err(|q| PostError(q.into_packet(self.bodies())))
    }

    /// Removes every queued packet without waiting and without associating the
    /// calling thread (for a thread that is not a worker, e.g. after `close`).
    pub fn drain(&self) -> Vec<Packet<K, V, B>> {
        let mut out = Vec::new();
        self.core()
            .drain(&mut |q| out.push(q.into_packet(self.bodies())));
        out
    }

    /// Closes the port: later posts fail and give their packet back, and every
    /// thread waiting in `get` wakes — all of them, not only the most recent:
    /// `get` hands out what is still queued (the limit no longer applies) and
    /// then returns [`GetError::Closed`]. Operations in flight are not
    /// cancelled (see [`shutdown`](Port::shutdown)); their packets are queued
    /// when they complete. Returns `false` if the port was closed already.
    pub fn close(&self) -> bool {
        self.core().close()
    }

    /// Shuts the port down (docs/semantics.md, "Ending operations, handles and the port"): refuses new operations (their buffer and
    /// value come back in the error), cancels every operation in flight on
    /// every handle, waits until each of them has completed and its packet
    /// was handed to a worker or queued, then closes the port: waiting
    /// threads receive the queued packets and then [`GetError::Closed`] —
    /// every waiter, not only the most recent.
    ///
    /// Completions are reaped by the waiting workers, or by the calling
    /// thread when none is polling. The wait for the kernel is bounded by
    /// [`DROP_WAIT`]; an operation still running after that (a file read on a
    /// stuck device) delivers its packet whenever it completes, to `get` or
    /// [`drain`](Port::drain). Pending timers are cancelled: their packets
    /// are queued at once with an aborted result
    /// ([`is_aborted`](crate::is_aborted)), so their values come back
    /// through `get` or `drain` like those of cancelled operations. Returns
    /// how many operations were in flight (timers not included).
    pub fn shutdown(&self) -> usize {
        let io = &self.owner.io;
        let in_flight = io.in_flight();
        io.cancel_all();
        // After cancel_all: it refuses new timers, so none is added later.
        for packet in io.take_timers() {
            // Queued even if `close` ran first, as completions of cancelled
            // operations are: the value must come back.
            self.core()
                .post_even_if_closed(Queued::new(packet, self.bodies()));
        }
        let start = std::time::Instant::now();
        while io.in_flight() > 0 && start.elapsed() < DROP_WAIT {
            if !self.core().reap_as_helper(Duration::from_millis(10)) {
                // A waiting worker holds the poller role and reaps.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        self.core().close();
        in_flight
    }

    /// Operations issued on this port whose packet has not been delivered
    /// yet (the `in_flight` of [`counters`](Port::counters), without the
    /// rest of the snapshot).
    pub fn in_flight(&self) -> usize {
        self.owner.io.in_flight()
    }

    /// Reaps completions without taking a packet, for a thread that waits
    /// for what a completion does (a [completion
    /// filter](Port::set_completion_filter) signalling an event, say) rather
    /// than for the packet itself: if no thread is polling the port's
    /// backend, the calling thread polls it for up to `timeout`; the reaped
    /// packets pass the filter and are queued for the workers. Returns
    /// `false` at once, without polling, if another thread holds the poller
    /// role (it reaps instead) or the port has no I/O backend.
    pub fn reap(&self, timeout: Duration) -> bool {
        self.in_flight() > 0 && self.core().reap_as_helper(timeout)
    }

    /// Makes a thread polling this port's backend — one in
    /// [`reap`](Port::reap), or a worker in `get` — return from its wait in
    /// the kernel promptly, so that it looks again at what it waits for (a
    /// worker just polls again). A wake-up that finds nobody polling is kept
    /// for the next poll, which then returns at once.
    pub fn interrupt_reap(&self) {
        self.core().interrupt_poller();
    }

    /// Makes `thread`, if it waits in [`get`](Port::get) or
    /// [`get_many`](Port::get_many) on this port, return
    /// [`GetError::TimedOut`] at once, as if its timeout had passed (unless
    /// a packet or the port's close reaches it first). Returns whether it
    /// was waiting. For a wait that also watches something the port does not
    /// know about — the C ABI's alertable `GetQueuedCompletionStatusEx`, which
    /// must return when an APC is queued to its thread.
    pub fn interrupt_waiter(&self, thread: std::thread::ThreadId) -> bool {
        #[cfg(not(loom))]
        return self.core().interrupt(&|t| t.id() == thread);
        // Under loom, threads have loom's ids: none is `thread`.
        #[cfg(loom)]
        {
            let _ = thread;
            false
        }
    }

    /// Whether the calling thread is an active worker of this port: it took
    /// a packet with `get` and has not come back nor entered a blocking
    /// section. On io_uring the operations it issues meanwhile are submitted
    /// together when it comes back to `get` (one system call for the batch).
    pub fn is_worker(&self) -> bool {
        association::is_active_on(self.id())
    }

    /// Whether `self` and `other` are the same port (clones of one another).
    pub fn same_port(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.owner, &other.owner)
    }

    /// Whether [`close`](Port::close) has run.
    pub fn is_closed(&self) -> bool {
        self.core().is_closed()
    }

    /// The concurrency limit.
    pub fn limit(&self) -> usize {
        self.counters().limit as usize
    }

    /// A snapshot of the counters (queued, waiting, active, paused, limit,
    /// operations in flight, pending timers).
    pub fn counters(&self) -> Counters {
        let mut c = self.core().counters();
        c.in_flight = u32::try_from(self.owner.io.in_flight()).unwrap_or(u32::MAX);
        c.timers = u32::try_from(self.owner.io.timers_pending()).unwrap_or(u32::MAX);
        c
    }

    /// Queues a packet of `key`, `bytes` and `value` after `delay` (a timer
    /// queue's one-shot timer, with the packet a post would queue). No thread
    /// of its own: a thread waiting in `get` waits for the timer. Returns the
    /// id for [`cancel_timer`](Port::cancel_timer). Refused, with the value
    /// back, on a closed or shut-down port. [`shutdown`](Port::shutdown)
    /// cancels pending timers and queues their packets with an aborted
    /// result ([`is_aborted`](crate::is_aborted)), so each value comes back.
    pub fn post_after(
        &self,
        delay: Duration,
        key: K,
        bytes: usize,
        value: V,
    ) -> Result<TimerId, IssueError<V, B>> {
        let refused = |error, value| IssueError {
            error,
            value,
            buf: None,
            bufs: Vec::new(),
        };
        if self.is_closed() {
            return Err(refused(crate::op::shutting_down(), value));
        }
        // A delay too large for the clock never fires (but can be cancelled).
        let now = std::time::Instant::now();
        let deadline = now
            .checked_add(delay)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
        let io = &self.owner.io;
        let (id, earliest) = io
            .add_timer(deadline, key, bytes, value)
            .map_err(|(e, v)| refused(e, v))?;
        if earliest {
            // The poller may be asleep for longer than this timer's delay.
            io.backend().wake();
        }
        // Threads asleep on their parkers (nothing was in flight): one of
        // them becomes the poller and waits for the timer.
        self.core().io_started();
        Ok(id)
    }

    /// Cancels a timer of [`post_after`](Port::post_after): its packet never
    /// comes and its value comes back. `None` when it already fired (its
    /// packet is queued or taken), was cancelled, or shutdown took it.
    pub fn cancel_timer(&self, id: TimerId) -> Option<V> {
        self.owner.io.cancel_timer(id)
    }

    /// The backend this port runs on. (The backend is opened when the first
    /// handle is associated, or by this question: a port that only posts and
    /// gets opens no kernel object.)
    pub fn backend(&self) -> BackendKind {
        self.owner.io.backend().kind()
    }

    /// Why automatic selection fell back to epoll (`None` if it did not, or
    /// if no backend could be opened at all: associating a handle says why).
    pub fn fallback_reason(&self) -> Option<&str> {
        self.owner.io.backend().fallback_reason().ok().flatten()
    }

    /// How the backend runs, in words, where it has modes; on io_uring how
    /// task work runs: `"cooperative task running"` (the default),
    /// `"interrupting task work"` (asked for with
    /// [`Builder::uring_cooperative_task_run(false)`](Builder::uring_cooperative_task_run)),
    /// `"SQPOLL"`, or — on kernels 5.11–5.18, which refuse cooperative task
    /// running — `"interrupting task work (the kernel refused cooperative
    /// task running, …)"`. `None` on epoll.
    pub fn backend_mode(&self) -> Option<&str> {
        self.owner.io.backend().mode()
    }

    /// Associates `fd` (a socket or file; anything that converts into an
    /// `OwnedFd`: `TcpListener`, `TcpStream`, `UdpSocket`, `File`,
    /// `socket2::Socket`) with the port under completion key `key`. The port
    /// owns it from now on; [`close_handle`](Port::close_handle) closes it.
    /// An fd that is associated with a port already is refused
    /// (`AlreadyExists`) and dropped.
    pub fn associate(&self, fd: impl Into<OwnedFd>, key: K) -> io::Result<Handle> {
        if self.is_closed() {
            return Err(closed_port());
        }
        self.owner.io.associate(fd.into(), key)
    }

    /// Lends the fd of `handle` to `f` (for setsockopt, getpeername, fstat and
    /// the like): `port.with_fd(h, |fd| socket2::SockRef::from(&fd).peer_addr())`.
    /// The fd stays open while `f` runs; `f` must not call into this port
    /// (it runs under the port's handle-table lock). `EBADF`
    /// (`InvalidInput`) for an invalid or closing handle.
    pub fn with_fd<R>(
        &self,
        handle: Handle,
        f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> R,
    ) -> io::Result<R> {
        self.owner.io.with_fd(handle, f)
    }

    /// Starts an operation on `handle`: `port.op(h).recv(buf, value)`, or with a
    /// per-operation timeout `port.op(h).timeout(d).recv(buf, value)`.
    pub fn op(&self, handle: Handle) -> Op<'_, K, V, B> {
        Op {
            port: self,
            handle,
            timeout: None,
            #[cfg(feature = "futures")]
            awaiter: None,
        }
    }

    /// Cancels every pending operation on `handle`; each completes with an
    /// aborted error. `NotFound` if none was pending (ERROR_NOT_FOUND).
    pub fn cancel(&self, handle: Handle) -> io::Result<usize> {
        self.owner.io.cancel(handle, None)
    }

    /// Cancels one pending operation. `NotFound` if it is not pending.
    pub fn cancel_op(&self, handle: Handle, op: OpId) -> io::Result<()> {
        self.owner.io.cancel(handle, Some(op)).map(drop)
    }

    /// Closes `handle`: cancels its pending operations (each still delivers
    /// its packet, aborted) and closes the fd once the last one completed, so
    /// the fd number is never reused under an operation in flight. A second
    /// close, or a handle of another port, is an error (`InvalidInput`).
    pub fn close_handle(&self, handle: Handle) -> io::Result<()> {
        self.owner.io.close(handle)
    }

    /// Skip-on-success mode (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS): a receive
    /// that completes at once returns [`Issued::Completed`] and queues no packet.
    pub fn set_skip_on_success(&self, handle: Handle, on: bool) -> io::Result<()> {
        self.owner.io.set_skip_on_success(handle, on)
    }

    /// Sets a function that sees every completed operation's packet before it
    /// is queued, on the thread that reaped it. Returning `false` drops the
    /// packet instead of queueing it (the C ABI uses this to fill in an
    /// `OVERLAPPED`, signal its event and honour the low-bit suppression).
    /// Posted packets do not pass through it. Can be set once.
    pub fn set_completion_filter(
        &self,
        filter: impl Fn(&mut Packet<K, V, B>) -> bool + Send + Sync + 'static,
    ) -> io::Result<()> {
        self.owner.io.set_filter(Box::new(filter))
    }

    /// Runs `f` as a blocking section (docs/semantics.md, "Threads"): see
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
    pub fn enter_blocking(&self) -> Blocking<'_, K, V, B> {
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
pub struct Blocking<'a, K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> {
    port: &'a Port<K, V, B>,
    paused: bool,
    _not_send: PhantomData<*const ()>,
}

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> Drop for Blocking<'_, K, V, B> {
    fn drop(&mut self) {
        // If the thread called `get` inside the section it is accounted already.
        if self.paused && association::switch(self.port.id(), Mode::Paused, Mode::Active) {
            self.port.core().resume();
        }
    }
}

fn closed_port() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the completion port is closed")
}

/// Starts one operation; see [`Port::op`]. Each method takes ownership of the
/// buffer and the per-operation value; both come back in the operation's one
/// packet, or at once in the [`IssueError`] if it could not be started.
#[must_use = "an Op does nothing until one of its operation methods is called"]
pub struct Op<'a, K, V, B> {
    port: &'a Port<K, V, B>,
    handle: Handle,
    timeout: Option<Duration>,
    /// Set by [`Op::awaitable`]: the operation's packet goes to this cell.
    #[cfg(feature = "futures")]
    awaiter: Option<Arc<crate::op::awaiting::AwaitCell<V, B>>>,
}

type Started<V, B> = Result<Issued<V, B>, IssueError<V, B>>;

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> Op<'_, K, V, B> {
    /// Cancels the operation if it has not completed after `timeout`; its
    /// packet then carries `ErrorKind::TimedOut` (not "aborted").
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn how(&self) -> How<V, B> {
        #[cfg(feature = "futures")]
        if let Some(cell) = &self.awaiter {
            // Never deferred: the awaiting task may run on a worker thread
            // that does not come back to `get` before the operation is done.
            return How {
                timeout: self.timeout,
                defer: false,
                awaiter: Some(cell.clone()),
            };
        }
        How {
            timeout: self.timeout,
            defer: association::is_active_on(self.port.id()),
            awaiter: Default::default(),
        }
    }

    fn run(
        self,
        value: V,
        buf: Option<B>,
        bufs: Vec<B>,
        f: impl FnOnce(&Io<K, V, B>, V, Option<B>, Vec<B>) -> Started<V, B>,
    ) -> Started<V, B> {
        let port = self.port;
        if port.is_closed() {
            return Err(IssueError {
                error: closed_port(),
                value,
                buf,
                bufs,
            });
        }
        // A completion reports its bytes as an i32 (and Windows a DWORD):
        // one operation moves at most 2 GiB - 1, in one buffer or in all.
        let total = buf
            .iter()
            .chain(&bufs)
            .try_fold(0usize, |sum, b| sum.checked_add(b.bytes_total()));
        if total.is_none_or(|n| n > i32::MAX as usize) {
            return Err(IssueError {
                error: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "buffers larger than 2 GiB - 1 in all",
                ),
                value,
                buf,
                bufs,
            });
        }
        #[cfg(feature = "futures")]
        if self.awaiter.is_some() {
            if let Err(error) = port.start_driver() {
                return Err(IssueError {
                    error,
                    value,
                    buf,
                    bufs,
                });
            }
        }
        let started = f(&port.owner.io, value, buf, bufs);
        if matches!(started, Ok(Issued::Pending(_))) {
            port.core().io_started();
        }
        started
    }

    /// Accepts a connection on a listening socket (AcceptEx): the packet
    /// carries the new `stream` and the peer `addr`.
    pub fn accept(self, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, None, Vec::new(), |io, v, _, _| io.accept(h, v, t))
    }

    /// Connects a socket (ConnectEx). A refused connection completes through
    /// the port with `ConnectionRefused`.
    pub fn connect(self, to: SocketAddr, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, None, Vec::new(), |io, v, _, _| {
            io.connect(h, to.into(), v, t)
        })
    }

    /// Connects a Unix stream socket (an associated `UnixStream` socket not
    /// yet connected, e.g. from `socket2`) to the listener at `path`. A path
    /// too long for a Unix address is refused at once (`InvalidInput`).
    pub fn connect_unix(self, path: impl AsRef<std::path::Path>, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        let to = match socket2::SockAddr::unix(path) {
            Ok(to) => to,
            Err(error) => {
                return Err(IssueError {
                    error,
                    value,
                    buf: None,
                    bufs: Vec::new(),
                })
            }
        };
        self.run(value, None, Vec::new(), |io, v, _, _| {
            io.connect(h, to, v, t)
        })
    }

    /// A zero-byte receive (WSARecv with no buffer): completes with `Ok(0)`
    /// when data is there to read, without consuming it (or when the peer
    /// closed). A receive into a buffer with no room does the same.
    pub fn readable(self, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, None, Vec::new(), |io, v, _, _| {
            io.transfer(h, None, None, v, t)
        })
    }

    /// Sends all of `buf`'s initialised bytes (WSASend): completes when every
    /// byte was sent, or with the error that stopped it.
    pub fn send(self, buf: B, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, Some(buf), Vec::new(), |io, v, b, _| {
            io.transfer(h, None, b, v, t)
        })
    }

    /// Sends one datagram of `buf`'s initialised bytes to `to` (WSASendTo).
    pub fn send_to(self, buf: B, to: SocketAddr, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, Some(buf), Vec::new(), |io, v, b, _| {
            io.datagram(h, Some(to), None, b.expect("buf"), v, t)
        })
    }

    /// Sends several buffers in order, all of them (WSASend with several WSABUFs).
    pub fn send_vectored(self, bufs: Vec<B>, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, None, bufs, |io, v, _, bs| {
            io.vectored(h, None, bs, v, t)
        })
    }

    /// Writes all of `buf`'s initialised bytes at the fd's own position
    /// (WriteFile on a pipe or device): pipes, ttys, eventfds, character
    /// devices. Completes when every byte was written, or with the error
    /// that stopped it.
    pub fn write(self, buf: B, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, Some(buf), Vec::new(), |io, v, b, _| {
            io.file_io(h, None, b.expect("buf"), None, v, t)
        })
    }

    /// Shuts down one or both directions of a connected socket (`shutdown(2)`;
    /// `Shutdown::Write` is a half-close: the peer reads end of stream and can
    /// still send). Runs in the socket's send order: after the sends issued
    /// before it. Completes with `Ok(0)`.
    pub fn shutdown(self, how: std::net::Shutdown, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        let shut = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        self.run(value, None, Vec::new(), |io, v, _, _| {
            io.shutdown(h, shut, v, t)
        })
    }

    /// Writes all of `buf`'s initialised bytes to a file at `offset` (WriteFile).
    pub fn write_at(self, buf: B, offset: u64, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, Some(buf), Vec::new(), |io, v, b, _| {
            io.file_io(h, None, b.expect("buf"), Some(offset), v, t)
        })
    }
}

/// The receiving operations: they fill the buffer's capacity
/// ([`IoBufMut`]) and the packet's buffer comes back with the received bytes
/// marked initialised (a `Vec::with_capacity(n)` comes back with them as its
/// length).
impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBufMut> Op<'_, K, V, B> {
    /// Receives into `buf`'s capacity (WSARecv). 0 bytes means the peer
    /// closed. A buffer with no room is a zero-byte receive (see
    /// [`readable`](Op::readable)).
    pub fn recv(self, buf: B, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, Some(buf), Vec::new(), |io, v, b, _| {
            io.transfer(h, Some(RecvAccess::of()), b, v, t)
        })
    }

    /// Receives one datagram (WSARecvFrom); the packet's `addr` is its source.
    pub fn recv_from(self, buf: B, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, Some(buf), Vec::new(), |io, v, b, _| {
            io.datagram(h, None, Some(RecvAccess::of()), b.expect("buf"), v, t)
        })
    }

    /// Receives one message into `bufs` in order, with its ancillary data
    /// into `control` (recvmsg(2); WSARecvMsg). The packet's `addr` is the
    /// source, its `buf` the control buffer (initialised as far as the data
    /// reached), its `bufs()` the data buffers, and
    /// [`msg_info`](Packet::msg_info) the flags and control-data length. A
    /// datagram larger than the buffers: `EMSGSIZE`, as `recv_from`.
    #[doc(hidden)]
    pub fn recv_msg(self, bufs: Vec<B>, control: B, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, Some(control), bufs, |io, v, c, bs| {
            io.recv_msg(h, RecvAccess::of(), bs, c.expect("control buffer"), v, t)
        })
    }

    /// Receives into several buffers in order (WSARecv with several WSABUFs).
    pub fn recv_vectored(self, bufs: Vec<B>, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, None, bufs, |io, v, _, bs| {
            io.vectored(h, Some(RecvAccess::of()), bs, v, t)
        })
    }

    /// Reads at the fd's own position into `buf`'s capacity (ReadFile on a
    /// pipe or device): pipes, ttys, eventfds, character devices. Completes
    /// when some bytes were read; 0 bytes means end of stream.
    pub fn read(self, buf: B, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, Some(buf), Vec::new(), |io, v, b, _| {
            io.file_io(h, Some(RecvAccess::of()), b.expect("buf"), None, v, t)
        })
    }

    /// Reads from a file at `offset` (ReadFile with Offset/OffsetHigh) into
    /// `buf`'s capacity. 0 bytes means end of file.
    pub fn read_at(self, buf: B, offset: u64, value: V) -> Started<V, B> {
        let (h, t) = (self.handle, self.how());
        self.run(value, Some(buf), Vec::new(), |io, v, b, _| {
            io.file_io(
                h,
                Some(RecvAccess::of()),
                b.expect("buf"),
                Some(offset),
                v,
                t,
            )
        })
    }
}
