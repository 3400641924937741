//! `bytes::Bytes` (send) and `bytes::BytesMut` (receive into its capacity)
//! as owned buffers, on each backend (feature `bytes`).

#[macro_use]
mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cport::{BackendChoice, Port};
use util::pending;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn bytes_send_and_bytes_mut_receives_into_capacity(b: BackendChoice) {
    let (l, addr) = util::listener();
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (server, _) = l.accept().unwrap();

    let port: Port<u32, u32, BytesMut> = util::builder(b).build().unwrap();
    let h = port.associate(server.try_clone().unwrap(), 1).unwrap();
    pending(port.op(h).recv(BytesMut::with_capacity(1024), 1));
    client.write_all(b"from the peer").unwrap();
    let p = port.get(WAIT).unwrap();
    assert_eq!(p.result.unwrap(), 13);
    assert_eq!(&p.buf.unwrap()[..], b"from the peer");
    // One port per socket: the first port lets go of it before the second
    // associates the same socket.
    drop(port);

    let port: Port<u32, u32, Bytes> = util::builder(b).build().unwrap();
    let h = port.associate(server, 1).unwrap();
    pending(port.op(h).send(Bytes::from_static(b"to the peer"), 1));
    assert_eq!(port.get(WAIT).unwrap().result.unwrap(), 11);
    let mut got = [0; 11];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"to the peer");
}

conformance!(bytes_send_and_bytes_mut_receives_into_capacity);
