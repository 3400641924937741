//! The queue against crossbeam-channel: medians and spreads of interleaved
//! rounds.
//!
//! Peers: cport's `Port<u64, u64>` (`post(key, bytes, value)` → `get`), and
//! crossbeam-channel's unbounded channel carrying the same `(key, bytes,
//! value)` triple. Every round runs every peer once, in turn, so whatever
//! else the machine does falls on both alike; each line reports the median
//! over the rounds with the minimum and maximum, and the ratio of the
//! medians (cport ÷ crossbeam).
//!
//! Scenarios:
//! * `1p1c`, `2p2c`: `N` messages per round from P producer threads to C
//!   consumer threads, port concurrency = C. Throughput in messages/s, timed
//!   from a start barrier to the last message received.
//! * `1p8c+work`: one producer, 8 consumer threads, port concurrency = the
//!   CPUs, a little work per message (`WORK` rounds of a hash). Also reports
//!   the context switches of the run (voluntary + involuntary, getrusage of
//!   the whole process): a queue that wakes a consumer per message pays for
//!   it here.
//! * `pingpong`: A → B → A through two queues, A and B pinned to two
//!   different CPUs; ns per round trip.
//!
//! Run with `cargo bench --bench port` (`-- --rounds 9` for more rounds;
//! `-- --only 2p2c` for one scenario, `-- --peer cport` for one peer, e.g.
//! under `perf`).
//! Run as a test (`cargo test --all-targets`, no `--bench` argument) it does
//! one short round of every scenario, so the targets stay checked and fast.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The triple both peers carry: completion key, bytes, value.
type Triple = (u64, usize, u64);

/// A multi-producer, multi-consumer queue of triples.
trait Queue: Send + Sync + 'static {
    /// A queue whose consumers run `concurrency` at a time (where the peer
    /// has such a limit).
    fn new(concurrency: usize) -> Self;
    fn send(&self, t: Triple);
    /// Blocks until a message arrives.
    fn recv(&self) -> Triple;
}

struct Cport(cport::Port<u64, u64>);

impl Queue for Cport {
    fn new(concurrency: usize) -> Self {
        Cport(
            cport::Port::builder()
                .concurrency(concurrency)
                .build()
                .expect("build port"),
        )
    }
    #[inline]
    fn send(&self, (key, bytes, value): Triple) {
        if self.0.post(key, bytes, value).is_err() {
            panic!("post on a closed port");
        }
    }
    #[inline]
    fn recv(&self) -> Triple {
        let p = self.0.get(None).expect("get");
        (
            p.key,
            *p.result.as_ref().expect("posted packets succeed"),
            p.value,
        )
    }
}

struct Crossbeam(
    crossbeam_channel::Sender<Triple>,
    crossbeam_channel::Receiver<Triple>,
);

impl Queue for Crossbeam {
    fn new(_concurrency: usize) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Crossbeam(tx, rx)
    }
    #[inline]
    fn send(&self, t: Triple) {
        self.0.send(t).expect("send");
    }
    #[inline]
    fn recv(&self) -> Triple {
        self.1.recv().expect("recv")
    }
}

/// Rounds of the hash each consumer runs per message in `1p8c+work`.
const WORK: u32 = 50;

/// The scale of one round: full, or the smoke run of a test.
#[derive(Clone, Copy)]
struct Scale {
    /// Messages per throughput round.
    messages: u64,
    /// Round trips per ping-pong round.
    round_trips: u64,
}

fn cpus() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// A little work standing for what a consumer does with a packet.
#[inline]
fn work(t: Triple) -> u64 {
    let mut h = t.0 ^ t.2 ^ t.1 as u64;
    for _ in 0..WORK {
        h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    h
}

/// Voluntary + involuntary context switches of this process so far.
fn context_switches() -> u64 {
    // SAFETY: all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid and writable.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    (ru.ru_nvcsw + ru.ru_nivcsw) as u64
}

/// One throughput round: `messages` from `producers` to `consumers`; the
/// time from the start barrier to the last message received, and the
/// context switches in between.
fn transfer<Q: Queue>(
    producers: usize,
    consumers: usize,
    concurrency: usize,
    with_work: bool,
    messages: u64,
) -> (Duration, u64) {
    let q = Arc::new(Q::new(concurrency));
    let start = Arc::new(Barrier::new(producers + consumers + 1));
    let total = messages / producers as u64 * producers as u64;
    // The window runs from the first producer's first send to the last
    // message taken, both read by the threads doing them (the main thread
    // may not run at all in between on a busy machine).
    let first_send = Arc::new(Mutex::new(None::<Instant>));
    let (last_take, taken_all) = std::sync::mpsc::channel::<Instant>();
    let taken = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for p in 0..producers as u64 {
        let (q, start, first_send) = (q.clone(), start.clone(), first_send.clone());
        let per = messages / producers as u64;
        threads.push(thread::spawn(move || {
            start.wait();
            let now = Instant::now();
            {
                let mut first = first_send.lock().expect("lock");
                *first = Some(first.map_or(now, |t| t.min(now)));
            }
            for i in 0..per {
                q.send((p, 64, i));
            }
        }));
    }
    // Consumers stop on a message with key u64::MAX, one each, sent after
    // every real one has been taken.
    let mut receivers = Vec::new();
    for _ in 0..consumers {
        let (q, start, taken, last_take) =
            (q.clone(), start.clone(), taken.clone(), last_take.clone());
        receivers.push(thread::spawn(move || {
            start.wait();
            let mut sum = 0u64;
            loop {
                let t = q.recv();
                if t.0 == u64::MAX {
                    break;
                }
                if with_work {
                    sum = sum.wrapping_add(work(t));
                } else {
                    sum = sum.wrapping_add(t.2);
                }
                if taken.fetch_add(1, Ordering::Relaxed) + 1 == total {
                    let _ = last_take.send(Instant::now());
                }
            }
            black_box(sum);
        }));
    }
    let switches = context_switches();
    start.wait();
    for t in threads {
        t.join().expect("producer panicked");
    }
    // One blocking wait (a context switch or two, alike for both peers).
    let end = taken_all.recv().expect("the last message was taken");
    let switches = context_switches() - switches;
    for _ in 0..consumers {
        q.send((u64::MAX, 0, 0));
    }
    for r in receivers {
        r.join().expect("consumer panicked");
    }
    let begin = first_send
        .lock()
        .expect("lock")
        .expect("a producer started");
    (end.saturating_duration_since(begin), switches)
}

/// Pins the calling thread to the `n`-th CPU (mod their number) this process
/// may run on; does nothing with fewer than two.
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

/// One ping-pong round: `n` round trips; ns per round trip.
fn round_trips<Q: Queue>(n: u64) -> f64 {
    let (there, back) = (Arc::new(Q::new(1)), Arc::new(Q::new(1)));
    let ready = Arc::new(Barrier::new(2));
    let b = {
        let (there, back, ready) = (there.clone(), back.clone(), ready.clone());
        thread::spawn(move || {
            pin_to_allowed_cpu(1);
            ready.wait();
            for _ in 0..n {
                let t = there.recv();
                back.send(t);
            }
        })
    };
    let a = thread::spawn(move || {
        pin_to_allowed_cpu(0);
        ready.wait();
        let t0 = Instant::now();
        for i in 0..n {
            there.send((1, 64, i));
            black_box(back.recv());
        }
        t0.elapsed()
    });
    let elapsed = a.join().expect("thread A panicked");
    b.join().expect("thread B panicked");
    elapsed.as_nanos() as f64 / n.max(1) as f64
}

/// min, median, max (the upper middle for an even count).
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

/// One measured quantity of one scenario, per peer: its values over the
/// rounds.
struct Line {
    scenario: &'static str,
    unit: &'static str,
    /// Whether a higher value is better (throughput) or worse (time, switches).
    higher_is_better: bool,
    cport: Vec<f64>,
    crossbeam: Vec<f64>,
}

impl Line {
    fn new(scenario: &'static str, unit: &'static str, higher_is_better: bool) -> Line {
        Line {
            scenario,
            unit,
            higher_is_better,
            cport: Vec::new(),
            crossbeam: Vec::new(),
        }
    }

    fn print(&self) {
        if self.cport.is_empty() || self.crossbeam.is_empty() {
            // One peer only (`--peer`), or a scenario not run (`--only`).
            for (peer, values) in [("cport", &self.cport), ("crossbeam", &self.crossbeam)] {
                if !values.is_empty() {
                    let (min, med, max) = spread(values);
                    println!(
                        "{:<24} {peer} {med:.3} [{min:.3} .. {max:.3}]",
                        format!("{} {}", self.scenario, self.unit)
                    );
                }
            }
            return;
        }
        let (cmin, cmed, cmax) = spread(&self.cport);
        let (xmin, xmed, xmax) = spread(&self.crossbeam);
        let better = if self.higher_is_better {
            "above 1 is better for cport"
        } else {
            "below 1 is better for cport"
        };
        println!(
            "{:<24} {:>12.3} [{:>10.3} .. {:>10.3}]  {:>12.3} [{:>10.3} .. {:>10.3}]  {:>6.2}x  ({better})",
            format!("{} {}", self.scenario, self.unit),
            cmed,
            cmin,
            cmax,
            xmed,
            xmin,
            xmax,
            cmed / xmed.max(1e-12),
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(if full { 7 } else { 1 })
        .max(1);
    let scale = if full {
        Scale {
            messages: 400_000,
            round_trips: 50_000,
        }
    } else {
        Scale {
            messages: 4_000,
            round_trips: 500,
        }
    };
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let only = value_of("--only");
    let peer = value_of("--peer");
    let runs = |scenario: &str| only.as_deref().is_none_or(|o| o == scenario);
    let cpus = cpus();
    let mut lines = vec![
        Line::new("1p1c", "Mmsg/s", true),
        Line::new("2p2c", "Mmsg/s", true),
        Line::new("1p8c+work", "Mmsg/s", true),
        Line::new("1p8c+work", "ctx switches", false),
        Line::new("pingpong", "ns/round trip", false),
    ];
    for _ in 0..rounds {
        for cport_turn in [true, false] {
            let name = if cport_turn { "cport" } else { "crossbeam" };
            if peer.as_deref().is_some_and(|p| p != name) {
                continue;
            }
            let record = |lines: &mut Vec<Line>, at: usize, value: f64| {
                let line = &mut lines[at];
                if cport_turn {
                    line.cport.push(value);
                } else {
                    line.crossbeam.push(value);
                }
            };
            let rate = |(d, _): (Duration, u64)| scale.messages as f64 / d.as_secs_f64() / 1e6;
            type Transfer = fn(usize, usize, usize, bool, u64) -> (Duration, u64);
            let (transfer, pingpong): (Transfer, fn(u64) -> f64) = if cport_turn {
                (transfer::<Cport>, round_trips::<Cport>)
            } else {
                (transfer::<Crossbeam>, round_trips::<Crossbeam>)
            };
            if runs("1p1c") {
                record(
                    &mut lines,
                    0,
                    rate(transfer(1, 1, 1, false, scale.messages)),
                );
            }
            if runs("2p2c") {
                record(
                    &mut lines,
                    1,
                    rate(transfer(2, 2, 2, false, scale.messages)),
                );
            }
            if runs("1p8c+work") {
                let (d, switches) = transfer(1, 8, cpus, true, scale.messages);
                record(&mut lines, 2, rate((d, switches)));
                record(&mut lines, 3, switches as f64);
            }
            if runs("pingpong") {
                record(&mut lines, 4, pingpong(scale.round_trips));
            }
        }
    }
    println!(
        "port bench: {rounds} interleaved round(s), {} messages per throughput round, {} round trips \
         per ping-pong round, {cpus} CPUs; median [min .. max] over the rounds",
        scale.messages, scale.round_trips
    );
    println!(
        "{:<24} {:>38}  {:>38}  cport ÷ crossbeam",
        "scenario", "cport Port<u64, u64>", "crossbeam-channel (key, bytes, value)"
    );
    for line in &lines {
        line.print();
    }
}
