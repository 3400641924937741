//! Port vs. channel benchmarks.
//!
//! One trait, [`Channel`], wraps every peer (cport's `Port`, crossbeam-channel's
//! unbounded channel, std `mpsc`), so a single generic loop measures all of
//! them, in the style of parking_lot's `benchmark/src/bin/mutex.rs`.
//! `crossbeam_packet` is crossbeam-channel carrying the same `cport::Packet`
//! the port carries (112 bytes when this was written, against 8 for a bare
//! u64), so that the cost of the packet's size can be told apart from the cost
//! of the port itself.
//!
//! Groups:
//! * `throughput/1p1c`, `throughput/2p2c`: `N` u64 messages per iteration from
//!   P producer threads to C consumer threads. Threads are spawned once per
//!   `iter_custom` call and are not timed; every iteration is one round that
//!   starts on a barrier, so the queue never holds more than `N` messages (the
//!   barrier, tens of microseconds, is timed too, alike for every peer).
//!   Consumers block without a timeout: a port that loses a wake-up makes
//!   this group hang instead of failing.
//!   std mpsc has a single receiver: in 1p1c it is used as is
//!   (`std_mpsc`); in 2p2c the two consumers share it behind a `Mutex`
//!   (`std_mpsc_mutex`).
//! * `pingpong`: one round trip A → B → A through two channels (two ports),
//!   with A and B pinned to two different CPUs.
//! * `queued_get`: one receive when a message is already queued, on one thread:
//!   `recv/*` and `try_recv/*` pre-fill untimed chunks of `CHUNK` messages and time
//!   the receives only; `send+recv/*` times a post (send) followed by a get (recv).
//!   For cport `recv` is `get(None)` and `try_recv` is `get(Some(Duration::ZERO))`.
//!
//! Run with `cargo bench --bench port`.

use std::hint::black_box;
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

/// Messages per iteration in the throughput groups.
const N: u64 = 100_000;
/// Messages pre-filled per timed chunk in `queued_get`.
const CHUNK: u64 = 10_000;

/// A multi-producer queue of `u64` with blocking and non-blocking receive.
trait Channel: 'static {
    /// One producer's end.
    type Tx: Send + 'static;
    /// One consumer's end.
    type Rx: Send + 'static;
    fn name() -> &'static str;
    /// A channel with `producers` sending ends and `consumers` receiving ends.
    fn new(producers: usize, consumers: usize) -> (Vec<Self::Tx>, Vec<Self::Rx>);
    fn send(tx: &Self::Tx, value: u64);
    /// Blocks until a message arrives.
    fn recv(rx: &Self::Rx) -> u64;
    /// Returns at once.
    fn try_recv(rx: &Self::Rx) -> Option<u64>;
}

/// cport: `post` / `get`; the concurrency limit is the number of consumers.
struct Cport;

impl Channel for Cport {
    type Tx = cport::Port<(), u64>;
    type Rx = cport::Port<(), u64>;
    fn name() -> &'static str {
        "cport"
    }
    fn new(producers: usize, consumers: usize) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        let port: cport::Port<(), u64> = cport::Port::builder()
            .concurrency(consumers)
            .build()
            .expect("build port");
        (vec![port.clone(); producers], vec![port.clone(); consumers])
    }
    #[inline]
    fn send(tx: &Self::Tx, value: u64) {
        if tx.post((), 0, value).is_err() {
            panic!("post on a closed port");
        }
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> u64 {
        rx.get(None).expect("get").value
    }
    #[inline]
    fn try_recv(rx: &Self::Rx) -> Option<u64> {
        rx.get(Some(Duration::ZERO)).ok().map(|p| p.value)
    }
}

/// crossbeam-channel, unbounded (MPMC).
struct Crossbeam;

impl Channel for Crossbeam {
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn name() -> &'static str {
        "crossbeam"
    }
    fn new(producers: usize, consumers: usize) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (vec![tx; producers], vec![rx; consumers])
    }
    #[inline]
    fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).expect("send");
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().expect("recv")
    }
    #[inline]
    fn try_recv(rx: &Self::Rx) -> Option<u64> {
        rx.try_recv().ok()
    }
}

/// crossbeam-channel carrying the same `cport::Packet` that the port moves,
/// instead of a bare u64: separates the cost of the packet's size from the
/// cost of the port's algorithm.
struct CrossbeamPacket;

impl Channel for CrossbeamPacket {
    type Tx = crossbeam_channel::Sender<cport::Packet<(), u64>>;
    type Rx = crossbeam_channel::Receiver<cport::Packet<(), u64>>;
    fn name() -> &'static str {
        "crossbeam_packet"
    }
    fn new(producers: usize, consumers: usize) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (vec![tx; producers], vec![rx; consumers])
    }
    #[inline]
    fn send(tx: &Self::Tx, value: u64) {
        if tx.send(cport::Packet::new((), 0, value)).is_err() {
            panic!("send on a disconnected channel");
        }
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().expect("recv").value
    }
    #[inline]
    fn try_recv(rx: &Self::Rx) -> Option<u64> {
        rx.try_recv().ok().map(|p| p.value)
    }
}

/// std mpsc (unbounded); a single consumer only.
struct StdMpsc;

impl Channel for StdMpsc {
    type Tx = mpsc::Sender<u64>;
    type Rx = mpsc::Receiver<u64>;
    fn name() -> &'static str {
        "std_mpsc"
    }
    fn new(producers: usize, consumers: usize) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        assert_eq!(consumers, 1, "std mpsc has one receiver");
        let (tx, rx) = mpsc::channel();
        (vec![tx; producers], vec![rx])
    }
    #[inline]
    fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).expect("send");
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().expect("recv")
    }
    #[inline]
    fn try_recv(rx: &Self::Rx) -> Option<u64> {
        rx.try_recv().ok()
    }
}

/// std mpsc with the receiver shared by several consumers behind a `Mutex`.
struct StdMpscMutex;

impl Channel for StdMpscMutex {
    type Tx = mpsc::Sender<u64>;
    type Rx = Arc<Mutex<mpsc::Receiver<u64>>>;
    fn name() -> &'static str {
        "std_mpsc_mutex"
    }
    fn new(producers: usize, consumers: usize) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        let (tx, rx) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        (vec![tx; producers], vec![rx; consumers])
    }
    #[inline]
    fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).expect("send");
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> u64 {
        rx.lock().expect("lock").recv().expect("recv")
    }
    #[inline]
    fn try_recv(rx: &Self::Rx) -> Option<u64> {
        rx.lock().expect("lock").try_recv().ok()
    }
}

/// `iters` rounds of `N` messages from `producers` to `consumers` threads; the
/// time from the first round's start barrier to the last round's end.
fn transfer<C: Channel>(producers: usize, consumers: usize, iters: u64) -> Duration {
    assert!(N % producers as u64 == 0 && N % consumers as u64 == 0);
    let (txs, rxs) = C::new(producers, consumers);
    // Everyone waits at the start of each round and once at the end.
    let barrier = Arc::new(Barrier::new(producers + consumers + 1));
    let mut threads = Vec::with_capacity(producers + consumers);
    for tx in txs {
        let barrier = Arc::clone(&barrier);
        let per = N / producers as u64;
        threads.push(thread::spawn(move || {
            for _ in 0..iters {
                barrier.wait();
                for i in 0..per {
                    C::send(&tx, i);
                }
            }
            barrier.wait();
        }));
    }
    for rx in rxs {
        let barrier = Arc::clone(&barrier);
        // Every message is received exactly once, so quotas of N / C all complete.
        let per = N / consumers as u64;
        threads.push(thread::spawn(move || {
            let mut sum = 0u64;
            for _ in 0..iters {
                barrier.wait();
                for _ in 0..per {
                    sum = sum.wrapping_add(C::recv(&rx));
                }
            }
            black_box(sum);
            barrier.wait();
        }));
    }
    barrier.wait();
    let start = Instant::now();
    for _ in 1..iters {
        barrier.wait();
    }
    barrier.wait();
    let elapsed = start.elapsed();
    for t in threads {
        t.join().expect("bench thread panicked");
    }
    elapsed
}

fn bench_transfer<C: Channel>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    producers: usize,
    consumers: usize,
) {
    group.bench_function(C::name(), |b| {
        b.iter_custom(|iters| transfer::<C>(producers, consumers, iters))
    });
}

fn throughput(c: &mut Criterion) {
    for (producers, consumers) in [(1, 1), (2, 2)] {
        let mut group = c.benchmark_group(format!("throughput/{producers}p{consumers}c"));
        group
            .throughput(Throughput::Elements(N))
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        bench_transfer::<Cport>(&mut group, producers, consumers);
        bench_transfer::<Crossbeam>(&mut group, producers, consumers);
        bench_transfer::<CrossbeamPacket>(&mut group, producers, consumers);
        if consumers == 1 {
            bench_transfer::<StdMpsc>(&mut group, producers, consumers);
        } else {
            bench_transfer::<StdMpscMutex>(&mut group, producers, consumers);
        }
        group.finish();
    }
}

/// Pins the calling thread to the `n`-th CPU (mod their number) that the
/// process may run on, so that ping-pong's two threads sit on different cores
/// and a round trip is a hand-off between cores, not a context switch on one
/// (which made unpinned results vary 10x on a 2-core machine). Does nothing
/// when fewer than two CPUs are allowed or a call fails.
fn pin_to_allowed_cpu(n: usize) {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `cpu_set_t` is plain old data; all zeroes is the empty set.
    let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `allowed` is a valid, writable set of `size` bytes.
    if unsafe { libc::sched_getaffinity(0, size, &mut allowed) } != 0 {
        return;
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, so it indexes inside the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &allowed) })
        .collect();
    if cpus.len() < 2 {
        return;
    }
    // SAFETY: as above.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the CPU number comes from the allowed set, so it is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpus[n % cpus.len()], &mut one) };
    // SAFETY: pid 0 is the calling thread; `one` is a valid set of `size` bytes.
    unsafe { libc::sched_setaffinity(0, size, &one) };
}

/// `iters` round trips: A sends to B on channel 1, B sends it back on channel 2.
/// A and B are pinned to different CPUs; timed on A, after both have started.
fn round_trips<C: Channel>(iters: u64) -> Duration {
    let (mut tx1, mut rx1) = C::new(1, 1);
    let (mut tx2, mut rx2) = C::new(1, 1);
    let (tx1, rx1) = (tx1.remove(0), rx1.remove(0));
    let (tx2, rx2) = (tx2.remove(0), rx2.remove(0));
    let ready = Arc::new(Barrier::new(2));
    let b = {
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            pin_to_allowed_cpu(1);
            ready.wait();
            for _ in 0..iters {
                let v = C::recv(&rx1);
                C::send(&tx2, v);
            }
        })
    };
    let a = thread::spawn(move || {
        pin_to_allowed_cpu(0);
        ready.wait();
        let start = Instant::now();
        for i in 0..iters {
            C::send(&tx1, i);
            black_box(C::recv(&rx2));
        }
        start.elapsed()
    });
    let elapsed = a.join().expect("thread A panicked");
    b.join().expect("thread B panicked");
    elapsed
}

fn bench_pingpong<C: Channel>(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.bench_function(C::name(), |b| b.iter_custom(round_trips::<C>));
}

fn pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("pingpong");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    bench_pingpong::<Cport>(&mut group);
    bench_pingpong::<Crossbeam>(&mut group);
    bench_pingpong::<CrossbeamPacket>(&mut group);
    bench_pingpong::<StdMpsc>(&mut group);
    group.finish();
}

/// Times `iters` receives on one thread, each with a message already queued:
/// chunks of `CHUNK` messages are sent untimed, then received timed.
fn queued_receives<C: Channel>(
    tx: &C::Tx,
    rx: &C::Rx,
    iters: u64,
    receive: impl Fn(&C::Rx) -> u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let m = left.min(CHUNK);
        for i in 0..m {
            C::send(tx, i);
        }
        let start = Instant::now();
        for _ in 0..m {
            black_box(receive(rx));
        }
        total += start.elapsed();
        left -= m;
    }
    total
}

fn bench_queued<C: Channel>(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    // One channel per peer, kept across samples: the bench thread associates
    // with the port on its first get, and stays so.
    let (mut txs, mut rxs) = C::new(1, 1);
    let (tx, rx) = (txs.remove(0), rxs.remove(0));
    group.bench_function(format!("recv/{}", C::name()), |b| {
        b.iter_custom(|iters| queued_receives::<C>(&tx, &rx, iters, C::recv))
    });
    group.bench_function(format!("try_recv/{}", C::name()), |b| {
        b.iter_custom(|iters| {
            queued_receives::<C>(&tx, &rx, iters, |rx| {
                C::try_recv(rx).expect("a message is queued")
            })
        })
    });
    group.bench_function(format!("send+recv/{}", C::name()), |b| {
        b.iter(|| {
            C::send(&tx, black_box(1));
            C::recv(&rx)
        })
    });
}

fn queued_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("queued_get");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    bench_queued::<Cport>(&mut group);
    bench_queued::<Crossbeam>(&mut group);
    bench_queued::<CrossbeamPacket>(&mut group);
    bench_queued::<StdMpsc>(&mut group);
    group.finish();
}

criterion_group!(benches, throughput, pingpong, queued_get);
criterion_main!(benches);
