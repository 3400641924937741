//! `cport`: the command-line tool of the cport crate — an echo server, a load
//! generator, a benchmark against peers, an overlapped file copy and a report
//! of what this machine offers, all on Windows-style I/O completion ports.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

/// `println!` that ignores a closed stdout (`cport info | head -1`) instead
/// of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod bench;
mod copy;
mod echo;
mod info;
mod load;
mod ops;
mod peers;
mod plot;
mod util;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use cport::BackendChoice;

use crate::peers::ServerKind;
use crate::util::{check_range, fmt_bytes, parse_duration, parse_size, usage, UsageError};

#[derive(Parser, Debug)]
#[command(
    name = "cport",
    version,
    about = "Windows-style I/O completion ports for Linux: echo server, load generator, benchmark, file copy",
    long_about = "Windows-style I/O completion ports for Linux.\n\n\
        Every subcommand runs on a cport completion port: worker threads wait in \
        `get`, overlapped operations (accept, connect, recv, send, read_at, write_at) \
        deliver their results as completion packets, on io_uring or epoll.\n\n\
        Quick start:\n  cport echo --addr 127.0.0.1:7000 &\n  cport load --addr 127.0.0.1:7000 --duration 5s\n  cport bench",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a TCP echo server on a completion port until Ctrl-C / SIGTERM.
    #[command(
        long_about = "Run a TCP echo server on a completion port (the IOCP \"seed\" model: worker \
        threads wait in get; each packet's value says which connection and which step \
        finished; the worker issues the next operation).\n\n\
        Prints `listening on ADDR` and the backend it runs on (and why it fell back from \
        io_uring, if it did). On Ctrl-C or SIGTERM it closes the listener and every \
        connection, waits until every operation has delivered its packet, prints one line \
        of statistics and exits with status 0."
    )]
    Echo(EchoArgs),
    /// Closed-loop load generator against an echo server (itself on cport).
    #[command(
        long_about = "Closed-loop load generator against an echo server, itself running on a cport \
        completion port (connect, send and recv operations).\n\n\
        Every connection keeps --depth requests of --size bytes outstanding; when a whole \
        request has been echoed back (every byte is checked) its latency is recorded and \
        the next one is sent. Prints a progress bar while it runs and a final line with \
        requests/s, p50/p99/p999 latency and the number of errors. Exits non-zero if any \
        error occurred (refused connection, reset, wrong byte, ...)."
    )]
    Load(LoadArgs),
    /// Benchmark cport's echo servers against tokio, plain epoll and plain io_uring (~40 s).
    #[command(
        long_about = "Benchmark: runs the same closed load against 6 echo servers: cport on its \
        io_uring backend (cooperative task running, and interrupting task work) and on its \
        epoll backend, and peers written without cport: tokio (current_thread runtime, \
        1 thread), a plain epoll loop and a plain io_uring loop (one thread each).\n\n\
        Each server runs in a child process pinned to one CPU (the first available), the \
        load generator is pinned to another (the second), where the machine has two. \
        The server's CPU time (user + system, /proc/PID/stat) over the measured window \
        gives CPU µs per message. All servers run at once (idle ones cost nothing) and \
        take turns in --rounds rounds, so that other work on the machine hits them alike; \
        each server's median round is reported (CPU µs per message: the median over the \
        rounds, with min and max). Prints a table of requests/s, p50/p90/p99/p999/max \
        latency, CPU µs per message and the ratio of each cport backend to each peer; \
        --json adds min/median/max over the rounds of every figure.\n\n\
        Lists run a matrix: --conns 64,5000 --msg 64,16KiB runs every combination in one \
        invocation, the rounds going round-robin over workloads and servers, with a table \
        per workload. Where the soft descriptor limit is too low for --conns it is raised \
        towards the hard limit; where the hard limit is too low the bench says how many \
        connections it could open and runs with those. --rate R makes the load open-loop: \
        R requests per second across all connections on a constant schedule, latency \
        counted from each request's scheduled time rather than from when it went out \
        (corrected for coordinated omission, as wrk2 does). Where io_uring is refused \
        (e.g. a container's seccomp profile) the io_uring servers are shown as \
        unavailable, with the reason, and the others still run.\n\n\
        With the defaults (6 servers, 5 rounds of 1 s after 0.2 s of warm-up each) the \
        whole run takes about 40 s."
    )]
    Bench(BenchArgs),
    /// Copy a file with overlapped reads and writes through a completion port.
    #[command(
        long_about = "Copy SRC to DST with overlapped I/O through a completion port \
        (ReadFile/WriteFile style): --depth reads of --block bytes are in flight; each \
        completed read issues the write of its bytes, each completed write issues the next \
        read. Shows a progress bar on a terminal. If DST is a directory the file keeps its \
        name. On an error (missing file, permission, no space) it says which, removes the \
        partial DST it created and exits non-zero."
    )]
    Copy(CopyArgs),
    /// Show the kernel, io_uring support, the backend `auto` picks and the CPU count.
    #[command(
        long_about = "Show what this machine offers cport: the kernel version, whether io_uring \
        works (and the error if not), which io_uring opcodes cport needs are supported, \
        the io_uring_disabled sysctl, the locked-memory limit, the backend `auto` picks \
        and why, the CPU count and the default concurrency limit."
    )]
    Info(InfoArgs),
    /// Internal: run one of the benchmark's servers (used by `cport bench`).
    #[command(hide = true)]
    ServePeer(ServePeerArgs),
}

/// The kernel interface a port uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// io_uring where the kernel allows it, else epoll (the reason is printed).
    Auto,
    /// io_uring, or fail with the reason it is unavailable.
    Uring,
    /// epoll (readiness + non-blocking syscalls).
    Epoll,
}

/// The backend a subcommand runs on: `--backend` if given, else the
/// `CPORT_BACKEND` environment variable (what the library itself reads for a
/// port built without an explicit backend), else `default`. A value of
/// `CPORT_BACKEND` the library would refuse is a usage error naming the valid
/// ones.
fn chosen_backend(flag: Option<BackendArg>, default: BackendChoice) -> Result<BackendChoice> {
    if let Some(b) = flag {
        return Ok(b.into());
    }
    match util::backend_from_env() {
        None => Ok(default),
        Some(Ok(b)) => Ok(b),
        Some(Err(e)) => Err(usage(e)),
    }
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Uring => BackendChoice::Uring,
            BackendArg::Epoll => BackendChoice::Epoll,
        }
    }
}

const MAX_CONNS: u64 = 10_000;
const MAX_MESSAGE: u64 = 16 << 20;
const MAX_DEPTH: u64 = 1024;
const MAX_THREADS: u64 = 1024;

fn parse_msg_size(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if n == 0 {
        return Err("the size must be at least 1 byte".into());
    }
    if n > MAX_MESSAGE {
        return Err(format!(
            "the size must be at most {} (got {})",
            fmt_bytes(MAX_MESSAGE),
            fmt_bytes(n)
        ));
    }
    Ok(n as usize)
}

fn parse_block(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if n == 0 {
        return Err("the block size must be at least 1 byte".into());
    }
    if n > 1 << 30 {
        return Err(format!(
            "the block size must be at most 1 GiB (got {})",
            fmt_bytes(n)
        ));
    }
    Ok(n as usize)
}

fn parse_warmup(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "0" | "0s" | "0ms" => Ok(Duration::ZERO),
        other => parse_duration(other),
    }
}

#[derive(Args, Debug)]
struct EchoArgs {
    /// Address to listen on (HOST:PORT; port 0 picks a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: String,
    /// Worker threads calling `get` on the port (default: the number of CPUs).
    #[arg(long, short = 'w')]
    workers: Option<usize>,
    /// Kernel interface: auto (io_uring, else epoll), uring or epoll
    /// [default: $CPORT_BACKEND, else auto].
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// Concurrency limit of the port: how many workers may run packets at once
    /// (0 = the number of CPUs).
    #[arg(long, default_value_t = 0)]
    concurrency: usize,
    /// io_uring only: let the kernel interrupt a busy worker for each
    /// completion instead of cooperative task running (the default), where a
    /// completion's last step waits for its worker's next entry into the
    /// kernel (at the latest a scheduler tick).
    #[arg(long)]
    interrupting: bool,
    /// When the server stops, print its statistics as one JSON object on
    /// stdout (the start-up lines then go to stderr).
    #[arg(long)]
    json: bool,
}

/// The load both `load` and `bench` put on a server.
#[derive(Args, Debug)]
struct LoadShape {
    /// TCP connections (per server, under `bench`).
    #[arg(long, default_value_t = 64)]
    conns: usize,
    /// Bytes per request (e.g. 64, 4KiB, 1MiB; 1 B to 16 MiB).
    #[arg(long, default_value = "64", value_parser = parse_msg_size)]
    size: usize,
    /// Requests outstanding per connection (pipelining depth; 1 = strict request/response).
    #[arg(long, default_value_t = 1)]
    depth: usize,
}

impl LoadShape {
    fn check(&self) -> Result<()> {
        check_shape(self.conns, self.size, self.depth)
    }
}

/// Checks one load shape: connections, bytes per request, depth.
fn check_shape(conns: usize, size: usize, depth: usize) -> Result<()> {
    check_range("--conns", conns as u64, 1, MAX_CONNS)?;
    check_range("--depth", depth as u64, 1, MAX_DEPTH)?;
    let bytes = (conns as u64) * (size as u64) * (depth as u64);
    if bytes > 1 << 30 {
        return Err(usage(format!(
            "--conns x --size x --depth is {} in flight; keep it at most 1 GiB",
            fmt_bytes(bytes)
        )));
    }
    Ok(())
}

/// Parses an open-loop rate in requests per second (1 to 10,000,000).
fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a rate in requests per second (try 20000)"))?;
    if !(1.0..=10_000_000.0).contains(&rate) {
        return Err("the rate must be between 1 and 10,000,000 requests per second".into());
    }
    Ok(rate)
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// Address of the echo server (HOST:PORT).
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: String,
    #[command(flatten)]
    shape: LoadShape,
    /// How long to measure (e.g. 5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before measuring starts, not counted (0 for none).
    #[arg(long, default_value = "0", value_parser = parse_warmup)]
    warmup: Duration,
    /// Threads taking completion packets from the load generator's port.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Kernel interface of the load generator's port [default:
    /// $CPORT_BACKEND, else auto].
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// How long a connect may take before it counts as failed.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Open loop: send R requests per second across all connections on a
    /// constant schedule; latency counts from each request's scheduled time
    /// (corrected for coordinated omission, as wrk2 does). --depth is then
    /// the most a connection has outstanding.
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    rate: Option<f64>,
    /// Print the result as JSON instead of a line of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// TCP connections per server; a comma-separated list runs each (e.g.
    /// 64,5000). The descriptor limit is raised where needed.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    conns: Vec<usize>,
    /// Bytes per request; a comma-separated list runs each (e.g. 64,16KiB).
    /// Every --conns runs with every --msg.
    #[arg(long, visible_alias = "size", value_delimiter = ',', default_value = "64", value_parser = parse_msg_size)]
    msg: Vec<usize>,
    /// Requests outstanding per connection (closed loop), or at most
    /// outstanding (open loop).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Open loop: send R requests per second across all connections on a
    /// constant schedule, whatever the server does; latency counts from
    /// each request's scheduled time (corrected for coordinated omission,
    /// as wrk2 does). Without it the load is closed-loop.
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    rate: Option<f64>,
    /// Measured time per server, split into --rounds rounds (e.g. 5s).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Rounds per server; the servers take turns round by round, and each
    /// server's median round is reported (1 to 100).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Unmeasured load before each round (0 for none).
    #[arg(long, default_value = "200ms", value_parser = parse_warmup)]
    warmup: Duration,
    /// Servers to run, comma-separated, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "cport-uring,cport-uring-irq,cport-epoll,tokio,epoll,uring"
    )]
    servers: Vec<ServerKind>,
    /// CPU to pin the servers to (default: the first CPU available).
    #[arg(long)]
    server_cpu: Option<usize>,
    /// CPU to pin the load generator to (default: the second CPU available).
    #[arg(long)]
    client_cpu: Option<usize>,
    /// Print machine-readable JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also draw the latency distributions side by side into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Show the servers' own output (start-up lines, statistics).
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Kernel interface of the load generator's port [default:
    /// $CPORT_BACKEND, else epoll: on small machines it is the cheaper client,
    /// so the servers are the limit]. The servers' backends are fixed by
    /// --servers.
    #[arg(long, value_enum)]
    client_backend: Option<BackendArg>,
}

#[derive(Args, Debug)]
struct CopyArgs {
    /// File to copy.
    src: PathBuf,
    /// Destination file (created or truncated), or a directory to copy into.
    dst: PathBuf,
    /// Bytes per read and write (e.g. 64KiB, 1MiB; up to 1 GiB).
    #[arg(long, default_value = "1MiB", value_parser = parse_block)]
    block: usize,
    /// Reads in flight at once (1 to 1024).
    #[arg(long, default_value_t = 8)]
    depth: usize,
    /// Kernel interface of the port [default: $CPORT_BACKEND, else auto].
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// No progress bar and no summary line.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Print the result as one JSON object instead of the summary line (no
    /// progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ServePeerArgs {
    /// Which server.
    #[arg(long, value_enum)]
    kind: ServerKind,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// CPU to pin the server to.
    #[arg(long)]
    cpu: Option<usize>,
    /// Worker threads (cport kinds only).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

fn echo(args: EchoArgs) -> Result<ExitCode> {
    let addr = util::resolve(&args.addr)?;
    let workers = args.workers.unwrap_or_else(util::cpu_count);
    check_range("--workers", workers as u64, 1, MAX_THREADS)?;
    let listener = echo::bind(addr)?;
    let opts = echo::EchoOptions {
        workers,
        concurrency: args.concurrency,
        backend: chosen_backend(args.backend, BackendChoice::Auto)?,
        cooperative: !args.interrupting,
        json: args.json,
    };
    let stats = echo::serve(listener, &opts)?;
    if args.json {
        let mut v = stats.json();
        v["run"] = util::run_info();
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        outln!("{stats}");
    }
    Ok(ExitCode::SUCCESS)
}

fn load(args: LoadArgs) -> Result<ExitCode> {
    let addr = util::resolve(&args.addr)?;
    args.shape.check()?;
    check_range("--threads", args.threads as u64, 1, MAX_THREADS)?;
    if addr.port() == 0 {
        return Err(usage(
            "cannot connect to port 0 (give the echo server's port in --addr)",
        ));
    }
    let opts = load::LoadOptions {
        addr,
        conns: args.shape.conns,
        size: args.shape.size,
        depth: args.shape.depth,
        duration: args.duration,
        warmup: args.warmup,
        threads: args.threads,
        backend: chosen_backend(args.backend, BackendChoice::Auto)?,
        connect_timeout: args.connect_timeout,
        progress: !args.json,
        rate: args.rate,
    };
    let report = load::run(&opts, &mut |_| {})?;
    if report.requests == 0 {
        anyhow::bail!(
            "no request to {addr} was answered ({} error(s){})",
            report.errors,
            report
                .first_error
                .as_deref()
                .map(|e| format!(", first: {e}"))
                .unwrap_or_default()
        );
    }
    if args.json {
        let mut v = report.json();
        v["run"] = util::run_info();
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        outln!("{}", report.summary());
    }
    Ok(if report.errors == 0 && report.requests > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn bench(args: BenchArgs) -> Result<ExitCode> {
    for &conns in &args.conns {
        for &size in &args.msg {
            check_shape(conns, size, args.depth)?;
        }
    }
    if args.plot.is_some() && args.conns.len() * args.msg.len() > 1 {
        return Err(usage(
            "--plot draws one workload: give one --conns and one --msg with it",
        ));
    }
    if args.servers.is_empty() {
        return Err(usage("--servers names no server"));
    }
    check_range("--rounds", args.rounds as u64, 1, 100)?;
    let opts = bench::BenchOptions {
        conns: args.conns,
        sizes: args.msg,
        depth: args.depth,
        rate: args.rate,
        duration: args.duration,
        warmup: args.warmup,
        rounds: args.rounds,
        servers: args.servers,
        server_cpu: args.server_cpu,
        client_cpu: args.client_cpu,
        json: args.json,
        plot: args.plot,
        verbose: args.verbose,
        client_backend: chosen_backend(args.client_backend, BackendChoice::Epoll)?,
    };
    Ok(if bench::run(&opts)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn copy(args: CopyArgs) -> Result<ExitCode> {
    check_range("--depth", args.depth as u64, 1, MAX_DEPTH)?;
    if (args.block as u64).saturating_mul(args.depth as u64) > 4 << 30 {
        return Err(usage("--block x --depth must be at most 4 GiB of buffers"));
    }
    let opts_src = args.src.display().to_string();
    let opts = copy::CopyOptions {
        src: args.src,
        dst: args.dst,
        block: args.block,
        depth: args.depth,
        backend: chosen_backend(args.backend, BackendChoice::Auto)?,
        progress: !args.quiet && !args.json,
    };
    let r = copy::run(&opts)?;
    if args.json {
        let secs = r.elapsed.as_secs_f64();
        let v = serde_json::json!({
            "run": util::run_info(),
            "src": opts_src,
            "dst": r.dst.display().to_string(),
            "bytes": r.bytes,
            "seconds": secs,
            "bytes_per_sec": r.bytes as f64 / secs.max(1e-9),
            "block": args.block,
            "depth": args.depth,
            "backend": r.backend.to_string(),
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else if !args.quiet {
        let secs = r.elapsed.as_secs_f64().max(1e-9);
        outln!(
            "copied {} to {} in {:.2} s ({}/s, {} backend)",
            fmt_bytes(r.bytes),
            r.dst.display(),
            secs,
            fmt_bytes((r.bytes as f64 / secs) as u64),
            r.backend
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn serve_peer(args: ServePeerArgs) -> Result<ExitCode> {
    if let Some(cpu) = args.cpu {
        util::pin_to_cpu(cpu).with_context(|| format!("cannot pin to CPU {cpu}"))?;
    }
    check_range("--workers", args.workers as u64, 1, MAX_THREADS)?;
    let addr = util::resolve(&args.addr)?;
    let listener = echo::bind(addr)?;
    peers::serve(args.kind, listener, args.workers)?;
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Echo(a) => echo(a),
        Command::Load(a) => load(a),
        Command::Bench(a) => bench(a),
        Command::Copy(a) => copy(a),
        Command::Info(a) => info::run(a.json).map(|()| ExitCode::SUCCESS),
        Command::ServePeer(a) => serve_peer(a),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // Reported like clap's own parse errors (usage line, exit status 2).
        Err(e) if e.downcast_ref::<UsageError>().is_some() => Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, format!("{e:#}"))
            .exit(),
        Err(e) => {
            let prefix = if std::io::stderr().is_terminal() {
                "\x1b[1;31merror:\x1b[0m"
            } else {
                "error:"
            };
            eprintln!("{prefix} {e:#}");
            ExitCode::FAILURE
        }
    }
}
