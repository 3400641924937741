//! Unix-domain sockets (listeners, streams, datagrams) and lending a
//! handle's fd, on each backend.

#[macro_use]
mod util;

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use cport::{BackendChoice, Port};
use socket2::{Domain, SockRef, Socket, Type};
use util::{pair, pending};

type IoPort = Port<u32, u32>;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// A socket path of its own for each test and backend.
fn socket_path(name: &str, b: BackendChoice) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "cport-{name}-{b:?}-{}-{:?}.sock",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

fn accept_on_a_unix_listener_yields_a_unix_stream(b: BackendChoice) {
    let port: IoPort = util::builder(b).build().unwrap();
    let path = socket_path("accept", b);
    let lh = port
        .associate(UnixListener::bind(&path).unwrap(), 1)
        .unwrap();
    pending(port.op(lh).accept(10));
    let mut client = UnixStream::connect(&path).unwrap();
    let mut p = port.get(WAIT).unwrap();
    assert_eq!(p.value, 10);
    assert!(p.result.is_ok());
    assert!(p.take_stream().is_none(), "not a TCP stream");
    let server = p.take_unix_stream().expect("the accepted Unix stream");
    assert!(p.take_unix_stream().is_none(), "taken once");
    let sh = port.associate(server, 2).unwrap();
    pending(port.op(sh).recv(Vec::with_capacity(32), 20));
    client.write_all(b"over unix").unwrap();
    let p = port.get(WAIT).unwrap();
    assert_eq!((p.key, p.buf.unwrap()), (2, b"over unix".to_vec()));
    std::fs::remove_file(&path).unwrap();
}

fn connect_unix_reaches_a_listener_by_path(b: BackendChoice) {
    let port: IoPort = util::builder(b).build().unwrap();
    let path = socket_path("connect", b);
    let listener = UnixListener::bind(&path).unwrap();
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    let h = port.associate(sock, 3).unwrap();
    pending(port.op(h).connect_unix(&path, 30));
    let p = port.get(WAIT).unwrap();
    assert_eq!((p.value, p.result.unwrap()), (30, 0));
    let (mut server, _) = listener.accept().unwrap();
    pending(port.op(h).send(b"hi".to_vec(), 31));
    assert_eq!(port.get(WAIT).unwrap().result.unwrap(), 2);
    let mut got = [0; 2];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hi");
    std::fs::remove_file(&path).unwrap();
}

fn connect_unix_refuses_a_path_too_long(b: BackendChoice) {
    let port: IoPort = util::builder(b).build().unwrap();
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    let h = port.associate(sock, 3).unwrap();
    let e = port.op(h).connect_unix("x".repeat(200), 7).unwrap_err();
    assert_eq!(
        (e.error.kind(), e.value),
        (std::io::ErrorKind::InvalidInput, 7)
    );
}

fn unix_datagrams_travel_whole(b: BackendChoice) {
    let port: IoPort = util::builder(b).build().unwrap();
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    let h = port.associate(ours, 4).unwrap();
    pending(port.op(h).recv(Vec::with_capacity(64), 40));
    theirs.send(b"one datagram").unwrap();
    let p = port.get(WAIT).unwrap();
    assert_eq!(p.buf.unwrap(), b"one datagram");
    pending(port.op(h).send(b"reply".to_vec(), 41));
    assert_eq!(port.get(WAIT).unwrap().result.unwrap(), 5);
    let mut got = [0; 16];
    let n = theirs.recv(&mut got).unwrap();
    assert_eq!(&got[..n], b"reply");
}

fn with_fd_lends_the_socket_until_the_handle_closes(b: BackendChoice) {
    let port: IoPort = util::builder(b).build().unwrap();
    let (h, client) = pair(&port);
    let peer = port
        .with_fd(h, |fd| SockRef::from(&fd).peer_addr())
        .unwrap()
        .unwrap();
    assert_eq!(peer.as_socket(), Some(client.local_addr().unwrap()));
    port.close_handle(h).unwrap();
    let e = port.with_fd(h, |_| ()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

conformance!(
    accept_on_a_unix_listener_yields_a_unix_stream,
    connect_unix_reaches_a_listener_by_path,
    connect_unix_refuses_a_path_too_long,
    unix_datagrams_travel_whole,
    with_fd_lends_the_socket_until_the_handle_closes,
);
