//! Awaiting an operation (feature `futures`): the [`Awaitable`] builder
//! (`port.op(h).awaitable().recv(buf, value)`), the [`OpFuture`] it returns,
//! and the port's driver thread, which reaps the kernel for awaited
//! operations when no thread waits in `get` (docs/semantics.md, "Operations
//! and packets").
//!
//! # Design
//!
//! * **Routing, not a second engine.** An awaited operation is an ordinary
//!   operation of the port (same lanes, timeouts, cancellation, shutdown,
//!   buffer ownership) whose slot carries a cell: when it completes, its
//!   packet goes into the cell and the cell's waker is woken, instead of
//!   the completion filter and the queue. So worker threads in `get` and
//!   async tasks share one port, and the packet of an awaited operation
//!   never appears in `get`. Operations started without `awaitable` pay
//!   one `Option` test in the completion path.
//! * **The output is the packet**, without the completion key (the
//!   awaiting code knows its handle): `Packet<(), V, B>` with the result,
//!   the value, the buffer and whatever the operation returns besides
//!   (accept's stream and peer, recv_from's source, vectored buffers). One
//!   output type serves every operation, and an operation that could not
//!   start resolves to a packet with the error and the buffer and value
//!   back, so nothing is ever lost. (`packet.result` and `packet.buf` are
//!   tokio-uring's and compio's "result plus buffer".)
//! * **Who drives the kernel.** A future must complete on any executor —
//!   `futures::executor::block_on` has no reactor, and a tokio runtime
//!   knows nothing of the port — and with no thread in `get`. So each port
//!   that awaits starts one driver thread (lazily, at its first awaited
//!   operation). While awaited operations are in flight and no waiter of
//!   `get` holds the poller role, it takes the role as a helper reaper
//!   (blocking in the kernel: no spinning) and routes what it reaps —
//!   awaited packets to their cells, the others to the queue as any poller
//!   does. When a waiter of `get` holds the role, that waiter reaps for
//!   everyone and the driver sleeps on its parker until the role falls free
//!   with awaited operations still in flight. With none in flight it parks;
//!   the next awaited operation unparks it (one system call per idle→busy
//!   change, none per operation while it is busy). It exits when the port
//!   is dropped.
//! * **Started at once, not at the first poll**, as an IOCP call starts
//!   its operation: the returned future only waits. Submissions of awaited
//!   operations are never batched (a task may run on a worker thread that
//!   is not coming back to `get` soon).
//! * **Dropping the future** before it completed cancels the operation
//!   (as `cancel_op`); the operation still completes, aborted, and that
//!   completion drops the packet — value and buffer — on the thread that
//!   reaped it, after the kernel is done with the buffer. A future that
//!   is leaked (`mem::forget`) leaves its operation running; its packet is
//!   dropped when it completes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Op, Owner, Port, Started};
use crate::op::awaiting::{AwaitCell, AwaitedPacket};
use crate::op::buf::{IoBuf, IoBufMut};
use crate::op::{Handle, IssueError, Issued, OpId};
use crate::packet::Packet;

/// How long the driver waits in the kernel at a time: it blocks until a
/// completion comes, but looks again at least this often (the port may
/// have been dropped meanwhile by the last future's owner).
const DRIVER_POLL: Duration = Duration::from_secs(1);

impl<'a, K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> Op<'a, K, V, B> {
    /// The same operations, awaited instead of queued (feature `futures`):
    /// `port.op(h).awaitable().recv(buf, value).await` gives the packet
    /// that would otherwise have been queued, without its key; see
    /// [`Awaitable`]. Works on any executor, with or without threads in
    /// `get`; [`timeout`](Op::timeout) applies as usual.
    pub fn awaitable(self) -> Awaitable<'a, K, V, B> {
        Awaitable { op: self }
    }
}

/// Starts an operation whose completion goes to an [`OpFuture`] instead of
/// the port's queue (feature `futures`); see [`Op::awaitable`].
///
/// Each method starts its operation at once and returns the future of its
/// packet. The packet is the one `get` would have returned (result, value,
/// buffer, accept's stream, recv_from's source), with `()` for the key; an
/// operation that could not be started resolves at once to a packet with
/// the error and the value and buffers back. The packet never appears in
/// `get`. Dropping the future before it resolved cancels the operation; its
/// buffer is dropped once the kernel is done with it.
///
/// ```
/// use std::io::Write;
/// # fn main() -> std::io::Result<()> {
/// let port: cport::Port = cport::Port::new()?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let (server, _) = listener.accept()?;
/// let h = port.associate(server, 1)?;
/// client.write_all(b"hello")?;
/// let packet = futures::executor::block_on(
///     port.op(h).awaitable().recv(Vec::with_capacity(16), ()),
/// );
/// assert_eq!(packet.result?, 5);
/// assert_eq!(packet.buf.unwrap(), b"hello");
/// # Ok(())
/// # }
/// ```
#[must_use = "an Awaitable does nothing until one of its operation methods is called"]
pub struct Awaitable<'a, K, V, B> {
    op: Op<'a, K, V, B>,
}

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> Awaitable<'_, K, V, B> {
    fn start(self, issue: impl FnOnce(Op<'_, K, V, B>) -> Started<V, B>) -> OpFuture<K, V, B> {
        let cell = AwaitCell::new();
        let port = self.op.port;
        let handle = self.op.handle;
        let mut op = self.op;
        op.awaiter = Some(cell.clone());
        let ready = |packet| OpFuture {
            inner: Inner::Ready(Some(packet)),
        };
        match issue(op) {
            Ok(Issued::Pending(id)) => {
                port.owner.io.wake_driver();
                OpFuture {
                    inner: Inner::Waiting {
                        port: port.clone(),
                        handle,
                        id,
                        cell,
                    },
                }
            }
            Ok(Issued::Completed { bytes, value, buf }) => {
                ready(Packet::new((), bytes, value).with_result(Ok(bytes), buf))
            }
            Err(IssueError {
                error,
                value,
                buf,
                bufs,
            }) => ready(Packet::completed(
                (),
                value,
                Err(error),
                buf,
                bufs,
                None,
                None,
                None,
            )),
        }
    }

    /// [`Op::accept`], awaited: `packet.take_stream()` (or
    /// `take_unix_stream`) is the connection, `packet.addr()` the peer.
    pub fn accept(self, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.accept(value))
    }

    /// [`Op::connect`], awaited.
    pub fn connect(self, to: SocketAddr, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.connect(to, value))
    }

    /// [`Op::connect_unix`], awaited.
    pub fn connect_unix(self, path: impl AsRef<std::path::Path>, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.connect_unix(path, value))
    }

    /// [`Op::readable`], awaited: resolves when data is there to read.
    pub fn readable(self, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.readable(value))
    }

    /// [`Op::send`], awaited.
    pub fn send(self, buf: B, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.send(buf, value))
    }

    /// [`Op::send_to`], awaited.
    pub fn send_to(self, buf: B, to: SocketAddr, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.send_to(buf, to, value))
    }

    /// [`Op::send_vectored`], awaited.
    pub fn send_vectored(self, bufs: Vec<B>, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.send_vectored(bufs, value))
    }

    /// [`Op::write`], awaited.
    pub fn write(self, buf: B, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.write(buf, value))
    }

    /// [`Op::write_at`], awaited.
    pub fn write_at(self, buf: B, offset: u64, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.write_at(buf, offset, value))
    }

    /// [`Op::shutdown`], awaited.
    pub fn shutdown(self, how: std::net::Shutdown, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.shutdown(how, value))
    }
}

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBufMut> Awaitable<'_, K, V, B> {
    /// [`Op::recv`], awaited: the packet's buffer comes back with the
    /// received bytes marked initialised.
    pub fn recv(self, buf: B, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.recv(buf, value))
    }

    /// [`Op::recv_from`], awaited: `packet.addr()` is the source.
    pub fn recv_from(self, buf: B, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.recv_from(buf, value))
    }

    /// [`Op::recv_vectored`], awaited.
    pub fn recv_vectored(self, bufs: Vec<B>, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.recv_vectored(bufs, value))
    }

    /// [`Op::read`], awaited.
    pub fn read(self, buf: B, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.read(buf, value))
    }

    /// [`Op::read_at`], awaited.
    pub fn read_at(self, buf: B, offset: u64, value: V) -> OpFuture<K, V, B> {
        self.start(|op| op.read_at(buf, offset, value))
    }
}

/// The packet of one awaited operation (feature `futures`); see
/// [`Awaitable`]. The operation runs whether or not the future is polled;
/// dropping the future before it resolved cancels the operation.
#[must_use = "dropping an OpFuture cancels its operation"]
pub struct OpFuture<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> {
    inner: Inner<K, V, B>,
}

enum Inner<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> {
    /// Resolved (or never started); `None` once returned.
    Ready(Option<AwaitedPacket<V, B>>),
    /// In flight.
    Waiting {
        port: Port<K, V, B>,
        handle: Handle,
        id: OpId,
        cell: Arc<AwaitCell<V, B>>,
    },
}

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> OpFuture<K, V, B> {
    /// The started operation, for [`Port::cancel_op`] (`None` if it
    /// completed at once or could not start).
    pub fn id(&self) -> Option<OpId> {
        match &self.inner {
            Inner::Waiting { id, .. } => Some(*id),
            Inner::Ready(_) => None,
        }
    }
}

// The future is never pinned structurally: nothing in it relies on its
// address (the packet and buffers it hands out are moved out).
impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> Unpin for OpFuture<K, V, B> {}

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> Future for OpFuture<K, V, B> {
    type Output = AwaitedPacket<V, B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let packet = match &mut this.inner {
            Inner::Ready(packet) => packet.take(),
            Inner::Waiting { cell, .. } => match cell.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(packet) => packet,
            },
        };
        // Resolved: the port and the cell are let go (dropping `Waiting`
        // here cancels nothing: `Drop` looks only at what is in flight).
        this.inner = Inner::Ready(None);
        Poll::Ready(packet.expect("OpFuture polled after it resolved"))
    }
}

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> Drop for OpFuture<K, V, B> {
    fn drop(&mut self) {
        if let Inner::Waiting {
            port,
            handle,
            id,
            cell,
        } = &self.inner
        {
            if cell.abandon() {
                // Still in flight: cancel it; its completion drops the packet.
                // It may have completed meanwhile (NotFound) or its handle be
                // closing (InvalidInput): then it ends by itself.
                let _ = port.owner.io.cancel(*handle, Some(*id));
            }
        }
    }
}

impl<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf> Port<K, V, B> {
    /// Starts the port's driver thread of awaited operations if it is not
    /// running yet (see the module's notes).
    pub(super) fn start_driver(&self) -> io::Result<()> {
        let io = &self.owner.io;
        if io.has_driver() {
            return Ok(());
        }
        let _starting = self.owner.driver_start.lock();
        if io.has_driver() {
            return Ok(());
        }
        let owner = Arc::downgrade(&self.owner);
        let thread = std::thread::Builder::new()
            .name("cport-futures".into())
            .spawn(move || drive(owner))?;
        io.set_driver(thread.thread().clone());
        Ok(())
    }
}

/// The driver thread: reaps while awaited operations are in flight and no
/// waiter of `get` polls; parks otherwise; ends with the port.
fn drive<K: Clone + Send + 'static, V: Send + 'static, B: IoBuf>(owner: Weak<Owner<K, V, B>>) {
    loop {
        let Some(owner) = owner.upgrade() else { return };
        // Idle first, then look: an operation started, or a poller that
        // left, after this store unparks us (see `Io::wake_driver`).
        owner.io.driver_going_idle();
        if owner.io.awaited() > 0 {
            // User code runs in the reap (a completion filter, `K::clone`,
            // drops of values, wakers): a panic there must not end the
            // driver, or awaited operations would wait forever.
            let reaped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                owner.core.reap_as_helper(DRIVER_POLL)
            }));
            if reaped.unwrap_or(true) {
                continue;
            }
            // A waiter of `get` holds the poller role: it reaps for us, and
            // unparks us if it leaves the role while we are still needed.
        }
        drop(owner);
        std::thread::park();
    }
}
