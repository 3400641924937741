//! A post that wakes a poller blocked in the kernel (docs/semantics.md, "Backends": the poller is a
//! waiting thread in `io_uring_enter` / `epoll_wait`, and a post must reach
//! it). One round trip: the main thread posts to port A, whose only waiter B
//! is the poller (an operation is in flight, so B waits in the kernel); B
//! takes the packet and posts it to port P (no I/O: the main thread waits
//! on its parker), and the main thread takes it.
//!
//! Peer in the same run: the same round trip through two crossbeam channels
//! (both sides park on futexes), i.e. the cost of a wake without a kernel
//! poller in between.
//!
//! Run with `cargo bench --bench wake`.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use cport::{BackendChoice, Issued, Port};
use criterion::{criterion_group, criterion_main, Criterion};

fn round_trips(c: &mut Criterion) {
    let mut group = c.benchmark_group("post_wakes_poller");
    group.measurement_time(Duration::from_secs(4));
    for (name, backend) in [
        ("uring", BackendChoice::Uring),
        ("epoll", BackendChoice::Epoll),
    ] {
        let a: Port<u32, u64> = match Port::builder().concurrency(1).backend(backend).build() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{name}: {e}; skipped");
                continue;
            }
        };
        let back: Port<u32, u64> = Port::builder()
            .concurrency(1)
            .backend(BackendChoice::Epoll)
            .build()
            .unwrap();
        // A recv that never completes keeps I/O in flight on A, so its waiter
        // polls in the kernel.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let h = a.associate(l.accept().unwrap().0, 0).unwrap();
        assert!(matches!(
            a.op(h).recv(vec![0; 8], u64::MAX),
            Ok(Issued::Pending(_))
        ));
        let b = {
            let (a, back) = (a.clone(), back.clone());
            std::thread::spawn(move || loop {
                match a.get(None) {
                    Ok(p) if p.value == u64::MAX => return, // the recv: done
                    Ok(p) => back.post(0, 0, p.value).unwrap(),
                    Err(_) => return,
                }
            })
        };
        group.bench_function(format!("cport_{name}"), |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters {
                    a.post(0, 0, i).unwrap();
                    assert_eq!(back.get(None).unwrap().value, i);
                }
                start.elapsed()
            })
        });
        client.write_all(b"end").unwrap();
        b.join().unwrap();
    }
    {
        let (to_b, at_b) = crossbeam_channel::unbounded::<u64>();
        let (to_a, at_a) = crossbeam_channel::unbounded::<u64>();
        let b = std::thread::spawn(move || {
            while let Ok(v) = at_b.recv() {
                if to_a.send(v).is_err() {
                    return;
                }
            }
        });
        group.bench_function("crossbeam_channel", |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters {
                    to_b.send(i).unwrap();
                    assert_eq!(at_a.recv().unwrap(), i);
                }
                start.elapsed()
            })
        });
        drop(to_b);
        b.join().unwrap();
    }
    group.finish();
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
