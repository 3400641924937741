//! Owned buffers on each backend: a receive fills a buffer's capacity and
//! marks what arrived as initialised (`IoBufMut`), a send sends the
//! initialised bytes (`IoBuf`); slices, boxed arrays, static slices,
//! `FixedBuf`, and the explicit zero-byte receive (`readable`).

#[macro_use]
mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cport::{BackendChoice, FixedBuf, IoBuf, Packet, Port, Slice};
use util::pending;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// A connected pair: the server side associated with `port` (key 1), the
/// client side plain.
fn pair<B: IoBuf>(port: &Port<u32, u32, B>) -> (cport::Handle, TcpStream) {
    let (l, addr) = util::listener();
    let client = TcpStream::connect(addr).unwrap();
    let (server, _) = l.accept().unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (port.associate(server, 1).unwrap(), client)
}

fn next<B: IoBuf>(port: &Port<u32, u32, B>) -> Packet<u32, u32, B> {
    port.get(WAIT).expect("a packet within 10 s")
}

fn a_recv_into_spare_capacity_sets_the_length(b: BackendChoice) {
    let port: Port<u32, u32> = util::builder(b).build().unwrap();
    let (h, mut client) = pair(&port);
    pending(port.op(h).recv(Vec::with_capacity(4096), 1));
    client.write_all(b"hello").unwrap();
    let p = next(&port);
    assert_eq!(p.result.unwrap(), 5, "not a zero-byte probe");
    let buf = p.buf.unwrap();
    assert_eq!(buf, b"hello", "the received bytes, and only they");
    assert!(buf.capacity() >= 4096);
}

fn a_recv_with_nothing_received_exposes_nothing(b: BackendChoice) {
    let port: Port<u32, u32> = util::builder(b).build().unwrap();
    let (h, client) = pair(&port);
    pending(port.op(h).recv(Vec::with_capacity(64), 1));
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let p = next(&port);
    assert_eq!(p.result.unwrap(), 0, "end of stream");
    assert!(p.buf.unwrap().is_empty(), "no uninitialised byte exposed");
}

fn a_send_sends_the_initialised_bytes_only(b: BackendChoice) {
    let port: Port<u32, u32> = util::builder(b).build().unwrap();
    let (h, mut client) = pair(&port);
    let mut buf = Vec::with_capacity(4096);
    buf.extend_from_slice(b"ping");
    pending(port.op(h).send(buf, 1));
    assert_eq!(next(&port).result.unwrap(), 4);
    port.close_handle(h).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"ping");
}

fn vectored_receives_fill_each_capacity_in_order(b: BackendChoice) {
    let port: Port<u32, u32> = util::builder(b).build().unwrap();
    let (h, mut client) = pair(&port);
    let bufs = vec![Vec::with_capacity(3), Vec::with_capacity(8)];
    let caps: Vec<usize> = bufs.iter().map(Vec::capacity).collect();
    pending(port.op(h).recv_vectored(bufs, 1));
    let data = b"abcdefghij";
    client.write_all(&data[..caps[0] + 2]).unwrap();
    let mut p = next(&port);
    assert_eq!(*p.result.as_ref().unwrap(), caps[0] + 2);
    let bufs = p.take_bufs();
    assert_eq!(bufs[0], &data[..caps[0]]);
    assert_eq!(bufs[1], &data[caps[0]..caps[0] + 2]);
}

fn a_slice_receives_into_its_window_and_gives_the_buffer_back(b: BackendChoice) {
    let port: Port<u32, u32, Slice<Vec<u8>>> = util::builder(b).build().unwrap();
    let (h, mut client) = pair(&port);
    pending(port.op(h).recv(vec![b'.'; 12].slice(4..10), 1));
    client.write_all(b"abcdefgh").unwrap();
    let p = next(&port);
    assert_eq!(p.result.unwrap(), 6, "the window holds 6 bytes");
    assert_eq!(p.buf.unwrap().into_inner(), b"....abcdef..");
    // A slice of a buffer's initialised bytes sends them.
    pending(port.op(h).send(b"xxhiyy".to_vec().slice(2..4), 2));
    assert_eq!(next(&port).result.unwrap(), 2);
    let mut got = [0; 2];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hi");
}

fn static_slices_send_and_boxed_arrays_receive(b: BackendChoice) {
    let port: Port<u32, u32, &'static [u8]> = util::builder(b).build().unwrap();
    let (h, mut client) = pair(&port);
    pending(port.op(h).send(b"static", 1));
    assert_eq!(next(&port).result.unwrap(), 6);
    let mut got = [0; 6];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"static");

    let port: Port<u32, u32, Box<[u8; 8]>> = util::builder(b).build().unwrap();
    let (h, mut client) = pair(&port);
    pending(port.op(h).recv(Box::new([0; 8]), 1));
    client.write_all(b"arr").unwrap();
    let p = next(&port);
    assert_eq!(p.result.unwrap(), 3);
    assert_eq!(&p.buf.unwrap()[..], b"arr\0\0\0\0\0");
}

fn fixed_bufs_receive_into_their_capacity_and_send_their_length(b: BackendChoice) {
    let port: Port<u32, u32, FixedBuf> = util::builder(b).build().unwrap();
    let (h, mut client) = pair(&port);
    let mut buf = FixedBuf::new(64);
    buf.set_len(0);
    pending(port.op(h).recv(buf, 1));
    client.write_all(b"echo").unwrap();
    let p = next(&port);
    let n = p.result.unwrap();
    let mut buf = p.buf.unwrap();
    assert_eq!((n, &buf[..]), (4, &b"echo"[..]));
    buf.set_len(n);
    pending(port.op(h).send(buf, 2));
    assert_eq!(next(&port).result.unwrap(), 4);
    let mut got = [0; 4];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"echo");
}

fn readable_completes_when_data_is_there_without_consuming_it(b: BackendChoice) {
    let port: Port<u32, u32> = util::builder(b).build().unwrap();
    let (h, mut client) = pair(&port);
    pending(port.op(h).readable(1));
    assert!(
        port.get(Some(Duration::from_millis(50))).is_err(),
        "no data yet"
    );
    client.write_all(b"data").unwrap();
    let p = next(&port);
    assert_eq!((p.value, p.result.unwrap(), p.buf.is_none()), (1, 0, true));
    pending(port.op(h).recv(Vec::with_capacity(16), 2));
    assert_eq!(
        next(&port).buf.unwrap(),
        b"data",
        "the probe consumed nothing"
    );
}

fn read_at_fills_capacity_and_ends_with_zero_at_end_of_file(b: BackendChoice) {
    let port: Port<u32, u32> = util::builder(b).build().unwrap();
    let mut file = util::temp_file("buffers");
    file.write_all(b"file contents").unwrap();
    let h = port.associate(file, 3).unwrap();
    pending(port.op(h).read_at(Vec::with_capacity(100), 5, 1));
    let p = next(&port);
    assert_eq!(p.result.unwrap(), 8);
    assert_eq!(p.buf.unwrap(), b"contents");
    // At and past the end: Ok(0), std's convention, and nothing exposed.
    for offset in [13, 1000] {
        pending(port.op(h).read_at(Vec::with_capacity(10), offset, 2));
        let p = next(&port);
        assert_eq!(p.result.unwrap(), 0, "end of file at {offset}");
        assert!(p.buf.unwrap().is_empty());
    }
}

conformance!(
    a_recv_into_spare_capacity_sets_the_length,
    a_recv_with_nothing_received_exposes_nothing,
    a_send_sends_the_initialised_bytes_only,
    vectored_receives_fill_each_capacity_in_order,
    a_slice_receives_into_its_window_and_gives_the_buffer_back,
    static_slices_send_and_boxed_arrays_receive,
    fixed_bufs_receive_into_their_capacity_and_send_their_length,
    readable_completes_when_data_is_there_without_consuming_it,
    read_at_fills_capacity_and_ends_with_zero_at_end_of_file,
);
