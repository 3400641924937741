//! Sockets and files as the engine sees them ([`IoObj`]): the fd, the
//! records of the operations in flight, the association with a C port
//! (where completions are routed), cancelling, closing, and replacing the fd
//! (AcceptEx's accepted connection, TF_REUSE_SOCKET).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use cport_core::{Handle, IssueError, Issued, OpId};
use parking_lot::{Mutex, RwLock};

use super::completion::finish;
use super::cport::CPort;
use super::ops::{start, CBuf, OpCtx};
use super::{engine, set_nonblocking, Engine};
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
pub(super) struct Rec {
    pub(super) token: u64,
    ov: usize,
    thread: u64,
    /// The engine op; `None` while it is being started.
    pub(super) target: Option<(Handle, OpId)>,
    stop: Stop,
}

/// A socket or a file.
pub(crate) struct IoObj {
    pub kind: ObjKind,
    pub overlapped: bool,
    pub conn: RwLock<Conn>,
    pub(super) assoc: Mutex<Option<(Weak<CPort>, usize)>>,
    modes: AtomicU8,
    pub(super) ops: Mutex<Vec<Rec>>,
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

    /// The fd and engine handle, unless closed.
    pub(crate) fn current(&self) -> Option<(RawFd, Option<Handle>)> {
        let c = self.conn.read();
        (!c.closed).then_some((c.fd, c.eh))
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

    pub(crate) fn set_modes(&self, modes: u8) {
        self.modes.fetch_or(modes, Ordering::AcqRel);
    }

    /// Skip mode applies: the handle is in it and associated with a port.
    pub(super) fn skips_on_success(&self) -> bool {
        self.modes.load(Ordering::Acquire) & FILE_SKIP_COMPLETION_PORT_ON_SUCCESS as u8 != 0
            && self.assoc.lock().is_some()
    }

    /// Posts a completion packet to the associated port, if any (and open).
    pub(super) fn route(&self, bytes: u32, ov: usize, status: DWORD) {
        let target = self.assoc.lock().as_ref().map(|(w, k)| (w.clone(), *k));
        if let Some((port, key)) = target {
            if let Some(port) = port.upgrade() {
                port.post(key, bytes, ov, status);
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
    pub(super) fn renew(&self) -> io::Result<()> {
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
    pub(super) fn adopt(&self, stream: OwnedFd) -> io::Result<()> {
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
    pub(super) fn install(
        &self,
        e: &Engine,
        fd: RawFd,
        eh: Handle,
        if_closed: i32,
    ) -> io::Result<()> {
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

/// Whether an object is a datagram socket.
pub(crate) fn is_datagram(obj: &IoObj) -> bool {
    matches!(obj.kind, ObjKind::Socket { ty, .. } if ty == libc::SOCK_DGRAM)
}
