//! The conformance suite: every I/O behaviour of docs/semantics.md
//! ("Operations and packets", "Ending operations, handles and the port"), run unchanged on
//! each backend (`uring::*` and `epoll::*`). A difference between backends is
//! a bug. Loopback only; every wait is bounded.

#[macro_use]
mod util;

use util::{assert_no_packet, listener, pair, pending};

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use cport::{is_aborted, BackendChoice, Issued, Packet, Port};
use socket2::{Domain, Socket, Type};

type IoPort = Port<u32, u32>;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn port(backend: BackendChoice) -> IoPort {
    util::builder(backend).concurrency(4).build().expect("port")
}

/// The next packet, within 10 s.
fn next(port: &IoPort) -> Packet<u32, u32> {
    port.get(WAIT).expect("a packet within 10 s")
}

/// The (device, inode) that fd number `fd` refers to now, if it is open. Tests
/// run in parallel and reuse fd numbers at once, so "is this fd still the
/// socket it was" is asked by identity, not by number.
fn fd_identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat writes one `struct stat` into the zeroed local.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

fn accept_connect_send_recv(b: BackendChoice) {
    let port = port(b);
    let (l, addr) = listener();
    let lh = port.associate(l, 10).unwrap();
    pending(port.op(lh).accept(100));
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let ch = port.associate(sock, 20).unwrap();
    pending(port.op(ch).connect(addr, 200));
    let mut got = [next(&port), next(&port)];
    got.sort_by_key(|p| p.value);
    let [mut accepted, connected] = got;
    assert_eq!((accepted.key, accepted.value), (10, 100));
    assert!(accepted.result.is_ok());
    let stream = accepted.take_stream().expect("accept yields the stream");
    assert!(accepted.addr().unwrap().ip().is_loopback());
    assert_eq!(
        (connected.key, connected.value, connected.result.unwrap()),
        (20, 200, 0)
    );

    let sh = port.associate(stream, 30).unwrap();
    pending(port.op(ch).send(b"hello iocp".to_vec(), 1));
    let sent = next(&port);
    assert_eq!((sent.key, sent.value, sent.result.unwrap()), (20, 1, 10));
    assert_eq!(
        sent.buf.as_deref(),
        Some(&b"hello iocp"[..]),
        "the buffer comes back"
    );
    pending(port.op(sh).recv(vec![0; 64], 2));
    let recvd = next(&port);
    let n = recvd.result.unwrap();
    assert_eq!((recvd.key, recvd.value), (30, 2));
    assert_eq!(&recvd.buf.unwrap()[..n], b"hello iocp");
    assert_no_packet(&port);
}

fn recv_completes_when_data_arrives(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    pending(port.op(h).recv(vec![0; 16], 7));
    assert_no_packet(&port);
    client.write_all(b"abc").unwrap();
    let p = next(&port);
    assert_eq!((p.value, p.result.unwrap()), (7, 3));
    assert_eq!(&p.buf.unwrap()[..3], b"abc");
}

fn peer_graceful_close_completes_recv_with_zero(b: BackendChoice) {
    let port = port(b);
    let (h, client) = pair(&port);
    pending(port.op(h).recv(vec![0; 16], 1));
    client.shutdown(Shutdown::Write).unwrap();
    let p = next(&port);
    assert_eq!(p.result.unwrap(), 0);
}

fn peer_reset_fails_recv_then_every_later_call(b: BackendChoice) {
    let port = port(b);
    let (h, client) = pair(&port);
    pending(port.op(h).recv(vec![0; 16], 1));
    let client = Socket::from(client);
    client.set_linger(Some(Duration::ZERO)).unwrap();
    drop(client); // RST
    let p = next(&port);
    assert_eq!(p.value, 1);
    assert_eq!(
        p.result.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset
    );
    // The socket remembers: later operations fail at once, value and buffer back.
    let err = port.op(h).recv(vec![0; 8], 2).unwrap_err();
    assert_eq!(err.error.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!((err.value, err.buf.map(|b| b.len())), (2, Some(8)));
    let err = port.op(h).send(vec![1; 8], 3).unwrap_err();
    assert_eq!(
        (err.error.kind(), err.value),
        (std::io::ErrorKind::ConnectionReset, 3)
    );
    assert_no_packet(&port);
}

fn close_handle_aborts_pending_recv_and_closes_fd_after(b: BackendChoice) {
    let port = port(b);
    let (l, addr) = listener();
    let client = TcpStream::connect(addr).unwrap();
    let (server, _) = l.accept().unwrap();
    let raw = server.as_raw_fd();
    let socket = fd_identity(raw);
    assert!(socket.is_some());
    let h = port.associate(server, 1).unwrap();
    pending(port.op(h).recv(vec![0; 16], 5));
    port.close_handle(h).unwrap();
    let p = next(&port);
    assert_eq!(p.value, 5);
    assert!(is_aborted(p.result.as_ref().unwrap_err()), "{:?}", p.result);
    assert!(p.buf.is_some());
    assert_ne!(
        fd_identity(raw),
        socket,
        "fd closed after the last op completed"
    );
    // Bad input after close: clear errors, nothing lost.
    let err = port.op(h).recv(vec![0; 4], 6).unwrap_err();
    assert_eq!(
        (err.error.kind(), err.value),
        (std::io::ErrorKind::InvalidInput, 6)
    );
    assert!(port.close_handle(h).is_err(), "double close is an error");
    drop(client);
    assert_no_packet(&port);
}

/// Closing a handle ends its connection at once — the peer reads EOF —
/// while another handle's receive, issued earlier, still waits. (On io_uring
/// the handles are in the ring's file table where the kernel allows it; a
/// kernel that released a removed entry only once earlier requests were done
/// would keep this socket open until the other receive completed.)
fn close_handle_ends_the_connection_while_another_receive_waits(b: BackendChoice) {
    let port = port(b);
    let (l, addr) = listener();
    let waiting_client = TcpStream::connect(addr).unwrap();
    let waiting = port.associate(l.accept().unwrap().0, 1).unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    let closing = port.associate(l.accept().unwrap().0, 2).unwrap();
    pending(port.op(waiting).recv(vec![0; 16], 1));
    // The closing handle has had an operation of its own, now finished.
    pending(port.op(closing).recv(vec![0; 16], 2));
    client.write_all(b"x").unwrap();
    let p = next(&port);
    assert_eq!((p.value, p.result.as_ref().ok().copied()), (2, Some(1)));
    port.close_handle(closing).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut byte = [0u8; 1];
    let n = client
        .read(&mut byte)
        .expect("the peer sees the close at once, not a timeout");
    assert_eq!(n, 0, "EOF");
    // The other receive still works.
    (&waiting_client).write_all(b"y").unwrap();
    let p = next(&port);
    assert_eq!((p.value, p.result.as_ref().ok().copied()), (1, Some(1)));
    assert_no_packet(&port);
}

fn accept_pending_at_close_is_aborted(b: BackendChoice) {
    let port = port(b);
    let (l, _) = listener();
    let h = port.associate(l, 1).unwrap();
    pending(port.op(h).accept(9));
    port.close_handle(h).unwrap();
    let p = next(&port);
    assert_eq!(p.value, 9);
    assert!(is_aborted(p.result.as_ref().unwrap_err()));
    let mut p = p;
    assert!(p.take_stream().is_none());
}

fn cancel_one_op_among_several(b: BackendChoice) {
    let port = port(b);
    let (l, _) = listener();
    let h = port.associate(l, 1).unwrap();
    let first = pending(port.op(h).accept(1));
    pending(port.op(h).accept(2));
    port.cancel_op(h, first).unwrap();
    let p = next(&port);
    assert_eq!(p.value, 1);
    assert!(is_aborted(p.result.as_ref().unwrap_err()));
    assert_no_packet(&port);
    assert_eq!(
        port.cancel_op(h, first).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    assert_eq!(port.cancel(h).unwrap(), 1);
    assert_eq!(next(&port).value, 2);
    assert_eq!(
        port.cancel(h).unwrap_err().kind(),
        std::io::ErrorKind::NotFound,
        "nothing to cancel"
    );
}

fn connect_refused_completes_through_the_port(b: BackendChoice) {
    let port = port(b);
    let (l, addr) = listener();
    drop(l);
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let h = port.associate(sock, 4).unwrap();
    pending(port.op(h).connect(addr, 8));
    let p = next(&port);
    assert_eq!((p.key, p.value), (4, 8));
    assert_eq!(
        p.result.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
}

fn file_read_write_at_offsets_and_eof(b: BackendChoice) {
    let port = port(b);
    let file = util::temp_file("file");
    let h = port.associate(file, 3).unwrap();
    pending(port.op(h).write_at(b"0123456789".to_vec(), 100, 1));
    assert_eq!(next(&port).result.unwrap(), 10);
    pending(port.op(h).read_at(vec![0; 4], 103, 2));
    let p = next(&port);
    assert_eq!((p.value, p.result.unwrap()), (2, 4));
    assert_eq!(p.buf.unwrap(), b"3456");
    pending(port.op(h).read_at(vec![0; 4], 500, 3));
    let p = next(&port);
    assert_eq!(
        (p.value, p.result.unwrap()),
        (3, 0),
        "read past end of file gives 0 bytes"
    );
    port.close_handle(h).unwrap();
}

fn udp_round_trip(b: BackendChoice) {
    let port = port(b);
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a_addr, peer_addr) = (a.local_addr().unwrap(), peer.local_addr().unwrap());
    let h = port.associate(a, 1).unwrap();
    pending(port.op(h).recv_from(vec![0; 32], 1));
    peer.send_to(b"ping", a_addr).unwrap();
    let p = next(&port);
    assert_eq!(
        (p.value, *p.result.as_ref().unwrap(), p.addr()),
        (1, 4, Some(peer_addr))
    );
    pending(port.op(h).send_to(b"pong".to_vec(), peer_addr, 2));
    assert_eq!(next(&port).result.unwrap(), 4);
    let mut buf = [0; 8];
    peer.set_read_timeout(WAIT).unwrap();
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"pong"[..], a_addr));
    // A datagram larger than the buffer: its start, and EMSGSIZE (Windows:
    // WSAEMSGSIZE), not a success with a short count.
    pending(port.op(h).recv_from(vec![0; 4], 3));
    peer.send_to(b"too long", a_addr).unwrap();
    let p = next(&port);
    assert_eq!(p.value, 3);
    assert_eq!(
        p.result.as_ref().unwrap_err().raw_os_error(),
        Some(libc::EMSGSIZE)
    );
    assert_eq!(p.buf.as_deref(), Some(&b"too "[..]));
    assert_eq!(p.addr(), Some(peer_addr));
}

/// recv_msg: a pending receive of one datagram with IP_PKTINFO gets the
/// data (scattered over its buffers), the source, the ancillary data (the
/// datagram's destination address) and the flags; a control buffer too small
/// for the data gives MSG_CTRUNC; a datagram larger than the buffers gives
/// EMSGSIZE with MSG_TRUNC in the flags.
fn udp_recv_msg_with_control_data(b: BackendChoice) {
    let port = port(b);
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int from a live local.
    let rc = unsafe {
        libc::setsockopt(
            a.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a_addr, peer_addr) = (a.local_addr().unwrap(), peer.local_addr().unwrap());
    let h = port.associate(a, 1).unwrap();
    pending(port.op(h).recv_msg(
        vec![Vec::with_capacity(3), Vec::with_capacity(29)],
        Vec::with_capacity(64),
        1,
    ));
    peer.send_to(b"pktinfo", a_addr).unwrap();
    let p = next(&port);
    assert_eq!((p.value, *p.result.as_ref().unwrap()), (1, 7));
    assert_eq!(p.addr(), Some(peer_addr));
    assert_eq!(p.bufs()[0], b"pkt");
    assert_eq!(p.bufs()[1], b"info");
    let info = p.msg_info().expect("recv_msg reports its flags");
    assert_eq!(info.flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC), 0);
    let control = p.buf.as_deref().unwrap();
    assert_eq!(control.len(), info.control_len);
    // One cmsghdr (len, level, type) with a struct in_pktinfo.
    let hdr = std::mem::size_of::<libc::cmsghdr>();
    assert!(info.control_len >= hdr + std::mem::size_of::<libc::in_pktinfo>());
    let level = i32::from_ne_bytes(control[8..12].try_into().unwrap());
    let kind = i32::from_ne_bytes(control[12..16].try_into().unwrap());
    assert_eq!((level, kind), (libc::IPPROTO_IP, libc::IP_PKTINFO));
    // in_pktinfo: ifindex, spec_dst, addr (the header's destination).
    assert_eq!(&control[hdr + 8..hdr + 12], &[127, 0, 0, 1]);
    // No room for the ancillary data: MSG_CTRUNC, the data still arrives.
    pending(
        port.op(h)
            .recv_msg(vec![Vec::with_capacity(16)], Vec::with_capacity(4), 2),
    );
    peer.send_to(b"x", a_addr).unwrap();
    let p = next(&port);
    assert_eq!((p.value, *p.result.as_ref().unwrap()), (2, 1));
    assert_ne!(p.msg_info().unwrap().flags & libc::MSG_CTRUNC, 0);
    // Larger than the buffers: EMSGSIZE, the start, MSG_TRUNC.
    pending(
        port.op(h)
            .recv_msg(vec![Vec::with_capacity(4)], Vec::with_capacity(64), 3),
    );
    peer.send_to(b"too long", a_addr).unwrap();
    let p = next(&port);
    assert_eq!(
        p.result.as_ref().unwrap_err().raw_os_error(),
        Some(libc::EMSGSIZE)
    );
    assert_eq!(p.bufs()[0], b"too ");
    assert_ne!(p.msg_info().unwrap().flags & libc::MSG_TRUNC, 0);
    assert_eq!(p.addr(), Some(peer_addr));
}

fn skip_on_success_on_and_off(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    client.write_all(b"xy").unwrap();
    std::thread::sleep(Duration::from_millis(20)); // let the bytes land (not an assertion on time)
                                                   // Off (the default): an op that could complete at once still queues a packet.
    pending(port.op(h).recv(vec![0; 1], 1));
    assert_eq!(next(&port).result.unwrap(), 1);
    // On: it returns its result directly and queues nothing.
    port.set_skip_on_success(h, true).unwrap();
    match port.op(h).recv(vec![0; 8], 2).unwrap() {
        Issued::Completed { bytes, value, buf } => {
            assert_eq!((bytes, value), (1, 2));
            assert_eq!(buf.unwrap()[0], b'y');
        }
        Issued::Pending(_) => panic!("data was available: expected inline completion"),
    }
    assert_no_packet(&port);
    // Nothing available: still pending, still one packet.
    pending(port.op(h).recv(vec![0; 8], 3));
    client.write_all(b"z").unwrap();
    assert_eq!(next(&port).value, 3);
}

fn per_op_timeout_fires_and_does_not_fire(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    pending(
        port.op(h)
            .timeout(Duration::from_millis(30))
            .recv(vec![0; 8], 1),
    );
    let p = next(&port);
    assert_eq!(p.value, 1);
    let e = p.result.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(!is_aborted(&e), "a timeout is not an abort");
    pending(
        port.op(h)
            .timeout(Duration::from_secs(10))
            .recv(vec![0; 8], 2),
    );
    client.write_all(b"ok").unwrap();
    let p = next(&port);
    assert_eq!((p.value, p.result.unwrap()), (2, 2));
}

fn zero_byte_recv_waits_for_data(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    pending(port.op(h).recv(Vec::new(), 1));
    assert_no_packet(&port);
    client.write_all(b"data").unwrap();
    let p = next(&port);
    assert_eq!((p.value, p.result.unwrap()), (1, 0));
    pending(port.op(h).recv(vec![0; 8], 2));
    let p = next(&port);
    assert_eq!(p.result.unwrap(), 4, "the probe consumed nothing");
}

fn vectored_send_and_recv(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    pending(
        port.op(h)
            .send_vectored(vec![b"ab".to_vec(), b"cde".to_vec()], 1),
    );
    let p = next(&port);
    assert_eq!((*p.result.as_ref().unwrap(), p.bufs().len()), (5, 2));
    let mut buf = [0; 5];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abcde");
    client.write_all(b"12345").unwrap();
    pending(port.op(h).recv_vectored(vec![vec![0; 2], vec![0; 8]], 2));
    let p = next(&port);
    assert_eq!(*p.result.as_ref().unwrap(), 5);
    assert_eq!(p.bufs()[0], b"12");
    assert_eq!(&p.bufs()[1][..3], b"345");
    let err = port.op(h).send_vectored(Vec::new(), 3).unwrap_err();
    assert_eq!(
        (err.error.kind(), err.value),
        (std::io::ErrorKind::InvalidInput, 3)
    );
}

fn large_send_to_a_slow_reader_sends_everything(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    let data: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
    pending(port.op(h).send(data.clone(), 1));
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut chunk = vec![0; 64 << 10];
        while got.len() < 8 << 20 {
            let n = client.read(&mut chunk).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&chunk[..n]);
        }
        got
    });
    let p = next(&port);
    assert_eq!(p.result.unwrap(), 8 << 20);
    assert!(reader.join().unwrap() == data);
}

fn dropping_the_port_with_ops_in_flight_is_safe(b: BackendChoice) {
    let port = port(b);
    let mut clients = Vec::new();
    for i in 0..16 {
        let (h, client) = pair(&port);
        pending(port.op(h).recv(vec![0; 4096], i));
        clients.push(client);
    }
    let (l, _) = listener();
    let lh = port.associate(l, 0).unwrap();
    pending(port.op(lh).accept(99));
    drop(port); // cancels and reaps everything before freeing the buffers
    drop(clients);
}

fn closed_port_refuses_operations(b: BackendChoice) {
    let port = port(b);
    let (h, _client) = pair(&port);
    port.close();
    let err = port.op(h).recv(vec![0; 4], 1).unwrap_err();
    assert_eq!(
        (err.error.kind(), err.value),
        (std::io::ErrorKind::BrokenPipe, 1)
    );
    assert!(port
        .associate(UdpSocket::bind("127.0.0.1:0").unwrap(), 1)
        .is_err());
}

fn waiting_threads_reap_completions_without_a_reaper_thread(b: BackendChoice) {
    // Several workers wait; completions arrive from the kernel; each packet
    // reaches exactly one worker.
    let port = port(b);
    let mut clients = Vec::new();
    for i in 0..8 {
        let (h, client) = pair(&port);
        pending(port.op(h).recv(vec![0; 8], i));
        clients.push(client);
    }
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let port = port.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(p) = port.get(Some(Duration::from_secs(2))) {
                    got.push(p.value);
                    if got.len() == 8 {
                        break;
                    }
                }
                got
            })
        })
        .collect();
    for c in &mut clients {
        c.write_all(b"x").unwrap();
    }
    let mut all: Vec<u32> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(all, (0..8).collect::<Vec<_>>());
}

fn thread_exit_cancels_nothing_and_starts_deferred_ops(b: BackendChoice) {
    // A worker (active on the port, so its submissions may be batched) starts
    // a recv and exits: the recv still runs and completes (the modern Windows
    // rule), and nothing waits for the worker to come back.
    let port = port(b);
    let (h, mut client) = pair(&port);
    port.post(0, 0, 0).unwrap();
    let worker = {
        let port = port.clone();
        std::thread::spawn(move || {
            port.get(WAIT).unwrap(); // now active on the port
            pending(port.op(h).recv(vec![0; 8], 1));
        })
    };
    worker.join().unwrap();
    client.write_all(b"late").unwrap();
    let p = next(&port);
    assert_eq!((p.value, p.result.unwrap()), (1, 4));
}

fn blocking_section_starts_deferred_ops(b: BackendChoice) {
    // An active worker starts a recv, then blocks until another thread has
    // seen that recv complete: the blocking section must hand the deferred
    // submission to the kernel, or this would never finish.
    let port = port(b);
    let (h, mut client) = pair(&port);
    port.post(0, 0, 0).unwrap();
    port.get(WAIT).unwrap(); // the main thread is now an active worker
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let reaper = {
        let port = port.clone();
        std::thread::spawn(move || {
            let p = port.get(WAIT).unwrap();
            seen_tx.send(p.value).unwrap();
        })
    };
    pending(port.op(h).recv(vec![0; 8], 5));
    client.write_all(b"x").unwrap();
    let seen = port.blocking(|| seen_rx.recv_timeout(Duration::from_secs(10)));
    assert_eq!(seen, Ok(5));
    reaper.join().unwrap();
}

/// As on Windows, an operation completes whatever the thread that started it
/// does meanwhile — here it computes without a single system call (io_uring,
/// cooperative task running: the scheduler tick's interrupt runs the recv's
/// last step; interrupting mode: an interrupt at once).
fn an_op_completes_while_its_thread_computes(b: BackendChoice) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let port = port(b);
    let (h, mut client) = pair(&port);
    let started = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let computer = {
        let (port, started, stop) = (port.clone(), started.clone(), stop.clone());
        std::thread::spawn(move || {
            pending(port.op(h).recv(vec![0; 8], 9));
            started.store(true, Ordering::Release);
            while !stop.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
        })
    };
    util::wait_until("the recv is started", || started.load(Ordering::Acquire));
    client.write_all(b"z").unwrap();
    let p = port.get(WAIT);
    stop.store(true, Ordering::Release);
    computer.join().unwrap();
    let p = p.expect("the recv completes while its thread computes");
    assert_eq!((p.value, p.result.unwrap()), (9, 1));
}

/// A post while the only waiter polls in the kernel (with no timeout, I/O in
/// flight) wakes it (io_uring: the eventfd its ring watches; epoll: the
/// eventfd in its interest list).
fn post_wakes_a_poller_blocked_in_the_kernel(b: BackendChoice) {
    let port = port(b);
    let (h, _client) = pair(&port);
    pending(port.op(h).recv(vec![0; 8], 1)); // never completes by itself
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = {
        let port = port.clone();
        std::thread::spawn(move || tx.send(port.get(None).map(|p| p.value)).unwrap())
    };
    util::wait_until("the worker waits", || port.counters().waiting == 1);
    port.post(0, 0, 42).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok(Ok(42)),
        "the post did not wake the poller"
    );
    worker.join().unwrap();
    port.close_handle(h).unwrap();
    assert_eq!(next(&port).value, 1);
}

/// An operation queued behind another of its socket's direction, with a
/// timeout, while a thread already polls the kernel without one: the poller
/// is woken to honour the new deadline, so the op times out on time (it
/// stayed pending forever before: the poll's timeout was computed when the
/// poller entered the kernel).
fn queued_op_timeout_wakes_a_poller_in_the_kernel(b: BackendChoice) {
    timeout_while_a_poller_is_in_the_kernel(b, true);
}

/// The same for an op on another socket, which goes to the kernel at once:
/// the epoll backend's timer and io_uring's LINK_TIMEOUT reach the poller.
fn op_timeout_issued_while_a_poller_is_in_the_kernel(b: BackendChoice) {
    timeout_while_a_poller_is_in_the_kernel(b, false);
}

fn timeout_while_a_poller_is_in_the_kernel(b: BackendChoice, same_socket: bool) {
    let port = port(b);
    let (h1, _c1) = pair(&port);
    let (h2, _c2) = pair(&port);
    pending(port.op(h1).recv(vec![0; 8], 1)); // never completes by itself
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = {
        let port = port.clone();
        std::thread::spawn(move || {
            tx.send(
                port.get(None)
                    .map(|p| (p.value, p.result.map_err(|e| e.kind()))),
            )
            .unwrap()
        })
    };
    util::wait_until("the worker waits", || port.counters().waiting == 1);
    // Ordering only (not a timing assertion): let the worker reach the kernel.
    std::thread::sleep(Duration::from_millis(50));
    let target = if same_socket { h1 } else { h2 };
    pending(
        port.op(target)
            .timeout(Duration::from_millis(20))
            .recv(vec![0; 8], 2),
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok(Ok((2, Err(std::io::ErrorKind::TimedOut)))),
        "the op's deadline did not reach the poller"
    );
    worker.join().unwrap();
    port.close_handle(h1).unwrap();
    assert_eq!(next(&port).value, 1);
}

/// Two pending receives on one socket complete in issue order, the first
/// taking the first bytes, as on Windows (io_uring alone woke them
/// newest first).
fn pending_receives_complete_in_issue_order(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    for round in 0..20u8 {
        pending(port.op(h).recv(vec![0; 16], 1));
        pending(port.op(h).recv(vec![0; 16], 2));
        let data: Vec<u8> = (0..32).map(|i| i + round).collect();
        client.write_all(&data).unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            let p = next(&port);
            let n = p.result.unwrap();
            got.push((p.value, p.buf.unwrap()[..n].to_vec()));
        }
        got.sort();
        assert_eq!(
            got[0].1,
            data[..got[0].1.len()],
            "round {round}: the first recv got {:?}",
            got[0].1
        );
        let rest = &data[got[0].1.len()..];
        assert_eq!(got[1].1, rest[..got[1].1.len()], "round {round}");
        if got[0].1.len() + got[1].1.len() < 32 {
            // A short first read left bytes: drain them for the next round.
            pending(port.op(h).recv(vec![0; 32], 3));
            next(&port);
        }
    }
}

/// Several pending sends on one socket keep the stream in issue order, even
/// when each goes out in many parts (a slow reader).
fn pending_sends_keep_the_stream_in_order(b: BackendChoice) {
    let port = port(b);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    // Far less than one send: each goes out in several parts.
    socket2::SockRef::from(&server)
        .set_send_buffer_size(32 << 10)
        .unwrap();
    let h = port.associate(server, 1).unwrap();
    const EACH: usize = 256 << 10;
    for i in 0..8u32 {
        pending(port.op(h).send(vec![b'A' + i as u8; EACH], i));
    }
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = vec![0; 64 << 10];
        while all.len() < 8 * EACH {
            let n = client.read(&mut buf).unwrap();
            assert!(n > 0);
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let mut values: Vec<u32> = (0..8)
        .map(|_| {
            let p = next(&port);
            assert_eq!(p.result.unwrap(), EACH);
            p.value
        })
        .collect();
    let all = reader.join().unwrap();
    for (i, chunk) in all.chunks(EACH).enumerate() {
        assert!(
            chunk.iter().all(|&c| c == b'A' + i as u8),
            "send {i} is not whole and in order"
        );
    }
    assert_eq!(
        values,
        (0..8).collect::<Vec<_>>(),
        "sends complete in issue order"
    );
    values.clear();
}

/// An operation queued behind another of its direction can be cancelled or
/// closed (it completes aborted, exactly once, without ever reaching the
/// kernel), and its timeout counts while it waits.
fn queued_operations_cancel_close_and_time_out(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    pending(port.op(h).recv(vec![0; 8], 1));
    let second = pending(port.op(h).recv(vec![0; 8], 2));
    port.cancel_op(h, second).unwrap();
    let p = next(&port);
    assert_eq!(p.value, 2);
    assert!(is_aborted(p.result.as_ref().unwrap_err()), "{:?}", p.result);
    pending(
        port.op(h)
            .timeout(Duration::from_millis(50))
            .recv(vec![0; 8], 3),
    );
    // Its timeout runs while it waits behind the first: it times out on time.
    let p = next(&port);
    assert_eq!(p.value, 3);
    assert_eq!(p.result.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    client.write_all(b"x").unwrap();
    let p = next(&port);
    assert_eq!(
        (p.value, p.result.unwrap()),
        (1, 1),
        "the first recv gets the data"
    );
    pending(port.op(h).recv(vec![0; 8], 4));
    pending(port.op(h).recv(vec![0; 8], 5));
    pending(port.op(h).send(vec![1; 8], 6));
    port.close_handle(h).unwrap();
    let mut values: Vec<u32> = (0..3)
        .map(|_| {
            let p = next(&port);
            if p.value != 6 {
                assert!(is_aborted(p.result.as_ref().unwrap_err()), "{:?}", p.result);
            }
            p.value
        })
        .collect();
    values.sort();
    assert_eq!(values, [4, 5, 6]);
    assert_no_packet(&port);
}

/// The port says how its backend runs: on io_uring how task work runs (as
/// asked, or interrupting where the kernel refused cooperative task running);
/// nothing on epoll.
fn backend_mode_says_how_task_work_runs(b: BackendChoice) {
    let port: IoPort = util::builder(b).build().unwrap();
    let mode = port.backend_mode();
    match b {
        BackendChoice::Epoll => assert_eq!(mode, None),
        _ if util::INTERRUPTING.with(|c| c.get()) => {
            assert_eq!(mode, Some("interrupting task work"))
        }
        _ => {
            let mode = mode.expect("a mode on io_uring");
            assert!(
                mode == "cooperative task running"
                    || mode.starts_with("interrupting task work (the kernel refused"),
                "{mode}"
            );
        }
    }
}

conformance!(
    backend_mode_says_how_task_work_runs,
    close_handle_ends_the_connection_while_another_receive_waits,
    pending_receives_complete_in_issue_order,
    pending_sends_keep_the_stream_in_order,
    queued_operations_cancel_close_and_time_out,
    queued_op_timeout_wakes_a_poller_in_the_kernel,
    op_timeout_issued_while_a_poller_is_in_the_kernel,
    post_wakes_a_poller_blocked_in_the_kernel,
    an_op_completes_while_its_thread_computes,
    thread_exit_cancels_nothing_and_starts_deferred_ops,
    blocking_section_starts_deferred_ops,
    accept_connect_send_recv,
    recv_completes_when_data_arrives,
    peer_graceful_close_completes_recv_with_zero,
    peer_reset_fails_recv_then_every_later_call,
    close_handle_aborts_pending_recv_and_closes_fd_after,
    accept_pending_at_close_is_aborted,
    cancel_one_op_among_several,
    connect_refused_completes_through_the_port,
    file_read_write_at_offsets_and_eof,
    udp_round_trip,
    udp_recv_msg_with_control_data,
    skip_on_success_on_and_off,
    per_op_timeout_fires_and_does_not_fire,
    zero_byte_recv_waits_for_data,
    vectored_send_and_recv,
    large_send_to_a_slow_reader_sends_everything,
    dropping_the_port_with_ops_in_flight_is_safe,
    closed_port_refuses_operations,
    waiting_threads_reap_completions_without_a_reaper_thread,
);

/// SQPOLL (opt-in): a kernel thread takes the submissions; operations work as
/// usual, also those started by a thread that exited.
#[test]
fn uring_sqpoll_runs_operations() {
    if !util::uring_or_skip() {
        return;
    }
    let port: IoPort = Port::builder()
        .backend(BackendChoice::Uring)
        .uring_sqpoll(Duration::from_millis(20))
        .concurrency(2)
        .build()
        .expect("an SQPOLL ring");
    let (h, mut client) = pair(&port);
    let p2 = port.clone();
    std::thread::spawn(move || pending(p2.op(h).recv(vec![0; 8], 1)))
        .join()
        .unwrap();
    client.write_all(b"sq").unwrap();
    let p = next(&port);
    assert_eq!((p.value, p.result.unwrap()), (1, 2));
    pending(port.op(h).send(b"back".to_vec(), 2));
    let p = next(&port);
    assert_eq!((p.value, p.result.unwrap()), (2, 4));
    let mut got = [0; 4];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"back");
    // Idle longer than the SQ thread's idle time: it sleeps and must be woken.
    std::thread::sleep(Duration::from_millis(60));
    pending(port.op(h).recv(vec![0; 8], 3));
    client.write_all(b"again").unwrap();
    let p = next(&port);
    assert_eq!((p.value, p.result.unwrap()), (3, 5));
    assert_no_packet(&port);
}
