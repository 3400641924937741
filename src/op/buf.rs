//! Buffers that operations own while the kernel uses them: [`IoBuf`] (bytes
//! to send: the initialised part) and [`IoBufMut`] (room to receive into: the
//! whole capacity; the completion marks what arrived as initialised), their
//! implementations for the common owned buffers, the [`Slice`] adaptor and
//! [`FixedBuf`].

use std::ops::{Bound, RangeBounds};

/// A buffer an operation can own and send from: the kernel reads its first
/// [`bytes_init`](IoBuf::bytes_init) bytes while the operation is in flight,
/// and the buffer comes back in the operation's packet.
///
/// # Safety
/// `stable_ptr` must return a pointer valid for reads of `bytes_total()`
/// bytes, of which the first `bytes_init()` are initialised, and that memory
/// must stay valid and unmoved when the value itself is moved, until the
/// value is dropped or used through a `&mut` method. `bytes_init() <=
/// bytes_total()`. Heap-backed buffers (`Vec<u8>`, `Box<[u8]>`) satisfy this;
/// a plain array, which moves with its value, does not (use `Box<[u8; N]>`).
pub unsafe trait IoBuf: Send + 'static {
    /// Start of the buffer's memory.
    fn stable_ptr(&self) -> *const u8;
    /// How many bytes at the start are initialised (what a send sends).
    fn bytes_init(&self) -> usize;
    /// How many bytes the memory holds (what a receive may fill).
    fn bytes_total(&self) -> usize;

    /// The bytes `range` of this buffer, as a buffer an operation can own
    /// ([`Slice::into_inner`] gives the whole buffer back).
    ///
    /// # Panics
    /// If the range is not within `bytes_total()`.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1).expect("slice start overflows"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1).expect("slice end overflows"),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        assert!(
            begin <= end && end <= self.bytes_total(),
            "slice {begin}..{end} out of a buffer of {} bytes",
            self.bytes_total()
        );
        Slice {
            buf: self,
            begin,
            end,
        }
    }
}

/// A buffer an operation can receive into: the kernel writes into its
/// first `bytes_total()` bytes, and the completion calls
/// [`set_init`](IoBufMut::set_init) with the number of bytes it wrote, so
/// that `Vec::with_capacity(4096)` comes back with the received bytes as
/// its length. Bytes never written are never exposed as initialised.
///
/// # Safety
/// As [`IoBuf`], and `stable_mut_ptr` must be valid for writes of
/// `bytes_total()` bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// Start of the buffer's memory, for writing.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// Marks the first `n` bytes as initialised (a buffer whose initialised
    /// part is longer already keeps it).
    ///
    /// # Safety
    /// The first `n` bytes must have been written (initialised), and `n <=
    /// bytes_total()`.
    unsafe fn set_init(&mut self, n: usize);
}

/// The buffer impls of the common owned buffers, all of which start at
/// `as_ptr()` and have their first `len()` bytes initialised. Each use says
/// why the type keeps the contract.
///
/// - `growable`: `IoBuf` and `IoBufMut` with `capacity()` bytes in all; a
///   receive sets the length to what arrived (never shorter).
/// - `initialised`: `IoBuf` with all `len()` bytes initialised, and with
///   `mut` `IoBufMut` too (a receive only overwrites initialised bytes:
///   nothing to mark).
macro_rules! owned_buf {
    (@io_buf $t:ty, total: $total:ident $(, const $n:ident)?) => {
        // SAFETY: stated where the macro is used.
        unsafe impl<$(const $n: usize)?> IoBuf for $t {
            fn stable_ptr(&self) -> *const u8 {
                self.as_ptr()
            }
            fn bytes_init(&self) -> usize {
                self.len()
            }
            fn bytes_total(&self) -> usize {
                self.$total()
            }
        }
    };
    (growable $t:ty) => {
        owned_buf!(@io_buf $t, total: capacity);

        // SAFETY: stated where the macro is used.
        unsafe impl IoBufMut for $t {
            fn stable_mut_ptr(&mut self) -> *mut u8 {
                self.as_mut_ptr()
            }
            unsafe fn set_init(&mut self, n: usize) {
                if n > self.len() {
                    // SAFETY: the caller wrote the first `n <= capacity` bytes.
                    unsafe { self.set_len(n) };
                }
            }
        }
    };
    (initialised $t:ty $(, const $n:ident)?) => {
        owned_buf!(@io_buf $t, total: len $(, const $n)?);
    };
    (initialised $t:ty $(, const $n:ident)?, mut) => {
        owned_buf!(@io_buf $t, total: len $(, const $n)?);

        // SAFETY: stated where the macro is used.
        unsafe impl<$(const $n: usize)?> IoBufMut for $t {
            fn stable_mut_ptr(&mut self) -> *mut u8 {
                self.as_mut_ptr()
            }
            unsafe fn set_init(&mut self, _n: usize) {}
        }
    };
}

// SAFETY: a Vec's heap buffer does not move when the Vec is moved and is only
// reallocated through `&mut` methods, which the op layer does not call while
// the kernel uses it; its first `len` bytes are initialised, and the spare
// capacity is valid for writes.
owned_buf!(growable Vec<u8>);

// SAFETY: a boxed slice's heap memory does not move when the box is moved,
// and all of it is initialised and writable.
owned_buf!(initialised Box<[u8]>, mut);

// SAFETY: a boxed array's heap memory does not move when the box is moved,
// and all of it is initialised and writable.
owned_buf!(initialised Box<[u8; N]>, const N, mut);

// SAFETY: static memory never moves nor is freed. Send only: no `IoBufMut`.
owned_buf!(initialised &'static [u8]);

// SAFETY: `Bytes` is an immutable, reference-counted view whose memory does
// not move when the handle moves. Send only.
#[cfg(feature = "bytes")]
owned_buf!(initialised bytes::Bytes);

// SAFETY: a `BytesMut`'s memory does not move when the handle moves and is
// reallocated only through `&mut` methods the op layer does not call; its
// first `len` bytes are initialised, and the spare capacity is valid for
// writes.
#[cfg(feature = "bytes")]
owned_buf!(growable bytes::BytesMut);

/// The bytes `begin..end` of a buffer, as a buffer of their own (made by
/// [`IoBuf::slice`]): a send sends its initialised part, a receive fills it
/// from `begin`. [`into_inner`](Slice::into_inner) gives the buffer back.
#[derive(Debug)]
pub struct Slice<T> {
    buf: T,
    begin: usize,
    end: usize,
}

impl<T> Slice<T> {
    /// The whole buffer, back.
    pub fn into_inner(self) -> T {
        self.buf
    }
    /// Where the slice starts in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }
    /// Where the slice ends in the buffer.
    pub fn end(&self) -> usize {
        self.end
    }
    /// The buffer.
    pub fn get_ref(&self) -> &T {
        &self.buf
    }
}

// SAFETY: a window into a buffer that keeps its own contract; `begin <= end
// <= bytes_total()` (checked by `slice`), so the pointer and lengths stay
// inside it.
unsafe impl<T: IoBuf> IoBuf for Slice<T> {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: `begin <= bytes_total()`: inside the buffer or one past it.
        unsafe { self.buf.stable_ptr().add(self.begin) }
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as above.
unsafe impl<T: IoBufMut> IoBufMut for Slice<T> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: as in `stable_ptr`.
        unsafe { self.buf.stable_mut_ptr().add(self.begin) }
    }
    unsafe fn set_init(&mut self, n: usize) {
        // A receive wrote `begin..begin + n`; the buffer's bytes before
        // `begin` count as initialised only if they were already.
        if self.buf.bytes_init() >= self.begin {
            // SAFETY: `0..begin` was initialised and the caller wrote
            // `begin..begin + n`, within the buffer (`n <= end - begin`).
            unsafe { self.buf.set_init(self.begin + n) };
        }
    }
}

/// A fixed heap buffer of which an operation uses the first `len` bytes: a
/// receive fills up to `capacity()`, a send sends `len` bytes, and nothing
/// is reallocated or zeroed between the two (set the length to send with
/// [`set_len`](FixedBuf::set_len)).
#[derive(Debug)]
pub struct FixedBuf {
    data: Box<[u8]>,
    len: usize,
}

impl FixedBuf {
    /// A zeroed buffer of `capacity` bytes, all in use.
    pub fn new(capacity: usize) -> Self {
        FixedBuf {
            data: vec![0; capacity].into_boxed_slice(),
            len: capacity,
        }
    }

    /// How many bytes it holds.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// How many bytes are in use.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Uses the first `len` bytes (at most the capacity) from now on.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.data.len());
    }
}

impl std::ops::Deref for FixedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl std::ops::DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.data[..self.len]
    }
}

// SAFETY: the bytes live in a boxed slice, whose heap memory does not move
// when the `FixedBuf` moves and is never reallocated; all of it is
// initialised (zeroed at creation), and `len <= capacity`.
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.data.len()
    }
}

// SAFETY: as above; all of it is writable.
unsafe impl IoBufMut for FixedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // All of it is initialised: a receive only makes `len` cover what
        // arrived, if it was shorter.
        self.len = self.len.max(n.min(self.data.len()));
    }
}

/// How the op layer reaches a receiving buffer's `IoBufMut` methods: taken
/// where the buffer type is known to be `IoBufMut` (the receiving calls)
/// and kept in the op's slot, so the rest of the op layer needs only `IoBuf`.
pub(crate) struct RecvAccess<B> {
    pub(crate) ptr: fn(&mut B) -> *mut u8,
    pub(crate) set_init: unsafe fn(&mut B, usize),
}

impl<B> Clone for RecvAccess<B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B> Copy for RecvAccess<B> {}

impl<B: IoBufMut> RecvAccess<B> {
    pub(crate) fn of() -> Self {
        RecvAccess {
            ptr: B::stable_mut_ptr,
            set_init: B::set_init,
        }
    }
}

/// Where the kernel reads or writes the bytes of `b`: for a receive (with
/// `recv`), all of its capacity; for a send, its initialised bytes.
pub(crate) fn window<B: IoBuf>(b: &mut B, recv: Option<RecvAccess<B>>) -> (*mut u8, usize) {
    match recv {
        Some(access) => ((access.ptr)(b), b.bytes_total()),
        // The kernel only reads through this pointer (a send).
        None => (b.stable_ptr().cast_mut(), b.bytes_init()),
    }
}
