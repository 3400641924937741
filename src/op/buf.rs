//! Buffers that operations own while the kernel uses them: the [`IoBuf`]
//! contract (stable memory) that every buffer type must keep.

/// A buffer an operation can own: the kernel reads from it (send, write) or
/// writes into it (recv, read) while the operation is in flight, and it comes
/// back in the operation's packet.
///
/// An operation uses the whole of `stable_len()` bytes: a recv into
/// `vec![0; 4096]` receives up to 4096 bytes at its start, and the packet's
/// `result` says how many.
///
/// # Safety
/// `stable_ptr` must return a pointer valid for reads and writes of
/// `stable_len()` bytes, and that memory must stay valid and unmoved when the
/// value itself is moved, until the value is dropped or used through another
/// method. Heap-backed buffers (`Vec<u8>`, `Box<[u8]>`) satisfy this.
pub unsafe trait IoBuf: Send + 'static {
    /// Start of the bytes the operation uses.
    fn stable_ptr(&mut self) -> *mut u8;
    /// How many bytes the operation uses.
    fn stable_len(&self) -> usize;
}

// SAFETY: a Vec's heap buffer does not move when the Vec is moved and is only
// reallocated through `&mut` methods, which the op layer does not call while
// the kernel uses it.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn stable_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: a boxed slice's heap memory does not move when the box is moved.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn stable_len(&self) -> usize {
        self.len()
    }
}
