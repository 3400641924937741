//! An operation's slot: everything the kernel may touch while the op is in
//! flight (buffers, iovecs, the kernel area with msghdr, address and
//! timespec), what kind of op it is, and the translation of a slot into the
//! backend's [`RawOp`] and of a result back. Also the inline attempt of
//! skip-on-success mode.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operation {
    Accept,
    Connect,
    Recv,
    Send,
    RecvFrom,
    /// recvmsg(2) with a control buffer (`Slot::control`): one datagram, its
    /// source, its ancillary data and flags.
    RecvMsg,
    SendTo,
    RecvVectored,
    SendVectored,
    ReadAt,
    WriteAt,
    /// read(2)/write(2) at the fd's own position (pipes, ttys, eventfds).
    Read,
    Write,
    /// shutdown(2): `offset` holds the `how`.
    Shutdown,
}

impl Operation {
    /// The lane of a socket such operations run in, one at a time and in
    /// issue order (see [`Lane`]): 0 for those that wait for the socket to
    /// be readable (accepts and receives), 1 for those that wait for it to be
    /// writable (connects and sends), none for files. The backends rely on
    /// it: at most one operation per socket and direction reaches them.
    pub(super) fn lane(self) -> Option<usize> {
        match self {
            Operation::Accept
            | Operation::Recv
            | Operation::RecvFrom
            | Operation::RecvMsg
            | Operation::RecvVectored
            | Operation::Read => Some(0),
            Operation::Connect
            | Operation::Send
            | Operation::SendTo
            | Operation::SendVectored
            | Operation::Write
            | Operation::Shutdown => Some(1),
            Operation::ReadAt | Operation::WriteAt => None,
        }
    }

    /// Operations that transfer all their bytes or fail (WSASend, WriteFile).
    /// A datagram send goes out whole or not at all, so `SendTo` is not one.
    pub(super) fn is_whole_transfer(self) -> bool {
        matches!(
            self,
            Operation::Send | Operation::SendVectored | Operation::WriteAt | Operation::Write
        )
    }
}

/// Why an operation was asked to stop early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    None,
    Cancel,
    Close,
}

/// Where a started operation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// Submitted to the backend; its completion will come from there.
    Kernel,
    /// Queued in its lane behind an earlier operation of the same direction.
    Waiting,
    /// Was waiting, and was stopped or ran out of time: its completion
    /// ("aborted" or "timed out") was made up by the op layer and is on its
    /// way; it leaves its lane when that is handled (or `next_in_lane` skips it).
    Parked,
}

/// Everything an in-flight operation owns, in the op table
/// ([`OpTable`](super::table::OpTable)). What the kernel reads or writes
/// while the op is in flight is on the heap — the buffers (`IoBuf` memory
/// does not move with its value), the iovecs' array, the [`KernelArea`] —
/// so the slot itself may move.
pub(super) struct Slot<V, B> {
    pub(super) user_data: u64,
    pub(super) stage: Stage,
    pub(super) handle: usize,
    pub(super) operation: Operation,
    pub(super) stop: Stop,
    pub(super) value: Option<V>,
    pub(super) buf: Option<B>,
    pub(super) bufs: Vec<B>,
    pub(super) iovecs: Vec<libc::iovec>,
    /// msghdr, socket address, timespec: see [`KernelArea`].
    pub(super) kernel: KernelBox,
    pub(super) timeout: Option<Duration>,
    /// When the per-operation timeout runs out.
    pub(super) deadline: Option<Instant>,
    pub(super) offset: u64,
    /// Bytes of a whole transfer (see `Operation::is_whole_transfer`) done by
    /// earlier parts: an inline attempt or a submission that ended short.
    /// The next part starts after them.
    pub(super) done: usize,
    /// A receiving op's way into its buffers' `IoBufMut` methods (`None`: the
    /// op only reads its buffers, or has none).
    pub(super) recv: Option<RecvAccess<B>>,
    /// A `RecvMsg`'s control buffer (the ancillary data goes there); handed
    /// back as the packet's `buf`.
    pub(super) control: Option<B>,
    /// Where an awaited operation's packet goes instead of the queue.
    #[cfg(feature = "futures")]
    pub(super) awaiter: Option<Arc<super::awaiting::AwaitCell<V, B>>>,
    /// Free, claimed by a start, or live (see the op table).
    pub(super) usage: super::table::Use,
}

impl<V, B> Slot<V, B> {
    /// The kernel area, to fill in before a submission or read after a
    /// completion.
    ///
    /// # Safety
    /// No submission of this slot may be in flight (started and its
    /// completion not yet returned by the backend).
    pub(super) unsafe fn area(&mut self) -> &mut KernelArea {
        // SAFETY: the pointer is valid (owned by `kernel`), and with nothing
        // in flight nobody else (the kernel) uses the area (caller's contract).
        unsafe { &mut *self.kernel.0.as_ptr() }
    }
}

impl<V, B: IoBuf> Slot<V, B> {
    /// Bytes the operation's buffers hold: room to receive into, or bytes to send.
    pub(super) fn wanted(&self) -> usize {
        wanted(&self.buf, &self.bufs, self.recv.is_some())
    }

    /// A receive wrote `n` bytes into the buffers, in order from the start of
    /// each: each buffer marks what it got as initialised.
    pub(super) fn mark_received(&mut self, n: usize) {
        mark_received(&mut self.buf, &mut self.bufs, self.recv, n)
    }
}

/// [`Slot::wanted`] of buffers taken out of their slot.
pub(super) fn wanted<B: IoBuf>(buf: &Option<B>, bufs: &[B], recv: bool) -> usize {
    buf.iter()
        .chain(bufs)
        .map(|b| {
            if recv {
                b.bytes_total()
            } else {
                b.bytes_init()
            }
        })
        .sum()
}

/// [`Slot::mark_received`] of buffers taken out of their slot.
pub(super) fn mark_received<B: IoBuf>(
    buf: &mut Option<B>,
    bufs: &mut [B],
    recv: Option<RecvAccess<B>>,
    mut n: usize,
) {
    let Some(access) = recv else { return };
    for b in buf.iter_mut().chain(bufs) {
        let got = n.min(b.bytes_total());
        // SAFETY: the kernel wrote the first `got` bytes of this buffer
        // (the op's result counts the bytes written, buffer after buffer,
        // each from its start: `window`), and `got <= bytes_total()`.
        unsafe { (access.set_init)(b, got) };
        n -= got;
    }
}

// SAFETY: the raw pointers inside (iovecs, msghdr, the kernel area) point
// into memory the slot owns, which moves with it; V and B are Send.
unsafe impl<V: Send, B: Send> Send for Slot<V, B> {}

/// The parts of an operation the kernel writes while it is in flight (accept's
/// and recvmsg's peer address and its length, recvmsg's msghdr fields) or
/// reads at submission (the timespec of a linked timeout, also when the
/// submission is deferred). They live in an allocation of their own, reached
/// from the slot only through a raw pointer, so that the `&mut Slot` the op
/// layer takes while the op is in flight (to mark it stopped, to check it)
/// never covers memory the kernel may be writing.
pub(super) struct KernelArea {
    pub(super) msg: libc::msghdr,
    pub(super) addr: libc::sockaddr_storage,
    pub(super) addrlen: libc::socklen_t,
    pub(super) timespec: Timespec,
}

/// Owns a [`KernelArea`]; frees it when the slot is dropped, which happens
/// only once no operation is in flight in it (slots of ops that never
/// completed are leaked, not dropped: see `Io::drop`).
pub(super) struct KernelBox(pub(super) std::ptr::NonNull<KernelArea>);

impl KernelBox {
    pub(super) fn new() -> Self {
        let area = Box::new(KernelArea {
            // SAFETY: msghdr and sockaddr_storage are plain C structs for
            // which all-zero bytes are a valid (empty) value.
            msg: unsafe { mem::zeroed() },
            // SAFETY: as above.
            addr: unsafe { mem::zeroed() },
            addrlen: 0,
            timespec: Timespec::default(),
        });
        KernelBox(std::ptr::NonNull::from(Box::leak(area)))
    }
}

impl Drop for KernelBox {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `new` and is freed only
        // here; the kernel is done with the area (see the type's docs).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// Frees slot `index` of the op table: its value and buffers come out, its
/// allocations stay for the next op. Only once the backend returned the op's
/// completion, or never got the op.
pub(super) fn recycle<K, V, B>(t: &mut Tables<K, V, B>, index: usize) -> (V, Option<B>, Vec<B>) {
    let (value, buf, bufs) = t.ops.release(index);
    // Every claimed slot has its value; `claim` sets it.
    (
        value.expect("cport invariant: an op slot holds its value"),
        buf,
        bufs,
    )
}

/// Most bytes one submission moves (Linux's MAX_RW_COUNT: the kernel moves no
/// more per call, and a completion's result must fit an `i32`). A larger
/// buffer is filled or sent in several submissions (see `complete`).
pub(super) const MAX_PER_SUBMISSION: usize = 0x7fff_f000;

/// Builds the backend's description of the op in `slot`, pointing into it:
/// for a whole transfer resumed after `done` bytes, only at what is left, at
/// most [`MAX_PER_SUBMISSION`] bytes. Called only when none of the slot's
/// submissions is in flight (before the first, and after a completion that
/// `complete` restarts).
pub(super) fn raw_op<V, B: IoBuf>(slot: &mut Slot<V, B>, fd: RawFd) -> RawOp {
    let done = slot.done;
    let recv = slot.recv;
    let (buf, len) = match &mut slot.buf {
        Some(b) => {
            let (ptr, len) = window(b, recv);
            // SAFETY: `done` is at most the window's length (it counts bytes of
            // this buffer already transferred), so the pointer stays inside it
            // or one past its end.
            let ptr = unsafe { ptr.add(done) };
            (ptr, (len - done).min(MAX_PER_SUBMISSION))
        }
        None => (std::ptr::null_mut(), 0),
    };
    let code = match slot.operation {
        Operation::Accept => Syscall::Accept,
        Operation::Connect => Syscall::Connect,
        Operation::Recv => Syscall::Recv,
        Operation::Send => Syscall::Send,
        Operation::ReadAt => Syscall::Read,
        Operation::WriteAt => Syscall::Write,
        Operation::Read => Syscall::ReadStream,
        Operation::Write => Syscall::WriteStream,
        Operation::Shutdown => Syscall::Shutdown,
        Operation::RecvFrom | Operation::RecvMsg | Operation::RecvVectored => Syscall::RecvMsg,
        Operation::SendTo | Operation::SendVectored => Syscall::SendMsg,
    };
    if code == Syscall::RecvMsg || code == Syscall::SendMsg {
        slot.iovecs.clear();
        let mut skip = done;
        let mut room = MAX_PER_SUBMISSION;
        for b in slot.buf.iter_mut().chain(&mut slot.bufs) {
            let (ptr, len) = window(b, recv);
            if skip >= len {
                skip -= len;
                continue;
            }
            if room == 0 {
                break;
            }
            let take = (len - skip).min(room);
            slot.iovecs.push(libc::iovec {
                // SAFETY: `skip < len`, so the pointer stays inside the buffer.
                iov_base: unsafe { ptr.add(skip) }.cast(),
                iov_len: take,
            });
            room -= take;
            skip = 0;
        }
        let iov = slot.iovecs.as_mut_ptr();
        let iovlen = slot.iovecs.len();
        let named = matches!(
            slot.operation,
            Operation::RecvFrom | Operation::RecvMsg | Operation::SendTo
        );
        let control = match &mut slot.control {
            Some(c) => window(c, recv),
            None => (std::ptr::null_mut(), 0),
        };
        // SAFETY: `raw_op` runs before a submission (see `raw_op`'s callers).
        let k = unsafe { slot.area() };
        // SAFETY: all-zero is a valid msghdr.
        k.msg = unsafe { mem::zeroed() };
        k.msg.msg_iov = iov;
        k.msg.msg_iovlen = iovlen;
        if named {
            k.msg.msg_name = (&mut k.addr as *mut libc::sockaddr_storage).cast();
            k.msg.msg_namelen = k.addrlen;
        }
        if control.1 > 0 {
            // The control buffer is writable (a RecvMsg's `recv` access) and
            // lives in the slot until the completion.
            k.msg.msg_control = control.0.cast();
            k.msg.msg_controllen = control.1;
        }
    }
    // Pointers into the kernel area, taken from its owning pointer (no
    // reference to the area outlives this function).
    let k = slot.kernel.0.as_ptr();
    // SAFETY: `k` points to a live KernelArea; only field addresses are
    // computed, nothing is read or written.
    let (msg, addr, addrlen, timespec) = unsafe {
        (
            &raw mut (*k).msg,
            &raw mut (*k).addr,
            &raw mut (*k).addrlen,
            &raw mut (*k).timespec,
        )
    };
    RawOp {
        code,
        fd,
        user_data: slot.user_data,
        buf,
        len,
        msg,
        addr,
        addrlen,
        // Stream reads and writes use the fd's position; a shutdown's `how`
        // rides in the offset.
        offset: match slot.operation {
            Operation::Read | Operation::Write | Operation::Shutdown => slot.offset,
            _ => slot.offset + done as u64,
        },
        timeout: slot.timeout,
        timespec,
        defer: false,
    }
}

/// How an inline attempt (skip-on-success mode) went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Inline {
    /// Completed with this many bytes (data or end of stream; a send or
    /// write with all its bytes).
    Done(usize),
    /// A whole transfer went out in part, this many bytes: it goes on from
    /// there (`Slot::done`) the normal way.
    Partial(usize),
    /// Would block, or failed: the real operation finds it again.
    NotDone,
}

/// Skip-on-success mode: try operation `kind` on `buf` (taken out of its
/// slot, which stays claimed) without waiting; otherwise it goes the normal
/// way, through the port. The caller marks received bytes in the buffer.
pub(super) fn try_inline<B: IoBuf>(
    fd: RawFd,
    kind: Operation,
    recv: Option<RecvAccess<B>>,
    buf: &mut B,
    offset: u64,
) -> Inline {
    let (ptr, len) = window(buf, recv);
    if len == 0 {
        return Inline::NotDone; // a zero-byte recv is a readiness probe: it waits
    }
    let iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    let offset = offset as libc::off_t;
    // SAFETY: `ptr` is valid for reads (a send: IoBuf) or writes (a
    // receive: IoBufMut, through `window`) of `len` bytes and the kernel is done with it when each call returns.
    let n = unsafe {
        match kind {
            Operation::Recv => libc::recv(fd, ptr.cast(), len, libc::MSG_DONTWAIT),
            Operation::Send => {
                libc::send(fd, ptr.cast(), len, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
            }
            // RWF_NOWAIT: only what the page cache can serve without blocking
            // (EAGAIN otherwise, or EOPNOTSUPP where unsupported).
            Operation::ReadAt => libc::preadv2(fd, &iov, 1, offset, libc::RWF_NOWAIT),
            Operation::WriteAt => libc::pwritev2(fd, &iov, 1, offset, libc::RWF_NOWAIT),
            _ => return Inline::NotDone,
        }
    };
    let Ok(n) = usize::try_from(n) else {
        return Inline::NotDone;
    };
    if kind.is_whole_transfer() && n < len {
        return Inline::Partial(n);
    }
    Inline::Done(n)
}

pub(super) fn result_of<V, B>(res: i32, slot: &Slot<V, B>) -> io::Result<usize> {
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

pub(super) fn std_to_sockaddr(
    addr: SocketAddr,
    out: &mut libc::sockaddr_storage,
) -> libc::socklen_t {
    copy_sockaddr(&socket2::SockAddr::from(addr), out)
}

/// Copies any socket address (IP or Unix path) into `out`; returns its length.
pub(super) fn copy_sockaddr(
    sa: &socket2::SockAddr,
    out: &mut libc::sockaddr_storage,
) -> libc::socklen_t {
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

pub(super) fn sockaddr_to_std(
    addr: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
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
