//! The handle table: ports, sockets, files, events, semaphores and mutexes behind validated
//! `HANDLE` / `SOCKET` values, and threads and the process heap behind
//! `HANDLE`s too. Also what needs the table on the way into the engine
//! (registering a new socket or file, resolving `OVERLAPPED.hEvent`) and
//! `CloseHandle`, which closes any kind of object.
//!
//! A value is `((generation << 22) | (index + 1)) << 2`:
//! * a multiple of 4, so the low bit of `OVERLAPPED.hEvent` is free for the
//!   "no completion packet" flag;
//! * below 2³¹, so programs that squeeze a `SOCKET` into an `int` still work;
//! * never 0 nor `INVALID_HANDLE_VALUE`, and never a small number such as a
//!   Linux fd (the generation starts at 1);
//! * a stale value (its slot was freed, or reused by a later object: the
//!   generation differs) or a foreign one resolves to nothing.
//!
//! Freed slots are reused in FIFO order, so a stale value only becomes valid
//! again after its slot went round all 127 generations.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::RwLock;

use std::os::fd::OwnedFd;

use crate::engine::cport::CPort;
use crate::engine::signal::{Event, ThreadObj};
use crate::engine::{self, IoObj, ObjKind, Prepared};
use crate::error::{boundary, fail};
use crate::types::*;

const INDEX_BITS: u32 = 22;
const MAX_SLOTS: usize = (1 << INDEX_BITS) - 1;
const GENERATIONS: u8 = 127;

/// What a handle refers to.
#[derive(Clone)]
pub(crate) enum Object {
    Port(Arc<CPort>),
    Io(Arc<IoObj>),
    Event(Arc<Event>),
    /// A thread made by `CreateThread`: waitable, signalled when it exits.
    Thread(Arc<ThreadObj>),
    /// A semaphore (`CreateSemaphore`): waitable.
    Semaphore(Arc<crate::sync::semaphore::Semaphore>),
    /// A mutex (`CreateMutex`): waitable.
    Mutex(Arc<crate::sync::mutex::MutexObj>),
    /// The process heap (`GetProcessHeap`): not a kernel object, so
    /// `CloseHandle` refuses it.
    Heap,
}

struct Slot {
    generation: u8,
    object: Option<Object>,
}

struct Table {
    slots: Vec<Slot>,
    free: VecDeque<usize>,
}

static TABLE: RwLock<Table> = RwLock::new(Table {
    slots: Vec::new(),
    free: VecDeque::new(),
});

fn encode(index: usize, generation: u8) -> usize {
    ((usize::from(generation) << INDEX_BITS) | (index + 1)) << 2
}

fn decode(value: usize) -> Option<(usize, u8)> {
    if value & 3 != 0 || value >= 1 << 31 {
        return None;
    }
    let v = value >> 2;
    let index = (v & MAX_SLOTS).checked_sub(1)?;
    let generation = (v >> INDEX_BITS) as u8;
    (generation != 0).then_some((index, generation))
}

/// Inserts an object; returns its handle value, or `None` if the table is full.
pub(crate) fn insert(object: Object) -> Option<usize> {
    insert_with(|_| object)
}

/// Inserts the object `make` builds from its own handle value.
pub(crate) fn insert_with(make: impl FnOnce(usize) -> Object) -> Option<usize> {
    let mut t = TABLE.write();
    // Keep a reserve of freed slots before reusing one, so stale values stay
    // invalid for a while.
    let index = if t.free.len() > 64 || t.slots.len() >= MAX_SLOTS {
        t.free.pop_front()?
    } else {
        t.slots.push(Slot {
            generation: 0,
            object: None,
        });
        t.slots.len() - 1
    };
    let slot = &mut t.slots[index];
    slot.generation = slot.generation % GENERATIONS + 1;
    let value = encode(index, slot.generation);
    slot.object = Some(make(value));
    Some(value)
}

/// The object behind `value`, if it is a live handle.
pub(crate) fn get(value: usize) -> Option<Object> {
    let (index, generation) = decode(value)?;
    let t = TABLE.read();
    let slot = t.slots.get(index)?;
    if slot.generation != generation {
        return None;
    }
    slot.object.clone()
}

/// Removes and returns the object behind `value` (CloseHandle); `None` if the
/// value is not a live handle, e.g. on a second close.
pub(crate) fn remove(value: usize) -> Option<Object> {
    remove_if(value, |_| true)
}

/// Removes the object behind `value` if `pred` accepts it.
pub(crate) fn remove_if(value: usize, pred: impl FnOnce(&Object) -> bool) -> Option<Object> {
    let (index, generation) = decode(value)?;
    let mut t = TABLE.write();
    let slot = t.slots.get_mut(index)?;
    if slot.generation != generation || !slot.object.as_ref().is_some_and(pred) {
        return None;
    }
    let object = slot.object.take();
    t.free.push_back(index);
    object
}

pub(crate) fn port(value: usize) -> Option<Arc<CPort>> {
    match get(value)? {
        Object::Port(p) => Some(p),
        _ => None,
    }
}

pub(crate) fn io(value: usize) -> Option<Arc<IoObj>> {
    match get(value)? {
        Object::Io(o) => Some(o),
        _ => None,
    }
}

pub(crate) fn event(value: usize) -> Option<Arc<Event>> {
    match get(value)? {
        Object::Event(e) => Some(e),
        _ => None,
    }
}

pub(crate) fn thread(value: usize) -> Option<Arc<ThreadObj>> {
    match get(value)? {
        Object::Thread(t) => Some(t),
        _ => None,
    }
}

/// The number of live handles (`GetProcessHandleCount`).
pub(crate) fn count() -> usize {
    TABLE
        .read()
        .slots
        .iter()
        .filter(|s| s.object.is_some())
        .count()
}

/// Registers a new socket or overlapped file with the engine and puts it in
/// the table. Returns its handle value, or an errno.
pub(crate) fn register(fd: OwnedFd, kind: ObjKind, overlapped: bool) -> Result<usize, i32> {
    let obj = engine::new_io(fd, kind, overlapped)?;
    match insert(Object::Io(obj.clone())) {
        Some(h) => Ok(h),
        None => {
            obj.close();
            Err(libc::EMFILE)
        }
    }
}

/// The start of an overlapped operation on `owner`: `ov.hEvent` resolved
/// (its low bit means "no packet"; an invalid event handle is
/// `ERROR_INVALID_HANDLE`), then [`engine::prepare`].
///
/// # Safety
/// `ov` must be non-NULL and point to an `OVERLAPPED` the program keeps valid
/// until the operation's completion is published.
pub(crate) unsafe fn prepare(owner: &IoObj, ov: *mut OVERLAPPED) -> Result<Prepared, DWORD> {
    // SAFETY: `ov` is valid (caller contract).
    let h_event = unsafe { (*ov).hEvent } as usize;
    let (event, notify) = if h_event & !1 == 0 {
        (None, true)
    } else {
        match event(h_event & !1) {
            Some(e) => (Some(e), h_event & 1 == 0),
            None => return Err(ERROR_INVALID_HANDLE),
        }
    };
    // SAFETY: as above.
    Ok(unsafe { engine::prepare(owner, ov, event, notify) })
}

/// `CloseHandle`: ports (waiters wake with 735), sockets (as closesocket),
/// files, events, threads (the thread runs on). A second close, NULL, a
/// foreign value or the process heap (not a kernel handle): 6. The pseudo
/// handles of `GetCurrentProcess` (`-1`, which is also `INVALID_HANDLE_VALUE`)
/// and `GetCurrentThread` (`-2`): `TRUE`, closing them does nothing.
#[no_mangle]
pub extern "C" fn CloseHandle(h: HANDLE) -> BOOL {
    boundary(FALSE, || {
        if h as isize == -1 || h as isize == -2 {
            return TRUE;
        }
        match remove_if(h as usize, |o| !matches!(o, Object::Heap)) {
            Some(Object::Port(p)) => {
                crate::engine::cport::close_port(&p);
                TRUE
            }
            Some(Object::Io(o)) => {
                crate::winsock::event_select::closed(&o);
                o.close();
                TRUE
            }
            Some(
                Object::Event(_) | Object::Thread(_) | Object::Semaphore(_) | Object::Mutex(_),
            ) => TRUE,
            Some(Object::Heap) | None => fail(ERROR_INVALID_HANDLE, FALSE),
        }
    })
}
