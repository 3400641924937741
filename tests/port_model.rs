//! Random post/get/timeout/close sequences against a simple sequential model,
//! plus a many-thread run that checks every packet is delivered exactly once.

mod util;

use std::collections::VecDeque;
use std::time::Duration;

use cport::{BackendChoice, GetError};
use proptest::prelude::*;

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
        2 => (0usize..5).prop_map(Op::GetMany),
        1 => Just(Op::Drain),
        1 => Just(Op::Close),
    ]
}

proptest! {
    #[test]
    fn port_matches_a_sequential_model(ops in proptest::collection::vec(op(), 1..60)) {
        let port = util::port(1, cport::BackendChoice::Auto);
        let mut queue: VecDeque<u32> = VecDeque::new();
        let mut closed = false;
        let mut active = false;
        for op in ops {
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
                    let r = port.get_many(&mut out, max, Some(Duration::ZERO));
                    if max == 0 {
                        prop_assert_eq!(r, Err(GetError::ZeroMax));
                    } else if closed && queue.is_empty() {
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
        if backend == BackendChoice::Uring && !util::uring_available() {
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
                        match port.get_many(&mut batch, 3, Some(Duration::from_millis(5))) {
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
