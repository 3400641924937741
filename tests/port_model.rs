//! Random post/get/timeout/close sequences against a simple sequential model
//! (one thread, limit 1), the same with several worker threads, limits above
//! 1, blocking sections and LIFO hand-offs (each step runs to a known state
//! before the next, so the run is deterministic), plus a many-thread run that
//! checks every packet is delivered exactly once. Each runs on both backends.

mod util;

use std::collections::VecDeque;
use std::time::Duration;

use cport::{BackendChoice, Counters, GetError};
use proptest::prelude::*;
use util::{Cmd, Reply, Worker};

/// Epoll, and io_uring where it can be set up.
fn backends() -> Vec<BackendChoice> {
    let mut b = vec![BackendChoice::Epoll];
    if util::uring_or_skip() {
        b.push(BackendChoice::Uring);
    }
    b
}

#[derive(Clone, Debug)]
enum Op {
    Post(u32),
    Get(Option<Duration>),
    GetMany(usize),
    Drain,
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u32>().prop_map(Op::Post),
        4 => prop_oneof![Just(None), Just(Some(Duration::ZERO)), Just(Some(Duration::from_micros(50)))]
            .prop_map(Op::Get),
        2 => (1usize..5).prop_map(Op::GetMany),
        1 => Just(Op::Drain),
        1 => Just(Op::Close),
    ]
}

proptest! {
    #[test]
    fn port_matches_a_sequential_model(ops in proptest::collection::vec(op(), 1..60)) {
      for backend in backends() {
        let port = util::port(1, backend);
        let mut queue: VecDeque<u32> = VecDeque::new();
        let mut closed = false;
        let mut active = false;
        for op in ops.iter().cloned() {
            match op {
                Op::Post(v) => {
                    let r = port.post(v, v as usize, v);
                    if closed {
                        let p = r.unwrap_err().into_inner();
                        prop_assert_eq!((p.key, p.value), (v, v));
                    } else {
                        prop_assert!(r.is_ok());
                        queue.push_back(v);
                    }
                }
                // A get that would block forever on an empty open port is not
                // sequentially meaningful: the model turns it into a poll.
                Op::Get(t) => {
                    let t = if t.is_none() && queue.is_empty() && !closed { Some(Duration::ZERO) } else { t };
                    let r = port.get(t);
                    if closed && queue.is_empty() {
                        prop_assert_eq!(r.unwrap_err(), GetError::Closed);
                        active = false;
                    } else if let Some(v) = queue.pop_front() {
                        let p = r.unwrap();
                        prop_assert_eq!((p.key, p.value, p.result.unwrap()), (v, v, v as usize));
                        active = true;
                    } else {
                        prop_assert_eq!(r.unwrap_err(), GetError::TimedOut);
                        active = true;
                    }
                }
                Op::GetMany(max) => {
                    let mut out = Vec::new();
                    let max = std::num::NonZeroUsize::new(max).expect("the strategy makes 1..5");
                    let r = port.get_many(&mut out, max, Some(Duration::ZERO));
                    let max = max.get();
                    if closed && queue.is_empty() {
                        prop_assert_eq!(r, Err(GetError::Closed));
                        active = false;
                    } else if queue.is_empty() {
                        prop_assert_eq!(r, Err(GetError::TimedOut));
                        active = true;
                    } else {
                        let n = max.min(queue.len());
                        let expected: Vec<u32> = queue.drain(..n).collect();
                        prop_assert_eq!(r, Ok(n));
                        prop_assert_eq!(out.iter().map(|p| p.value).collect::<Vec<_>>(), expected);
                        active = true;
                    }
                }
                Op::Drain => {
                    let got: Vec<u32> = port.drain().into_iter().map(|p| p.value).collect();
                    prop_assert_eq!(got, queue.drain(..).collect::<Vec<_>>());
                }
                Op::Close => {
                    prop_assert_eq!(port.close(), !closed);
                    closed = true;
                }
            }
            let c = port.counters();
            prop_assert_eq!(c.queued as usize, queue.len());
            prop_assert_eq!(c.waiting, 0);
            prop_assert_eq!(c.active, u32::from(active));
            prop_assert_eq!(port.is_closed(), closed);
        }
      }
    }
}

/// How long a worker's `get` may wait.
#[derive(Clone, Copy, Debug)]
enum Wait {
    Now,
    /// Times out: nothing else happens while it waits (steps run one by one).
    Brief,
    Forever,
}

impl Wait {
    fn timeout(self) -> Option<Duration> {
        match self {
            Wait::Now => Some(Duration::ZERO),
            Wait::Brief => Some(Duration::from_micros(200)),
            Wait::Forever => None,
        }
    }
}

/// One step of the multi-thread model; `usize` picks a worker.
#[derive(Clone, Debug)]
enum Step {
    Post(u32),
    Get(usize, Wait),
    GetMany(usize, usize),
    Enter(usize),
    Leave(usize),
    Drain,
    Close,
}

const WORKERS: usize = 3;

fn step() -> impl Strategy<Value = Step> {
    let w = 0..WORKERS;
    prop_oneof![
        6 => any::<u32>().prop_map(Step::Post),
        5 => (w.clone(), prop_oneof![1 => Just(Wait::Now), 1 => Just(Wait::Brief), 3 => Just(Wait::Forever)])
            .prop_map(|(w, t)| Step::Get(w, t)),
        1 => (w.clone(), 1usize..4).prop_map(|(w, m)| Step::GetMany(w, m)),
        2 => w.clone().prop_map(Step::Enter),
        2 => w.prop_map(Step::Leave),
        1 => Just(Step::Drain),
        1 => Just(Step::Close),
    ]
}

/// What the model knows about one worker thread.
#[derive(Clone, Copy, Default, Debug)]
struct Thread {
    /// Counts against the limit (took a packet or timed out, not back in get).
    active: bool,
    /// Inside a blocking section that moved it from active to paused.
    paused: bool,
    /// Inside a blocking section; `section_paused` if it paused the thread.
    in_section: bool,
    section_paused: bool,
    /// Blocked in `get(None)`, on the LIFO stack.
    parked: bool,
}

/// The queue rules of docs/semantics.md ("Queue rules", "Threads") as a sequential model with several threads.
struct Model {
    limit: usize,
    queue: VecDeque<u32>,
    /// Parked workers, most recent last.
    stack: Vec<usize>,
    threads: [Thread; WORKERS],
    closed: bool,
}

/// The queue's part of a port's counters, as the model keeps them.
fn queue_counters(c: Counters) -> (u32, u32, u32, u32, u32) {
    (c.queued, c.waiting, c.active, c.paused, c.limit)
}

fn key(v: u32) -> u32 {
    v.wrapping_mul(3)
}

impl Model {
    fn active(&self) -> usize {
        self.threads.iter().filter(|t| t.active).count()
    }

    /// The model's counters as (queued, waiting, active, paused, limit).
    fn counters(&self) -> (u32, u32, u32, u32, u32) {
        (
            self.queue.len() as u32,
            self.stack.len() as u32,
            self.active() as u32,
            self.threads.iter().filter(|t| t.paused).count() as u32,
            self.limit as u32,
        )
    }

    /// Worker `w` returns from `get` running (with a packet or timed out).
    fn runs(&mut self, w: usize) {
        let t = &mut self.threads[w];
        t.active = true;
        // A get inside a blocking section accounts the thread itself.
        t.paused = false;
        t.parked = false;
    }

    /// Worker `w` returns from `get` with `Closed`: it stops counting.
    fn leaves(&mut self, w: usize) {
        let t = &mut self.threads[w];
        t.active = false;
        t.paused = false;
        t.parked = false;
    }

    /// The most recent waiter, if one may run now, with the oldest packet.
    fn release(&mut self) -> Option<(usize, u32)> {
        if self.closed || self.stack.is_empty() || self.queue.is_empty() {
            return None;
        }
        if self.active() >= self.limit {
            return None;
        }
        let w = self.stack.pop()?;
        let v = self.queue.pop_front()?;
        self.runs(w);
        Some((w, v))
    }
}

/// The model says `worker` was released with `v`: its reply must come (a
/// wrong prediction fails in 2 s, not after the helpers' 10 s).
fn expect_got(worker: &Worker, v: u32) -> Result<(), TestCaseError> {
    let start = std::time::Instant::now();
    let reply = loop {
        if let Some(r) = worker.try_reply() {
            break r;
        }
        prop_assert!(
            start.elapsed() < Duration::from_secs(2),
            "worker {} was not released with {}",
            worker.name,
            v
        );
        std::thread::sleep(Duration::from_micros(50));
    };
    prop_assert_eq!(reply, Reply::Got(Ok((key(v), v))), "worker {}", worker.name);
    Ok(())
}

fn several_threads(
    backend: BackendChoice,
    limit: usize,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let port = util::port(limit, backend);
    let workers: Vec<Worker> = (0..WORKERS)
        .map(|i| Worker::spawn(&port, i as u32))
        .collect();
    let mut m = Model {
        limit,
        queue: VecDeque::new(),
        stack: Vec::new(),
        threads: [Thread::default(); WORKERS],
        closed: false,
    };
    for step in steps {
        match *step {
            Step::Post(v) => {
                let r = port.post(key(v), 0, v);
                if m.closed {
                    let p = r.unwrap_err().into_inner();
                    prop_assert_eq!((p.key, p.value), (key(v), v));
                } else {
                    prop_assert!(r.is_ok());
                    m.queue.push_back(v);
                    // Direct hand-off to the most recent waiter (LIFO).
                    if let Some((w, v)) = m.release() {
                        expect_got(&workers[w], v)?;
                    }
                }
            }
            // A parked worker takes no commands.
            Step::Get(w, _) | Step::GetMany(w, _) if m.threads[w].parked => {}
            Step::Get(w, wait) => {
                m.threads[w].active = false; // rule 1: it stops counting first
                let worker = &workers[w];
                if let Some(v) = m.queue.front().copied() {
                    if m.closed || m.active() < m.limit {
                        m.queue.pop_front();
                        m.runs(w);
                        prop_assert_eq!(
                            worker.got_after(Cmd::Get(wait.timeout())),
                            Ok((key(v), v))
                        );
                        check(&port, &m)?;
                        continue;
                    }
                }
                if m.closed {
                    m.leaves(w);
                    prop_assert_eq!(
                        worker.got_after(Cmd::Get(wait.timeout())),
                        Err(GetError::Closed)
                    );
                } else {
                    match wait {
                        Wait::Now | Wait::Brief => {
                            m.runs(w); // a thread that returns from a wait runs again
                            prop_assert_eq!(
                                worker.got_after(Cmd::Get(wait.timeout())),
                                Err(GetError::TimedOut)
                            );
                        }
                        Wait::Forever => {
                            m.threads[w].parked = true;
                            m.stack.push(w);
                            worker.send(Cmd::Get(None));
                            let n = m.stack.len() as u32;
                            util::wait_counters(&port, "the worker parks", |c| c.waiting == n);
                            prop_assert!(worker.try_reply().is_none(), "worker {} did not wait", w);
                        }
                    }
                }
            }
            Step::GetMany(w, max) => {
                m.threads[w].active = false;
                let take = !m.queue.is_empty() && (m.closed || m.active() < m.limit);
                let reply = workers[w].run(Cmd::GetMany(max, Some(Duration::ZERO)));
                if take {
                    let n = max.min(m.queue.len());
                    let expected: Vec<u32> = m.queue.drain(..n).collect();
                    m.runs(w);
                    prop_assert_eq!(reply, Reply::GotMany(Ok(expected)));
                } else if m.closed {
                    m.leaves(w);
                    prop_assert_eq!(reply, Reply::GotMany(Err(GetError::Closed)));
                } else {
                    m.runs(w);
                    prop_assert_eq!(reply, Reply::GotMany(Err(GetError::TimedOut)));
                }
            }
            Step::Enter(w) => {
                let t = m.threads[w];
                if t.parked || t.in_section {
                    continue;
                }
                prop_assert_eq!(workers[w].run(Cmd::EnterBlocking), Reply::Done);
                let t = &mut m.threads[w];
                t.in_section = true;
                t.section_paused = t.active;
                if t.active {
                    // active → paused: the freed slot may release a waiter.
                    t.active = false;
                    t.paused = true;
                    if let Some((w, v)) = m.release() {
                        expect_got(&workers[w], v)?;
                    }
                }
            }
            Step::Leave(w) => {
                let t = m.threads[w];
                if t.parked || !t.in_section {
                    continue;
                }
                prop_assert_eq!(workers[w].run(Cmd::LeaveBlocking), Reply::Done);
                let t = &mut m.threads[w];
                t.in_section = false;
                if t.section_paused && t.paused {
                    // Active again, even above the limit; nobody is released.
                    t.paused = false;
                    t.active = true;
                }
            }
            Step::Drain => {
                let got: Vec<u32> = port.drain().into_iter().map(|p| p.value).collect();
                prop_assert_eq!(got, m.queue.drain(..).collect::<Vec<_>>());
            }
            Step::Close => {
                prop_assert_eq!(port.close(), !m.closed);
                m.closed = true;
                // Every waiter wakes, most recent first: queued packets
                // while there are any (limit or not), then `Closed`.
                while let Some(w) = m.stack.pop() {
                    match m.queue.pop_front() {
                        Some(v) => {
                            m.runs(w);
                            expect_got(&workers[w], v)?;
                        }
                        None => {
                            m.leaves(w);
                            prop_assert_eq!(workers[w].reply(), Reply::Got(Err(GetError::Closed)));
                        }
                    }
                }
            }
        }
        check(&port, &m)?;
    }
    // End: close wakes whoever still waits; exited threads stop counting.
    port.close();
    m.closed = true;
    while let Some(w) = m.stack.pop() {
        match m.queue.pop_front() {
            Some(v) => expect_got(&workers[w], v)?,
            None => prop_assert_eq!(workers[w].reply(), Reply::Got(Err(GetError::Closed))),
        }
    }
    workers.into_iter().for_each(Worker::exit);
    let c = port.counters();
    prop_assert_eq!((c.waiting, c.active, c.paused), (0, 0, 0));
    prop_assert_eq!(port.drain().len(), m.queue.len());
    Ok(())
}

fn check(port: &util::TestPort, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(queue_counters(port.counters()), m.counters());
    prop_assert_eq!(port.is_closed(), m.closed);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    /// Several workers, limits 1–3: FIFO packets, LIFO hand-off to the most
    /// recent waiter, the limit, blocking sections, close — against the model.
    #[test]
    fn several_workers_match_the_model(
        limit in 1usize..=3,
        steps in proptest::collection::vec(step(), 1..50),
    ) {
        for backend in backends() {
            several_threads(backend, limit, &steps)?;
        }
    }
}

/// Many producers and consumers: every posted value comes out exactly once,
/// whatever the interleaving, and close ends every consumer.
#[test]
fn every_packet_is_delivered_exactly_once_under_contention() {
    const PRODUCERS: u32 = 4;
    const PER_PRODUCER: u32 = 20_000;
    for (limit, backend) in [
        (1usize, BackendChoice::Uring),
        (2, BackendChoice::Epoll),
        (4, BackendChoice::Auto),
    ] {
        if backend == BackendChoice::Uring && !util::uring_or_skip() {
            continue;
        }
        let port = util::port(limit, backend);
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let port = port.clone();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    let mut batch = Vec::new();
                    loop {
                        batch.clear();
                        match port.get_many(
                            &mut batch,
                            std::num::NonZeroUsize::new(3).unwrap(),
                            Some(Duration::from_millis(5)),
                        ) {
                            Ok(_) => seen.extend(batch.iter().map(|p| p.value)),
                            Err(GetError::TimedOut) => {}
                            Err(GetError::Closed) => return seen,
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let port = port.clone();
                std::thread::spawn(move || {
                    for i in 0..PER_PRODUCER {
                        port.post(p, 0, p * PER_PRODUCER + i).unwrap();
                    }
                })
            })
            .collect();
        producers.into_iter().for_each(|p| p.join().unwrap());
        util::wait_counters(&port, "queue drained", |c| c.queued == 0);
        port.close();
        let mut all: Vec<u32> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.extend(port.drain().into_iter().map(|p| p.value));
        all.sort_unstable();
        let expected: Vec<u32> = (0..PRODUCERS * PER_PRODUCER).collect();
        assert_eq!(all.len(), expected.len(), "limit {limit}");
        assert!(
            all == expected,
            "limit {limit}: a packet was lost or duplicated"
        );
    }
}
