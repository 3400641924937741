//! Sockets: receives, sends, accept and connect, cancels, timers, UDP, and
//! many threads submitting and cancelling at once.

use super::*;

#[test]
fn recv_completes_after_peer_writes() {
    let (ours, mut peer) = tcp_pair();
    let mut buf = [0u8; 16];
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    submit(&b, buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf));
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
    submit(&b, raw_op(Syscall::Recv, ours.as_raw_fd(), 1));
    assert_quiet(&b, Duration::from_millis(20));
    peer.write_all(b"xy").unwrap();
    assert_eq!(collect_one(&b), done(1, 0));
    // The probe consumed nothing.
    submit(&b, buf_op(Syscall::Recv, ours.as_raw_fd(), 2, &mut buf));
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
    submit(&b, buf_op(Syscall::Send, ours.as_raw_fd(), 1, &mut big));
    assert_quiet(&b, Duration::ZERO); // 8 MiB cannot have gone out yet
                                      // One send per socket at a time (the op layer's lanes): a second one
                                      // now is refused, and goes in once the first completed.
                                      // SAFETY: refused, so its memory is never used.
    let busy = unsafe { b.submit(&buf_op(Syscall::Send, ours.as_raw_fd(), 2, &mut small)) };
    assert_eq!(busy.unwrap_err().raw_os_error(), Some(libc::EBUSY));
    assert_eq!(collect_one(&b), done(1, BIG as i32));
    submit(&b, buf_op(Syscall::Send, ours.as_raw_fd(), 2, &mut small));
    assert_eq!(collect_one(&b), done(2, 1000));
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
            ..raw_op(Syscall::SendMsg, ours.as_raw_fd(), 1)
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
            ..raw_op(Syscall::Accept, listener.as_raw_fd(), 1)
        },
    );
    submit(
        &b,
        RawOp {
            addr: &mut to,
            addrlen: &mut to_len,
            ..raw_op(Syscall::Connect, client.as_raw_fd(), 2)
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
    submit(&b, buf_op(Syscall::Recv, accepted.as_raw_fd(), 3, &mut buf));
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
            ..raw_op(Syscall::Connect, client.as_raw_fd(), 7)
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
    submit(&b, buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf));
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
    submit(&b, buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf));
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    assert_eq!(collect_one(&b), done(1, -libc::ECONNRESET));
}

#[test]
fn cancel_ends_only_that_op() {
    let (ours, mut peer) = tcp_pair();
    let (other, mut other_peer) = tcp_pair();
    let (mut b1, mut b2, mut b3) = ([0u8; 1], [0u8; 1], [0u8; 1]);
    let b = backend();
    b.register(ours.as_raw_fd()).unwrap();
    b.register(other.as_raw_fd()).unwrap();
    let fd = ours.as_raw_fd();
    submit(&b, buf_op(Syscall::Recv, fd, 1, &mut b1));
    submit(&b, buf_op(Syscall::Recv, other.as_raw_fd(), 2, &mut b2));
    b.cancel(2);
    assert_eq!(collect_one(&b), done(2, -libc::ECANCELED));
    b.cancel(2); // finished: ignored
    b.cancel(99); // unknown: ignored
    assert_quiet(&b, Duration::from_millis(10));
    peer.write_all(b"a").unwrap();
    assert_eq!(collect_one(&b), done(1, 1));
    // The cancelled op's socket takes the next op as usual.
    submit(&b, buf_op(Syscall::Recv, other.as_raw_fd(), 3, &mut b3));
    other_peer.write_all(b"b").unwrap();
    assert_eq!(collect_one(&b), done(3, 1));
    assert_eq!((b1, b2, b3), ([b'a'], [0], [b'b']));
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
            ..buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf)
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
            ..buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf)
        },
    );
    peer.write_all(b"ok").unwrap();
    assert_eq!(collect_one(&b), done(1, 2));
    // The stale timer passes without effect, also on a reused user_data.
    submit(&b, buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf));
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
        ..buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf)
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
            ..raw_op(Syscall::RecvMsg, a.as_raw_fd(), 1)
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
            ..raw_op(Syscall::SendMsg, a.as_raw_fd(), 2)
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
    assert!(unsafe { b.submit(&buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf)) }.is_err());
    b.register(ours.as_raw_fd()).unwrap();
    submit(&b, buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf));
    // Same user_data twice while the first is pending.
    // SAFETY: as above.
    assert!(unsafe { b.submit(&buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf)) }.is_err());
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
    submit(&b, buf_op(Syscall::Recv, ours.as_raw_fd(), 1, &mut buf));
    drop(b);
}

#[test]
fn concurrent_submit_cancel_and_timeouts_complete_each_op_once() {
    // N receives over P sockets, one pending per socket at a time (as the op
    // layer sends them): op i goes to socket i % P once op i - P completed.
    const N: usize = 400;
    const P: usize = 16;
    let pairs: Vec<(TcpStream, TcpStream)> = (0..P).map(|_| tcp_pair()).collect();
    let fds: Vec<RawFd> = pairs.iter().map(|(ours, _)| ours.as_raw_fd()).collect();
    let mut bufs = vec![0u8; N];
    let base = bufs.as_mut_ptr() as usize;
    let b = Arc::new(backend());
    for &fd in &fds {
        b.register(fd).unwrap();
    }
    let completed: Arc<Vec<std::sync::atomic::AtomicBool>> = Arc::new(
        (0..N)
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect(),
    );
    let submitter = {
        let (b, fds, completed) = (Arc::clone(&b), fds.clone(), Arc::clone(&completed));
        thread::spawn(move || {
            for i in 0..N {
                let start = Instant::now();
                while i >= P && !completed[i - P].load(std::sync::atomic::Ordering::Acquire) {
                    assert!(start.elapsed() < LIMIT, "op {} never completed", i - P);
                    thread::yield_now();
                }
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
                        ..raw_op(Syscall::Recv, fds[i % P], i as u64)
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
    let (ours, peers): (Vec<TcpStream>, Vec<TcpStream>) = pairs.into_iter().unzip();
    let writer = thread::spawn(move || {
        let mut peers = peers;
        for k in 0..N {
            peers[k % P].write_all(&[1u8]).unwrap();
            if k % 10 == 9 {
                thread::sleep(Duration::from_micros(200));
            }
        }
        peers
    });
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < N {
        assert!(start.elapsed() < LIMIT, "only {} completions", got.len());
        let mut out = Vec::new();
        b.poll(Some(Duration::from_millis(20)), &mut out)
            .expect("poll");
        for c in &out {
            completed[c.user_data as usize].store(true, std::sync::atomic::Ordering::Release);
        }
        got.extend(out);
    }
    submitter.join().unwrap();
    canceller.join().unwrap();
    let _peers = writer.join().unwrap();
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
    // Every byte the peers wrote was received by one op or is still unread.
    // (Loopback delivery may lag the writer a little.)
    let mut rest = [0u8; N];
    let mut unread = 0;
    let start = Instant::now();
    while received + unread < N && start.elapsed() < Duration::from_secs(2) {
        let mut any = false;
        for s in &ours {
            if let Ok(n) = (&*s).read(&mut rest) {
                unread += n;
                any = true;
            }
        }
        if !any {
            thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(received + unread, N, "received {received}, unread {unread}");
    assert_quiet(&b, Duration::from_millis(10));
}
