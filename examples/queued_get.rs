//! A `get` that finds a packet queued makes no system call.
//!
//! Pre-posts 1_000_000 packets, then calls `get(None)` GETS times (the first
//! argument, default 1_000_000), all on one thread, with a marker written to
//! stderr (one `write(2, ...)` each) before and after the get loop.
//!
//! ```text
//! cargo build --release --example queued_get
//! strace -c -f ./target/release/examples/queued_get 0
//! strace -c -f ./target/release/examples/queued_get 1000000
//! perf stat -e raw_syscalls:sys_enter -- ./target/release/examples/queued_get 0
//! perf stat -e raw_syscalls:sys_enter -- ./target/release/examples/queued_get 1000000
//! # every system call made inside the get loop (between the two markers):
//! strace -f -o /tmp/queued_get.trace ./target/release/examples/queued_get 1000000
//! sed -n '/get loop: start/,/get loop: end/p' /tmp/queued_get.trace
//! ```
//!
//! Measured (2-core VM, strace 6.1): 1027 system calls with 0 gets, 1026 with
//! 1_000_000 gets (`strace -c` and `perf stat` agree). The only difference is
//! one `brk`: with 0 gets the million packets are freed at once when the port
//! is dropped and glibc shrinks the heap. Between the markers the trace shows
//! nothing but the two marker writes: the gets made no system call.

use std::hint::black_box;
use std::time::Instant;

const PACKETS: u64 = 1_000_000;

fn main() {
    let gets: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().expect("usage: queued_get [GETS]"),
        None => PACKETS,
    };
    assert!(gets <= PACKETS, "at most {PACKETS} gets");
    let port: cport::Port<u64, u64> = cport::Port::builder()
        .concurrency(1)
        .build()
        .expect("build port");
    for i in 0..PACKETS {
        if port.post(i, 8, i).is_err() {
            panic!("post on a closed port");
        }
    }
    eprintln!("get loop: start");
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..gets {
        // `None`: a blocking get, which must not block (or enter the kernel).
        let packet = port.get(None).expect("a packet is queued");
        sum = sum.wrapping_add(packet.value);
    }
    let elapsed = start.elapsed();
    eprintln!("get loop: end");
    black_box(sum);
    let per_get = if gets == 0 {
        0.0
    } else {
        elapsed.as_nanos() as f64 / gets as f64
    };
    println!(
        "{gets} gets in {elapsed:?} ({per_get:.1} ns/get), {} still queued",
        port.counters().queued
    );
}
