//! Awaited operations (feature `futures`): the per-operation cell through
//! which one operation's completion goes to a waker instead of the port's
//! queue, the count of such operations in flight, and the port's driver
//! thread's park/unpark handshake (the thread itself is the port layer's).
//!
//! An operation started with a cell in its [`How`] carries the cell in its
//! slot. `finish` moves its packet (without the completion key: the awaiting
//! code knows its handle) into the cell and wakes the waker; the packet never
//! reaches the completion filter or the queue. A future dropped before its
//! operation completed marks the cell abandoned and cancels the operation;
//! the completion then drops the packet — value and buffers — on the thread
//! that reaped it, after the kernel is done with them.

use std::task::{Context, Poll, Waker};

use super::*;

/// The packet an awaited operation delivers to its cell.
pub(crate) type AwaitedPacket<V, B> = Packet<(), V, B>;

enum CellState<V, B> {
    /// In flight; the waker of the last poll, if any.
    Waiting(Option<Waker>),
    /// Completed; the packet waits for the future's next poll.
    Done(AwaitedPacket<V, B>),
    /// The future took the packet, or was dropped.
    Gone,
}

/// Where an awaited operation's packet goes; shared by the operation's slot
/// and its future.
pub(crate) struct AwaitCell<V, B> {
    state: Mutex<CellState<V, B>>,
}

impl<V, B> AwaitCell<V, B> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(AwaitCell {
            state: Mutex::new(CellState::Waiting(None)),
        })
    }

    /// The operation completed: keeps the packet for the future and wakes
    /// it, or drops the packet if the future is gone (after unlocking: a
    /// value's or buffer's drop is user code).
    pub(super) fn complete(&self, packet: AwaitedPacket<V, B>) {
        let mut state = self.state.lock();
        match &mut *state {
            CellState::Waiting(waker) => {
                let waker = waker.take();
                *state = CellState::Done(packet);
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            _ => {
                drop(state);
                drop(packet);
            }
        }
    }

    /// The future's poll: the packet, or `Pending` with the waker kept.
    /// `None` once the packet was taken.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Option<AwaitedPacket<V, B>>> {
        let mut state = self.state.lock();
        match &mut *state {
            CellState::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            CellState::Done(_) => match mem::replace(&mut *state, CellState::Gone) {
                CellState::Done(packet) => Poll::Ready(Some(packet)),
                _ => unreachable!("matched Done above"),
            },
            CellState::Gone => Poll::Ready(None),
        }
    }

    /// The future is dropped: returns whether the operation is still in
    /// flight (the caller cancels it; its completion will drop the packet).
    /// A packet that completed but was never taken is dropped here.
    pub(crate) fn abandon(&self) -> bool {
        let mut state = self.state.lock();
        let before = mem::replace(&mut *state, CellState::Gone);
        drop(state);
        matches!(before, CellState::Waiting(_))
    }
}

impl<K, V, B> Io<K, V, B> {
    /// Awaited operations in flight (started, packet not yet in its cell).
    pub(crate) fn awaited(&self) -> usize {
        self.awaited.load(Ordering::SeqCst)
    }

    /// Called by the driver thread before it looks for work and parks: a
    /// later [`wake_driver`](Self::wake_driver) unparks it.
    pub(crate) fn driver_going_idle(&self) {
        self.driver_idle.store(true, Ordering::SeqCst);
    }

    /// The thread that drives awaited operations (set once, when it starts,
    /// under the port's start lock).
    pub(crate) fn set_driver(&self, thread: std::thread::Thread) {
        let set = self.driver.set(thread);
        debug_assert!(set.is_ok(), "one driver thread per port");
    }

    pub(crate) fn has_driver(&self) -> bool {
        self.driver.get().is_some()
    }

    /// Unparks the driver thread if it is idle (or about to be): after an
    /// awaited operation started, or when the poller role fell free while
    /// awaited operations are in flight. No system call while it is busy.
    pub(crate) fn wake_driver(&self) {
        // Store-buffering with the driver: it stores `driver_idle` and then
        // reads `awaited`; we changed `awaited` (or the poller role) and read
        // `driver_idle` (all SeqCst): one of us sees the other.
        if self.driver_idle.swap(false, Ordering::SeqCst) {
            if let Some(thread) = self.driver.get() {
                thread.unpark();
            }
        }
    }
}
