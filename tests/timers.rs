//! Timers (`post_after`, `cancel_timer`, timers at shutdown) and the
//! `in_flight` and `timers` counters, on each backend.

#[macro_use]
mod util;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use cport::{is_aborted, BackendChoice, GetError};
use util::{pair, pending, port, wait_counters};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn a_timer_queues_its_packet_after_the_delay(b: BackendChoice) {
    let port = port(2, b);
    let start = Instant::now();
    port.post_after(Duration::from_millis(50), 1, 2, 3).unwrap();
    assert_eq!(port.counters().timers, 1);
    assert_eq!(
        port.get(Some(Duration::ZERO)).unwrap_err(),
        GetError::TimedOut
    );
    let p = port.get(WAIT).expect("the timer's packet");
    assert!(
        start.elapsed() >= Duration::from_millis(50),
        "not before its delay"
    );
    assert_eq!((p.key, p.result.unwrap(), p.value), (1, 2, 3));
    assert_eq!(port.counters().timers, 0);
}

fn a_thread_already_waiting_gets_the_timer(b: BackendChoice) {
    // The waiter sleeps on its parker (nothing in flight) when the timer
    // starts: it must become the poller and wait for the timer.
    let port = port(2, b);
    let waiter = {
        let port = port.clone();
        thread::spawn(move || port.get(WAIT).map(|p| p.value))
    };
    wait_counters(&port, "waiter parked", |c| c.waiting == 1);
    port.post_after(Duration::from_millis(20), 0, 0, 9).unwrap();
    assert_eq!(waiter.join().unwrap(), Ok(9));
}

fn an_earlier_timer_wakes_the_poller(b: BackendChoice) {
    let port = port(2, b);
    let late = port.post_after(Duration::from_secs(60), 0, 0, 1).unwrap();
    let start = Instant::now();
    let waiter = {
        let port = port.clone();
        thread::spawn(move || port.get(WAIT).map(|p| p.value))
    };
    wait_counters(&port, "waiter polling", |c| c.waiting == 1);
    port.post_after(Duration::from_millis(20), 0, 0, 2).unwrap();
    assert_eq!(
        waiter.join().unwrap(),
        Ok(2),
        "the 20 ms timer, not a timeout"
    );
    assert!(start.elapsed() < Duration::from_secs(9));
    assert_eq!(port.cancel_timer(late), Some(1));
}

fn a_cancelled_timer_gives_its_value_back_and_never_fires(b: BackendChoice) {
    let port = port(2, b);
    let id = port.post_after(Duration::from_millis(30), 0, 0, 5).unwrap();
    let kept = port.post_after(Duration::from_millis(60), 0, 0, 6).unwrap();
    assert_eq!(port.cancel_timer(id), Some(5));
    assert_eq!(port.cancel_timer(id), None, "cancelled once");
    assert_eq!(port.get(WAIT).unwrap().value, 6);
    assert_eq!(port.cancel_timer(kept), None, "fired already");
    assert_eq!(
        port.get(Some(Duration::from_millis(150))).unwrap_err(),
        GetError::TimedOut
    );
    assert_eq!(port.counters().timers, 0);
}

fn shutdown_cancels_timers_and_returns_their_values(b: BackendChoice) {
    let port = port(2, b);
    port.post_after(Duration::from_secs(60), 0, 0, 7).unwrap();
    port.post_after(Duration::from_secs(30), 0, 0, 8).unwrap();
    port.shutdown();
    let packets = port.drain();
    let values: Vec<u32> = packets.iter().map(|p| p.value).collect();
    assert_eq!(values, vec![8, 7], "in deadline order");
    assert!(packets
        .iter()
        .all(|p| p.result.as_ref().is_err_and(is_aborted)));
    assert_eq!(port.counters().timers, 0);
    let refused = port
        .post_after(Duration::from_millis(1), 0, 0, 11)
        .unwrap_err();
    assert_eq!(refused.value, 11);
}

fn in_flight_counts_operations_until_their_packet_is_delivered(b: BackendChoice) {
    let port = port(2, b);
    let (h, mut client) = pair(&port);
    assert_eq!(port.counters().in_flight, 0);
    pending(port.op(h).recv(vec![0; 16], 1));
    pending(port.op(h).recv(vec![0; 16], 2));
    assert_eq!(port.counters().in_flight, 2);
    client.write_all(b"x").unwrap();
    let first = port.get(WAIT).unwrap();
    assert_eq!(first.value, 1);
    assert_eq!(port.counters().in_flight, 1);
    port.cancel(h).unwrap();
    assert!(is_aborted(&port.get(WAIT).unwrap().result.unwrap_err()));
    assert_eq!(port.counters().in_flight, 0);
}

conformance!(
    a_timer_queues_its_packet_after_the_delay,
    a_thread_already_waiting_gets_the_timer,
    an_earlier_timer_wakes_the_poller,
    a_cancelled_timer_gives_its_value_back_and_never_fires,
    shutdown_cancels_timers_and_returns_their_values,
    in_flight_counts_operations_until_their_packet_is_delivered,
);
