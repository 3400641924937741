//! Events and waits: `CreateEvent`, `WSACreateEvent`,
//! `SetEvent`/`ResetEvent`, `WaitForSingleObject`, `WaitForMultipleObjects`,
//! `WSAWaitForMultipleEvents` (on events, on thread handles, which are
//! signalled when their thread exits, and on semaphores and mutexes), and the
//! wait inside `GetOverlappedResult`.
//!
//! # Implementation notes
//!
//! Waits go through two *signal buses*, each a mutex, a condition variable
//! and a count of its waiters: [`EVENTS`] for waits on events and thread
//! handles, [`OVERLAPPED`] for `GetOverlappedResult`/`WSAGetOverlappedResult`
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

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
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
            let _bus = self.lock();
            self.cv.notify_all();
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
        crate::port::blocking(move || loop {
            if let Some(r) = ready() {
                return Some(r);
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

/// An object a `WaitFor…` function can wait on.
pub(crate) enum Waitable {
    Event(std::sync::Arc<Event>),
    /// Signalled once the thread has exited; waiting does not consume it.
    Thread(std::sync::Arc<crate::thread::ThreadObj>),
    /// Signalled while its count is above 0; a satisfied wait takes one.
    Semaphore(std::sync::Arc<crate::semaphore::Semaphore>),
    /// Signalled while free or owned by the waiting thread; a satisfied wait
    /// makes the waiter its owner.
    Mutex(std::sync::Arc<crate::mutex::MutexObj>),
}

impl Waitable {
    fn is_set(&self) -> bool {
        match self {
            Waitable::Event(e) => e.is_set(),
            Waitable::Thread(t) => t.has_exited(),
            Waitable::Semaphore(s) => s.available(),
            Waitable::Mutex(m) => m.available(),
        }
    }

    /// Under the bus lock: a satisfied wait consumes an auto-reset event, a
    /// semaphore unit or a mutex's ownership. `true` if it took an abandoned
    /// mutex.
    fn consume(&self) -> bool {
        match self {
            Waitable::Event(e) => e.consume(),
            Waitable::Thread(_) => {}
            Waitable::Semaphore(s) => s.take(),
            Waitable::Mutex(m) => return m.take(),
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
    let got = EVENTS.wait_until(timeout, || {
        if wait_all {
            if events.iter().all(|e| e.is_set()) {
                let mut abandoned = None;
                for (i, e) in events.iter().enumerate() {
                    if e.consume() && abandoned.is_none() {
                        abandoned = Some(i);
                    }
                }
                return Some(abandoned.map_or(WaitResult::Signaled(0), WaitResult::Abandoned));
            }
            None
        } else {
            let i = events.iter().position(|e| e.is_set())?;
            Some(if events[i].consume() {
                WaitResult::Abandoned(i)
            } else {
                WaitResult::Signaled(i)
            })
        }
    });
    got.unwrap_or(WaitResult::TimedOut)
}

/// A Win32 timeout in milliseconds (`INFINITE` = forever).
pub(crate) fn timeout_of(ms: u32) -> Option<Duration> {
    (ms != crate::types::INFINITE).then(|| Duration::from_millis(u64::from(ms)))
}
