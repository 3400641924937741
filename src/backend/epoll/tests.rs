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
use crate::backend::{Backend, Completion, OpCode, RawOp};
use crate::testing::StuckPage;

const LIMIT: Duration = Duration::from_secs(10);

fn backend() -> EpollBackend {
    EpollBackend::new().expect("epoll backend")
}

/// An op with every pointer null.
fn op(code: OpCode, fd: RawFd, user_data: u64) -> RawOp {
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

fn buf_op(code: OpCode, fd: RawFd, user_data: u64, buf: &mut [u8]) -> RawOp {
    RawOp {
        buf: buf.as_mut_ptr(),
        len: buf.len(),
        ..op(code, fd, user_data)
    }
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
    Completion { user_data, res }
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

#[test]
fn recv_completes_after_peer_writes() {
    let (ours, mut peer) = tcp_pair();
    let mut buf = [0u8; 16];
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf));
    assert_quiet(&b, Duration::ZERO);
    peer.write_all(b"hello").unwrap();
    assert_eq!(collect_one(&b), done(1, 5));
    assert_eq!(&buf[..5], b"hello");
    b.deregister(ours.as_raw_fd());
}

#[test]
fn zero_byte_recv_is_a_readiness_probe() {
    let (ours, mut peer) = tcp_pair();
    let mut buf = [0u8; 8];
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    submit(&b, op(OpCode::Recv, ours.as_raw_fd(), 1));
    assert_quiet(&b, Duration::from_millis(20));
    peer.write_all(b"xy").unwrap();
    assert_eq!(collect_one(&b), done(1, 0));
    // The probe consumed nothing.
    submit(&b, buf_op(OpCode::Recv, ours.as_raw_fd(), 2, &mut buf));
    assert_eq!(collect_one(&b), done(2, 2));
    assert_eq!(&buf[..2], b"xy");
}

#[test]
fn large_sends_to_a_slow_reader_complete_in_order() {
    const BIG: usize = 8 << 20;
    let (ours, mut peer) = tcp_pair();
    // Small socket buffers: the sends must go out in many partial steps.
    socket2::SockRef::from(&ours)
        .set_send_buffer_size(64 << 10)
        .unwrap();
    socket2::SockRef::from(&peer)
        .set_recv_buffer_size(64 << 10)
        .unwrap();
    let mut big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    let mut small = vec![0xAAu8; 1000];
    let reader = thread::spawn(move || {
        let mut got = Vec::with_capacity(BIG + 1000);
        let mut chunk = vec![0u8; 256 << 10];
        while got.len() < BIG + 1000 {
            thread::sleep(Duration::from_millis(2)); // slow: the sender must wait
            let n = peer.read(&mut chunk).unwrap();
            assert!(n > 0, "early EOF at {}", got.len());
            got.extend_from_slice(&chunk[..n]);
        }
        got
    });
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Send, ours.as_raw_fd(), 1, &mut big));
    submit(&b, buf_op(OpCode::Send, ours.as_raw_fd(), 2, &mut small));
    assert_quiet(&b, Duration::ZERO); // 8 MiB cannot have gone out yet
    let got = collect(&b, 2);
    assert_eq!(got, [done(1, BIG as i32), done(2, 1000)]);
    let got = reader.join().unwrap();
    assert!(got[..BIG] == big[..], "first send's bytes differ");
    assert!(
        got[BIG..].iter().all(|&x| x == 0xAA),
        "second send's bytes differ"
    );
}

#[test]
fn stream_sendmsg_resumes_across_iovecs() {
    let (ours, mut peer) = tcp_pair();
    let mut parts: Vec<Vec<u8>> = [3usize << 20, 1, 2 << 20]
        .iter()
        .enumerate()
        .map(|(k, &n)| vec![k as u8 + 1; n])
        .collect();
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut iovs: Vec<libc::iovec> = parts
        .iter_mut()
        .map(|p| libc::iovec {
            iov_base: p.as_mut_ptr().cast(),
            iov_len: p.len(),
        })
        .collect();
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iovs.as_mut_ptr();
    msg.msg_iovlen = iovs.len();
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 256 << 10];
        while got.len() < total {
            thread::sleep(Duration::from_millis(2));
            let n = peer.read(&mut chunk).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&chunk[..n]);
        }
        got
    });
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    submit(
        &b,
        RawOp {
            msg: &mut msg,
            ..op(OpCode::SendMsg, ours.as_raw_fd(), 1)
        },
    );
    assert_eq!(collect_one(&b), done(1, total as i32));
    let got = reader.join().unwrap();
    assert!(got == parts.concat(), "bytes differ");
    // The caller's iovecs were not modified.
    assert_eq!(iovs[0].iov_len, 3 << 20);
    assert_eq!(iovs[0].iov_base, parts[0].as_mut_ptr().cast());
}

#[test]
fn accept_and_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = tcp_socket();
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut peer_addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut peer_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let (mut to, mut to_len) = storage(listener.local_addr().unwrap());
    let b = backend();
    b.register(listener.as_raw_fd()).unwrap();
    b.register(client.as_raw_fd()).unwrap();
    submit(
        &b,
        RawOp {
            addr: &mut peer_addr,
            addrlen: &mut peer_len,
            ..op(OpCode::Accept, listener.as_raw_fd(), 1)
        },
    );
    submit(
        &b,
        RawOp {
            addr: &mut to,
            addrlen: &mut to_len,
            ..op(OpCode::Connect, client.as_raw_fd(), 2)
        },
    );
    let mut got = collect(&b, 2);
    got.sort_by_key(|c| c.user_data);
    assert_eq!(got[1], done(2, 0));
    assert!(got[0].res >= 0, "{got:?}");
    // SAFETY: a successful accept returned a new fd that we now own.
    let accepted = unsafe { OwnedFd::from_raw_fd(got[0].res) };
    let client_port = client.local_addr().unwrap().as_socket().unwrap().port();
    assert_eq!(port_of(&peer_addr), client_port);
    // The accepted socket works with the backend too.
    let mut buf = [0u8; 4];
    b.register(accepted.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Recv, accepted.as_raw_fd(), 3, &mut buf));
    (&client).write_all(b"ping").unwrap();
    assert_eq!(collect_one(&b), done(3, 4));
    b.deregister(accepted.as_raw_fd());
}

#[test]
fn refused_connect_completes_through_poll() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = tcp_socket();
    let (mut to, mut to_len) = storage(port); // the listener is gone
    let b = backend();
    b.register(client.as_raw_fd()).unwrap();
    submit(
        &b,
        RawOp {
            addr: &mut to,
            addrlen: &mut to_len,
            ..op(OpCode::Connect, client.as_raw_fd(), 7)
        },
    );
    assert_eq!(collect_one(&b), done(7, -libc::ECONNREFUSED));
}

#[test]
fn peer_close_completes_recv_with_zero() {
    let (ours, peer) = tcp_pair();
    let mut buf = [0u8; 16];
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf));
    assert_quiet(&b, Duration::from_millis(10));
    drop(peer);
    assert_eq!(collect_one(&b), done(1, 0));
}

#[test]
fn peer_reset_fails_recv_with_econnreset() {
    let (ours, peer) = tcp_pair();
    let mut buf = [0u8; 16];
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf));
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    assert_eq!(collect_one(&b), done(1, -libc::ECONNRESET));
}

#[test]
fn cancel_ends_only_that_op() {
    let (ours, mut peer) = tcp_pair();
    let (mut b1, mut b2, mut b3) = ([0u8; 1], [0u8; 1], [0u8; 1]);
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    let fd = ours.as_raw_fd();
    submit(&b, buf_op(OpCode::Recv, fd, 1, &mut b1));
    submit(&b, buf_op(OpCode::Recv, fd, 2, &mut b2));
    submit(&b, buf_op(OpCode::Recv, fd, 3, &mut b3));
    b.cancel(2);
    assert_eq!(collect_one(&b), done(2, -libc::ECANCELED));
    b.cancel(2); // finished: ignored
    b.cancel(99); // unknown: ignored
    assert_quiet(&b, Duration::from_millis(10));
    peer.write_all(b"a").unwrap();
    assert_eq!(collect_one(&b), done(1, 1));
    peer.write_all(b"b").unwrap();
    assert_eq!(collect_one(&b), done(3, 1));
    assert_eq!((b1, b3), ([b'a'], [b'b']));
}

#[test]
fn timeout_fires_with_ecanceled() {
    let (ours, _peer) = tcp_pair();
    let mut buf = [0u8; 4];
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    let start = Instant::now();
    let timeout = Some(Duration::from_millis(50));
    submit(
        &b,
        RawOp {
            timeout,
            ..buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf)
        },
    );
    assert_eq!(collect_one(&b), done(1, -libc::ECANCELED));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn timeout_does_not_fire_when_the_op_completes_first() {
    let (ours, mut peer) = tcp_pair();
    let mut buf = [0u8; 4];
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    let timeout = Some(Duration::from_millis(100));
    submit(
        &b,
        RawOp {
            timeout,
            ..buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf)
        },
    );
    peer.write_all(b"ok").unwrap();
    assert_eq!(collect_one(&b), done(1, 2));
    // The stale timer passes without effect, also on a reused user_data.
    submit(&b, buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf));
    assert_quiet(&b, Duration::from_millis(200));
    b.cancel(1);
    assert_eq!(collect_one(&b), done(1, -libc::ECANCELED));
}

#[test]
fn timer_armed_while_the_poller_sleeps_wakes_it() {
    let (ours, _peer) = tcp_pair();
    let mut buf = [0u8; 4];
    let b = Arc::new(backend());
    b.register(ours.as_raw_fd()).unwrap();
    let raw = RawOp {
        timeout: Some(Duration::from_millis(30)),
        ..buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf)
    };
    let submitter = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            submit(&b, raw);
        })
    };
    let start = Instant::now();
    let mut out = Vec::new();
    while out.is_empty() && start.elapsed() < LIMIT {
        b.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
    }
    submitter.join().unwrap();
    assert_eq!(out, [done(1, -libc::ECANCELED)]);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

/// An empty, unnamed (already unlinked) read-write temp file.
fn temp_file() -> std::fs::File {
    let path = std::env::temp_dir().join(format!(
        "cport-epoll-{}-{:?}",
        std::process::id(),
        thread::current().id()
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

#[test]
fn file_read_write_at_offsets() {
    let file = temp_file();
    let (mut hello, mut abc, mut back, mut past) = (*b"hello", *b"abc", [0u8; 32], [0u8; 8]);
    let b = backend();
    let fd = file.as_raw_fd();
    b.register(fd).unwrap();
    submit(
        &b,
        RawOp {
            offset: 10,
            ..buf_op(OpCode::Write, fd, 1, &mut hello)
        },
    );
    submit(&b, buf_op(OpCode::Write, fd, 2, &mut abc));
    let mut got = collect(&b, 2);
    got.sort_by_key(|c| c.user_data);
    assert_eq!(got, [done(1, 5), done(2, 3)]);
    submit(&b, buf_op(OpCode::Read, fd, 3, &mut back));
    assert_eq!(collect_one(&b), done(3, 15));
    assert_eq!(&back[..15], b"abc\0\0\0\0\0\0\0hello");
    submit(
        &b,
        RawOp {
            offset: 100,
            ..buf_op(OpCode::Read, fd, 4, &mut past)
        },
    );
    assert_eq!(collect_one(&b), done(4, 0));
    b.deregister(fd);
}

#[test]
fn udp_recvmsg_and_sendmsg() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut data = [0u8; 64];
    let mut out_data = *b"pong";
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = [libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    }];
    // SAFETY: an all-zero msghdr is valid.
    let mut rmsg: libc::msghdr = unsafe { std::mem::zeroed() };
    rmsg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
    rmsg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    rmsg.msg_iov = iov.as_mut_ptr();
    rmsg.msg_iovlen = 1;
    let (mut to, to_len) = storage(peer.local_addr().unwrap());
    let mut out_iov = [libc::iovec {
        iov_base: out_data.as_mut_ptr().cast(),
        iov_len: 4,
    }];
    // SAFETY: an all-zero msghdr is valid.
    let mut smsg: libc::msghdr = unsafe { std::mem::zeroed() };
    smsg.msg_name = (&mut to as *mut libc::sockaddr_storage).cast();
    smsg.msg_namelen = to_len;
    smsg.msg_iov = out_iov.as_mut_ptr();
    smsg.msg_iovlen = 1;
    let b = backend();
    b.register(a.as_raw_fd()).unwrap();
    submit(
        &b,
        RawOp {
            msg: &mut rmsg,
            ..op(OpCode::RecvMsg, a.as_raw_fd(), 1)
        },
    );
    assert_quiet(&b, Duration::from_millis(10));
    peer.send_to(b"ping!", a.local_addr().unwrap()).unwrap();
    assert_eq!(collect_one(&b), done(1, 5));
    assert_eq!(&data[..5], b"ping!");
    assert_eq!(port_of(&from), peer.local_addr().unwrap().port());
    submit(
        &b,
        RawOp {
            msg: &mut smsg,
            ..op(OpCode::SendMsg, a.as_raw_fd(), 2)
        },
    );
    assert_eq!(collect_one(&b), done(2, 4));
    let mut got = [0u8; 8];
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (n, src) = peer.recv_from(&mut got).unwrap();
    assert_eq!((&got[..n], src), (&b"pong"[..], a.local_addr().unwrap()));
}

#[test]
fn wake_unblocks_a_poll_without_timeout() {
    let b = Arc::new(backend());
    let (tx, rx) = mpsc::channel();
    let poller = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            let mut out = Vec::new();
            let res = b.poll(None, &mut out);
            tx.send((res.is_ok(), out.len())).unwrap();
        })
    };
    thread::sleep(Duration::from_millis(50));
    assert!(rx.try_recv().is_err(), "poll(None) returned without a wake");
    b.wake();
    assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok((true, 0)));
    poller.join().unwrap();
}

#[test]
fn submit_errors_produce_no_completion() {
    let (ours, _peer) = tcp_pair();
    let mut buf = [0u8; 4];
    let b = backend();
    // Not registered.
    // SAFETY: the op is refused, so its memory is never used.
    assert!(unsafe { b.submit(&buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf)) }.is_err());
    b.register(ours.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf));
    // Same user_data twice while the first is pending.
    // SAFETY: as above.
    assert!(unsafe { b.submit(&buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf)) }.is_err());
    b.cancel(1);
    assert_eq!(collect_one(&b), done(1, -libc::ECANCELED));
    assert_quiet(&b, Duration::from_millis(10));
}

#[test]
fn drop_with_pending_ops_returns() {
    let (ours, _peer) = tcp_pair();
    let mut buf = [0u8; 4];
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Recv, ours.as_raw_fd(), 1, &mut buf));
    drop(b);
}

#[test]
fn concurrent_submit_cancel_and_timeouts_complete_each_op_once() {
    const N: usize = 400;
    let (ours, mut peer) = tcp_pair();
    let mut bufs = vec![0u8; N];
    let base = bufs.as_mut_ptr() as usize;
    let fd = ours.as_raw_fd();
    let b = Arc::new(backend());
    b.register(fd).unwrap();
    let submitter = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            for i in 0..N {
                let timeout = (i % 3 == 0).then(|| Duration::from_micros(100 * (i % 20) as u64));
                // The test keeps `bufs` alive and untouched until every
                // completion was collected.
                let buf = (base + i) as *mut u8;
                submit(
                    &b,
                    RawOp {
                        buf,
                        len: 1,
                        timeout,
                        ..op(OpCode::Recv, fd, i as u64)
                    },
                );
            }
        })
    };
    let canceller = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            for i in 0..N as u64 {
                b.cancel(i * 7 % N as u64);
                if i % 50 == 0 {
                    thread::yield_now();
                }
            }
        })
    };
    let writer = thread::spawn(move || {
        for _ in 0..N / 10 {
            peer.write_all(&[1u8; 10]).unwrap();
            thread::sleep(Duration::from_micros(200));
        }
        peer
    });
    let got = collect(&b, N);
    submitter.join().unwrap();
    canceller.join().unwrap();
    let _peer = writer.join().unwrap();
    let mut seen = vec![false; N];
    let mut received = 0;
    for c in &got {
        assert!(
            !std::mem::replace(&mut seen[c.user_data as usize], true),
            "twice: {c:?}"
        );
        match c.res {
            1 => received += 1,
            r => assert_eq!(r, -libc::ECANCELED, "{c:?}"),
        }
    }
    // Every byte the peer wrote was received by one op or is still unread.
    // (Loopback delivery may lag the writer a little.)
    let mut rest = [0u8; N];
    let mut unread = 0;
    let start = Instant::now();
    while received + unread < N && start.elapsed() < Duration::from_secs(2) {
        match (&ours).read(&mut rest) {
            Ok(n) => unread += n,
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    }
    assert_eq!(received + unread, N, "received {received}, unread {unread}");
    assert_quiet(&b, Duration::from_millis(10));
}

/// `fd`'s read lane: (ready, busy, ops queued).
fn read_lane(b: &EpollBackend, fd: RawFd) -> (bool, bool, usize) {
    let st = b.shared.lock();
    let entry = st.fds.get(fd).expect("registered");
    let lane = &entry.lanes[Side::Read as usize];
    (lane.ready, lane.busy, st.lane_ops(fd, Side::Read).len())
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

#[test]
fn a_short_tcp_read_waits_for_the_next_edge_a_full_one_does_not() {
    let (ours, mut peer) = tcp_pair();
    let fd = ours.as_raw_fd();
    let (mut b1, mut b2, mut b3, mut b4) = ([0u8; 4], [0u8; 16], [0u8; 16], [0u8; 16]);
    let b = backend();
    b.register(fd).unwrap();
    peer.write_all(b"0123456789").unwrap();
    wait_for(fd, libc::POLLIN);
    // A full buffer proves nothing: the lane stays ready and the next recv
    // runs at once.
    submit(&b, buf_op(OpCode::Recv, fd, 1, &mut b1));
    assert_eq!(read_lane(&b, fd), (true, false, 0));
    // A short read drained the socket.
    submit(&b, buf_op(OpCode::Recv, fd, 2, &mut b2));
    assert_eq!(read_lane(&b, fd), (false, false, 0));
    // So the next recv waits for an edge without a syscall.
    submit(&b, buf_op(OpCode::Recv, fd, 3, &mut b3));
    assert_eq!(read_lane(&b, fd), (false, false, 1));
    assert_eq!(collect(&b, 2), [done(1, 4), done(2, 6)]);
    assert_quiet(&b, Duration::from_millis(20));
    peer.write_all(b"ab").unwrap();
    assert_eq!(collect_one(&b), done(3, 2));
    // Again, with the edge arriving while the recv waits in the lane.
    submit(&b, buf_op(OpCode::Recv, fd, 4, &mut b4));
    assert_eq!(read_lane(&b, fd), (false, false, 1));
    peer.write_all(b"xyz").unwrap();
    assert_eq!(collect_one(&b), done(4, 3));
    assert_eq!(
        (&b1, &b2[..6], &b3[..2], &b4[..3]),
        (b"0123", &b"456789"[..], &b"ab"[..], &b"xyz"[..])
    );
    b.deregister(fd);
}

#[test]
fn end_of_stream_after_a_short_read_completes() {
    // The FIN's edge dispatched before the short read (`dispatched`), or not
    // yet: either way the recv after the short read must see the end.
    for dispatched in [false, true] {
        let (ours, mut peer) = tcp_pair();
        let fd = ours.as_raw_fd();
        let (mut b1, mut b2) = ([0u8; 16], [0u8; 16]);
        let b = backend();
        b.register(fd).unwrap();
        peer.write_all(b"abc").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        wait_for(fd, libc::POLLRDHUP);
        if dispatched {
            assert_quiet(&b, Duration::ZERO);
        }
        submit(&b, buf_op(OpCode::Recv, fd, 1, &mut b1));
        submit(&b, buf_op(OpCode::Recv, fd, 2, &mut b2));
        assert_eq!(collect(&b, 2), [done(1, 3), done(2, 0)], "{dispatched}");
        // After end of stream every recv runs at once.
        submit(&b, buf_op(OpCode::Recv, fd, 3, &mut b2));
        assert_eq!(collect_one(&b), done(3, 0));
    }
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

#[test]
fn end_of_stream_pending_at_register_is_kept_when_the_poller_takes_its_edge_at_once() {
    // Data and FIN arrive before the fd is registered; adding it to the
    // interest list reports them as one edge, which a poller dispatches
    // before `register` returns. The recv after the short read must still
    // see the end of stream.
    let (ours, mut peer) = tcp_pair();
    let fd = ours.as_raw_fd();
    let (mut b1, mut b2) = ([0u8; 16], [0u8; 16]);
    let b = backend();
    peer.write_all(b"abc").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    wait_for(fd, libc::POLLRDHUP);
    POLL_AFTER_ADD.with(|p| p.set(true));
    b.register(fd).unwrap();
    submit(&b, buf_op(OpCode::Recv, fd, 1, &mut b1));
    submit(&b, buf_op(OpCode::Recv, fd, 2, &mut b2));
    assert_eq!(collect(&b, 2), [done(1, 3), done(2, 0)]);
    b.deregister(fd);
}

#[test]
fn urgent_data_does_not_stall_the_read_after_it() {
    // As above: the urgent data's edge dispatched before the reads, or not.
    for dispatched in [false, true] {
        let (ours, peer) = tcp_pair();
        let fd = ours.as_raw_fd();
        let (mut b1, mut b2) = ([0u8; 16], [0u8; 16]);
        let b = backend();
        b.register(fd).unwrap();
        let peer = socket2::Socket::from(peer);
        peer.send(b"ab").unwrap();
        peer.send_out_of_band(b"!").unwrap();
        peer.send(b"cd").unwrap();
        wait_for(fd, libc::POLLPRI);
        thread::sleep(Duration::from_millis(20)); // "cd" is in too (loopback)
        if dispatched {
            assert_quiet(&b, Duration::ZERO);
        }
        // The first read stops at the urgent mark: short, yet not drained.
        submit(&b, buf_op(OpCode::Recv, fd, 1, &mut b1));
        submit(&b, buf_op(OpCode::Recv, fd, 2, &mut b2));
        assert_eq!(collect(&b, 2), [done(1, 2), done(2, 2)], "{dispatched}");
        assert_eq!((&b1[..2], &b2[..2]), (&b"ab"[..], &b"cd"[..]));
    }
}

#[test]
fn short_reads_prove_nothing_on_udp_and_unix_streams() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (ux, mut ux_peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let (mut d1, mut d2, mut u1) = ([0u8; 16], [0u8; 16], [0u8; 16]);
    let b = backend();
    b.register(a.as_raw_fd()).unwrap();
    b.register(ux.as_raw_fd()).unwrap();
    peer.send_to(b"one", a.local_addr().unwrap()).unwrap();
    peer.send_to(b"two", a.local_addr().unwrap()).unwrap();
    ux_peer.write_all(b"unix").unwrap();
    wait_for(a.as_raw_fd(), libc::POLLIN);
    wait_for(ux.as_raw_fd(), libc::POLLIN);
    submit(&b, buf_op(OpCode::Recv, a.as_raw_fd(), 1, &mut d1));
    assert!(
        read_lane(&b, a.as_raw_fd()).0,
        "one datagram drains nothing"
    );
    submit(&b, buf_op(OpCode::Recv, ux.as_raw_fd(), 3, &mut u1));
    assert!(
        read_lane(&b, ux.as_raw_fd()).0,
        "only TCP trusts short reads"
    );
    submit(&b, buf_op(OpCode::Recv, a.as_raw_fd(), 2, &mut d2));
    let mut got = collect(&b, 3);
    got.sort_by_key(|c| c.user_data);
    assert_eq!(got, [done(1, 3), done(2, 3), done(3, 4)]);
}

#[test]
fn user_data_differing_only_in_high_bits_are_distinct_ops() {
    let (ours, mut peer) = tcp_pair();
    let fd = ours.as_raw_fd();
    let (mut b1, mut b2) = ([0u8; 1], [0u8; 1]);
    let (low, high) = (5u64, 7u64 << 32 | 5);
    let b = backend();
    b.register(fd).unwrap();
    submit(&b, buf_op(OpCode::Recv, fd, low, &mut b1));
    submit(&b, buf_op(OpCode::Recv, fd, high, &mut b2));
    b.cancel(high);
    assert_eq!(collect_one(&b), done(high, -libc::ECANCELED));
    b.cancel(high); // finished: ignored, and `low` is untouched
    peer.write_all(b"z").unwrap();
    assert_eq!(collect_one(&b), done(low, 1));
}

#[test]
fn high_and_invalid_fds() {
    let (ours, mut peer) = tcp_pair();
    // SAFETY: F_DUPFD returns a new fd (the lowest free one >= 900) or -1.
    let high = unsafe { libc::fcntl(ours.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 900) };
    assert!(high >= 900, "{}", io::Error::last_os_error());
    // SAFETY: `high` is a new fd that nothing else owns.
    let high = unsafe { OwnedFd::from_raw_fd(high) };
    let mut buf = [0u8; 4];
    let b = backend();
    b.register(high.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Recv, high.as_raw_fd(), 1, &mut buf));
    peer.write_all(b"hi").unwrap();
    assert_eq!(collect_one(&b), done(1, 2));
    b.deregister(high.as_raw_fd());
    for fd in [-1, high.as_raw_fd(), 5000] {
        // SAFETY: the op is refused (unregistered fd), so its memory is never used.
        let err = unsafe { b.submit(&buf_op(OpCode::Recv, fd, 2, &mut buf)) }.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "fd {fd}");
    }
    assert_quiet(&b, Duration::ZERO);
}

#[test]
fn inline_results_delay_readiness_by_one_poll_at_most() {
    let (ours, mut peer) = tcp_pair();
    let fd = ours.as_raw_fd();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.connect(sink.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 4];
    let mut dgram = [7u8; 8];
    let b = backend();
    b.register(fd).unwrap();
    b.register(udp.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Recv, fd, 1, &mut buf));
    peer.write_all(b"data").unwrap();
    wait_for(fd, libc::POLLIN);
    // Every poll has an inline result in hand (a datagram sent); the recv's
    // edge must still be looked at within two polls.
    let mut out = Vec::new();
    for ud in 10..12 {
        submit(&b, buf_op(OpCode::Send, udp.as_raw_fd(), ud, &mut dgram));
        b.poll(Some(Duration::ZERO), &mut out).unwrap();
    }
    assert!(out.contains(&done(1, 4)), "{out:?}");
    assert!(
        out.contains(&done(10, 8)) && out.contains(&done(11, 8)),
        "{out:?}"
    );
}

#[test]
fn lanes_keep_their_order_when_the_head_and_the_tail_are_cancelled() {
    let (ours, mut peer) = tcp_pair();
    let fd = ours.as_raw_fd();
    let mut bufs = [[0u8; 1]; 5];
    let [b1, b2, b3, b4, b5] = &mut bufs;
    let b = backend();
    b.register(fd).unwrap();
    for (ud, buf) in [(1, b1), (2, b2), (3, b3), (4, b4)] {
        submit(&b, buf_op(OpCode::Recv, fd, ud, buf));
    }
    b.cancel(1); // the head
    b.cancel(4); // the tail
    assert_eq!(
        collect(&b, 2),
        [done(1, -libc::ECANCELED), done(4, -libc::ECANCELED)]
    );
    submit(&b, buf_op(OpCode::Recv, fd, 5, b5));
    assert_eq!(read_lane(&b, fd).2, 3);
    peer.write_all(b"x").unwrap();
    assert_eq!(collect_one(&b), done(2, 1));
    peer.write_all(b"y").unwrap();
    assert_eq!(collect_one(&b), done(3, 1));
    peer.write_all(b"z").unwrap();
    assert_eq!(collect_one(&b), done(5, 1));
    assert_eq!(bufs, [[0], [b'x'], [b'y'], [0], [b'z']]);
    assert_eq!(read_lane(&b, fd).2, 0);
}

#[test]
fn user_data_beyond_the_direct_table_work_like_any_other() {
    let (ours, mut peer) = tcp_pair();
    let fd = ours.as_raw_fd();
    let (mut b1, mut b2) = ([0u8; 1], [0u8; 1]);
    let (big, huge) = (DIRECT_OPS as u64 + 3, 3 << 40 | (MAX_IN_FLIGHT as u64 - 2));
    let b = backend();
    b.register(fd).unwrap();
    submit(&b, buf_op(OpCode::Recv, fd, big, &mut b1));
    submit(&b, buf_op(OpCode::Recv, fd, huge, &mut b2));
    // SAFETY: refused (a duplicate), so its memory is never used.
    let dup = unsafe { b.submit(&buf_op(OpCode::Recv, fd, big, &mut [0u8; 1])) };
    assert_eq!(dup.unwrap_err().raw_os_error(), Some(libc::EEXIST));
    peer.write_all(b"p").unwrap();
    assert_eq!(collect_one(&b), done(big, 1));
    b.cancel(huge);
    assert_eq!(collect_one(&b), done(huge, -libc::ECANCELED));
    assert_eq!(b.shared.lock().ops.len(), 0);
}

#[test]
fn file_ops_need_a_registered_fd() {
    let file = temp_file();
    let mut buf = [0u8; 4];
    let b = backend();
    // SAFETY: refused (not registered), so its memory is never used.
    let err = unsafe { b.submit(&buf_op(OpCode::Read, file.as_raw_fd(), 1, &mut buf)) };
    assert_eq!(err.unwrap_err().raw_os_error(), Some(libc::EBADF));
    assert_quiet(&b, Duration::ZERO);
}

#[test]
fn drop_joins_idle_file_workers() {
    let file = temp_file();
    let mut buf = *b"data";
    let b = backend();
    b.register(file.as_raw_fd()).unwrap();
    submit(&b, buf_op(OpCode::Write, file.as_raw_fd(), 1, &mut buf));
    assert_eq!(collect_one(&b), done(1, 4));
    let shared = Arc::downgrade(&b.shared);
    drop(b);
    // Every worker was joined, not detached: nothing holds the state any more.
    assert!(
        shared.upgrade().is_none(),
        "a file worker outlived the backend"
    );
}

/// Dropping the backend once joined the file workers with no time limit, so
/// a pread stuck in the kernel hung the drop forever.
#[test]
fn drop_returns_while_a_file_worker_is_stuck_in_the_kernel() {
    let Some(page) = StuckPage::new() else {
        eprintln!("skipped: userfaultfd is not permitted here");
        return;
    };
    let mut file = temp_file();
    file.write_all(&[0x5A; 4096]).unwrap();
    let b = backend();
    b.register(file.as_raw_fd()).unwrap();
    let shared = Arc::downgrade(&b.shared);
    let read = RawOp {
        buf: page.ptr,
        len: page.len,
        ..op(OpCode::Read, file.as_raw_fd(), 1)
    };
    submit(&b, read);
    // The uffd reports the fault once the worker is inside pread, stuck.
    wait_for(page.uffd.as_raw_fd(), libc::POLLIN);
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    thread::spawn(move || {
        drop(b);
        tx.send(start.elapsed()).unwrap();
    });
    let took = rx.recv_timeout(LIMIT);
    // Let the read go on (closing the uffd resolves the fault normally)
    // before asserting, so that a failure cannot leave it stuck.
    drop(page.uffd);
    let took = took.expect("dropping the backend hung on a stuck file worker");
    assert!(took >= WORKER_EXIT_WAIT, "drop did not wait for the worker");
    // The detached worker finishes the read into the page — memory that must
    // outlive the drop, and does — then exits and frees the shared state.
    let start = Instant::now();
    while shared.upgrade().is_some() {
        assert!(start.elapsed() < LIMIT, "the detached worker never exited");
        thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: the page is mapped and nobody writes it any more (the worker
    // exited); the kernel filled it (or, had the read failed, zeroed it).
    let bytes = unsafe { std::slice::from_raw_parts(page.ptr, page.len) };
    assert!(bytes.iter().all(|&x| x == 0x5A), "the read did not land");
    // SAFETY: the mapping is ours and nothing refers to it any more.
    unsafe { libc::munmap(page.ptr.cast(), page.len) };
}

/// Whether `fd` is an open file descriptor.
fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no argument; a closed fd gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

#[test]
fn deregister_never_closes_the_fd_a_file_worker_is_using() {
    let Some(page) = StuckPage::new() else {
        eprintln!("skipped: userfaultfd is not permitted here");
        return;
    };
    let mut file = temp_file();
    file.write_all(&[0x33; 4096]).unwrap();
    let fd = file.as_raw_fd();
    let b = backend();
    b.register(fd).unwrap();
    let dup = {
        let st = b.shared.lock();
        let entry = st.fds.get(fd).expect("registered");
        entry
            .file
            .as_ref()
            .expect("a file has a duplicate")
            .as_raw_fd()
    };
    let read = RawOp {
        buf: page.ptr,
        len: page.len,
        ..op(OpCode::Read, fd, 1)
    };
    submit(&b, read);
    wait_for(page.uffd.as_raw_fd(), libc::POLLIN); // the worker is in pread
                                                   // Against the contract (an op is in flight), but it must stay safe.
    b.deregister(fd);
    assert!(fd_is_open(dup), "the duplicate was closed under the worker");
    drop(page.uffd);
    // The running read completes with its real result; nothing else comes.
    assert_eq!(collect_one(&b), done(1, 4096));
    assert_quiet(&b, Duration::from_millis(10));
    drop(b);
    // SAFETY: the leaked duplicate is ours to close now that no worker runs.
    unsafe { libc::close(dup) };
    // SAFETY: the worker is gone; the mapping is ours.
    unsafe { libc::munmap(page.ptr.cast(), page.len) };
}
