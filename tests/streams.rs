//! Offset-less reads and writes (pipes, eventfds) and the half-close
//! operation, on each backend.

#[macro_use]
mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use cport::{BackendChoice, Packet, Port};
use util::{pair, pending};

type IoPort = Port<u32, u32>;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// The next packets, `n` of them, in value order.
fn next_n(port: &IoPort, n: usize) -> Vec<Packet<u32, u32>> {
    let mut got: Vec<_> = (0..n).map(|_| port.get(WAIT).expect("a packet")).collect();
    got.sort_by_key(|p| p.value);
    got
}

/// A pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds are new and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn pipes_read_and_write_at_their_own_position(b: BackendChoice) {
    let port: IoPort = util::builder(b).build().unwrap();
    let (r, w) = pipe();
    let rh = port.associate(r, 1).unwrap();
    let wh = port.associate(w, 2).unwrap();
    pending(port.op(rh).read(Vec::with_capacity(64), 1));
    pending(port.op(wh).write(b"through a pipe".to_vec(), 2));
    let got = next_n(&port, 2);
    assert_eq!(got[1].result.as_ref().unwrap(), &14, "the write");
    assert_eq!(
        got[0].buf.as_deref(),
        Some(&b"through a pipe"[..]),
        "the read"
    );
    // The write end closed: the read ends with 0 (end of stream).
    pending(port.op(rh).read(Vec::with_capacity(64), 3));
    port.close_handle(wh).unwrap();
    let p = port.get(WAIT).unwrap();
    assert_eq!((p.value, p.result.unwrap()), (3, 0));
    assert!(p.buf.unwrap().is_empty());
}

fn eventfds_take_offset_less_reads_and_writes(b: BackendChoice) {
    let port: IoPort = util::builder(b).build().unwrap();
    // SAFETY: eventfd returns a new fd (checked) that nobody else owns.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: as above.
    let h = port
        .associate(unsafe { OwnedFd::from_raw_fd(fd) }, 5)
        .unwrap();
    pending(port.op(h).read(Vec::with_capacity(8), 1));
    pending(port.op(h).write(3u64.to_ne_bytes().to_vec(), 2));
    let got = next_n(&port, 2);
    assert_eq!(got[1].result.as_ref().unwrap(), &8);
    let counter = got[0].buf.as_deref().expect("the read's buffer");
    assert_eq!(counter, 3u64.to_ne_bytes());
}

fn shutdown_write_half_closes_after_the_sends_before_it(b: BackendChoice) {
    let port: IoPort = util::builder(b).build().unwrap();
    let (h, mut client) = pair(&port);
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    pending(port.op(h).send(b"bye".to_vec(), 1));
    pending(port.op(h).shutdown(Shutdown::Write, 2));
    let got = next_n(&port, 2);
    assert_eq!(got[0].result.as_ref().unwrap(), &3);
    assert_eq!(got[1].result.as_ref().unwrap(), &0);
    let mut all = Vec::new();
    client.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"bye", "the send, then end of stream");
    // Half-closed: the peer can still send to us.
    client.write_all(b"back").unwrap();
    pending(port.op(h).recv(Vec::with_capacity(8), 3));
    assert_eq!(port.get(WAIT).unwrap().buf.unwrap(), b"back");
}

conformance!(
    pipes_read_and_write_at_their_own_position,
    eventfds_take_offset_less_reads_and_writes,
    shutdown_write_half_closes_after_the_sends_before_it,
);
