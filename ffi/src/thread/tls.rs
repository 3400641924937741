//! Thread-local storage (`TlsAlloc`, `TlsGetValue`, `TlsSetValue`,
//! `TlsFree`) and fiber-local storage (`FlsAlloc` with a callback,
//! `FlsGetValue`, `FlsSetValue`, `FlsFree`; with no fibers, a fiber is its
//! thread).
//!
//! # Implementation notes
//!
//! An index is allocated process-wide; each index has a generation number,
//! odd while allocated, bumped by both alloc and free. Each thread keeps
//! `(value, generation)` pairs; a value stored under another generation
//! reads as NULL. So `TlsFree`/`FlsFree` make the index's values vanish in
//! every thread at once, and a re-allocated index starts at NULL everywhere,
//! as on Windows, without visiting other threads.
//!
//! `FlsAlloc`'s callback runs for every non-NULL value of the index: on its
//! thread when the thread exits (a thread-local destructor, registered on the
//! thread's first `FlsSetValue`), and for every thread's value, on the caller
//! of `FlsFree`, when the index is freed. Each value is taken out of its
//! thread's table under that table's lock before its callback runs, so a
//! value's callback runs once even if `FlsFree` and the exit race. (The
//! main thread's values see no callback at process exit.)
//!
//! Windows' limits: 1088 TLS indexes (`TLS_MINIMUM_AVAILABLE` + 1024), 4080
//! FLS indexes; beyond them `TLS_OUT_OF_INDEXES` / `FLS_OUT_OF_INDEXES` with
//! `ERROR_NO_MORE_ITEMS`. Successful `TlsGetValue`/`FlsGetValue` set the last
//! error to 0 (so a NULL value can be told from a failure); an index out of
//! range or not allocated fails with `ERROR_INVALID_PARAMETER`.

use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::error::{boundary, fail, set_last_error};
use crate::types::*;
use crate::types_sync::*;

const TLS_SLOTS: usize = 1088;
const FLS_SLOTS: usize = 4080;

/// The generations of a family of indexes (odd = allocated).
struct Indexes<const N: usize> {
    generation: [AtomicU32; N],
    /// The first index handed out (FLS index 0 is never used, as on Windows).
    first: usize,
}

impl<const N: usize> Indexes<N> {
    const fn new(first: usize) -> Self {
        Indexes {
            generation: [const { AtomicU32::new(0) }; N],
            first,
        }
    }

    /// Allocates the lowest free index; its generation.
    fn alloc(&self) -> Option<(usize, u32)> {
        for i in self.first..N {
            let g = self.generation[i].load(Ordering::Acquire);
            if g % 2 == 0
                && self.generation[i]
                    .compare_exchange(g, g.wrapping_add(1), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return Some((i, g.wrapping_add(1)));
            }
        }
        None
    }

    /// The generation of an allocated index.
    fn live(&self, index: DWORD) -> Option<(usize, u32)> {
        let i = index as usize;
        let g = self.generation.get(i)?.load(Ordering::Acquire);
        (i >= self.first && g % 2 == 1).then_some((i, g))
    }

    /// Frees an allocated index; the generation it had.
    fn free(&self, index: DWORD) -> Option<(usize, u32)> {
        let (i, g) = self.live(index)?;
        self.generation[i]
            .compare_exchange(g, g.wrapping_add(1), Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| (i, g))
    }
}

/// One thread's values: `(value, generation)` by index.
#[derive(Default)]
struct Values(Vec<(usize, u32)>);

impl Values {
    fn get(&self, i: usize, g: u32) -> usize {
        match self.0.get(i) {
            Some(&(v, vg)) if vg == g => v,
            _ => 0,
        }
    }

    fn set(&mut self, i: usize, g: u32, v: usize) {
        if self.0.len() <= i {
            self.0.resize(i + 1, (0, 0));
        }
        self.0[i] = (v, g);
    }

    /// Takes the value of `(i, g)` out (NULL if none).
    fn take(&mut self, i: usize, g: u32) -> usize {
        match self.0.get_mut(i) {
            Some(slot) if slot.1 == g => std::mem::take(&mut slot.0),
            _ => 0,
        }
    }
}

static TLS: Indexes<TLS_SLOTS> = Indexes::new(0);
static FLS: Indexes<FLS_SLOTS> = Indexes::new(1);
/// Each FLS index's callback (0 = none).
static FLS_CALLBACKS: [AtomicUsize; FLS_SLOTS] = [const { AtomicUsize::new(0) }; FLS_SLOTS];
/// Every thread's FLS table, for `FlsFree`.
static FLS_THREADS: Mutex<Vec<Weak<Mutex<Values>>>> = Mutex::new(Vec::new());

/// A thread's FLS table; runs the callbacks of its values when the thread exits.
struct FlsThread(Arc<Mutex<Values>>);

impl Drop for FlsThread {
    fn drop(&mut self) {
        let taken: Vec<(usize, usize)> = {
            let mut values = self.0.lock();
            (0..values.0.len())
                .filter_map(|i| {
                    let (_, g) = FLS.live(i as DWORD)?;
                    let v = values.take(i, g);
                    (v != 0).then_some((i, v))
                })
                .collect()
        };
        for (i, v) in taken {
            run_callback(FLS_CALLBACKS[i].load(Ordering::Acquire), v);
        }
    }
}

thread_local! {
    static TLS_VALUES: RefCell<Values> = RefCell::new(Values::default());
    static FLS_VALUES: RefCell<Option<FlsThread>> = const { RefCell::new(None) };
}

fn run_callback(callback: usize, value: usize) {
    if callback == 0 {
        return;
    }
    // SAFETY: a non-zero entry was stored from the `FlsCallback` the program
    // gave `FlsAlloc`; calling it with one of the index's values is its
    // contract.
    unsafe {
        let f: FlsCallback = std::mem::transmute::<usize, FlsCallback>(callback);
        f(value as *mut c_void);
    }
}

/// `TlsAlloc`: a new index (its value NULL in every thread), or
/// `TLS_OUT_OF_INDEXES` + `ERROR_NO_MORE_ITEMS`.
#[no_mangle]
pub extern "C" fn TlsAlloc() -> DWORD {
    boundary(TLS_OUT_OF_INDEXES, || match TLS.alloc() {
        Some((i, _)) => i as DWORD,
        None => fail(ERROR_NO_MORE_ITEMS, TLS_OUT_OF_INDEXES),
    })
}

/// `TlsGetValue`: the calling thread's value (last error 0), or NULL +
/// `ERROR_INVALID_PARAMETER` for an index not allocated.
#[no_mangle]
pub extern "C" fn TlsGetValue(index: DWORD) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        let Some((i, g)) = TLS.live(index) else {
            return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
        };
        let v = TLS_VALUES.try_with(|t| t.borrow().get(i, g)).unwrap_or(0);
        set_last_error(ERROR_SUCCESS);
        v as *mut c_void
    })
}

/// `TlsSetValue`.
#[no_mangle]
pub extern "C" fn TlsSetValue(index: DWORD, value: *mut c_void) -> BOOL {
    boundary(FALSE, || {
        let Some((i, g)) = TLS.live(index) else {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        };
        match TLS_VALUES.try_with(|t| t.borrow_mut().set(i, g, value as usize)) {
            Ok(()) => TRUE,
            Err(_) => fail(ERROR_INVALID_PARAMETER, FALSE),
        }
    })
}

/// `TlsFree`: the index's values vanish in every thread.
#[no_mangle]
pub extern "C" fn TlsFree(index: DWORD) -> BOOL {
    boundary(FALSE, || match TLS.free(index) {
        Some(_) => TRUE,
        None => fail(ERROR_INVALID_PARAMETER, FALSE),
    })
}

/// `FlsAlloc`: a new index whose non-NULL values `callback` (if any) receives
/// at thread exit and at `FlsFree`; `FLS_OUT_OF_INDEXES` + `ERROR_NO_MORE_ITEMS`.
#[no_mangle]
pub extern "C" fn FlsAlloc(callback: Option<FlsCallback>) -> DWORD {
    boundary(FLS_OUT_OF_INDEXES, || {
        // The callback is stored before the index becomes usable: allocate
        // under the thread list's lock, which FlsFree also takes.
        let _threads = FLS_THREADS.lock();
        match FLS.alloc() {
            Some((i, _)) => {
                FLS_CALLBACKS[i].store(callback.map_or(0, |f| f as usize), Ordering::Release);
                i as DWORD
            }
            None => fail(ERROR_NO_MORE_ITEMS, FLS_OUT_OF_INDEXES),
        }
    })
}

/// `FlsGetValue`: as `TlsGetValue`.
#[no_mangle]
pub extern "C" fn FlsGetValue(index: DWORD) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        let Some((i, g)) = FLS.live(index) else {
            return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
        };
        let v = FLS_VALUES
            .try_with(|t| t.borrow().as_ref().map_or(0, |f| f.0.lock().get(i, g)))
            .unwrap_or(0);
        set_last_error(ERROR_SUCCESS);
        v as *mut c_void
    })
}

/// `FlsSetValue`.
#[no_mangle]
pub extern "C" fn FlsSetValue(index: DWORD, value: *mut c_void) -> BOOL {
    boundary(FALSE, || {
        let Some((i, g)) = FLS.live(index) else {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        };
        let stored = FLS_VALUES.try_with(|t| {
            let mut t = t.borrow_mut();
            let table = t.get_or_insert_with(|| {
                let table = Arc::new(Mutex::new(Values::default()));
                let mut threads = FLS_THREADS.lock();
                threads.retain(|w| w.strong_count() > 0);
                threads.push(Arc::downgrade(&table));
                FlsThread(table)
            });
            table.0.lock().set(i, g, value as usize);
        });
        match stored {
            Ok(()) => TRUE,
            Err(_) => fail(ERROR_INVALID_PARAMETER, FALSE),
        }
    })
}

/// `FlsFree`: runs the callback for every thread's non-NULL value of the
/// index (on the calling thread), then the index is free.
#[no_mangle]
pub extern "C" fn FlsFree(index: DWORD) -> BOOL {
    boundary(FALSE, || {
        let (taken, callback) = {
            let threads = FLS_THREADS.lock();
            let Some((i, g)) = FLS.free(index) else {
                return fail(ERROR_INVALID_PARAMETER, FALSE);
            };
            let taken: Vec<usize> = threads
                .iter()
                .filter_map(Weak::upgrade)
                .map(|t| t.lock().take(i, g))
                .filter(|&v| v != 0)
                .collect();
            (taken, FLS_CALLBACKS[i].swap(0, Ordering::AcqRel))
        };
        for v in taken {
            run_callback(callback, v);
        }
        TRUE
    })
}
