//! The waitable objects and how threads wait on them: the event object
//! ([`Event`], set by completions and by `SetEvent`), the state behind a
//! thread handle ([`ThreadObj`], signalled when its thread exits), the
//! waits of `WaitForSingleObject`, `WaitForMultipleObjects` and
//! `WSAWaitForMultipleEvents` ([`wait_events`]; the exports are in
//! `crate::sync`), and the wait inside `GetOverlappedResult`.
//!
//! # Implementation notes
//!
//! Waits go through two *signal buses*, each a mutex, a condition variable
//! and a count of its waiters: [`EVENTS`] for waits on events and thread
//! handles, [`OVERLAPPED`](static@OVERLAPPED) for `GetOverlappedResult`/`WSAGetOverlappedResult`
//! waiting for an operation's `OVERLAPPED` to complete. A waiter registers
//! itself on its bus (`waiters += 1`), then checks its condition under the
//! bus's mutex and sleeps on its condvar. Whatever can make a condition true —
//! an event being set, a thread exiting, a semaphore released, a mutex
//! released or abandoned (events bus), an operation's
//! `OVERLAPPED` being completed (overlapped bus) — first publishes its change,
//! then [`Bus::kick`]s that bus, which takes the mutex and wakes every waiter
//! of it, but only if somebody waits (both sides use `SeqCst`, so either the
//! waiter sees the change or the kicker sees the waiter). Clearing a signal
//! (auto-reset consumption, taking a semaphore unit or a mutex, `ResetEvent`)
//! happens under the events mutex only,
//! so a wait-all check-and-consume is atomic.
//!
//! Two buses, because completions are the hot path: a server's main thread
//! typically waits on an event for its whole life (the classic samples do),
//! and with one bus every completed operation would wake it. A kick of a bus
//! nobody waits on is one fence and one load.

use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::types::*;
use std::time::{Duration, Instant};

/// A Win32 event object.
pub(crate) struct Event {
    manual_reset: bool,
    signaled: AtomicBool,
}

impl Event {
    pub(crate) fn new(manual_reset: bool, initial: bool) -> Self {
        Event {
            manual_reset,
            signaled: AtomicBool::new(initial),
        }
    }

    /// `SetEvent`.
    pub(crate) fn set(&self) {
        self.signaled.store(true, Ordering::SeqCst);
        EVENTS.kick();
    }

    /// `ResetEvent`.
    pub(crate) fn reset(&self) {
        let _bus = EVENTS.lock();
        self.signaled.store(false, Ordering::SeqCst);
    }

    fn is_set(&self) -> bool {
        self.signaled.load(Ordering::SeqCst)
    }

    /// Under the bus lock: the wait on this event is satisfied; an auto-reset
    /// event goes back to non-signalled.
    fn consume(&self) {
        if !self.manual_reset {
            self.signaled.store(false, Ordering::SeqCst);
        }
    }
}

/// A wait queue: see the module docs.
pub(crate) struct Bus {
    lock: Mutex<()>,
    cv: Condvar,
    waiters: AtomicUsize,
}

/// Waits on events and thread handles.
pub(crate) static EVENTS: Bus = Bus::new();
/// Waits for an operation's `OVERLAPPED` to complete.
pub(crate) static OVERLAPPED: Bus = Bus::new();

impl Bus {
    const fn new() -> Self {
        Bus {
            lock: Mutex::new(()),
            cv: Condvar::new(),
            waiters: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Something a waiter of this bus may be waiting for became true: wake
    /// its waiters.
    pub(crate) fn kick(&self) {
        // Orders the caller's publication (an event flag, an OVERLAPPED status
        // stored with release ordering) before the check for waiters; pairs
        // with the fence in `wait_until`.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            {
                let _bus = self.lock();
                self.cv.notify_all();
            }
            // A waiter may be polling a port's backend instead of sleeping
            // on the condition variable (`help_reap`).
            crate::engine::interrupt_helpers();
        }
    }

    /// Waits until `ready` (checked under the bus lock) returns `Some`, or
    /// the timeout passes (`None` timeout: forever). Runs as a blocking
    /// section of the calling thread's completion port.
    pub(crate) fn wait_until<R>(
        &self,
        timeout: Option<Duration>,
        mut ready: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        struct Registered<'a>(&'a AtomicUsize);
        impl Drop for Registered<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        // A wait that returns at once is a sync point too (one that blocks
        // counts when its blocking section ends).
        super::known_empty::sync_point();
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let forever = timeout.is_some() && deadline.is_none() || timeout.is_none();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `kick`: either the kicker sees this waiter,
        // or `ready` below sees what the kicker published.
        fence(Ordering::SeqCst);
        let _registered = Registered(&self.waiters);
        let mut bus = self.lock();
        if let Some(r) = ready() {
            return Some(r);
        }
        if timeout == Some(Duration::ZERO) {
            return None;
        }
        crate::engine::cport::blocking(move || loop {
            if let Some(r) = ready() {
                return Some(r);
            }
            if crate::engine::ports_unreaped() {
                // Completions nobody else may reap (no thread in
                // GetQueuedCompletionStatus) could be what this wait is
                // for: reap in turns, looking at `ready` between them.
                let helping = crate::engine::Helping::enter();
                if let Some(r) = ready() {
                    return Some(r);
                }
                let mut slice = crate::engine::HELP_SLICE;
                if !forever {
                    let left = deadline?.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    slice = slice.min(left);
                }
                drop(bus);
                let reaped = crate::engine::help_reap(&helping, slice);
                drop(helping);
                bus = self.lock();
                if !reaped {
                    // The ports' own waiters poll them: sleep, but look again
                    // after a turn in case they leave with work in flight.
                    bus = self
                        .cv
                        .wait_timeout(bus, slice.min(crate::engine::REAP_SLICE))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                continue;
            }
            if forever {
                bus = self.cv.wait(bus).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let left = deadline?.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            bus = self
                .cv
                .wait_timeout(bus, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        })
    }
}

/// What a multi-object wait ended with.
pub(crate) enum WaitResult {
    /// Wait-any: the lowest index that was signalled; wait-all: 0.
    Signaled(usize),
    /// The wait took an abandoned mutex (wait-any: its index; wait-all: the
    /// lowest such index).
    Abandoned(usize),
    TimedOut,
}

/// A waitable object that a family outside the engine defines (semaphores
/// and mutexes), so that the engine's waits need not know those families.
pub(crate) trait WaitObject: Send + Sync {
    /// Whether a wait by the calling thread would be satisfied now.
    fn available(&self) -> bool;
    /// Under the bus lock, after `available`: a satisfied wait consumes what
    /// it takes (a unit, ownership); `true` if it took an abandoned mutex.
    fn take(self: Arc<Self>) -> bool;
}

/// An object a `WaitFor…` function can wait on.
pub(crate) enum Waitable {
    Event(std::sync::Arc<Event>),
    /// Signalled once the thread has exited; waiting does not consume it.
    Thread(Arc<ThreadObj>),
    /// An object of a family outside the engine: a semaphore (signalled while
    /// its count is above 0; a satisfied wait takes one) or a mutex
    /// (signalled while free or owned by the waiter; a satisfied wait makes
    /// the waiter its owner).
    Other(Arc<dyn WaitObject>),
}

impl Waitable {
    fn is_set(&self) -> bool {
        match self {
            Waitable::Event(e) => e.is_set(),
            Waitable::Thread(t) => t.has_exited(),
            Waitable::Other(o) => o.available(),
        }
    }

    /// Under the bus lock: a satisfied wait consumes an auto-reset event, a
    /// semaphore unit or a mutex's ownership. `true` if it took an abandoned
    /// mutex.
    fn consume(&self) -> bool {
        match self {
            Waitable::Event(e) => e.consume(),
            Waitable::Thread(_) => {}
            Waitable::Other(o) => return o.clone().take(),
        }
        false
    }
}

/// `WaitForMultipleObjects` on events and threads (already resolved and validated).
pub(crate) fn wait_events(
    events: &[Waitable],
    wait_all: bool,
    timeout: Option<Duration>,
) -> WaitResult {
    wait_events_or(events, wait_all, timeout, || false).unwrap_or(WaitResult::TimedOut)
}

/// As [`wait_events`], but `None` as soon as `interrupted` (checked under the
/// events bus lock, before the objects) returns `true`: an alertable wait,
/// with "an APC is queued to this thread" as `interrupted`. Whatever makes
/// it true must [`Bus::kick`] [`EVENTS`] after publishing.
pub(crate) fn wait_events_or(
    events: &[Waitable],
    wait_all: bool,
    timeout: Option<Duration>,
    mut interrupted: impl FnMut() -> bool,
) -> Option<WaitResult> {
    let got = EVENTS.wait_until(timeout, || {
        if interrupted() {
            return Some(None);
        }
        if wait_all {
            if events.iter().all(|e| e.is_set()) {
                let mut abandoned = None;
                for (i, e) in events.iter().enumerate() {
                    if e.consume() && abandoned.is_none() {
                        abandoned = Some(i);
                    }
                }
                return Some(Some(
                    abandoned.map_or(WaitResult::Signaled(0), WaitResult::Abandoned),
                ));
            }
            None
        } else {
            let i = events.iter().position(|e| e.is_set())?;
            Some(Some(if events[i].consume() {
                WaitResult::Abandoned(i)
            } else {
                WaitResult::Signaled(i)
            }))
        }
    });
    match got {
        Some(r) => r,
        None => Some(WaitResult::TimedOut),
    }
}

/// A Win32 timeout in milliseconds (`INFINITE` = forever).
pub(crate) fn timeout_of(ms: u32) -> Option<Duration> {
    (ms != crate::types::INFINITE).then(|| Duration::from_millis(u64::from(ms)))
}

/// The state behind a thread handle.
pub(crate) struct ThreadObj {
    pub(crate) exited: AtomicBool,
    pub(crate) exit_code: AtomicU32,
    /// The thread's id (`GetCurrentThreadId` inside it).
    pub(crate) tid: AtomicU32,
    /// `CREATE_SUSPENDED`: the suspend count; the thread starts at 0.
    suspend: Mutex<u32>,
    resumed: Condvar,
}

impl ThreadObj {
    pub(crate) fn new(suspended: bool) -> Self {
        ThreadObj {
            exited: AtomicBool::new(false),
            exit_code: AtomicU32::new(STILL_ACTIVE),
            tid: AtomicU32::new(0),
            suspend: Mutex::new(u32::from(suspended)),
            resumed: Condvar::new(),
        }
    }

    /// Whether the thread has exited (the handle is signalled).
    pub(crate) fn has_exited(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }

    pub(crate) fn wait_resumed(&self) {
        let mut n = self.suspend.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = self.resumed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// `ResumeThread`: the previous suspend count.
    pub(crate) fn resume(&self) -> u32 {
        let mut n = self.suspend.lock().unwrap_or_else(|e| e.into_inner());
        let prev = *n;
        if prev > 0 {
            *n -= 1;
            if *n == 0 {
                self.resumed.notify_all();
            }
        }
        prev
    }
}

thread_local! {
    /// This thread's id, asked of the kernel once.
    static TID: u32 = {
        // SAFETY: gettid has no arguments and cannot fail.
        unsafe { libc::gettid() as u32 }
    };
}

/// The calling thread's id (`GetCurrentThreadId`, a critical section's
/// owner), cached per thread.
pub(crate) fn current_tid() -> u32 {
    TID.try_with(|t| *t).unwrap_or_else(|_| {
        // SAFETY: as above; thread-locals are being torn down.
        unsafe { libc::gettid() as u32 }
    })
}
