//! The port core driven directly: queue rules, hand-off, the concurrency
//! limit and the panic guards, without any I/O.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{Core, Counters, FlushHint, Reactor};
use crate::error::GetError;

/// A completion whose delivery panics (as a completion filter, a key's
/// `Clone` or a value's `Drop` may, inside the reactor's `poll`).
const PANIC: u32 = u32::MAX;
const LONG: Option<Duration> = Some(Duration::from_secs(10));

/// The "kernel": `complete` makes completions ready and wakes the poller.
#[derive(Default)]
struct Kernel {
    in_flight: AtomicUsize,
    ready: Mutex<(VecDeque<u32>, bool)>,
    cv: Condvar,
}

impl Kernel {
    fn start(&self, n: usize) {
        self.in_flight.fetch_add(n, Ordering::SeqCst);
    }
    fn complete(&self, items: &[u32]) {
        self.ready.lock().unwrap().0.extend(items);
        self.cv.notify_all();
    }
}

impl Reactor<u32> for Arc<Kernel> {
    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) > 0
    }
    fn poll(&self, timeout: Option<Duration>, sink: &mut dyn FnMut(u32)) {
        let deadline = timeout.map(|t| Instant::now() + t.min(Duration::from_secs(60)));
        let mut ready = self.ready.lock().unwrap();
        loop {
            if !ready.0.is_empty() {
                break;
            }
            if std::mem::take(&mut ready.1) {
                return;
            }
            let left = deadline.map_or(Duration::from_secs(60), |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return;
            }
            ready = self.cv.wait_timeout(ready, left).unwrap().0;
        }
        let items: Vec<u32> = ready.0.drain(..).collect();
        drop(ready);
        for item in items {
            // A well-behaved op layer: the op stops counting as in flight
            // even if delivering its packet panics.
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if item == PANIC {
                panic!("expected panic: user code, while a waiter reaps");
            }
            sink(item);
        }
    }
    fn wake(&self) {
        self.ready.lock().unwrap().1 = true;
        self.cv.notify_all();
    }
}

fn core(limit: u32) -> (Arc<Core<u32>>, Arc<Kernel>) {
    let kernel = Arc::new(Kernel::default());
    let core = Arc::new(Core::new(limit, Some(Box::new(kernel.clone()))));
    (core, kernel)
}

fn take_one(core: &Core<u32>, was_active: bool, t: Option<Duration>) -> Result<u32, GetError> {
    core.take_one(was_active, t)
}

/// Spawns a thread that waits in `take_one` (not active before).
fn waiter(core: &Arc<Core<u32>>) -> thread::JoinHandle<Result<u32, GetError>> {
    let core = core.clone();
    thread::spawn(move || take_one(&core, false, LONG))
}

fn wait_for(core: &Core<u32>, what: &str, cond: impl Fn(Counters) -> bool) {
    let start = Instant::now();
    while !cond(core.counters()) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        thread::sleep(Duration::from_micros(200));
    }
}

/// The panics of these tests are expected: keep them out of the output
/// (any other panic is still reported).
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
            if !msg.starts_with(EXPECTED) {
                report(info)
            }
        }));
    });
}
const EXPECTED: &str = "expected panic:";

/// The poller keeps the first packet it reaped (written into its node),
/// then user code panics: that packet goes to the other waiter, the
/// poller role passes on, and the counters are whole.
#[test]
fn poller_panics_after_keeping_a_packet() {
    quiet_panics();
    let (core, kernel) = core(2);
    kernel.start(3);
    let poller = waiter(&core); // first waiter while I/O is in flight: polls
    wait_for(&core, "poller parked", |c| c.waiting == 1);
    let other = waiter(&core);
    wait_for(&core, "other parked", |c| c.waiting == 2);
    kernel.complete(&[10, PANIC]);
    assert!(poller.join().is_err(), "the panic unwound out of take");
    assert_eq!(other.join().unwrap(), Ok(10), "the kept packet is not lost");
    assert_eq!(
        (core.counters().waiting, core.counters().active),
        (0, 1),
        "the panicking thread does not count; the other one does"
    );
    // The role is free: the next waiter polls and reaps the last op.
    let next = waiter(&core);
    wait_for(&core, "next parked", |c| c.waiting == 1);
    kernel.complete(&[30]);
    assert_eq!(next.join().unwrap(), Ok(30));
    assert!(!core.busy());
    assert_eq!(Arc::strong_count(&core), 1, "nothing keeps the core alive");
}

/// User code panics while the poller's node is still waiting on the
/// stack: it is removed (no later hand-off writes into the dead frame),
/// and an active thread's accounting is restored.
#[test]
fn poller_panics_while_waiting() {
    quiet_panics();
    let (core, kernel) = core(1);
    kernel.start(2);
    let poller = {
        let core = core.clone();
        thread::spawn(move || {
            core.post(1).unwrap();
            assert_eq!(take_one(&core, false, None), Ok(1)); // active now
            let r = catch_unwind(AssertUnwindSafe(|| take_one(&core, true, LONG)));
            assert!(r.is_err());
            // Still active, as before the call (its association says so).
            assert_eq!(core.counters().active, 1);
            core.deactivate();
        })
    };
    wait_for(&core, "poller parked", |c| c.waiting == 1);
    kernel.complete(&[PANIC]);
    poller.join().unwrap();
    assert_eq!((core.counters().waiting, core.counters().active), (0, 0));
    // A post now finds no dead waiter: it is queued, then a waiter reaps.
    core.post(5).unwrap();
    assert_eq!(core.counters().queued, 1);
    assert_eq!(take_one(&core, false, LONG), Ok(5));
    core.deactivate();
    let next = waiter(&core);
    wait_for(&core, "next parked", |c| c.waiting == 1);
    kernel.complete(&[6]);
    assert_eq!(next.join().unwrap(), Ok(6));
}

/// A panic in the helper reaper (shutdown) gives the poller role back.
#[test]
fn helper_reaper_panics() {
    quiet_panics();
    let (core, kernel) = core(2);
    kernel.start(3);
    kernel.complete(&[1, PANIC]);
    let r = catch_unwind(AssertUnwindSafe(|| core.reap_as_helper(LONG.unwrap())));
    assert!(r.is_err());
    let mut queued = Vec::new();
    core.drain(&mut |v| queued.push(v));
    assert_eq!(queued, vec![1], "what it reaped before the panic is posted");
    let w = waiter(&core);
    wait_for(&core, "w parked", |c| c.waiting == 1);
    kernel.complete(&[2]);
    assert_eq!(
        w.join().unwrap(),
        Ok(2),
        "the role was free: the waiter reaped"
    );
}

/// A sink that panics in `get_many`: the packets it had not received stay
/// queued in order, and the caller's accounting is restored.
#[test]
fn panicking_sink_counts_back_what_it_did_not_take() {
    quiet_panics();
    let core = Core::<u32>::new(1, None);
    (0..4).for_each(|v| core.post(v).unwrap());
    let mut seen = Vec::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        core.take(false, 4, None, &mut |v| {
            if v == 1 {
                panic!("expected panic: the sink");
            }
            seen.push(v);
        })
    }));
    assert!(r.is_err());
    assert_eq!(seen, vec![0]);
    let c = core.counters();
    assert_eq!((c.queued, c.active), (2, 0));
    let mut rest = Vec::new();
    core.drain(&mut |v| rest.push(v));
    assert_eq!(rest, vec![2, 3]);
}

/// A reactor that counts its flushes and says through a [`FlushHint`]
/// whether one has anything to do.
struct Flushes {
    hint: Arc<FlushHint>,
    calls: AtomicUsize,
}

impl Reactor<u32> for Arc<Flushes> {
    fn busy(&self) -> bool {
        false
    }
    fn poll(&self, _: Option<Duration>, _: &mut dyn FnMut(u32)) {}
    fn wake(&self) {}
    fn flush(&self, _urgent: bool) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
    fn flush_hint(&self) -> Option<Arc<FlushHint>> {
        Some(self.hint.clone())
    }
}

#[test]
fn get_calls_flush_only_when_the_hint_says_it_has_work() {
    let reactor = Arc::new(Flushes {
        hint: Arc::default(),
        calls: AtomicUsize::new(0),
    });
    let core = Core::new(1, Some(Box::new(reactor.clone())));
    core.post(1).unwrap();
    assert_eq!(take_one(&core, false, LONG), Ok(1));
    assert_eq!(reactor.calls.load(Ordering::SeqCst), 0, "nothing to flush");
    // Urgent-only work: a get with nobody else waiting does not flush.
    reactor.hint.set_urgent_work();
    core.post(2).unwrap();
    assert_eq!(take_one(&core, true, LONG), Ok(2));
    assert_eq!(reactor.calls.load(Ordering::SeqCst), 0, "not urgent");
    // Leaving the port is urgent.
    core.deactivate();
    assert_eq!(reactor.calls.load(Ordering::SeqCst), 1, "urgent flush");
    // Held-back submissions: every get flushes.
    reactor.hint.set_deferred();
    core.post(3).unwrap();
    assert_eq!(take_one(&core, false, LONG), Ok(3));
    assert_eq!(reactor.calls.load(Ordering::SeqCst), 2, "deferred");
}

/// `interrupt` ends a waiter's wait as if its timeout had passed: a parked
/// follower and the poller (woken out of the reactor) both return
/// `TimedOut` at once, count as active again, and the port goes on working.
#[test]
fn interrupt_ends_a_follower_and_the_poller_like_a_timeout() {
    let (core, kernel) = core(2);
    kernel.start(1); // the first waiter becomes the poller
    let poller = waiter(&core);
    wait_for(&core, "the poller waits", |c| c.waiting == 1);
    let follower = waiter(&core);
    wait_for(&core, "both wait", |c| c.waiting == 2);
    let started = Instant::now();
    assert!(core.interrupt(&|t| t.id() == follower.thread().id()));
    assert_eq!(follower.join().unwrap(), Err(GetError::TimedOut));
    assert!(core.interrupt(&|t| t.id() == poller.thread().id()));
    assert_eq!(poller.join().unwrap(), Err(GetError::TimedOut));
    // Both waited LONG (10 s): they returned because of the interrupts.
    assert!(started.elapsed() < Duration::from_secs(5));
    let c = core.counters();
    assert_eq!((c.waiting, c.active), (0, 2));
    // Nobody waits any more: nothing to interrupt.
    assert!(!core.interrupt(&|_| true));
    // The completion still reaches the next waiter.
    core.deactivate();
    core.deactivate();
    kernel.complete(&[5]);
    assert_eq!(take_one(&core, false, LONG), Ok(5));
}
