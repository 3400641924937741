//! Completion packets: what a worker takes from a port. Built by the op
//! layer from a finished operation, or by a post; queued by the port core,
//! which sees them only as items, in the compact form of [`Queued`].
//! Depends only on `spares`.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::ptr;

use crate::spares::Spares;

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
/// inline, and the rest in one word. A posted packet (a byte count, no
/// buffer) stays three words for `Port<u64, u64>`; anything else keeps its
/// result, buffer and extras in a box that the word points to.
///
/// Why: the queue's slot size is what the post → get path pays for under a
/// backlog — every message is written to and read back from memory that is
/// no longer in cache. A whole `Packet<u64, u64>` makes a 72-byte slot; this
/// one makes 32, as crossbeam-channel's for a `(u64, usize, u64)`.
/// (crossbeam-channel carrying a 64-byte message instead falls to the speed
/// of the whole packet: `benches/port.rs`, 2 → 2.)
pub(crate) struct Queued<K, V, B> {
    key: K,
    value: V,
    rest: Rest<B>,
}

/// A success of `bytes` with no buffer and nothing extra (below 2^63 bytes)
/// is the odd address `bytes << 1 | 1`, which points nowhere; anything else
/// is a pointer from `Box::<Body<B>>::into_raw` (even: a `Body` is aligned
/// to at least 8).
struct Rest<B> {
    word: *mut Body<B>,
    _body: PhantomData<Box<Body<B>>>,
}

struct Body<B> {
    result: io::Result<usize>,
    buf: Option<B>,
    extra: Option<Box<Extra<B>>>,
}

impl<B> Rest<B> {
    #[inline]
    fn bytes(bytes: usize) -> Self {
        if bytes <= usize::MAX >> 1 {
            // An address with no allocation behind it, never dereferenced.
            let word = ptr::null_mut::<u8>().wrapping_add(bytes << 1 | 1).cast();
            Rest {
                word,
                _body: PhantomData,
            }
        } else {
            let body = Body {
                result: Ok(bytes),
                buf: None,
                extra: None,
            };
            Rest {
                word: Box::into_raw(Box::new(body)),
                _body: PhantomData,
            }
        }
    }

    #[inline]
    fn body(body: Body<B>, bodies: &Bodies<B>) -> Self {
        let word = match bodies.0.take() {
            Some(spare) => {
                // SAFETY: a spare is an unused allocation with `Body`'s
                // layout that `take` made ours (see `Bodies`); writing a body
                // into it makes it a valid `Box<Body<B>>`.
                unsafe { spare.write(body) };
                spare
            }
            None => Box::into_raw(Box::new(body)),
        };
        debug_assert!(!Self::is_bytes(word));
        Rest {
            word,
            _body: PhantomData,
        }
    }

    #[inline]
    fn is_bytes(word: *mut Body<B>) -> bool {
        word as usize & 1 == 1
    }

    /// The rest, taken apart; `self` is spent (its `Drop` does nothing
    /// after), and its box kept in `bodies` for the next one.
    #[inline]
    fn take(self, bodies: &Bodies<B>) -> Body<B> {
        let word = self.word;
        std::mem::forget(self);
        if Self::is_bytes(word) {
            return Body {
                result: Ok(word as usize >> 1),
                buf: None,
                extra: None,
            };
        }
        // SAFETY: an even word is a valid `Box<Body<B>>` (see `body`) owned
        // by this `Rest` alone, which was forgotten above: the body is moved
        // out exactly once, and the allocation is not read as a body again.
        let body = unsafe { ptr::read(word) };
        if let Err(spare) = bodies.0.keep(word) {
            // SAFETY: as above; its body was moved out, so it is freed as
            // uninitialised memory of the same layout.
            drop(unsafe { Box::from_raw(spare.cast::<MaybeUninit<Body<B>>>()) });
        }
        body
    }
}

impl<B> Drop for Rest<B> {
    fn drop(&mut self) {
        if !Self::is_bytes(self.word) {
            // SAFETY: an even word is this `Rest`'s own valid box (see
            // `body`), and a dropped `Rest` is never used again.
            drop(unsafe { Box::from_raw(self.word) });
        }
    }
}

// SAFETY: a `Rest` is a byte count or an owned `Box<Body<B>>` (see
// `_body`), so it may move or be shared between threads when that box may.
unsafe impl<B: Send> Send for Rest<B> {}
// SAFETY: as above; `&Rest` gives no access to the body at all.
unsafe impl<B: Sync> Sync for Rest<B> {}

impl<K, V, B> Queued<K, V, B> {
    /// What `post(key, bytes, value)` queues.
    #[inline]
    pub(crate) fn posted(key: K, bytes: usize, value: V) -> Self {
        Queued {
            key,
            value,
            rest: Rest::bytes(bytes),
        }
    }

    /// Queues `p`, its rest in a box from `bodies` when it needs one.
    #[inline]
    pub(crate) fn new(p: Packet<K, V, B>, bodies: &Bodies<B>) -> Self {
        let rest = match (p.result, p.buf, p.extra) {
            (Ok(n), None, None) => Rest::bytes(n),
            (result, buf, extra) => Rest::body(Body { result, buf, extra }, bodies),
        };
        Queued {
            key: p.key,
            value: p.value,
            rest,
        }
    }

    /// The packet again; its box goes back to `bodies`.
    #[inline]
    pub(crate) fn into_packet(self, bodies: &Bodies<B>) -> Packet<K, V, B> {
        let Body { result, buf, extra } = self.rest.take(bodies);
        Packet {
            key: self.key,
            result,
            value: self.value,
            buf,
            extra,
        }
    }
}

/// How many emptied boxes a port keeps (`Bodies`).
const BODY_SPARES: usize = 32;

/// The boxes of one port's queued packets, kept for reuse once emptied:
/// completions take them and `get` gives them back, so a steady stream of
/// I/O packets allocates nothing. A spare is an allocation with `Body<B>`'s
/// layout and no body in it.
pub(crate) struct Bodies<B>(Spares<Body<B>, BODY_SPARES>);

impl<B> Bodies<B> {
    pub(crate) fn new() -> Self {
        Bodies(Spares::new())
    }
}

impl<B> Drop for Bodies<B> {
    fn drop(&mut self) {
        self.0.drain(|spare| {
            // SAFETY: a spare is an unused allocation from `Box<Body<B>>`
            // holding no body (see `Rest::take`): freed as uninitialised
            // memory of that layout.
            drop(unsafe { Box::from_raw(spare.cast::<MaybeUninit<Body<B>>>()) })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_buf(v: u64) -> Packet<u64, u64> {
        Packet::new(1, 0, v).with_result(Ok(1), Some(vec![v as u8]))
    }

    #[test]
    fn queued_packets_come_back_whole() {
        assert_eq!(std::mem::size_of::<Queued<u64, u64, Vec<u8>>>(), 24);
        let bodies = Bodies::new();
        let round_trip = |p| Queued::new(p, &bodies).into_packet(&bodies);
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
        let q = Queued::<u64, u64, Vec<u8>>::posted(10, 11, 12).into_packet(&bodies);
        assert_eq!((q.key, q.result.unwrap(), q.value), (10, 11, 12));
        // Byte counts too large for the word go in a box.
        let q = Queued::<u64, u64, Vec<u8>>::posted(1, usize::MAX, 2).into_packet(&bodies);
        assert_eq!(q.result.unwrap(), usize::MAX);
    }

    #[test]
    fn boxes_are_reused_and_freed_once() {
        let bodies = Bodies::new();
        // Entries dropped unread free their box (Miri and ASan check).
        drop(Queued::new(with_buf(1), &bodies));
        drop(Queued::<u64, u64, Vec<u8>>::posted(1, 2, 3));
        // More packets at once than spares: the extra boxes are freed.
        let queued: Vec<_> = (0..2 * BODY_SPARES as u64)
            .map(|v| Queued::new(with_buf(v), &bodies))
            .collect();
        for (v, q) in queued.into_iter().enumerate() {
            assert_eq!(q.into_packet(&bodies).buf, Some(vec![v as u8]));
        }
        assert!(bodies.0.any(), "emptied boxes are kept");
        // A kept box carries the next packet's rest.
        let p = Queued::new(with_buf(7), &bodies).into_packet(&bodies);
        assert_eq!((p.value, p.buf), (7, Some(vec![7])));
    }
}
