//! Regressions: one test per bug found, named after the bug, run on both
//! backends where the bug could exist on both. Loopback only; waits bounded.

#[macro_use]
mod util;

use util::{assert_no_packet, pair, pending};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cport::{BackendChoice, Issued, Port};

type IoPort = Port<u32, u32>;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn port(b: BackendChoice) -> IoPort {
    util::builder(b).concurrency(4).build().unwrap()
}

/// Reads from `client` until it has `n` bytes or 10 s passed; returns them.
fn read_n(client: &mut TcpStream, n: usize) -> Vec<u8> {
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::with_capacity(n);
    let mut buf = vec![0; 1 << 16];
    while got.len() < n {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => got.extend_from_slice(&buf[..k]),
        }
    }
    got
}

/// A per-operation timeout fires although the thread that started the op has
/// exited (io_uring runs a linked timeout's cancel on the submitting thread,
/// and only ends the timer when that thread is gone).
fn timeout_fires_after_the_issuing_thread_exited(b: BackendChoice) {
    let port = port(b);
    let (h, _client) = pair(&port);
    let p2 = port.clone();
    std::thread::spawn(move || {
        pending(
            p2.op(h)
                .timeout(Duration::from_millis(100))
                .recv(vec![0; 8], 3),
        );
    })
    .join()
    .unwrap();
    let p = port.get(WAIT).expect("the timed-out packet");
    assert_eq!(p.value, 3);
    assert_eq!(p.result.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert_no_packet(&port);
}

/// A send that its timeout cuts short is not a success with a short count
/// (io_uring reported the bytes sent so far as the result).
fn send_cut_short_by_its_timeout_is_timed_out(b: BackendChoice) {
    let port = port(b);
    let (h, client) = pair(&port);
    const N: usize = 16 << 20; // far more than the socket buffers hold
    pending(
        port.op(h)
            .timeout(Duration::from_millis(200))
            .send(vec![7; N], 4),
    );
    let p = port.get(WAIT).expect("the send's packet");
    assert_eq!(p.value, 4);
    assert_eq!(
        p.result.expect_err("a send cut short must fail").kind(),
        std::io::ErrorKind::TimedOut
    );
    assert_eq!(p.buf.map(|b| b.len()), Some(N), "the buffer comes back");
    drop(client);
}

/// A large send started by a thread that then exits still sends every byte
/// (io_uring cancels the exited thread's request half-way and reported the
/// partial count as success).
fn send_from_an_exited_thread_sends_everything(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    const N: usize = 32 << 20;
    let data: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let p2 = port.clone();
    std::thread::spawn(move || {
        pending(p2.op(h).send(data, 5));
    })
    .join()
    .unwrap();
    let reader = std::thread::spawn(move || read_n(&mut client, N));
    let p = port.get(WAIT).expect("the send's packet");
    assert_eq!((p.value, p.result.unwrap()), (5, N));
    let got = reader.join().unwrap();
    assert!(
        got == expected,
        "the peer got {} bytes, not all in order",
        got.len()
    );
}

/// A failed `io_uring_enter` after the request was queued in the ring does
/// not hand the buffer back while the kernel may still run the request: the
/// op counts as started and completes through the port.
fn failed_enter_after_queueing_still_completes_the_op(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    let p2 = port.clone();
    let started = std::thread::spawn(move || {
        // On epoll the filter changes nothing: the test checks the plain behaviour.
        util::fail_syscall_in_this_thread(libc::SYS_io_uring_enter, libc::EAGAIN);
        matches!(p2.op(h).recv(vec![0xAA; 16], 1), Ok(Issued::Pending(_)))
    })
    .join()
    .unwrap();
    assert!(started, "the recv is queued in the ring, so it was started");
    client.write_all(b"HELLO").unwrap();
    let p = port.get(WAIT).expect("the recv's packet");
    let n = p.result.unwrap();
    assert_eq!((p.value, &p.buf.unwrap()[..n]), (1, &b"HELLO"[..]));
    // The next op on the handle is not confused with it.
    pending(port.op(h).recv(vec![0xBB; 16], 2));
    client.write_all(b"WORLD").unwrap();
    let p = port.get(WAIT).expect("the second recv's packet");
    let n = p.result.unwrap();
    assert_eq!((p.value, &p.buf.unwrap()[..n]), (2, &b"WORLD"[..]));
    assert_no_packet(&port);
}

/// The id of a finished operation never names a later one (ids were the
/// handle generation and slot index, so a stale `cancel_op` cancelled
/// whichever op reused the slot).
fn op_ids_are_never_reused(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    let a = pending(port.op(h).recv(vec![0; 8], 1));
    client.write_all(b"x").unwrap();
    assert_eq!(port.get(WAIT).unwrap().value, 1);
    let b_id = pending(port.op(h).recv(vec![0; 8], 2));
    assert_ne!(a, b_id);
    assert_eq!(
        port.cancel_op(h, a).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    assert_no_packet(&port); // B is still pending, not cancelled
    port.cancel_op(h, b_id).unwrap();
    let p = port.get(WAIT).unwrap();
    assert!(cport::is_aborted(&p.result.unwrap_err()));
}

/// In skip-on-success mode an inline receive does not take the data that
/// arrived for an older pending receive.
fn skip_on_success_recv_does_not_overtake_a_pending_recv(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    port.set_skip_on_success(h, true).unwrap();
    pending(port.op(h).recv(vec![0; 8], 1));
    client.write_all(b"1").unwrap();
    let first = port.get(WAIT).expect("A's packet");
    assert_eq!((first.value, first.result.unwrap()), (1, 1));
    // With nothing pending, the next receive may complete inline again.
    client.write_all(b"2").unwrap();
    match port.op(h).recv(vec![0; 8], 2) {
        Ok(Issued::Completed { bytes, value, buf }) => {
            assert_eq!((bytes, value, buf.unwrap()[0]), (1, 2, b'2'))
        }
        Ok(Issued::Pending(_)) => {
            // Loopback delivery raced the attempt: it completes through the port.
            let p = port.get(WAIT).unwrap();
            assert_eq!((p.value, p.result.unwrap()), (2, 1));
        }
        Err(e) => panic!("{e}"),
    }
    // B issued while A pends: never inline, and A gets the first byte.
    pending(port.op(h).recv(vec![0; 8], 3));
    client.write_all(b"3").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let r = port.op(h).recv(vec![0; 8], 4);
    assert!(
        matches!(r, Ok(Issued::Pending(_))),
        "B completed inline while A was pending"
    );
    let p = port.get(WAIT).unwrap();
    assert_eq!(
        (p.value, p.result.unwrap(), p.buf.unwrap()[0]),
        (3, 1, b'3')
    );
    client.write_all(b"4").unwrap();
    let p = port.get(WAIT).unwrap();
    assert_eq!(
        (p.value, p.result.unwrap(), p.buf.unwrap()[0]),
        (4, 1, b'4')
    );
}

/// Skip-on-success mode covers sends too: a send the socket takes at once
/// completes inline and queues nothing; off, it queues a packet.
fn skip_on_success_send_completes_inline(b: BackendChoice) {
    let port = port(b);
    let (h, mut client) = pair(&port);
    pending(port.op(h).send(b"off".to_vec(), 1));
    let p = port.get(WAIT).unwrap();
    assert_eq!((p.value, p.result.unwrap()), (1, 3));
    port.set_skip_on_success(h, true).unwrap();
    match port.op(h).send(b"on!".to_vec(), 2) {
        Ok(Issued::Completed { bytes, value, buf }) => {
            assert_eq!((bytes, value, buf.unwrap()), (3, 2, b"on!".to_vec()))
        }
        other => panic!("expected an inline completion: {other:?}"),
    }
    assert_no_packet(&port);
    assert_eq!(read_n(&mut client, 6), b"offon!");
}

/// A dup of an associated socket is the same socket: associating it with a
/// second port is refused, and the first association keeps working (the
/// check compared fd numbers only).
fn a_dup_of_an_associated_socket_is_refused(b: BackendChoice) {
    let first = port(b);
    let second = port(b);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    let dup = server.try_clone().unwrap();
    let h = first.associate(server, 1).unwrap();
    let err = second.associate(dup, 2).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    pending(first.op(h).recv(vec![0; 8], 7));
    client.write_all(b"ok").unwrap();
    let p = first.get(WAIT).unwrap();
    assert_eq!((p.value, p.result.unwrap()), (7, 2));
    // Once closed, the socket may be associated again (a new one here).
    first.close_handle(h).unwrap();
}

conformance!(
    a_wake_reaped_before_the_wait_is_not_lost,
    timeout_fires_after_the_issuing_thread_exited,
    send_cut_short_by_its_timeout_is_timed_out,
    send_from_an_exited_thread_sends_everything,
    failed_enter_after_queueing_still_completes_the_op,
    op_ids_are_never_reused,
    skip_on_success_recv_does_not_overtake_a_pending_recv,
    skip_on_success_send_completes_inline,
    a_dup_of_an_associated_socket_is_refused,
    a_key_whose_clone_panics_loses_nothing,
    a_value_whose_drop_panics_loses_nothing,
    a_key_clone_and_a_value_drop_panicking_together_lose_nothing,
);

/// A key whose `Clone` panics once `bomb` is set (and clears it: one panic).
struct Key {
    bomb: Arc<AtomicBool>,
}

impl Clone for Key {
    fn clone(&self) -> Self {
        if self.bomb.swap(false, Ordering::SeqCst) {
            panic!("the key's clone panics (on purpose)");
        }
        Key {
            bomb: self.bomb.clone(),
        }
    }
}

/// A value whose `Drop` panics if `bomb` is set when it drops (and clears it).
struct Value {
    id: u32,
    bomb: Arc<AtomicBool>,
}

impl Drop for Value {
    fn drop(&mut self) {
        if self.bomb.swap(false, Ordering::SeqCst) {
            panic!("the value's drop panics (on purpose)");
        }
    }
}

/// An accept whose delivery panics in user code — the listener key's clone
/// (`clone_panics`), or the drop of its value when a completion filter drops
/// the packet (`drop_panics`), or both — is lost to the panic, but nothing
/// else is: the accepted socket is closed (its peer sees the end), the port
/// goes on accepting and delivering, and shutdown does not wait for the lost
/// operation (it returns far sooner than `DROP_WAIT`). Before, the op stayed
/// counted in flight for good, the accepted fd leaked, and a value's drop
/// panicking during the key's panic aborted the process.
fn panicking_delivery(b: BackendChoice, clone_panics: bool, drop_panics: bool) {
    let key_bomb = Arc::new(AtomicBool::new(false));
    let value_bomb = Arc::new(AtomicBool::new(false));
    let port: Port<Key, Value> = util::builder(b).concurrency(4).build().unwrap();
    let drop_next = Arc::new(AtomicBool::new(false));
    {
        let drop_next = drop_next.clone();
        port.set_completion_filter(Box::new(move |_: &mut cport::Packet<Key, Value>| {
            !drop_next.swap(false, Ordering::SeqCst)
        }))
        .unwrap();
    }
    let (listener, addr) = util::listener();
    let l = port
        .associate(
            listener,
            Key {
                bomb: key_bomb.clone(),
            },
        )
        .unwrap();
    let accept = |id| {
        pending(port.op(l).accept(Value {
            id,
            bomb: value_bomb.clone(),
        }))
    };
    accept(1);
    key_bomb.store(clone_panics, Ordering::SeqCst);
    value_bomb.store(drop_panics, Ordering::SeqCst);
    // With the clone panicking the packet is never built: the value drops
    // on the way (no filter needed to drop it).
    drop_next.store(drop_panics && !clone_panics, Ordering::SeqCst);
    let mut first = TcpStream::connect(addr).unwrap();
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        port.get(WAIT).map(|p| p.value.id)
    }));
    assert!(got.is_err(), "the delivery did not panic: {got:?}");
    assert!(!key_bomb.load(Ordering::SeqCst) && !value_bomb.load(Ordering::SeqCst));
    // The accepted socket was closed with the lost packet.
    first.set_read_timeout(WAIT).unwrap();
    let mut byte = [0u8; 1];
    match first.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the accepted socket is still open: {other:?}"),
    }
    // The port goes on: posts, and operations on the same handle.
    port.post(
        Key {
            bomb: key_bomb.clone(),
        },
        0,
        Value {
            id: 7,
            bomb: value_bomb.clone(),
        },
    )
    .unwrap();
    assert_eq!(port.get(WAIT).unwrap().value.id, 7);
    accept(2);
    let _second = TcpStream::connect(addr).unwrap();
    let mut p = port.get(WAIT).unwrap();
    assert_eq!(p.value.id, 2);
    assert!(p.take_stream().is_some());
    // Nothing is left in flight but the accept below, which shutdown cancels.
    accept(3);
    let start = std::time::Instant::now();
    assert_eq!(port.shutdown(), 1);
    assert!(
        start.elapsed() < cport::DROP_WAIT / 5,
        "shutdown took {:?}: an operation stayed counted in flight",
        start.elapsed()
    );
    let p = port.get(WAIT).unwrap();
    assert_eq!(p.value.id, 3);
    assert!(cport::is_aborted(&p.result.unwrap_err()));
}

fn a_key_whose_clone_panics_loses_nothing(b: BackendChoice) {
    panicking_delivery(b, true, false);
}

fn a_value_whose_drop_panics_loses_nothing(b: BackendChoice) {
    panicking_delivery(b, false, true);
}

fn a_key_clone_and_a_value_drop_panicking_together_lose_nothing(b: BackendChoice) {
    panicking_delivery(b, true, true);
}

/// A wake reaped before the poller's wait is not lost (io_uring: the poller's
/// first reap took the wake's CQE as internal and then slept in the kernel,
/// with the post it was woken for handed to it — about once in 50,000 round
/// trips). Many round trips: main posts to A, whose only waiter polls in the
/// kernel (a recv is in flight); it posts back to P.
fn a_wake_reaped_before_the_wait_is_not_lost(b: BackendChoice) {
    let a = port(b);
    let back: IoPort = util::builder(BackendChoice::Epoll)
        .concurrency(1)
        .build()
        .unwrap();
    let (h, mut client) = pair(&a);
    pending(a.op(h).recv(vec![0; 8], u32::MAX));
    let echo = {
        let (a, back) = (a.clone(), back.clone());
        std::thread::spawn(move || loop {
            match a.get(None) {
                Ok(p) if p.value == u32::MAX => return,
                Ok(p) => back.post(0, 0, p.value).unwrap(),
                Err(_) => return,
            }
        })
    };
    for i in 0..100_000 {
        a.post(0, 0, i).unwrap();
        let p = back
            .get(WAIT)
            .unwrap_or_else(|e| panic!("round trip {i}: {e}"));
        assert_eq!(p.value, i);
    }
    client.write_all(b"end").unwrap();
    echo.join().unwrap();
}
