//! Completion packets: what a worker takes from a port. Built by the op
//! layer from a finished operation, or by a post; queued by the port core,
//! which sees them only as items. Depends on nothing else in the crate.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

/// A completion packet: what a worker takes from the port.
///
/// `key` is the completion key of the handle the operation ran on (or whatever
/// was posted), `result` the number of bytes transferred or the operation's
/// error, and `value` the per-operation value given when the operation was
/// issued (the analogue of an `OVERLAPPED`-embedding struct).
pub struct Packet<K, V, B = Vec<u8>> {
    /// Per-handle data (the completion key).
    pub key: K,
    /// Bytes transferred, or why the operation failed (see
    /// [`is_aborted`](crate::is_aborted); a per-operation timeout gives
    /// `ErrorKind::TimedOut`).
    pub result: io::Result<usize>,
    /// Per-operation data, returned intact.
    pub value: V,
    /// The operation's buffer, returned (recv/send/read/write).
    pub buf: Option<B>,
    /// What only some operations return (accept, recv_from, vectored ops),
    /// boxed so that every packet stays small: packets are moved through the
    /// queue and the hand-off by value.
    extra: Option<Box<Extra<B>>>,
}

/// The rarely present parts of a packet.
pub(crate) struct Extra<B> {
    pub(crate) bufs: Vec<B>,
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) stream: Option<Accepted>,
    pub(crate) msg: Option<MsgInfo>,
}

/// What a `recv_msg` reports besides the bytes: recvmsg(2)'s `msg_flags`
/// (`MSG_TRUNC`, `MSG_CTRUNC`, ...) and how many bytes of ancillary data it
/// wrote at the start of the control buffer.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgInfo {
    pub flags: i32,
    pub control_len: usize,
}

/// The socket an accept produced, and whether it is a Unix socket.
pub(crate) struct Accepted {
    pub(crate) fd: OwnedFd,
    pub(crate) unix: bool,
}

impl<K, V, B> Packet<K, V, B> {
    /// A packet as `post` would queue it: a successful result of `bytes`.
    pub fn new(key: K, bytes: usize, value: V) -> Self {
        Packet {
            key,
            result: Ok(bytes),
            value,
            buf: None,
            extra: None,
        }
    }

    /// A finished operation's packet, built in one step (the hot path of
    /// every completion: no intermediate packet is moved).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn completed(
        key: K,
        value: V,
        result: io::Result<usize>,
        buf: Option<B>,
        bufs: Vec<B>,
        addr: Option<SocketAddr>,
        stream: Option<Accepted>,
        msg: Option<MsgInfo>,
    ) -> Self {
        let extra =
            (!bufs.is_empty() || addr.is_some() || stream.is_some() || msg.is_some()).then(|| {
                Box::new(Extra {
                    bufs,
                    addr,
                    stream,
                    msg,
                })
            });
        Packet {
            key,
            result,
            value,
            buf,
            extra,
        }
    }

    pub(crate) fn with_result(mut self, result: io::Result<usize>, buf: Option<B>) -> Self {
        self.result = result;
        self.buf = buf;
        self
    }

    /// A `recv_msg`'s flags and control-data length (`None` for other
    /// operations, and for a receive that failed).
    #[doc(hidden)]
    pub fn msg_info(&self) -> Option<MsgInfo> {
        self.extra.as_ref().and_then(|e| e.msg)
    }

    /// The peer of an accept, or the source of a recv_from.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.extra.as_ref().and_then(|e| e.addr)
    }

    /// The TCP connection an accept produced (not yet associated with any
    /// port); `None` the second time, and for an accept on a Unix listener
    /// (see [`take_unix_stream`](Packet::take_unix_stream)).
    pub fn take_stream(&mut self) -> Option<TcpStream> {
        self.take_accepted(false).map(TcpStream::from)
    }

    /// The Unix-socket connection an accept on a `UnixListener` produced;
    /// `None` the second time, and for an accept on a TCP listener.
    pub fn take_unix_stream(&mut self) -> Option<UnixStream> {
        self.take_accepted(true).map(UnixStream::from)
    }

    /// The socket an accept produced, whatever its family (TCP or Unix);
    /// `None` the second time.
    pub fn take_accepted_fd(&mut self) -> Option<OwnedFd> {
        self.extra.as_mut()?.stream.take().map(|a| a.fd)
    }

    fn take_accepted(&mut self, unix: bool) -> Option<OwnedFd> {
        let extra = self.extra.as_mut()?;
        if extra.stream.as_ref()?.unix != unix {
            return None;
        }
        extra.stream.take().map(|a| a.fd)
    }

    /// The buffers of a vectored operation, in order.
    pub fn bufs(&self) -> &[B] {
        self.extra.as_ref().map_or(&[], |e| &e.bufs)
    }

    /// Takes the buffers of a vectored operation back.
    pub fn take_bufs(&mut self) -> Vec<B> {
        self.extra
            .as_mut()
            .map(|e| std::mem::take(&mut e.bufs))
            .unwrap_or_default()
    }
}

impl<K: fmt::Debug, V: fmt::Debug, B> fmt::Debug for Packet<K, V, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("key", &self.key)
            .field("result", &self.result)
            .field("value", &self.value)
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

/// A packet as the port's queue and hand-off carry it: key and value
/// inline, and the rest in one enum. A posted packet (a byte count, no
/// buffer) stays three words for `Port<u64, u64>`; anything else keeps its
/// result, buffer and extras in a box.
///
/// Why: the queue's slot size is what the post → get path pays for under a
/// backlog — every message is written to and read back from memory that is
/// no longer in cache. A whole `Packet<u64, u64>` makes a 72-byte slot; this
/// one makes 40. (crossbeam-channel carrying a 64-byte message instead of
/// a 24-byte one falls to the same speed as the whole packet:
/// `benches/port.rs`, 2 → 2.)
pub(crate) struct Queued<K, V, B> {
    key: K,
    value: V,
    rest: Rest<B>,
}

enum Rest<B> {
    /// A success of this many bytes with no buffer and nothing extra.
    Bytes(usize),
    Body(Box<Body<B>>),
}

struct Body<B> {
    result: io::Result<usize>,
    buf: Option<B>,
    extra: Option<Box<Extra<B>>>,
}

impl<K, V, B> Queued<K, V, B> {
    /// What `post(key, bytes, value)` queues.
    #[inline]
    pub(crate) fn posted(key: K, bytes: usize, value: V) -> Self {
        Queued {
            key,
            value,
            rest: Rest::Bytes(bytes),
        }
    }

    #[inline]
    pub(crate) fn into_packet(self) -> Packet<K, V, B> {
        let (result, buf, extra) = match self.rest {
            Rest::Bytes(n) => (Ok(n), None, None),
            Rest::Body(body) => {
                let Body { result, buf, extra } = *body;
                (result, buf, extra)
            }
        };
        Packet {
            key: self.key,
            result,
            value: self.value,
            buf,
            extra,
        }
    }
}

impl<K, V, B> From<Packet<K, V, B>> for Queued<K, V, B> {
    #[inline]
    fn from(p: Packet<K, V, B>) -> Self {
        let rest = match (p.result, p.buf, p.extra) {
            (Ok(n), None, None) => Rest::Bytes(n),
            (result, buf, extra) => Rest::Body(Box::new(Body { result, buf, extra })),
        };
        Queued {
            key: p.key,
            value: p.value,
            rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(p: Packet<u64, u64>) -> Packet<u64, u64> {
        Queued::from(p).into_packet()
    }

    #[test]
    fn queued_packets_come_back_whole() {
        assert!(std::mem::size_of::<Queued<u64, u64, Vec<u8>>>() <= 32);
        let p = round_trip(Packet::new(1, 2, 3));
        assert_eq!((p.key, p.result.unwrap(), p.value, p.buf), (1, 2, 3, None));
        let p = round_trip(Packet::new(4, 0, 5).with_result(Ok(3), Some(vec![7; 3])));
        assert_eq!((p.key, p.value, p.result.unwrap()), (4, 5, 3));
        assert_eq!(p.buf, Some(vec![7; 3]));
        let err = io::Error::from_raw_os_error(libc::ECONNRESET);
        let p = round_trip(Packet::new(6, 0, 7).with_result(Err(err), None));
        assert_eq!(p.result.unwrap_err().raw_os_error(), Some(libc::ECONNRESET));
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let p = Packet::completed(8, 9, Ok(1), None, vec![vec![1]], Some(addr), None, None);
        let mut p = round_trip(p);
        assert_eq!((p.addr(), p.take_bufs()), (Some(addr), vec![vec![1]]));
        let q = Queued::<u64, u64, Vec<u8>>::posted(10, 11, 12).into_packet();
        assert_eq!((q.key, q.result.unwrap(), q.value), (10, 11, 12));
    }
}
