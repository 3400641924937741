//! Helpers for the crate's unit tests: a page whose first access blocks in
//! the kernel (to hold a system call in progress), a scripted backend (to
//! see what the op layer does around its submissions), and raw ops for the
//! backends' own tests.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::backend::{Backend, BackendKind, Completion, RawOp, Syscall};

#[path = "../tests/util/skip.rs"]
mod skip;
pub(crate) use skip::skip_uring;
#[path = "../tests/util/temp.rs"]
mod temp;
pub(crate) use temp::temp_file;

/// One anonymous page registered with userfaultfd (missing mode): the first
/// access to it, also a kernel copy inside pread, blocks until the fault is
/// resolved or `uffd` is closed. Never unmapped on its own: the test that
/// made it unmaps it once nothing can write into it any more.
pub(crate) struct StuckPage {
    pub ptr: *mut u8,
    pub len: usize,
    pub uffd: OwnedFd,
}

impl StuckPage {
    /// None where userfaultfd is not permitted (needs root, the
    /// vm.unprivileged_userfaultfd sysctl, or access to /dev/userfaultfd).
    pub(crate) fn new() -> Option<StuckPage> {
        const UFFDIO_API: libc::c_ulong = 0xc018_aa3f;
        const UFFDIO_REGISTER: libc::c_ulong = 0xc020_aa00;
        const USERFAULTFD_IOC_NEW: libc::c_ulong = 0xaa00;
        const UFFD_API: u64 = 0xaa;
        const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
        let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
        // SAFETY: plain syscall; the result is checked.
        let mut uffd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) } as RawFd;
        if uffd < 0 {
            // SAFETY: a valid C string; the result is checked.
            let dev = unsafe { libc::open(c"/dev/userfaultfd".as_ptr(), libc::O_RDWR) };
            if dev < 0 {
                return None;
            }
            // SAFETY: USERFAULTFD_IOC_NEW takes the new fd's flags as an int.
            uffd = unsafe { libc::ioctl(dev, USERFAULTFD_IOC_NEW, flags) };
            // SAFETY: `dev` is ours and used no more.
            unsafe { libc::close(dev) };
            if uffd < 0 {
                return None;
            }
        }
        // SAFETY: `uffd` is a new fd that nothing else owns.
        let uffd = unsafe { OwnedFd::from_raw_fd(uffd) };
        let mut api = [UFFD_API, 0, 0]; // struct uffdio_api
                                        // SAFETY: UFFDIO_API reads and writes a struct uffdio_api.
        if unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_API, api.as_mut_ptr()) } < 0 {
            return None;
        }
        let len = 4096;
        // SAFETY: a new private anonymous mapping; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "{}", io::Error::last_os_error());
        // struct uffdio_register: range (start, len), mode, ioctls (out).
        let mut reg = [ptr as u64, len as u64, UFFDIO_REGISTER_MODE_MISSING, 0];
        // SAFETY: UFFDIO_REGISTER reads and writes a struct uffdio_register.
        let rc = unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_REGISTER, reg.as_mut_ptr()) };
        assert_eq!(rc, 0, "UFFDIO_REGISTER: {}", io::Error::last_os_error());
        Some(StuckPage {
            ptr: ptr.cast(),
            len,
            uffd,
        })
    }
}

/// A backend run by the test: it records submissions, reports the
/// completions the test hands it, and can hold a submission inside `submit`
/// (as a slow system call would) until the test lets it go.
#[derive(Default)]
pub(crate) struct Scripted {
    state: Mutex<ScriptedState>,
    changed: Condvar,
}

#[derive(Default)]
struct ScriptedState {
    submitted: Vec<u64>,
    completions: Vec<Completion>,
    hold_submits: bool,
    holding: bool,
}

impl Scripted {
    /// The user_data of every submission so far.
    pub(crate) fn submitted(&self) -> Vec<u64> {
        self.state.lock().submitted.clone()
    }

    /// Makes `completion` the next thing a poll returns.
    pub(crate) fn report(&self, completion: Completion) {
        self.state.lock().completions.push(completion);
        self.changed.notify_all();
    }

    /// From now on `submit` waits inside until [`let_submits_go`](Self::let_submits_go).
    pub(crate) fn hold_submits(&self) {
        self.state.lock().hold_submits = true;
    }

    /// Lets held submissions (and later ones) through.
    pub(crate) fn let_submits_go(&self) {
        self.state.lock().hold_submits = false;
        self.changed.notify_all();
    }

    /// Waits (10 s at most) until a submission is held inside `submit`.
    pub(crate) fn wait_until_holding(&self) -> bool {
        let mut st = self.state.lock();
        let end = Instant::now() + Duration::from_secs(10);
        while !st.holding {
            if self.changed.wait_until(&mut st, end).timed_out() {
                return false;
            }
        }
        true
    }
}

/// A [`Scripted`] backend the test keeps a handle to.
pub(crate) struct ScriptedBackend(pub Arc<Scripted>);

impl Backend for ScriptedBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Epoll
    }

    fn register(&self, _fd: RawFd) -> io::Result<()> {
        Ok(())
    }

    fn deregister(&self, _fd: RawFd) {}

    unsafe fn submit(&self, op: &RawOp) -> io::Result<()> {
        let mut st = self.0.state.lock();
        while st.hold_submits {
            st.holding = true;
            self.0.changed.notify_all();
            self.0.changed.wait(&mut st);
        }
        st.holding = false;
        st.submitted.push(op.user_data);
        Ok(())
    }

    fn cancel(&self, user_data: u64) {
        self.0.report(Completion::new(user_data, -libc::ECANCELED));
    }

    fn poll(&self, timeout: Option<Duration>, out: &mut Vec<Completion>) -> io::Result<()> {
        let mut st = self.0.state.lock();
        if st.completions.is_empty() {
            match timeout {
                Some(t) => {
                    self.0.changed.wait_for(&mut st, t);
                }
                None => self.0.changed.wait(&mut st),
            }
        }
        out.append(&mut st.completions);
        Ok(())
    }

    fn wake(&self) {
        self.0.changed.notify_all();
    }
}

/// Waits (10 s at most) until `fd` reports any of `events`; false if not.
pub(crate) fn wait_for_events(fd: RawFd, events: libc::c_short) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: pfd is one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, 10_000) == 1 }
}

/// An op with every pointer null (no buffer, offset or timeout).
pub(crate) fn raw_op(code: Syscall, fd: RawFd, user_data: u64) -> RawOp {
    RawOp {
        code,
        fd,
        user_data,
        buf: std::ptr::null_mut(),
        len: 0,
        msg: std::ptr::null_mut(),
        addr: std::ptr::null_mut(),
        addrlen: std::ptr::null_mut(),
        offset: 0,
        timeout: None,
        timespec: std::ptr::null_mut(),
        defer: false,
    }
}

/// An op on `buf`, every other pointer null.
pub(crate) fn buf_op(code: Syscall, fd: RawFd, user_data: u64, buf: &mut [u8]) -> RawOp {
    RawOp {
        buf: buf.as_mut_ptr(),
        len: buf.len(),
        ..raw_op(code, fd, user_data)
    }
}
