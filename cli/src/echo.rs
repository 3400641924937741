//! `cport echo`: a TCP echo server on a completion port, in the IOCP "seed"
//! model: a [`Pool`] of N worker threads waits in `port.get`; each packet's value says which
//! connection it belongs to and what step finished (accept, recv, send), and
//! the worker issues the connection's next operation.
//!
//! Shutdown (SIGINT/SIGTERM): the listener and every connection are closed,
//! which cancels their pending operations; the workers keep taking packets
//! until every issued operation has delivered its one packet, then the port is
//! closed, which releases all of them.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cport::{BackendChoice, Handle, IssueError, Packet, Pool, Port};

use crate::ops::{FixedBuf, Started};
use signal_hook::consts::{SIGINT, SIGTERM};

/// Bytes one receive asks for.
const RECV_SIZE: usize = 16 * 1024;
/// Accepts kept pending on the listener.
const ACCEPTS: usize = 4;

/// What finished: the per-operation value of every echo operation.
#[derive(Clone, Copy, Debug)]
enum Step {
    Accept,
    Recv(Handle),
    Send(Handle),
}

type EchoPort = Port<u64, Step, FixedBuf>;

/// Options of one echo server.
#[derive(Clone, Debug)]
pub struct EchoOptions {
    pub workers: usize,
    pub concurrency: usize,
    pub backend: BackendChoice,
    /// io_uring's cooperative task running (the library's default; see
    /// `Builder::uring_cooperative_task_run`).
    pub cooperative: bool,
    /// `--json`: stdout carries only the final statistics, so the start-up
    /// lines go to stderr.
    pub json: bool,
}

/// What the server did, printed when it stops.
#[derive(Debug, Default)]
pub struct EchoStats {
    pub connections: u64,
    pub messages: u64,
    pub bytes: u64,
    pub errors: u64,
    pub resets: u64,
    pub operations: u64,
    pub elapsed: Duration,
    /// The backend the server ran on.
    pub backend: String,
}

struct Conns {
    stopping: bool,
    next_id: u64,
    open: HashMap<u64, Handle>,
}

struct Server {
    port: EchoPort,
    listener: Handle,
    conns: Mutex<Conns>,
    /// Operations issued whose packet has not been handled yet.
    outstanding: AtomicUsize,
    connections: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    resets: AtomicU64,
    operations: AtomicU64,
}

/// The listener key; connections get keys from 1.
const LISTENER_KEY: u64 = 0;

impl Server {
    fn conns(&self) -> MutexGuard<'_, Conns> {
        // A worker that panicked cannot leave the table inconsistent (every
        // update is a single insert or remove), so poisoning is ignored.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an operation, counting it as outstanding and started.
    fn issue(
        &self,
        key: u64,
        start: impl FnOnce(&EchoPort) -> Started<Step, FixedBuf>,
    ) -> Option<IssueError<Step, FixedBuf>> {
        let r = crate::ops::issue(&self.port, &self.outstanding, key, start);
        if r.is_ok() {
            self.operations.fetch_add(1, Ordering::Relaxed);
        }
        r.err()
    }

    fn accept(&self) {
        if let Some(e) = self.issue(LISTENER_KEY, |p| p.op(self.listener).accept(Step::Accept)) {
            if !self.conns().stopping {
                eprintln!("cport echo: cannot accept: {}", e.error);
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn recv(&self, key: u64, h: Handle, mut buf: FixedBuf) {
        buf.set_len(buf.capacity());
        if self
            .issue(key, |p| p.op(h).recv(buf, Step::Recv(h)))
            .is_some()
        {
            self.close(key);
        }
    }

    /// Closes connection `key` unless someone else did already.
    fn close(&self, key: u64) {
        let handle = self.conns().open.remove(&key);
        if let Some(h) = handle {
            // Cancels the pending operation, if any; the fd is closed after
            // its packet was delivered.
            let _ = self.port.close_handle(h);
        }
    }

    fn handle(&self, p: Packet<u64, Step, FixedBuf>) {
        match p.value {
            Step::Accept => self.accepted(p),
            Step::Recv(h) => match p.result {
                Ok(0) => self.close(p.key),
                Ok(n) => {
                    self.messages.fetch_add(1, Ordering::Relaxed);
                    self.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let mut buf = p.buf.unwrap_or_else(|| FixedBuf::new(RECV_SIZE));
                    buf.set_len(n);
                    if self
                        .issue(p.key, |port| port.op(h).send(buf, Step::Send(h)))
                        .is_some()
                    {
                        self.close(p.key);
                    }
                }
                Err(e) => self.failed(p.key, &e),
            },
            Step::Send(h) => match p.result {
                Ok(_) => self.recv(p.key, h, p.buf.unwrap_or_else(|| FixedBuf::new(RECV_SIZE))),
                Err(e) => self.failed(p.key, &e),
            },
        }
    }

    fn failed(&self, key: u64, e: &std::io::Error) {
        if !cport::is_aborted(e) {
            let counter = match e.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                    &self.resets
                }
                _ => &self.errors,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.close(key);
    }

    fn accepted(&self, mut p: Packet<u64, Step, FixedBuf>) {
        let stream = p.take_stream();
        match (p.result, stream) {
            (Ok(_), Some(stream)) => {
                let _ = stream.set_nodelay(true);
                let mut conns = self.conns();
                if !conns.stopping {
                    conns.next_id += 1;
                    let key = conns.next_id;
                    match self.port.associate(stream, key) {
                        Ok(h) => {
                            conns.open.insert(key, h);
                            drop(conns);
                            self.connections.fetch_add(1, Ordering::Relaxed);
                            self.recv(key, h, FixedBuf::new(RECV_SIZE));
                        }
                        Err(e) => {
                            drop(conns);
                            eprintln!("cport echo: cannot associate a connection: {e}");
                            self.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            (Err(e), _) if cport::is_aborted(&e) => return, // listener closed
            (Err(e), _) => {
                // EMFILE, ENOBUFS, …: report, back off a little, go on.
                eprintln!("cport echo: accept failed: {e}");
                self.errors.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
            (Ok(_), None) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !self.conns().stopping {
            self.accept();
        }
    }

    /// Stops accepting and closes every connection. The port itself is closed
    /// once every operation delivered its packet (see `done`).
    fn stop(&self) {
        let handles: Vec<Handle> = {
            let mut conns = self.conns();
            if conns.stopping {
                return;
            }
            conns.stopping = true;
            conns.open.drain().map(|(_, h)| h).collect()
        };
        let _ = self.port.close_handle(self.listener);
        for h in handles {
            let _ = self.port.close_handle(h);
        }
        if self.outstanding.load(Ordering::SeqCst) == 0 {
            self.port.close();
        }
    }

    /// A packet was handled (and its follow-up issued): closes the port when
    /// it was the last one after `stop`.
    fn done(&self) {
        if self.outstanding.fetch_sub(1, Ordering::SeqCst) == 1 && self.conns().stopping {
            self.port.close();
        }
    }
}

/// Marks one packet as handled when dropped.
struct Done<'a>(&'a Server);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// Binds `addr` with a clear message when that fails.
/// Accept queue length asked for.
const LISTEN_BACKLOG: i32 = 8192;

pub fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .context("cannot create a socket")?;
    socket
        .set_reuse_address(true)
        .context("cannot set SO_REUSEADDR")?;
    socket.bind(&addr.into()).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (another program listens on that port; pick another with --addr)"
            }
            std::io::ErrorKind::AddrNotAvailable => {
                " (that address does not belong to this machine)"
            }
            std::io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
            _ => "",
        };
        anyhow::anyhow!("cannot listen on {addr}: {e}{hint}")
    })?;
    // The bench opens thousands of connections at once: a short accept
    // queue overflows, the kernel drops the handshakes' last ACKs, and those
    // connections wait seconds for retransmissions (the kernel caps this at
    // net.core.somaxconn).
    socket
        .listen(LISTEN_BACKLOG)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(socket.into())
}

/// Runs the echo server on `listener` until SIGINT or SIGTERM: prints
/// `listening on ADDR` and a line about the backend on stdout once it accepts
/// connections, and returns the statistics once every operation completed.
pub fn serve(listener: TcpListener, opts: &EchoOptions) -> Result<EchoStats> {
    // Register the signals before anyone can learn the address, so that a
    // SIGTERM sent right after start-up is handled.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot install the SIGINT/SIGTERM handlers")?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let port: EchoPort = Port::builder()
        .concurrency(opts.concurrency)
        .backend(opts.backend)
        .uring_cooperative_task_run(opts.cooperative)
        .build()
        .context("cannot create the completion port")?;
    let listener = port
        .associate(listener, LISTENER_KEY)
        .context("cannot associate the listener with the port")?;
    let server = Arc::new(Server {
        port: port.clone(),
        listener,
        conns: Mutex::new(Conns {
            stopping: false,
            next_id: LISTENER_KEY,
            open: HashMap::new(),
        }),
        outstanding: AtomicUsize::new(0),
        connections: AtomicU64::new(0),
        messages: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        resets: AtomicU64::new(0),
        operations: AtomicU64::new(0),
    });
    for _ in 0..ACCEPTS {
        server.accept();
    }
    if server.outstanding.load(Ordering::SeqCst) == 0 {
        anyhow::bail!("cannot accept connections on {local}");
    }
    let start = Instant::now();
    let pool = {
        let server = server.clone();
        Pool::start(&port, opts.workers.max(1), move |_port, packet| {
            // Counts the packet as handled even if the handler panics (the
            // pool contains the panic), so that shutdown still completes.
            let _done = Done(&server);
            server.handle(packet);
        })
    };
    let pool = match pool {
        Ok(pool) => pool,
        Err(e) => {
            server.stop();
            return Err(anyhow::Error::new(e).context("cannot start the worker threads"));
        }
    };
    {
        let server = server.clone();
        std::thread::Builder::new()
            .name("echo-signals".into())
            .spawn(move || {
                let mut first = true;
                for _ in signals.forever() {
                    if first {
                        first = false;
                        server.stop();
                    } else {
                        eprintln!("cport echo: second signal, exiting at once");
                        std::process::exit(130);
                    }
                }
            })
            .context("cannot start the signal thread")?;
    }
    let fallback = match port.fallback_reason() {
        Some(why) => format!(" (fell back from io_uring: {why})"),
        None => String::new(),
    };
    // How io_uring runs task work: as asked, or interrupting where the
    // kernel (before 5.19) refused cooperative task running.
    let mode = match port.backend_mode() {
        Some(mode) => format!(" ({mode})"),
        None => String::new(),
    };
    let mut out: Box<dyn Write> = if opts.json {
        Box::new(std::io::stderr().lock())
    } else {
        Box::new(std::io::stdout().lock())
    };
    writeln!(out, "listening on {local}")?;
    writeln!(
        out,
        "backend {}{mode}{fallback}, {} worker thread(s), concurrency {}",
        port.backend(),
        pool.workers(),
        port.limit()
    )?;
    out.flush()?;
    drop(out);

    // The workers exit when `stop` closed the port after the last packet.
    let report = pool.join();
    for panic in &report.panics {
        eprintln!("cport echo: a handler panicked: {panic}");
    }
    let leftover = port.drain().len() + report.panics.len();
    Ok(EchoStats {
        connections: server.connections.load(Ordering::Relaxed),
        messages: server.messages.load(Ordering::Relaxed),
        bytes: server.bytes.load(Ordering::Relaxed),
        errors: server.errors.load(Ordering::Relaxed) + leftover as u64,
        resets: server.resets.load(Ordering::Relaxed),
        operations: server.operations.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        backend: port.backend().to_string(),
    })
}

impl EchoStats {
    /// The statistics for `--json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "backend": self.backend,
            "seconds": self.elapsed.as_secs_f64(),
            "connections": self.connections,
            "messages": self.messages,
            "bytes": self.bytes,
            "errors": self.errors,
            "resets": self.resets,
            "operations": self.operations,
        })
    }
}

impl std::fmt::Display for EchoStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::util::{fmt_bytes, fmt_count};
        write!(
            f,
            "stopped after {:.1} s: {} connections, {} messages, {} echoed, {} errors, {} resets; all {} operations completed",
            self.elapsed.as_secs_f64(),
            fmt_count(self.connections),
            fmt_count(self.messages),
            fmt_bytes(self.bytes),
            fmt_count(self.errors),
            fmt_count(self.resets),
            fmt_count(self.operations),
        )
    }
}
