//! A hostile client mix for echo servers (shared by the crate's stress test
//! and the `cport echo` process test): normal echo rounds with every byte
//! checked, resets in the middle of a message, floods that never read and
//! then reset, and half-closes that read the echo to end of stream. Loopback
//! only, bounded by a duration and a thread count.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a run of the mix saw.
#[derive(Debug, Default)]
pub struct MixReport {
    /// Connections opened (each ends with a close or a reset).
    pub connections: u64,
    /// Echoes that came back whole and byte-exact.
    pub echoes_matched: u64,
    /// Bytes checked in those echoes.
    pub bytes_checked: u64,
    /// Connections ended by a reset on purpose.
    pub resets: u64,
    /// Everything that went wrong (empty on a correct server).
    pub failures: Vec<String>,
}

/// How long a client waits for an echo before calling it lost.
const ECHO_WAIT: Duration = Duration::from_secs(5);
/// Most failures kept as text.
const MAX_FAILURES: usize = 20;

/// A small deterministic generator (xorshift64*), seeded per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A message of `len` bytes whose content depends on `tag`, so that bytes
/// from another connection or an earlier round do not match.
fn message(tag: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (tag.wrapping_mul(31).wrapping_add(i as u64 * 7) % 251) as u8)
        .collect()
}

#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    echoes: AtomicU64,
    bytes: AtomicU64,
    resets: AtomicU64,
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, ECHO_WAIT)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(ECHO_WAIT))?;
    s.set_write_timeout(Some(ECHO_WAIT))?;
    Ok(s)
}

/// Ends `s` with a reset (SO_LINGER 0, then close).
fn reset(s: TcpStream) -> std::io::Result<()> {
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
    drop(s);
    Ok(())
}

/// A few echo rounds, each byte checked, then a normal close.
fn normal(addr: SocketAddr, rng: &mut Rng, counts: &Counts) -> Result<(), String> {
    let mut s = connect(addr).map_err(|e| format!("connect: {e}"))?;
    for round in 0..1 + rng.below(3) {
        let tag = rng.next();
        let msg = message(tag, 1 + rng.below(8192) as usize);
        s.write_all(&msg)
            .map_err(|e| format!("normal round {round}: send: {e}"))?;
        let mut back = vec![0; msg.len()];
        s.read_exact(&mut back)
            .map_err(|e| format!("normal round {round}: echo of {} bytes: {e}", msg.len()))?;
        if back != msg {
            return Err(format!("normal round {round}: echo differs"));
        }
        counts.echoes.fetch_add(1, Ordering::Relaxed);
        counts.bytes.fetch_add(msg.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Sends part of a message (sometimes reads part of its echo), then resets.
fn reset_mid_message(addr: SocketAddr, rng: &mut Rng, counts: &Counts) -> Result<(), String> {
    let mut s = connect(addr).map_err(|e| format!("connect: {e}"))?;
    let msg = message(rng.next(), 2 + rng.below(8192) as usize);
    let part = &msg[..msg.len() / 2];
    s.write_all(part).map_err(|e| format!("reset: send: {e}"))?;
    if rng.below(2) == 0 {
        let mut some = [0u8; 1];
        s.read_exact(&mut some)
            .map_err(|e| format!("reset: first echoed byte: {e}"))?;
        if some[0] != part[0] {
            return Err("reset: first echoed byte differs".into());
        }
    }
    reset(s).map_err(|e| format!("reset: {e}"))?;
    counts.resets.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Writes up to 1 MiB without reading any echo, then resets.
fn flood(addr: SocketAddr, rng: &mut Rng, counts: &Counts) -> Result<(), String> {
    let mut s = connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_nonblocking(true)
        .map_err(|e| format!("flood: nonblocking: {e}"))?;
    let chunk = message(rng.next(), 64 * 1024);
    let mut sent = 0usize;
    let give_up = Instant::now() + Duration::from_millis(50);
    while sent < 1 << 20 && Instant::now() < give_up {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(format!("flood: send: {e}")),
        }
    }
    reset(s).map_err(|e| format!("flood: reset: {e}"))?;
    counts.resets.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Sends a message, shuts down its sending side and reads the whole echo up
/// to end of stream (which the server sends only once it saw ours).
fn half_close(addr: SocketAddr, rng: &mut Rng, counts: &Counts) -> Result<(), String> {
    let mut s = connect(addr).map_err(|e| format!("connect: {e}"))?;
    let msg = message(rng.next(), rng.below(32 * 1024) as usize);
    s.write_all(&msg)
        .map_err(|e| format!("half-close: send: {e}"))?;
    s.shutdown(Shutdown::Write)
        .map_err(|e| format!("half-close: shutdown: {e}"))?;
    let mut back = Vec::with_capacity(msg.len());
    s.read_to_end(&mut back)
        .map_err(|e| format!("half-close: echo of {} bytes to EOF: {e}", msg.len()))?;
    if back != msg {
        return Err(format!(
            "half-close: echo differs ({} bytes back of {})",
            back.len(),
            msg.len()
        ));
    }
    counts.echoes.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(msg.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Runs the mix against `addr` from `threads` threads for `duration`, and
/// returns once every client socket is closed.
pub fn run_mix(addr: SocketAddr, threads: usize, duration: Duration) -> MixReport {
    let counts = Arc::new(Counts::default());
    let failures = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + duration;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let counts = counts.clone();
            let failures = failures.clone();
            thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1000_0001));
                let mut i = t as u64;
                while Instant::now() < deadline {
                    counts.connections.fetch_add(1, Ordering::Relaxed);
                    let r = match i % 4 {
                        0 => normal(addr, &mut rng, &counts),
                        1 => reset_mid_message(addr, &mut rng, &counts),
                        2 => flood(addr, &mut rng, &counts),
                        _ => half_close(addr, &mut rng, &counts),
                    };
                    i += 1;
                    if let Err(e) = r {
                        let mut f = failures.lock().unwrap();
                        if f.len() < MAX_FAILURES {
                            f.push(e);
                        } else if f.len() == MAX_FAILURES {
                            f.push("(more failures left out)".into());
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a client thread panicked");
    }
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    MixReport {
        connections: counts.connections.load(Ordering::Relaxed),
        echoes_matched: counts.echoes.load(Ordering::Relaxed),
        bytes_checked: counts.bytes.load(Ordering::Relaxed),
        resets: counts.resets.load(Ordering::Relaxed),
        failures,
    }
}

/// Open fds of process `pid` ("self" for this one).
pub fn fd_count(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits up to `within` for `pid`'s fd count to come back to `start`; the
/// last count seen otherwise.
pub fn fds_back_to(pid: &str, start: usize, within: Duration) -> Result<(), usize> {
    let until = Instant::now() + within;
    loop {
        let now = fd_count(pid);
        if now <= start {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(now);
        }
        thread::sleep(Duration::from_millis(5));
    }
}
