//! Operations: the program's buffers ([`CBuf`]), what each operation does
//! ([`OpKind`], [`OpCtx`]), starting one on the engine port, the start of an
//! overlapped call ([`prepare`]), atomic access to `OVERLAPPED.Internal`,
//! and the synchronous reads and writes of non-overlapped handles.

use std::ffi::c_void;
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cport_core::{Handle, IoBuf, IoBufMut, IssueError};

use super::routing::{is_datagram, IoObj, TOKENS};
use super::signal::Event;
use super::{EnginePort, PacketValue, Started};
use crate::error::errno;
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
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

// SAFETY: as above; the program lends the memory for writing too. It is the
// program's memory: what counts as initialised is the program's business, so
// `set_init` records nothing (the completion's byte count says what arrived).
unsafe impl IoBufMut for CBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, _n: usize) {}
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
    /// WSARecvMsg: where `WSAMSG.name`, `.namelen`, `.Control.len` and
    /// `.dwFlags` are (0: no name), written at completion from what the
    /// receive reported (`got`, filled in by the completion filter).
    RecvMsg {
        name: usize,
        namelen: usize,
        control_len: usize,
        flags: usize,
        got: Option<cport_core::MsgInfo>,
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
pub(super) fn start(port: &EnginePort, h: Handle, ctx: OpCtx, mut bufs: Vec<CBuf>) -> Started {
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
            op.recv(bufs.remove(0), PacketValue::Op(ctx))
        }
        (OpKind::Recv, _) => op.recv_vectored(bufs, PacketValue::Op(ctx)),
        (OpKind::Send, _) if bufs.len() == 1 => op.send(bufs.remove(0), PacketValue::Op(ctx)),
        (OpKind::Send, _) => op.send_vectored(bufs, PacketValue::Op(ctx)),
        (OpKind::RecvFrom { .. }, Some(b)) => op.recv_from(b, PacketValue::Op(ctx)),
        // The last buffer is the control buffer.
        (OpKind::RecvMsg { .. }, Some(control)) => op.recv_msg(bufs, control, PacketValue::Op(ctx)),
        (OpKind::SendTo { to }, Some(b)) => {
            let to = *to;
            op.send_to(b, to, PacketValue::Op(ctx))
        }
        (OpKind::Read { offset, .. }, Some(b)) => {
            let offset = *offset;
            op.read_at(b, offset, PacketValue::Op(ctx))
        }
        (OpKind::Write { offset }, Some(b)) => {
            let offset = *offset;
            op.write_at(b, offset, PacketValue::Op(ctx))
        }
        (OpKind::AcceptData(_), Some(b)) | (OpKind::Peek { .. }, Some(b)) => {
            op.recv(b, PacketValue::Op(ctx))
        }
        (OpKind::ConnectData, Some(b)) | (OpKind::Transmit { .. }, Some(b)) => {
            op.send(b, PacketValue::Op(ctx))
        }
        (OpKind::Accept(_), _) => op.accept(PacketValue::Op(ctx)),
        (OpKind::Connect { to, .. }, _) => {
            let to = *to;
            op.connect(to, PacketValue::Op(ctx))
        }
        (_, one) => Err(IssueError {
            error: io::Error::from_raw_os_error(libc::EINVAL),
            value: PacketValue::Op(ctx),
            buf: one,
            bufs,
        }),
    }
}

/// The buffers of the operation a context describes (for the follow-up
/// stages, whose buffers live in the context).
///
/// # Safety
/// The buffers named in `kind` must stay valid until the operation's
/// completion is published.
pub(super) unsafe fn stage_bufs(kind: &OpKind) -> Vec<CBuf> {
    match kind {
        // SAFETY: AcceptEx's output buffer stays valid until completion
        // (caller contract).
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
    /// The program's `OVERLAPPED*`, valid until the completion is published:
    /// an `OpCtx` is made only from a [`Prepared`] (whose constructor,
    /// `prepare`, is unsafe), except the empty one `on_complete` leaves in a
    /// packet it has taken the context from, which is dropped unused.
    pub(super) ov: usize,
    /// The handle the operation was issued on: its record, its association.
    pub owner: Arc<IoObj>,
    pub event: Option<Arc<Event>>,
    /// `false` when hEvent's low bit suppresses the packet.
    pub notify: bool,
    /// A completion routine that ends the operation instead of the packet.
    pub apc: Option<ApcTarget>,
    /// Bytes transferred inline before the engine took over (a partial send).
    pub base: usize,
    /// Bytes the engine operation was asked to transfer.
    pub want: usize,
    pub kind: OpKind,
}

/// The start of an overlapped operation: `hEvent` resolved, `Internal` set to
/// `STATUS_PENDING`, the event reset, a record added. Only [`prepare`] makes
/// one, from its caller's promise that the `OVERLAPPED` stays valid until the
/// operation's completion is published; so the functions that end an
/// operation through a `Prepared` may write it.
pub(crate) struct Prepared {
    pub(super) token: u64,
    pub(super) ov: usize,
    pub(super) event: Option<Arc<Event>>,
    pub(super) notify: bool,
    pub(super) apc: Option<ApcTarget>,
}

/// A completion routine (`WSARecv`'s `lpCompletionRoutine`, `ReadFileEx`'s):
/// the operation ends as an APC to the issuing thread instead of a packet
/// or an event.
#[derive(Clone, Copy)]
pub(crate) struct ApcTarget {
    /// The issuing thread's id.
    pub tid: u32,
    /// Which thread of that id (ids are reused): its APC queue's serial
    /// number, 0 if it has none (then the routine is dropped).
    pub serial: u64,
    /// The routine's address (never 0).
    pub routine: usize,
    /// `true`: a Winsock routine (`dwError` is a WSA error, and it takes
    /// `dwFlags`); `false`: a `FileIOCompletionRoutine`.
    pub winsock: bool,
}

/// Delivers a completion routine: queues it as an APC to `target.tid` with
/// the operation's NTSTATUS, byte count and `OVERLAPPED*`. Registered by the
/// APC family (the engine does not depend on it).
pub(crate) type ApcSink = fn(ApcTarget, DWORD, usize, usize);

/// The registered [`ApcSink`].
pub(crate) static APC_SINK: std::sync::OnceLock<ApcSink> = std::sync::OnceLock::new();

impl OpCtx {
    /// An operation that could not be started (`launch` failed, its record
    /// is gone): the `OVERLAPPED` records the failure; nothing is queued.
    pub(crate) fn fail_sync(self, status: DWORD) {
        // SAFETY: `ov` is the program's OVERLAPPED, valid until the
        // operation's completion is published (field invariant); this
        // operation never started, so nothing else writes it.
        unsafe { store_status(self.ov as *mut OVERLAPPED, status) };
    }
}

impl Prepared {
    /// The operation's record in its handle.
    pub(crate) fn token(&self) -> u64 {
        self.token
    }

    /// The operation ends by queueing `target`'s routine to the issuing
    /// thread: no packet, no event (Windows ignores `hEvent` then).
    pub(crate) fn with_routine(mut self, target: ApcTarget) -> Prepared {
        self.event = None;
        self.notify = false;
        self.apc = Some(target);
        self
    }

    pub(crate) fn into_ctx(self, owner: Arc<IoObj>, kind: OpKind) -> OpCtx {
        OpCtx {
            token: self.token,
            ov: self.ov,
            owner,
            event: self.event,
            notify: self.notify,
            apc: self.apc,
            base: 0,
            want: 0,
            kind,
        }
    }
}

/// Marks the `OVERLAPPED` pending, resets the operation's event (the one
/// `hEvent` names, resolved by the caller; `notify` is false when its low
/// bit suppresses the packet) and adds the operation's record.
///
/// # Safety
/// `ov` must be non-NULL and point to an `OVERLAPPED` the program keeps valid
/// until the operation completes.
pub(crate) unsafe fn prepare(
    owner: &IoObj,
    ov: *mut OVERLAPPED,
    event: Option<Arc<Event>>,
    notify: bool,
) -> Prepared {
    // SAFETY: `ov` is valid (caller contract).
    unsafe { store_status(ov, STATUS_PENDING) };
    if let Some(e) = &event {
        e.reset();
    }
    let token = TOKENS.fetch_add(1, Ordering::Relaxed);
    owner.add_rec(token, ov as usize);
    Prepared {
        token,
        ov: ov as usize,
        event,
        notify,
        apc: None,
    }
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

/// A `msghdr` over `iov`, with an optional address buffer.
pub(crate) fn msghdr(iov: &[libc::iovec], name: *mut c_void, namelen: u32) -> libc::msghdr {
    // SAFETY: an all-zero msghdr is valid.
    let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
    m.msg_iov = iov.as_ptr() as *mut libc::iovec;
    m.msg_iovlen = iov.len();
    m.msg_name = name;
    m.msg_namelen = namelen;
    m
}

/// The 64-bit file offset in `Offset`/`OffsetHigh`.
///
/// # Safety
/// `ov` must point to a valid `OVERLAPPED`.
pub(crate) unsafe fn file_offset(ov: *const OVERLAPPED) -> u64 {
    // SAFETY: `ov` is valid (caller contract).
    unsafe { u64::from((*ov).Offset) | (u64::from((*ov).OffsetHigh) << 32) }
}

/// A synchronous read or write on the calling thread, as a blocking section
/// of its port.
///
/// # Safety
/// `buf` must be valid for writes (a read) or reads (a write) of `len` bytes.
pub(crate) unsafe fn sync_rw(
    fd: RawFd,
    write: bool,
    buf: *mut u8,
    len: usize,
    offset: Option<u64>,
) -> Result<usize, i32> {
    crate::engine::cport::blocking(|| {
        let mut done = 0;
        loop {
            // SAFETY: the program's buffer is valid for `len` bytes (caller
            // contract) and `done < len`.
            let n = unsafe {
                let p = buf.add(done);
                let left = len - done;
                match (write, offset) {
                    (false, Some(o)) => {
                        libc::pread(fd, p.cast(), left, (o + done as u64) as libc::off_t)
                    }
                    (false, None) => libc::read(fd, p.cast(), left),
                    (true, Some(o)) => {
                        libc::pwrite(fd, p.cast(), left, (o + done as u64) as libc::off_t)
                    }
                    (true, None) => libc::write(fd, p.cast(), left),
                }
            };
            if n < 0 {
                match errno() {
                    libc::EINTR => continue,
                    e => return Err(e),
                }
            }
            done += n as usize;
            if !write || n == 0 || done >= len {
                return Ok(done);
            }
        }
    })
}
