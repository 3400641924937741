//! Handles: association (one port per handle), closing, cancelling, and
//! the deregistration of a closed handle once nothing of it is in flight.

use super::*;

pub(super) struct HandleEntry<K> {
    pub(super) fd: OwnedFd,
    pub(super) who: Identity,
    pub(super) key: K,
    pub(super) generation: u32,
    pub(super) pending: usize,
    /// Receives (recv, recv_from, vectored) and sends: see [`Lane`]. (An
    /// inline attempt in skip-on-success mode must not overtake them either.)
    pub(super) lanes: [Lane; 2],
    pub(super) closing: bool,
    pub(super) skip_on_success: bool,
    /// The peer reset the connection: later operations fail at once.
    pub(super) reset: bool,
}

/// Who an associated fd is, for the one-port-per-handle rule: a socket by
/// its inode (a `dup` or `try_clone` of an associated socket is the same
/// socket, as a duplicated handle is the same file object on Windows); any
/// other fd by its number (two opens of one file are two handles).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum Identity {
    Socket { dev: u64, ino: u64 },
    Fd(RawFd),
}

pub(super) fn identity(fd: RawFd) -> Identity {
    // SAFETY: fstat writes into the zeroed local `st` and nothing else.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: `st` is valid for writes of a `struct stat`.
    if unsafe { libc::fstat(fd, &mut st) } == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK {
        Identity::Socket {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    } else {
        Identity::Fd(fd)
    }
}

/// Handles associated with any port in this process: one handle, one port.
pub(super) static ASSOCIATED: std::sync::LazyLock<Mutex<std::collections::HashSet<Identity>>> =
    std::sync::LazyLock::new(Default::default);

pub(super) fn forget_association(who: Identity) {
    ASSOCIATED.lock().remove(&who);
}

/// A handle that was closed and has no operation left: dropping this (with
/// the tables lock released) deregisters its fd from the backend, forgets
/// its association, and closes it — also when dropped by a panic.
pub(super) struct Closed<'a> {
    pub(super) backend: &'a dyn Backend,
    pub(super) fd: Option<OwnedFd>,
    pub(super) who: Identity,
}

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            self.backend.deregister(fd.as_raw_fd());
            forget_association(self.who);
            drop(fd);
        }
    }
}

impl<K, V, B> Io<K, V, B>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    B: IoBuf,
{
    pub(crate) fn associate(&self, fd: OwnedFd, key: K) -> io::Result<Handle> {
        let raw = fd.as_raw_fd();
        let who = identity(raw);
        if !ASSOCIATED.lock().insert(who) {
            // `fd` is dropped (closed) here: the caller gave it to us, and it
            // is a descriptor of its own (a dup), so the handle that is
            // associated stays open and keeps working.
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the handle is already associated with a completion port",
            ));
        }
        if let Err(e) = self.backend.register(raw) {
            forget_association(who);
            return Err(e);
        }
        let mut t = self.tables.lock();
        if self.refusing.load(Ordering::Relaxed) {
            drop(t);
            self.backend.deregister(raw);
            forget_association(who);
            return Err(shutting_down());
        }
        t.generation = t.generation.wrapping_add(1);
        let generation = t.generation;
        let index = t.handles.insert(HandleEntry {
            fd,
            who,
            key,
            generation,
            pending: 0,
            lanes: Default::default(),
            closing: false,
            skip_on_success: false,
            reset: false,
        });
        Ok(Handle {
            index: index as u32,
            generation,
        })
    }

    pub(super) fn entry(t: &mut Tables<K, V, B>, h: Handle) -> io::Result<&mut HandleEntry<K>> {
        match t.handles.get_mut(h.index as usize) {
            Some(e) if e.generation == h.generation && !e.closing => Ok(e),
            _ => Err(ebadf("invalid or closed handle")),
        }
    }

    /// Runs `f` on the handle's fd, under the tables lock: the fd cannot be
    /// closed meanwhile.
    pub(crate) fn with_fd<R>(
        &self,
        h: Handle,
        f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> R,
    ) -> io::Result<R> {
        use std::os::fd::AsFd;
        let mut t = self.tables.lock();
        let e = Self::entry(&mut t, h)?;
        Ok(f(e.fd.as_fd()))
    }

    pub(crate) fn set_skip_on_success(&self, h: Handle, on: bool) -> io::Result<()> {
        Self::entry(&mut self.tables.lock(), h).map(|e| e.skip_on_success = on)
    }

    /// If handle `index` is closing and has no op in flight, forgets it; the
    /// returned [`Closed`] deregisters and closes its fd when dropped (after
    /// unlocking), and its key is handed back.
    pub(super) fn close_if_done(
        &self,
        t: &mut Tables<K, V, B>,
        index: usize,
    ) -> Option<(Closed<'_>, K)> {
        let e = t.handles.get(index)?;
        if !e.closing || e.pending > 0 {
            return None;
        }
        let e = t.handles.remove(index);
        Some((
            Closed {
                backend: &self.backend,
                fd: Some(e.fd),
                who: e.who,
            },
            e.key,
        ))
    }

    /// Marks the pending ops of `h` (or only `only`) as stopped by `why` and
    /// asks the backend to cancel them. Returns how many.
    pub(super) fn stop(&self, h: Handle, only: Option<OpId>, why: Stop) -> io::Result<usize> {
        let mut t = self.tables.lock();
        Self::entry(&mut t, h)?;
        let mut targets = Vec::new();
        let mut made_up = Vec::new();
        self.stops.fetch_add(1, Ordering::Release);
        for (_, slot) in t.ops.iter_mut() {
            let wanted = only.is_none_or(|op| op.0 == slot.user_data);
            if slot.handle == h.index as usize && wanted && slot.stop == Stop::None {
                slot.stop = why;
                match slot.stage {
                    Stage::Kernel => targets.push(slot.user_data),
                    Stage::Waiting => {
                        slot.stage = Stage::Parked;
                        made_up.push(Completion::new(slot.user_data, -libc::ECANCELED));
                    }
                    // Timed out while waiting: that completion is on its way.
                    Stage::Parked => {}
                }
            }
        }
        let stopped = targets.len() + made_up.len();
        let mut closed = None;
        if why == Stop::Close {
            t.handles[h.index as usize].closing = true;
            closed = self.close_if_done(&mut t, h.index as usize);
        }
        drop(t);
        // Closes the fd (deregistered first), and drops the key, unlocked.
        drop(closed);
        self.backend.cancel_many(&targets);
        self.complete_later(&made_up);
        Ok(stopped)
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
}

impl<K, V, B> Io<K, V, B> {
    /// Shutdown and port drop: refuses new operations and asks the backend to
    /// cancel every operation in flight (each still completes, aborted).
    pub(crate) fn cancel_all(&self) {
        let mut targets = Vec::new();
        let mut made_up = Vec::new();
        {
            let mut t = self.tables.lock();
            self.refusing.store(true, Ordering::Relaxed);
            self.stops.fetch_add(1, Ordering::Release);
            for (_, s) in t.ops.iter_mut() {
                if s.stop == Stop::None {
                    s.stop = Stop::Close;
                }
                match s.stage {
                    Stage::Kernel => targets.push(s.user_data),
                    Stage::Waiting => {
                        s.stage = Stage::Parked;
                        made_up.push(Completion::new(s.user_data, -libc::ECANCELED));
                    }
                    // Its made-up completion is on its way.
                    Stage::Parked => {}
                }
            }
        }
        self.backend.cancel_many(&targets);
        if !made_up.is_empty() {
            self.leftovers.lock().extend_from_slice(&made_up);
            self.has_leftovers.store(true, Ordering::Release);
            self.backend.wake();
        }
    }
}
