//! `cport bench`: the same load against echo servers on cport's backends and
//! on peers written without cport, each server in a child process pinned to
//! one CPU and the load generator pinned to another.
//!
//! A run covers a matrix of workloads (every `--conns` × every `--msg`); the
//! rounds go round-robin over workloads and servers, so that other work on
//! the machine hits every row alike, and each row reports medians over its
//! rounds with min and max. The load is closed-loop, or open-loop at a
//! constant `--rate` with latency counted from each request's scheduled time.

use std::io::{BufRead, BufReader, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use cport::BackendChoice;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::{self, LoadOptions, Moment};
use crate::peers::ServerKind;
use crate::util::{fmt_count, fmt_us, spread, usage};

/// Options of one bench run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Connection counts of the matrix.
    pub conns: Vec<usize>,
    /// Message sizes of the matrix.
    pub sizes: Vec<usize>,
    pub depth: usize,
    /// Open loop: requests per second across all connections.
    pub rate: Option<f64>,
    pub duration: Duration,
    pub warmup: Duration,
    pub rounds: usize,
    pub servers: Vec<ServerKind>,
    pub server_cpu: Option<usize>,
    pub client_cpu: Option<usize>,
    pub json: bool,
    pub plot: Option<PathBuf>,
    pub verbose: bool,
    pub client_backend: BackendChoice,
}

/// One combination of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Workload {
    /// Connections asked for.
    pub conns: usize,
    /// Bytes per message.
    pub size: usize,
}

/// One server's result on one workload.
#[derive(Serialize)]
pub struct Row {
    pub server: ServerKind,
    pub label: &'static str,
    pub conns: usize,
    pub size: usize,
    /// Connections the load generator had up (fewer than `conns` where the
    /// descriptor limit is lower).
    pub connections: usize,
    pub requests: u64,
    pub seconds: f64,
    pub requests_per_sec: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// Server CPU time (user + system of all its threads) per request, µs:
    /// the median over the rounds.
    pub cpu_us_per_msg: Option<f64>,
    pub server_cpu_percent: Option<f64>,
    /// CPU use of the load generator over the window (100% = one CPU busy).
    pub client_cpu_percent: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Requests per second of every round, in order.
    pub rounds_requests_per_sec: Vec<f64>,
    /// min, median and max over the rounds of requests/s, the latency
    /// percentiles and the CPU per message.
    pub over_rounds: serde_json::Value,
    /// Why the server did not run here (io_uring refused): not a failure.
    pub unavailable: Option<String>,
    #[serde(skip)]
    pub latency: Option<Histogram<u64>>,
}

/// cport backend ÷ peer.
#[derive(Serialize)]
pub struct Ratio {
    pub conns: usize,
    pub size: usize,
    pub cport: ServerKind,
    pub peer: ServerKind,
    /// Throughput ratio: above 1 means cport served more requests per second.
    pub requests_per_sec: f64,
    /// CPU-per-message ratio: below 1 means cport used less CPU per message.
    pub cpu_per_msg: Option<f64>,
    /// p99 latency ratio: below 1 means cport's p99 was lower.
    pub p99: f64,
}

/// The set of CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: all-zero is the empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid and writable and its size is passed with it.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `i` is below CPU_SETSIZE.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect()
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(kind: ServerKind, cpu: Option<usize>, verbose: bool) -> Result<Server> {
        let exe = std::env::current_exe().context("cannot find the cport executable")?;
        let mut cmd = Command::new(exe);
        cmd.args(["serve-peer", "--kind", kind.arg(), "--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if verbose {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        if let Some(cpu) = cpu {
            cmd.args(["--cpu", &cpu.to_string()]);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start the {} server", kind.label()))?;
        let stdout = child.stdout.take().context("no stdout from the server")?;
        let (tx, rx) = mpsc::channel();
        // Reads the announcement, then drains the rest so the child never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                    break;
                }
            }
            for _ in lines {}
        });
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let addr = rx.recv_timeout(Duration::from_secs(10)).map_err(|_| {
            let status = server.child.try_wait().ok().flatten();
            match status {
                Some(s) => anyhow!("the {} server exited at start-up ({s})", kind.label()),
                None => anyhow!(
                    "the {} server did not start listening in 10 s",
                    kind.label()
                ),
            }
        })?;
        server.addr = addr.parse().with_context(|| {
            format!(
                "the {} server announced a bad address {addr:?}",
                kind.label()
            )
        })?;
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then SIGKILL if it is still there after 5 s.
    fn stop(mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory-safety preconditions; `pid` is our child,
        // not yet reaped, so the pid cannot have been reused.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Row {
    fn empty(kind: ServerKind, w: Workload) -> Row {
        Row {
            server: kind,
            label: kind.label(),
            conns: w.conns,
            size: w.size,
            connections: 0,
            requests: 0,
            seconds: 0.0,
            requests_per_sec: 0.0,
            p50_us: 0.0,
            p90_us: 0.0,
            p99_us: 0.0,
            p999_us: 0.0,
            max_us: 0.0,
            cpu_us_per_msg: None,
            server_cpu_percent: None,
            client_cpu_percent: None,
            errors: 0,
            first_error: None,
            rounds_requests_per_sec: Vec::new(),
            over_rounds: serde_json::Value::Null,
            unavailable: None,
            latency: None,
        }
    }

    fn unavailable(kind: ServerKind, w: Workload, why: &str) -> Row {
        let mut row = Row::empty(kind, w);
        row.unavailable = Some(why.to_string());
        row
    }

    fn failed(kind: ServerKind, w: Workload, e: &anyhow::Error) -> Row {
        let mut row = Row::empty(kind, w);
        row.errors = 1;
        row.first_error = Some(format!("{e:#}"));
        row
    }
}

/// One round of load against a running server; `conns` is what the
/// descriptor limit allows of `w.conns`.
fn measure(
    kind: ServerKind,
    server: &Server,
    opts: &BenchOptions,
    w: Workload,
    conns: usize,
    duration: Duration,
) -> Row {
    let mut row = Row::empty(kind, w);
    let pid = server.pid();
    let load_opts = LoadOptions {
        addr: server.addr,
        conns,
        size: w.size,
        depth: opts.depth,
        duration,
        warmup: opts.warmup,
        threads: 1,
        backend: opts.client_backend,
        connect_timeout: Duration::from_secs(5),
        progress: false,
        rate: opts.rate,
    };
    let (mut cpu_start, mut cpu_end) = (None, None);
    let (mut own_start, mut own_end) = (None, None);
    let result = load::run(&load_opts, &mut |m| {
        let t = crate::util::process_cpu_time(pid).ok();
        let own = crate::util::process_cpu_time(std::process::id()).ok();
        match m {
            Moment::MeasureStart => (cpu_start, own_start) = (t, own),
            Moment::MeasureEnd => (cpu_end, own_end) = (t, own),
        }
    });
    match result {
        Ok(r) => {
            row.connections = r.connections;
            row.requests = r.requests;
            row.seconds = r.elapsed.as_secs_f64();
            row.requests_per_sec = r.requests_per_sec();
            row.p50_us = r.latency_us(0.5);
            row.p90_us = r.latency_us(0.9);
            row.p99_us = r.latency_us(0.99);
            row.p999_us = r.latency_us(0.999);
            row.max_us = r.latency_us(1.0);
            row.errors = r.errors;
            row.first_error = r.first_error.clone();
            if let (Some(a), Some(b)) = (cpu_start, cpu_end) {
                let cpu = b.saturating_sub(a);
                if r.requests > 0 {
                    row.cpu_us_per_msg = Some(cpu.as_secs_f64() * 1e6 / r.requests as f64);
                }
                row.server_cpu_percent = Some(100.0 * cpu.as_secs_f64() / row.seconds.max(1e-9));
            }
            if let (Some(a), Some(b)) = (own_start, own_end) {
                let cpu = b.saturating_sub(a);
                row.client_cpu_percent = Some(100.0 * cpu.as_secs_f64() / row.seconds.max(1e-9));
            }
            row.latency = Some(r.latency);
        }
        Err(e) => {
            row.errors = row.errors.max(1);
            row.first_error = Some(format!("{e:#}"));
        }
    }
    row
}

/// One server's rounds → its row: the round with the median throughput
/// stands for the server (robust against a burst of other work on the
/// machine during one round), except for the CPU per message, which is the
/// median over the rounds; errors add up over all rounds.
fn summarize(kind: ServerKind, w: Workload, mut rounds: Vec<Row>) -> Row {
    let errors: u64 = rounds.iter().map(|r| r.errors).sum();
    let first_error = rounds.iter().find_map(|r| r.first_error.clone());
    let rps: Vec<f64> = rounds.iter().map(|r| r.requests_per_sec).collect();
    let measured: Vec<&Row> = rounds.iter().filter(|r| r.requests > 0).collect();
    let over = |f: fn(&Row) -> Option<f64>| -> serde_json::Value {
        let values: Vec<f64> = measured.iter().filter_map(|r| f(r)).collect();
        spread(&values).unwrap_or(serde_json::Value::Null)
    };
    let over_rounds = serde_json::json!({
        "requests_per_sec": over(|r| Some(r.requests_per_sec)),
        "p50_us": over(|r| Some(r.p50_us)),
        "p90_us": over(|r| Some(r.p90_us)),
        "p99_us": over(|r| Some(r.p99_us)),
        "p999_us": over(|r| Some(r.p999_us)),
        "max_us": over(|r| Some(r.max_us)),
        "cpu_us_per_msg": over(|r| r.cpu_us_per_msg),
    });
    let cpu_median = over_rounds["cpu_us_per_msg"]["median"].as_f64();
    rounds.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    let mid = rounds.len() / 2;
    let mut row = if rounds.is_empty() {
        Row::empty(kind, w)
    } else {
        rounds.swap_remove(mid)
    };
    if row.requests > 0 {
        row.cpu_us_per_msg = cpu_median;
    }
    row.errors = errors;
    row.first_error = first_error;
    row.rounds_requests_per_sec = rps;
    row.over_rounds = over_rounds;
    row
}

fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let ok = |r: &&Row| r.requests > 0;
    let mut out = Vec::new();
    for c in rows.iter().filter(|r| r.server.is_cport()).filter(ok) {
        for p in rows.iter().filter(|r| !r.server.is_cport()).filter(ok) {
            if (c.conns, c.size) != (p.conns, p.size) {
                continue;
            }
            out.push(Ratio {
                conns: c.conns,
                size: c.size,
                cport: c.server,
                peer: p.server,
                requests_per_sec: c.requests_per_sec / p.requests_per_sec,
                cpu_per_msg: match (c.cpu_us_per_msg, p.cpu_us_per_msg) {
                    (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                    _ => None,
                },
                p99: c.p99_us / p.p99_us.max(1e-9),
            });
        }
    }
    out
}

/// Right-aligns every column but the first.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

fn print_text(
    opts: &BenchOptions,
    workloads: &[Workload],
    rows: &[Row],
    ratios: &[Ratio],
    pinning: &str,
    notes: &[String],
) {
    let mode = match opts.rate {
        Some(rate) => format!(
            "open loop at {} req/s across the connections (latency from each request's \
             scheduled time)",
            fmt_count(rate.round() as u64)
        ),
        None => format!("closed loop, depth {}", opts.depth),
    };
    outln!(
        "cport bench: {} workload(s), {mode}; per server and workload {} rounds of {:.1} s \
         (each after {:.1} s warm-up), interleaved; medians over the rounds;\n\
         load generator on cport ({}); {pinning}",
        workloads.len(),
        opts.rounds,
        opts.duration.as_secs_f64() / opts.rounds as f64,
        opts.warmup.as_secs_f64(),
        client_backend_name(opts.client_backend),
    );
    for note in notes {
        outln!("note: {note}");
    }
    for w in workloads {
        let rows: Vec<&Row> = rows
            .iter()
            .filter(|r| (r.conns, r.size) == (w.conns, w.size))
            .collect();
        let ratios: Vec<&Ratio> = ratios
            .iter()
            .filter(|r| (r.conns, r.size) == (w.conns, w.size))
            .collect();
        outln!();
        outln!("{} connections x {}-byte messages", w.conns, w.size);
        print_workload(&rows, &ratios);
    }
}

fn print_workload(rows: &[&Row], ratios: &[&Ratio]) {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            if r.requests == 0 {
                let mut cells = vec![
                    r.label.to_string(),
                    if r.unavailable.is_some() {
                        "unavailable".into()
                    } else {
                        "failed".into()
                    },
                ];
                cells.extend(std::iter::repeat_n("-".to_string(), 9));
                cells.push(r.errors.to_string());
                return cells;
            }
            let cpu_range = match (
                r.over_rounds["cpu_us_per_msg"]["min"].as_f64(),
                r.over_rounds["cpu_us_per_msg"]["max"].as_f64(),
            ) {
                (Some(lo), Some(hi)) => format!("{lo:.2}–{hi:.2}"),
                _ => "-".into(),
            };
            vec![
                r.label.to_string(),
                fmt_count(r.requests_per_sec.round() as u64),
                fmt_us(r.p50_us),
                fmt_us(r.p90_us),
                fmt_us(r.p99_us),
                fmt_us(r.p999_us),
                fmt_us(r.max_us),
                r.cpu_us_per_msg.map_or("-".into(), |c| format!("{c:.2}")),
                cpu_range,
                r.server_cpu_percent
                    .map_or("-".into(), |c| format!("{c:.0}%")),
                r.client_cpu_percent
                    .map_or("-".into(), |c| format!("{c:.0}%")),
                r.errors.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "server",
                "req/s",
                "p50 µs",
                "p90 µs",
                "p99 µs",
                "p999 µs",
                "max µs",
                "CPU µs/msg",
                "min–max",
                "server CPU",
                "load CPU",
                "errors",
            ],
            &body
        )
    );
    if !ratios.is_empty() {
        outln!();
        outln!("cport ÷ peer (req/s: above 1 is better for cport; CPU/msg and p99: below 1 is better for cport)");
        let body: Vec<Vec<String>> = ratios
            .iter()
            .map(|r| {
                vec![
                    format!("{} ÷ {}", r.cport.label(), r.peer.label()),
                    format!("{:.2}x", r.requests_per_sec),
                    r.cpu_per_msg.map_or("-".into(), |c| format!("{c:.2}x")),
                    format!("{:.2}x", r.p99),
                ]
            })
            .collect();
        print!("{}", table(&["ratio", "req/s", "CPU/msg", "p99"], &body));
    }
    for r in rows.iter() {
        if let Some(why) = &r.unavailable {
            outln!("{}: unavailable here: {why}", r.label);
        }
        if r.requests > 0 && r.connections < r.conns {
            outln!(
                "{}: {} of {} connections were up",
                r.label,
                r.connections,
                r.conns
            );
        }
    }
    for r in rows.iter().filter(|r| r.first_error.is_some()) {
        outln!(
            "{}: {} error(s), first: {}",
            r.label,
            r.errors,
            r.first_error.as_deref().unwrap_or("")
        );
    }
}

fn client_backend_name(b: BackendChoice) -> &'static str {
    match b {
        BackendChoice::Auto => "auto",
        BackendChoice::Uring => "io_uring",
        BackendChoice::Epoll => "epoll",
        _ => "other",
    }
}

/// Descriptors a process of the bench needs besides its connections (the
/// port, the ring, pipes, the listener, the standard streams).
const SPARE_FDS: u64 = 64;

/// How many connections the descriptor limit allows, raising the soft limit
/// towards the hard one where `want` needs it. The servers, started later,
/// inherit the raised limit. Returns the count and, where it is below
/// `want`, a note saying why.
fn connections_allowed(want: usize) -> (usize, Option<String>) {
    let need = want as u64 + SPARE_FDS;
    match crate::util::raise_nofile(need) {
        Ok((soft, _)) if soft >= need => (want, None),
        Ok((soft, hard)) => {
            let n = soft.saturating_sub(SPARE_FDS).max(1) as usize;
            let note = format!(
                "the descriptor limit (soft {soft}, hard {hard}) allows {n} connections, \
                 not {want}: running with {n}"
            );
            (n.min(want), Some(note))
        }
        Err(e) => (
            want,
            Some(format!(
                "cannot read the descriptor limit ({e}); trying {want} connections"
            )),
        ),
    }
}

pub fn run(opts: &BenchOptions) -> Result<bool> {
    let workloads: Vec<Workload> = opts
        .conns
        .iter()
        .flat_map(|&conns| opts.sizes.iter().map(move |&size| Workload { conns, size }))
        .collect();
    let max_conns = workloads.iter().map(|w| w.conns).max().unwrap_or(1);
    let (allowed_conns, fd_note) = connections_allowed(max_conns);
    let notes: Vec<String> = fd_note.into_iter().collect();
    if !opts.json {
        for note in &notes {
            eprintln!("cport bench: {note}");
        }
    }
    let allowed = allowed_cpus();
    let pick = |want: Option<usize>, nth: usize| -> Result<Option<usize>> {
        match want {
            Some(cpu) if allowed.contains(&cpu) => Ok(Some(cpu)),
            Some(cpu) => Err(usage(format!(
                "CPU {cpu} is not available to this process (allowed: {allowed:?})"
            ))),
            None if allowed.len() >= 2 => Ok(allowed.get(nth).copied()),
            None => Ok(None),
        }
    };
    let server_cpu = pick(opts.server_cpu, 0)?;
    let client_cpu = pick(opts.client_cpu, 1)?;
    if let Some(cpu) = client_cpu {
        // The load threads are started by this thread later and inherit this.
        crate::util::pin_to_cpu(cpu)
            .with_context(|| format!("cannot pin the load generator to CPU {cpu}"))?;
    }
    let pinning = match (server_cpu, client_cpu) {
        (Some(s), Some(c)) => format!("servers pinned to CPU {s}, load generator to CPU {c}"),
        (Some(s), None) => format!("servers pinned to CPU {s}, load generator not pinned"),
        (None, Some(c)) => format!("servers not pinned, load generator pinned to CPU {c}"),
        (None, None) => "not pinned (fewer than 2 CPUs available)".to_string(),
    };
    // Where io_uring is refused (a container's seccomp profile, the
    // io_uring_disabled sysctl, an old kernel), the io_uring servers are
    // shown as unavailable, with the reason, and the others still run.
    let unavailable: Vec<Option<String>> = {
        let cport_uring = cport_uring_refused();
        let plain_uring = plain_uring_refused();
        opts.servers
            .iter()
            .map(|kind| match kind {
                ServerKind::Uring => plain_uring.clone(),
                k if k.needs_io_uring() => cport_uring.clone(),
                _ => None,
            })
            .collect()
    };
    let runnable = unavailable.iter().filter(|u| u.is_none()).count();
    let interactive = !opts.json && std::io::stderr().is_terminal();
    let bar = if interactive {
        let bar = indicatif::ProgressBar::new((opts.rounds * runnable * workloads.len()) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed:>3} [{bar:30}] round {pos}/{len}: {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    // Every server runs for the whole bench (an idle one costs nothing);
    // the rounds go round-robin over the workloads and the servers, so that
    // whatever else the machine does hits every row alike.
    bar.set_message("starting the servers");
    let servers: Vec<(ServerKind, Result<Server, Skip>)> = opts
        .servers
        .iter()
        .zip(&unavailable)
        .map(|(&kind, refused)| {
            let server = match refused {
                Some(why) => Err(Skip::Unavailable(why.clone())),
                None => Server::start(kind, server_cpu, opts.verbose).map_err(Skip::Failed),
            };
            (kind, server)
        })
        .collect();
    let round = opts.duration.div_f64(opts.rounds as f64);
    // rounds[workload][server]
    let mut rounds: Vec<Vec<Vec<Row>>> = workloads
        .iter()
        .map(|_| servers.iter().map(|_| Vec::new()).collect())
        .collect();
    for _ in 0..opts.rounds {
        for (wi, &w) in workloads.iter().enumerate() {
            for (si, (kind, server)) in servers.iter().enumerate() {
                if let Ok(server) = server {
                    bar.set_message(format!("{} ({} x {} B)", kind.label(), w.conns, w.size));
                    let conns = w.conns.min(allowed_conns);
                    rounds[wi][si].push(measure(*kind, server, opts, w, conns, round));
                    bar.inc(1);
                }
            }
        }
    }
    bar.finish_and_clear();
    let mut rows = Vec::new();
    for (&w, rounds) in workloads.iter().zip(rounds) {
        for ((kind, server), rounds) in servers.iter().zip(rounds) {
            rows.push(match server {
                Ok(_) => summarize(*kind, w, rounds),
                Err(Skip::Failed(e)) => Row::failed(*kind, w, e),
                Err(Skip::Unavailable(why)) => Row::unavailable(*kind, w, why),
            });
        }
    }
    for (_, server) in servers {
        if let Ok(server) = server {
            server.stop();
        }
    }
    let ratios = ratios(&rows);
    if let Some(path) = &opts.plot {
        let w = workloads[0];
        crate::plot::write(path, (w.conns, opts.depth, w.size), &rows)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if opts.json {
        let v = serde_json::json!({
            "run": crate::util::run_info(),
            "config": {
                "conns": opts.conns,
                "sizes": opts.sizes,
                "depth": opts.depth,
                "rate": opts.rate,
                "duration_s": opts.duration.as_secs_f64(),
                "warmup_s": opts.warmup.as_secs_f64(),
                "rounds": opts.rounds,
                "server_cpu": server_cpu,
                "client_backend": client_backend_name(opts.client_backend),
                "client_cpu": client_cpu,
                "cpus": allowed.len(),
            },
            "workloads": workloads,
            "notes": notes,
            "servers": rows,
            "ratios": ratios,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_text(opts, &workloads, &rows, &ratios, &pinning, &notes);
        if let Some(path) = &opts.plot {
            outln!("\nlatency plot written to {}", path.display());
        }
    }
    Ok(rows
        .iter()
        .filter(|r| r.unavailable.is_none())
        .all(|r| r.requests > 0 && r.errors == 0))
}

/// Why a server of the bench has no rows.
enum Skip {
    /// It could not run here (io_uring refused); the others still count.
    Unavailable(String),
    /// It should have run and did not: the bench fails.
    Failed(anyhow::Error),
}

/// Why cport's io_uring backend cannot be set up here, if it cannot.
fn cport_uring_refused() -> Option<String> {
    cport::Port::builder()
        .concurrency(1)
        .backend(BackendChoice::Uring)
        .build::<u64, u64, Vec<u8>>()
        .err()
        .map(|e| e.to_string())
}

/// Why a plain io_uring ring cannot be set up here, if it cannot.
fn plain_uring_refused() -> Option<String> {
    io_uring::IoUring::new(8)
        .err()
        .map(|e| format!("io_uring_setup: {e}"))
}
