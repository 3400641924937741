//! `cport load`: a closed-loop or open-loop load generator on a completion
//! port.
//!
//! Closed loop (the default): every connection keeps `depth` requests of
//! `size` bytes outstanding: when a whole echoed message has come back (and
//! every byte matched what was sent) its latency is recorded and the next
//! request is queued.
//!
//! Open loop (`rate`): requests are due on a constant schedule, request `n`
//! on connection `n % conns` at `start + n / rate`, whatever the server does.
//! A connection sends a due request as soon as it has fewer than `depth`
//! outstanding; its latency counts from the time it was due, not from the
//! time it went out, so a server that stalls is charged for every request
//! that waited behind the stall (the coordinated-omission correction wrk2
//! makes). Each connection
//! has at most one send and one recv in flight; requests queued while a send
//! is in flight go out together in the next one. Each request carries a
//! pattern derived from its connection and sequence number, so a byte that
//! comes back wrong, late or out of order is an error.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cport::{BackendChoice, BackendKind, GetError, Handle, Packet, Port};
use hdrhistogram::Histogram;

use crate::ops::Started;
use crate::util::{fmt_count, fmt_us};

/// Options of one load run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub addr: SocketAddr,
    pub conns: usize,
    pub size: usize,
    pub depth: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub threads: usize,
    pub backend: BackendChoice,
    pub connect_timeout: Duration,
    pub progress: bool,
    /// Open loop: requests per second across all connections.
    pub rate: Option<f64>,
}

/// The result of a load run.
pub struct LoadReport {
    pub addr: SocketAddr,
    pub backend: BackendKind,
    pub connections: usize,
    /// Requests answered (and validated) within the measured window.
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Latency in nanoseconds.
    pub latency: Histogram<u64>,
}

impl LoadReport {
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at quantile `q` (0..=1) in microseconds.
    pub fn latency_us(&self, q: f64) -> f64 {
        if self.latency.is_empty() {
            return 0.0;
        }
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {} requests in {:.2} s over {} connections: {} req/s, latency p50 {} µs, p99 {} µs, p999 {} µs, errors {}",
            self.addr,
            fmt_count(self.requests),
            self.elapsed.as_secs_f64(),
            self.connections,
            fmt_count(self.requests_per_sec().round() as u64),
            fmt_us(self.latency_us(0.5)),
            fmt_us(self.latency_us(0.99)),
            fmt_us(self.latency_us(0.999)),
            self.errors
        );
        if let Some(e) = &self.first_error {
            s.push_str(&format!(" (first: {e})"));
        }
        s
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "addr": self.addr.to_string(),
            "client_backend": self.backend.to_string(),
            "connections": self.connections,
            "requests": self.requests,
            "seconds": self.elapsed.as_secs_f64(),
            "requests_per_sec": self.requests_per_sec(),
            "p50_us": self.latency_us(0.5),
            "p90_us": self.latency_us(0.9),
            "p99_us": self.latency_us(0.99),
            "p999_us": self.latency_us(0.999),
            "max_us": self.latency.max() as f64 / 1000.0,
            "errors": self.errors,
            "first_error": self.first_error,
        })
    }
}

/// Moments of the run that a caller (the bench) wants to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// Connections are up, warm-up is over: measurement starts.
    MeasureStart,
    /// The measured window ended.
    MeasureEnd,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Connect,
    Send,
    Recv,
}

type LoadPort = Port<usize, Step, Vec<u8>>;

const WARMUP: u8 = 0;
const MEASURING: u8 = 1;
const STOPPING: u8 = 2;

/// After the measured window: how long the drain waits without any answer
/// before it counts what is outstanding as unanswered, and at most in all.
const DRAIN_STALL: Duration = Duration::from_secs(2);
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Largest single receive.
const MAX_RECV: usize = 64 * 1024;

struct Conn {
    handle: Option<Handle>,
    /// Sequence number of the next request to queue.
    next_seq: u64,
    /// Sequence number of the message being received, and how much of it has.
    recv_seq: u64,
    recv_off: usize,
    /// When each outstanding request was queued (open loop: when it was
    /// due), oldest first.
    sent_at: VecDeque<Instant>,
    /// Open loop: requests due and not queued yet (`depth` outstanding).
    due: VecDeque<Instant>,
    /// Bytes queued and not handed to a send yet.
    queued: Vec<u8>,
    sending: bool,
    spare: Vec<u8>,
}

struct Shared {
    port: LoadPort,
    addr: SocketAddr,
    conns: Vec<Mutex<Conn>>,
    size: usize,
    depth: usize,
    recv_len: usize,
    open_loop: bool,
    phase: AtomicU8,
    outstanding: AtomicUsize,
    /// Connections not finished yet.
    live: AtomicUsize,
    /// Connect operations not completed yet.
    connecting: AtomicUsize,
    requests: AtomicU64,
    /// Messages echoed back whole, in any phase (the drain watches it).
    echoed: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    histograms: Mutex<Vec<Histogram<u64>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 100 s at 3 significant digits; the bounds are valid constants.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// The byte at `offset` of request `seq` on connection `conn`.
#[inline]
fn pattern(conn: usize, seq: u64, offset: usize) -> u8 {
    let base = (seq ^ ((conn as u64) << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56;
    (base as u8).wrapping_add(offset as u8) ^ ((offset >> 8) as u8)
}

impl Shared {
    fn error(&self, msg: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = lock(&self.first_error);
        if first.is_none() {
            *first = Some(msg);
        }
    }

    fn issue(&self, key: usize, start: impl FnOnce(&LoadPort) -> Started<Step>) -> bool {
        crate::ops::issue(&self.port, &self.outstanding, key, start).is_ok()
    }

    /// Ends connection `i`: closes its handle (cancelling what is pending).
    fn finish(&self, c: &mut Conn) {
        if let Some(h) = c.handle.take() {
            let _ = self.port.close_handle(h);
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Queues request `seq` on connection `i`.
    fn queue(&self, i: usize, c: &mut Conn, now: Instant) {
        let seq = c.next_seq;
        c.next_seq += 1;
        c.queued
            .extend((0..self.size).map(|off| pattern(i, seq, off)));
        c.sent_at.push_back(now);
    }

    /// Starts a send of everything queued, if no send is in flight.
    fn flush(&self, i: usize, c: &mut Conn) {
        if c.sending || c.queued.is_empty() {
            return;
        }
        let Some(h) = c.handle else { return };
        let mut buf = std::mem::take(&mut c.spare);
        buf.clear();
        std::mem::swap(&mut buf, &mut c.queued);
        c.sending = true;
        if !self.issue(i, |p| p.op(h).send(buf, Step::Send)) {
            c.sending = false;
            self.error(format!("connection {i}: cannot start a send"));
            self.finish(c);
        }
    }

    fn recv(&self, i: usize, c: &mut Conn, mut buf: Vec<u8>) {
        let Some(h) = c.handle else { return };
        buf.resize(self.recv_len, 0);
        if !self.issue(i, |p| p.op(h).recv(buf, Step::Recv)) {
            self.error(format!("connection {i}: cannot start a receive"));
            self.finish(c);
        }
    }

    fn handle(&self, p: Packet<usize, Step, Vec<u8>>, hist: &mut Histogram<u64>) {
        let i = p.key;
        let mut c = lock(&self.conns[i]);
        match (p.value, p.result) {
            (Step::Connect, Ok(_)) => {
                self.connecting.fetch_sub(1, Ordering::SeqCst);
                if self.phase.load(Ordering::SeqCst) == STOPPING {
                    self.finish(&mut c);
                    return;
                }
                // In the open loop the pacer queues the requests.
                if !self.open_loop {
                    let now = Instant::now();
                    for _ in 0..self.depth {
                        self.queue(i, &mut c, now);
                    }
                    self.flush(i, &mut c);
                }
                self.recv(i, &mut c, Vec::with_capacity(self.recv_len));
            }
            (Step::Connect, Err(e)) => {
                self.connecting.fetch_sub(1, Ordering::SeqCst);
                let what = if e.kind() == std::io::ErrorKind::TimedOut {
                    "timed out".to_string()
                } else {
                    e.to_string()
                };
                self.error(format!("cannot connect to {}: {what}", self.addr));
                self.finish(&mut c);
            }
            (Step::Send, Ok(_)) => {
                c.sending = false;
                c.spare = p.buf.unwrap_or_default();
                self.flush(i, &mut c);
            }
            (Step::Recv, Ok(0)) => {
                if !c.sent_at.is_empty() {
                    self.error(format!(
                        "the server closed connection {i} with {} request(s) unanswered",
                        c.sent_at.len()
                    ));
                }
                self.finish(&mut c);
            }
            (Step::Recv, Ok(n)) => {
                let buf = p.buf.unwrap_or_default();
                if !self.received(i, &mut c, &buf[..n.min(buf.len())], hist) {
                    self.finish(&mut c);
                    return;
                }
                self.flush(i, &mut c);
                if self.phase.load(Ordering::SeqCst) == STOPPING && c.sent_at.is_empty() {
                    self.finish(&mut c);
                } else {
                    self.recv(i, &mut c, buf);
                }
            }
            (Step::Send | Step::Recv, Err(e)) => {
                if !cport::is_aborted(&e) {
                    self.error(format!("connection {i}: {e}"));
                }
                self.finish(&mut c);
            }
        }
    }

    /// Checks and accounts echoed bytes; false on a mismatch.
    fn received(&self, i: usize, c: &mut Conn, mut data: &[u8], hist: &mut Histogram<u64>) -> bool {
        while !data.is_empty() {
            if c.sent_at.is_empty() {
                self.error(format!(
                    "connection {i}: the server sent {} unexpected byte(s)",
                    data.len()
                ));
                return false;
            }
            let take = data.len().min(self.size - c.recv_off);
            for (k, &got) in data[..take].iter().enumerate() {
                let want = pattern(i, c.recv_seq, c.recv_off + k);
                if got != want {
                    self.error(format!(
                        "connection {i}: echoed byte mismatch in request {} at offset {}: sent {want:#04x}, got {got:#04x}",
                        c.recv_seq,
                        c.recv_off + k
                    ));
                    return false;
                }
            }
            data = &data[take..];
            c.recv_off += take;
            if c.recv_off == self.size {
                c.recv_off = 0;
                c.recv_seq += 1;
                self.echoed.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let sent = c.sent_at.pop_front().unwrap_or(now);
                let phase = self.phase.load(Ordering::Relaxed);
                if phase == MEASURING {
                    let ns = now.saturating_duration_since(sent).as_nanos();
                    hist.saturating_record(u64::try_from(ns).unwrap_or(u64::MAX).max(1));
                    self.requests.fetch_add(1, Ordering::Relaxed);
                }
                if phase != STOPPING {
                    if !self.open_loop {
                        self.queue(i, c, now);
                    } else if let Some(due) = c.due.pop_front() {
                        self.queue(i, c, due);
                    }
                }
            }
        }
        true
    }

    fn done(&self) {
        self.outstanding.fetch_sub(1, Ordering::SeqCst);
    }

    fn worker(&self) {
        let mut hist = new_histogram();
        loop {
            match self.port.get(None) {
                Ok(p) => {
                    self.handle(p, &mut hist);
                    self.done();
                }
                Err(GetError::Closed) => break,
                Err(e) => {
                    self.error(format!("get failed: {e}"));
                    break;
                }
            }
        }
        lock(&self.histograms).push(hist);
    }
}

/// Waits until `cond` holds or `limit` passed; true if it holds.
fn wait_until(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !cond() {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// Runs the load. `at` is called at the start and the end of the measured
/// window (the bench reads the server's CPU time there).
pub fn run(opts: &LoadOptions, at: &mut dyn FnMut(Moment)) -> Result<LoadReport> {
    let port: LoadPort = Port::builder()
        .concurrency(opts.threads)
        .backend(opts.backend)
        .build()
        .context("cannot create the completion port")?;
    let recv_len = opts.size.saturating_mul(opts.depth).clamp(1, MAX_RECV);
    let mut handles = Vec::with_capacity(opts.conns);
    for i in 0..opts.conns {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(opts.addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .with_context(|| format!("cannot create socket {} of {}", i + 1, opts.conns))?;
        socket
            .set_tcp_nodelay(true)
            .context("cannot set TCP_NODELAY")?;
        let h = port
            .associate(socket, i)
            .context("cannot associate a socket with the port")?;
        handles.push(h);
    }
    let shared = Arc::new(Shared {
        port: port.clone(),
        addr: opts.addr,
        conns: handles
            .iter()
            .map(|&h| {
                Mutex::new(Conn {
                    handle: Some(h),
                    next_seq: 0,
                    recv_seq: 0,
                    recv_off: 0,
                    sent_at: VecDeque::with_capacity(opts.depth),
                    due: VecDeque::new(),
                    queued: Vec::new(),
                    sending: false,
                    spare: Vec::new(),
                })
            })
            .collect(),
        size: opts.size,
        depth: opts.depth,
        recv_len,
        open_loop: opts.rate.is_some(),
        phase: AtomicU8::new(WARMUP),
        outstanding: AtomicUsize::new(0),
        live: AtomicUsize::new(opts.conns),
        connecting: AtomicUsize::new(opts.conns),
        requests: AtomicU64::new(0),
        echoed: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        histograms: Mutex::new(Vec::new()),
    });
    let workers: Vec<_> = (0..opts.threads.max(1))
        .map(|n| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("load-{n}"))
                .spawn(move || shared.worker())
        })
        .collect::<std::io::Result<_>>()
        .context("cannot start the load threads")?;
    // Connect every socket through the port (ConnectEx-style).
    for (i, &h) in handles.iter().enumerate() {
        let timeout = opts.connect_timeout;
        if !shared.issue(i, |p| {
            p.op(h).timeout(timeout).connect(opts.addr, Step::Connect)
        }) {
            shared.connecting.fetch_sub(1, Ordering::SeqCst);
            shared.error(format!("cannot start connecting to {}", opts.addr));
            shared.finish(&mut lock(&shared.conns[i]));
        }
    }
    let result = drive(opts, &shared, at);
    // Whatever happened: stop, cancel what is left, collect every packet.
    shared.phase.store(STOPPING, Ordering::SeqCst);
    for c in &shared.conns {
        shared.finish(&mut lock(c));
    }
    if !wait_until(cport::DROP_WAIT, || {
        shared.outstanding.load(Ordering::SeqCst) == 0
    }) {
        shared.error("some operations did not complete after cancellation".into());
    }
    port.close();
    for w in workers {
        let _ = w.join();
    }
    let (elapsed, connected) = result?;
    let mut latency = new_histogram();
    for h in lock(&shared.histograms).iter() {
        let _ = latency.add(h);
    }
    let report = LoadReport {
        addr: opts.addr,
        backend: port.backend(),
        connections: connected,
        requests: shared.requests.load(Ordering::SeqCst),
        errors: shared.errors.load(Ordering::SeqCst),
        first_error: lock(&shared.first_error).clone(),
        elapsed,
        latency,
    };
    Ok(report)
}

/// Connect phase, warm-up, measured window and drain. Returns the window's
/// length and how many connections were up.
fn drive(
    opts: &LoadOptions,
    shared: &Shared,
    at: &mut dyn FnMut(Moment),
) -> Result<(Duration, usize)> {
    let connect_limit = opts.connect_timeout + Duration::from_secs(1);
    if !wait_until(connect_limit, || {
        shared.connecting.load(Ordering::SeqCst) == 0
    }) {
        bail!(
            "connecting to {} did not finish in {:?}",
            opts.addr,
            connect_limit
        );
    }
    let connected = shared.live.load(Ordering::SeqCst);
    if connected == 0 {
        let why = lock(&shared.first_error)
            .clone()
            .unwrap_or_else(|| format!("cannot connect to {}", opts.addr));
        bail!("{why}");
    }
    let bar = if opts.progress && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new((opts.warmup + opts.duration).as_millis() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed:>3} [{bar:30}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let start = Instant::now();
    let tick = |msg: String| {
        bar.set_position(start.elapsed().as_millis() as u64);
        bar.set_message(msg);
    };
    let mut pacer = opts.rate.map(|rate| Pacer::new(start, rate));
    let mut wait = |limit: Duration| match pacer.as_mut() {
        Some(p) => p.run_until(shared, Instant::now() + limit),
        None => std::thread::sleep(limit),
    };
    while start.elapsed() < opts.warmup && shared.live.load(Ordering::SeqCst) > 0 {
        tick("warming up".into());
        wait(Duration::from_millis(50).min(opts.warmup));
    }
    shared.phase.store(MEASURING, Ordering::SeqCst);
    at(Moment::MeasureStart);
    let t0 = Instant::now();
    let end = t0 + opts.duration;
    loop {
        let now = Instant::now();
        if now >= end || shared.live.load(Ordering::SeqCst) == 0 {
            break;
        }
        let done = shared.requests.load(Ordering::Relaxed);
        let rate = done as f64 / now.duration_since(t0).as_secs_f64().max(1e-3);
        tick(format!(
            "{} requests, {} req/s, {} errors",
            fmt_count(done),
            fmt_count(rate as u64),
            shared.errors.load(Ordering::Relaxed)
        ));
        wait((end - now).min(Duration::from_millis(100)));
    }
    shared.phase.store(STOPPING, Ordering::SeqCst);
    let elapsed = t0.elapsed();
    at(Moment::MeasureEnd);
    bar.finish_and_clear();
    // Connections with nothing outstanding (open loop) are done now.
    for c in &shared.conns {
        let mut c = lock(c);
        if c.sent_at.is_empty() {
            shared.finish(&mut c);
        }
    }
    // Let outstanding requests come back (they are checked, not counted).
    // On a loaded machine with thousands of connections the last answers
    // can take seconds: wait as long as answers keep coming, and give up
    // when none came for DRAIN_STALL (or after DRAIN_LIMIT in all).
    let drain_end = Instant::now() + DRAIN_LIMIT;
    loop {
        let seen = shared.echoed.load(Ordering::SeqCst);
        let drained = || shared.live.load(Ordering::SeqCst) == 0;
        let moved = || shared.echoed.load(Ordering::SeqCst) != seen;
        if wait_until(DRAIN_STALL, || drained() || moved()) {
            if drained() {
                break;
            }
            if Instant::now() < drain_end {
                continue;
            }
        }
        let unanswered: usize = shared.conns.iter().map(|c| lock(c).sent_at.len()).sum();
        if unanswered > 0 {
            shared.error(format!(
                "{unanswered} request(s) unanswered at the end (no answer for {} s, or {} s in all)",
                DRAIN_STALL.as_secs(),
                DRAIN_LIMIT.as_secs()
            ));
        }
        break;
    }
    Ok((elapsed, connected))
}

/// The open loop's schedule: request `n` is due at `start + n / rate` on
/// connection `n % conns`.
struct Pacer {
    start: Instant,
    rate: f64,
    /// The next request to hand out.
    next: u64,
}

impl Pacer {
    fn new(start: Instant, rate: f64) -> Pacer {
        Pacer {
            start,
            rate,
            next: 0,
        }
    }

    fn due_at(&self, n: u64) -> Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.rate)
    }

    /// Hands every request due by now to its connection, until `end`.
    fn run_until(&mut self, shared: &Shared, end: Instant) {
        let conns = shared.conns.len() as u64;
        loop {
            let now = Instant::now();
            while self.due_at(self.next) <= now {
                let n = self.next;
                self.next += 1;
                let i = (n % conns) as usize;
                let due = self.due_at(n);
                let mut c = lock(&shared.conns[i]);
                if c.handle.is_none() || shared.phase.load(Ordering::SeqCst) == STOPPING {
                    continue;
                }
                if c.sent_at.len() < shared.depth {
                    shared.queue(i, &mut c, due);
                    shared.flush(i, &mut c);
                } else {
                    c.due.push_back(due);
                }
            }
            if now >= end {
                return;
            }
            // Sleeping overshoots by tens of µs; the latency of a request
            // counts from when it was due, so the overshoot is charged to
            // the run, as in wrk2.
            std::thread::sleep(
                self.due_at(self.next)
                    .min(end)
                    .saturating_duration_since(now),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pattern;

    #[test]
    fn pattern_differs_between_requests() {
        let a: Vec<u8> = (0..64).map(|o| pattern(0, 0, o)).collect();
        let b: Vec<u8> = (0..64).map(|o| pattern(0, 1, o)).collect();
        let c: Vec<u8> = (0..64).map(|o| pattern(1, 0, o)).collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
