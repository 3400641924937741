//! Port core behaviour (docs/semantics.md, "Queue rules" and "Threads"): deterministic, not timing-based. Each test
//! drives scripted worker threads into a known state (observed through the
//! counters), then asserts who receives which packet.

#[macro_use]
mod util;

use std::num::NonZeroUsize;
use std::time::Duration;

use cport::{BackendChoice, Counters, GetError};
use util::{port, wait_counters, Cmd, Reply, TestPort, Worker};

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Limit 1: `a` holds the only slot (it took packet 1), `b` is parked in
/// `get`, and packet 2 waits in the queue behind the limit.
fn slot_taken_one_parked_one_queued(backend: BackendChoice) -> (TestPort, Worker, Worker) {
    let port = port(1, backend);
    let (a, b) = (Worker::spawn(&port, 0), Worker::spawn(&port, 1));
    port.post(0, 0, 1).unwrap();
    assert_eq!(a.got_after(Cmd::Get(None)), Ok((0, 1)));
    b.send(Cmd::Get(None));
    wait_counters(&port, "b parked", |c| c.waiting == 1);
    port.post(0, 0, 2).unwrap();
    assert_eq!(port.counters().queued, 1);
    (port, a, b)
}

fn packets_come_out_in_fifo_order(b: BackendChoice) {
    let port = port(1, b);
    for v in 0..100 {
        port.post(1, v as usize, v).unwrap();
    }
    for v in 0..100 {
        let p = port.get(NOW).unwrap();
        assert_eq!((p.key, p.result.unwrap(), p.value), (1, v as usize, v));
    }
    assert_eq!(port.get(NOW).unwrap_err(), GetError::TimedOut);
}

fn waiters_are_released_last_in_first_out(b: BackendChoice) {
    let port = port(8, b);
    let workers: Vec<Worker> = (0..4).map(|i| Worker::spawn(&port, i)).collect();
    // Park them in a known order: 0, then 1, then 2, then 3.
    for (i, w) in workers.iter().enumerate() {
        w.send(Cmd::Get(None));
        wait_counters(&port, "worker parked", |c| c.waiting == i as u32 + 1);
    }
    // Each post goes to the most recent waiter still waiting.
    for expected in (0..4).rev() {
        port.post(0, 0, 100 + expected).unwrap();
        let w = &workers[expected as usize];
        assert_eq!(
            w.got(),
            Ok((0, 100 + expected)),
            "worker {expected} should be released"
        );
        assert_eq!(port.counters().waiting, expected);
    }
    assert_eq!(port.counters().queued, 0);
    workers.into_iter().for_each(Worker::exit);
    assert_eq!(port.counters().active, 0, "exited threads stop counting");
}

fn limit_one_keeps_the_second_worker_asleep_and_the_hot_worker_takes_the_next_packet(
    b: BackendChoice,
) {
    let port = port(1, b);
    let (a, b) = (Worker::spawn(&port, 0), Worker::spawn(&port, 1));
    port.post(0, 0, 1).unwrap();
    assert_eq!(a.run(Cmd::Get(None)), Reply::Got(Ok((0, 1))));
    assert_eq!(port.counters().active, 1);

    b.send(Cmd::Get(None));
    wait_counters(&port, "b parked", |c| c.waiting == 1);
    port.post(0, 0, 2).unwrap();
    // a is active and the limit is 1: the packet stays queued, b stays asleep.
    assert_eq!(
        queue_counters(port.counters()),
        QueueCounters {
            queued: 1,
            waiting: 1,
            active: 1,
            paused: 0,
            limit: 1
        }
    );
    assert!(b.try_reply().is_none());
    // a comes back to get: it stops counting first and takes the packet itself.
    assert_eq!(a.run(Cmd::Get(None)), Reply::Got(Ok((0, 2))));
    assert_eq!(
        queue_counters(port.counters()),
        QueueCounters {
            queued: 0,
            waiting: 1,
            active: 1,
            paused: 0,
            limit: 1
        }
    );
    assert!(b.try_reply().is_none());
    port.close();
    assert_eq!(b.got(), Err(GetError::Closed));
    a.exit();
    b.exit();
}

fn close_hands_queued_packets_to_waiters_before_closed(b: BackendChoice) {
    // Limit 1 and the slot taken: a packet stays queued while a thread waits.
    let (port, a, w) = slot_taken_one_parked_one_queued(b);
    port.close();
    // Every packet is delivered before anyone is told the port closed.
    assert_eq!(w.got(), Ok((0, 2)));
    assert_eq!(w.got_after(Cmd::Get(None)), Err(GetError::Closed));
    assert_eq!(a.got_after(Cmd::Get(None)), Err(GetError::Closed));
    a.exit();
    w.exit();
}

fn blocking_section_releases_a_waiter_and_the_limit_is_exceeded_afterwards(b: BackendChoice) {
    let (port, a, b) = slot_taken_one_parked_one_queued(b);

    // a blocks outside the port: its slot goes to b, who takes the queued packet.
    assert!(matches!(a.run(Cmd::EnterBlocking), Reply::Done));
    assert_eq!(b.got(), Ok((0, 2)));
    assert_eq!(
        queue_counters(port.counters()),
        QueueCounters {
            queued: 0,
            waiting: 0,
            active: 1,
            paused: 1,
            limit: 1
        }
    );
    // a comes back: active 2 > limit 1, as on Windows.
    assert!(matches!(a.run(Cmd::LeaveBlocking), Reply::Done));
    assert_eq!(
        queue_counters(port.counters()),
        QueueCounters {
            queued: 0,
            waiting: 0,
            active: 2,
            paused: 0,
            limit: 1
        }
    );
    // While over the limit no waiter is released: b returns to get (active 1,
    // not below the limit) and waits although a packet is queued.
    port.post(0, 0, 3).unwrap();
    b.send(Cmd::Get(None));
    wait_counters(&port, "b parked again", |c| c.waiting == 1);
    assert_eq!(port.counters().queued, 1);
    assert!(b.try_reply().is_none());
    // a returns to get: active drops to 0 and a takes the packet itself.
    assert_eq!(a.got_after(Cmd::Get(None)), Ok((0, 3)));
    assert!(b.try_reply().is_none());
    port.close();
    assert_eq!(b.got(), Err(GetError::Closed));
    a.exit();
    b.exit();
}

fn blocking_section_on_a_thread_that_is_not_active_changes_nothing(b: BackendChoice) {
    let port = port(1, b);
    let before = port.counters();
    let inside = port.blocking(|| port.counters());
    assert_eq!(inside, before);
    assert_eq!(port.counters(), before);
}

fn get_inside_a_blocking_section_is_counted_once(b: BackendChoice) {
    let port = port(2, b);
    port.post(0, 0, 1).unwrap();
    port.post(0, 0, 2).unwrap();
    assert_eq!(port.get(NOW).unwrap().value, 1);
    {
        let _section = port.enter_blocking();
        assert_eq!((port.counters().active, port.counters().paused), (0, 1));
        assert_eq!(port.get(NOW).unwrap().value, 2);
        assert_eq!((port.counters().active, port.counters().paused), (1, 0));
    }
    assert_eq!((port.counters().active, port.counters().paused), (1, 0));
}

fn timeout_is_distinguishable_from_a_failed_operation(b: BackendChoice) {
    let port = port(1, b);
    assert_eq!(
        port.get(Some(Duration::from_millis(20))).unwrap_err(),
        GetError::TimedOut
    );
    let mut failed = cport::Packet::new(9, 0, 5);
    failed.result = Err(std::io::Error::from_raw_os_error(libc_econnreset()));
    port.post_packet(failed).unwrap();
    let p = port
        .get(Some(Duration::from_millis(20)))
        .expect("a packet, not a timeout");
    assert_eq!((p.key, p.value), (9, 5));
    assert_eq!(
        p.result.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset
    );
}

fn libc_econnreset() -> i32 {
    104
}

fn close_wakes_every_waiter_with_closed(b: BackendChoice) {
    let port = port(4, b);
    let workers: Vec<Worker> = (0..3).map(|i| Worker::spawn(&port, i)).collect();
    for (i, w) in workers.iter().enumerate() {
        w.send(Cmd::Get(None));
        wait_counters(&port, "parked", |c| c.waiting == i as u32 + 1);
    }
    assert!(port.close());
    for w in &workers {
        assert_eq!(w.got(), Err(GetError::Closed));
    }
    assert_eq!(port.counters().waiting, 0);
    assert!(!port.close(), "second close reports it was closed already");
    workers.into_iter().for_each(Worker::exit);
}

fn closed_port_refuses_posts_and_returns_the_packet(b: BackendChoice) {
    let port = port(1, b);
    port.post(1, 1, 1).unwrap();
    port.close();
    let err = port.post(7, 8, 9).unwrap_err();
    let p = err.into_inner();
    assert_eq!((p.key, p.result.unwrap(), p.value), (7, 8, 9));
    // What was queued before the close is still delivered, then `Closed`.
    assert_eq!(port.get(None).unwrap().value, 1);
    assert_eq!(port.get(None).unwrap_err(), GetError::Closed);
    assert_eq!(port.get(NOW).unwrap_err(), GetError::Closed);
    assert!(port.drain().is_empty());
}

fn dropping_a_clone_keeps_the_port_open(b: BackendChoice) {
    let port = port(1, b);
    let other = port.clone();
    drop(port);
    assert!(!other.is_closed());
    other.post(0, 0, 1).unwrap();
    assert_eq!(other.get(NOW).unwrap().value, 1);
}

fn get_many_respects_max_and_order(b: BackendChoice) {
    let port = port(1, b);
    let mut out = Vec::new();
    let nz = |n| NonZeroUsize::new(n).unwrap();
    assert_eq!(port.get_many(&mut out, nz(4), NOW), Err(GetError::TimedOut));
    for v in 0..5 {
        port.post(0, 0, v).unwrap();
    }
    assert_eq!(port.get_many(&mut out, nz(3), NOW), Ok(3));
    assert_eq!(
        out.iter().map(|p| p.value).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(port.get_many(&mut out, nz(10), NOW), Ok(2));
    assert_eq!(
        out.iter().map(|p| p.value).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(port.counters().active, 1, "get_many counts as one get");
}

fn get_many_waiter_gets_the_handed_packet_then_what_is_queued(b: BackendChoice) {
    let port = port(4, b);
    let w = Worker::spawn(&port, 0);
    w.send(Cmd::GetMany(3, None));
    wait_counters(&port, "parked", |c| c.waiting == 1);
    port.post(0, 0, 10).unwrap();
    match w.reply() {
        Reply::GotMany(Ok(values)) => assert_eq!(values, vec![10]),
        other => panic!("{other:?}"),
    }
    w.exit();
}

/// The queue's counters: `Counters` is non-exhaustive (it grows), so tests
/// compare the fields they mean.
#[derive(Debug, PartialEq)]
struct QueueCounters {
    queued: u32,
    waiting: u32,
    active: u32,
    paused: u32,
    limit: u32,
}

fn queue_counters(c: Counters) -> QueueCounters {
    QueueCounters {
        queued: c.queued,
        waiting: c.waiting,
        active: c.active,
        paused: c.paused,
        limit: c.limit,
    }
}

fn counters_follow_the_state(b: BackendChoice) {
    let port = port(3, b);
    assert_eq!(
        queue_counters(port.counters()),
        QueueCounters {
            queued: 0,
            waiting: 0,
            active: 0,
            paused: 0,
            limit: 3
        }
    );
    port.post(0, 0, 0).unwrap();
    port.post(0, 0, 1).unwrap();
    assert_eq!(port.counters().queued, 2);
    port.get(NOW).unwrap();
    assert_eq!((port.counters().queued, port.counters().active), (1, 1));
    let _section = port.enter_blocking();
    assert_eq!((port.counters().active, port.counters().paused), (0, 1));
}

fn default_limit_is_the_cpu_count_and_limits_are_checked(b: BackendChoice) {
    let port = port(0, b);
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(port.limit(), cpus);
    let too_big: std::io::Result<cport::Port<u32, u32>> = cport::Port::builder()
        .concurrency(cport::Port::<u32, u32>::MAX_CONCURRENCY as usize + 1)
        .build();
    assert_eq!(
        too_big.unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
}

fn huge_timeout_waits_like_forever(b: BackendChoice) {
    let port = port(2, b);
    let w = Worker::spawn(&port, 0);
    w.send(Cmd::Get(Some(Duration::MAX)));
    wait_counters(&port, "parked", |c| c.waiting == 1);
    port.post(3, 0, 4).unwrap();
    assert_eq!(w.got(), Ok((3, 4)));
    w.exit();
}

fn thread_exit_and_moving_ports_give_the_slot_back(b: BackendChoice) {
    let (p1, p2) = (port(1, b), port(1, b));
    p1.post(0, 0, 1).unwrap();
    p1.post(0, 0, 2).unwrap();
    assert_eq!(p1.get(NOW).unwrap().value, 1);
    assert_eq!(p1.counters().active, 1);
    // Waiting on another port moves the thread: p1 gets its slot back.
    assert_eq!(p2.get(NOW).unwrap_err(), GetError::TimedOut);
    assert_eq!(p1.counters().active, 0);
    assert_eq!(p2.counters().active, 1);

    let w = Worker::spawn(&p1, 0);
    assert_eq!(w.got_after(Cmd::Get(NOW)), Ok((0, 2)));
    assert_eq!(p1.counters().active, 1);
    w.exit();
    assert_eq!(p1.counters().active, 0);
}

fn thread_exit_releases_a_waiter_for_a_queued_packet(b: BackendChoice) {
    let (_port, a, b) = slot_taken_one_parked_one_queued(b);
    assert!(b.try_reply().is_none());
    a.exit();
    assert_eq!(b.got(), Ok((0, 2)));
    b.exit();
}

/// Regression: a completion filter that panics in the
/// poller unwound out of `get` leaving the waiter's node — on the dead frame
/// — on the waiter stack and the poller role taken; the next hand-off wrote
/// into freed stack memory and no waiter reaped again.
fn panicking_completion_filter_leaves_the_port_usable(b: BackendChoice) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let port = port(4, b);
    let armed = Arc::new(AtomicBool::new(true));
    {
        let armed = armed.clone();
        port.set_completion_filter(move |_| {
            if armed.swap(false, Ordering::SeqCst) {
                panic!("the completion filter panics once");
            }
            true
        })
        .unwrap();
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let h = port.associate(listener.accept().unwrap().0, 1).unwrap();
    let recv = |value| match port.op(h).recv(vec![0; 8], value) {
        Ok(cport::Issued::Pending(_)) => {}
        other => panic!("{other:?}"),
    };
    recv(1);
    // The only waiter polls the kernel; the completion's filter panics in it.
    let poller = {
        let port = port.clone();
        std::thread::spawn(move || port.get(Some(Duration::from_secs(10))).map(|p| p.value))
    };
    wait_counters(&port, "the poller waits", |c| c.waiting == 1);
    client.write_all(b"x").unwrap();
    assert!(
        poller.join().is_err(),
        "the filter's panic reached the waiter"
    );
    assert!(!armed.load(Ordering::SeqCst));
    assert_eq!(
        port.counters().waiting,
        0,
        "the dead waiter's node left the stack"
    );
    assert_eq!(
        port.counters().active,
        0,
        "the waiter was not active before"
    );

    // Waiters still get posts (the hand-off finds a live node) ...
    let w = Worker::spawn(&port, 0);
    w.send(Cmd::Get(None));
    wait_counters(&port, "w parked", |c| c.waiting == 1);
    port.post(0, 0, 9).unwrap();
    assert_eq!(w.got(), Ok((0, 9)));
    // ... and completions: the poller role was given up, a new waiter takes it.
    recv(2);
    w.send(Cmd::Get(None));
    wait_counters(&port, "w parked again", |c| c.waiting == 1);
    client.write_all(b"y").unwrap();
    assert_eq!(w.got(), Ok((1, 2)));
    w.exit();
    assert_eq!(port.counters().waiting, 0);
    // Nothing is left counted in flight: dropping the port does not wait
    // out DROP_WAIT for the operation whose filter panicked.
    let start = std::time::Instant::now();
    drop(port);
    assert!(
        start.elapsed() < cport::DROP_WAIT / 2,
        "the port's drop waited for an operation that had completed"
    );
}

/// Dropping a port must not unwind, even when dropping a packet still queued
/// in it runs a `Drop` that panics (during a panic that would abort).
fn dropping_a_port_contains_panicking_packet_drops(b: BackendChoice) {
    struct Bomb(bool);
    impl Drop for Bomb {
        fn drop(&mut self) {
            if self.0 {
                panic!("a packet value's drop panics");
            }
        }
    }
    let port: cport::Port<u32, Bomb> = cport::Port::builder().backend(b).build().unwrap();
    port.post(0, 0, Bomb(true)).unwrap();
    port.post(0, 0, Bomb(true)).unwrap();
    port.post(0, 0, Bomb(false)).unwrap();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(port)));
    assert!(dropped.is_ok(), "Port::drop unwound");
}

conformance!(
    dropping_a_port_contains_panicking_packet_drops,
    panicking_completion_filter_leaves_the_port_usable,
    close_hands_queued_packets_to_waiters_before_closed,
    packets_come_out_in_fifo_order,
    waiters_are_released_last_in_first_out,
    limit_one_keeps_the_second_worker_asleep_and_the_hot_worker_takes_the_next_packet,
    blocking_section_releases_a_waiter_and_the_limit_is_exceeded_afterwards,
    blocking_section_on_a_thread_that_is_not_active_changes_nothing,
    get_inside_a_blocking_section_is_counted_once,
    timeout_is_distinguishable_from_a_failed_operation,
    close_wakes_every_waiter_with_closed,
    closed_port_refuses_posts_and_returns_the_packet,
    dropping_a_clone_keeps_the_port_open,
    get_many_respects_max_and_order,
    get_many_waiter_gets_the_handed_packet_then_what_is_queued,
    counters_follow_the_state,
    default_limit_is_the_cpu_count_and_limits_are_checked,
    huge_timeout_waits_like_forever,
    thread_exit_and_moving_ports_give_the_slot_back,
    thread_exit_releases_a_waiter_for_a_queued_packet,
);
