//! The epoll backend driven directly over loopback sockets and a temp file.
//!
//! Buffers are declared before the backend in every test, so that on a
//! failed assertion the backend is dropped first and no pending op outlives
//! its memory.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::{EpollBackend, Side, DIRECT_OPS, WORKER_EXIT_WAIT};
use crate::backend::user_data::MAX_IN_FLIGHT;
use crate::backend::{Backend, Completion, RawOp, Syscall};
use crate::testing::{buf_op, raw_op, StuckPage};

mod files;
mod readiness;
mod sockets;

const LIMIT: Duration = Duration::from_secs(10);

fn backend() -> EpollBackend {
    EpollBackend::new().expect("epoll backend")
}

fn submit(b: &EpollBackend, op: RawOp) {
    // SAFETY: every test keeps the op's memory alive and untouched until it
    // has collected the op's completion (or dropped the backend).
    unsafe { b.submit(&op) }.expect("submit");
}

/// Polls until `n` completions arrived (bounded by LIMIT).
fn collect(b: &EpollBackend, n: usize) -> Vec<Completion> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n {
        assert!(start.elapsed() < LIMIT, "only {out:?} after {LIMIT:?}");
        b.poll(Some(Duration::from_millis(100)), &mut out)
            .expect("poll");
    }
    assert_eq!(out.len(), n, "{out:?}");
    out
}

/// A completion, for comparisons.
fn done(user_data: u64, res: i32) -> Completion {
    Completion::new(user_data, res)
}

fn collect_one(b: &EpollBackend) -> Completion {
    collect(b, 1)[0]
}

/// No completion within `d`.
fn assert_quiet(b: &EpollBackend, d: Duration) {
    let mut out = Vec::new();
    b.poll(Some(d), &mut out).expect("poll");
    assert!(out.is_empty(), "unexpected {out:?}");
}

/// A connected loopback pair: (ours, peer).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    (ours, peer)
}

fn storage(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let sa = socket2::SockAddr::from(addr);
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // SAFETY: sa.len() bytes fit in a sockaddr_storage; the regions are distinct.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (&mut st as *mut libc::sockaddr_storage).cast::<u8>(),
            sa.len() as usize,
        )
    };
    (st, sa.len())
}

fn port_of(st: &libc::sockaddr_storage) -> u16 {
    assert_eq!(i32::from(st.ss_family), libc::AF_INET);
    // SAFETY: the family is AF_INET, so the storage holds a sockaddr_in.
    let sin = unsafe { &*(st as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
    u16::from_be(sin.sin_port)
}

fn tcp_socket() -> socket2::Socket {
    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap()
}

/// `fd`'s read side: (ready, busy, ops pending: 0 or 1).
fn read_lane(b: &EpollBackend, fd: RawFd) -> (bool, bool, usize) {
    let st = b.shared.lock();
    let entry = st.fds.get(fd).expect("registered");
    let side = &entry.sides[Side::Read as usize];
    (
        side.ready,
        side.busy,
        usize::from(st.side_op(fd, Side::Read).is_some()),
    )
}

/// Waits until `fd` reports any of `events` (bounded by LIMIT).
fn wait_for(fd: RawFd, events: libc::c_short) {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: pfd is one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, LIMIT.as_millis() as i32) };
    assert_eq!(n, 1, "fd {fd} never reported {events:#x}");
}

thread_local! {
    /// Makes this thread's next `register` poll once (without blocking)
    /// right after the fd entered the interest list, as a poller thread may.
    static POLL_AFTER_ADD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called by `register` between adding the fd to the interest list and
/// returning (see [`POLL_AFTER_ADD`]).
pub(super) fn after_interest_added(b: &EpollBackend) {
    if POLL_AFTER_ADD.with(|p| p.take()) {
        let mut out = Vec::new();
        b.poll(Some(Duration::ZERO), &mut out).expect("poll");
        assert!(out.is_empty(), "{out:?}");
    }
}
