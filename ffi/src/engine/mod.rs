//! The engine: every overlapped socket and file operation of the C ABI, and
//! what its completion does to the program's memory, events and ports.
//!
//! * **Each C port runs the I/O of its handles** ([`cport::CPort`], a
//!   [`EnginePort`] with a backend of its own). A handle's fd is registered
//!   with a port when its first operation starts ([`IoObj::io_home`]): with
//!   the C port it is associated with by then, else with the process-wide
//!   engine port. The threads in `GetQueuedCompletionStatus` reap their
//!   port's kernel completions themselves (the library's leader/follower);
//!   a worker's operations are submitted in one batch when it comes back.
//! * **The completion filter** of every port ([`completion::filter`]) runs
//!   on the reaping thread for each finished operation: compute the
//!   NTSTATUS; write operation-specific results (a `WSARecvFrom` source
//!   address, the `AcceptEx` address blocks); forget the operation's record;
//!   write `OVERLAPPED.InternalHigh` then `OVERLAPPED.Internal` (the last
//!   time the `OVERLAPPED` is touched); wake `GetOverlappedResult` waiters;
//!   queue the packet on the completion port the handle is associated with
//!   *now*, with its key, unless `hEvent`'s low bit suppresses it (the
//!   operation's own packet when that is the port being reaped, a post
//!   otherwise); set the event. Completions on a closed port are dropped, as
//!   on Windows.
//! * **Completions nobody waits for on a port** are reaped by the threads
//!   that wait for something else ([`help_reap`]: event and `OVERLAPPED`
//!   waits, `Sleep`). The engine port, which only handles never associated
//!   with a port use, has a reaper thread, started with its first operation.
//! * **Caller memory.** Buffers are [`CBuf`]s: raw (pointer, length) pairs of
//!   the program's memory. The Win32 contract makes the program keep every
//!   buffer, `OVERLAPPED`, `lpFrom`/`lpFromlen` alive until the operation's
//!   completion is observable; cport touches none of them after writing
//!   `OVERLAPPED.Internal`. The `hEvent` is resolved at issue, so it is not
//!   read from the `OVERLAPPED` at completion either.
//! * **Inline completion.** A `WSARecv`/`WSASend` on a socket with no
//!   receive / send of its own in flight first tries the system call without
//!   waiting; if that completes, the call returns success and still queues a
//!   packet (unless the handle is in `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS`
//!   mode), as on Windows. Otherwise the operation goes to its port. A
//!   receive skips the attempt on a TCP socket known to be empty
//!   ([`known_empty`]).
//! * **Records.** Every operation in flight has a record in its handle's
//!   [`IoObj`] (its `OVERLAPPED`, issuing thread, port handle + op id, and
//!   why it is being stopped), for `CancelIo` (this thread's operations
//!   only), `CancelIoEx` (by `OVERLAPPED`, 1168 if none), and `closesocket`
//!   (which stops them with "closed": 1236 for receives and sends, 995 for
//!   AcceptEx).
//!
//! | module | what |
//! |---|---|
//! | [`ops`] | operations: program buffers, what each operation does, starting it, `OVERLAPPED` access, synchronous I/O |
//! | [`routing`] | sockets and files ([`IoObj`]): records, association, cancel, close |
//! | [`completion`] | the completion filter: status, results, publication to the `OVERLAPPED`, event and port |
//! | [`cport`] | the C completion port object, thread association and blocking sections |
//! | [`known_empty`] | when a `WSARecv` may skip its inline attempt: sockets the kernel reported empty, and the sync points |
//! | [`signal`] | events, thread handles and the signal buses waits sleep on |
//!
//! The Win32 families (`crate::port`, `crate::winsock`, `crate::file`, …)
//! build on this module; it depends on none of them.

// The library's `IssueError` hands the value and buffers back by value; the
// error path is the rare one, so its size does not matter here.
#![allow(clippy::result_large_err)]

pub(crate) mod completion;
pub(crate) mod cport;
pub(crate) mod known_empty;
pub(crate) mod ops;
pub(crate) mod routing;
pub(crate) mod signal;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;

use cport_core::{GetError, IssueError, Issued, Port};

pub(crate) use completion::*;
pub(crate) use ops::*;
pub(crate) use routing::*;

/// Every I/O-carrying port of the C ABI — the engine port and each C
/// completion port — is this type: operations carry an [`OpCtx`] until the
/// completion filter publishes them; what a C port queues is an [`Entry`].
pub(crate) type EnginePort = Port<usize, PacketValue, CBuf>;
pub(crate) type Started = Result<Issued<PacketValue, CBuf>, IssueError<PacketValue, CBuf>>;

pub(crate) use cport::Entry;

/// The value of a packet of an [`EnginePort`].
pub(crate) enum PacketValue {
    /// An operation in flight (never queued: the completion filter turns it
    /// into `Done` or drops it).
    Op(OpCtx),
    /// What a C port hands to `GetQueuedCompletionStatus`.
    Done(Entry),
}

impl PacketValue {
    /// The `OVERLAPPED*` and status of a queued packet. Every packet a C
    /// port queues is `Done` (the completion filter publishes operations
    /// first); an `Op` would be a bug, reported as an internal error.
    pub(crate) fn entry(&self) -> Entry {
        match self {
            PacketValue::Done(e) => *e,
            PacketValue::Op(_) => Entry {
                ov: 0,
                status: crate::error::status_carrying(crate::types::ERROR_INTERNAL_ERROR),
            },
        }
    }
}

/// The process-wide engine port: operations on handles that are not
/// associated with a completion port when their first operation starts.
pub(crate) struct Engine {
    pub port: EnginePort,
}

static ENGINE: OnceLock<Option<Engine>> = OnceLock::new();
static REAPER: Once = Once::new();

/// Test hook (`cport_debug_panic_in_completion`): the next completion's
/// handling panics on the thread that reaps it.
pub(crate) static PANIC_NEXT_COMPLETION: AtomicBool = AtomicBool::new(false);

/// The engine port, made on first use (it opens its backend only when a
/// handle is first registered with it); `None` if it could not be made.
pub(crate) fn engine() -> Option<&'static Engine> {
    ENGINE
        .get_or_init(|| {
            let port: EnginePort = Port::builder().concurrency(1).build().ok()?;
            port.set_completion_filter(completion::filter(0)).ok()?;
            Some(Engine { port })
        })
        .as_ref()
}

/// The engine port, for registering a handle that is not associated with a
/// completion port: nobody waits on the engine port, so the first such
/// handle starts its reaper thread. (A program whose handles are all
/// associated with ports before their first operation never starts it:
/// the threads in `GetQueuedCompletionStatus` reap.)
fn engine_for_io() -> Option<&'static Engine> {
    let e = engine()?;
    REAPER.call_once(|| {
        let reaper = e.port.clone();
        let _ = std::thread::Builder::new()
            .name("cport-ffi-reaper".into())
            .spawn(move || loop {
                // The filter drops or re-routes every packet, so `get` only
                // returns on close. The filter catches its own panics; one
                // from the library itself must not end the thread either
                // (every later operation would stay pending forever).
                let got = catch_unwind(AssertUnwindSafe(|| reaper.get(None)));
                if let Ok(Err(GetError::Closed)) = got {
                    return;
                }
            });
    });
    Some(e)
}

/// How long a waiting thread sleeps before it looks again whether a port
/// needs its help (a port whose own waiters left with operations in flight:
/// nothing announces that).
pub(crate) const REAP_SLICE: Duration = Duration::from_millis(5);

/// How long a helping thread polls one port's backend at most before it
/// looks at what it waits for again. What it waits for interrupts it sooner:
/// every signal of an event, thread or `OVERLAPPED` that a thread waits for
/// wakes the ports helpers poll ([`interrupt_helpers`]), and so does an
/// operation started on another port that needs help. This bounds only what
/// nothing announces.
pub(crate) const HELP_SLICE: Duration = Duration::from_millis(100);

/// Threads inside [`help_reap`].
static HELPING: AtomicUsize = AtomicUsize::new(0);

/// Ports with I/O that a waiting thread may have to reap (see [`help_reap`]).
static IO_PORTS: Mutex<Vec<EnginePort>> = Mutex::new(Vec::new());

/// Records that `port` (a C port) now carries I/O.
pub(crate) fn note_io_port(port: &EnginePort) {
    let mut ports = IO_PORTS.lock();
    if !ports.iter().any(|p| p.same_port(port)) {
        ports.push(port.clone());
    }
}

/// Whether some C port has operations in flight and no thread waiting in
/// `GetQueuedCompletionStatus` to reap them: a thread about to wait for an
/// `OVERLAPPED`, an event or a timeout then helps ([`help_reap`]).
pub(crate) fn ports_unreaped() -> bool {
    IO_PORTS.lock().iter().any(unreaped)
}

/// A port with operations in flight and no thread in its `get` to reap them.
fn unreaped(port: &EnginePort) -> bool {
    port.in_flight() > 0 && port.counters().waiting == 0
}

/// Reaps the C ports' completions from a thread that waits for something
/// else (an event, an `OVERLAPPED`, a `Sleep`): each port with operations
/// in flight and no thread waiting in it is polled, the first for up to
/// `timeout`, the others without waiting. Returns whether this thread polled any port
/// (`false`: nothing to reap, or the ports' own waiters poll them). Closed
/// ports with nothing left in flight are forgotten here.
///
/// The caller counts as helping ([`Helping`]) while it calls this.
pub(crate) fn help_reap(_helping: &Helping, timeout: Duration) -> bool {
    let ports: Vec<EnginePort> = {
        let mut ports = IO_PORTS.lock();
        ports.retain(|p| !(p.is_closed() && p.in_flight() == 0));
        ports.iter().filter(|p| unreaped(p)).cloned().collect()
    };
    let mut polled = false;
    for p in &ports {
        let t = if polled { Duration::ZERO } else { timeout };
        polled |= p.reap(t);
    }
    polled
}

/// A thread that may poll ports in [`help_reap`], counted while this lives
/// so that signals interrupt it ([`interrupt_helpers`]). A thread that waits
/// for something must look at it once more after `enter`: a signal that came
/// before did not count it.
pub(crate) struct Helping(());

impl Helping {
    pub(crate) fn enter() -> Helping {
        HELPING.fetch_add(1, Ordering::SeqCst);
        // Store-buffering with `Bus::kick`: either its `interrupt_helpers`
        // sees this thread, or this thread's next look sees its signal.
        std::sync::atomic::fence(Ordering::SeqCst);
        Helping(())
    }
}

impl Drop for Helping {
    fn drop(&mut self) {
        HELPING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Makes the threads in [`help_reap`] look again at what they wait for: wakes
/// the backend of every port with I/O (one of them is what a helper polls;
/// a port's own poller just polls again). Called when something a thread may
/// wait for is signalled while threads wait, and when an operation starts on
/// a port that needs help. A wake-up that comes before the helper polls is
/// kept by the backend: its poll returns at once. Nothing to do while no
/// thread helps (a server whose workers wait in GetQueuedCompletionStatus).
pub(crate) fn interrupt_helpers() {
    if HELPING.load(Ordering::SeqCst) == 0 {
        return;
    }
    for p in IO_PORTS.lock().iter() {
        p.interrupt_reap();
    }
}

/// After an operation started on `port`: if the port needs help and threads
/// help (possibly polling another port, for up to [`HELP_SLICE`]), they are
/// interrupted so that one of them polls this port too.
pub(crate) fn started_on(port: &EnginePort) {
    if HELPING.load(Ordering::Relaxed) > 0 && unreaped(port) {
        interrupt_helpers();
    }
}

pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own; no pointers involved.
    let rc = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            -1
        } else {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK)
        }
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A new socket or overlapped file (non-blocking first, for sockets). The
/// fd is registered with a port when the handle's first operation starts
/// (see [`IoObj::io_home`]). The caller puts it in the handle table.
pub(crate) fn new_io(fd: OwnedFd, kind: ObjKind, overlapped: bool) -> Result<Arc<IoObj>, i32> {
    if kind != ObjKind::File {
        set_nonblocking(fd.as_raw_fd()).map_err(|e| crate::error::errno_of(&e))?;
    }
    Ok(Arc::new(IoObj::new(
        kind,
        overlapped,
        Conn {
            fd: fd.as_raw_fd(),
            home: None,
            own: Some(fd),
            closed: false,
        },
    )))
}
