//! Starting operations: the checks, the slot, the inline attempt, and the
//! submission (or a place in the op's lane behind an earlier one).

use super::*;

impl<K, V, B> Io<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    /// Starts an operation. `fill` writes the kind-specific parts of the slot
    /// (addresses, iovecs) before its pointers are taken.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start(
        &self,
        h: Handle,
        kind: Operation,
        value: V,
        buf: Option<B>,
        bufs: Vec<B>,
        offset: u64,
        how: How<V, B>,
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
        let index = h.index as usize;
        let (fd, inline) = match Self::entry(&mut t, h) {
            Ok(e) if e.reset && kind != Operation::Connect => {
                drop(t);
                return fail(
                    io::Error::from_raw_os_error(libc::ECONNRESET),
                    value,
                    buf,
                    bufs,
                );
            }
            // Skip-on-success mode tries the operation at once, unless an
            // older one of the same direction is still pending (it must get
            // the data, or send its bytes, first).
            Ok(e) => (
                e.fd.as_raw_fd(),
                e.skip_on_success && kind.lane().is_some_and(|i| e.lanes[i].idle()),
            ),
            Err(e) => {
                drop(t);
                return fail(e, value, buf, bufs);
            }
        };
        let init = SlotInit {
            handle: index,
            operation: kind,
            value,
            buf,
            bufs,
            offset,
            timeout: how.timeout,
        };
        // Filled in place; invisible to the rest of the op layer until it
        // enters the table (`OpTable::enter`) or is given back.
        let k = match t.ops.claim(init) {
            Ok(k) => k,
            // Every slot index is taken (MAX_IN_FLIGHT slots, none free).
            Err(init) => {
                drop(t);
                return fail(too_many(), init.value, init.buf, init.bufs);
            }
        };
        #[cfg(feature = "futures")]
        {
            t.ops[k].awaiter = how.awaiter;
        }
        if let Err(e) = fill(&mut t.ops[k]) {
            let (value, buf, bufs) = recycle(&mut t, k);
            drop(t);
            return fail(e, value, buf, bufs);
        }
        // The lane this op runs in: taken for it from here on (an inline
        // attempt runs with the lock released, and nothing of its direction
        // may overtake it meanwhile).
        let lane = kind.lane();
        if inline {
            // `inline` implies a lane, idle: take it, and count the op as
            // pending so the handle (its fd) stays open during the attempt.
            if let Some(i) = lane {
                t.handles[index].lanes[i].busy = true;
            }
            t.handles[index].pending += 1;
            // The buffer leaves the claimed slot for the attempt, which runs
            // with the lock released.
            let slot = &mut t.ops[k];
            let (recv, offset) = (slot.recv, slot.offset);
            let mut buf = slot.buf.take();
            drop(t);
            let attempt = match &mut buf {
                Some(b) => try_inline(fd, kind, recv, b, offset),
                None => Inline::NotDone,
            };
            t = self.tables.lock();
            let slot = &mut t.ops[k];
            slot.buf = buf;
            let bytes = match attempt {
                Inline::Done(n) => {
                    slot.mark_received(n);
                    Some(n)
                }
                Inline::Partial(n) => {
                    slot.mark_received(n);
                    slot.done = n;
                    None
                }
                Inline::NotDone => None,
            };
            let e = &mut t.handles[index];
            let stopped = e.closing || self.refusing.load(Ordering::Relaxed);
            if bytes.is_some() || stopped {
                // Done (or closed or shut down meanwhile, before it was
                // started: refused, as if it came after): give the lane and
                // the handle back.
                let (value, buf, bufs) = self.give_back(t, index, lane, k);
                return match bytes {
                    Some(bytes) => {
                        debug_assert!(bufs.is_empty());
                        Ok(Issued::Completed { bytes, value, buf })
                    }
                    None if self.refusing.load(Ordering::Relaxed) => {
                        fail(shutting_down(), value, buf, bufs)
                    }
                    None => fail(ebadf("invalid or closed handle"), value, buf, bufs),
                };
            }
            // Not finished: it goes on below as a normal operation, with its
            // lane taken and counted pending already.
            e.pending -= 1;
        } else if let Some(i) = lane {
            if t.handles[index].lanes[i].busy {
                return self.queue_in_lane(t, index, i, k);
            }
            t.handles[index].lanes[i].busy = true;
        }
        if t.ops.len() >= MAX_IN_FLIGHT {
            let mut after = Deferred::default();
            if let Some(i) = lane {
                after.next = self.next_in_lane(&mut t, index, i);
            }
            let (value, buf, bufs) = recycle(&mut t, k);
            after.stops = self.stops.load(Ordering::Relaxed);
            drop(t);
            self.run(after);
            return fail(too_many(), value, buf, bufs);
        }
        let user_data = Self::new_user_data(&mut t, k);
        t.handles[index].pending += 1;
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        #[cfg(feature = "futures")]
        let awaited = t.ops[k].awaiter.is_some();
        #[cfg(feature = "futures")]
        if awaited {
            self.awaited.fetch_add(1, Ordering::SeqCst);
        }
        let slot = &mut t.ops[k];
        slot.user_data = user_data;
        slot.stage = Stage::Kernel;
        let mut raw = raw_op(slot, fd);
        raw.defer = how.defer;
        t.ops.enter(k);
        let stops = self.stops.load(Ordering::Relaxed);
        drop(t);
        // The memory `raw` points into — the live slot's buffers, iovecs and
        // kernel area — is on the heap and stays put when the slot moves; it
        // is released or reused only in `finish`, after the backend returned
        // this op's completion, or leaked with the table if that never happens.
        // SAFETY: so it outlives the kernel's use of it (see above).
        match unsafe { self.launch(&raw, stops) } {
            Ok(()) => Ok(Issued::Pending(OpId(user_data))),
            Err(error) => {
                // Not started (the backend's contract): no completion will
                // come, and nothing of the slot is in the kernel's hands.
                let t = self.tables.lock();
                let k = op_index(user_data);
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                #[cfg(feature = "futures")]
                if awaited {
                    self.awaited.fetch_sub(1, Ordering::SeqCst);
                }
                // Others may have queued behind it in its lane meanwhile.
                let (value, buf, bufs) = self.give_back(t, index, lane, k);
                fail(error, value, buf, bufs)
            }
        }
    }

    /// Gives back what a start took and did not leave with the kernel: the
    /// handle's pending count, the lane `lane` (its next op starts), slot `k`
    /// (its value and buffers come back) and, if this was the handle's last
    /// op, a closing handle's fd. Releases the tables.
    fn give_back(
        &self,
        mut t: parking_lot::MutexGuard<'_, Tables<K, V, B>>,
        index: usize,
        lane: Option<usize>,
        k: usize,
    ) -> (V, Option<B>, Vec<B>) {
        t.handles[index].pending -= 1;
        let mut after = Deferred::default();
        if let Some(i) = lane {
            after.next = self.next_in_lane(&mut t, index, i);
        }
        let taken = recycle(&mut t, k);
        after.closed = self.close_if_done(&mut t, index).map(|(c, _key)| c);
        after.stops = self.stops.load(Ordering::Relaxed);
        drop(t);
        self.run(after);
        taken
    }

    /// A fresh user_data for the op in claimed slot `index`, about to enter
    /// `ops` (see `backend::user_data`).
    pub(super) fn new_user_data(t: &mut Tables<K, V, B>, index: usize) -> u64 {
        t.next_seq = t.next_seq.wrapping_add(1);
        user_data::make(t.next_seq, index)
    }

    /// Queues `slot` in lane `lane` of handle `index`, behind an earlier op of
    /// its direction: it starts when that one has completed (`next_in_lane`).
    pub(super) fn queue_in_lane(
        &self,
        mut t: parking_lot::MutexGuard<'_, Tables<K, V, B>>,
        index: usize,
        lane: usize,
        k: usize,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        if t.ops.len() >= MAX_IN_FLIGHT {
            let (value, buf, bufs) = recycle(&mut t, k);
            drop(t);
            return Err(IssueError {
                error: too_many(),
                value,
                buf,
                bufs,
            });
        }
        let user_data = Self::new_user_data(&mut t, k);
        t.handles[index].pending += 1;
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        #[cfg(feature = "futures")]
        if t.ops[k].awaiter.is_some() {
            self.awaited.fetch_add(1, Ordering::SeqCst);
        }
        t.handles[index].lanes[lane].waiting.push_back(user_data);
        let slot = &mut t.ops[k];
        slot.user_data = user_data;
        slot.stage = Stage::Waiting;
        let deadline = slot.deadline;
        let mut earliest = false;
        if let Some(d) = deadline {
            t.waiting_deadlines.push(std::cmp::Reverse((d, user_data)));
            self.waiting_deadlines
                .store(t.waiting_deadlines.len(), Ordering::Release);
            earliest = t
                .waiting_deadlines
                .peek()
                .is_some_and(|r| r.0 .1 == user_data);
        }
        t.ops.enter(k);
        drop(t);
        if earliest {
            // A poller may be in the kernel with a later (or no) timeout:
            // wake it so that it waits no longer than this op's deadline
            // (`reap` bounds the poll by it).
            self.backend.wake();
        }
        Ok(Issued::Pending(OpId(user_data)))
    }

    /// Submits `raw` to the backend (the tables lock is not held). A stop
    /// (cancel or close) that ran between the decision to start it, taken
    /// under the lock when `Io::stops` was `stops`, and this submission could
    /// not cancel it yet (the backend did not know it): it is cancelled now.
    ///
    /// # Safety
    /// As [`Backend::submit`]: `raw` points into a slot in `ops` that stays
    /// there until this op's completion.
    pub(super) unsafe fn launch(&self, raw: &RawOp, stops: u64) -> io::Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.backend.submit(raw) }?;
        // `stops` changes under the tables lock whenever ops are stopped, so
        // an unchanged count means none was. (Such a stop's cancel reached the
        // backend before our submit did, through the backend's own lock, so
        // its increment is visible here.)
        if self.stops.load(Ordering::Acquire) != stops {
            let user_data = raw.user_data;
            let stop = self
                .tables
                .lock()
                .ops
                .get(op_index(user_data))
                .filter(|s| s.user_data == user_data)
                .map(|s| s.stop);
            if matches!(stop, Some(Stop::Close | Stop::Cancel)) {
                self.backend.cancel(user_data);
            }
        }
        Ok(())
    }

    pub(crate) fn accept(
        &self,
        h: Handle,
        value: V,
        how: How<V, B>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        self.start(h, Operation::Accept, value, None, Vec::new(), 0, how, |s| {
            // SAFETY: `fill` runs before the op is submitted.
            unsafe { s.area() }.addrlen =
                mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            Ok(())
        })
    }

    pub(crate) fn connect(
        &self,
        h: Handle,
        to: socket2::SockAddr,
        value: V,
        how: How<V, B>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        self.start(
            h,
            Operation::Connect,
            value,
            None,
            Vec::new(),
            0,
            how,
            |s| {
                // SAFETY: `fill` runs before the op is submitted.
                let k = unsafe { s.area() };
                k.addrlen = copy_sockaddr(&to, &mut k.addr);
                Ok(())
            },
        )
    }

    /// A send (`recv` is `None`) or a receive (`recv`: how to write into
    /// the buffer). A receive without a buffer is a zero-byte receive.
    pub(crate) fn transfer(
        &self,
        h: Handle,
        recv: Option<RecvAccess<B>>,
        buf: Option<B>,
        value: V,
        how: How<V, B>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if recv.is_none() && buf.is_some() {
            Operation::Send
        } else {
            Operation::Recv
        };
        self.start(h, kind, value, buf, Vec::new(), 0, how, |s| {
            s.recv = recv;
            Ok(())
        })
    }

    /// A read (with `recv`) or a write (`recv` is `None`) at `offset`, or at
    /// the fd's own position when `offset` is `None` (pipes, ttys, eventfds).
    pub(crate) fn file_io(
        &self,
        h: Handle,
        recv: Option<RecvAccess<B>>,
        buf: B,
        offset: Option<u64>,
        value: V,
        how: How<V, B>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = match (recv.is_some(), offset.is_some()) {
            (true, true) => Operation::ReadAt,
            (false, true) => Operation::WriteAt,
            (true, false) => Operation::Read,
            (false, false) => Operation::Write,
        };
        let offset = offset.unwrap_or(0);
        self.start(h, kind, value, Some(buf), Vec::new(), offset, how, |s| {
            s.recv = recv;
            Ok(())
        })
    }

    /// shutdown(2) with `how` (`SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`), in the
    /// socket's send lane.
    pub(crate) fn shutdown(
        &self,
        h: Handle,
        shut: libc::c_int,
        value: V,
        how: How<V, B>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let arg = shut as u64;
        self.start(
            h,
            Operation::Shutdown,
            value,
            None,
            Vec::new(),
            arg,
            how,
            |_| Ok(()),
        )
    }

    /// A datagram send to `to`, or (`to` is `None`) a receive through `recv`.
    pub(crate) fn datagram(
        &self,
        h: Handle,
        to: Option<SocketAddr>,
        recv: Option<RecvAccess<B>>,
        buf: B,
        value: V,
        how: How<V, B>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if to.is_some() {
            Operation::SendTo
        } else {
            Operation::RecvFrom
        };
        self.start(h, kind, value, Some(buf), Vec::new(), 0, how, |s| {
            if to.is_none() {
                s.recv = recv;
            }
            // SAFETY: `fill` runs before the op is submitted.
            let k = unsafe { s.area() };
            k.addrlen = match to {
                Some(to) => std_to_sockaddr(to, &mut k.addr),
                None => mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
            };
            Ok(())
        })
    }

    /// One datagram (or stream data) into `bufs`, with its source address,
    /// its ancillary data into `control` and its flags (recvmsg(2)).
    pub(crate) fn recv_msg(
        &self,
        h: Handle,
        recv: RecvAccess<B>,
        bufs: Vec<B>,
        control: B,
        value: V,
        how: How<V, B>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        // The control buffer rides in `buf` until the slot is filled, so that
        // a refusal before that hands it back like any buffer.
        self.start(
            h,
            Operation::RecvMsg,
            value,
            Some(control),
            bufs,
            0,
            how,
            |s| {
                s.recv = Some(recv);
                s.control = s.buf.take();
                if s.bufs.len() > 1024 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "a message takes at most 1024 buffers",
                    ));
                }
                // SAFETY: `fill` runs before the op is submitted.
                unsafe { s.area() }.addrlen =
                    mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                Ok(())
            },
        )
    }

    /// A vectored send (`recv` is `None`) or receive.
    pub(crate) fn vectored(
        &self,
        h: Handle,
        recv: Option<RecvAccess<B>>,
        bufs: Vec<B>,
        value: V,
        how: How<V, B>,
    ) -> Result<Issued<V, B>, IssueError<V, B>> {
        let kind = if recv.is_none() {
            Operation::SendVectored
        } else {
            Operation::RecvVectored
        };
        self.start(h, kind, value, None, bufs, 0, how, |s| {
            s.recv = recv;
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

fn too_many() -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        "too many operations in flight on this port",
    )
}
