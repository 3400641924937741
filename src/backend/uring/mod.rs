//! The io_uring backend (docs/semantics.md, "Backends"; the default).
//!
//! * One ring per port, shared by every thread: submissions go through a mutex
//!   around the submission queue. An op issued by a thread that is an active
//!   worker of the port is *deferred*: its SQEs (an op and its linked timeout
//!   go in together) wait in the queue, and the thread's next `poll` (its
//!   `io_uring_enter` that waits) or `flush` (when it returns to `get`, or
//!   leaves the port for a blocking section) submits the whole batch with one
//!   system call. Other submissions are entered at once. The ring is set up
//!   without SINGLE_ISSUER or DEFER_TASKRUN: many threads wait on it, and with
//!   those flags completions would only be processed when the submitting
//!   thread enters the kernel.
//! * Task work is cooperative by default (COOP_TASKRUN + TASKRUN_FLAG, Linux
//!   5.19+; see `Builder::uring_cooperative_task_run` and `flush`). Kernels
//!   5.11–5.18 refuse those flags with EINVAL: the ring is then set up again
//!   without them, in interrupting mode, and [`Backend::mode`] says so.
//! * Completions are reaped by the port's poller, one thread at a time
//!   (leader/follower, see `port_core`); there is no reaper thread.
//! * `wake` submits a NOP, whose completion makes a poller blocked in
//!   `io_uring_enter` return; if it cannot be queued, it writes an eventfd that
//!   a multishot poll request on the ring watches.
//! * Internal requests (the wake poll, cancels, linked timeouts) carry
//!   `INTERNAL` in their user_data and produce no completion for the op layer.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};
use parking_lot::Mutex;

use self::fixed::FixedFiles;
use super::user_data::{self, TIMER_EVENT};
use super::{Backend, BackendKind, Completion, RawOp, Syscall, UringOptions};
use crate::port_core::FlushHint;

mod fixed;

/// user_data bit for requests the backend makes for itself.
const INTERNAL: u64 = user_data::BACKEND_REQUEST;
/// user_data bit (with an op's own user_data) for a zero-byte recv, which is
/// run as a readiness poll; its CQE carries a poll mask, not a byte count.
const PROBE: u64 = user_data::PROBE;
const WAKE: u64 = INTERNAL | 1;
const CANCEL: u64 = INTERNAL | 2;
/// A wake by NOP (see `wake`).
const WAKE_NOP: u64 = INTERNAL | 4;
/// An op's linked timeout: `LINK_TIMEOUT | op's user_data`. Its completion is
/// reported to the op layer as a [`TIMER_EVENT`].
const LINK_TIMEOUT: u64 = INTERNAL | TIMER_EVENT;

/// Submission-queue size; a full queue is flushed to the kernel and retried.
const ENTRIES: u32 = 1024;
/// Completion-queue size: room for many operations finishing at once (more
/// go to the kernel's overflow list, see `enter_submit`).
const CQ_ENTRIES: u32 = 8192;

/// The opcodes this backend uses (probed by [`UringBackend::new`]).
pub(crate) const OPCODES: &[(u8, &str)] = &[
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::LinkTimeout::CODE, "LINK_TIMEOUT"),
    (opcode::Nop::CODE, "NOP"),
];

/// Which of the opcodes this backend uses the kernel's io_uring supports, by
/// name (for diagnostics such as `cport info`); an error if no ring can be
/// set up at all.
pub(crate) fn opcode_support() -> io::Result<Vec<(&'static str, bool)>> {
    let ring = IoUring::new(2)?;
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    Ok(OPCODES
        .iter()
        .map(|&(code, name)| (name, probe.is_supported(code)))
        .collect())
}

/// Sets up the ring: SQPOLL if asked, else COOP_TASKRUN + TASKRUN_FLAG when
/// `cooperative`.
fn setup_ring(options: &UringOptions, cooperative: bool) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder.setup_clamp().setup_cqsize(CQ_ENTRIES);
    if let Some(idle) = options.sqpoll_idle {
        // The SQ thread submits, so it runs the task work: no user thread
        // is interrupted, and the kernel refuses the COOP flags with it.
        builder.setup_sqpoll(u32::try_from(idle.as_millis()).unwrap_or(u32::MAX));
    } else if cooperative {
        // See `Builder::uring_cooperative_task_run`: no IPI per
        // completion; `flush` runs pending task work.
        builder.setup_coop_taskrun().setup_taskrun_flag();
    }
    builder.build(ENTRIES)
}

pub(crate) struct UringBackend {
    ring: IoUring,
    /// Serialises writers of the submission queue.
    submit_lock: Mutex<()>,
    /// Serialises readers of the completion queue (the port has one poller at
    /// a time; this makes that a guarantee rather than an assumption).
    reap_lock: Mutex<()>,
    wake_fd: OwnedFd,
    /// fd of every pending zero-byte recv (by user_data), to read the socket
    /// error when its readiness poll reports POLLERR.
    probes: Mutex<std::collections::HashMap<u64, RawFd>>,
    /// Completions reaped by a submitting thread that found the rings full;
    /// `poll` returns them first.
    stash: Mutex<Vec<Completion>>,
    /// The wake poll ended and must be submitted again.
    rearm_wake: std::sync::atomic::AtomicBool,
    /// Whether submissions were pushed without entering the kernel
    /// (`RawOp::defer`), and whether `flush(urgent)` has task work to check;
    /// shared with the port core, which skips flushes it says are empty.
    hint: Arc<FlushHint>,
    /// Set up with COOP_TASKRUN (see `flush`).
    cooperative: bool,
    /// How task work runs, in words (see [`Backend::mode`]).
    mode: String,
    /// A wake CQE was reaped and not yet acted on (see `poll`).
    woken: std::sync::atomic::AtomicBool,
    /// The kernel sets `IORING_CQE_F_SOCK_NONEMPTY` on receives (5.19, the
    /// release that also brought `IORING_OP_SOCKET`, probed for here).
    reports_nonempty: bool,
    /// Associated descriptors registered with the ring (Linux 6.13+).
    fixed: Option<FixedFiles>,
}

impl UringBackend {
    /// Sets up a ring and checks that the kernel supports every opcode used.
    /// Errors keep the errno of the failed step (ENOSYS, EPERM, ENOMEM, EINVAL).
    pub(crate) fn new(options: UringOptions, hint: Arc<FlushHint>) -> io::Result<Self> {
        Self::new_with(options, hint, setup_ring)
    }

    /// [`new`](Self::new) with the ring set up by `setup(options, cooperative)`
    /// (tests inject a kernel's refusal there).
    fn new_with(
        options: UringOptions,
        hint: Arc<FlushHint>,
        setup: impl Fn(&UringOptions, bool) -> io::Result<IoUring>,
    ) -> io::Result<Self> {
        let wanted = options.cooperative_task_run && options.sqpoll_idle.is_none();
        let (ring, cooperative, mode) = match setup(&options, wanted) {
            Ok(ring) => {
                let mode = match (options.sqpoll_idle, wanted) {
                    (Some(_), _) => "SQPOLL",
                    (None, true) => "cooperative task running",
                    (None, false) => "interrupting task work",
                };
                (ring, wanted, mode.to_string())
            }
            // Linux 5.11–5.18 know io_uring but not COOP_TASKRUN or
            // TASKRUN_FLAG (5.19): the same ring without them works there.
            Err(e) if wanted && e.raw_os_error() == Some(libc::EINVAL) => (
                setup(&options, false)?,
                false,
                "interrupting task work (the kernel refused cooperative task running, \
                 which needs Linux 5.19 or later)"
                    .to_string(),
            ),
            Err(e) => return Err(e),
        };
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if let Some((_, name)) = OPCODES.iter().find(|(code, _)| !probe.is_supported(*code)) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring lacks opcode {name}"),
            ));
        }
        if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks EXT_ARG or NODROP (kernel older than 5.11)",
            ));
        }
        let reports_nonempty = probe.is_supported(opcode::Socket::CODE);
        let fixed = FixedFiles::new(&ring);
        let wake_fd = super::sys::eventfd()?;
        if cooperative {
            hint.set_urgent_work();
        }
        let backend = UringBackend {
            ring,
            submit_lock: Mutex::new(()),
            reap_lock: Mutex::new(()),
            wake_fd,
            probes: Mutex::new(std::collections::HashMap::new()),
            stash: Mutex::new(Vec::new()),
            rearm_wake: std::sync::atomic::AtomicBool::new(false),
            hint,
            cooperative,
            mode,
            woken: std::sync::atomic::AtomicBool::new(false),
            reports_nonempty,
            fixed,
        };
        backend.arm_wake()?;
        Ok(backend)
    }

    fn arm_wake(&self) -> io::Result<()> {
        let sqe = opcode::PollAdd::new(types::Fd(self.wake_fd.as_raw_fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(WAKE);
        // SAFETY: a poll request references no memory of ours.
        unsafe { self.push(&[sqe], false) }
    }

    /// Pushes `entries` (all or none of them) and enters the kernel.
    ///
    /// `Ok` once the entries are in the submission queue: from then on the
    /// kernel will take them (at this enter or, if it fails — EAGAIN, ENOMEM,
    /// EBUSY — at the next one of any thread, e.g. the poller's), so each
    /// will complete; the caller must not free their memory. `Err` only if
    /// they could not be queued at all.
    ///
    /// # Safety
    /// The entries' pointers must stay valid until their completions (the
    /// caller's obligation from `Backend::submit`).
    unsafe fn push(&self, entries: &[squeue::Entry], defer: bool) -> io::Result<()> {
        let _guard = self.submit_lock.lock();
        loop {
            // SAFETY: `submit_lock` makes us the only writer of the submission
            // queue; the completion side is never touched through this handle.
            let mut sq = unsafe { self.ring.submission_shared() };
            if sq.capacity() - sq.len() >= entries.len() {
                // SAFETY: room checked above; the pointers' validity is the
                // caller's contract.
                unsafe { sq.push_multiple(entries) }
                    .map_err(|_| io::Error::other("submission queue full"))?;
                sq.sync();
                break;
            }
            drop(sq);
            // Make room. Nothing of ours is queued yet, so failing is fine;
            // EBUSY while another thread reaps passes once it has reaped.
            let mut tries = 0;
            while let Err(e) = self.enter_submit() {
                tries += 1;
                if e.raw_os_error() != Some(libc::EBUSY) || tries > 1000 {
                    return Err(e);
                }
                std::thread::yield_now();
            }
        }
        if !defer && self.enter_submit().is_ok() {
            return Ok(());
        }
        // Goes in with the next `poll` or `flush` (see `RawOp::defer`), which
        // also retries a failed enter.
        self.hint.set_deferred();
        Ok(())
    }

    /// Submits what the submission queue holds. The caller holds
    /// `submit_lock`.
    fn enter_submit(&self) -> io::Result<()> {
        let mut busy = 0;
        loop {
            match self.ring.submitter().submit() {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                // EBUSY: completions overflowed the CQ ring (kept by NODROP) and
                // the kernel takes no more work until they are reaped. Move them
                // to `stash` and retry — unless another thread (or this one,
                // further up the stack) is reaping right now: then give up and
                // let the caller leave the entries queued for the next enter,
                // rather than spin against a reaper that may be waiting for us.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && busy < 3 => {
                    busy += 1;
                    match self.reap_lock.try_lock() {
                        Some(_reaping) => {
                            let mut stash = self.stash.lock();
                            self.reap(&mut stash);
                        }
                        None => return Err(e),
                    }
                }
                other => return other.map(drop),
            }
        }
    }

    fn rearm_wake_if_needed(&self) {
        if self
            .rearm_wake
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            // If this fails, wakes degrade to the pollers' own timeouts.
            let _ = self.arm_wake();
        }
    }

    fn drain_wake_fd(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local buffer of 8 bytes.
        unsafe { libc::read(self.wake_fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }

    fn entry_for(op: &RawOp) -> squeue::Entry {
        let fd = types::Fd(op.fd);
        let len = u32::try_from(op.len).unwrap_or(u32::MAX);
        match op.code {
            Syscall::Accept => opcode::Accept::new(fd, op.addr.cast(), op.addrlen)
                .flags(libc::SOCK_CLOEXEC)
                .build()
                .user_data(op.user_data),
            Syscall::Connect => {
                // SAFETY: `addrlen` points to the length the op layer wrote
                // before submitting and keeps alive (see `Backend::submit`).
                let addrlen = unsafe { *op.addrlen };
                opcode::Connect::new(fd, op.addr.cast(), addrlen)
                    .build()
                    .user_data(op.user_data)
            }
            Syscall::Recv if op.len == 0 => {
                // A zero-byte recv waits for readability (a Windows idiom):
                // io_uring's recv of 0 bytes would complete at once.
                opcode::PollAdd::new(fd, (libc::POLLIN | libc::POLLRDHUP) as u32)
                    .build()
                    .user_data(op.user_data | PROBE)
            }
            Syscall::Recv => opcode::Recv::new(fd, op.buf, len)
                .build()
                .user_data(op.user_data),
            Syscall::Send => opcode::Send::new(fd, op.buf, len)
                .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                .build()
                .user_data(op.user_data),
            Syscall::RecvMsg => opcode::RecvMsg::new(fd, op.msg)
                .build()
                .user_data(op.user_data),
            Syscall::SendMsg => opcode::SendMsg::new(fd, op.msg)
                .flags((libc::MSG_NOSIGNAL | libc::MSG_WAITALL) as u32)
                .build()
                .user_data(op.user_data),
            Syscall::Read => opcode::Read::new(fd, op.buf, len)
                .offset(op.offset)
                .build()
                .user_data(op.user_data),
            Syscall::Write => opcode::Write::new(fd, op.buf, len)
                .offset(op.offset)
                .build()
                .user_data(op.user_data),
            // Offset -1: the fd's own position (what read(2)/write(2) use).
            Syscall::ReadStream => opcode::Read::new(fd, op.buf, len)
                .offset(u64::MAX)
                .build()
                .user_data(op.user_data),
            Syscall::WriteStream => opcode::Write::new(fd, op.buf, len)
                .offset(u64::MAX)
                .build()
                .user_data(op.user_data),
            Syscall::Shutdown => opcode::Shutdown::new(fd, op.offset as i32)
                .build()
                .user_data(op.user_data),
        }
    }

    /// Translates one CQE; internal ones yield nothing.
    fn completion(&self, user_data: u64, res: i32, flags: u32) -> Option<Completion> {
        if user_data & LINK_TIMEOUT == LINK_TIMEOUT {
            return Some(Completion::new(user_data & !INTERNAL, res));
        }
        if user_data & INTERNAL != 0 {
            if user_data == WAKE_NOP {
                self.woken.store(true, Ordering::Release);
            }
            if user_data == WAKE {
                self.drain_wake_fd();
                // Someone wants the poller out: `poll` must return, not wait,
                // even if this was reaped before its wait (or into `stash`).
                self.woken.store(true, Ordering::Release);
                if !io_uring::cqueue::more(flags) {
                    // The multishot poll ended (e.g. CQ overflow): re-arm it at
                    // the end of `poll` (we may hold the submit lock here).
                    self.rearm_wake
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            return None;
        }
        if user_data & PROBE != 0 {
            let user_data = user_data & !PROBE;
            let fd = self.probes.lock().remove(&user_data);
            let res = match fd {
                _ if res < 0 => res,
                // Readable because of an error (e.g. reset): report it.
                Some(fd) if res & i32::from(libc::POLLERR) != 0 => -socket_error(fd),
                _ => 0,
            };
            return Some(Completion::new(user_data, res));
        }
        Some(Completion {
            user_data,
            res,
            drained: self.reports_nonempty && res > 0 && !io_uring::cqueue::sock_nonempty(flags),
        })
    }
}

/// The pending error of socket `fd` (SO_ERROR), as a positive errno; a socket
/// that reports POLLERR without one is treated as reset.
fn socket_error(fd: RawFd) -> i32 {
    match super::sys::so_error(fd) {
        Ok(e) if e != 0 => e,
        _ => libc::ECONNRESET,
    }
}

impl Backend for UringBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Uring
    }

    fn mode(&self) -> Option<&str> {
        Some(&self.mode)
    }

    fn register(&self, fd: RawFd) -> io::Result<()> {
        if let Some(fixed) = &self.fixed {
            fixed.register(&self.ring, fd);
        }
        Ok(())
    }

    fn deregister(&self, fd: RawFd) {
        if let Some(fixed) = &self.fixed {
            fixed.deregister(&self.ring, fd);
        }
    }

    unsafe fn submit(&self, op: &RawOp) -> io::Result<()> {
        debug_assert_eq!(op.user_data & (INTERNAL | PROBE), 0);
        let mut entry = Self::entry_for(op);
        if self.fixed.as_ref().is_some_and(|f| f.contains(op.fd)) {
            // Slot `fd` of the file table holds `fd` (see `fixed`).
            entry = entry.flags(squeue::Flags::FIXED_FILE);
        }
        let probe = op.code == Syscall::Recv && op.len == 0;
        if probe {
            self.probes.lock().insert(op.user_data, op.fd);
        }
        // SAFETY: forwarded from our caller's contract.
        let result = unsafe { self.submit_entry(op, entry) };
        if probe && result.is_err() {
            self.probes.lock().remove(&op.user_data);
        }
        result
    }

    fn cancel(&self, user_data: u64) {
        self.cancel_many(&[user_data]);
    }

    fn cancel_many(&self, user_data: &[u64]) {
        // A zero-byte recv runs as a poll request under `user_data | PROBE`.
        let targets: Vec<u64> = {
            let probes = self.probes.lock();
            user_data
                .iter()
                .map(|&ud| {
                    if probes.contains_key(&ud) {
                        ud | PROBE
                    } else {
                        ud
                    }
                })
                .collect()
        };
        for chunk in targets.chunks(ENTRIES as usize / 2) {
            let sqes: Vec<squeue::Entry> = chunk
                .iter()
                .map(|&target| opcode::AsyncCancel::new(target).build().user_data(CANCEL))
                .collect();
            // SAFETY: cancel requests reference no memory of ours. If they cannot
            // be submitted the ops still complete on their own; nothing is lost.
            let _ = unsafe { self.push(&sqes, false) };
        }
    }

    fn poll(&self, timeout: Option<Duration>, out: &mut Vec<Completion>) -> io::Result<()> {
        let _guard = self.reap_lock.lock();
        let before = out.len();
        out.append(&mut self.stash.lock());
        self.reap(out);
        let woken = self.woken.swap(false, Ordering::AcqRel);
        if woken || out.len() > before || timeout == Some(Duration::ZERO) {
            // No wait: one enter submits what this and other threads held
            // back (if anything), and what it completed at once (a send that
            // went straight out, task work it ran) is reaped now, in this
            // batch. Reaping it only at the next poll would cost that poll an
            // enter of its own: two per batch where a plain submit-and-wait
            // loop makes one.
            if self.hint.deferred() {
                self.flush(false);
                self.reap(out);
                // Any wake reaped here was for this poll, which returns.
                self.woken.store(false, Ordering::Release);
            }
            self.rearm_wake_if_needed();
            return Ok(());
        }
        // The enter below submits whatever is queued, deferred or not.
        self.hint.take_deferred();
        let result = match timeout {
            None => self.ring.submitter().submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match result {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        self.reap(out);
        // Any wake reaped here was for this wait, which is over.
        self.woken.store(false, Ordering::Release);
        self.rearm_wake_if_needed();
        Ok(())
    }

    fn flush(&self, urgent: bool) {
        // Load first: this runs on every `get`, and a swap would write the
        // cache line each time.
        if self.hint.take_deferred() {
            let _guard = self.submit_lock.lock();
            // A failed enter leaves the entries queued: try again at the
            // next flush (the poller's enter takes them too). Any enter also
            // runs this thread's pending task work.
            if self.enter_submit().is_err() {
                self.hint.set_deferred();
            }
        } else if !urgent || !self.cooperative {
            // Interrupting mode: task work runs at once by itself. Or the
            // thread comes back to the port after this packet and no other
            // thread waits that could run a completion sooner.
        } else if let Some(_guard) = self.submit_lock.try_lock() {
            // COOP_TASKRUN: the last step of an operation this thread started
            // (e.g. copying data a recv found) runs only when it enters the
            // kernel. The kernel flags pending task work; enter to run it,
            // so a completion is late by one handler at most. (Contended:
            // the holder is entering the kernel anyway; the next get checks.)
            // SAFETY: `submit_lock` makes this the only submission-queue view.
            if unsafe { self.ring.submission_shared() }.taskrun() {
                let _ = self.enter_submit();
            }
        }
    }

    fn wake(&self) {
        // A NOP completes inside this call, so its CQE wakes a poller blocked
        // in io_uring_enter at once. (Measured against writing the eventfd,
        // whose poll request completes through task work on the thread that
        // armed it and costs the poller a read: `cargo bench --bench wake`,
        // see README.) The eventfd stays the fallback when the NOP cannot be
        // queued.
        let sqe = opcode::Nop::new().build().user_data(WAKE_NOP);
        // SAFETY: a NOP references no memory.
        if unsafe { self.push(&[sqe], false) }.is_ok() {
            return;
        }
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a local array to our eventfd. A full
        // counter (EAGAIN) means a wake is pending already.
        unsafe { libc::write(self.wake_fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }
}

impl UringBackend {
    fn reap(&self, out: &mut Vec<Completion>) {
        // SAFETY: `reap_lock` (held by our caller) makes us the only reader of
        // the completion queue.
        let cq = unsafe { self.ring.completion_shared() };
        for cqe in cq {
            if let Some(c) = self.completion(cqe.user_data(), cqe.result(), cqe.flags()) {
                out.push(c);
            }
        }
    }
}

impl UringBackend {
    /// Pushes `entry`, linked to a timeout when the op has one.
    ///
    /// # Safety
    /// As for `Backend::submit`.
    unsafe fn submit_entry(&self, op: &RawOp, entry: squeue::Entry) -> io::Result<()> {
        match op.timeout {
            None => {
                // SAFETY: forwarded from our caller's contract.
                unsafe { self.push(&[entry], op.defer) }
            }
            Some(timeout) => {
                // SAFETY: the op layer keeps `timespec` alive until the op's
                // completion, and nobody else touches it. (The kernel copies the
                // timespec when the SQE is submitted.)
                unsafe { *op.timespec = timeout.into() };
                let timeout = opcode::LinkTimeout::new(op.timespec.cast::<types::Timespec>())
                    .build()
                    .user_data(LINK_TIMEOUT | op.user_data);
                // SAFETY: as above; both go in together so the link holds.
                unsafe { self.push(&[entry.flags(squeue::Flags::IO_LINK), timeout], op.defer) }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::backend::Backend;
    use crate::testing::buf_op;

    /// Sets up rings as a kernel before 5.19 does: COOP_TASKRUN and
    /// TASKRUN_FLAG are refused with EINVAL (counted in `refused`).
    fn as_linux_5_15(
        refused: &std::cell::Cell<u32>,
    ) -> impl Fn(&UringOptions, bool) -> io::Result<IoUring> + '_ {
        move |options, cooperative| {
            if cooperative {
                refused.set(refused.get() + 1);
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            setup_ring(options, false)
        }
    }

    #[test]
    fn kernels_that_refuse_cooperative_task_running_get_an_interrupting_ring() {
        if let Err(e) = UringBackend::new(UringOptions::default(), Default::default()) {
            crate::testing::skip_uring(&crate::backend::explain(&e));
            return;
        }
        let refused = std::cell::Cell::new(0);
        let b = UringBackend::new_with(
            UringOptions::default(),
            Default::default(),
            as_linux_5_15(&refused),
        )
        .expect("a ring without the cooperative flags");
        assert_eq!(refused.get(), 1);
        assert!(!b.cooperative);
        let mode = b.mode().unwrap();
        assert!(
            mode.starts_with("interrupting task work") && mode.contains("5.19"),
            "{mode}"
        );
        // And it works: a receive completes.
        let (ours, mut peer) = UnixStream::pair().unwrap();
        b.register(ours.as_raw_fd()).unwrap();
        let mut buf = [0u8; 8];
        let op = buf_op(Syscall::Recv, ours.as_raw_fd(), 7, &mut buf);
        // SAFETY: `buf` outlives the backend's use of it: the completion is
        // collected below before either is dropped (the backend drops first
        // on a failed assertion, declared after `buf`).
        unsafe { b.submit(&op) }.unwrap();
        peer.write_all(b"hi").unwrap();
        let mut out = Vec::new();
        let start = std::time::Instant::now();
        while out.is_empty() && start.elapsed() < Duration::from_secs(10) {
            b.poll(Some(Duration::from_millis(100)), &mut out).unwrap();
        }
        // (`drained` is about the socket, not the op: not compared.)
        let got: Vec<_> = out.iter().map(|c| (c.user_data, c.res)).collect();
        assert_eq!(got, [(7, 2)]);
        assert_eq!(&buf[..2], b"hi");
    }

    #[test]
    fn other_refusals_are_not_retried() {
        // EINVAL without the cooperative flags asked for, or another errno:
        // reported as it is (the fallback to epoll explains it).
        let calls = std::cell::Cell::new(0);
        let refuse = |errno| {
            let calls = &calls;
            move |_: &UringOptions, _: bool| {
                calls.set(calls.get() + 1);
                Err::<IoUring, _>(io::Error::from_raw_os_error(errno))
            }
        };
        let interrupting = UringOptions {
            cooperative_task_run: false,
            ..UringOptions::default()
        };
        for (options, errno) in [
            (interrupting, libc::EINVAL),
            (UringOptions::default(), libc::EPERM),
            (UringOptions::default(), libc::ENOMEM),
        ] {
            calls.set(0);
            let err = UringBackend::new_with(options, Default::default(), refuse(errno))
                .err()
                .expect("refused");
            assert_eq!(err.raw_os_error(), Some(errno));
            assert_eq!(calls.get(), 1);
        }
    }

    fn raw(code: Syscall, fd: RawFd, user_data: u64, buf: &mut [u8], defer: bool) -> RawOp {
        RawOp {
            defer,
            ..buf_op(code, fd, user_data, buf)
        }
    }

    #[test]
    fn a_poll_that_finds_completions_returns_those_its_submission_completed_too() {
        // Declared before the backend, so dropped after it even when an
        // assertion fails with an op in flight.
        let mut got = [0u8; 8];
        let mut data = *b"12345678";
        let b = match UringBackend::new(UringOptions::default(), Default::default()) {
            Ok(b) => b,
            Err(e) => {
                crate::testing::skip_uring(&crate::backend::explain(&e));
                return;
            }
        };
        let (reader, mut writer) = UnixStream::pair().unwrap();
        let (sender, _receiver) = UnixStream::pair().unwrap();
        // A receive that completes once the peer writes...
        // SAFETY: `got` outlives the backend (see above).
        unsafe { b.submit(&raw(Syscall::Recv, reader.as_raw_fd(), 1, &mut got, false)) }.unwrap();
        writer.write_all(b"hi").unwrap();
        let start = std::time::Instant::now();
        // SAFETY: this thread is the only reader of the completion queue.
        while unsafe { b.ring.completion_shared() }.is_empty()
            && start.elapsed() < Duration::from_secs(10)
        {
            // Runs the receive's task work (cooperative task running).
            b.flush(true);
            std::thread::sleep(Duration::from_millis(1));
        }
        // ...is ready when a poll that does not wait looks, while a send with
        // room in its socket was held back: the poll's enter submits the
        // send, which completes at once, and the same poll returns both.
        // SAFETY: `data` outlives the backend (see above).
        unsafe { b.submit(&raw(Syscall::Send, sender.as_raw_fd(), 2, &mut data, true)) }.unwrap();
        assert!(b.hint.deferred(), "the send waits for a flush");
        let mut out = Vec::new();
        b.poll(Some(Duration::ZERO), &mut out).unwrap();
        out.sort_by_key(|c| c.user_data);
        let got: Vec<_> = out.iter().map(|c| (c.user_data, c.res)).collect();
        assert_eq!(got, [(1, 2), (2, 8)]);
        assert!(!b.hint.deferred());
    }
}
