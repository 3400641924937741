//! In steady state an operation allocates nothing beyond what its caller
//! passes (docs/semantics.md, "Operations and packets"): slots, packets
//! and completion buffers are recycled. Counted with a global allocator over
//! echo round trips on each backend, after a warm-up.

#[macro_use]
mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cport::{BackendChoice, Issued, Port};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROUNDS: usize = 2000;

/// One server-side recv + send per round, the buffer passed from packet to
/// packet; the client echoes from a plain thread (no allocation per round).
fn echo_rounds(port: &Port<u32, u32>, h: cport::Handle, mut buf: Vec<u8>) -> Vec<u8> {
    for _ in 0..ROUNDS {
        buf.resize(64, 0);
        assert!(matches!(port.op(h).send(buf, 1), Ok(Issued::Pending(_))));
        let p = port.get(Some(Duration::from_secs(10))).unwrap();
        assert_eq!((p.value, p.result.unwrap()), (1, 64));
        buf = p.buf.unwrap();
        assert!(matches!(port.op(h).recv(buf, 2), Ok(Issued::Pending(_))));
        let p = port.get(Some(Duration::from_secs(10))).unwrap();
        assert_eq!((p.value, p.result.unwrap()), (2, 64));
        buf = p.buf.unwrap();
    }
    buf
}

/// The counter is process-wide: the tests of this binary take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn steady_state_operations_allocate_nothing(b: BackendChoice) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let port: Port<u32, u32> = util::builder(b).concurrency(1).build().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let h = port.associate(l.accept().unwrap().0, 1).unwrap();
    let echo = std::thread::spawn(move || {
        let mut m = [0u8; 64];
        for _ in 0..2 * ROUNDS {
            client.read_exact(&mut m).unwrap();
            client.write_all(&m).unwrap();
        }
    });
    let buf = echo_rounds(&port, h, vec![0; 64]); // warm-up: slabs, spares, queues grow
    COUNTING.store(true, Ordering::Relaxed);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let buf = echo_rounds(&port, h, buf);
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    COUNTING.store(false, Ordering::Relaxed);
    echo.join().unwrap();
    drop(buf);
    eprintln!(
        "{b:?}: {allocated} allocations in {} operations",
        2 * ROUNDS
    );
    // Counted process-wide (the test harness may allocate meanwhile, e.g. to
    // print another test's result), hence a small allowance, far below one
    // allocation per operation.
    assert!(
        allocated < ROUNDS / 100,
        "{allocated} allocations in {} operations",
        2 * ROUNDS
    );
}

conformance!(steady_state_operations_allocate_nothing);
