//! Operations (SPEC §4–5): handles, owned buffers and per-operation values, the
//! in-flight table, and the translation of backend completions into packets.
//!
//! Every started operation owns a boxed [`Slot`] that holds everything the
//! kernel may touch (the buffers, iovecs, msghdr, socket address, timespec).
//! A slot is freed — its buffers handed back in the packet — only when the
//! backend returned the operation's one completion. Slots are recycled, so in
//! steady state an operation allocates nothing beyond what the caller passes.

pub(crate) mod buf;

use std::io;
use std::mem;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use slab::Slab;

use self::buf::IoBuf;
use crate::backend::{Backend, Completion, OpCode, RawOp, Timespec};
use crate::port::core::Reactor;
use crate::port::Packet;

/// A handle associated with a port (a socket or file the port owns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    index: u32,
    generation: u32,
}

/// Identifies one started operation (for [`Port::cancel_op`](crate::Port::cancel_op)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(u64);

/// How a start call ended when it did not fail.
#[derive(Debug)]
pub enum Issued<V, B> {
    /// The operation is in flight; its packet will come through the port.
    Pending(OpId),
    /// It completed at once on a handle in skip-on-success mode: no packet
    /// will come; the result, value and buffer are here.
    Completed {
        /// Bytes transferred.
        bytes: usize,
        /// The per-operation value, back.
        value: V,
        /// The buffer, back.
        buf: Option<B>,
    },
}

/// An operation that could not be started: nothing was queued, and the
/// value and buffers come back here.
pub struct IssueError<V, B> {
    /// Why (EBADF: invalid or closed handle; ECONNRESET: the peer reset the
    /// connection earlier; EINVAL: bad input; the backend's error otherwise).
    pub error: io::Error,
    /// The per-operation value, back.
    pub value: V,
    /// The buffer, back.
    pub buf: Option<B>,
    /// The buffers of a vectored operation, back.
    pub bufs: Vec<B>,
}

impl<V, B> std::fmt::Debug for IssueError<V, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssueError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<V, B> std::fmt::Display for IssueError<V, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "operation not started: {}", self.error)
    }
}

impl<V, B> std::error::Error for IssueError<V, B> {}

/// How an operation is issued: its timeout, and whether the backend may
/// batch its submission (the issuing thread is an active worker of the port
/// and will flush when it returns to `get`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct How {
    pub timeout: Option<Duration>,
    pub defer: bool,
}

/// Whether `e` is the error of an operation that was cancelled, or whose
/// handle was closed, before it finished ("aborted", ERROR_OPERATION_ABORTED).
pub fn is_aborted(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECANCELED)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Accept,
    Connect,
    Recv,
    Send,
    RecvFrom,
    SendTo,
    RecvVectored,
    SendVectored,
    ReadAt,
    WriteAt,
}

/// Why an operation was asked to stop early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    None,
    Cancel,
    Close,
}

/// Everything an in-flight operation owns; boxed so its address is stable.
struct Slot<V, B> {
    user_data: u64,
    handle: usize,
    kind: Kind,
    stop: Stop,
    value: Option<V>,
    buf: Option<B>,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    msg: libc::msghdr,
    addr: libc::sockaddr_storage,
    addrlen: libc::socklen_t,
    timespec: Timespec,
    timeout: Option<Duration>,
    /// When the per-operation timeout runs out.
    deadline: Option<Instant>,
    offset: u64,
}

// SAFETY: the raw pointers inside (iovecs, msghdr) point into this slot or
// its buffers, which move with it; V and B are Send.
unsafe impl<V: Send, B: Send> Send for Slot<V, B> {}

impl<V, B> Slot<V, B> {
    fn empty() -> Self {
        Slot {
            user_data: 0,
            handle: 0,
            kind: Kind::Recv,
            stop: Stop::None,
            value: None,
            buf: None,
            bufs: Vec::new(),
            iovecs: Vec::new(),
            // SAFETY: msghdr and sockaddr_storage are plain C structs for which
            // all-zero bytes are a valid (empty) value.
            msg: unsafe { mem::zeroed() },
            // SAFETY: as above.
            addr: unsafe { mem::zeroed() },
            addrlen: 0,
            timespec: Timespec::default(),
            timeout: None,
            deadline: None,
            offset: 0,
        }
    }
}

struct HandleEntry<K> {
    fd: OwnedFd,
    key: K,
    generation: u32,
    pending: usize,
    closing: bool,
    skip_on_success: bool,
    /// The peer reset the connection: later operations fail at once.
    reset: bool,
}

struct Tables<K, V, B> {
    handles: Slab<HandleEntry<K>>,
    ops: Slab<Box<Slot<V, B>>>,
    spare: Vec<Box<Slot<V, B>>>,
    generation: u32,
}

/// fds associated with any port in this process: one handle, one port.
static ASSOCIATED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// Runs on every completed operation's packet before it is queued (see
/// [`Port::set_completion_filter`](crate::Port::set_completion_filter)).
pub type CompletionFilter<K, V, B> = Box<dyn Fn(&mut Packet<K, V, B>) -> bool + Send + Sync>;

/// The op layer of one port.
pub(crate) struct Io<K, V, B> {
    backend: Box<dyn Backend>,
    tables: Mutex<Tables<K, V, B>>,
    in_flight: AtomicUsize,
    filter: std::sync::OnceLock<CompletionFilter<K, V, B>>,
    /// Set by shutdown (under the tables lock): new operations are refused.
    refusing: std::sync::atomic::AtomicBool,
}

pub(crate) fn shutting_down() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the completion port is shut down",
    )
}

fn ebadf(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what} (EBADF)"))
}

impl<K, V, B> Io<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    pub(crate) fn new(backend: Box<dyn Backend>) -> Self {
        Io {
            backend,
            tables: Mutex::new(Tables {
                handles: Slab::new(),
                ops: Slab::new(),
                spare: Vec::new(),
                generation: 0,
            }),
            in_flight: AtomicUsize::new(0),
            filter: std::sync::OnceLock::new(),
            refusing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn set_filter(&self, filter: CompletionFilter<K, V, B>) -> io::Result<()> {
        self.filter.set(filter).map_err(|_| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a completion filter is set already",
            )
        })
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    pub(crate) fn associate(&self, fd: OwnedFd, key: K) -> io::Result<Handle> {
        let raw = fd.as_raw_fd();
        {
            let mut all = ASSOCIATED.lock();
            if all.contains(&raw) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "the handle is already associated with a completion port",
                ));
            }
            all.push(raw);
        }
        if let Err(e) = self.backend.register(raw) {
            ASSOCIATED.lock().retain(|&f| f != raw);
            // `fd` is dropped (closed) here: the caller gave it to us.
            return Err(e);
        }
        let mut t = self.tables.lock();
        if self.refusing.load(Ordering::Relaxed) {
            drop(t);
            ASSOCIATED.lock().retain(|&f| f != raw);
            return Err(shutting_down());
        }
        t.generation = t.generation.wrapping_add(1);
        let generation = t.generation;
        let index = t.handles.insert(HandleEntry {
            fd,
            key,
            generation,
            pending: 0,
            closing: false,
            skip_on_success: false,
            reset: false,
        });
        Ok(Handle {
            index: index as u32,
            generation,
        })
    }

    fn entry(t: &mut Tables<K, V, B>, h: Handle) -> io::Result<&mut HandleEntry<K>> {
        match t.handles.get_mut(h.index as usize) {
            Some(e) if e.generation == h.generation && !e.closing => Ok(e),
            _ => Err(ebadf("invalid or closed handle")),
        }
    }

    pub(crate) fn set_skip_on_success(&self, h: Handle, on: bool) -> io::Result<()> {
        Self::entry(&mut self.tables.lock(), h).map(|e| e.skip_on_success = on)
    }

    /// Starts an operation. `fill` writes the kind-specific parts of the slot
    /// (addresses, iovecs) before its pointers are taken.
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        h: Handle,
        kind: Kind,
        value: V,
        buf: Option<B>,
        bufs: Vec<B>,
        offset: u64,
        how: How,
        fill: impl FnOnce(&mut Slot<V, B>) -> io::Result<()>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let fail = |error, value, buf, bufs| {
            Err(IssueError {
                error,
                value,
                buf,
                bufs,
            })
        };
        let mut t = self.tables.lock();
        // Checked under the tables lock that `cancel_all` holds while it sets
        // the flag: an op is either refused here or seen (and cancelled) there.
        if self.refusing.load(Ordering::Relaxed) {
            drop(t);
            return fail(shutting_down(), value, buf, bufs);
        }
        let (fd, skip) = match Self::entry(&mut t, h) {
            Ok(e) if e.reset && kind != Kind::Connect => {
                drop(t);
                return fail(
                    io::Error::from_raw_os_error(libc::ECONNRESET),
                    value,
                    buf,
                    bufs,
                );
            }
            Ok(e) => (e.fd.as_raw_fd(), e.skip_on_success),
            Err(e) => {
                drop(t);
                return fail(e, value, buf, bufs);
            }
        };
        let mut slot = t.spare.pop().unwrap_or_else(|| Box::new(Slot::empty()));
        slot.handle = h.index as usize;
        slot.kind = kind;
        slot.stop = Stop::None;
        slot.value = Some(value);
        slot.buf = buf;
        slot.bufs = bufs;
        slot.timeout = how.timeout;
        slot.deadline = how.timeout.and_then(|t| Instant::now().checked_add(t));
        slot.offset = offset;
        slot.iovecs.clear();
        if let Err(e) = fill(&mut slot) {
            let (value, buf, bufs) = recycle(&mut t, slot);
            drop(t);
            return fail(e, value, buf, bufs);
        }
        if skip {
            if let Some(bytes) = try_inline(fd, &mut slot) {
                let (value, buf, bufs) = recycle(&mut t, slot);
                debug_assert!(bufs.is_empty());
                drop(t);
                return Ok(Issued::Completed { bytes, value, buf });
            }
        }
        let entry = t.ops.vacant_entry();
        let user_data = (u64::from(h.generation) << 32 | entry.key() as u64) & !(3 << 62);
        slot.user_data = user_data;
        let mut raw = raw_op(&mut slot, fd, offset);
        raw.defer = how.defer;
        entry.insert(slot);
        t.handles[h.index as usize].pending += 1;
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        drop(t);
        // SAFETY: `raw` points into the boxed slot now owned by `ops`; the slot
        // is removed (and its memory released) only in `complete`, after the
        // backend returned this op's completion, or leaked if that never happens.
        match unsafe { self.backend.submit(&raw) } {
            Ok(()) => {
                // A close that ran between our unlock and the submit could not
                // cancel the op yet: do it now.
                let stop = self
                    .tables
                    .lock()
                    .ops
                    .get((user_data & 0xFFFF_FFFF) as usize)
                    .map(|s| s.stop);
                if matches!(stop, Some(Stop::Close | Stop::Cancel)) {
                    self.backend.cancel(user_data);
                }
                Ok(Issued::Pending(OpId(user_data)))
            }
            Err(error) => {
                let mut t = self.tables.lock();
                let slot = t.ops.remove((user_data & 0xFFFF_FFFF) as usize);
                t.handles[h.index as usize].pending -= 1;
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                let (value, buf, bufs) = recycle(&mut t, slot);
                let closed = self.finish_close_if_done(&mut t, h.index as usize);
                drop(t);
                drop(closed);
                fail(error, value, buf, bufs)
            }
        }
    }

    /// Turns a backend completion into the op's packet, releasing its slot.
    /// The caller decrements `in_flight` once the packet was delivered.
    fn complete(&self, c: Completion) -> Option<Packet<K, V, B>> {
        let mut t = self.tables.lock();
        let index = (c.user_data & 0xFFFF_FFFF) as usize;
        if t.ops.get(index).map(|s| s.user_data) != Some(c.user_data) {
            return None; // not ours (cannot happen: the backend reports each op once)
        }
        if c.res == -libc::ECANCELED {
            match self.restart_if_kernel_cancelled(&mut t, index) {
                Ok(true) => return None,
                Ok(false) => {}
                Err(e) => return self.finish(t, index, -e.raw_os_error().unwrap_or(libc::EIO)),
            }
        }
        self.finish(t, index, c.res)
    }

    /// io_uring ties a request to the thread that submitted it and cancels it
    /// when that thread exits. On a port, thread exit cancels nothing (the
    /// modern Windows rule): an operation cancelled by nobody, before its own
    /// timeout, is started again from this (living) thread. `Ok(true)` if it
    /// was restarted; an error if restarting failed.
    fn restart_if_kernel_cancelled(
        &self,
        t: &mut Tables<K, V, B>,
        index: usize,
    ) -> io::Result<bool> {
        let slot = &mut t.ops[index];
        let now = Instant::now();
        if slot.stop != Stop::None || slot.deadline.is_some_and(|d| d <= now) {
            return Ok(false);
        }
        let fd = t.handles[slot.handle].fd.as_raw_fd();
        let offset = slot.offset;
        let mut raw = raw_op(slot, fd, offset);
        raw.timeout = slot.deadline.map(|d| d.saturating_duration_since(now));
        // SAFETY: as in `start`: `raw` points into the boxed slot, which stays
        // in `ops` until this op's next completion.
        unsafe { self.backend.submit(&raw) }.map(|()| true)
    }

    /// Releases the op's slot and builds its packet from `res`.
    fn finish(
        &self,
        mut guard: parking_lot::MutexGuard<'_, Tables<K, V, B>>,
        index: usize,
        res: i32,
    ) -> Option<Packet<K, V, B>> {
        let t = &mut *guard;
        // `in_flight` drops only after the packet was delivered (see `reap`).
        let slot = t.ops.remove(index);
        let handle = slot.handle;
        let entry = &mut t.handles[handle];
        entry.pending -= 1;
        let mut result = result_of(res, &slot);
        if slot.stop != Stop::None
            && matches!(slot.kind, Kind::Send | Kind::SendVectored | Kind::WriteAt)
        {
            // A send cut short by cancel or close is aborted, not a success:
            // sends transfer everything or fail (io_uring reports the partial count).
            let wanted: usize = slot
                .buf
                .iter()
                .chain(&slot.bufs)
                .map(|b| b.stable_len())
                .sum();
            if matches!(result, Ok(n) if n < wanted) {
                result = Err(io::Error::from_raw_os_error(libc::ECANCELED));
            }
        }
        if matches!(&result, Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNRESET | libc::EPIPE)))
            && matches!(
                slot.kind,
                Kind::Recv | Kind::Send | Kind::RecvVectored | Kind::SendVectored
            )
        {
            entry.reset = true;
        }
        let key = entry.key.clone();
        let mut addr = None;
        let mut stream = None;
        match slot.kind {
            Kind::Accept if res >= 0 => {
                // SAFETY: accept returned a new fd that nobody else owns.
                stream = Some(unsafe { TcpStream::from_raw_fd(res) });
                addr = sockaddr_to_std(&slot.addr, slot.addrlen);
            }
            Kind::RecvFrom if res >= 0 => addr = sockaddr_to_std(&slot.addr, slot.msg.msg_namelen),
            _ => {}
        }
        let (value, buf, bufs) = recycle(t, slot);
        let closed = self.finish_close_if_done(t, handle);
        drop(guard);
        drop(closed);
        Some(
            Packet::new(key, 0, value)
                .with_result(result, buf)
                .with_extra(bufs, addr, stream),
        )
    }

    /// If `index` is closing and has no op in flight, forgets it and returns
    /// its fd for the caller to close after unlocking.
    fn finish_close_if_done(&self, t: &mut Tables<K, V, B>, index: usize) -> Option<OwnedFd> {
        let e = t.handles.get(index)?;
        if !e.closing || e.pending > 0 {
            return None;
        }
        let e = t.handles.remove(index);
        let raw = e.fd.as_raw_fd();
        self.backend.deregister(raw);
        ASSOCIATED.lock().retain(|&f| f != raw);
        Some(e.fd)
    }

    /// Marks the pending ops of `h` (or only `only`) as stopped by `why` and
    /// asks the backend to cancel them. Returns how many.
    fn stop(&self, h: Handle, only: Option<OpId>, why: Stop) -> io::Result<usize> {
        let mut t = self.tables.lock();
        Self::entry(&mut t, h)?;
        let mut targets = Vec::new();
        for (_, slot) in t.ops.iter_mut() {
            let wanted = only.is_none_or(|op| op.0 == slot.user_data);
            if slot.handle == h.index as usize && wanted && slot.stop == Stop::None {
                slot.stop = why;
                targets.push(slot.user_data);
            }
        }
        let mut closed = None;
        if why == Stop::Close {
            t.handles[h.index as usize].closing = true;
            closed = self.finish_close_if_done(&mut t, h.index as usize);
        }
        drop(t);
        drop(closed);
        self.backend.cancel_many(&targets);
        Ok(targets.len())
    }

    pub(crate) fn cancel(&self, h: Handle, only: Option<OpId>) -> io::Result<usize> {
        match self.stop(h, only, Stop::Cancel)? {
            0 => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no pending operation to cancel",
            )),
            n => Ok(n),
        }
    }

    pub(crate) fn close(&self, h: Handle) -> io::Result<()> {
        self.stop(h, None, Stop::Close).map(drop)
    }

    /// Polls the backend and turns completions into packets.
    pub(crate) fn reap(&self, timeout: Option<Duration>, sink: &mut dyn FnMut(Packet<K, V, B>)) {
        let mut done = Vec::new();
        if self.backend.poll(timeout, &mut done).is_err() {
            // A failing poll (should not happen) must not spin a waiter hot.
            std::thread::sleep(Duration::from_millis(1));
        }
        for c in done {
            if let Some(mut p) = self.complete(c) {
                if self.filter.get().is_none_or(|f| f(&mut p)) {
                    sink(p);
                }
                // Delivered (handed to a waiter or queued): no longer in flight.
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    pub(crate) fn accept(
        &self,
        h: Handle,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        self.start(h, Kind::Accept, value, None, Vec::new(), 0, how, |s| {
            s.addrlen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            Ok(())
        })
    }

    pub(crate) fn connect(
        &self,
        h: Handle,
        to: SocketAddr,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        self.start(h, Kind::Connect, value, None, Vec::new(), 0, how, |s| {
            s.addrlen = std_to_sockaddr(to, &mut s.addr);
            Ok(())
        })
    }

    pub(crate) fn transfer(
        &self,
        h: Handle,
        send: bool,
        buf: B,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if send { Kind::Send } else { Kind::Recv };
        self.start(h, kind, value, Some(buf), Vec::new(), 0, how, |_| Ok(()))
    }

    pub(crate) fn file(
        &self,
        h: Handle,
        write: bool,
        buf: B,
        offset: u64,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if write { Kind::WriteAt } else { Kind::ReadAt };
        self.start(h, kind, value, Some(buf), Vec::new(), offset, how, |_| {
            Ok(())
        })
    }

    pub(crate) fn datagram(
        &self,
        h: Handle,
        to: Option<SocketAddr>,
        buf: B,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if to.is_some() {
            Kind::SendTo
        } else {
            Kind::RecvFrom
        };
        self.start(h, kind, value, Some(buf), Vec::new(), 0, how, |s| {
            s.addrlen = match to {
                Some(to) => std_to_sockaddr(to, &mut s.addr),
                None => mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
            };
            Ok(())
        })
    }

    pub(crate) fn vectored(
        &self,
        h: Handle,
        send: bool,
        bufs: Vec<B>,
        value: V,
        how: How,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if send {
            Kind::SendVectored
        } else {
            Kind::RecvVectored
        };
        self.start(h, kind, value, None, bufs, 0, how, |s| {
            if s.bufs.is_empty() || s.bufs.len() > 1024 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "vectored operations take 1 to 1024 buffers",
                ));
            }
            Ok(())
        })
    }
}

/// Takes the slot's value and buffers out and keeps the box for reuse.
fn recycle<K, V, B>(t: &mut Tables<K, V, B>, mut slot: Box<Slot<V, B>>) -> (V, Option<B>, Vec<B>)
where
    V: Send,
{
    let value = slot.value.take();
    let buf = slot.buf.take();
    let bufs = mem::take(&mut slot.bufs);
    if t.spare.len() < 1024 {
        t.spare.push(slot);
    }
    // Every started slot has its value; `start` sets it first.
    (
        value.expect("cport invariant: an op slot holds its value"),
        buf,
        bufs,
    )
}

/// Builds the backend's description of the op in `slot`, pointing into it.
fn raw_op<V, B: IoBuf>(slot: &mut Slot<V, B>, fd: RawFd, offset: u64) -> RawOp {
    let (buf, len) = match &mut slot.buf {
        Some(b) => (b.stable_ptr(), b.stable_len()),
        None => (std::ptr::null_mut(), 0),
    };
    let code = match slot.kind {
        Kind::Accept => OpCode::Accept,
        Kind::Connect => OpCode::Connect,
        Kind::Recv => OpCode::Recv,
        Kind::Send => OpCode::Send,
        Kind::ReadAt => OpCode::Read,
        Kind::WriteAt => OpCode::Write,
        Kind::RecvFrom | Kind::RecvVectored => OpCode::RecvMsg,
        Kind::SendTo | Kind::SendVectored => OpCode::SendMsg,
    };
    if code == OpCode::RecvMsg || code == OpCode::SendMsg {
        slot.iovecs.clear();
        if let Some(b) = &mut slot.buf {
            slot.iovecs.push(libc::iovec {
                iov_base: b.stable_ptr().cast(),
                iov_len: b.stable_len(),
            });
        }
        for b in &mut slot.bufs {
            slot.iovecs.push(libc::iovec {
                iov_base: b.stable_ptr().cast(),
                iov_len: b.stable_len(),
            });
        }
        // SAFETY: all-zero is a valid msghdr.
        slot.msg = unsafe { mem::zeroed() };
        slot.msg.msg_iov = slot.iovecs.as_mut_ptr();
        slot.msg.msg_iovlen = slot.iovecs.len();
        if matches!(slot.kind, Kind::RecvFrom | Kind::SendTo) {
            slot.msg.msg_name = (&mut slot.addr as *mut libc::sockaddr_storage).cast();
            slot.msg.msg_namelen = slot.addrlen;
        }
    }
    RawOp {
        code,
        fd,
        user_data: slot.user_data,
        buf,
        len,
        msg: &mut slot.msg,
        addr: &mut slot.addr,
        addrlen: &mut slot.addrlen,
        offset,
        timeout: slot.timeout,
        timespec: &mut slot.timespec,
        defer: false,
    }
}

/// Skip-on-success mode: try a receive or read without waiting. `Some(n)` if
/// it completed (with data or end of stream); errors and "would block" go the
/// normal way, through the port.
fn try_inline<V, B: IoBuf>(fd: RawFd, slot: &mut Slot<V, B>) -> Option<usize> {
    let buf = slot.buf.as_mut()?;
    let (ptr, len) = (buf.stable_ptr(), buf.stable_len());
    // SAFETY: `ptr` is valid for writes of `len` bytes (IoBuf contract) and the
    // kernel is done with it when the call returns.
    let n = unsafe {
        match slot.kind {
            Kind::Recv if len > 0 => libc::recv(fd, ptr.cast(), len, libc::MSG_DONTWAIT),
            _ => return None,
        }
    };
    usize::try_from(n).ok()
}

fn result_of<V, B>(res: i32, slot: &Slot<V, B>) -> io::Result<usize> {
    if res >= 0 {
        return Ok(res as usize);
    }
    let errno = -res;
    if errno == libc::ECANCELED {
        return Err(match slot.stop {
            Stop::Cancel | Stop::Close => io::Error::from_raw_os_error(libc::ECANCELED),
            // Not cancelled by anyone: its per-operation timeout fired.
            Stop::None if slot.timeout.is_some() => io::Error::from_raw_os_error(libc::ETIMEDOUT),
            Stop::None => io::Error::from_raw_os_error(libc::ECANCELED),
        });
    }
    if errno == libc::ETIME {
        return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
    }
    Err(io::Error::from_raw_os_error(errno))
}

fn std_to_sockaddr(addr: SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    let sa = socket2::SockAddr::from(addr);
    let len = sa.len();
    // SAFETY: `sa` holds `len` valid bytes of a sockaddr, which fit in a
    // sockaddr_storage; the regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (out as *mut libc::sockaddr_storage).cast::<u8>(),
            len as usize,
        )
    };
    len
}

fn sockaddr_to_std(addr: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    // SAFETY: the storage is fully initialised (zeroed, then written by the
    // kernel) and `len` is at most its size.
    let sa = unsafe {
        socket2::SockAddr::new(
            mem::transmute_copy::<libc::sockaddr_storage, socket2::SockAddrStorage>(addr),
            len,
        )
    };
    sa.as_socket()
}

impl<K, V, B> Io<K, V, B> {
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Shutdown and port drop: refuses new operations and asks the backend to
    /// cancel every operation in flight (each still completes, aborted).
    pub(crate) fn cancel_all(&self) {
        let targets: Vec<u64> = {
            let mut t = self.tables.lock();
            self.refusing.store(true, Ordering::Relaxed);
            t.ops
                .iter_mut()
                .map(|(_, s)| {
                    if s.stop == Stop::None {
                        s.stop = Stop::Close;
                    }
                    s.user_data
                })
                .collect()
        };
        self.backend.cancel_many(&targets);
    }
}

/// The op layer as the port core's reactor.
pub(crate) struct IoReactor<K, V, B>(pub(crate) Arc<Io<K, V, B>>);

impl<K, V, B> Reactor<Packet<K, V, B>> for IoReactor<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    fn busy(&self) -> bool {
        self.0.in_flight() > 0
    }
    fn poll(&self, timeout: Option<Duration>, sink: &mut dyn FnMut(Packet<K, V, B>)) {
        self.0.reap(timeout, sink)
    }
    fn wake(&self) {
        self.0.backend.wake()
    }
    fn flush(&self) {
        self.0.backend.flush()
    }
}

impl<K, V, B> Drop for Io<K, V, B> {
    fn drop(&mut self) {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // Some op never completed (its kernel request may still touch its
            // slot): leak the slots rather than free memory under the kernel.
            let ops = mem::take(&mut self.tables.get_mut().ops);
            mem::forget(ops);
        }
        let raws: Vec<RawFd> = self
            .tables
            .get_mut()
            .handles
            .iter()
            .map(|(_, e)| e.fd.as_raw_fd())
            .collect();
        ASSOCIATED.lock().retain(|f| !raws.contains(f));
    }
}
