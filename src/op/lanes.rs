//! Lanes: the operations of one direction of a socket run one at a time,
//! in issue order; the next one starts when the previous completed. Also the
//! deadlines of ops waiting in a lane, the made-up completions of ops that
//! never reached the kernel, and the work decided under the tables lock and
//! done after it ([`Deferred`]).

use super::*;

/// Receives (or sends) of one socket: Windows completes them in the order
/// they were issued, the first pending receive taking the first bytes, and
/// sends keep the stream in order (docs/semantics.md, "Operations and packets"). io_uring would run
/// them at once and wake them in any order, so one operation of each
/// direction is in the kernel at a time and the others wait here, in order.
#[derive(Default)]
pub(super) struct Lane {
    /// An operation of this lane is in the kernel.
    pub(super) busy: bool,
    /// The ones issued after it (their user_data), oldest first.
    pub(super) waiting: VecDeque<u64>,
}

impl Lane {
    pub(super) fn idle(&self) -> bool {
        !self.busy && self.waiting.is_empty()
    }
}

/// The next operation of a lane, decided under the tables lock and carried
/// out after it is released (see [`Deferred`]).
pub(super) enum Next {
    /// Submit it (it is marked in the kernel already).
    Submit(RawOp),
    /// End it with this made-up completion (it timed out while it waited).
    MadeUp(Completion),
}

/// What a critical section of the op tables decided to do with the backend:
/// done by [`Io::run`] once the lock is released, so that no system call
/// (a submission, a cancel, a wake-up, a deregistration) runs under the lock
/// every start and completion of the port takes.
#[derive(Default)]
#[must_use]
pub(super) struct Deferred<'a> {
    pub(super) next: Option<Next>,
    /// Ask the backend to cancel this op (its timer ran out).
    pub(super) cancel: Option<u64>,
    pub(super) closed: Option<Closed<'a>>,
    /// `Io::stops` when the decision was taken (see `Io::launch`).
    pub(super) stops: u64,
}

impl<K, V, B> Io<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    /// Carries out what a critical section decided (see [`Deferred`]).
    pub(super) fn run(&self, after: Deferred<'_>) {
        let Deferred {
            next,
            cancel,
            closed,
            stops,
        } = after;
        if let Some(user_data) = cancel {
            self.backend.cancel(user_data);
        }
        match next {
            Some(Next::Submit(raw)) => {
                // SAFETY: `raw` was built by `next_in_lane` or `restart` from
                // a slot that is in `ops` as in the kernel; it stays there
                // until this op's completion, which comes only once submitted
                // (or made up below if the backend refuses it).
                if let Err(e) = unsafe { self.launch(&raw, stops) } {
                    // Not started: the op ends with the error, through the
                    // port like any completion (`complete` takes it as the
                    // op's result; it must not look like a kernel cancel).
                    let res = match e.raw_os_error() {
                        Some(errno) if errno != libc::ECANCELED => -errno,
                        _ => -libc::EIO,
                    };
                    self.complete_later(&[Completion::new(raw.user_data, res)]);
                }
            }
            Some(Next::MadeUp(c)) => self.complete_later(&[c]),
            None => {}
        }
        drop(closed);
    }

    /// The operation of lane `lane` of handle `index` that was in the kernel
    /// is over: picks the next one waiting (skipping those stopped meanwhile,
    /// whose made-up completions are on their way) and marks it in the kernel;
    /// the caller submits it after unlocking ([`Io::run`]). One whose timeout
    /// ran out while it waited gets a made-up "timed out" completion instead,
    /// whose `finish` moves the lane on again.
    pub(super) fn next_in_lane(
        &self,
        t: &mut Tables<K, V, B>,
        index: usize,
        lane: usize,
    ) -> Option<Next> {
        let fd = t.handles[index].fd.as_raw_fd();
        t.handles[index].lanes[lane].busy = false;
        while let Some(user_data) = t.handles[index].lanes[lane].waiting.pop_front() {
            let slot = &mut t.ops[op_index(user_data)];
            debug_assert_eq!(slot.user_data, user_data);
            if slot.stage != Stage::Waiting {
                continue; // Parked: its made-up completion is on its way
            }
            slot.stage = Stage::Kernel;
            t.handles[index].lanes[lane].busy = true;
            let slot = &mut t.ops[op_index(user_data)];
            let now = Instant::now();
            return Some(match slot.deadline {
                Some(d) if d <= now => Next::MadeUp(Completion::new(user_data, -libc::ETIMEDOUT)),
                _ => {
                    let mut raw = raw_op(slot, fd);
                    raw.timeout = slot.deadline.map(|d| d.saturating_duration_since(now));
                    Next::Submit(raw)
                }
            });
        }
        None
    }

    /// Makes up "timed out" completions for operations whose timeout ran out
    /// while they waited in a lane (into `out`), and returns how long until
    /// the next one runs out.
    #[inline]
    pub(super) fn expire_waiting(&self, out: &mut Vec<Completion>) -> Option<Duration> {
        // Every reap asks, twice; almost never is anything waiting with a
        // timeout.
        if self.waiting_deadlines.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.expire_waiting_slow(out)
    }

    #[cold]
    fn expire_waiting_slow(&self, out: &mut Vec<Completion>) -> Option<Duration> {
        let mut t = self.tables.lock();
        let now = Instant::now();
        while let Some(&std::cmp::Reverse((deadline, user_data))) = t.waiting_deadlines.peek() {
            let waiting = t
                .ops
                .get_mut(op_index(user_data))
                .filter(|s| s.user_data == user_data && s.stage == Stage::Waiting);
            match waiting {
                // Left its lane, or started: the kernel times it now.
                None => {}
                Some(_) if deadline > now => return Some(deadline - now),
                Some(slot) => {
                    slot.stage = Stage::Parked;
                    out.push(Completion::new(user_data, -libc::ETIMEDOUT));
                }
            }
            t.waiting_deadlines.pop();
            self.waiting_deadlines
                .store(t.waiting_deadlines.len(), Ordering::Release);
        }
        None
    }

    /// Queues completions the op layer made up (for operations that are not
    /// in the kernel) for the next reaper, and wakes the poller.
    pub(super) fn complete_later(&self, made_up: &[Completion]) {
        if made_up.is_empty() {
            return;
        }
        self.leftovers.lock().extend_from_slice(made_up);
        self.has_leftovers.store(true, Ordering::Release);
        self.backend.wake();
    }
}
