//! Shutdown and the worker pool (docs/semantics.md, "Ending operations, handles and the port"), on both backends: every worker
//! ends, every operation in flight delivers its packet exactly once.

#[macro_use]
mod util;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cport::{is_aborted, BackendChoice, GetError, Issued, Pool, Port};
use parking_lot::Mutex;

type IoPort = Port<u32, u32>;

fn port(limit: usize, b: BackendChoice) -> IoPort {
    Port::builder()
        .concurrency(limit)
        .backend(b)
        .build()
        .unwrap()
}

fn pool_handles_every_posted_packet(b: BackendChoice) {
    let port = port(2, b);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let pool = {
        let seen = seen.clone();
        Pool::start(&port, 0, move |_, p| seen.lock().push(p.value)).unwrap()
    };
    assert_eq!(pool.workers(), 2);
    for v in 0..1000 {
        port.post(0, 0, v).unwrap();
    }
    util::wait_until("all handled", || seen.lock().len() == 1000);
    let report = pool.shutdown();
    assert_eq!(report.handled, 1000);
    assert!(report.panics.is_empty());
    let mut all = seen.lock().clone();
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<_>>());
    assert!(port.is_closed());
}

/// A packet value that counts its drops: "freed exactly once" is checkable.
struct Counted(Arc<AtomicU64>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn handler_panic_is_contained(b: BackendChoice) {
    let port: Port<u32, Counted> = Port::builder().concurrency(2).backend(b).build().unwrap();
    let ok = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    // Both workers must be alive after the panics: two packets whose handlers
    // are held until both are inside at once.
    let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let inside = Arc::new(AtomicU64::new(0));
    let pool = {
        let (ok, release, inside) = (ok.clone(), release.clone(), inside.clone());
        Pool::start(&port, 2, move |_, p| match p.key {
            1 => panic!("handler failed on a packet"),
            2 => {
                inside.fetch_add(1, Ordering::SeqCst);
                util::wait_until("released", || release.load(Ordering::SeqCst));
            }
            _ => {
                ok.fetch_add(1, Ordering::Relaxed);
            }
        })
        .unwrap()
    };
    for _ in 0..10 {
        port.post(1, 0, Counted(dropped.clone())).unwrap();
    }
    for _ in 0..10 {
        port.post(0, 0, Counted(dropped.clone())).unwrap();
    }
    util::wait_until("normal packets handled", || {
        ok.load(Ordering::Relaxed) == 10
    });
    // The panicking handlers' packets were dropped with the unwinding: each
    // value (and buffer) freed once, none leaked, none freed twice.
    util::wait_until("every packet dropped", || {
        dropped.load(Ordering::SeqCst) == 20
    });
    assert_eq!(pool.workers(), 2, "panics do not shrink the pool");
    // One at a time (a worker takes packets in batches): the second goes to
    // the other worker only once the first worker is held in its handler.
    port.post(2, 0, Counted(dropped.clone())).unwrap();
    util::wait_until("one worker held", || inside.load(Ordering::SeqCst) == 1);
    port.post(2, 0, Counted(dropped.clone())).unwrap();
    util::wait_until("two workers held at once", || {
        inside.load(Ordering::SeqCst) == 2
    });
    release.store(true, Ordering::SeqCst);
    let report = pool.shutdown();
    assert_eq!(report.handled, 22);
    assert_eq!(report.panics.len(), 10);
    assert!(report
        .panics
        .iter()
        .all(|m| m == "handler failed on a packet"));
    assert_eq!(dropped.load(Ordering::SeqCst), 22);
}

fn handlers_issue_operations_and_posts(b: BackendChoice) {
    // An echo server on the pool: recv → send the bytes back → recv again.
    let port: Port<u32, u32> = port(2, b);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    let (server, _) = l.accept().unwrap();
    let h = port.associate(server, 7).unwrap();
    let posts = Arc::new(AtomicU64::new(0));
    // Receives re-issued after a send completed. The last one must be pending
    // before the shutdown counts what is in flight: the client sees its echo
    // before the SENT packet reaches a handler, so waiting for the echo (or
    // for the NOTE) alone races the handler that issues the recv.
    let recvs = Arc::new(AtomicU64::new(0));
    let pool = {
        let (posts, recvs) = (posts.clone(), recvs.clone());
        Pool::start(&port, 2, move |port, p| {
            const RECV: u32 = 0;
            const SENT: u32 = 1;
            const NOTE: u32 = 2;
            match (p.value, p.result) {
                (RECV, Ok(n)) if n > 0 => {
                    let mut buf = p.buf.unwrap();
                    buf.truncate(n);
                    let _ = port.op(h).send(buf, SENT);
                    port.post(0, 0, NOTE).unwrap();
                }
                (SENT, Ok(_)) => {
                    if let Ok(Issued::Pending(_)) = port.op(h).recv(vec![0; 64], RECV) {
                        recvs.fetch_add(1, Ordering::Release);
                    }
                }
                (NOTE, _) => {
                    posts.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        })
        .unwrap()
    };
    assert!(matches!(
        port.op(h).recv(vec![0; 64], 0),
        Ok(Issued::Pending(_))
    ));
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for round in 0..50u8 {
        let msg = [round; 17];
        client.write_all(&msg).unwrap();
        let mut back = [0; 17];
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    util::wait_until("posted notes handled", || {
        posts.load(Ordering::Relaxed) == 50
    });
    util::wait_until("the recv after the last send is pending", || {
        recvs.load(Ordering::Acquire) == 50
    });
    let report = pool.shutdown();
    assert!(report.panics.is_empty());
    assert_eq!(report.cancelled_in_flight, 1, "the pending recv");
}

fn shutdown_with_thousands_of_ops_in_flight(b: BackendChoice) {
    let port = port(2, b);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let h = port.associate(udp, 3).unwrap();
    const OPS: u32 = 3000;
    for v in 0..OPS {
        assert!(matches!(
            port.op(h).recv_from(vec![0; 32], v),
            Ok(Issued::Pending(_))
        ));
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let pool = {
        let seen = seen.clone();
        Pool::start(&port, 2, move |_, p| {
            assert!(is_aborted(p.result.as_ref().unwrap_err()));
            assert_eq!(p.buf.as_ref().map(Vec::len), Some(32));
            seen.lock().push(p.value);
        })
        .unwrap()
    };
    let report = pool.shutdown();
    assert_eq!(report.cancelled_in_flight, OPS as usize);
    assert_eq!(report.handled, u64::from(OPS));
    let seen = seen.lock();
    let unique: HashSet<u32> = seen.iter().copied().collect();
    assert_eq!(
        (seen.len(), unique.len()),
        (OPS as usize, OPS as usize),
        "each exactly once"
    );
    // Refused afterwards, value and buffer back.
    let err = port.op(h).recv(vec![0; 4], 9).unwrap_err();
    assert_eq!((err.value, err.buf.map(|b| b.len())), (9, Some(4)));
}

fn shutdown_while_workers_are_in_handlers_and_blocking_sections(b: BackendChoice) {
    let port = port(2, b);
    let done = Arc::new(AtomicU64::new(0));
    let pool = {
        let done = done.clone();
        Pool::start(&port, 4, move |port, _| {
            port.blocking(|| std::thread::sleep(Duration::from_millis(30)));
            done.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap()
    };
    for v in 0..8 {
        port.post(0, 0, v).unwrap();
    }
    std::thread::sleep(Duration::from_millis(10)); // let some workers enter handlers
    let report = pool.shutdown();
    assert_eq!(report.handled, 8, "queued packets are still delivered");
    assert_eq!(done.load(Ordering::Relaxed), 8);
    assert_eq!(
        port.get(Some(Duration::ZERO)).unwrap_err(),
        GetError::Closed
    );
}

fn shutdown_wakes_every_waiter_not_just_the_most_recent(b: BackendChoice) {
    let port = port(8, b);
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let port = port.clone();
            std::thread::spawn(move || port.get(None).map(|p| p.value))
        })
        .collect();
    util::wait_until("5 waiting", || port.counters().waiting == 5);
    port.shutdown();
    for w in waiters {
        assert_eq!(w.join().unwrap(), Err(GetError::Closed));
    }
}

fn operations_started_during_shutdown_are_refused_with_their_buffer(b: BackendChoice) {
    // A handler keeps starting operations while the port shuts down: each is
    // either cancelled by the shutdown (a packet) or refused (buffer and value
    // back in the error) — never left running past it.
    let port = port(2, b);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let h = port.associate(udp, 1).unwrap();
    let refused = Arc::new(AtomicU64::new(0));
    let pool = {
        let refused = refused.clone();
        Pool::start(&port, 2, move |port, p| {
            if let Err(e) = port.op(h).recv_from(vec![0; 8], p.value + 1) {
                assert_eq!((e.value, e.buf.map(|b| b.len())), (p.value + 1, Some(8)));
                refused.fetch_add(1, Ordering::Relaxed);
            }
        })
        .unwrap()
    };
    for v in 0..200 {
        port.post(0, 0, v * 1000).unwrap();
    }
    let start = std::time::Instant::now();
    let report = pool.shutdown();
    assert!(
        start.elapsed() < cport::DROP_WAIT,
        "shutdown waited for an operation it never cancelled"
    );
    assert!(report.panics.is_empty(), "{:?}", report.panics);
    assert_eq!(
        port.get(Some(Duration::ZERO)).unwrap_err(),
        GetError::Closed
    );
}

conformance!(
    operations_started_during_shutdown_are_refused_with_their_buffer,
    pool_handles_every_posted_packet,
    handler_panic_is_contained,
    handlers_issue_operations_and_posts,
    shutdown_with_thousands_of_ops_in_flight,
    shutdown_while_workers_are_in_handlers_and_blocking_sections,
    shutdown_wakes_every_waiter_not_just_the_most_recent,
);
