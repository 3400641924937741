//! Sockets and files as the engine sees them ([`IoObj`]): the fd and the
//! port that runs its operations (its *home*), the records of the operations
//! in flight, the association with a C port (where completions are routed),
//! cancelling, closing, and replacing the fd (AcceptEx's accepted
//! connection, TF_REUSE_SOCKET).
//!
//! A handle's fd is registered with a port when its first operation starts:
//! with the C port it is associated with by then — whose waiting threads
//! reap the completions themselves — or else with the engine port. It stays
//! there until the fd is replaced or closed (a later association routes the
//! engine port's completions to the C port by a post).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use cport_core::{Handle, IssueError, Issued, OpId};
use parking_lot::{Mutex, RwLock};

use super::completion::{deliver_here, finish};
use super::cport::CPort;
use super::ops::{start, CBuf, OpCtx};
use super::{engine_for_io, note_io_port, set_nonblocking, EnginePort, PacketValue};
use crate::types::*;

/// What kind of object an [`IoObj`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjKind {
    Socket { family: i32, ty: i32 },
    File,
}

/// The fd behind a socket or file, and whether it was closed.
pub(crate) struct Conn {
    pub fd: RawFd,
    /// The port that owns the fd and runs its operations, once one started.
    pub home: Option<Home>,
    /// The fd while no port owns it (before the first operation, and always
    /// for files opened without FILE_FLAG_OVERLAPPED).
    pub own: Option<OwnedFd>,
    pub closed: bool,
}

/// Where a handle's operations run: a port and the fd's handle on it.
#[derive(Clone)]
pub(crate) struct Home {
    pub port: EnginePort,
    pub h: Handle,
    /// The port runs on io_uring, where a worker's operations are batched.
    pub uring: bool,
}

impl Home {
    /// An operation issued now by the calling thread joins a batch submitted
    /// when the thread returns to `GetQueuedCompletionStatus`: trying the
    /// system call inline first would cost a call of its own.
    pub(crate) fn batches(&self) -> bool {
        self.uring && self.port.is_worker()
    }
}

/// Why an operation is being stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    None,
    Cancel,
    Close,
}

/// An operation in flight, kept by the handle it was issued on.
pub(super) struct Rec {
    pub(super) token: u64,
    ov: usize,
    thread: u64,
    /// The port op; `None` while it is being started.
    pub(super) target: Option<(Home, OpId)>,
    stop: Stop,
}

/// A socket or a file.
pub(crate) struct IoObj {
    pub kind: ObjKind,
    pub overlapped: bool,
    pub conn: RwLock<Conn>,
    pub(super) assoc: Mutex<Option<(Weak<CPort>, usize)>>,
    /// The association was replaced after the fd was registered: its next
    /// operation with none in flight moves it to the new port (see
    /// [`IoObj::io_home`]).
    moved: AtomicBool,
    modes: AtomicU8,
    pub(super) ops: Mutex<Vec<Rec>>,
    /// Receives / sends of this handle in the engine (inline attempts wait
    /// for none, to keep the order of the data).
    pub recv_pending: AtomicUsize,
    pub send_pending: AtomicUsize,
    /// Non-zero while the socket is known to be empty ([`super::known_empty`]).
    pub empty_since: AtomicU64,
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
    /// SO_RCVTIMEO / SO_SNDTIMEO in milliseconds (0: wait forever), for the
    /// blocking receive and send calls.
    pub recv_timeout_ms: AtomicU32,
    pub send_timeout_ms: AtomicU32,
    /// An AcceptEx pending with this socket as its accept socket: (listener, token).
    pub accept_for: Mutex<Option<(Weak<IoObj>, u64)>>,
    /// Delete the file when it is closed (FILE_FLAG_DELETE_ON_CLOSE).
    pub delete_on_close: Mutex<Option<std::path::PathBuf>>,
}

pub(super) static TOKENS: AtomicU64 = AtomicU64::new(1);

/// Some handle's association was replaced while it had a port: operations it
/// had in flight then complete on a port whose waiters may be gone, so
/// `GetQueuedCompletionStatus` also reaps ports nobody waits on (see
/// [`crate::engine::help_reap`]).
pub(crate) static REPLACED_ANY: AtomicBool = AtomicBool::new(false);

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
            moved: AtomicBool::new(false),
            modes: AtomicU8::new(0),
            ops: Mutex::new(Vec::new()),
            recv_pending: AtomicUsize::new(0),
            send_pending: AtomicUsize::new(0),
            empty_since: AtomicU64::new(0),
            reset: AtomicBool::new(false),
            shut_send: AtomicBool::new(false),
            ever_connected: AtomicBool::new(false),
            connected_at: Mutex::new(None),
            nonblocking: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            reuse_addr: AtomicBool::new(false),
            exclusive_addr: AtomicBool::new(false),
            blocked: AtomicUsize::new(0),
            recv_timeout_ms: AtomicU32::new(0),
            send_timeout_ms: AtomicU32::new(0),
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

    /// The fd, unless closed.
    pub(crate) fn current(&self) -> Option<RawFd> {
        let c = self.conn.read();
        (!c.closed).then_some(c.fd)
    }

    /// The port that runs this handle's operations, registering the fd on
    /// the first call: with the associated C port if there is one (open),
    /// else with the engine port. `None` if the handle is closed, is a
    /// non-overlapped file, or the registration failed.
    pub(crate) fn io_home(&self) -> Option<Home> {
        if self.moved.load(Ordering::Acquire) {
            self.move_home();
        }
        {
            let c = self.conn.read();
            if c.closed {
                return None;
            }
            if let Some(home) = &c.home {
                return Some(home.clone());
            }
        }
        if !self.overlapped {
            return None;
        }
        let mut c = self.conn.write();
        if c.closed {
            return None;
        }
        if c.home.is_none() {
            let fd = c.own.take()?;
            match self.register(fd) {
                Ok(home) => c.home = Some(home),
                Err(_) => {
                    // The fd is closed (`register` consumed it): the handle
                    // is dead now.
                    c.closed = true;
                    return None;
                }
            }
        }
        c.home.clone()
    }

    /// Records the association with a completion port; `false` if the handle
    /// is associated already.
    pub(crate) fn associate(&self, port: &Arc<CPort>, key: usize) -> bool {
        let mut a = self.assoc.lock();
        if a.is_some() {
            return false;
        }
        *a = Some((Arc::downgrade(port), key));
        true
    }

    /// Replaces the association (FileReplaceCompletionInformation): with
    /// another port and key, or with none (`None`). Completions of
    /// operations still in flight go where the handle is associated when
    /// they complete; the handle's operations keep running where they run.
    pub(crate) fn replace_association(&self, to: Option<(&Arc<CPort>, usize)>) {
        // Operations already cancelled or closed finish first, to the port
        // they were issued under: Windows' sockets complete a cancelled
        // request within the cancel, so its packet precedes the replacement
        // (Asio's `release()` cancels, then replaces, and waits for those
        // packets). Bounded, like every wait for the kernel.
        let stopped = || !self.ops.lock().iter().any(|r| r.stop != Stop::None);
        let _ = super::signal::OVERLAPPED
            .wait_until(Some(std::time::Duration::from_secs(1)), || {
                stopped().then_some(())
            });
        *self.assoc.lock() = to.map(|(port, key)| (Arc::downgrade(port), key));
        if self.conn.read().home.is_some() {
            self.moved.store(true, Ordering::Release);
            REPLACED_ANY.store(true, Ordering::Release);
        }
    }

    pub(crate) fn set_modes(&self, modes: u8) {
        self.modes.fetch_or(modes, Ordering::AcqRel);
    }

    /// Skip mode applies: the handle is in it and associated with a port.
    pub(super) fn skips_on_success(&self) -> bool {
        self.modes.load(Ordering::Acquire) & FILE_SKIP_COMPLETION_PORT_ON_SUCCESS as u8 != 0
            && self.assoc.lock().is_some()
    }

    /// After its association was replaced, and with no operation in flight,
    /// the handle's fd (a duplicate: the old port closes the original) is
    /// registered afresh, with its new port or the engine port, so that its
    /// operations run where their packets go.
    fn move_home(&self) {
        let mut c = self.conn.write();
        // Operations in the kernel end where they run; a later operation
        // moves the handle. (Records without a target are operations being
        // started, the caller's among them: they ask for their home after
        // recording themselves, so they start on the new port.)
        if c.closed || self.ops.lock().iter().any(|r| r.target.is_some()) {
            return;
        }
        if !self.moved.swap(false, Ordering::AcqRel) || c.home.is_none() {
            return;
        }
        // SAFETY: fcntl on the handle's own open fd; no pointers.
        let dup = unsafe { libc::fcntl(c.fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return;
        }
        // SAFETY: the fd was just made by fcntl and nothing else owns it.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dup) };
        if let Ok(home) = self.register(fd) {
            c.fd = dup;
            let old = c.home.replace(home);
            drop(c);
            if let Some(old) = old {
                let _ = old.port.close_handle(old.h);
            }
        }
    }

    /// Registers `fd` with the port this handle's operations should run on:
    /// the associated C port (if open), else the engine port. On failure
    /// the fd is closed.
    fn register(&self, fd: OwnedFd) -> io::Result<Home> {
        let cport = self
            .assoc
            .lock()
            .as_ref()
            .and_then(|(w, _)| w.upgrade())
            .filter(|p| !p.is_closed());
        let port = match &cport {
            Some(p) => p.port.clone(),
            None => match engine_for_io() {
                Some(e) => e.port.clone(),
                None => return Err(io::Error::from_raw_os_error(libc::ENOMEM)),
            },
        };
        let h = port.associate(fd, 0)?;
        if cport.is_some() {
            note_io_port(&port);
        }
        let uring = port.backend() == cport_core::BackendKind::Uring;
        Ok(Home { port, h, uring })
    }

    /// Queues a completion packet on the associated port, if any (and
    /// open): handed back to the completion filter running on that very
    /// port (see [`deliver_here`]), posted otherwise.
    pub(super) fn route(&self, bytes: u32, ov: usize, status: DWORD) {
        let target = self.assoc.lock().as_ref().map(|(w, k)| (w.clone(), *k));
        if let Some((port, key)) = target {
            if let Some(port) = port.upgrade() {
                if !deliver_here(&port, key, bytes, ov, status) {
                    port.post(key, bytes, ov, status);
                }
            }
        }
    }

    pub(super) fn add_rec(&self, token: u64, ov: usize) {
        self.ops.lock().push(Rec {
            token,
            ov,
            thread: thread_id(),
            target: None,
            stop: Stop::None,
        });
    }

    /// Forgets a record; returns why it was being stopped.
    pub(super) fn take_rec(&self, token: u64) -> Stop {
        let mut ops = self.ops.lock();
        match ops.iter().position(|r| r.token == token) {
            Some(i) => ops.swap_remove(i).stop,
            None => Stop::None,
        }
    }

    pub(super) fn stop_of(&self, token: u64) -> Stop {
        self.ops
            .lock()
            .iter()
            .find(|r| r.token == token)
            .map_or(Stop::None, |r| r.stop)
    }

    /// Marks the matching records as stopped by `why` and cancels their
    /// engine operations. Returns how many matched.
    pub(super) fn stop_where(&self, why: Stop, pred: impl Fn(&Rec) -> bool) -> usize {
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
                if let Some(t) = &r.target {
                    targets.push(t.clone());
                }
            }
        }
        for (home, op) in targets {
            // NotFound: it completed meanwhile; its packet is on its way.
            let _ = home.port.cancel_op(home.h, op);
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

    /// Starts the operation `ctx.kind` describes, on `home` (this handle's
    /// [`io_home`](IoObj::io_home)), for the record `ctx.token` (added
    /// already). On a synchronous
    /// failure the record is gone and the error comes back with the context.
    ///
    /// # Safety
    /// The program's memory the operation uses — `bufs`, and the pointers in
    /// `ctx.kind` (WSARecvFrom's `lpFrom`/`lpFromlen`, the MSG_PEEK buffers,
    /// AcceptEx's output buffer, ConnectEx's send buffer) — must stay valid
    /// for reads and writes of their lengths until the operation's completion
    /// is published (the Win32 contract of the call that issued it). The
    /// engine's completion filter relies on this for every packet.
    pub(crate) unsafe fn launch(
        &self,
        home: &Home,
        ctx: OpCtx,
        bufs: Vec<CBuf>,
    ) -> Result<(), (io::Error, OpCtx)> {
        let token = ctx.token;
        match start(&home.port, home.h, ctx, bufs) {
            Ok(Issued::Pending(id)) => {
                let cancel = {
                    let mut ops = self.ops.lock();
                    match ops.iter_mut().find(|r| r.token == token) {
                        Some(r) => {
                            r.target = Some((home.clone(), id));
                            r.stop != Stop::None
                        }
                        None => false, // completed already
                    }
                };
                if cancel {
                    let _ = home.port.cancel_op(home.h, id);
                }
                super::started_on(&home.port);
                Ok(())
            }
            Ok(Issued::Completed {
                bytes,
                value: PacketValue::Op(ctx),
                ..
            }) => {
                // Only with the library's skip mode, which cport-ffi does not use.
                finish(ctx, STATUS_SUCCESS, bytes);
                Ok(())
            }
            Ok(Issued::Completed { .. }) => Ok(()),
            Err(IssueError { error, value, .. }) => {
                self.take_rec(token);
                match value {
                    PacketValue::Op(ctx) => Err((error, ctx)),
                    // Every operation is started with its context.
                    PacketValue::Done(_) => Ok(()),
                }
            }
        }
    }

    /// closesocket / CloseHandle: stops every operation with "closed", wakes
    /// threads blocked on the socket, and closes the fd once the engine has
    /// no operation on it any more.
    pub(crate) fn close(&self) {
        let (fd, home, own) = {
            // Waits for threads inside a (non-blocking) system call on the fd.
            let mut c = self.conn.write();
            c.closed = true;
            (c.fd, c.home.take(), c.own.take())
        };
        self.stop_where(Stop::Close, |_| true);
        // An AcceptEx that would fill this (accept) socket is aborted (995).
        if let Some((listener, token)) = self.accept_for.lock().take() {
            if let Some(l) = listener.upgrade() {
                l.stop_where(Stop::Cancel, |r| r.token == token);
            }
        }
        if self.blocked.load(Ordering::SeqCst) > 0 && self.is_socket() {
            // SAFETY: the fd is still open (its port closes it only in
            // `close_handle` below, or `own` when dropped); shutdown only
            // wakes blocked callers.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
        if let Some(home) = home {
            let _ = home.port.close_handle(home.h);
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
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOTSOCK))?;
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
    pub(super) fn renew(&self) -> io::Result<()> {
        let ObjKind::Socket { family, ty } = self.kind else {
            return Err(io::Error::from_raw_os_error(libc::ENOTSOCK));
        };
        // SAFETY: plain syscall, no pointers.
        let raw = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socket() returned a new fd that nothing else owns.
        let fresh = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        set_nonblocking(raw)?;
        self.install(fresh, libc::ENOTSOCK)?;
        self.reset.store(false, Ordering::Release);
        self.shut_send.store(false, Ordering::Release);
        self.ever_connected.store(false, Ordering::Release);
        *self.connected_at.lock() = None;
        self.listening.store(false, Ordering::Release);
        Ok(())
    }

    /// AcceptEx: makes this (accept) socket the accepted connection `stream`.
    pub(super) fn adopt(&self, stream: OwnedFd) -> io::Result<()> {
        set_nonblocking(stream.as_raw_fd())?;
        self.install(stream, libc::ECANCELED)?;
        self.mark_connected();
        Ok(())
    }

    /// Makes `fd` this socket's fd (registered with a port at its first
    /// operation, see [`io_home`](IoObj::io_home)). The old fd's port handle
    /// is closed: operations still on it end, then its port closes that fd.
    /// If the socket was closed meanwhile, `fd` is closed instead and the
    /// call fails with `if_closed`.
    pub(super) fn install(&self, fd: OwnedFd, if_closed: i32) -> io::Result<()> {
        let (old_home, old_own) = {
            let mut c = self.conn.write();
            if c.closed {
                drop(c);
                drop(fd);
                return Err(io::Error::from_raw_os_error(if_closed));
            }
            c.fd = fd.as_raw_fd();
            (c.home.take(), c.own.replace(fd))
        };
        if let Some(old) = old_home {
            let _ = old.port.close_handle(old.h);
        }
        drop(old_own);
        Ok(())
    }
}

/// Whether an object is a datagram socket.
pub(crate) fn is_datagram(obj: &IoObj) -> bool {
    matches!(obj.kind, ObjKind::Socket { ty, .. } if ty == libc::SOCK_DGRAM)
}
