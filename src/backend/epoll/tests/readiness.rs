//! Readiness bookkeeping: when a lane counts as drained (short reads, end
//! of stream, urgent data), edges reported while an fd is registered, and
//! the op table's indexing by user_data.

use super::*;

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
    submit(&b, buf_op(Syscall::Recv, fd, 1, &mut b1));
    assert_eq!(read_lane(&b, fd), (true, false, 0));
    // A short read drained the socket.
    submit(&b, buf_op(Syscall::Recv, fd, 2, &mut b2));
    assert_eq!(read_lane(&b, fd), (false, false, 0));
    // So the next recv waits for an edge without a syscall.
    submit(&b, buf_op(Syscall::Recv, fd, 3, &mut b3));
    assert_eq!(read_lane(&b, fd), (false, false, 1));
    assert_eq!(collect(&b, 2), [done(1, 4), done(2, 6)]);
    assert_quiet(&b, Duration::from_millis(20));
    peer.write_all(b"ab").unwrap();
    assert_eq!(collect_one(&b), done(3, 2));
    // Again, with the edge arriving while the recv waits in the lane.
    submit(&b, buf_op(Syscall::Recv, fd, 4, &mut b4));
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
        submit(&b, buf_op(Syscall::Recv, fd, 1, &mut b1));
        submit(&b, buf_op(Syscall::Recv, fd, 2, &mut b2));
        assert_eq!(collect(&b, 2), [done(1, 3), done(2, 0)], "{dispatched}");
        // After end of stream every recv runs at once.
        submit(&b, buf_op(Syscall::Recv, fd, 3, &mut b2));
        assert_eq!(collect_one(&b), done(3, 0));
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
    submit(&b, buf_op(Syscall::Recv, fd, 1, &mut b1));
    submit(&b, buf_op(Syscall::Recv, fd, 2, &mut b2));
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
        submit(&b, buf_op(Syscall::Recv, fd, 1, &mut b1));
        submit(&b, buf_op(Syscall::Recv, fd, 2, &mut b2));
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
    submit(&b, buf_op(Syscall::Recv, a.as_raw_fd(), 1, &mut d1));
    assert!(
        read_lane(&b, a.as_raw_fd()).0,
        "one datagram drains nothing"
    );
    submit(&b, buf_op(Syscall::Recv, ux.as_raw_fd(), 3, &mut u1));
    assert!(
        read_lane(&b, ux.as_raw_fd()).0,
        "only TCP trusts short reads"
    );
    submit(&b, buf_op(Syscall::Recv, a.as_raw_fd(), 2, &mut d2));
    let mut got = collect(&b, 3);
    got.sort_by_key(|c| c.user_data);
    assert_eq!(got, [done(1, 3), done(2, 3), done(3, 4)]);
}

#[test]
fn user_data_differing_only_in_high_bits_are_distinct_ops() {
    let (ours, mut peer) = tcp_pair();
    let (other, _other_peer) = tcp_pair();
    let fd = ours.as_raw_fd();
    let (mut b1, mut b2) = ([0u8; 1], [0u8; 1]);
    let (low, high) = (5u64, 7u64 << 32 | 5);
    let b = backend();
    b.register(fd).unwrap();
    b.register(other.as_raw_fd()).unwrap();
    submit(&b, buf_op(Syscall::Recv, fd, low, &mut b1));
    submit(&b, buf_op(Syscall::Recv, other.as_raw_fd(), high, &mut b2));
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
    submit(&b, buf_op(Syscall::Recv, high.as_raw_fd(), 1, &mut buf));
    peer.write_all(b"hi").unwrap();
    assert_eq!(collect_one(&b), done(1, 2));
    b.deregister(high.as_raw_fd());
    for fd in [-1, high.as_raw_fd(), 5000] {
        // SAFETY: the op is refused (unregistered fd), so its memory is never used.
        let err = unsafe { b.submit(&buf_op(Syscall::Recv, fd, 2, &mut buf)) }.unwrap_err();
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
    submit(&b, buf_op(Syscall::Recv, fd, 1, &mut buf));
    peer.write_all(b"data").unwrap();
    wait_for(fd, libc::POLLIN);
    // Every poll has an inline result in hand (a datagram sent); the recv's
    // edge must still be looked at within two polls.
    let mut out = Vec::new();
    for ud in 10..12 {
        submit(&b, buf_op(Syscall::Send, udp.as_raw_fd(), ud, &mut dgram));
        b.poll(Some(Duration::ZERO), &mut out).unwrap();
    }
    assert!(out.contains(&done(1, 4)), "{out:?}");
    assert!(
        out.contains(&done(10, 8)) && out.contains(&done(11, 8)),
        "{out:?}"
    );
}

#[test]
fn a_side_takes_one_op_at_a_time() {
    // Issue order per direction is the op layer's: it sends one op per socket
    // and direction, and a second one is refused without being stored.
    let (ours, mut peer) = tcp_pair();
    let fd = ours.as_raw_fd();
    let (mut b1, mut b2, mut b3, mut out) = ([0u8; 1], [0u8; 1], [0u8; 1], *b"w");
    let b = backend();
    b.register(fd).unwrap();
    peer.write_all(b"x").unwrap();
    wait_for(fd, libc::POLLIN);
    submit(&b, buf_op(Syscall::Recv, fd, 1, &mut b1)); // inline, full
    submit(&b, buf_op(Syscall::Recv, fd, 2, &mut b2)); // would block: pending
    assert_eq!(read_lane(&b, fd), (false, false, 1));
    // SAFETY: refused, so its memory is never used.
    let busy = unsafe { b.submit(&buf_op(Syscall::Recv, fd, 3, &mut b3)) };
    assert_eq!(busy.unwrap_err().raw_os_error(), Some(libc::EBUSY));
    assert_eq!(b.shared.lock().ops.len(), 1);
    // The other direction is free.
    submit(&b, buf_op(Syscall::Send, fd, 4, &mut out));
    b.cancel(2);
    let mut got = collect(&b, 3);
    got.sort_by_key(|c| c.user_data);
    assert_eq!(got, [done(1, 1), done(2, -libc::ECANCELED), done(4, 1)]);
    submit(&b, buf_op(Syscall::Recv, fd, 3, &mut b3));
    peer.write_all(b"z").unwrap();
    assert_eq!(collect_one(&b), done(3, 1));
    assert_eq!((b1, b2, b3), ([b'x'], [0], [b'z']));
}

#[test]
fn user_data_beyond_the_direct_table_work_like_any_other() {
    let (ours, mut peer) = tcp_pair();
    let fd = ours.as_raw_fd();
    let (mut b1, mut b2) = ([0u8; 1], [0u8; 1]);
    let (other, _other_peer) = tcp_pair();
    let (big, huge) = (DIRECT_OPS as u64 + 3, 3 << 40 | (MAX_IN_FLIGHT as u64 - 2));
    let b = backend();
    b.register(fd).unwrap();
    b.register(other.as_raw_fd()).unwrap();
    submit(&b, buf_op(Syscall::Recv, fd, big, &mut b1));
    submit(&b, buf_op(Syscall::Recv, other.as_raw_fd(), huge, &mut b2));
    // SAFETY: refused (a duplicate), so its memory is never used.
    let dup = unsafe { b.submit(&buf_op(Syscall::Recv, fd, big, &mut [0u8; 1])) };
    assert_eq!(dup.unwrap_err().raw_os_error(), Some(libc::EEXIST));
    peer.write_all(b"p").unwrap();
    assert_eq!(collect_one(&b), done(big, 1));
    b.cancel(huge);
    assert_eq!(collect_one(&b), done(huge, -libc::ECANCELED));
    assert_eq!(b.shared.lock().ops.len(), 0);
}
