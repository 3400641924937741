//! "Nothing lost, nothing doubled": churn and fault scenarios on both
//! backends, counting what goes in and what comes out. One test function so
//! that the open-fd count of the process is not disturbed by other tests.
//!
//! Checked after each scenario: every operation's value came back exactly
//! once (in a packet, an inline completion or an IssueError); every buffer
//! created was dropped; the process has the same open fds as before.

mod util;

use std::collections::HashSet;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use cport::{BackendChoice, IoBuf, IssueError, Issued, Packet, Port};

/// A buffer that counts how many exist.
struct Counted(Vec<u8>);
static LIVE_BUFFERS: AtomicI64 = AtomicI64::new(0);

impl Counted {
    fn new(len: usize) -> Self {
        LIVE_BUFFERS.fetch_add(1, Ordering::SeqCst);
        Counted(vec![7; len])
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        LIVE_BUFFERS.fetch_sub(1, Ordering::SeqCst);
    }
}
// SAFETY: delegates to Vec<u8>, whose heap memory does not move with the value.
unsafe impl IoBuf for Counted {
    fn stable_ptr(&mut self) -> *mut u8 {
        self.0.stable_ptr()
    }
    fn stable_len(&self) -> usize {
        self.0.len()
    }
}

type CPort = Port<u32, u64, Counted>;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Records each op value exactly once.
#[derive(Default)]
struct Ledger {
    issued: HashSet<u64>,
    returned: HashSet<u64>,
    next: u64,
}

impl Ledger {
    fn value(&mut self) -> u64 {
        self.next += 1;
        self.issued.insert(self.next);
        self.next
    }
    fn back(&mut self, v: u64) {
        assert!(self.issued.contains(&v), "value {v} was never issued");
        assert!(self.returned.insert(v), "value {v} came back twice");
    }
    fn outcome(&mut self, r: Result<Issued<u64, Counted>, IssueError<u64, Counted>>) -> bool {
        match r {
            Ok(Issued::Pending(_)) => true,
            Ok(Issued::Completed { value, .. }) => {
                self.back(value);
                false
            }
            Err(e) => {
                self.back(e.value);
                false
            }
        }
    }
    fn packet(&mut self, p: Packet<u32, u64, Counted>) {
        self.back(p.value);
    }
    fn check(&self) {
        assert_eq!(self.issued.len(), self.returned.len(), "values lost");
    }
}

fn port(b: BackendChoice) -> CPort {
    Port::builder().concurrency(2).backend(b).build().unwrap()
}

/// Collects packets until the ledger balances or 20 s pass.
fn settle(port: &CPort, ledger: &mut Ledger) {
    let start = Instant::now();
    while ledger.returned.len() < ledger.issued.len() {
        assert!(start.elapsed() < Duration::from_secs(20), "packets missing");
        if let Ok(p) = port.get(Some(Duration::from_millis(100))) {
            ledger.packet(p);
        }
    }
}

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Connections opening and closing: accept → recv → peer closes → close.
fn churn(b: BackendChoice) {
    let port = port(b);
    let mut ledger = Ledger::default();
    let (l, addr) = listener();
    let lh = port.associate(l, 0).unwrap();
    for _ in 0..300 {
        let v = ledger.value();
        assert!(ledger.outcome(port.op(lh).accept(v)));
        let mut c = TcpStream::connect(addr).unwrap();
        let mut p = port.get(Some(Duration::from_secs(10))).unwrap();
        let stream = p.take_stream().unwrap();
        ledger.back(p.value);
        let h = port.associate(stream, 1).unwrap();
        let v = ledger.value();
        assert!(ledger.outcome(port.op(h).recv(Counted::new(64), v)));
        c.write_all(b"hi").unwrap();
        drop(c);
        let p = port.get(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(p.result.as_ref().unwrap(), &2);
        ledger.packet(p);
        port.close_handle(h).unwrap();
    }
    port.close_handle(lh).unwrap();
    settle(&port, &mut ledger);
    ledger.check();
}

/// Peers that reset while a recv is pending; later calls fail at once.
fn resets(b: BackendChoice) {
    let port = port(b);
    let mut ledger = Ledger::default();
    let (l, addr) = listener();
    for _ in 0..100 {
        let c = TcpStream::connect(addr).unwrap();
        let (s, _) = l.accept().unwrap();
        let h = port.associate(s, 2).unwrap();
        let v = ledger.value();
        assert!(ledger.outcome(port.op(h).recv(Counted::new(64), v)));
        let c = socket2::Socket::from(c);
        c.set_linger(Some(Duration::ZERO)).unwrap();
        drop(c);
        let p = port.get(Some(Duration::from_secs(10))).unwrap();
        assert!(p.result.is_err());
        ledger.packet(p);
        let v = ledger.value();
        assert!(
            !ledger.outcome(port.op(h).send(Counted::new(8), v)),
            "fails at once after a reset"
        );
        port.close_handle(h).unwrap();
    }
    settle(&port, &mut ledger);
    ledger.check();
}

/// A peer that never reads: a large send stays pending (backpressure) until
/// shutdown cancels it; close and cancel race completions.
fn backpressure_and_shutdown(b: BackendChoice) {
    let port = port(b);
    let mut ledger = Ledger::default();
    let (l, addr) = listener();
    let mut peers = Vec::new();
    for i in 0..20 {
        let c = TcpStream::connect(addr).unwrap();
        let (s, _) = l.accept().unwrap();
        let h = port.associate(s, 3).unwrap();
        let v = ledger.value();
        assert!(ledger.outcome(port.op(h).send(Counted::new(8 << 20), v)));
        let v = ledger.value();
        assert!(ledger.outcome(port.op(h).recv(Counted::new(16), v)));
        if i % 2 == 0 {
            let _ = port.cancel(h);
        } else {
            port.close_handle(h).unwrap();
        }
        peers.push(c);
    }
    // Ops still pending (none here after cancel/close, but shutdown must cope).
    port.shutdown();
    let start = Instant::now();
    while ledger.returned.len() < ledger.issued.len() && start.elapsed() < Duration::from_secs(20) {
        match port.get(Some(Duration::from_millis(100))) {
            Ok(p) => ledger.packet(p),
            Err(cport::GetError::Closed) => break,
            Err(_) => {}
        }
    }
    for p in port.drain() {
        ledger.packet(p);
    }
    ledger.check();
    drop(peers);
}

/// Dropping a port with operations in flight (no shutdown) frees every buffer.
fn drop_with_ops_in_flight(b: BackendChoice) {
    let port = port(b);
    let mut ledger = Ledger::default();
    let (l, addr) = listener();
    let mut peers = Vec::new();
    for _ in 0..50 {
        let c = TcpStream::connect(addr).unwrap();
        let (s, _) = l.accept().unwrap();
        let h = port.associate(s, 4).unwrap();
        let v = ledger.value();
        assert!(ledger.outcome(port.op(h).recv(Counted::new(256), v)));
        peers.push(c);
    }
    drop(port);
    drop(peers);
}

#[test]
fn nothing_lost_nothing_doubled_no_fd_or_buffer_leaked() {
    let mut backends = vec![BackendChoice::Epoll];
    if util::uring_available() {
        backends.push(BackendChoice::Uring);
    }
    for b in backends {
        for (name, scenario) in [
            ("churn", churn as fn(BackendChoice)),
            ("resets", resets),
            ("backpressure_and_shutdown", backpressure_and_shutdown),
            ("drop_with_ops_in_flight", drop_with_ops_in_flight),
        ] {
            let fds = open_fds();
            scenario(b);
            assert_eq!(
                LIVE_BUFFERS.load(Ordering::SeqCst),
                0,
                "{b:?} {name}: buffers leaked"
            );
            // The epoll backend's file workers are threads, not fds; sockets
            // closed by the port are gone once its scenario returned.
            assert_eq!(open_fds(), fds, "{b:?} {name}: fds leaked");
        }
    }
}
