//! Instructions (and simulated cache misses) per operation round trip — a
//! recv is started, its peer writes, `get` returns its packet — on one
//! thread, over Unix socket pairs: for callgrind / cachegrind.
//!
//! Arguments: round trips (default 10000), backend (`epoll` or `uring`,
//! default epoll), socket pairs (default 1). With more than one pair, a recv
//! is in flight on every pair and the round trips go round them in turn, as
//! a server's completions go round its connections.
//!
//! ```text
//! cargo build --release --example op_roundtrip
//! valgrind --tool=callgrind ./target/release/examples/op_roundtrip 0 uring 5000
//! valgrind --tool=callgrind ./target/release/examples/op_roundtrip 20000 uring 5000
//! ```
//! (The difference of the two counts divided by 20000: one round trip.)

use std::io::Write;
use std::os::unix::net::UnixStream;

use cport::{BackendChoice, Handle, Port};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(10_000, |a| a.parse().expect("count"));
    let choice: BackendChoice = args
        .next()
        .map_or(BackendChoice::Epoll, |a| a.parse().expect("backend"));
    let pairs: usize = args.next().map_or(1, |a| a.parse().expect("pairs"));
    let port: Port<u64, usize> = Port::builder()
        .concurrency(1)
        .backend(choice)
        .build()
        .expect("port");
    let mut peers: Vec<(Handle, UnixStream)> = (0..pairs)
        .map(|i| {
            let (ours, peer) = UnixStream::pair().expect("pair");
            (port.associate(ours, i as u64).expect("associate"), peer)
        })
        .collect();
    let recv = |h: Handle, buf: Vec<u8>, i: usize| {
        if let Err(e) = port.op(h).recv(buf, i) {
            panic!("recv: {}", e.error);
        }
    };
    for (i, (h, _)) in peers.iter().enumerate() {
        recv(*h, Vec::with_capacity(64), i);
    }
    let mut sum = 0;
    for round in 0..n {
        let i = round as usize % pairs;
        peers[i].1.write_all(&[7u8; 64]).expect("write");
        let mut p = port.get(None).expect("get");
        assert_eq!(p.value, i, "the packet of the pair written to");
        sum += p.result.expect("recv ok") as u64;
        let mut buf = p.buf.take().expect("buf");
        buf.clear();
        recv(peers[i].0, buf, i);
    }
    println!("{sum}");
}
