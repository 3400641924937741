//! Shared test helpers: scripted worker threads and waits on observable state.
#![allow(dead_code)]

pub mod hostile;
pub mod seccomp;
pub mod skip;
pub mod temp;

#[allow(unused_imports)]
pub use skip::{skip_note, skip_uring};
#[allow(unused_imports)]
pub use temp::temp_file;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use cport::{BackendChoice, Counters, GetError, Packet, Port};

pub type TestPort = Port<u32, u32>;

/// A port with concurrency `limit` (0 = CPUs) on `backend`.
pub fn port(limit: usize, backend: BackendChoice) -> TestPort {
    builder(backend).concurrency(limit).build().expect("port")
}

/// Runs each named test function `fn(BackendChoice)` once per backend, as
/// `uring::name` and `epoll::name`, and once more on io_uring with the
/// kernel's interrupting task work instead of cooperative task running
/// (`Builder::uring_cooperative_task_run(false)`), as `uring_irq::name` (the
/// test's ports must come from [`builder`] for that to differ). io_uring
/// tests are skipped where a probe shows io_uring cannot be set up, each
/// reported by [`skip_uring`].
#[allow(unused_macros)]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $(#[test]
            fn $name() {
                if super::util::uring_or_skip() {
                    super::$name(cport::BackendChoice::Uring)
                }
            })*
        }
        mod uring_irq {
            $(#[test]
            fn $name() {
                if super::util::uring_or_skip() {
                    super::util::INTERRUPTING.with(|c| c.set(true));
                    super::$name(cport::BackendChoice::Uring)
                }
            })*
        }
        mod epoll {
            $(#[test]
            fn $name() {
                super::$name(cport::BackendChoice::Epoll)
            })*
        }
    };
}

thread_local! {
    /// Set by `conformance!`'s `uring_irq` tests for the test's thread.
    pub static INTERRUPTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A port builder for `backend`, in interrupting task-work mode when the
/// test runs as `uring_irq::*` (see `conformance!`).
pub fn builder(backend: BackendChoice) -> cport::Builder {
    Port::builder()
        .backend(backend)
        .uring_cooperative_task_run(!INTERRUPTING.with(|c| c.get()))
}

/// Waits (bounded: 10 s, then panics with `what`) until `cond` holds. Used to
/// reach a known state (e.g. "3 threads are parked"), never to assert timing.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting until {what}"
        );
        thread::sleep(Duration::from_micros(200));
    }
}

pub fn wait_counters(port: &TestPort, what: &str, cond: impl Fn(Counters) -> bool) {
    wait_until(what, || cond(port.counters()));
}

/// What a scripted worker does next.
pub enum Cmd {
    Get(Option<Duration>),
    GetMany(usize, Option<Duration>),
    EnterBlocking,
    LeaveBlocking,
}

#[derive(Debug, PartialEq)]
pub enum Reply {
    Got(Result<(u32, u32), GetError>),
    GotMany(Result<Vec<u32>, GetError>),
    Done,
}

/// A thread that runs port calls on command, so a test decides the order of
/// events and observes each outcome.
pub struct Worker {
    pub name: u32,
    cmds: mpsc::Sender<Cmd>,
    replies: mpsc::Receiver<Reply>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(port: &TestPort, name: u32) -> Worker {
        let (cmds, cmd_rx) = mpsc::channel::<Cmd>();
        let (reply_tx, replies) = mpsc::channel();
        let port = port.clone();
        let handle = thread::spawn(move || {
            let mut section = None;
            for cmd in cmd_rx {
                let reply = match cmd {
                    Cmd::Get(t) => Reply::Got(port.get(t).map(|p| (p.key, p.value))),
                    Cmd::GetMany(max, t) => {
                        let mut out = Vec::new();
                        Reply::GotMany(
                            port.get_many(
                                &mut out,
                                std::num::NonZeroUsize::new(max)
                                    .expect("get_many takes at least one packet"),
                                t,
                            )
                            .map(|_| out.iter().map(|p| p.value).collect()),
                        )
                    }
                    Cmd::EnterBlocking => {
                        section = Some(port.enter_blocking());
                        Reply::Done
                    }
                    Cmd::LeaveBlocking => {
                        section = None;
                        Reply::Done
                    }
                };
                if reply_tx.send(reply).is_err() {
                    break;
                }
            }
            drop(section);
        });
        Worker {
            name,
            cmds,
            replies,
            handle: Some(handle),
        }
    }

    pub fn send(&self, cmd: Cmd) {
        self.cmds.send(cmd).expect("worker alive");
    }

    /// Blocks until the worker's current command finished.
    pub fn reply(&self) -> Reply {
        self.replies
            .recv_timeout(Duration::from_secs(10))
            .expect("worker replied within 10 s")
    }

    /// The worker's reply if its command already finished.
    pub fn try_reply(&self) -> Option<Reply> {
        self.replies.try_recv().ok()
    }

    pub fn got(&self) -> Result<(u32, u32), GetError> {
        match self.reply() {
            Reply::Got(r) => r,
            other => panic!("expected a Got reply, got {other:?}"),
        }
    }

    /// Runs a `Get` command and returns its result.
    pub fn got_after(&self, cmd: Cmd) -> Result<(u32, u32), GetError> {
        self.send(cmd);
        self.got()
    }

    /// Runs a command to completion.
    pub fn run(&self, cmd: Cmd) -> Reply {
        self.send(cmd);
        self.reply()
    }

    /// Ends the thread (its thread-local accounting runs) and joins it.
    pub fn exit(mut self) {
        let (dummy, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.cmds, dummy));
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("worker did not panic");
    }
}

pub fn packet(key: u32, value: u32) -> Packet<u32, u32> {
    Packet::new(key, 0, value)
}

/// Whether io_uring can be set up here (tests skip by probe, not by kernel
/// version). Says nothing: a test that skips because of it reports that with
/// [`skip_uring`] (or uses [`uring_or_skip`]).
pub fn uring_available() -> bool {
    uring_probe().is_ok()
}

/// Why io_uring cannot be set up here, if it cannot.
pub fn uring_probe() -> Result<(), String> {
    let port: std::io::Result<Port<u32, u32>> =
        Port::builder().backend(cport::BackendChoice::Uring).build();
    port.map(drop).map_err(|e| e.to_string())
}

/// `true` if io_uring can be set up here; otherwise reports the skip (see
/// [`skip_uring`]) and returns `false`.
pub fn uring_or_skip() -> bool {
    match uring_probe() {
        Ok(()) => true,
        Err(reason) => {
            skip_uring(&reason);
            false
        }
    }
}

/// Makes system call `nr` fail with `errno` in the calling thread only, for
/// the rest of its life (a seccomp filter: [`seccomp::refuse_syscall`]).
/// Fault injection for kernel refusals.
pub fn fail_syscall_in_this_thread(nr: libc::c_long, errno: i32) {
    seccomp::refuse_syscall(nr, errno).expect("install the seccomp filter");
}

/// The op id of an operation that must be pending (not refused, not inline).
pub fn pending<V, B>(r: Result<cport::Issued<V, B>, cport::IssueError<V, B>>) -> cport::OpId {
    match r {
        Ok(cport::Issued::Pending(id)) => id,
        Ok(cport::Issued::Completed { .. }) => panic!("completed inline, expected pending"),
        Err(e) => panic!("not started: {e}"),
    }
}

/// No packet arrives within 100 ms (the test expects none at all).
pub fn assert_no_packet(port: &TestPort) {
    assert_eq!(
        port.get(Some(Duration::from_millis(100))).unwrap_err(),
        GetError::TimedOut
    );
}

/// A listener on a free loopback port.
pub fn listener() -> (std::net::TcpListener, std::net::SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A connected pair: (the server side, associated with key 1; the client
/// side, plain).
pub fn pair(port: &TestPort) -> (cport::Handle, std::net::TcpStream) {
    let (l, addr) = listener();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = l.accept().unwrap();
    (port.associate(server, 1).unwrap(), client)
}

/// Makes room for `needed` open files in this process: raises the soft
/// `RLIMIT_NOFILE` to the hard limit when it is lower than `needed` (a stock
/// login has a soft limit of 1024 and a far higher hard limit). Returns the
/// limit in force when even the hard limit is too low, so that the caller can
/// skip with [`skip_note`].
pub fn raise_fd_limit(needed: u64) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the call's duration.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!(
            "getrlimit(RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        ));
    }
    if lim.rlim_cur >= needed as libc::rlim_t {
        return Ok(());
    }
    let raised = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `raised` is a valid rlimit; the kernel only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(format!(
            "needs {needed} open files, the soft limit is {} and raising it failed: {}",
            lim.rlim_cur,
            std::io::Error::last_os_error()
        ));
    }
    if lim.rlim_max < needed as libc::rlim_t {
        return Err(format!(
            "needs {needed} open files, the hard limit (RLIMIT_NOFILE) is {}",
            lim.rlim_max
        ));
    }
    Ok(())
}
