//! The I/O engine behind overlapped sockets and files, and what happens when
//! an operation completes (docs/semantics.md).
//!
//! # Design
//!
//! * **One hidden engine port per process** (`cport::Port<usize, OpCtx, CBuf>`)
//!   runs every overlapped operation. Each socket and each overlapped file is
//!   associated with it when it is created, so an operation can start whether
//!   or not the program has associated the handle with a completion port of
//!   its own yet — and `CreateIoCompletionPort` on a handle only records
//!   (port, key) in the handle's [`IoObj`].
//! * **A reaper thread** waits on the engine port and so drives its backend.
//!   The engine's completion filter ([`on_complete`]) runs there for every
//!   finished operation, in this order: compute the NTSTATUS; write
//!   operation-specific results (a `WSARecvFrom` source address, the `AcceptEx`
//!   address blocks); forget the operation's record; write
//!   `OVERLAPPED.InternalHigh` then `OVERLAPPED.Internal` (the last time the
//!   `OVERLAPPED` is touched); wake `GetOverlappedResult` waiters; post the
//!   packet to the completion port the handle is associated with *now*, with
//!   its key, unless `hEvent`'s low bit suppresses it; set the event. The
//!   filter always returns `false`: the engine port itself never queues.
//!   So `OVERLAPPED` results and events work without anybody calling
//!   `GetQueuedCompletionStatus`, association after issue routes correctly,
//!   and completions on a closed port are dropped (docs/semantics.md).
//!   The cost is one thread switch per packet from the reaper to a worker
//!   (the library itself avoids that; a reaping API that queues without
//!   taking would let the C ABI avoid it too).
//! * **Caller memory.** Buffers are [`CBuf`]s: raw (pointer, length) pairs of
//!   the program's memory. The Win32 contract makes the program keep every
//!   buffer, `OVERLAPPED`, `lpFrom`/`lpFromlen` alive until the operation's
//!   completion is observable; cport touches none of them after writing
//!   `OVERLAPPED.Internal` (docs/semantics.md). The `hEvent` is resolved at
//!   issue, so it is not read from the `OVERLAPPED` at completion either.
//! * **Inline completion.** A `WSARecv`/`WSASend` on a socket with no receive /
//!   send of its own in flight first tries the system call without waiting;
//!   if that completes, the call returns success and still queues a packet
//!   (unless the handle is in `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` mode), as
//!   on Windows. Otherwise the operation goes to the engine and returns pending.
//! * **Records.** Every operation in flight has a record in its handle's
//!   [`IoObj`] (its `OVERLAPPED`, issuing thread, engine handle + op id, and
//!   why it is being stopped), for `CancelIo` (this thread's operations only),
//!   `CancelIoEx` (by `OVERLAPPED`, 1168 if none), and `closesocket` (which
//!   stops them with "closed": 1236 for receives and sends, 995 for AcceptEx).

// The library's `IssueError` hands the value and buffers back by value; the
// error path is the rare one, so its size does not matter here.
#![allow(clippy::result_large_err)]

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use cport_core::{GetError, Handle, IoBuf, IssueError, Issued, OpId, Packet, Port};
use parking_lot::{Mutex, RwLock};

use crate::error::{errno_of, errno_to_wsa, status_carrying};
use crate::event::{self, Event};
use crate::handles;
use crate::port::CPort;
use crate::types::*;

/// A buffer of the program's memory, used by one operation.
///
/// The engine reads or writes `len` bytes at `ptr` until the operation's
/// completion. That is sound because the Win32 contract requires the program
/// to keep the buffer valid, and not to touch it, until the operation
/// completes; cport never frees or reallocates it.
pub(crate) struct CBuf {
    ptr: *mut u8,
    len: usize,
}

impl CBuf {
    /// # Safety
    /// `ptr` must be valid for reads and writes of `len` bytes until the
    /// operation using this buffer has completed (the Win32 contract).
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> Self {
        CBuf { ptr, len }
    }
}

// SAFETY: a CBuf is only a (pointer, length) pair naming memory the program
// lends to the operation; the engine may use it from any thread.
unsafe impl Send for CBuf {}

// SAFETY: `ptr` is valid for `len` bytes until the completion (see `CBuf::new`)
// and does not move when the CBuf value moves: it is the program's memory.
unsafe impl IoBuf for CBuf {
    fn stable_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    fn stable_len(&self) -> usize {
        self.len
    }
}

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

thread_local! {
    /// Set once the completion being handled on this thread is out of the
    /// filter's hands: its `OVERLAPPED` was (being) published, or a
    /// follow-up stage is in flight. After a panic the filter publishes a
    /// failure only if this is still unset.
    static HANDED_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn set_handed_off(v: bool) {
    let _ = HANDED_OFF.try_with(|c| c.set(v));
}

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

/// What kind of object an [`IoObj`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjKind {
    Socket { family: i32, ty: i32 },
    File,
}

/// The fd behind a socket or file, and whether it was closed.
pub(crate) struct Conn {
    pub fd: RawFd,
    /// Its handle on the engine port (which owns the fd); `None` for files
    /// opened without FILE_FLAG_OVERLAPPED.
    pub eh: Option<Handle>,
    /// The fd of a non-overlapped file (owned here instead of by the engine).
    pub own: Option<OwnedFd>,
    pub closed: bool,
}

/// Why an operation is being stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    None,
    Cancel,
    Close,
}

/// An operation in flight, kept by the handle it was issued on.
struct Rec {
    token: u64,
    ov: usize,
    thread: u64,
    /// The engine op; `None` while it is being started.
    target: Option<(Handle, OpId)>,
    stop: Stop,
}

/// A socket or a file.
pub(crate) struct IoObj {
    pub kind: ObjKind,
    pub overlapped: bool,
    pub conn: RwLock<Conn>,
    assoc: Mutex<Option<(Weak<CPort>, usize)>>,
    modes: AtomicU8,
    ops: Mutex<Vec<Rec>>,
    /// Receives / sends of this handle in the engine (inline attempts wait
    /// for none, to keep the order of the data).
    pub recv_pending: AtomicUsize,
    pub send_pending: AtomicUsize,
    /// The peer reset the connection: every later receive/send fails (10054).
    pub reset: AtomicBool,
    /// shutdown(SD_SEND) ran.
    pub shut_send: AtomicBool,
    /// The socket was connected (or a connect was started) at some point:
    /// Linux's EPIPE means "reset" only then, and "not connected" before.
    pub ever_connected: AtomicBool,
    /// When it was connected, or its connect started (SO_CONNECT_TIME).
    pub connected_at: Mutex<Option<std::time::Instant>>,
    /// FIONBIO: blocking calls fail with WSAEWOULDBLOCK instead of waiting.
    pub nonblocking: AtomicBool,
    pub listening: AtomicBool,
    /// The program set SO_REUSEADDR (Windows meaning: may share an address).
    pub reuse_addr: AtomicBool,
    /// The program set SO_EXCLUSIVEADDRUSE.
    pub exclusive_addr: AtomicBool,
    /// Threads inside a blocking call on this socket (closesocket wakes them).
    pub blocked: AtomicUsize,
    /// An AcceptEx pending with this socket as its accept socket: (listener, token).
    pub accept_for: Mutex<Option<(Weak<IoObj>, u64)>>,
    /// Delete the file when it is closed (FILE_FLAG_DELETE_ON_CLOSE).
    pub delete_on_close: Mutex<Option<std::path::PathBuf>>,
}

static TOKENS: AtomicU64 = AtomicU64::new(1);
static THREAD_IDS: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD_ID: u64 = THREAD_IDS.fetch_add(1, Ordering::Relaxed);
}

fn thread_id() -> u64 {
    THREAD_ID.try_with(|t| *t).unwrap_or(0)
}

impl IoObj {
    pub(crate) fn new(kind: ObjKind, overlapped: bool, conn: Conn) -> Self {
        IoObj {
            kind,
            overlapped,
            conn: RwLock::new(conn),
            assoc: Mutex::new(None),
            modes: AtomicU8::new(0),
            ops: Mutex::new(Vec::new()),
            recv_pending: AtomicUsize::new(0),
            send_pending: AtomicUsize::new(0),
            reset: AtomicBool::new(false),
            shut_send: AtomicBool::new(false),
            ever_connected: AtomicBool::new(false),
            connected_at: Mutex::new(None),
            nonblocking: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            reuse_addr: AtomicBool::new(false),
            exclusive_addr: AtomicBool::new(false),
            blocked: AtomicUsize::new(0),
            accept_for: Mutex::new(None),
            delete_on_close: Mutex::new(None),
        }
    }

    /// The socket is connected, or its connect started (see `ever_connected`).
    pub(crate) fn mark_connected(&self) {
        self.ever_connected.store(true, Ordering::Release);
        self.connected_at
            .lock()
            .get_or_insert_with(std::time::Instant::now);
    }

    pub(crate) fn is_socket(&self) -> bool {
        matches!(self.kind, ObjKind::Socket { .. })
    }

    pub(crate) fn is_overlapped(&self) -> bool {
        self.overlapped
    }

    /// The fd and engine handle, unless closed.
    pub(crate) fn current(&self) -> Option<(RawFd, Option<Handle>)> {
        let c = self.conn.read();
        (!c.closed).then_some((c.fd, c.eh))
    }

    /// Records the association with a completion port; `false` if the handle
    /// is associated already (docs/semantics.md).
    pub(crate) fn associate(&self, port: &Arc<CPort>, key: usize) -> bool {
        let mut a = self.assoc.lock();
        if a.is_some() {
            return false;
        }
        *a = Some((Arc::downgrade(port), key));
        true
    }

    pub(crate) fn set_modes(&self, modes: u8) {
        self.modes.fetch_or(modes, Ordering::AcqRel);
    }

    /// Skip mode applies: the handle is in it and associated with a port.
    fn skips_on_success(&self) -> bool {
        self.modes.load(Ordering::Acquire) & FILE_SKIP_COMPLETION_PORT_ON_SUCCESS as u8 != 0
            && self.assoc.lock().is_some()
    }

    /// Posts a completion packet to the associated port, if any (and open).
    fn route(&self, bytes: u32, ov: usize, status: DWORD) {
        let target = self.assoc.lock().as_ref().map(|(w, k)| (w.clone(), *k));
        if let Some((port, key)) = target {
            if let Some(port) = port.upgrade() {
                port.post(key, bytes, ov, status);
            }
        }
    }

    fn add_rec(&self, token: u64, ov: usize) {
        self.ops.lock().push(Rec {
            token,
            ov,
            thread: thread_id(),
            target: None,
            stop: Stop::None,
        });
    }

    /// Forgets a record; returns why it was being stopped.
    fn take_rec(&self, token: u64) -> Stop {
        let mut ops = self.ops.lock();
        match ops.iter().position(|r| r.token == token) {
            Some(i) => ops.swap_remove(i).stop,
            None => Stop::None,
        }
    }

    fn stop_of(&self, token: u64) -> Stop {
        self.ops
            .lock()
            .iter()
            .find(|r| r.token == token)
            .map_or(Stop::None, |r| r.stop)
    }

    /// Marks the matching records as stopped by `why` and cancels their
    /// engine operations. Returns how many matched.
    fn stop_where(&self, why: Stop, pred: impl Fn(&Rec) -> bool) -> usize {
        let mut targets = Vec::new();
        let mut n = 0;
        {
            let mut ops = self.ops.lock();
            for r in ops.iter_mut().filter(|r| pred(r)) {
                n += 1;
                // The first stop decides: a cancelled operation stays
                // cancelled (995) when its handle is closed before it ends.
                if r.stop == Stop::None {
                    r.stop = why;
                }
                if let Some(t) = r.target {
                    targets.push(t);
                }
            }
        }
        if let Some(e) = engine() {
            for (h, op) in targets {
                // NotFound: it completed meanwhile; its packet is on its way.
                let _ = e.port.cancel_op(h, op);
            }
        }
        n
    }

    /// CancelIo: this thread's operations. CancelIoEx: those with `ov`, or all.
    pub(crate) fn cancel(&self, ov: Option<usize>, this_thread_only: bool) -> usize {
        let me = thread_id();
        self.stop_where(Stop::Cancel, |r| {
            ov.is_none_or(|ov| r.ov == ov) && (!this_thread_only || r.thread == me)
        })
    }

    /// Starts the engine operation `ctx.kind` describes, on engine handle
    /// `eh`, for the record `ctx.token` (added already). On a synchronous
    /// failure the record is gone and the error comes back with the context.
    pub(crate) fn launch(
        &self,
        eh: Handle,
        ctx: OpCtx,
        bufs: Vec<CBuf>,
    ) -> Result<(), (io::Error, OpCtx)> {
        let Some(e) = engine() else {
            self.take_rec(ctx.token);
            return Err((io::Error::from_raw_os_error(libc::ENOMEM), ctx));
        };
        let token = ctx.token;
        match start(&e.port, eh, ctx, bufs) {
            Ok(Issued::Pending(id)) => {
                let cancel = {
                    let mut ops = self.ops.lock();
                    match ops.iter_mut().find(|r| r.token == token) {
                        Some(r) => {
                            r.target = Some((eh, id));
                            r.stop != Stop::None
                        }
                        None => false, // completed already
                    }
                };
                if cancel {
                    let _ = e.port.cancel_op(eh, id);
                }
                Ok(())
            }
            Ok(Issued::Completed { bytes, value, .. }) => {
                // Only with the library's skip mode, which cport-ffi does not use.
                finish(value, STATUS_SUCCESS, bytes);
                Ok(())
            }
            Err(IssueError { error, value, .. }) => {
                self.take_rec(token);
                Err((error, value))
            }
        }
    }

    /// closesocket / CloseHandle: stops every operation with "closed", wakes
    /// threads blocked on the socket, and closes the fd once the engine has
    /// no operation on it any more.
    pub(crate) fn close(&self) {
        let (fd, eh, own) = {
            // Waits for threads inside a (non-blocking) system call on the fd.
            let mut c = self.conn.write();
            c.closed = true;
            (c.fd, c.eh, c.own.take())
        };
        self.stop_where(Stop::Close, |_| true);
        // An AcceptEx that would fill this (accept) socket is aborted (995).
        if let Some((listener, token)) = self.accept_for.lock().take() {
            if let Some(l) = listener.upgrade() {
                l.stop_where(Stop::Cancel, |r| r.token == token);
            }
        }
        if self.blocked.load(Ordering::SeqCst) > 0 && self.is_socket() {
            // SAFETY: the fd is still open (the engine closes it only in
            // `close_handle` below); shutdown only wakes blocked callers.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
        if let (Some(eh), Some(e)) = (eh, engine()) {
            let _ = e.port.close_handle(eh);
        }
        drop(own);
        if let Some(path) = self.delete_on_close.lock().take() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// DisconnectEx / TransmitFile's TF_DISCONNECT: ends the connection (the
    /// peer sees end of stream). With `reuse` (TF_REUSE_SOCKET) the socket
    /// then gets a fresh, unbound fd of the same kind, so it can be passed to
    /// AcceptEx or bound and used with ConnectEx again.
    pub(crate) fn disconnect(&self, reuse: bool) -> io::Result<()> {
        let fd = self
            .current()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOTSOCK))?
            .0;
        // SAFETY: shutdown on the socket's own fd; no pointers.
        if unsafe { libc::shutdown(fd, libc::SHUT_RDWR) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOTCONN) {
                return Err(e);
            }
        }
        self.shut_send.store(true, Ordering::Release);
        if reuse {
            self.renew()?;
        }
        Ok(())
    }

    /// Replaces the socket's fd with a new, unconnected socket of the same
    /// family and type (TF_REUSE_SOCKET). The old fd's engine handle is
    /// closed: operations still on it end (aborted), then the engine closes it.
    fn renew(&self) -> io::Result<()> {
        let ObjKind::Socket { family, ty } = self.kind else {
            return Err(io::Error::from_raw_os_error(libc::ENOTSOCK));
        };
        let e = engine().ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        // SAFETY: plain syscall, no pointers.
        let raw = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socket() returned a new fd that nothing else owns.
        let fresh = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        set_nonblocking(raw)?;
        let eh = e.port.associate(fresh, 0)?;
        self.install(e, raw, eh, libc::ENOTSOCK)?;
        self.reset.store(false, Ordering::Release);
        self.shut_send.store(false, Ordering::Release);
        self.ever_connected.store(false, Ordering::Release);
        *self.connected_at.lock() = None;
        self.listening.store(false, Ordering::Release);
        Ok(())
    }

    /// AcceptEx: makes this (accept) socket the accepted connection `stream`.
    fn adopt(&self, stream: OwnedFd) -> io::Result<()> {
        let e = engine().ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        set_nonblocking(stream.as_raw_fd())?;
        let fd = stream.as_raw_fd();
        let eh = e.port.associate(stream, 0)?;
        self.install(e, fd, eh, libc::ECANCELED)?;
        self.mark_connected();
        Ok(())
    }

    /// Makes `fd` (associated with the engine as `eh`) this socket's fd. The
    /// old fd's engine handle is closed: operations still on it end, then the
    /// engine closes that fd. If the socket was closed meanwhile, `eh` is
    /// closed instead and the call fails with `if_closed`.
    fn install(&self, e: &Engine, fd: RawFd, eh: Handle, if_closed: i32) -> io::Result<()> {
        let old = {
            let mut c = self.conn.write();
            if c.closed {
                drop(c);
                let _ = e.port.close_handle(eh);
                return Err(io::Error::from_raw_os_error(if_closed));
            }
            let old = c.eh;
            c.fd = fd;
            c.eh = Some(eh);
            old
        };
        if let Some(old) = old {
            let _ = e.port.close_handle(old);
        }
        Ok(())
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

/// Registers a new socket or overlapped file fd with the engine and puts the
/// object in the handle table. Returns the handle value.
pub(crate) fn register(fd: OwnedFd, kind: ObjKind, overlapped: bool) -> Result<usize, i32> {
    let e = engine().ok_or(libc::ENOMEM)?;
    if kind != ObjKind::File {
        set_nonblocking(fd.as_raw_fd()).map_err(|e| errno_of(&e))?;
    }
    let raw = fd.as_raw_fd();
    let eh = e.port.associate(fd, 0).map_err(|e| errno_of(&e))?;
    let obj = IoObj::new(
        kind,
        overlapped,
        Conn {
            fd: raw,
            eh: Some(eh),
            own: None,
            closed: false,
        },
    );
    match handles::insert(handles::Object::Io(Arc::new(obj))) {
        Some(h) => Ok(h),
        None => {
            let _ = e.port.close_handle(eh);
            Err(libc::EMFILE)
        }
    }
}

/// What an engine operation does, with what it needs to be started (also
/// for the second stage of AcceptEx and ConnectEx).
pub(crate) enum OpKind {
    Recv,
    Send,
    /// WSARecvFrom: where the source address and its length go.
    RecvFrom {
        from: usize,
        fromlen: usize,
    },
    SendTo {
        to: SocketAddr,
    },
    /// WSARecv with MSG_PEEK: a zero-byte receive waits until data is
    /// there, then the data is peeked into these (pointer, length) buffers.
    Peek {
        bufs: Vec<(usize, usize)>,
    },
    /// TransmitFile: head, file bytes and tail gathered into `data` (owned
    /// here until the completion), sent as one send; then `flags`'
    /// TF_DISCONNECT / TF_REUSE_SOCKET.
    Transmit {
        data: Vec<u8>,
        flags: DWORD,
    },
    /// ReadFile of `want` bytes: 0 bytes back means end of file.
    Read {
        want: usize,
        offset: u64,
    },
    Write {
        offset: u64,
    },
    /// AcceptEx, waiting for the connection.
    Accept(Box<AcceptCtx>),
    /// AcceptEx, connection adopted, waiting for the first data.
    AcceptData(Box<AcceptCtx>),
    /// ConnectEx, connecting; then sends `data` (pointer, length) if any.
    Connect {
        to: SocketAddr,
        data: Option<(usize, usize)>,
    },
    /// ConnectEx, connected, sending its first data.
    ConnectData,
    Done,
}

/// Starts the engine operation `ctx.kind` describes, with `bufs`.
fn start(port: &EnginePort, h: Handle, ctx: OpCtx, mut bufs: Vec<CBuf>) -> Started {
    let op = port.op(h);
    let needs_buf = !matches!(
        ctx.kind,
        OpKind::Accept(_) | OpKind::Connect { .. } | OpKind::Recv | OpKind::Send | OpKind::Done
    );
    let one = if needs_buf { bufs.pop() } else { None };
    match (&ctx.kind, one) {
        // A datagram socket always takes the vectored receive, which
        // reports truncation (EMSGSIZE, the buffers holding the start).
        (OpKind::Recv, _) if bufs.len() == 1 && !is_datagram(&ctx.owner) => {
            op.recv(bufs.remove(0), ctx)
        }
        (OpKind::Recv, _) => op.recv_vectored(bufs, ctx),
        (OpKind::Send, _) if bufs.len() == 1 => op.send(bufs.remove(0), ctx),
        (OpKind::Send, _) => op.send_vectored(bufs, ctx),
        (OpKind::RecvFrom { .. }, Some(b)) => op.recv_from(b, ctx),
        (OpKind::SendTo { to }, Some(b)) => {
            let to = *to;
            op.send_to(b, to, ctx)
        }
        (OpKind::Read { offset, .. }, Some(b)) => {
            let offset = *offset;
            op.read_at(b, offset, ctx)
        }
        (OpKind::Write { offset }, Some(b)) => {
            let offset = *offset;
            op.write_at(b, offset, ctx)
        }
        (OpKind::AcceptData(_), Some(b)) | (OpKind::Peek { .. }, Some(b)) => op.recv(b, ctx),
        (OpKind::ConnectData, Some(b)) | (OpKind::Transmit { .. }, Some(b)) => op.send(b, ctx),
        (OpKind::Accept(_), _) => op.accept(ctx),
        (OpKind::Connect { to, .. }, _) => {
            let to = *to;
            op.connect(to, ctx)
        }
        (_, one) => Err(IssueError {
            error: io::Error::from_raw_os_error(libc::EINVAL),
            value: ctx,
            buf: one,
            bufs,
        }),
    }
}

/// The buffers of the operation a context describes (for the follow-up
/// stages, whose buffers live in the context).
fn stage_bufs(kind: &OpKind) -> Vec<CBuf> {
    match kind {
        // SAFETY: AcceptEx's output buffer stays valid until completion.
        OpKind::AcceptData(a) => vec![unsafe { CBuf::new(a.buf as *mut u8, a.recv_len) }],
        _ => Vec::new(),
    }
}

pub(crate) struct AcceptCtx {
    pub accept: Arc<IoObj>,
    pub buf: usize,
    pub recv_len: usize,
    pub local_len: usize,
    pub remote_len: usize,
    pub peer: Option<SocketAddr>,
}

/// The per-operation value of every engine operation.
pub(crate) struct OpCtx {
    pub token: u64,
    /// The `OVERLAPPED*`.
    pub ov: usize,
    /// The handle the operation was issued on: its record, its association.
    pub owner: Arc<IoObj>,
    pub event: Option<Arc<Event>>,
    /// `false` when hEvent's low bit suppresses the packet.
    pub notify: bool,
    /// Bytes transferred inline before the engine took over (a partial send).
    pub base: usize,
    /// Bytes the engine operation was asked to transfer.
    pub want: usize,
    pub kind: OpKind,
}

/// The start of an overlapped operation: `hEvent` resolved, `Internal` set to
/// `STATUS_PENDING`, the event reset, a record added.
pub(crate) struct Prepared {
    pub token: u64,
    pub ov: usize,
    pub event: Option<Arc<Event>>,
    pub notify: bool,
}

impl Prepared {
    pub(crate) fn into_ctx(self, owner: Arc<IoObj>, kind: OpKind) -> OpCtx {
        OpCtx {
            token: self.token,
            ov: self.ov,
            owner,
            event: self.event,
            notify: self.notify,
            base: 0,
            want: 0,
            kind,
        }
    }
}

/// Validates `ov`'s event and marks the `OVERLAPPED` pending.
///
/// # Safety
/// `ov` must be non-NULL and point to an `OVERLAPPED` the program keeps valid
/// until the operation completes.
pub(crate) unsafe fn prepare(owner: &IoObj, ov: *mut OVERLAPPED) -> Result<Prepared, DWORD> {
    // SAFETY: `ov` is valid (caller contract).
    let h_event = unsafe { (*ov).hEvent } as usize;
    let (event, notify) = if h_event & !1 == 0 {
        (None, true)
    } else {
        match handles::event(h_event & !1) {
            Some(e) => (Some(e), h_event & 1 == 0),
            None => return Err(ERROR_INVALID_HANDLE),
        }
    };
    // SAFETY: as above.
    unsafe { store_status(ov, STATUS_PENDING) };
    if let Some(e) = &event {
        e.reset();
    }
    let token = TOKENS.fetch_add(1, Ordering::Relaxed);
    owner.add_rec(token, ov as usize);
    Ok(Prepared {
        token,
        ov: ov as usize,
        event,
        notify,
    })
}

/// Writes `OVERLAPPED.Internal` with release ordering.
///
/// # Safety
/// `ov` must point to a live `OVERLAPPED`.
pub(crate) unsafe fn store_status(ov: *mut OVERLAPPED, status: DWORD) {
    // SAFETY: `Internal` is an aligned usize inside a live OVERLAPPED; an
    // AtomicUsize has the same layout. Readers use `load_status`.
    unsafe { AtomicUsize::from_ptr(&raw mut (*ov).Internal) }
        .store(status as usize, Ordering::Release);
}

/// Reads `OVERLAPPED.Internal` with acquire ordering.
///
/// # Safety
/// `ov` must point to a live `OVERLAPPED`.
pub(crate) unsafe fn load_status(ov: *mut OVERLAPPED) -> DWORD {
    // SAFETY: as in `store_status`.
    unsafe { AtomicUsize::from_ptr(&raw mut (*ov).Internal) }.load(Ordering::Acquire) as DWORD
}

/// Ends an operation that completed inline (on the calling thread): the
/// OVERLAPPED, the event, and a packet unless skip mode or the low bit.
/// Returns whether a packet was queued.
pub(crate) fn complete_inline(p: Prepared, owner: &IoObj, bytes: usize) -> bool {
    owner.take_rec(p.token);
    let notify = p.notify && !owner.skips_on_success();
    publish(
        p.ov,
        STATUS_SUCCESS,
        bytes,
        owner,
        notify,
        p.event.as_deref(),
    );
    notify
}

/// Ends an operation that completed inline with a warning status (a
/// truncated datagram: `STATUS_BUFFER_OVERFLOW`). A warning is not an error
/// to the I/O manager, so the packet is queued (skip mode does not apply:
/// that is for success), but the call itself reports the error.
pub(crate) fn complete_inline_warning(p: Prepared, owner: &IoObj, status: DWORD, bytes: usize) {
    owner.take_rec(p.token);
    publish(p.ov, status, bytes, owner, p.notify, p.event.as_deref());
}

/// Ends an operation that failed synchronously: nothing is queued; the
/// `OVERLAPPED` records the failure unless `keep_pending` (AcceptEx and
/// ConnectEx leave `STATUS_PENDING`; docs/semantics.md).
pub(crate) fn fail_sync(p: Prepared, owner: &IoObj, status: DWORD, keep_pending: bool) {
    owner.take_rec(p.token);
    if !keep_pending {
        // SAFETY: the OVERLAPPED is valid during the call that issued it.
        unsafe { store_status(p.ov as *mut OVERLAPPED, status) };
    }
}

/// The last step of every operation. After `Internal` is written the program
/// may free the `OVERLAPPED` and the buffers: nothing touches them afterwards.
fn publish(
    ov: usize,
    status: DWORD,
    bytes: usize,
    owner: &IoObj,
    notify: bool,
    ev: Option<&Event>,
) {
    // From here on the OVERLAPPED may be visible: never publish twice.
    set_handed_off(true);
    let ovp = ov as *mut OVERLAPPED;
    // SAFETY: the program keeps the OVERLAPPED valid until the operation's
    // completion is observable, which is what the store of `Internal` does.
    unsafe {
        std::ptr::write_volatile(&raw mut (*ovp).InternalHigh, bytes);
        store_status(ovp, status);
    }
    event::OVERLAPPED.kick();
    if notify {
        owner.route(bytes as u32, ov, status);
    }
    if let Some(e) = ev {
        e.set();
    }
}

/// The completion filter of the engine port (see the module docs).
fn on_complete(p: &mut Packet<usize, OpCtx, CBuf>) {
    let result = std::mem::replace(&mut p.result, Ok(0));
    let stream = p.take_stream();
    let addr = p.addr();
    let placeholder = OpCtx {
        token: 0,
        ov: 0,
        owner: p.value.owner.clone(),
        event: None,
        notify: false,
        base: 0,
        want: 0,
        kind: OpKind::Done,
    };
    let ctx = std::mem::replace(&mut p.value, placeholder);
    // What is needed to end the operation if its handling panics.
    let fallback = Fallback {
        token: ctx.token,
        ov: ctx.ov,
        owner: ctx.owner.clone(),
        event: ctx.event.clone(),
        notify: ctx.notify,
        counter: match ctx.kind {
            OpKind::Recv | OpKind::RecvFrom { .. } | OpKind::Peek { .. } => Some(true),
            OpKind::Send | OpKind::SendTo { .. } | OpKind::Transmit { .. } => Some(false),
            _ => None,
        },
        accept: match &ctx.kind {
            OpKind::Accept(a) | OpKind::AcceptData(a) => Some(a.accept.clone()),
            _ => None,
        },
    };
    set_handed_off(false);
    let handled = catch_unwind(AssertUnwindSafe(|| {
        if PANIC_NEXT_COMPLETION.swap(false, Ordering::AcqRel) {
            panic!("cport_debug_panic_in_completion: a test of the reaper's panic guard");
        }
        complete(ctx, result, stream.map(OwnedFd::from), addr);
    }));
    if handled.is_err() && !HANDED_OFF.try_with(|c| c.get()).unwrap_or(true) {
        fallback.fail();
    }
}

/// An operation whose completion handling panicked before it was published:
/// it ends with `ERROR_INTERNAL_ERROR` (a packet, the event, the
/// `OVERLAPPED`), so no waiter hangs and no packet is lost silently.
struct Fallback {
    token: u64,
    ov: usize,
    owner: Arc<IoObj>,
    event: Option<Arc<Event>>,
    notify: bool,
    /// `Some(true)`: a receive, `Some(false)`: a send (their in-flight counts).
    counter: Option<bool>,
    /// An AcceptEx's accept socket: no longer waiting for this AcceptEx.
    accept: Option<Arc<IoObj>>,
}

impl Fallback {
    fn fail(self) {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            self.owner.take_rec(self.token);
            if let Some(a) = &self.accept {
                *a.accept_for.lock() = None;
            }
            match self.counter {
                Some(true) => self.owner.recv_pending.fetch_sub(1, Ordering::AcqRel),
                Some(false) => self.owner.send_pending.fetch_sub(1, Ordering::AcqRel),
                None => 0,
            };
            publish(
                self.ov,
                status_carrying(ERROR_INTERNAL_ERROR),
                0,
                &self.owner,
                self.notify,
                self.event.as_deref(),
            );
        }));
    }
}

/// An engine operation finished with `result`.
pub(crate) fn complete(
    mut ctx: OpCtx,
    result: io::Result<usize>,
    stream: Option<OwnedFd>,
    addr: Option<SocketAddr>,
) {
    let stop = ctx.owner.stop_of(ctx.token);
    match std::mem::replace(&mut ctx.kind, OpKind::Done) {
        OpKind::Accept(mut a) => {
            let status = match (&result, stream) {
                _ if stop != Stop::None => STATUS_CANCELLED,
                (Ok(_), Some(stream)) => match a.accept.adopt(stream) {
                    Ok(()) => {
                        a.peer = addr;
                        if !write_accept_addresses(&a) {
                            STATUS_BUFFER_TOO_SMALL
                        } else if a.recv_len > 0 {
                            ctx.kind = OpKind::AcceptData(a);
                            return start_accept_data(ctx);
                        } else {
                            STATUS_SUCCESS
                        }
                    }
                    Err(e) => status_of(&ctx, &Err(e), stop),
                },
                (r, _) => status_of(&ctx, r, stop),
            };
            *a.accept.accept_for.lock() = None;
            finish(ctx, status, 0);
        }
        OpKind::AcceptData(a) => {
            *a.accept.accept_for.lock() = None;
            let status = match &result {
                Err(e) if cport_core::is_aborted(e) => STATUS_CANCELLED,
                r => status_of(&ctx, r, stop),
            };
            finish(ctx, status, *result.as_ref().unwrap_or(&0));
        }
        OpKind::Connect {
            data: Some((ptr, len)),
            ..
        } if result.is_ok() => {
            ctx.kind = OpKind::ConnectData;
            ctx.want = len;
            let Some((_, Some(eh))) = ctx.owner.current() else {
                return finish(ctx, STATUS_CONNECTION_ABORTED, 0);
            };
            // SAFETY: ConnectEx's send buffer stays valid until completion.
            let buf = unsafe { CBuf::new(ptr as *mut u8, len) };
            if let Err((e, ctx)) = relaunch(eh, ctx, vec![buf]) {
                let status = status_of(&ctx, &Err(e), Stop::None);
                finish(ctx, status, 0);
            }
        }
        OpKind::Peek { bufs } if result.is_ok() && stop == Stop::None => {
            finish_peek(ctx, bufs);
        }
        OpKind::Transmit { data, flags } => {
            // The kernel is done with the data: the completion arrived.
            drop(data);
            ctx.kind = OpKind::Transmit {
                data: Vec::new(),
                flags,
            };
            let status = status_of(&ctx, &result, stop);
            let bytes = ctx.base + result.as_ref().copied().unwrap_or(0);
            if nt_success(status) && flags & TF_DISCONNECT != 0 {
                let _ = ctx.owner.disconnect(flags & TF_REUSE_SOCKET != 0);
            }
            finish(ctx, status, bytes);
        }
        kind => {
            ctx.kind = kind;
            let status = status_of(&ctx, &result, stop);
            let bytes = if status == STATUS_BUFFER_OVERFLOW {
                // A truncated datagram: the buffers are full of its start.
                ctx.want
            } else {
                ctx.base + result.as_ref().copied().unwrap_or(0)
            };
            if let OpKind::RecvFrom { from, fromlen } = &ctx.kind {
                if nt_success(status) || status == STATUS_BUFFER_OVERFLOW {
                    write_from(*from, *fromlen, addr);
                }
            }
            finish(ctx, status, bytes);
        }
    }
}

/// Whether an object is a datagram socket.
pub(crate) fn is_datagram(obj: &IoObj) -> bool {
    matches!(obj.kind, ObjKind::Socket { ty, .. } if ty == libc::SOCK_DGRAM)
}

/// WSARecv with MSG_PEEK: data is there (the zero-byte receive completed);
/// copy it into the program's buffers without consuming it. If another
/// receive took it meanwhile, wait again.
fn finish_peek(mut ctx: OpCtx, bufs: Vec<(usize, usize)>) {
    let Some((fd, Some(eh))) = ctx.owner.current() else {
        ctx.kind = OpKind::Peek { bufs };
        return finish(ctx, STATUS_CONNECTION_ABORTED, 0);
    };
    let iov: Vec<libc::iovec> = bufs
        .iter()
        .map(|&(p, l)| libc::iovec {
            iov_base: p as *mut libc::c_void,
            iov_len: l,
        })
        .collect();
    // `finish` needs the kind (it counts the receive as done).
    ctx.kind = OpKind::Peek { bufs: Vec::new() };
    let mut m = crate::sock::msghdr(&iov, std::ptr::null_mut(), 0);
    // SAFETY: the program keeps its WSABUF memory valid until the operation
    // completes (Win32 contract); `iov` outlives the call.
    let n = unsafe { libc::recvmsg(fd, &mut m, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    if n >= 0 {
        let status = if is_datagram(&ctx.owner) && m.msg_flags & libc::MSG_TRUNC != 0 {
            STATUS_BUFFER_OVERFLOW
        } else {
            STATUS_SUCCESS
        };
        return finish(ctx, status, n as usize);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EAGAIN) {
        let first = bufs.first().map_or(0, |b| b.0);
        ctx.kind = OpKind::Peek { bufs };
        // SAFETY: a zero-length buffer: the engine writes nothing into it.
        let wait = unsafe { CBuf::new(first as *mut u8, 0) };
        if let Err((e, ctx)) = relaunch(eh, ctx, vec![wait]) {
            let status = status_of(&ctx, &Err(e), Stop::None);
            finish(ctx, status, 0);
        }
        return;
    }
    let status = status_of(&ctx, &Err(e), Stop::None);
    finish(ctx, status, 0);
}

/// AcceptEx with a receive length: wait for the first data on the new socket.
fn start_accept_data(ctx: OpCtx) {
    let OpKind::AcceptData(a) = &ctx.kind else {
        return finish(ctx, STATUS_INVALID_PARAMETER, 0);
    };
    let Some((_, Some(eh))) = a.accept.current() else {
        return finish(ctx, STATUS_CANCELLED, 0);
    };
    let bufs = stage_bufs(&ctx.kind);
    if let Err((e, ctx)) = relaunch(eh, ctx, bufs) {
        let status = if cport_core::is_aborted(&e) {
            STATUS_CANCELLED
        } else {
            status_of(&ctx, &Err(e), Stop::None)
        };
        finish(ctx, status, 0);
    }
}

/// Starts an operation again, or the follow-up stage of a two-stage one
/// (AcceptEx's first-data receive on the accept socket, ConnectEx's first
/// send). The record stays with the handle the operation was issued on; its
/// target is re-armed, so a cancel or close that comes meanwhile reaches it.
fn relaunch(eh: Handle, ctx: OpCtx, bufs: Vec<CBuf>) -> Result<(), (io::Error, OpCtx)> {
    let owner = ctx.owner.clone();
    if let Some(r) = owner.ops.lock().iter_mut().find(|r| r.token == ctx.token) {
        r.target = None;
    }
    let r = owner.launch(eh, ctx, bufs);
    if r.is_ok() {
        // The next stage is in flight: it ends the operation.
        set_handed_off(true);
    }
    r
}

/// The NTSTATUS an operation ended with (docs/semantics.md).
fn status_of(ctx: &OpCtx, result: &io::Result<usize>, stop: Stop) -> DWORD {
    let stream_io = matches!(
        ctx.kind,
        OpKind::Recv
            | OpKind::Peek { .. }
            | OpKind::Send
            | OpKind::Transmit { .. }
            | OpKind::ConnectData
            | OpKind::Connect { .. }
    );
    let datagram = matches!(ctx.kind, OpKind::RecvFrom { .. } | OpKind::SendTo { .. })
        || matches!(ctx.owner.kind, ObjKind::Socket { ty, .. } if ty == libc::SOCK_DGRAM);
    let is_file = ctx.owner.kind == ObjKind::File;
    // A send or write cut short by a cancel or close (io_uring reports the
    // bytes it did transfer) did not complete.
    let short = matches!(
        ctx.kind,
        OpKind::Send
            | OpKind::SendTo { .. }
            | OpKind::Transmit { .. }
            | OpKind::Write { .. }
            | OpKind::ConnectData
    ) && matches!(result, Ok(n) if *n < ctx.want);
    if stop == Stop::Close {
        // closesocket with the operation pending (a receive that saw the
        // shutdown's end of stream counts too): 1236 for receives and sends.
        let aborted = match result {
            Err(_) => true,
            Ok(0) => {
                matches!(
                    ctx.kind,
                    OpKind::Recv | OpKind::RecvFrom { .. } | OpKind::Peek { .. }
                ) || short
            }
            Ok(_) => short,
        };
        if aborted {
            return if is_file || matches!(ctx.kind, OpKind::Accept(_) | OpKind::AcceptData(_)) {
                STATUS_CANCELLED
            } else {
                STATUS_CONNECTION_ABORTED
            };
        }
    }
    if stop == Stop::Cancel && short {
        return STATUS_CANCELLED;
    }
    let e = match result {
        Ok(0) if matches!(ctx.kind, OpKind::Read { want, .. } if want > 0) => {
            return STATUS_END_OF_FILE;
        }
        Ok(_) => return STATUS_SUCCESS,
        Err(e) => e,
    };
    if cport_core::is_aborted(e) {
        return STATUS_CANCELLED;
    }
    let errno = errno_of(e);
    let status = match errno {
        libc::ETIMEDOUT => STATUS_IO_TIMEOUT,
        libc::ECONNRESET => STATUS_CONNECTION_RESET,
        libc::EPIPE
            if stream_io
                && !ctx.owner.shut_send.load(Ordering::Acquire)
                && ctx.owner.ever_connected.load(Ordering::Acquire) =>
        {
            STATUS_CONNECTION_RESET
        }
        libc::EPIPE if stream_io && !ctx.owner.shut_send.load(Ordering::Acquire) => {
            STATUS_INVALID_CONNECTION
        }
        libc::ECONNREFUSED if datagram => STATUS_PORT_UNREACHABLE,
        libc::ECONNREFUSED => STATUS_CONNECTION_REFUSED,
        libc::ENETUNREACH => STATUS_NETWORK_UNREACHABLE,
        libc::EHOSTUNREACH => STATUS_HOST_UNREACHABLE,
        libc::ENOTCONN => STATUS_INVALID_CONNECTION,
        libc::EBADF => STATUS_INVALID_HANDLE,
        libc::EINVAL => STATUS_INVALID_PARAMETER,
        libc::ENOMEM => STATUS_NO_MEMORY,
        libc::EACCES => STATUS_ACCESS_DENIED,
        libc::EMSGSIZE => STATUS_BUFFER_OVERFLOW,
        _ if is_file => status_carrying(crate::error::errno_to_win32(errno)),
        _ => status_carrying(errno_to_wsa(errno)),
    };
    if status == STATUS_CONNECTION_RESET && !datagram {
        ctx.owner.reset.store(true, Ordering::Release);
    }
    status
}

/// The last step of an engine operation.
pub(crate) fn finish(ctx: OpCtx, status: DWORD, bytes: usize) {
    ctx.owner.take_rec(ctx.token);
    match ctx.kind {
        OpKind::Recv | OpKind::RecvFrom { .. } | OpKind::Peek { .. } => {
            ctx.owner.recv_pending.fetch_sub(1, Ordering::AcqRel);
        }
        OpKind::Send | OpKind::SendTo { .. } | OpKind::Transmit { .. } => {
            ctx.owner.send_pending.fetch_sub(1, Ordering::AcqRel);
        }
        _ => {}
    }
    publish(
        ctx.ov,
        status,
        bytes,
        &ctx.owner,
        ctx.notify,
        ctx.event.as_deref(),
    );
}

/// WSARecvFrom: the source address into the program's `lpFrom`/`lpFromlen`.
fn write_from(from: usize, fromlen: usize, addr: Option<SocketAddr>) {
    let (Some(addr), false, false) = (addr, from == 0, fromlen == 0) else {
        return;
    };
    let sa = socket2::SockAddr::from(addr);
    let fromlen = fromlen as *mut i32;
    // SAFETY: lpFrom / lpFromlen stay valid until the completion (Win32
    // contract); at most *lpFromlen bytes are written into lpFrom.
    unsafe {
        let cap = usize::try_from(*fromlen).unwrap_or(0);
        let n = (sa.len() as usize).min(cap);
        std::ptr::copy_nonoverlapping(sa.as_ptr().cast::<u8>(), from as *mut u8, n);
        *fromlen = sa.len() as i32;
    }
}

/// The bytes of a socket address, as `getsockname` would write them.
pub(crate) fn sockaddr_bytes(addr: SocketAddr) -> Vec<u8> {
    let sa = socket2::SockAddr::from(addr);
    // SAFETY: `sa` holds `sa.len()` initialised bytes of a sockaddr.
    unsafe { std::slice::from_raw_parts(sa.as_ptr().cast::<u8>(), sa.len() as usize) }.to_vec()
}

/// The minimum AcceptEx address block: the address size + 16 (MS-ACCEPTEX).
pub(crate) fn accept_block_len(family: i32) -> usize {
    16 + if family == libc::AF_INET6 {
        std::mem::size_of::<libc::sockaddr_in6>()
    } else {
        std::mem::size_of::<libc::sockaddr_in>()
    }
}

/// AcceptEx: the local and remote address blocks after the first-data area.
/// cport's block format (private, read by its GetAcceptExSockaddrs): the raw
/// sockaddr at the start of each block. `false` if a block is too small.
fn write_accept_addresses(a: &AcceptCtx) -> bool {
    let family = match a.accept.kind {
        ObjKind::Socket { family, .. } => family,
        ObjKind::File => libc::AF_INET,
    };
    let need = accept_block_len(family);
    if (a.local_len != 0 && a.local_len < need) || a.remote_len < need {
        return false;
    }
    let local = a
        .accept
        .current()
        .and_then(|(fd, _)| local_addr(fd))
        .map(sockaddr_bytes);
    let remote = a.peer.map(sockaddr_bytes);
    let base = a.buf as *mut u8;
    // SAFETY: the AcceptEx buffer holds recv_len + local_len + remote_len
    // bytes and stays valid until completion (Win32 contract); each block is
    // zeroed and then gets at most `need` (≤ its length) bytes.
    unsafe {
        if a.local_len > 0 {
            let block = base.add(a.recv_len);
            std::ptr::write_bytes(block, 0, a.local_len);
            if let Some(b) = &local {
                std::ptr::copy_nonoverlapping(b.as_ptr(), block, b.len().min(a.local_len));
            }
        }
        let block = base.add(a.recv_len + a.local_len);
        std::ptr::write_bytes(block, 0, a.remote_len);
        if let Some(b) = &remote {
            std::ptr::copy_nonoverlapping(b.as_ptr(), block, b.len().min(a.remote_len));
        }
    }
    true
}

/// getsockname as a std address.
pub(crate) fn local_addr(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: an all-zero sockaddr_storage is valid; getsockname writes at
    // most `len` bytes into it.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getsockname(fd, (&raw mut ss).cast(), &mut len) != 0 {
            return None;
        }
        let (_, sa) = socket2::SockAddr::try_init(|storage, l| {
            std::ptr::copy_nonoverlapping(
                (&raw const ss).cast::<u8>(),
                storage.cast::<u8>(),
                len as usize,
            );
            *l = len;
            Ok(())
        })
        .ok()?;
        sa.as_socket()
    }
}
