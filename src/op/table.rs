//! The op table: every started operation's [`Slot`], stored inline and
//! indexed by the slot index of its `user_data`. A completion finds its slot
//! with one lookup (no pointer to chase), and a start fills, in place, the
//! slot the last finished operation left (still in cache): nothing is moved
//! in or out. Finished slots keep their allocations (kernel area, iovecs'
//! array) for the next operation.
//!
//! The kernel never points into a slot itself, only at heap memory the slot
//! owns (buffers, iovecs, kernel area; see [`Slot`]), so slots may move when
//! the table grows. The table keeps as many slots as were ever in flight at
//! once, each with its kernel area (about 400 bytes a slot), until the port
//! is dropped.

use std::ops::{Index, IndexMut};

use super::slots::{KernelBox, Operation, Slot, Stage, Stop};
use crate::backend::user_data::MAX_IN_FLIGHT;
use std::time::{Duration, Instant};

/// What a slot starts with: the operation, its value and buffers, and how
/// it is issued.
pub(super) struct SlotInit<V, B> {
    pub(super) handle: usize,
    pub(super) operation: Operation,
    pub(super) value: V,
    pub(super) buf: Option<B>,
    pub(super) bufs: Vec<B>,
    pub(super) offset: u64,
    pub(super) timeout: Option<Duration>,
}

/// Where a slot is in its life (see [`OpTable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Use {
    /// Free: holds only its allocations; on the free list.
    Free,
    /// Claimed by a start that has not entered it yet: invisible to lookups
    /// and iteration, as if the op did not exist.
    Claimed,
    /// An operation in flight (in the kernel or waiting in its lane).
    Live,
}

pub(super) struct OpTable<V, B> {
    slots: Vec<Slot<V, B>>,
    /// Indices of free slots, the most recently freed last (taken first).
    free: Vec<usize>,
    /// Live slots.
    live: usize,
}

impl<V, B> Default for OpTable<V, B> {
    fn default() -> Self {
        OpTable {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }
}

impl<V, B> OpTable<V, B> {
    /// Operations in flight.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    /// Claims a slot for a new operation and fills it from `init`, in place.
    /// `Err(init)` if the table has [`MAX_IN_FLIGHT`] slots and none is free.
    #[inline]
    pub(super) fn claim(&mut self, init: SlotInit<V, B>) -> Result<usize, SlotInit<V, B>> {
        let index = match self.free.pop() {
            Some(index) => index,
            None if self.slots.len() < MAX_IN_FLIGHT => {
                self.slots.push(Slot {
                    user_data: 0,
                    stage: Stage::Kernel,
                    handle: 0,
                    operation: init.operation,
                    stop: Stop::None,
                    value: None,
                    buf: None,
                    bufs: Vec::new(),
                    iovecs: Vec::new(),
                    kernel: KernelBox::new(),
                    timeout: None,
                    deadline: None,
                    offset: 0,
                    done: 0,
                    recv: None,
                    control: None,
                    #[cfg(feature = "futures")]
                    awaiter: None,
                    usage: Use::Free,
                });
                self.slots.len() - 1
            }
            None => return Err(init),
        };
        let slot = &mut self.slots[index];
        debug_assert_eq!(slot.usage, Use::Free);
        slot.usage = Use::Claimed;
        slot.user_data = 0;
        slot.stage = Stage::Kernel;
        slot.handle = init.handle;
        slot.operation = init.operation;
        slot.stop = Stop::None;
        slot.value = Some(init.value);
        slot.buf = init.buf;
        slot.bufs = init.bufs;
        slot.iovecs.clear();
        slot.timeout = init.timeout;
        slot.deadline = init.timeout.and_then(|t| Instant::now().checked_add(t));
        slot.offset = init.offset;
        slot.done = 0;
        slot.recv = None;
        slot.control = None;
        #[cfg(feature = "futures")]
        {
            slot.awaiter = None;
        }
        Ok(index)
    }

    /// The claimed slot `index` becomes a live operation.
    #[inline]
    pub(super) fn enter(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        debug_assert_eq!(slot.usage, Use::Claimed);
        slot.usage = Use::Live;
        self.live += 1;
    }

    /// Frees slot `index` (live or claimed): its value and buffers come out,
    /// its allocations stay for the next operation.
    ///
    /// Only once the backend returned the op's completion (or never got the
    /// op): the kernel may be using the slot's memory until then.
    #[inline]
    pub(super) fn release(&mut self, index: usize) -> (Option<V>, Option<B>, Vec<B>) {
        let slot = &mut self.slots[index];
        debug_assert_ne!(slot.usage, Use::Free);
        if slot.usage == Use::Live {
            self.live -= 1;
        }
        slot.usage = Use::Free;
        #[cfg(feature = "futures")]
        {
            slot.awaiter = None;
        }
        let taken = (
            slot.value.take(),
            // A RecvMsg has no `buf`: its control buffer comes back instead.
            slot.buf.take().or_else(|| slot.control.take()),
            std::mem::take(&mut slot.bufs),
        );
        self.free.push(index);
        taken
    }

    /// The live operation in slot `index`, if there is one.
    #[inline]
    pub(super) fn get(&self, index: usize) -> Option<&Slot<V, B>> {
        self.slots.get(index).filter(|s| s.usage == Use::Live)
    }

    /// What is left in slot `index` after [`release`](Self::release) (its
    /// record: kind, stage, stop, handle, kernel area), until the slot is
    /// claimed again — which cannot happen while the caller holds the table.
    #[inline]
    pub(super) fn released_mut(&mut self, index: usize) -> &mut Slot<V, B> {
        let slot = &mut self.slots[index];
        debug_assert_eq!(slot.usage, Use::Free);
        slot
    }

    /// The live operation in slot `index`, if there is one.
    #[inline]
    pub(super) fn get_mut(&mut self, index: usize) -> Option<&mut Slot<V, B>> {
        self.slots.get_mut(index).filter(|s| s.usage == Use::Live)
    }

    /// Every live operation, with its slot index.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Slot<V, B>)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter(|(_, s)| s.usage == Use::Live)
    }
}

/// A live or claimed slot (panics on an index never handed out, as a slab
/// does: the op layer only indexes slots it claimed).
impl<V, B> Index<usize> for OpTable<V, B> {
    type Output = Slot<V, B>;
    #[inline]
    fn index(&self, index: usize) -> &Slot<V, B> {
        let slot = &self.slots[index];
        debug_assert_ne!(slot.usage, Use::Free);
        slot
    }
}

impl<V, B> IndexMut<usize> for OpTable<V, B> {
    #[inline]
    fn index_mut(&mut self, index: usize) -> &mut Slot<V, B> {
        let slot = &mut self.slots[index];
        debug_assert_ne!(slot.usage, Use::Free);
        slot
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn init(value: u32) -> SlotInit<u32, Vec<u8>> {
        SlotInit {
            handle: 3,
            operation: Operation::Recv,
            value,
            buf: Some(vec![1, 2]),
            bufs: Vec::new(),
            offset: 0,
            timeout: None,
        }
    }

    #[test]
    fn claimed_slots_are_invisible_until_entered_and_freed_ones_are_reused_last_first() {
        let mut t = OpTable::default();
        let a = t.claim(init(1)).ok().unwrap();
        let b = t.claim(init(2)).ok().unwrap();
        assert_ne!(a, b);
        assert_eq!(t.len(), 0);
        assert!(t.get_mut(a).is_none(), "claimed, not live");
        t.enter(a);
        t.enter(b);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get_mut(b).unwrap().value, Some(2));
        let kernel_a = t[a].kernel.0;
        assert_eq!(t.release(a), (Some(1), Some(vec![1, 2]), Vec::new()));
        assert_eq!(t.len(), 1);
        assert!(t.get_mut(a).is_none(), "freed");
        assert_eq!(t.iter_mut().map(|(i, _)| i).collect::<Vec<_>>(), [b]);
        // The slot just freed is the next one claimed, with its allocations.
        let c = t.claim(init(3)).ok().unwrap();
        assert_eq!(c, a);
        assert_eq!(t[c].kernel.0, kernel_a);
        assert_eq!(t[c].value, Some(3));
        // A claimed slot can be given back without ever entering.
        assert_eq!(t.release(c).0, Some(3));
        assert_eq!(t.len(), 1);
    }
}
