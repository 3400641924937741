//! Completion: the ports' completion filter, the NTSTATUS of a
//! finished operation, the results it writes into the program's memory, and
//! the publication that ends every operation — `OVERLAPPED` (`InternalHigh`,
//! then `Internal`, the last write), `GetOverlappedResult` waiters, the
//! packet to the associated C port, the event. Also the operations that end
//! on the calling thread (inline completion, synchronous failure).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cport_core::Packet;

use super::cport::{CPort, Entry};
use super::ops::{
    load_status, msghdr, stage_bufs, store_status, AcceptCtx, ApcTarget, CBuf, OpCtx, OpKind,
    Prepared, APC_SINK,
};
use super::routing::{is_datagram, Home, IoObj, ObjKind, Stop};
use super::signal::{self, Event};
use super::{PacketValue, PANIC_NEXT_COMPLETION};
use crate::error::{errno_of, errno_to_wsa, status_carrying};
use crate::types::*;

thread_local! {
    /// The C port whose completion filter runs on this thread (its address;
    /// 0: the engine port's, or none).
    static REAPING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The packet the operation being published queues on that same port:
    /// (key, bytes, `OVERLAPPED*`, status).
    static DELIVER: std::cell::Cell<Option<(usize, u32, usize, DWORD)>> =
        const { std::cell::Cell::new(None) };
    /// Set once the completion being handled on this thread is out of the
    /// filter's hands: its `OVERLAPPED` was (being) published, or a
    /// follow-up stage is in flight. After a panic the filter publishes a
    /// failure only if this is still unset.
    static HANDED_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(super) fn set_handed_off(v: bool) {
    let _ = HANDED_OFF.try_with(|c| c.set(v));
}

/// Ends an operation that completed inline (on the calling thread): the
/// OVERLAPPED, the event, and a packet unless skip mode or the low bit.
/// Returns whether a packet was queued.
pub(crate) fn complete_inline(p: Prepared, owner: &IoObj, bytes: usize) -> bool {
    owner.take_rec(p.token);
    let notify = p.notify && !owner.skips_on_success();
    // SAFETY: a `Prepared` holds the program's OVERLAPPED, valid until this
    // publication (see `Prepared`); the record is gone, so nothing else ends it.
    unsafe {
        publish(
            p.ov,
            STATUS_SUCCESS,
            bytes,
            owner,
            notify,
            p.event.as_deref(),
            p.apc,
        )
    };
    notify
}

/// Ends an operation that completed inline with a warning status (a
/// truncated datagram: `STATUS_BUFFER_OVERFLOW`). A warning is not an error
/// to the I/O manager, so the packet is queued (skip mode does not apply:
/// that is for success), but the call itself reports the error.
pub(crate) fn complete_inline_warning(p: Prepared, owner: &IoObj, status: DWORD, bytes: usize) {
    owner.take_rec(p.token);
    // SAFETY: as in `complete_inline`.
    unsafe {
        publish(
            p.ov,
            status,
            bytes,
            owner,
            p.notify,
            p.event.as_deref(),
            p.apc,
        )
    };
}

/// Ends an operation that failed synchronously: nothing is queued; the
/// `OVERLAPPED` records the failure unless `keep_pending` (AcceptEx and
/// ConnectEx leave `STATUS_PENDING`, as Windows does).
pub(crate) fn fail_sync(p: Prepared, owner: &IoObj, status: DWORD, keep_pending: bool) {
    owner.take_rec(p.token);
    if !keep_pending {
        // SAFETY: a `Prepared` holds the program's OVERLAPPED, valid until
        // the operation's completion is published (see `Prepared`).
        unsafe { store_status(p.ov as *mut OVERLAPPED, status) };
    }
}

/// The last step of every operation. After `Internal` is written the program
/// may free the `OVERLAPPED` and the buffers: nothing touches them afterwards.
///
/// # Safety
/// `ov` must point to the operation's `OVERLAPPED`, still valid (its
/// completion not yet published: this is the one publication).
unsafe fn publish(
    ov: usize,
    status: DWORD,
    bytes: usize,
    owner: &IoObj,
    notify: bool,
    ev: Option<&Event>,
    apc: Option<ApcTarget>,
) {
    // From here on the OVERLAPPED may be visible: never publish twice.
    set_handed_off(true);
    let ovp = ov as *mut OVERLAPPED;
    // SAFETY: `ov` is valid until this publication (caller contract); the
    // store of `Internal` is what makes the completion observable.
    unsafe {
        std::ptr::write_volatile(&raw mut (*ovp).InternalHigh, bytes);
        store_status(ovp, status);
    }
    signal::OVERLAPPED.kick();
    if let Some(target) = apc {
        // A completion routine: its APC is the operation's one notification.
        if let Some(sink) = APC_SINK.get() {
            sink(target, status, bytes, ov);
        }
        return;
    }
    if notify {
        owner.route(bytes as u32, ov, status);
    }
    if let Some(e) = ev {
        e.set();
    }
}

/// The completion filter of a port: the engine port's (`me` 0) or the C
/// port at address `me`. It publishes the operation; a packet for the port
/// it runs on becomes this packet (queued by the library, possibly handed
/// straight to the reaping thread), any other is posted where it belongs.
pub(crate) fn filter(
    me: usize,
) -> impl Fn(&mut Packet<usize, PacketValue, CBuf>) -> bool + Send + Sync + 'static {
    move |p| {
        if !matches!(p.value, PacketValue::Op(_)) {
            return true;
        }
        let outer = REAPING.try_with(|r| r.replace(me)).unwrap_or(0);
        let _ = DELIVER.try_with(|d| d.set(None));
        on_complete(p);
        let _ = REAPING.try_with(|r| r.set(outer));
        match DELIVER.try_with(|d| d.take()).ok().flatten() {
            Some((key, bytes, ov, status)) => {
                p.key = key;
                p.result = Ok(bytes as usize);
                p.value = PacketValue::Done(Entry { ov, status });
                p.buf = None;
                true
            }
            None => false,
        }
    }
}

/// Called when a completion's packet goes to `port`: if that port's own
/// completion filter is running on this thread, the packet is handed back to
/// it (no post, no second trip through the queue's wake-ups) and `true`
/// returned; `false` means the caller posts it.
pub(super) fn deliver_here(
    port: &Arc<CPort>,
    key: usize,
    bytes: u32,
    ov: usize,
    status: DWORD,
) -> bool {
    let here = REAPING.try_with(|r| r.get()).unwrap_or(0);
    if here == 0 || here != Arc::as_ptr(port) as usize {
        return false;
    }
    if !port.is_closed() {
        let _ = DELIVER.try_with(|d| d.set(Some((key, bytes, ov, status))));
    }
    // Closed: the packet is dropped, as a post to a closed port would be.
    true
}

/// Publishes the operation whose packet the filter holds (see the module docs).
fn on_complete(p: &mut Packet<usize, PacketValue, CBuf>) {
    let result = std::mem::replace(&mut p.result, Ok(0));
    // Any accepted socket (TCP or Unix): the engine only needs its fd.
    let stream = p.take_accepted_fd().map(std::net::TcpStream::from);
    let addr = p.addr();
    let placeholder = PacketValue::Done(Entry { ov: 0, status: 0 });
    let PacketValue::Op(mut ctx) = std::mem::replace(&mut p.value, placeholder) else {
        return;
    };
    if let OpKind::RecvMsg { got, .. } = &mut ctx.kind {
        *got = p.msg_info();
    }
    if matches!(ctx.kind, OpKind::Recv) {
        super::known_empty::receive_completed(&ctx.owner, cport_core::filtered_receive_drained());
    }
    // What is needed to end the operation if its handling panics.
    let fallback = Fallback {
        token: ctx.token,
        ov: ctx.ov,
        owner: ctx.owner.clone(),
        event: ctx.event.clone(),
        notify: ctx.notify,
        apc: ctx.apc,
        counter: match ctx.kind {
            OpKind::Recv
            | OpKind::RecvFrom { .. }
            | OpKind::RecvMsg { .. }
            | OpKind::Peek { .. } => Some(true),
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
            panic!("cport_debug_panic_in_completion: a test of the completion panic guard");
        }
        // SAFETY: every operation packet of a port comes from an operation
        // `launch` started, whose caller promised that the program memory it
        // uses stays valid until its completion is published — which is
        // what `complete` does, once.
        unsafe { complete(ctx, result, stream.map(OwnedFd::from), addr) };
    }));
    if handled.is_err() && !HANDED_OFF.try_with(|c| c.get()).unwrap_or(true) {
        // SAFETY: the handling panicked before anything was published (or a
        // next stage started), so the OVERLAPPED is still the program's
        // valid one, and this is its one publication.
        unsafe { fallback.fail() };
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
    apc: Option<ApcTarget>,
    /// `Some(true)`: a receive, `Some(false)`: a send (their in-flight counts).
    counter: Option<bool>,
    /// An AcceptEx's accept socket: no longer waiting for this AcceptEx.
    accept: Option<Arc<IoObj>>,
}

impl Fallback {
    /// # Safety
    /// The operation's completion must not have been published yet: `ov` is
    /// then still the program's valid `OVERLAPPED`.
    unsafe fn fail(self) {
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
            // SAFETY: not published yet (caller contract).
            unsafe {
                publish(
                    self.ov,
                    status_carrying(ERROR_INTERNAL_ERROR),
                    0,
                    &self.owner,
                    self.notify,
                    self.event.as_deref(),
                    self.apc,
                )
            };
        }));
    }
}

/// An engine operation finished with `result`: its results go into the
/// program's memory, and it is published (or its next stage started).
///
/// # Safety
/// As for [`IoObj::launch`]: the program memory `ctx` names is valid until
/// the operation's completion is published.
pub(crate) unsafe fn complete(
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
                        // SAFETY: AcceptEx's output buffer is valid until the
                        // completion is published (caller contract).
                        if !unsafe { write_accept_addresses(&a) } {
                            STATUS_BUFFER_TOO_SMALL
                        } else if a.recv_len > 0 {
                            ctx.kind = OpKind::AcceptData(a);
                            // SAFETY: as above.
                            return unsafe { start_accept_data(ctx) };
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
            let Some(home) = ctx.owner.io_home() else {
                return finish(ctx, STATUS_CONNECTION_ABORTED, 0);
            };
            // SAFETY: ConnectEx's send buffer stays valid until completion.
            let buf = unsafe { CBuf::new(ptr as *mut u8, len) };
            // SAFETY: the same operation's memory (caller contract).
            if let Err((e, ctx)) = unsafe { relaunch(&home, ctx, vec![buf]) } {
                let status = status_of(&ctx, &Err(e), Stop::None);
                finish(ctx, status, 0);
            }
        }
        OpKind::Peek { bufs } if result.is_ok() && stop == Stop::None => {
            // SAFETY: the WSARecv buffers are valid until completion (caller
            // contract).
            unsafe { finish_peek(ctx, bufs) };
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
                    // SAFETY: lpFrom/lpFromlen are valid until completion
                    // (caller contract).
                    unsafe { write_from(*from, *fromlen, addr) };
                }
            }
            if let OpKind::RecvMsg {
                name,
                namelen,
                control_len,
                flags,
                got: Some(got),
            } = &ctx.kind
            {
                if nt_success(status) || status == STATUS_BUFFER_OVERFLOW {
                    // SAFETY: the WSAMSG and its name buffer are valid until
                    // completion (caller contract).
                    unsafe { write_msg(*name, *namelen, *control_len, *flags, *got, addr) };
                }
            }
            finish(ctx, status, bytes);
        }
    }
}

/// WSARecv with MSG_PEEK: data is there (the zero-byte receive completed);
/// copy it into the program's buffers without consuming it. If another
/// receive took it meanwhile, wait again.
///
/// # Safety
/// Each (pointer, length) of `bufs` must be valid for writes until the
/// operation's completion is published.
unsafe fn finish_peek(mut ctx: OpCtx, bufs: Vec<(usize, usize)>) {
    let (Some(fd), Some(home)) = (ctx.owner.current(), ctx.owner.io_home()) else {
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
    let mut m = msghdr(&iov, std::ptr::null_mut(), 0);
    // SAFETY: the WSABUF memory is valid for writes until the operation
    // completes (caller contract); `iov` outlives the call.
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
        // SAFETY: the buffers stay valid until completion (caller contract).
        if let Err((e, ctx)) = unsafe { relaunch(&home, ctx, vec![wait]) } {
            let status = status_of(&ctx, &Err(e), Stop::None);
            finish(ctx, status, 0);
        }
        return;
    }
    let status = status_of(&ctx, &Err(e), Stop::None);
    finish(ctx, status, 0);
}

/// AcceptEx with a receive length: wait for the first data on the new socket.
///
/// # Safety
/// AcceptEx's output buffer must stay valid until the operation's
/// completion is published.
unsafe fn start_accept_data(ctx: OpCtx) {
    let OpKind::AcceptData(a) = &ctx.kind else {
        return finish(ctx, STATUS_INVALID_PARAMETER, 0);
    };
    let Some(home) = a.accept.io_home() else {
        return finish(ctx, STATUS_CANCELLED, 0);
    };
    // SAFETY: the output buffer is valid until completion (caller contract).
    let bufs = unsafe { stage_bufs(&ctx.kind) };
    // SAFETY: as above.
    if let Err((e, ctx)) = unsafe { relaunch(&home, ctx, bufs) } {
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
///
/// # Safety
/// As for [`IoObj::launch`].
unsafe fn relaunch(home: &Home, ctx: OpCtx, bufs: Vec<CBuf>) -> Result<(), (io::Error, OpCtx)> {
    let owner = ctx.owner.clone();
    if let Some(r) = owner.ops.lock().iter_mut().find(|r| r.token == ctx.token) {
        r.target = None;
    }
    // SAFETY: the caller's promise, passed on.
    let r = unsafe { owner.launch(home, ctx, bufs) };
    if r.is_ok() {
        // The next stage is in flight: it ends the operation.
        set_handed_off(true);
    }
    r
}

/// The NTSTATUS an operation ended with.
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
                    OpKind::Recv
                        | OpKind::RecvFrom { .. }
                        | OpKind::RecvMsg { .. }
                        | OpKind::Peek { .. }
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

/// The last step of an engine operation: consumes its context, so this is
/// the operation's one publication.
pub(crate) fn finish(ctx: OpCtx, status: DWORD, bytes: usize) {
    ctx.owner.take_rec(ctx.token);
    match ctx.kind {
        OpKind::Recv | OpKind::RecvFrom { .. } | OpKind::RecvMsg { .. } | OpKind::Peek { .. } => {
            ctx.owner.recv_pending.fetch_sub(1, Ordering::AcqRel);
        }
        OpKind::Send | OpKind::SendTo { .. } | OpKind::Transmit { .. } => {
            ctx.owner.send_pending.fetch_sub(1, Ordering::AcqRel);
        }
        _ => {}
    }
    // SAFETY: an OpCtx's `ov` is the program's OVERLAPPED, valid until the
    // operation's completion is published (field invariant); the context is
    // consumed here, so this is that publication.
    unsafe {
        publish(
            ctx.ov,
            status,
            bytes,
            &ctx.owner,
            ctx.notify,
            ctx.event.as_deref(),
            ctx.apc,
        )
    };
}

/// WSARecvFrom: the source address into the program's `lpFrom`/`lpFromlen`.
///
/// # Safety
/// `fromlen` must be 0 or point to a valid `i32`, and `from` 0 or valid for
/// writes of `*fromlen` bytes.
unsafe fn write_from(from: usize, fromlen: usize, addr: Option<SocketAddr>) {
    let (Some(addr), false, false) = (addr, from == 0, fromlen == 0) else {
        return;
    };
    let sa = socket2::SockAddr::from(addr);
    let fromlen = fromlen as *mut i32;
    // SAFETY: lpFrom / lpFromlen are valid (caller contract); at most
    // *lpFromlen bytes are written into lpFrom.
    unsafe {
        let cap = usize::try_from(*fromlen).unwrap_or(0);
        let n = (sa.len() as usize).min(cap);
        std::ptr::copy_nonoverlapping(sa.as_ptr().cast::<u8>(), from as *mut u8, n);
        *fromlen = sa.len() as i32;
    }
}

/// WSARecvMsg: the source address into `WSAMSG.name`/`.namelen` (as
/// `write_from`), the control data's length into `.Control.len` (the data
/// itself the kernel wrote into the program's control buffer), and
/// `MSG_TRUNC`/`MSG_CTRUNC` into `.dwFlags` (Linux's values, as the header's
/// `MSG_*` and the synchronous WSARecvMsg).
///
/// # Safety
/// `namelen`, `control_len` and `flags` must point to the fields of a valid
/// `WSAMSG`; `name` 0 or valid for writes of `*namelen` bytes.
unsafe fn write_msg(
    name: usize,
    namelen: usize,
    control_len: usize,
    flags: usize,
    got: cport_core::MsgInfo,
    addr: Option<SocketAddr>,
) {
    // SAFETY: caller contract.
    unsafe {
        if name != 0 {
            write_from(name, namelen, addr);
        }
        *(control_len as *mut u32) = got.control_len as u32;
        *(flags as *mut u32) = (got.flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC)) as u32;
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
///
/// # Safety
/// `a.buf` must be valid for writes of `recv_len + local_len + remote_len`
/// bytes.
unsafe fn write_accept_addresses(a: &AcceptCtx) -> bool {
    let family = match a.accept.kind {
        ObjKind::Socket { family, .. } => family,
        ObjKind::File => libc::AF_INET,
    };
    let need = accept_block_len(family);
    if (a.local_len != 0 && a.local_len < need) || a.remote_len < need {
        return false;
    }
    let local = a.accept.current().and_then(local_addr).map(sockaddr_bytes);
    let remote = a.peer.map(sockaddr_bytes);
    let base = a.buf as *mut u8;
    // SAFETY: the AcceptEx buffer holds recv_len + local_len + remote_len
    // bytes (caller contract); each block is zeroed and then gets at most
    // its length.
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

/// Reads an operation's result from its OVERLAPPED, waiting if asked:
/// `Err(STATUS_PENDING)` if not done and not waiting, `Err(status)` if it
/// failed; `Err(STATUS_INVALID_HANDLE)` if it would wait, with no event, on
/// a handle `h` that is not live (closed, or never one).
///
/// # Safety
/// `ov` must be valid; `bytes` NULL or valid.
pub(crate) unsafe fn overlapped_result(
    handle_is_live: impl FnOnce() -> bool,
    ov: *mut OVERLAPPED,
    bytes: *mut DWORD,
    wait: bool,
) -> Result<(), DWORD> {
    // SAFETY: ov valid (caller contract).
    let mut status = unsafe { load_status(ov) };
    if status == STATUS_PENDING {
        if !wait {
            return Err(STATUS_PENDING);
        }
        // SAFETY: as above.
        let h_event = unsafe { (*ov).hEvent } as usize & !1;
        if h_event == 0 && !handle_is_live() {
            // Windows waits on the handle itself here, and that fails.
            return Err(STATUS_INVALID_HANDLE);
        }
        signal::OVERLAPPED.wait_until(None, || {
            // SAFETY: as above.
            let s = unsafe { load_status(ov) };
            (s != STATUS_PENDING).then_some(())
        });
        // SAFETY: as above.
        status = unsafe { load_status(ov) };
    }
    if !bytes.is_null() {
        // SAFETY: valid pointers; InternalHigh was written before Internal.
        unsafe { *bytes = std::ptr::read_volatile(&raw const (*ov).InternalHigh) as DWORD };
    }
    if nt_success(status) {
        Ok(())
    } else {
        Err(status)
    }
}
