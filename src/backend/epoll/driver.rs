//! Driving lanes: attempting ops with the lock released, recording what
//! the attempt showed (done, would block, drained), and dispatching epoll
//! events to the lanes they concern.

use super::*;

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Bookkeeping> {
        self.state.lock()
    }

    pub(super) fn ring(&self) {
        crate::backend::sys::eventfd_ring(self.wakefd.as_fd());
    }

    /// Releases the lock, then rings the doorbell if a completion was added
    /// while the poller slept.
    pub(super) fn unlock(&self, mut st: MutexGuard<'_, Bookkeeping>) {
        let wake = mem::take(&mut st.wake_due);
        drop(st);
        if wake {
            self.ring();
        }
    }

    /// Serves `fd`'s `side`, which the caller marked busy, until its op is
    /// done or would block: `first` (an op being submitted, not stored), or
    /// else the side's stored op. Syscalls run with the lock released.
    pub(super) fn drive<'a>(
        &'a self,
        mut st: MutexGuard<'a, Bookkeeping>,
        fd: RawFd,
        side: Side,
        mut first: Option<Head>,
    ) -> MutexGuard<'a, Bookkeeping> {
        loop {
            let mut head = match first.take() {
                Some(head) => head,
                None => match st.start_head(fd, side) {
                    Some(head) => head,
                    None => return st,
                },
            };
            let wake = mem::take(&mut st.wake_due);
            let step = MutexGuard::unlocked(&mut st, || {
                if wake {
                    self.ring();
                }
                // SAFETY: the op is pending and, if stored, Running: its
                // memory is valid (submit contract) and nobody completes it
                // meanwhile (an op not stored yet is known to nobody else).
                unsafe { sys::attempt(&head.raw, head.stream, head.total, &mut head.progress) }
            });
            let mut cancelled = false;
            if head.stored {
                let Some(op) = st.ops.get_mut(head.user_data) else {
                    continue; // cannot happen: only we complete a Running op
                };
                cancelled = op.phase == Phase::CancelWhenDone;
                op.phase = Phase::Queued;
                op.progress = head.progress;
            }
            let res = match step {
                Step::Done(res) => Some(res),
                Step::Progress | Step::Blocked if cancelled => Some(-libc::ECANCELED),
                // Nothing will ever signal readiness: don't wait for it.
                Step::Blocked if !head.pollable => Some(-libc::EAGAIN),
                Step::Progress | Step::Blocked => None,
            };
            let Some(res) = res else {
                // The op stays pending on its side.
                if !head.stored && !st.store_attempted(fd, side, &head) {
                    // Its user_data was submitted again meanwhile (an op layer
                    // bug): refuse this one.
                    st.report(head.user_data, -libc::EEXIST);
                    continue;
                }
                if step == Step::Progress {
                    continue;
                }
                let Some(entry) = st.fds.get_mut(fd) else {
                    return st;
                };
                let lane = &mut entry.sides[side as usize];
                if lane.tick != head.tick {
                    continue; // an edge arrived during the attempt: retry
                }
                lane.ready = false;
                lane.busy = false;
                return st;
            };
            if head.stored {
                st.unlink(fd, side, head.user_data);
                st.retire(head.user_data, res);
            } else {
                st.report(head.user_data, res);
            }
            if is_short_read(&head, step) {
                let Some(entry) = st.fds.get_mut(fd) else {
                    return st;
                };
                let drains = entry.short_read_drains;
                let lane = &mut entry.sides[side as usize];
                // A short read proves the fd drained if nothing arrived since
                // the attempt started (an edge meanwhile bumped the tick).
                if drains && lane.tick == head.tick {
                    lane.ready = false;
                    lane.busy = false;
                    return st;
                }
            }
        }
    }

    /// Handles epoll events: bumps the lanes' ticks and drives idle lanes
    /// that have work. Returns whether the doorbell rang.
    pub(super) fn dispatch(&self, events: &[libc::epoll_event]) -> bool {
        let mut woken = false;
        let mut st = self.lock();
        st.sleeping = false;
        for ev in events {
            let (bits, token) = (ev.events, ev.u64);
            if token == WAKE_TOKEN {
                woken = true;
                continue;
            }
            let fd = token as RawFd;
            for (side, mask) in [(Side::Read, READ_EVENTS), (Side::Write, WRITE_EVENTS)] {
                if bits & mask == 0 {
                    continue;
                }
                let Some(entry) = st.fds.get_mut(fd) else {
                    break; // deregistered after the event was queued
                };
                if bits & UNSURE != 0 {
                    entry.short_read_drains = false; // for good
                }
                let lane = &mut entry.sides[side as usize];
                lane.tick = lane.tick.wrapping_add(1);
                lane.ready = true;
                if !lane.busy && lane.op != NO_OP {
                    lane.busy = true;
                    st = self.drive(st, fd, side, None);
                }
            }
        }
        self.unlock(st);
        if woken {
            crate::backend::sys::eventfd_drain(self.wakefd.as_fd());
        }
        woken
    }
}

/// Whether `step`, the outcome of an attempt at `head`, is a receive that got
/// some bytes but fewer than it asked for.
fn is_short_read(head: &Head, step: Step) -> bool {
    matches!(
        head.raw.code,
        Syscall::Recv | Syscall::RecvMsg | Syscall::ReadStream
    ) && matches!(step, Step::Done(n) if n > 0 && (n as usize) < head.total)
}
