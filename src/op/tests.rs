//! The op layer over a scripted backend: no system call runs while the op
//! tables are locked (a slow one would stall every thread of the port).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use super::buf::{IoBuf, RecvAccess};
use super::{How, Io, IssueError, Issued};
use crate::backend::{Completion, LazyBackend};
use crate::testing::{wait_for_events, Scripted, ScriptedBackend, StuckPage};

type TestIo<B = Vec<u8>> = Io<u32, u32, B>;

fn io<B: IoBuf>(script: &Arc<Scripted>) -> Arc<TestIo<B>> {
    Arc::new(Io::new(LazyBackend::opened(Box::new(ScriptedBackend(
        script.clone(),
    )))))
}

fn pending<B>(r: Result<Issued<u32, B>, IssueError<u32, B>>) -> u64 {
    match r {
        Ok(Issued::Pending(id)) => id.0,
        Ok(Issued::Completed { .. }) => panic!("completed inline"),
        Err(e) => panic!("not started: {e}"),
    }
}

/// Whether another thread can take the op tables' lock (through a call that
/// needs it) within 2 s.
fn tables_free<B: IoBuf>(io: &Arc<TestIo<B>>, h: super::Handle) -> bool {
    let (tx, rx) = mpsc::channel();
    let io = io.clone();
    thread::spawn(move || {
        let _ = io.set_skip_on_success(h, false);
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(2)).is_ok()
}

/// Reaps on another thread until one packet came; returns its value.
fn reap_one(io: &Arc<TestIo>) -> thread::JoinHandle<u32> {
    let io = io.clone();
    thread::spawn(move || {
        let mut got = None;
        while got.is_none() {
            io.reap(Some(Duration::from_millis(100)), &mut |p| {
                got = Some(p.value)
            });
        }
        got.unwrap()
    })
}

#[test]
fn the_next_op_of_a_lane_is_submitted_with_the_tables_unlocked() {
    let script = Arc::new(Scripted::default());
    let io = io(&script);
    let (ours, _peer) = UnixStream::pair().unwrap();
    let h = io.associate(OwnedFd::from(ours), 1).unwrap();
    let first = pending(io.transfer(
        h,
        Some(RecvAccess::of()),
        Some(vec![0; 8]),
        1,
        How::default(),
    ));
    let second = pending(io.transfer(
        h,
        Some(RecvAccess::of()),
        Some(vec![0; 8]),
        2,
        How::default(),
    ));
    assert_eq!(script.submitted(), [first], "the second waits in its lane");
    script.hold_submits();
    script.report(Completion::new(first, 3));
    // Finishing the first starts the second, whose submission is held.
    let reaper = reap_one(&io);
    assert!(script.wait_until_holding());
    let free = tables_free(&io, h);
    script.let_submits_go();
    assert!(free, "the tables stayed locked during the submission");
    assert_eq!(reaper.join().unwrap(), 1);
    assert_eq!(script.submitted(), [first, second]);
}

#[test]
fn a_restarted_op_is_submitted_with_the_tables_unlocked() {
    let script = Arc::new(Scripted::default());
    let io = io(&script);
    let (ours, _peer) = UnixStream::pair().unwrap();
    let h = io.associate(OwnedFd::from(ours), 1).unwrap();
    let op = pending(io.transfer(
        h,
        Some(RecvAccess::of()),
        Some(vec![0; 8]),
        1,
        How::default(),
    ));
    script.hold_submits();
    // Ended by the kernel, not by anyone here (io_uring does that when the
    // submitting thread exits): started again.
    script.report(Completion::new(op, -libc::ECANCELED));
    let reaper = reap_one(&io);
    assert!(script.wait_until_holding());
    let free = tables_free(&io, h);
    script.let_submits_go();
    assert!(free, "the tables stayed locked during the resubmission");
    let start = std::time::Instant::now();
    while script.submitted().len() < 2 && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(script.submitted(), [op, op]);
    script.report(Completion::new(op, 5));
    assert_eq!(reaper.join().unwrap(), 1);
}

/// A buffer on a [`StuckPage`].
struct PageBuf(*mut u8, usize);

// SAFETY: the page is mapped for the whole test and never moves.
unsafe impl IoBuf for PageBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.0
    }
    fn bytes_init(&self) -> usize {
        self.1
    }
    fn bytes_total(&self) -> usize {
        self.1
    }
}

// SAFETY: a pointer to a page the test keeps mapped; used by one op at a time.
unsafe impl Send for PageBuf {}

#[test]
fn an_inline_attempt_runs_with_the_tables_unlocked() {
    let Some(page) = StuckPage::new() else {
        eprintln!("skipped: userfaultfd is not permitted here");
        return;
    };
    let script = Arc::new(Scripted::default());
    let io = io::<PageBuf>(&script);
    let (ours, _peer) = UnixStream::pair().unwrap();
    let h = io.associate(OwnedFd::from(ours), 1).unwrap();
    io.set_skip_on_success(h, true).unwrap();
    // The inline send copies from the page, which stalls in the kernel
    // until the fault is resolved.
    let sender = {
        let (io, buf) = (io.clone(), PageBuf(page.ptr, page.len));
        thread::spawn(
            move || match io.transfer(h, None, Some(buf), 1, How::default()) {
                Ok(Issued::Completed { bytes, .. }) => bytes,
                Ok(Issued::Pending(_)) => panic!("went to the backend"),
                Err(e) => panic!("{e}"),
            },
        )
    };
    assert!(wait_for_events(page.uffd.as_raw_fd(), libc::POLLIN));
    let free = tables_free(&io, h);
    // Closing the uffd lets the copy go on (a zero page).
    drop(page.uffd);
    assert!(free, "the tables stayed locked during the inline send");
    assert_eq!(sender.join().unwrap(), page.len);
    assert!(script.submitted().is_empty());
    // SAFETY: the mapping is ours and nothing uses it any more.
    unsafe { libc::munmap(page.ptr.cast(), page.len) };
}
