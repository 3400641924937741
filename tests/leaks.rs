//! "Nothing lost, nothing doubled": churn and fault scenarios on both
//! backends, counting what goes in and what comes out. One test function so
//! that the open-fd count of the process is not disturbed by other tests.
//!
//! Checked after each scenario: every operation's value came back exactly
//! once (in a packet, an inline completion or an IssueError); every buffer
//! created was dropped; the process has the same open fds as before.

mod util;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cport::{BackendChoice, IoBuf, IoBufMut, IssueError, Issued, Packet, Pool, Port};

/// A buffer that counts how many exist.
struct Counted(Vec<u8>);
static LIVE_BUFFERS: AtomicI64 = AtomicI64::new(0);

impl Counted {
    fn new(len: usize) -> Self {
        LIVE_BUFFERS.fetch_add(1, Ordering::SeqCst);
        Counted(vec![7; len])
    }
    /// Zeroed: a large one is mapped lazily, never touched unless written.
    fn zeroed(len: usize) -> Self {
        LIVE_BUFFERS.fetch_add(1, Ordering::SeqCst);
        Counted(vec![0; len])
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        LIVE_BUFFERS.fetch_sub(1, Ordering::SeqCst);
    }
}
// SAFETY: delegates to Vec<u8>, whose heap memory does not move with the value.
unsafe impl IoBuf for Counted {
    fn stable_ptr(&self) -> *const u8 {
        self.0.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.0.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.0.bytes_total()
    }
}

// SAFETY: delegates to Vec<u8>.
unsafe impl IoBufMut for Counted {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.0.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.0.set_init(n) }
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

/// Whether this process may open the two sockets per connection of `conns`
/// loopback connections (plus a margin for the port, the test harness and
/// tests running beside it), after raising its soft limit; notes the skip
/// where even the hard limit is too low.
fn enough_fds(scenario: &str, b: BackendChoice, conns: usize) -> bool {
    match util::raise_fd_limit(2 * conns as u64 + 512) {
        Ok(()) => true,
        Err(why) => {
            util::skip_note(&format!("leaks::{scenario} ({b:?})"), &why);
            false
        }
    }
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

/// A listener with room for many pending connections.
fn big_listener() -> (socket2::Socket, SocketAddr) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.listen(4096).unwrap();
    let a = s.local_addr().unwrap().as_socket().unwrap();
    (s, a)
}

/// The step an operation's value stands for (in its top byte).
const ACCEPT: u64 = 1 << 56;
const RECV: u64 = 2 << 56;
const SEND: u64 = 3 << 56;
const STEP: u64 = 0xFF << 56;

/// State of the pooled echo server of `thousands_of_connections`.
struct Echo {
    ledger: Mutex<Ledger>,
    conns: Mutex<HashMap<u32, cport::Handle>>,
    accepted: Mutex<usize>,
    listener: cport::Handle,
}

impl Echo {
    fn issue(
        &self,
        step: u64,
        start: impl FnOnce(u64) -> Result<Issued<u64, Counted>, IssueError<u64, Counted>>,
    ) {
        let v = {
            let mut l = self.ledger.lock().unwrap();
            l.next += 1;
            let v = step | l.next;
            l.issued.insert(v);
            v
        };
        let r = start(v);
        self.ledger.lock().unwrap().outcome(r);
    }

    fn handle(&self, port: &CPort, mut p: Packet<u32, u64, Counted>, conns_wanted: usize) {
        self.ledger.lock().unwrap().back(p.value);
        match p.value & STEP {
            ACCEPT => {
                let Some(stream) = p.take_stream() else {
                    return; // aborted: the listener was closed
                };
                let id = {
                    let mut n = self.accepted.lock().unwrap();
                    *n += 1;
                    if *n + 64 <= conns_wanted {
                        self.issue(ACCEPT, |v| port.op(self.listener).accept(v));
                    }
                    *n as u32
                };
                let h = port.associate(stream, id).unwrap();
                self.conns.lock().unwrap().insert(id, h);
                self.issue(RECV, |v| port.op(h).recv(Counted::new(64), v));
            }
            RECV | SEND => {
                let h = self.conns.lock().unwrap()[&p.key];
                match (p.value & STEP, p.result) {
                    (RECV, Ok(n)) if n > 0 => {
                        let buf = p.buf.take().unwrap();
                        self.issue(SEND, |v| port.op(h).send(buf, v));
                    }
                    (SEND, Ok(_)) => {
                        let buf = p.buf.take().unwrap();
                        self.issue(RECV, |v| port.op(h).recv(buf, v));
                    }
                    _ => {
                        // End of stream or an error: this connection is done.
                        self.conns.lock().unwrap().remove(&p.key);
                        let _ = port.close_handle(h);
                    }
                }
            }
            _ => unreachable!(),
        }
    }
}

/// Thousands of connections open at once, each echoed once and then closed by
/// its peer, served by a worker pool (the IOCP server shape).
fn thousands_of_connections(b: BackendChoice) {
    const CONNS: usize = 2000;
    if !enough_fds("thousands_of_connections", b, CONNS) {
        return;
    }
    let port = port(b);
    let (l, addr) = big_listener();
    let echo = Arc::new(Echo {
        ledger: Mutex::new(Ledger::default()),
        conns: Mutex::new(HashMap::new()),
        accepted: Mutex::new(0),
        listener: port.associate(l, 0).unwrap(),
    });
    for _ in 0..64 {
        echo.issue(ACCEPT, |v| port.op(echo.listener).accept(v));
    }
    let pool = {
        let echo = echo.clone();
        Pool::start(&port, 2, move |port, p| echo.handle(port, p, CONNS)).unwrap()
    };
    let mut clients: Vec<TcpStream> = (0..CONNS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let msg = [(i % 251) as u8; 64];
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(&msg).unwrap();
        let mut back = [0; 64];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    drop(clients);
    util::wait_until("every connection was closed", || {
        *echo.accepted.lock().unwrap() == CONNS && echo.conns.lock().unwrap().is_empty()
    });
    port.close_handle(echo.listener).unwrap();
    util::wait_until("every value came back", || {
        let l = echo.ledger.lock().unwrap();
        l.returned.len() == l.issued.len()
    });
    let report = pool.shutdown();
    assert!(report.panics.is_empty(), "{:?}", report.panics);
    echo.ledger.lock().unwrap().check();
}

/// Shutdown with thousands of operations in flight: a recv and a send that
/// cannot finish (the peer never reads) on each of 1000 connections. Every
/// value comes back once; a send is whole or aborted, never short.
fn shutdown_with_thousands_in_flight(b: BackendChoice) {
    const CONNS: usize = 1000;
    const SEND: usize = 256 << 10;
    if !enough_fds("shutdown_with_thousands_in_flight", b, CONNS) {
        return;
    }
    let port = port(b);
    let mut ledger = Ledger::default();
    let (l, addr) = big_listener();
    let l: TcpListener = l.into();
    let mut peers = Vec::new();
    for _ in 0..CONNS {
        let c = TcpStream::connect(addr).unwrap();
        socket2::SockRef::from(&c)
            .set_recv_buffer_size(4096)
            .unwrap();
        let (s, _) = l.accept().unwrap();
        socket2::SockRef::from(&s)
            .set_send_buffer_size(4096)
            .unwrap();
        let h = port.associate(s, 5).unwrap();
        let v = ledger.value();
        assert!(ledger.outcome(port.op(h).recv(Counted::new(64), v)));
        let v = ledger.value();
        assert!(ledger.outcome(port.op(h).send(Counted::new(SEND), v)));
        peers.push(c);
    }
    let in_flight = port.shutdown();
    assert!(in_flight >= CONNS, "{in_flight} in flight");
    loop {
        match port.get(Some(Duration::from_secs(20))) {
            Ok(p) => {
                if let Ok(n) = p.result {
                    assert!(n == SEND || n == 0, "a short success: {n}");
                }
                ledger.packet(p);
            }
            Err(cport::GetError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    for p in port.drain() {
        ledger.packet(p);
    }
    ledger.check();
    drop(peers);
}

/// Close and cancel race completions: data arrives for pending recvs while
/// their handles are being closed or cancelled. Each recv ends exactly once,
/// with its data or aborted.
fn close_and_cancel_race_completions(b: BackendChoice) {
    const CONNS: usize = 300;
    let port = port(b);
    let mut ledger = Ledger::default();
    let (l, addr) = listener();
    let mut clients = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..CONNS {
        clients.push(TcpStream::connect(addr).unwrap());
        let h = port.associate(l.accept().unwrap().0, 6).unwrap();
        let v = ledger.value();
        assert!(ledger.outcome(port.op(h).recv(Counted::new(16), v)));
        handles.push(h);
    }
    let writer = std::thread::spawn(move || {
        for c in &mut clients {
            let _ = c.write_all(b"race");
        }
        clients
    });
    for (i, &h) in handles.iter().enumerate() {
        if i % 2 == 0 {
            let _ = port.cancel(h); // NotFound if the recv already finished
        } else {
            port.close_handle(h).unwrap();
        }
    }
    let clients = writer.join().unwrap();
    let start = Instant::now();
    while ledger.returned.len() < ledger.issued.len() {
        assert!(start.elapsed() < Duration::from_secs(20), "packets missing");
        if let Ok(p) = port.get(Some(Duration::from_millis(100))) {
            match &p.result {
                Ok(n) => assert_eq!(*n, 4),
                Err(e) => assert!(cport::is_aborted(e), "{e}"),
            }
            ledger.packet(p);
        }
    }
    for (i, &h) in handles.iter().enumerate() {
        if i % 2 == 0 {
            port.close_handle(h).unwrap();
        }
    }
    settle(&port, &mut ledger);
    ledger.check();
    drop(clients);
}

/// Bad input loses nothing: zero-length and very large buffers, too many
/// vectors, operations on a closed handle, a second close, a cancel with
/// nothing pending, a handle associated twice.
fn bad_input(b: BackendChoice) {
    let port = port(b);
    let mut ledger = Ledger::default();
    let (l, addr) = listener();
    let mut c = TcpStream::connect(addr).unwrap();
    let (s, _) = l.accept().unwrap();
    let dup = s.try_clone().unwrap();
    let h = port.associate(s, 7).unwrap();
    // A second association of the same socket is refused (and the dup closed).
    assert_eq!(
        port.associate(dup, 8).unwrap_err().kind(),
        std::io::ErrorKind::AlreadyExists
    );
    // A zero-length send succeeds with 0 bytes, as WSASend does.
    let v = ledger.value();
    assert!(ledger.outcome(port.op(h).send(Counted::new(0), v)));
    let p = port.get(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(p.result.as_ref().unwrap(), &0);
    ledger.packet(p);
    // More than 2 GiB - 1 (a completion's byte count), in one buffer or in
    // all of a vectored op's (mapped lazily, never touched): refused at once,
    // the buffers back.
    let v = ledger.value();
    match port.op(h).recv(Counted::zeroed(3 << 30), v) {
        Err(e) => {
            assert_eq!(e.error.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!(e.buf.map(|b| b.0.len()), Some(3 << 30));
            ledger.back(e.value);
        }
        Ok(_) => panic!("{b:?}: a 3 GiB recv was started"),
    }
    let v = ledger.value();
    let halves = vec![Counted::zeroed(3 << 29), Counted::zeroed(3 << 29)];
    match port.op(h).recv_vectored(halves, v) {
        Err(e) => {
            assert_eq!(e.error.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!(e.bufs.len(), 2);
            ledger.back(e.value);
        }
        Ok(_) => panic!("{b:?}: a 3 GiB vectored recv was started"),
    }
    // The largest allowed receive works.
    let v = ledger.value();
    assert!(ledger.outcome(port.op(h).recv(Counted::zeroed(i32::MAX as usize), v)));
    c.write_all(b"big").unwrap();
    let p = port.get(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(p.result.as_ref().unwrap(), &3);
    ledger.packet(p);
    // 1025 vectors: refused at once, every buffer back.
    let v = ledger.value();
    let bufs = (0..1025).map(|_| Counted::new(1)).collect();
    match port.op(h).send_vectored(bufs, v) {
        Err(e) => {
            assert_eq!(e.error.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!(e.bufs.len(), 1025);
            ledger.back(e.value);
        }
        Ok(_) => panic!("1025 vectors accepted"),
    }
    // Nothing pending: cancel says so.
    assert_eq!(
        port.cancel(h).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    port.close_handle(h).unwrap();
    assert!(port.close_handle(h).is_err(), "double close");
    let v = ledger.value();
    assert!(!ledger.outcome(port.op(h).recv(Counted::new(8), v)));
    settle(&port, &mut ledger);
    ledger.check();
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
    if util::uring_or_skip() {
        backends.push(BackendChoice::Uring);
    }
    for b in backends {
        for (name, scenario) in [
            ("churn", churn as fn(BackendChoice)),
            ("resets", resets),
            ("backpressure_and_shutdown", backpressure_and_shutdown),
            ("drop_with_ops_in_flight", drop_with_ops_in_flight),
            ("thousands_of_connections", thousands_of_connections),
            (
                "shutdown_with_thousands_in_flight",
                shutdown_with_thousands_in_flight,
            ),
            (
                "close_and_cancel_race_completions",
                close_and_cancel_race_completions,
            ),
            ("bad_input", bad_input),
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
