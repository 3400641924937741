//! The engine: every overlapped socket and file operation of the C ABI, and
//! what its completion does to the program's memory, events and ports.
//!
//! * **One hidden engine port per process** (`cport::Port<usize, OpCtx,
//!   CBuf>`) runs every overlapped operation. Each socket and each
//!   overlapped file is associated with it when it is created, so an
//!   operation can start whether or not the program has associated the
//!   handle with a completion port of its own yet — and
//!   `CreateIoCompletionPort` on a handle only records (port, key) in the
//!   handle's [`IoObj`].
//! * **A reaper thread** waits on the engine port and so drives its backend.
//!   The engine's completion filter runs there for every finished operation
//!   ([`completion`]): compute the NTSTATUS; write operation-specific results
//!   (a `WSARecvFrom` source address, the `AcceptEx` address blocks); forget
//!   the operation's record; write `OVERLAPPED.InternalHigh` then
//!   `OVERLAPPED.Internal` (the last time the `OVERLAPPED` is touched); wake
//!   `GetOverlappedResult` waiters; post the packet to the completion port
//!   the handle is associated with *now*, with its key, unless `hEvent`'s
//!   low bit suppresses it; set the event. The filter always returns
//!   `false`: the engine port itself never queues. So `OVERLAPPED` results
//!   and events work without anybody calling `GetQueuedCompletionStatus`,
//!   association after issue routes correctly, and completions on a closed
//!   port are dropped, as on Windows. The cost is one thread switch per
//!   packet from the reaper to a worker.
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
//!   mode), as on Windows. Otherwise the operation goes to the engine.
//! * **Records.** Every operation in flight has a record in its handle's
//!   [`IoObj`] (its `OVERLAPPED`, issuing thread, engine handle + op id, and
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
//! | [`signal`] | events, thread handles and the signal buses waits sleep on |
//!
//! The Win32 families (`crate::port`, `crate::winsock`, `crate::file`, …)
//! build on this module; it depends on none of them.

// The library's `IssueError` hands the value and buffers back by value; the
// error path is the rare one, so its size does not matter here.
#![allow(clippy::result_large_err)]

pub(crate) mod completion;
pub(crate) mod cport;
pub(crate) mod ops;
pub(crate) mod routing;
pub(crate) mod signal;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use cport_core::{GetError, IssueError, Issued, Port};

pub(crate) use completion::*;
pub(crate) use ops::*;
pub(crate) use routing::*;

pub(crate) type EnginePort = Port<usize, OpCtx, CBuf>;
pub(crate) type Started = Result<Issued<OpCtx, CBuf>, IssueError<OpCtx, CBuf>>;

/// The process-wide engine.
pub(crate) struct Engine {
    pub port: EnginePort,
}

static ENGINE: OnceLock<Option<Engine>> = OnceLock::new();

/// Test hook (`cport_debug_panic_in_completion`): the next completion's
/// handling panics on the reaper thread.
pub(crate) static PANIC_NEXT_COMPLETION: AtomicBool = AtomicBool::new(false);

/// The engine, started on first use; `None` if no backend could be opened.
pub(crate) fn engine() -> Option<&'static Engine> {
    ENGINE
        .get_or_init(|| {
            let port: EnginePort = Port::builder().concurrency(1).build().ok()?;
            port.set_completion_filter(|p| {
                on_complete(p);
                false
            })
            .ok()?;
            let reaper = port.clone();
            std::thread::Builder::new()
                .name("cport-ffi-reaper".into())
                .spawn(move || loop {
                    // The filter drops every packet, so `get` only returns on
                    // close. The filter catches its own panics; one from the
                    // library itself must not end the thread either (every
                    // later operation would stay pending forever).
                    let got = catch_unwind(AssertUnwindSafe(|| reaper.get(None)));
                    if let Ok(Err(GetError::Closed)) = got {
                        return;
                    }
                })
                .ok()?;
            Some(Engine { port })
        })
        .as_ref()
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

/// A new socket or overlapped file: `fd` is registered with the engine
/// (non-blocking first, for sockets). The caller puts it in the handle table.
pub(crate) fn new_io(fd: OwnedFd, kind: ObjKind, overlapped: bool) -> Result<Arc<IoObj>, i32> {
    let e = engine().ok_or(libc::ENOMEM)?;
    if kind != ObjKind::File {
        set_nonblocking(fd.as_raw_fd()).map_err(|e| crate::error::errno_of(&e))?;
    }
    let raw = fd.as_raw_fd();
    let eh = e
        .port
        .associate(fd, 0)
        .map_err(|e| crate::error::errno_of(&e))?;
    Ok(Arc::new(IoObj::new(
        kind,
        overlapped,
        Conn {
            fd: raw,
            eh: Some(eh),
            own: None,
            closed: false,
        },
    )))
}
