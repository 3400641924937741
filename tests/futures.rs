//! Awaited operations (feature `futures`), on each backend and on tokio's
//! and the `futures` crate's executors: results and buffers come back, the
//! packet of an awaited operation never appears in `get`, worker threads in
//! `get` and async tasks share one port, a dropped future cancels its
//! operation and its buffer is dropped once (after the kernel is done), and
//! a waiting future does not keep a CPU busy. No test here has another
//! thread in `get` unless it says so. Loopback only; every wait is bounded.
//!
//! The tests of this file run one at a time (`serial`): one of them measures
//! the process's CPU time.

#[macro_use]
mod util;

use std::future::Future;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cport::{is_aborted, BackendChoice, GetError, IoBuf, IoBufMut, Packet, Port};
use futures::future::{join, select, Either};
use util::{listener, pair, pending, wait_until, TestPort};

const WAIT: Duration = Duration::from_secs(10);

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn port(b: BackendChoice) -> TestPort {
    util::builder(b).concurrency(2).build().expect("port")
}

/// Resolves after `d` (a thread sleeps; works on any executor).
fn after(d: Duration) -> futures::channel::oneshot::Receiver<()> {
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        std::thread::sleep(d);
        let _ = tx.send(());
    });
    rx
}

/// `fut`'s output, or `None` if it did not resolve within `d`.
async fn within<F: Future + Unpin>(d: Duration, fut: F) -> Option<F::Output> {
    match select(fut, after(d)).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

/// Nothing was queued for `get` (the awaited packets went to their futures).
fn assert_queue_empty<V, B>(port: &Port<u32, V, B>)
where
    V: Send + 'static,
    B: IoBuf,
{
    assert_eq!(
        port.get(Some(Duration::from_millis(50)))
            .map(|p| p.key)
            .unwrap_err(),
        GetError::TimedOut
    );
    assert_eq!(port.counters().in_flight, 0);
}

fn block_on_recv_and_send_with_no_thread_in_get(b: BackendChoice) {
    let _serial = serial();
    let port = port(b);
    let (h, mut client) = pair(&port);
    // The data comes later: the future must really wait.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        client.write_all(b"hello, future").unwrap();
        client
    });
    let p = futures::executor::block_on(within(
        WAIT,
        port.op(h).awaitable().recv(Vec::with_capacity(64), 7),
    ))
    .expect("the recv resolves");
    assert_eq!(p.value, 7);
    assert_eq!(p.result.unwrap(), 13);
    // A capacity buffer comes back with the received bytes as its length.
    assert_eq!(p.buf.unwrap(), b"hello, future");
    let mut client = writer.join().unwrap();
    let p = futures::executor::block_on(port.op(h).awaitable().send(b"back".to_vec(), 8));
    assert_eq!((p.value, p.result.unwrap()), (8, 4));
    assert_eq!(p.buf.unwrap(), b"back");
    let mut got = [0; 4];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"back");
    // Skip-on-success: a receive that completes at once resolves at once.
    port.set_skip_on_success(h, true).unwrap();
    client.write_all(b"ready").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let fut = port.op(h).awaitable().recv(Vec::with_capacity(8), 9);
    assert_eq!(fut.id(), None, "completed inline");
    let p = futures::executor::block_on(fut);
    assert_eq!((p.value, p.result.unwrap()), (9, 5));
    assert_eq!(p.buf.unwrap(), b"ready");
    assert_queue_empty(&port);
}

fn tokio_current_thread_accept_connect_and_echo(b: BackendChoice) {
    let _serial = serial();
    let port = port(b);
    let (l, addr) = listener();
    let lh = port.associate(l, 10).unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let ch = port.associate(sock, 20).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut accepted, connected) = join(
            port.op(lh).awaitable().accept(1),
            port.op(ch).awaitable().connect(addr, 2),
        )
        .await;
        assert_eq!(connected.result.unwrap(), 0);
        assert_eq!(accepted.value, 1);
        assert!(accepted.addr().unwrap().ip().is_loopback());
        let server = accepted.take_stream().expect("accept yields the stream");
        let sh = port.associate(server, 30).unwrap();
        for round in 0..5u8 {
            let msg = vec![round; 100 + round as usize];
            let (sent, got) = join(
                port.op(ch).awaitable().send(msg.clone(), 3),
                port.op(sh).awaitable().recv(Vec::with_capacity(4096), 4),
            )
            .await;
            assert_eq!(sent.result.unwrap(), msg.len());
            // A short receive is possible in principle: read the rest.
            let mut data = got.buf.unwrap();
            while data.len() < msg.len() {
                let more = port
                    .op(sh)
                    .awaitable()
                    .recv(Vec::with_capacity(4096), 5)
                    .await;
                data.extend_from_slice(&more.buf.unwrap());
            }
            assert_eq!(data, msg);
        }
    });
    assert_queue_empty(&port);
}

fn tokio_multi_thread_tasks_echo_many_connections(b: BackendChoice) {
    let _serial = serial();
    let port = port(b);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    const CONNS: usize = 6;
    const ROUNDS: usize = 20;
    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    for c in 0..CONNS {
        let (h, client) = pair(&port);
        let port = port.clone();
        // The server side: an async echo task.
        tasks.push(rt.spawn(async move {
            let mut echoed = 0;
            loop {
                let p = port.op(h).awaitable().recv(vec![0; 512], 0).await;
                let n = p.result.unwrap();
                if n == 0 {
                    return echoed;
                }
                let mut buf = p.buf.unwrap();
                buf.truncate(n);
                let s = port.op(h).awaitable().send(buf, 0).await;
                echoed += s.result.unwrap();
            }
        }));
        clients.push(std::thread::spawn(move || {
            let mut client = client;
            client.set_read_timeout(Some(WAIT)).unwrap();
            for r in 0..ROUNDS {
                let msg: Vec<u8> = (0..(r * 13 + c) % 300 + 1).map(|i| (i + c) as u8).collect();
                client.write_all(&msg).unwrap();
                let mut back = vec![0; msg.len()];
                client.read_exact(&mut back).unwrap();
                assert_eq!(back, msg);
            }
            client.shutdown(std::net::Shutdown::Write).unwrap();
        }));
    }
    for c in clients {
        c.join().unwrap();
    }
    let echoed: usize = rt.block_on(async {
        let mut total = 0;
        for t in tasks {
            total += within(WAIT, t).await.expect("echo task ends").unwrap();
        }
        total
    });
    let expected: usize = (0..CONNS)
        .flat_map(|c| (0..ROUNDS).map(move |r| (r * 13 + c) % 300 + 1))
        .sum();
    assert_eq!(echoed, expected);
    assert_queue_empty(&port);
}

fn thread_pool_and_local_pool_read_and_write_a_file(b: BackendChoice) {
    let _serial = serial();
    let port = port(b);
    let file = util::temp_file("futures");
    let h = port.associate(file, 1).unwrap();
    let pool = futures::executor::ThreadPool::builder()
        .pool_size(2)
        .create()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let port = port.clone();
        pool.spawn_ok(async move {
            let w = port
                .op(h)
                .awaitable()
                .write_at(b"0123456789".to_vec(), 100, 1)
                .await;
            let r = port
                .op(h)
                .awaitable()
                .read_at(Vec::with_capacity(32), 104, 2)
                .await;
            tx.send((w.result.unwrap(), r.result.unwrap(), r.buf.unwrap()))
                .unwrap();
        });
    }
    let (written, read, data) = rx.recv_timeout(WAIT).expect("the pool's task ends");
    assert_eq!((written, read), (10, 6));
    assert_eq!(data, b"456789");
    // The same on a LocalPool; reading past the end gives 0 bytes.
    let mut local = futures::executor::LocalPool::new();
    let got = local.run_until(async {
        let r = port
            .op(h)
            .awaitable()
            .read_at(Vec::with_capacity(8), 110, 3)
            .await;
        (r.value, r.result.unwrap(), r.buf.unwrap().len())
    });
    assert_eq!(got, (3, 0, 0));
    assert_queue_empty(&port);
}

fn workers_in_get_and_awaited_ops_share_the_port_each_packet_once(b: BackendChoice) {
    let _serial = serial();
    let port = port(b);
    let (queued_h, mut queued_client) = pair(&port);
    let (awaited_h, mut awaited_client) = pair(&port);
    // A worker thread in `get` the whole time: it is the poller when it
    // waits, so it reaps the awaited operations' completions too.
    let worker = {
        let port = port.clone();
        std::thread::spawn(move || {
            let mut values = Vec::new();
            loop {
                match port.get(Some(WAIT)) {
                    Ok(p) if p.value == u32::MAX => return values,
                    Ok(p) => values.push((p.value, p.result.unwrap())),
                    Err(e) => panic!("worker: {e:?}"),
                }
            }
        })
    };
    const N: u32 = 10;
    for i in 0..N {
        pending(port.op(queued_h).recv(vec![0; 1], i));
    }
    let awaited = futures::executor::block_on(async {
        let mut got = Vec::new();
        for i in 0..N {
            let fut = port.op(awaited_h).awaitable().recv(vec![0; 1], 100 + i);
            queued_client.write_all(&[i as u8]).unwrap();
            awaited_client.write_all(&[i as u8]).unwrap();
            let p = within(WAIT, fut).await.expect("awaited recv resolves");
            got.push((p.value, p.buf.unwrap()[0]));
        }
        got
    });
    assert_eq!(
        awaited,
        (0..N).map(|i| (100 + i, i as u8)).collect::<Vec<_>>()
    );
    wait_until("the queued recvs complete", || {
        port.counters().in_flight == 0
    });
    port.post(0, 0, u32::MAX).unwrap();
    let mut values = worker.join().unwrap();
    values.sort();
    // Exactly the queued operations' packets, each once; none of the awaited.
    assert_eq!(values, (0..N).map(|i| (i, 1)).collect::<Vec<_>>());
    assert_queue_empty(&port);
}

fn a_get_waiter_leaving_the_poller_role_hands_reaping_back(b: BackendChoice) {
    let _serial = serial();
    let port = port(b);
    let (h, mut client) = pair(&port);
    // A waiter in `get` with a short timeout: when the awaited recv starts
    // it may be made the poller; it then times out and leaves the role
    // while the recv still waits. The recv must complete all the same.
    let waiter = {
        let port = port.clone();
        std::thread::spawn(move || port.get(Some(Duration::from_millis(150))).map(|p| p.value))
    };
    wait_until("the waiter waits", || port.counters().waiting == 1);
    let fut = port.op(h).awaitable().recv(vec![0; 8], 1);
    assert_eq!(waiter.join().unwrap().unwrap_err(), GetError::TimedOut);
    std::thread::sleep(Duration::from_millis(50));
    client.write_all(b"late").unwrap();
    let p = futures::executor::block_on(within(WAIT, fut)).expect("the recv resolves");
    assert_eq!(p.result.unwrap(), 4);
    assert_queue_empty(&port);
}

/// A buffer that counts its drops.
struct Tracked {
    bytes: Vec<u8>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: forwards to the Vec, whose heap memory does not move with it.
unsafe impl IoBuf for Tracked {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.bytes.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.bytes.bytes_total()
    }
}

// SAFETY: forwards to the Vec.
unsafe impl IoBufMut for Tracked {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.bytes.set_init(n) }
    }
}

fn dropping_a_future_cancels_its_operation_and_drops_the_buffer_once(b: BackendChoice) {
    let _serial = serial();
    let port: Port<u32, u32, Tracked> = util::builder(b).concurrency(2).build().unwrap();
    let (l, addr) = listener();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let h = port.associate(l.accept().unwrap().0, 1).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let tracked = |n| Tracked {
        bytes: Vec::with_capacity(n),
        drops: drops.clone(),
    };
    // Polled once (it waits in the kernel), then dropped.
    let mut fut = port.op(h).awaitable().recv(tracked(64), 1);
    let id = fut.id().expect("in flight");
    assert!(futures::executor::block_on(within(Duration::from_millis(30), &mut fut)).is_none());
    drop(fut);
    // The cancelled operation completes (aborted) and its completion drops
    // the buffer: once, with nobody in `get`.
    wait_until("the cancelled recv's buffer is dropped", || {
        drops.load(Ordering::SeqCst) == 1
    });
    wait_until("nothing in flight", || port.counters().in_flight == 0);
    assert!(port.cancel_op(h, id).is_err(), "it is over");
    // Never polled at all: the same.
    drop(port.op(h).awaitable().recv(tracked(64), 2));
    wait_until("the second buffer is dropped", || {
        drops.load(Ordering::SeqCst) == 2
    });
    // The cancelled receives took no data: the next one gets it all.
    client.write_all(b"all of it").unwrap();
    let p = futures::executor::block_on(within(WAIT, port.op(h).awaitable().recv(tracked(64), 3)))
        .expect("the recv resolves");
    assert_eq!(*p.result.as_ref().unwrap(), 9);
    assert_eq!(p.buf.as_ref().unwrap().bytes, b"all of it");
    drop(p);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    // Completed but never polled: dropping the future drops the packet.
    let fut = port.op(h).awaitable().recv(tracked(64), 4);
    client.write_all(b"unread").unwrap();
    wait_until("the recv completes", || port.counters().in_flight == 0);
    assert_eq!(drops.load(Ordering::SeqCst), 3, "the future holds it");
    drop(fut);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    // No packet of the cancelled operations went to the queue.
    assert_queue_empty(&port);
}

fn close_shutdown_and_timeouts_resolve_awaited_operations(b: BackendChoice) {
    let _serial = serial();
    let port = port(b);
    let (h1, _c1) = pair(&port);
    let (h2, _c2) = pair(&port);
    let timed = port
        .op(h1)
        .timeout(Duration::from_millis(40))
        .awaitable()
        .recv(vec![0; 8], 1);
    let p = futures::executor::block_on(within(WAIT, timed)).expect("the timeout fires");
    assert_eq!(p.result.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(p.buf.unwrap().len(), 8);
    let closing = port.op(h1).awaitable().recv(vec![0; 8], 2);
    port.close_handle(h1).unwrap();
    let p = futures::executor::block_on(within(WAIT, closing)).expect("close ends it");
    assert!(is_aborted(p.result.as_ref().unwrap_err()), "{:?}", p.result);
    assert_eq!(p.value, 2);
    // A closed handle: refused at once, value and buffer back.
    let p = futures::executor::block_on(port.op(h1).awaitable().recv(vec![1; 3], 3));
    assert_eq!(
        p.result.unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    assert_eq!((p.value, p.buf.unwrap()), (3, vec![1; 3]));
    let pending_at_shutdown = port.op(h2).awaitable().recv(vec![0; 8], 4);
    let waiter = std::thread::spawn(move || futures::executor::block_on(pending_at_shutdown));
    port.shutdown();
    let p: Packet<(), u32> = waiter.join().unwrap();
    assert!(is_aborted(p.result.as_ref().unwrap_err()), "{:?}", p.result);
    assert_eq!(p.value, 4);
}

/// CPU time the whole process used so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes one `struct rusage` into the zeroed local.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn a_waiting_future_does_not_keep_a_cpu_busy(b: BackendChoice) {
    let _serial = serial();
    let port = port(b);
    let (h, mut client) = pair(&port);
    let fut = port.op(h).awaitable().recv(vec![0; 8], 1);
    // Let the driver settle into its wait, then measure an idle stretch.
    std::thread::sleep(Duration::from_millis(50));
    let (cpu, wall) = (process_cpu(), Instant::now());
    let mut fut = fut;
    assert!(futures::executor::block_on(within(Duration::from_millis(500), &mut fut)).is_none());
    let (used, elapsed) = (process_cpu() - cpu, wall.elapsed());
    // A spinning driver would use most of a CPU over the stretch; waiting
    // in the kernel uses next to nothing.
    assert!(
        used < elapsed / 5,
        "{used:?} of CPU in {elapsed:?} while a future waited"
    );
    client.write_all(b"now").unwrap();
    let p = futures::executor::block_on(within(WAIT, fut)).expect("it resolves");
    assert_eq!(p.result.unwrap(), 3);
}

/// Threads of this process named like the port's driver thread.
fn driver_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "cport-futures")
        .count()
}

fn dropping_the_port_ends_its_driver_thread(b: BackendChoice) {
    let _serial = serial();
    // Drivers of earlier tests' ports end as those ports went away.
    wait_until("no driver thread left", || driver_threads() == 0);
    let port = port(b);
    let (h, mut client) = pair(&port);
    let fut = port.op(h).awaitable().recv(vec![0; 8], 1);
    // (A new thread names itself as it starts: wait for that.)
    wait_until("the first awaited operation starts the driver", || {
        driver_threads() == 1
    });
    let (h2, mut client2) = pair(&port);
    let again = port.op(h2).awaitable().readable(2);
    client.write_all(b"x").unwrap();
    client2.write_all(b"y").unwrap();
    let (p, q) = futures::executor::block_on(within(WAIT, join(fut, again))).expect("both resolve");
    assert_eq!((p.result.unwrap(), q.result.unwrap()), (1, 0));
    assert_eq!(driver_threads(), 1, "one per port");
    drop(port);
    wait_until("the driver thread ends with its port", || {
        driver_threads() == 0
    });
}

conformance!(
    block_on_recv_and_send_with_no_thread_in_get,
    tokio_current_thread_accept_connect_and_echo,
    tokio_multi_thread_tasks_echo_many_connections,
    thread_pool_and_local_pool_read_and_write_a_file,
    workers_in_get_and_awaited_ops_share_the_port_each_packet_once,
    a_get_waiter_leaving_the_poller_role_hands_reaping_back,
    dropping_a_future_cancels_its_operation_and_drops_the_buffer_once,
    close_shutdown_and_timeouts_resolve_awaited_operations,
    a_waiting_future_does_not_keep_a_cpu_busy,
    dropping_the_port_ends_its_driver_thread,
);
