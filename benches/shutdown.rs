//! Shutdown of a port with 10,000 operations in flight: the time from
//! `Pool::shutdown()` until every packet was delivered to a worker and every
//! worker exited (goal: < 100 ms).
//!
//! Run: `cargo bench --bench shutdown`

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cport::{BackendChoice, Issued, Pool, Port};

const OPS: u32 = 10_000;
const SOCKETS: u32 = 10;
const RUNS: usize = 7;

fn once(backend: BackendChoice) -> Duration {
    let port: Port<u32, u32> = Port::builder()
        .concurrency(2)
        .backend(backend)
        .build()
        .unwrap();
    let mut sockets = Vec::new();
    for s in 0..SOCKETS {
        let h = port
            .associate(UdpSocket::bind("127.0.0.1:0").unwrap(), s)
            .unwrap();
        sockets.push(h);
    }
    for v in 0..OPS {
        let h = sockets[(v % SOCKETS) as usize];
        assert!(matches!(
            port.op(h).recv_from(vec![0; 64], v),
            Ok(Issued::Pending(_))
        ));
    }
    let delivered = Arc::new(AtomicU64::new(0));
    let pool = {
        let delivered = delivered.clone();
        Pool::start(&port, 0, move |_, _| {
            delivered.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap()
    };
    let start = Instant::now();
    let report = pool.shutdown();
    let took = start.elapsed();
    assert_eq!(
        report.handled,
        u64::from(OPS),
        "{backend:?}: {report:?} after {took:?}"
    );
    assert_eq!(delivered.load(Ordering::Relaxed), u64::from(OPS));
    took
}

fn main() {
    // `cargo test --benches` runs this binary with `--bench` absent: do one
    // quick run only, so the test suite stays fast.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { RUNS };
    println!("shutdown of a port with {OPS} operations in flight, pool of 2 workers ({runs} runs)");
    println!(
        "{:<10} {:>12} {:>12} {:>12}",
        "backend", "min ms", "median ms", "max ms"
    );
    for backend in [BackendChoice::Uring, BackendChoice::Epoll] {
        if backend == BackendChoice::Uring && Port::<u32, u32>::builder_check_uring().is_err() {
            println!("{:<10} io_uring unavailable", "io_uring");
            continue;
        }
        let mut times: Vec<Duration> = (0..runs).map(|_| once(backend)).collect();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<10} {:>12.2} {:>12.2} {:>12.2}",
            format!("{backend:?}").to_lowercase(),
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
}

trait CheckUring {
    fn builder_check_uring() -> std::io::Result<()>;
}

impl CheckUring for Port<u32, u32> {
    fn builder_check_uring() -> std::io::Result<()> {
        let p: std::io::Result<Port<u32, u32>> =
            Port::builder().backend(BackendChoice::Uring).build();
        p.map(drop)
    }
}
