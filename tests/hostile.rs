//! A pool-based echo server (one receive or one send in flight per
//! connection, as IOCP servers are written) under a hostile client mix:
//! every echo matches, and once the clients have exited every server-side
//! socket is closed within 1 s (this process's fd count is back to where it
//! was). On each backend; the two never run at once (fds are counted
//! process-wide).

mod util;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cport::{BackendChoice, Handle, Packet, Pool, Port};
use util::hostile;

const RECV_SIZE: usize = 16 * 1024;
const ACCEPTS: usize = 4;
const MIX_TIME: Duration = Duration::from_secs(2);
const CLIENTS: usize = 4;

/// Serializes the tests of this file (fd counts are per process).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, Debug)]
enum Step {
    Accept,
    Recv(Handle),
    Send(Handle),
}

type EchoPort = Port<u64, Step>;

struct Server {
    port: EchoPort,
    listener: Handle,
    next_key: AtomicU64,
    accepted: AtomicU64,
}

impl Server {
    fn accept(&self) {
        // Refused only once the port shuts down.
        let _ = self.port.op(self.listener).accept(Step::Accept);
    }

    fn recv(&self, h: Handle, mut buf: Vec<u8>) {
        buf.resize(RECV_SIZE, 0);
        if self.port.op(h).recv(buf, Step::Recv(h)).is_err() {
            let _ = self.port.close_handle(h);
        }
    }

    fn handle(&self, mut p: Packet<u64, Step>) {
        match p.value {
            Step::Accept => {
                let stream = p.take_stream();
                if let (Ok(_), Some(stream)) = (&p.result, stream) {
                    let key = self.next_key.fetch_add(1, Ordering::Relaxed);
                    let h = self.port.associate(stream, key).expect("associate");
                    self.accepted.fetch_add(1, Ordering::Relaxed);
                    self.recv(h, Vec::new());
                }
                if !self.port.is_closed() {
                    self.accept();
                }
            }
            Step::Recv(h) => match p.result {
                Ok(n) if n > 0 => {
                    let mut buf = p.buf.take().expect("the receive's buffer");
                    buf.truncate(n);
                    if self.port.op(h).send(buf, Step::Send(h)).is_err() {
                        let _ = self.port.close_handle(h);
                    }
                }
                // End of stream, reset, aborted: done with the connection.
                _ => {
                    let _ = self.port.close_handle(h);
                }
            },
            Step::Send(h) => match p.result {
                Ok(_) => self.recv(h, p.buf.take().unwrap_or_default()),
                Err(_) => {
                    let _ = self.port.close_handle(h);
                }
            },
        }
    }
}

fn hostile_mix(backend: BackendChoice) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let start = hostile::fd_count("self");
    let (listener, addr) = util::listener();
    let port: EchoPort = util::builder(backend).concurrency(2).build().unwrap();
    let listener = port.associate(listener, 0).unwrap();
    let server = Arc::new(Server {
        port: port.clone(),
        listener,
        next_key: AtomicU64::new(1),
        accepted: AtomicU64::new(0),
    });
    for _ in 0..ACCEPTS {
        server.accept();
    }
    let pool = {
        let server = server.clone();
        Pool::start(&port, 2, move |_, p| server.handle(p)).unwrap()
    };
    let with_server = hostile::fd_count("self");

    let report = hostile::run_mix(addr, CLIENTS, MIX_TIME);
    let back = hostile::fds_back_to("self", with_server, Duration::from_secs(1));

    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(
        report.echoes_matched > 100 && report.resets > 100,
        "too little traffic to mean anything: {report:?}"
    );
    assert_eq!(
        back,
        Ok(()),
        "{} fds with the server up, more still 1 s after {} connections ended ({report:?})",
        with_server,
        server.accepted.load(Ordering::Relaxed)
    );
    let panics = pool.shutdown().panics;
    assert!(panics.is_empty(), "{panics:?}");
    drop(server);
    drop(port);
    assert_eq!(
        hostile::fds_back_to("self", start, Duration::from_secs(1)),
        Ok(())
    );
}

#[test]
fn uring_echo_survives_a_hostile_mix() {
    if util::uring_or_skip() {
        hostile_mix(BackendChoice::Uring);
    }
}

#[test]
fn epoll_echo_survives_a_hostile_mix() {
    hostile_mix(BackendChoice::Epoll);
}
