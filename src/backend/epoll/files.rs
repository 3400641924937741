//! File I/O on worker threads (regular files are not pollable and pread or
//! pwrite may block on the disk): starting the workers, running queued file
//! ops, and stopping them when the backend drops.

use super::*;

impl EpollBackend {
    /// Starts the file workers on first use. Fails only if none could start.
    #[cold]
    pub(super) fn start_workers(&self) -> io::Result<()> {
        let mut workers = self.workers.lock();
        while workers.len() < FILE_WORKERS {
            let shared = Arc::clone(&self.shared);
            // Counted before it runs, so that drop waits for it.
            self.shared.lock().live_workers += 1;
            match thread::Builder::new()
                .name("cport-epoll-file".into())
                .spawn(move || shared.file_worker())
            {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    self.shared.lock().live_workers -= 1;
                    if workers.is_empty() {
                        return Err(e);
                    }
                    break; // one worker is enough to make progress
                }
            }
        }
        self.workers_started.store(true, Ordering::Release);
        Ok(())
    }
}

impl Drop for EpollBackend {
    /// Stops the file workers, waiting up to [`WORKER_EXIT_WAIT`] for one
    /// inside pread/pwrite; detaches those still running after that (see the
    /// module notes). Never blocks longer, never panics.
    fn drop(&mut self) {
        let workers = mem::take(self.workers.get_mut());
        let shared = &*self.shared;
        let mut st = shared.lock();
        st.shutdown = true;
        shared.file_work.notify_all();
        let deadline = Instant::now().checked_add(WORKER_EXIT_WAIT);
        while st.live_workers > 0 {
            let Some(deadline) = deadline else { break };
            if shared
                .worker_exited
                .wait_until(&mut st, deadline)
                .timed_out()
            {
                break;
            }
        }
        let all_exited = st.live_workers == 0;
        drop(st);
        for handle in workers {
            if all_exited || handle.is_finished() {
                let _ = handle.join(); // a worker never panics; ignore if it did
            }
            // Otherwise dropping the handle detaches the thread. It owns an
            // Arc of `shared` (the fds, the state, the file fd duplicates),
            // which stays alive until it exits.
        }
        // The fds close when the last Arc of `shared` drops.
    }
}

impl Shared {
    /// A file worker: runs queued Read/Write ops until shutdown.
    pub(super) fn file_worker(&self) {
        let mut st = self.lock();
        while !st.shutdown {
            let Some(user_data) = st.file_queue.pop_front() else {
                self.file_work.wait(&mut st);
                continue;
            };
            let Some(op) = st.ops.get_mut(user_data) else {
                continue;
            };
            op.phase = Phase::Running;
            let mut raw = op.raw;
            // The backend's own duplicate of the fd: it stays open while we
            // use it, even if the backend is dropped meanwhile and the op
            // layer closes its fd (see `FdEntry::file` and `deregister`).
            let op_fd = raw.fd;
            if let Some(file) = st.fds.get(op_fd).and_then(|e| e.file.as_ref()) {
                raw.fd = file.as_raw_fd();
            }
            st.files_in_use.push(op_fd);
            let step = MutexGuard::unlocked(&mut st, || {
                // SAFETY: the op is pending and Running: its memory is valid
                // (submit contract) and nobody completes it meanwhile.
                unsafe { sys::attempt(&raw, false, 0, &mut 0) }
            });
            if let Some(i) = st.files_in_use.iter().position(|&f| f == op_fd) {
                st.files_in_use.swap_remove(i);
            }
            // pread/pwrite always finish: a cancel that came meanwhile loses.
            let res = match step {
                Step::Done(res) => res,
                Step::Progress | Step::Blocked => -libc::EAGAIN,
            };
            st.retire(user_data, res);
            if mem::take(&mut st.wake_due) {
                MutexGuard::unlocked(&mut st, || self.ring());
            }
        }
        st.live_workers -= 1;
        drop(st);
        self.worker_exited.notify_all();
    }
}
