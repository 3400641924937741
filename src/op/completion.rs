//! Completions: a backend completion becomes the op's packet (or a restart,
//! or a timer event), the slot is released, and the packet is delivered —
//! panic-safe from the moment the slot leaves the table.

use super::*;

/// The op's per-operation timer ran out (or could not be armed) and the op
/// is still in flight: whether to cancel it from here. Normally the kernel
/// cancels it by itself; when the thread that started it has exited,
/// io_uring only ends the timer (its cancel would run on the dead thread). A
/// timer that could not be armed (`-EINVAL`: the op went in without its
/// link) is re-armed by cancelling the op, which `complete` then restarts
/// with the time it has left.
pub(super) fn timer_fired<V, B>(slot: &Slot<V, B>, res: i32) -> bool {
    if slot.stop != Stop::None {
        return false;
    }
    let expired = slot.deadline.is_some_and(|d| d <= Instant::now());
    (expired && res != -libc::ETIME) || (!expired && res == -libc::EINVAL)
}

/// The op in slot `index`, to start again for what is left of it (bytes and
/// time), from this (living) thread; the caller submits it after unlocking.
pub(super) fn restart_op<K, V, B: IoBuf>(
    t: &mut Tables<K, V, B>,
    index: usize,
    now: Option<Instant>,
) -> RawOp {
    let slot = &mut t.ops[index];
    let fd = t.handles[slot.handle].fd.as_raw_fd();
    let mut raw = raw_op(slot, fd);
    raw.timeout = slot
        .deadline
        .map(|d| d.saturating_duration_since(now.unwrap_or_else(Instant::now)));
    raw
}

/// Completions a panicking reaper had not handled yet, kept for the next one.
pub(super) struct Leftovers<'a, K, V, B> {
    pub(super) io: &'a Io<K, V, B>,
    pub(super) done: Vec<Completion>,
    pub(super) next: usize,
}

impl<K, V, B> Drop for Leftovers<'_, K, V, B> {
    fn drop(&mut self) {
        if self.next < self.done.len() {
            self.io
                .leftovers
                .lock()
                .extend(self.done.drain(self.next..));
            self.io.has_leftovers.store(true, Ordering::Release);
        }
    }
}

thread_local! {
    /// Whether the packet the completion filter is looking at, on this
    /// thread, is a receive that left its socket empty.
    static FILTERING_DRAINED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Inside a completion filter: whether the packet it was given is a receive
/// (`recv`, `recv_vectored`) after which the kernel reported no more data in
/// the socket. Linux reports that on io_uring (5.19 or later) and for TCP
/// only: `false` means "not known", never "data is there". The C ABI uses it
/// to skip the receive attempt a `WSARecv` makes at once when the socket
/// is known to be empty.
#[doc(hidden)]
pub fn filtered_receive_drained() -> bool {
    FILTERING_DRAINED.try_with(|d| d.get()).unwrap_or(false)
}

/// Un-counts a packet from `in_flight` when it was delivered (or dropped by
/// a panic on the way).
pub(super) struct Delivered<'a>(pub(super) &'a AtomicUsize);

impl Drop for Delivered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<K, V, B> Io<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    /// Turns a backend completion into the op's packet, releasing its slot
    /// (`None`: not the op's end — a timer event, or the op was started again).
    /// The packet counts as in flight until the returned guard is dropped;
    /// the flag says whether it is a receive that left its socket empty
    /// ([`filtered_receive_drained`]).
    pub(super) fn complete(&self, c: Completion) -> Option<(Packet<K, V, B>, Delivered<'_>, bool)> {
        let not_drained = |(p, d)| (p, d, false);
        let mut t = self.tables.lock();
        let user_data = c.user_data & !TIMER_EVENT;
        let index = op_index(user_data);
        let slot = match t.ops.get_mut(index) {
            Some(slot) if slot.user_data == user_data => slot,
            // An op that finished already (a late timer event), or none.
            _ => return None,
        };
        if c.user_data & TIMER_EVENT != 0 {
            let cancel =
                (slot.stage == Stage::Kernel && timer_fired(slot, c.res)).then_some(slot.user_data);
            drop(t);
            self.run(Deferred {
                cancel,
                ..Deferred::default()
            });
            return None;
        }
        if slot.stage != Stage::Kernel {
            // A made-up completion of an op that never reached the kernel
            // (Parked); it may still be listed in its lane.
            let (handle, lane) = (slot.handle, slot.operation.lane());
            if let Some(i) = lane {
                t.handles[handle].lanes[i]
                    .waiting
                    .retain(|&u| u != user_data);
            }
            return self.finish(t, index, c.res).map(not_drained);
        }
        // The clock is read only for ops that have a timeout.
        let now = slot.deadline.map(|_| Instant::now());
        let timed_out = matches!((slot.deadline, now), (Some(d), Some(now)) if d <= now);
        let restart = match c.res {
            // Cancelled by nobody and before its own timeout: the kernel ended
            // it (io_uring cancels a thread's requests when the thread exits).
            // On a port thread exit cancels nothing: start it again.
            r if r == -libc::ECANCELED && slot.stop == Stop::None && !timed_out => true,
            // A stream send or file write that ended short: sends transfer
            // everything or fail. io_uring reports the bytes sent so far when
            // a MSG_WAITALL send is interrupted (thread exit, signal) and hides
            // an error that came after some bytes; go on with the rest, which
            // also brings that error back.
            r if r > 0
                && slot.operation.is_whole_transfer()
                && slot.done + (r as usize) < slot.wanted() =>
            {
                slot.done += r as usize;
                match slot.stop {
                    Stop::Cancel | Stop::Close => {
                        return self.finish(t, index, -libc::ECANCELED).map(not_drained);
                    }
                    Stop::None if timed_out => {
                        return self.finish(t, index, -libc::ETIMEDOUT).map(not_drained)
                    }
                    Stop::None => true,
                }
            }
            _ => false,
        };
        if !restart {
            let drained =
                c.drained && matches!(slot.operation, Operation::Recv | Operation::RecvVectored);
            return self.finish(t, index, c.res).map(|(p, d)| (p, d, drained));
        }
        let raw = restart_op(&mut t, index, now);
        let stops = self.stops.load(Ordering::Relaxed);
        drop(t);
        self.run(Deferred {
            next: Some(Next::Submit(raw)),
            stops,
            ..Deferred::default()
        });
        None
    }

    /// Releases the op's slot and builds its packet from `res` (for whole
    /// transfers: the bytes of the last part; the earlier parts are `done`).
    ///
    /// From the moment the slot leaves `ops`, the op stops counting as in
    /// flight however this ends: the guard returned with the packet is
    /// created first, and a panic of user code here (`K::clone`; a value's
    /// drop when the packet is lost to that panic) leaves every table
    /// consistent, the lane moved on, a closed handle's fd closed and an
    /// accepted socket closed.
    pub(super) fn finish(
        &self,
        mut guard: parking_lot::MutexGuard<'_, Tables<K, V, B>>,
        index: usize,
        res: i32,
    ) -> Option<(Packet<K, V, B>, Delivered<'_>)> {
        let t = &mut *guard;
        // The value and buffers come out and the slot is free from here (a
        // panic below drops them with the rest of this frame); its record
        // stays readable while we hold the table.
        // A RecvMsg's control buffer and an awaited op's cell come out first:
        // freeing the slot would hand the control buffer back as `buf`.
        let mut control = t.ops[index].control.take();
        #[cfg(feature = "futures")]
        let awaiter = t.ops[index].awaiter.take();
        let (value, mut buf, mut bufs) = recycle(t, index);
        let delivered = Delivered(&self.in_flight);
        let slot = t.ops.released_mut(index);
        let (handle, operation, stage, stop, done, recv) = (
            slot.handle,
            slot.operation,
            slot.stage,
            slot.stop,
            slot.done,
            slot.recv,
        );
        let mut result = result_of(res, slot).map(|n| n + done);
        let mut addr = None;
        let mut stream = None;
        let mut msg = None;
        match operation {
            Operation::Accept if res >= 0 => {
                // SAFETY: accept returned a new fd that nobody else owns (the
                // user_data sequence number makes sure this completion is this
                // op's own).
                let fd = unsafe { OwnedFd::from_raw_fd(res) };
                // SAFETY: the op's completion was returned: nothing in flight.
                let k = unsafe { slot.area() };
                addr = sockaddr_to_std(&k.addr, k.addrlen);
                // The peer's address family says what the listener was (an
                // unnamed Unix peer still has the family).
                let unix = i32::from(k.addr.ss_family) == libc::AF_UNIX;
                stream = Some(Accepted { fd, unix });
            }
            Operation::RecvFrom | Operation::RecvVectored if res >= 0 => {
                let from = operation == Operation::RecvFrom;
                // SAFETY: as above.
                let k = unsafe { slot.area() };
                if from {
                    addr = sockaddr_to_std(&k.addr, k.msg.msg_namelen);
                }
                if k.msg.msg_flags & libc::MSG_TRUNC != 0 {
                    // A datagram larger than the buffers: they hold its start,
                    // the rest is lost (WSAEMSGSIZE, as on Windows).
                    result = Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
                }
            }
            Operation::RecvMsg if res >= 0 => {
                // SAFETY: as above.
                let k = unsafe { slot.area() };
                addr = sockaddr_to_std(&k.addr, k.msg.msg_namelen);
                let (flags, control_len) = (k.msg.msg_flags, k.msg.msg_controllen);
                if flags & libc::MSG_TRUNC != 0 {
                    // As for RecvFrom: the buffers hold the datagram's start
                    // (only datagrams are truncated).
                    result = Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
                }
                msg = Some(MsgInfo { flags, control_len });
                if let (Some(access), Some(c)) = (recv, control.as_mut()) {
                    // SAFETY: the kernel wrote `control_len` bytes of
                    // ancillary data at the start of the control buffer, at
                    // most its size (it was the msghdr's msg_controllen).
                    unsafe { (access.set_init)(c, control_len.min(c.bytes_total())) };
                }
            }
            _ => {}
        }
        t.handles[handle].pending -= 1;
        let mut after = Deferred::default();
        if let (Some(i), Stage::Kernel) = (operation.lane(), stage) {
            after.next = self.next_in_lane(t, handle, i);
        }
        after.stops = self.stops.load(Ordering::Relaxed);
        if stop != Stop::None && operation.is_whole_transfer() {
            // A send cut short by cancel or close is aborted, not a success:
            // sends transfer everything or fail (io_uring reports the partial count).
            if matches!(result, Ok(n) if n < wanted(&buf, &bufs, recv.is_some())) {
                result = Err(io::Error::from_raw_os_error(libc::ECANCELED));
            }
        }
        if matches!(&result, Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNRESET | libc::EPIPE)))
            && matches!(
                operation,
                Operation::Recv
                    | Operation::Send
                    | Operation::RecvVectored
                    | Operation::SendVectored
            )
        {
            t.handles[handle].reset = true;
        }
        if res >= 0 {
            mark_received(&mut buf, &mut bufs, recv, res as usize);
        }
        // A RecvMsg hands its control buffer back as the packet's `buf`.
        let buf = buf.or(control);
        #[cfg(feature = "futures")]
        if let Some(cell) = awaiter {
            // An awaited operation: its packet goes to its cell, without the
            // completion key (the awaiting code knows its handle), and never
            // through the filter or the queue.
            let key = self.close_if_done(t, handle).map(|(closed, key)| {
                after.closed = Some(closed);
                key
            });
            drop(guard);
            self.run(after);
            let packet = Packet::completed((), value, result, buf, bufs, addr, stream, msg);
            // Un-counted first: the waker's `wake` is user code, and the
            // driver needs to poll no longer for this operation either way.
            self.awaited.fetch_sub(1, Ordering::SeqCst);
            cell.complete(packet);
            drop(delivered);
            drop(key);
            return None;
        }
        // The key: moved out of a handle that this op was the last of, or
        // cloned (user code, which may panic: caught so that what this op
        // holds is dropped outside the unwinding, then the panic goes on).
        let key = match self.close_if_done(t, handle) {
            Some((closed, key)) => {
                after.closed = Some(closed);
                Ok(key)
            }
            None => {
                let entry = &t.handles[handle];
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry.key.clone()))
            }
        };
        drop(guard);
        self.run(after);
        let key = match key {
            Ok(key) => key,
            Err(panic) => {
                drop((stream, buf, bufs));
                drop(value);
                drop(delivered);
                std::panic::resume_unwind(panic);
            }
        };
        Some((
            Packet::completed(key, value, result, buf, bufs, addr, stream, msg),
            delivered,
        ))
    }

    /// Polls the backend and turns completions into packets.
    pub(crate) fn reap(&self, timeout: Option<Duration>, sink: &mut dyn FnMut(Packet<K, V, B>)) {
        thread_local! {
            /// The calling thread's completion buffer, kept between polls so a
            /// poll allocates nothing in steady state.
            static DONE: std::cell::Cell<Vec<Completion>> = const { std::cell::Cell::new(Vec::new()) };
        }
        // Taken out while in use: a nested reap (from user code in `sink`)
        // just starts with an empty one.
        let mut done = DONE.take();
        if self.has_leftovers.swap(false, Ordering::Acquire) {
            done.append(&mut self.leftovers.lock());
        }
        if done.is_empty() {
            // Operations waiting in a lane time out here, not in the kernel:
            // wait no longer than the first of them.
            let timeout = match self.expire_waiting(&mut done) {
                None => timeout,
                Some(d) => Some(timeout.map_or(d, |t| t.min(d))),
            };
            // Nor longer than the first timer.
            let timeout = match self.next_timer_in() {
                None => timeout,
                Some(d) => Some(timeout.map_or(d, |t| t.min(d))),
            };
            if done.is_empty() && self.backend.poll(timeout, &mut done).is_err() {
                // A failing poll (should not happen) must not spin a waiter hot.
                std::thread::sleep(Duration::from_millis(1));
            }
            self.expire_waiting(&mut done);
        }
        // User code runs below (the completion filter, the sink's hand-off,
        // K::clone, drops of values). If it panics, the completions not yet
        // turned into packets are kept for the next reaper (`Leftovers`), and
        // the packet in hand stops counting as in flight (`Delivered`): it is
        // lost to the panic, but its memory was the kernel's no longer.
        let mut rest = Leftovers {
            io: self,
            done,
            next: 0,
        };
        while let Some(&c) = rest.done.get(rest.next) {
            rest.next += 1;
            if let Some((mut p, _delivered, drained)) = self.complete(c) {
                // Delivered (handed to a waiter or queued) or dropped: no
                // longer in flight once `_delivered` goes out of scope.
                let keep = self.filter.get().is_none_or(|f| {
                    let _ = FILTERING_DRAINED.try_with(|d| d.set(drained));
                    f(&mut p)
                });
                if keep {
                    sink(p);
                }
            }
        }
        let mut done = mem::take(&mut rest.done);
        drop(rest);
        self.fire_timers(sink);
        done.clear();
        DONE.set(done);
    }
}
