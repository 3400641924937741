//! loom models of the port core's races (run with `RUSTFLAGS="--cfg loom"`,
//! see `.ci/run`). Each model asserts that no packet is lost or delivered
//! twice and that no thread sleeps forever (loom reports that as a deadlock).
//!
//! Under loom a timed wait expires at its first check, so a waiter with a
//! timeout explores a timeout at every point of the other threads' runs.

use std::sync::Arc;
use std::time::Duration;

use crate::error::GetError;
use crate::port_core::Core;

const SOON: Option<Duration> = Some(Duration::from_millis(1));

fn take_one(
    core: &Core<u32>,
    was_active: bool,
    timeout: Option<Duration>,
) -> Result<u32, GetError> {
    let mut got = None;
    core.take(was_active, 1, timeout, &mut |v| got = Some(v))?;
    Ok(got.expect("take returned Ok without a packet"))
}

/// A thread that waits for one packet (not active before).
fn spawn_taker(
    core: &Arc<Core<u32>>,
    timeout: Option<Duration>,
) -> loom::thread::JoinHandle<Result<u32, GetError>> {
    let core = core.clone();
    loom::thread::spawn(move || take_one(&core, false, timeout))
}

/// A thread that posts `value`.
fn spawn_post(core: &Arc<Core<u32>>, value: u32) -> loom::thread::JoinHandle<Result<(), u32>> {
    let core = core.clone();
    loom::thread::spawn(move || core.post(value))
}

fn drained(core: &Core<u32>) -> Vec<u32> {
    let mut out = Vec::new();
    core.drain(&mut |v| out.push(v));
    out
}

/// The one packet `value` went exactly once: to the waiter (`got` is it),
/// or, when the waiter returned `TimedOut`, into the queue; the waiter is
/// active again and nobody waits.
fn assert_taken_or_queued(core: &Core<u32>, got: Result<u32, GetError>, value: u32) {
    let left = drained(core);
    match got {
        Ok(v) => {
            assert_eq!(v, value);
            assert!(left.is_empty());
        }
        Err(e) => {
            assert_eq!(e, GetError::TimedOut);
            assert_eq!(left, vec![value]);
        }
    }
    let c = core.counters();
    assert_eq!((c.waiting, c.queued, c.active), (0, 0, 1));
}

/// A post racing a thread that is about to wait: the waiter must receive the
/// packet (directly or from the queue), never sleep forever beside it.
#[test]
fn post_races_waiter_registration() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(2, None));
        let waiters: Vec<_> = (0..2).map(|_| spawn_taker(&core, None)).collect();
        core.post(1).unwrap();
        core.post(2).unwrap();
        let mut got: Vec<u32> = waiters
            .into_iter()
            .map(|w| w.join().unwrap().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, vec![1, 2]);
        let c = core.counters();
        assert_eq!((c.waiting, c.queued, c.active), (0, 0, 2));
    });
}

/// A hand-off racing the waiter's timeout: the packet goes either to the
/// waiter or into the queue, exactly once.
#[test]
fn hand_off_races_waiter_timeout() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(2, None));
        let waiter = spawn_taker(&core, SOON);
        core.post(7).unwrap();
        let got = waiter.join().unwrap();
        assert_taken_or_queued(&core, got, 7);
    });
}

/// An interrupt racing a post and the waiter's registration: the waiter
/// returns the packet or `TimedOut` (then the packet is queued), exactly
/// once; an interrupt that finds nobody waiting has no effect, and the
/// waiter is not left asleep.
#[test]
fn interrupt_races_post_and_registration() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, None));
        let waiter = spawn_taker(&core, None);
        let interrupter = {
            let core = core.clone();
            loom::thread::spawn(move || {
                // Until the waiter is seen waiting (or has its packet).
                while !core.interrupt(&|_| true) {
                    if core.counters().active == 1 {
                        return;
                    }
                    loom::thread::yield_now();
                }
            })
        };
        core.post(3).unwrap();
        interrupter.join().unwrap();
        let got = waiter.join().unwrap();
        assert_taken_or_queued(&core, got, 3);
    });
}

/// Close racing a waiter and a post: the waiter always returns, and the
/// packet is received, left queued for `drain`, or handed back — once.
#[test]
fn close_races_get_and_post() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, None));
        let waiter = spawn_taker(&core, None);
        let poster = spawn_post(&core, 1);
        core.close();
        let got = waiter.join().unwrap();
        let posted = poster.join().unwrap();
        let left = drained(&core);
        let seen = usize::from(got.is_ok()) + left.len() + usize::from(posted.is_err());
        assert_eq!(seen, 1, "got {got:?}, posted {posted:?}, left {left:?}");
        if let Err(e) = got {
            assert_eq!(e, GetError::Closed);
        }
        assert_eq!(core.counters().waiting, 0);
    });
}

/// A post racing the concurrency-limit check: the only slot is held by an
/// active thread that then returns to `get`. The other waiter must not be
/// released while the slot is taken, and the packet must not be stranded in
/// the queue once the slot frees up.
#[test]
fn post_races_limit_check() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, None));
        core.post(0).unwrap();
        assert_eq!(take_one(&core, false, None), Ok(0)); // main thread is active
        let waiter = spawn_taker(&core, None);
        let poster = spawn_post(&core, 1);
        // Main returns to get without waiting: it takes the packet itself if it
        // is queued, otherwise it gives up its slot.
        let mine = take_one(&core, true, Some(Duration::ZERO));
        poster.join().unwrap().unwrap();
        if mine.is_ok() {
            // Main holds the slot again; free it so the waiter can finish.
            core.post(2).unwrap();
            core.deactivate();
        } else {
            core.deactivate();
        }
        let theirs = waiter.join().unwrap().unwrap();
        match mine {
            Ok(v) => assert_eq!((v, theirs), (1, 2)),
            Err(e) => {
                assert_eq!(e, GetError::TimedOut);
                assert_eq!(theirs, 1);
            }
        }
        let c = core.counters();
        assert_eq!((c.queued, c.waiting, c.active), (0, 0, 1));
    });
}

/// Leaving a blocking section racing the release it caused: the waiter gets
/// the queued packet exactly once, and the accounting ends consistent
/// (active may exceed the limit, as on Windows).
#[test]
fn blocking_exit_races_release() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, None));
        core.post(0).unwrap();
        assert_eq!(take_one(&core, false, None), Ok(0));
        core.post(1).unwrap(); // queued: the only slot is ours
        let waiter = spawn_taker(&core, None);
        core.pause();
        core.resume();
        // Back to get: take the packet ourselves if the waiter has not got it;
        // then leave for good so the waiter is never stranded.
        let mine = take_one(&core, true, Some(Duration::ZERO));
        if mine.is_ok() {
            core.post(2).unwrap();
        }
        core.deactivate();
        let theirs = waiter.join().unwrap().unwrap();
        match mine {
            Ok(v) => assert_eq!((v, theirs), (1, 2)),
            Err(_) => assert_eq!(theirs, 1),
        }
        let c = core.counters();
        assert_eq!((c.queued, c.waiting, c.active, c.paused), (0, 0, 1, 0));
    });
}

/// A stand-in for the kernel: completions appear in `ready`; `poll` returns
/// when there are some, when woken, or (with a timeout) at once.
struct MockReactor {
    pending: loom::sync::atomic::AtomicU32,
    ready: loom::sync::Mutex<Vec<u32>>,
    woken: loom::sync::Mutex<bool>,
    /// Wakes the thread blocked in `poll` ("in the kernel").
    doorbell: loom::sync::Notify,
    /// Delivering this value panics, as user code in the reactor may (a
    /// completion filter, `K::clone`, a value's `Drop` in the op layer).
    panics_at: Option<u32>,
}

impl MockReactor {
    fn new(pending: u32) -> Self {
        MockReactor {
            pending: loom::sync::atomic::AtomicU32::new(pending),
            ready: loom::sync::Mutex::new(Vec::new()),
            woken: loom::sync::Mutex::new(false),
            doorbell: loom::sync::Notify::new(),
            panics_at: None,
        }
    }

    /// The "kernel" completes an operation and wakes the poller.
    fn report(&self, value: u32) {
        self.ready.lock().unwrap().push(value);
        self.doorbell.notify();
    }
}

impl crate::port_core::Reactor<u32> for Arc<MockReactor> {
    fn busy(&self) -> bool {
        self.pending.load(loom::sync::atomic::Ordering::SeqCst) > 0
    }
    fn poll(&self, timeout: Option<Duration>, sink: &mut dyn FnMut(u32)) {
        use loom::sync::atomic::Ordering::SeqCst;
        loop {
            let items: Vec<u32> = self.ready.lock().unwrap().drain(..).collect();
            if !items.is_empty() {
                for item in items {
                    if Some(item) == self.panics_at {
                        self.pending.fetch_sub(1, SeqCst);
                        panic!("expected panic: user code in the reactor");
                    }
                    sink(item);
                    // In flight until delivered, as the real op layer counts.
                    self.pending.fetch_sub(1, SeqCst);
                }
                return;
            }
            if std::mem::take(&mut *self.woken.lock().unwrap()) || timeout.is_some() {
                return;
            }
            self.doorbell.wait();
        }
    }
    fn wake(&self) {
        *self.woken.lock().unwrap() = true;
        self.doorbell.notify();
    }
}

/// Leader/follower reaping: a waiter polls the "kernel" for an operation in
/// flight while a packet is posted. The post must wake the poller (not leave
/// it in the kernel), the later completion must still be reaped, and each
/// packet is delivered exactly once.
#[test]
fn post_races_poller_in_kernel() {
    loom::model(|| {
        let kernel = Arc::new(MockReactor::new(1));
        let core = Arc::new(Core::<u32>::new(2, Some(Box::new(kernel.clone()))));
        let waiter = spawn_taker(&core, None);
        // Only a post arrives while the waiter may be polling the "kernel":
        // the hand-off must wake it there.
        core.post(20).unwrap();
        let got = waiter.join().unwrap().unwrap();
        assert_eq!(got, 20);
        kernel.report(10); // the operation completes later
        while crate::port_core::Reactor::busy(&kernel) {
            core.reap_as_helper(Duration::ZERO);
        }
        let mut all = drained(&core);
        all.push(got);
        all.sort();
        assert_eq!(all, vec![10, 20]);
        assert_eq!(core.counters().waiting, 0);
    });
}

/// Two posts race for the last slot while two threads wait: at most `limit`
/// threads may be active. (Catches a hand-off that skips the limit re-check
/// under the waiters lock; `post_races_limit_check` does not.)
#[test]
fn two_posts_race_for_the_last_slot() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, None));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let core = core.clone();
                loom::thread::spawn(move || take_one(&core, false, None).unwrap())
            })
            .collect();
        while core.counters().waiting < 2 {
            loom::thread::yield_now();
        }
        let poster = spawn_post(&core, 1);
        core.post(2).unwrap();
        poster.join().unwrap().unwrap();
        // One packet went to a waiter; the other must wait in the queue for
        // the slot (a violation would persist until someone deactivates).
        let c = core.counters();
        assert_eq!((c.active, c.waiting, c.queued), (1, 1, 1), "limit exceeded");
        core.deactivate(); // the released waiter leaves: the other one runs
        let mut got: Vec<u32> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, vec![1, 2]);
        let c = core.counters();
        assert_eq!((c.active, c.waiting, c.queued), (1, 0, 0));
    });
}

/// A blocking-section entry releases a waiter that is timing out: the packet
/// is delivered or left queued exactly once. (Catches a release that CASes
/// before taking the waiters lock; `blocking_exit_races_release` does not.)
#[test]
fn pause_release_races_waiter_timeout() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, None));
        core.post(0).unwrap();
        assert_eq!(take_one(&core, false, None), Ok(0));
        core.post(1).unwrap();
        let waiter = spawn_taker(&core, SOON);
        core.pause();
        core.resume();
        let theirs = waiter.join().unwrap();
        let left = drained(&core);
        let seen = usize::from(theirs.is_ok()) + left.len();
        assert_eq!(seen, 1, "{theirs:?} {left:?}");
        let c = core.counters();
        assert_eq!((c.waiting, c.paused), (0, 0));
    });
}

/// The poller role passes between waiters: the first waiter polls with a
/// timeout and gives up; the second (waiting forever) must take the role
/// over and reap the completion — whether it joined before the first left
/// (promoted) or after (it finds nobody polling).
#[test]
fn poller_role_passes_to_the_next_waiter() {
    loom::model(|| {
        let kernel = Arc::new(MockReactor::new(1));
        let core = Arc::new(Core::<u32>::new(2, Some(Box::new(kernel.clone()))));
        let first = spawn_taker(&core, SOON);
        let second = spawn_taker(&core, None);
        kernel.report(10);
        let first = first.join().unwrap();
        if first.is_ok() {
            // The first waiter reaped it; release the second one.
            core.post(20).unwrap();
        }
        let second = second.join().unwrap().unwrap();
        match first {
            Ok(v) => assert_eq!((v, second), (10, 20)),
            Err(e) => assert_eq!((e, second), (GetError::TimedOut, 10)),
        }
        assert!(drained(&core).is_empty());
        let c = core.counters();
        assert_eq!((c.waiting, c.queued), (0, 0));
    });
}

/// A post and a completion for two waiters that wait forever: whichever
/// one polls may be handed the post (woken in the "kernel"); it must then
/// pass the role to the other waiter, which reaps the completion. Each
/// packet is delivered once, nobody sleeps forever.
#[test]
fn poller_handed_a_post_passes_the_role_on() {
    loom::model(|| {
        let kernel = Arc::new(MockReactor::new(1));
        let core = Arc::new(Core::<u32>::new(2, Some(Box::new(kernel.clone()))));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let core = core.clone();
                loom::thread::spawn(move || take_one(&core, false, None).unwrap())
            })
            .collect();
        core.post(20).unwrap();
        kernel.report(10);
        let mut got: Vec<u32> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, vec![10, 20]);
        let c = core.counters();
        assert_eq!((c.waiting, c.queued, c.active), (0, 0, 2));
    });
}

const PANIC: u32 = u32::MAX;

/// The panic guard: whichever waiter polls keeps the first packet of a
/// batch, then user code panics in the reactor. The packet it kept goes to
/// the other waiter (never lost, never on a dead stack frame), and the
/// counters end whole.
#[test]
fn poller_panic_hands_its_packet_on() {
    // Every explored execution panics once, on purpose: keep that quiet.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload().downcast_ref::<&str>().copied();
        if !msg.is_some_and(|m| m.starts_with("expected panic:")) {
            report(info)
        }
    }));
    loom::model(|| {
        let kernel = Arc::new(MockReactor {
            panics_at: Some(PANIC),
            ..MockReactor::new(2)
        });
        let core = Arc::new(Core::<u32>::new(2, Some(Box::new(kernel.clone()))));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let core = core.clone();
                loom::thread::spawn(move || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        take_one(&core, false, None)
                    }))
                    .map(|got| got.unwrap())
                    .ok()
                })
            })
            .collect();
        {
            let mut ready = kernel.ready.lock().unwrap();
            ready.push(10);
            ready.push(PANIC);
        }
        kernel.doorbell.notify();
        let mut got: Vec<Option<u32>> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        got.sort();
        assert_eq!(
            got,
            vec![None, Some(10)],
            "one panicked, the other got the packet"
        );
        let c = core.counters();
        assert_eq!((c.waiting, c.queued, c.active), (0, 0, 1));
    });
}

/// A post racing a blocking-section entry that frees the only slot while a
/// thread waits: the waiter must get the packet — from the post, if it sees
/// the free slot, or from the section entry, if it sees the packet. (Each
/// side fences before it looks at the other.)
#[test]
fn post_races_blocking_entry() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, None));
        core.post(0).unwrap();
        assert_eq!(take_one(&core, false, None), Ok(0)); // main holds the slot
        let waiter = spawn_taker(&core, None);
        let poster = spawn_post(&core, 1);
        core.pause();
        assert_eq!(waiter.join().unwrap(), Ok(1));
        poster.join().unwrap().unwrap();
        core.resume();
        let c = core.counters();
        assert_eq!((c.queued, c.waiting, c.active, c.paused), (0, 0, 2, 0));
    });
}
