//! Files: reads and writes on the file workers, and their shutdown when a
//! worker is stuck in the kernel.

use super::*;
use crate::testing::temp_file;

#[test]
fn file_read_write_at_offsets() {
    let file = temp_file("epoll");
    let (mut hello, mut abc, mut back, mut past) = (*b"hello", *b"abc", [0u8; 32], [0u8; 8]);
    let b = backend();
    let fd = file.as_raw_fd();
    b.register(fd).unwrap();
    submit(
        &b,
        RawOp {
            offset: 10,
            ..buf_op(Syscall::Write, fd, 1, &mut hello)
        },
    );
    submit(&b, buf_op(Syscall::Write, fd, 2, &mut abc));
    let mut got = collect(&b, 2);
    got.sort_by_key(|c| c.user_data);
    assert_eq!(got, [done(1, 5), done(2, 3)]);
    submit(&b, buf_op(Syscall::Read, fd, 3, &mut back));
    assert_eq!(collect_one(&b), done(3, 15));
    assert_eq!(&back[..15], b"abc\0\0\0\0\0\0\0hello");
    submit(
        &b,
        RawOp {
            offset: 100,
            ..buf_op(Syscall::Read, fd, 4, &mut past)
        },
    );
    assert_eq!(collect_one(&b), done(4, 0));
    b.deregister(fd);
}

#[test]
fn file_ops_need_a_registered_fd() {
    let file = temp_file("epoll");
    let mut buf = [0u8; 4];
    let b = backend();
    // SAFETY: refused (not registered), so its memory is never used.
    let err = unsafe { b.submit(&buf_op(Syscall::Read, file.as_raw_fd(), 1, &mut buf)) };
    assert_eq!(err.unwrap_err().raw_os_error(), Some(libc::EBADF));
    assert_quiet(&b, Duration::ZERO);
}

#[test]
fn drop_joins_idle_file_workers() {
    let file = temp_file("epoll");
    let mut buf = *b"data";
    let b = backend();
    b.register(file.as_raw_fd()).unwrap();
    submit(&b, buf_op(Syscall::Write, file.as_raw_fd(), 1, &mut buf));
    assert_eq!(collect_one(&b), done(1, 4));
    let shared = Arc::downgrade(&b.shared);
    drop(b);
    // Every worker was joined, not detached: nothing holds the state any more.
    assert!(
        shared.upgrade().is_none(),
        "a file worker outlived the backend"
    );
}

/// Dropping the backend once joined the file workers with no time limit, so
/// a pread stuck in the kernel hung the drop forever.
#[test]
fn drop_returns_while_a_file_worker_is_stuck_in_the_kernel() {
    let Some(page) = StuckPage::new() else {
        eprintln!("skipped: userfaultfd is not permitted here");
        return;
    };
    let mut file = temp_file("epoll");
    file.write_all(&[0x5A; 4096]).unwrap();
    let b = backend();
    b.register(file.as_raw_fd()).unwrap();
    let shared = Arc::downgrade(&b.shared);
    let read = RawOp {
        buf: page.ptr,
        len: page.len,
        ..raw_op(Syscall::Read, file.as_raw_fd(), 1)
    };
    submit(&b, read);
    // The uffd reports the fault once the worker is inside pread, stuck.
    wait_for(page.uffd.as_raw_fd(), libc::POLLIN);
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    thread::spawn(move || {
        drop(b);
        tx.send(start.elapsed()).unwrap();
    });
    let took = rx.recv_timeout(LIMIT);
    // Let the read go on (closing the uffd resolves the fault normally)
    // before asserting, so that a failure cannot leave it stuck.
    drop(page.uffd);
    let took = took.expect("dropping the backend hung on a stuck file worker");
    assert!(took >= WORKER_EXIT_WAIT, "drop did not wait for the worker");
    // The detached worker finishes the read into the page — memory that must
    // outlive the drop, and does — then exits and frees the shared state.
    let start = Instant::now();
    while shared.upgrade().is_some() {
        assert!(start.elapsed() < LIMIT, "the detached worker never exited");
        thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: the page is mapped and nobody writes it any more (the worker
    // exited); the kernel filled it (or, had the read failed, zeroed it).
    let bytes = unsafe { std::slice::from_raw_parts(page.ptr, page.len) };
    assert!(bytes.iter().all(|&x| x == 0x5A), "the read did not land");
    // SAFETY: the mapping is ours and nothing refers to it any more.
    unsafe { libc::munmap(page.ptr.cast(), page.len) };
}

/// Whether `fd` is an open file descriptor.
fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no argument; a closed fd gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

#[test]
fn deregister_never_closes_the_fd_a_file_worker_is_using() {
    let Some(page) = StuckPage::new() else {
        eprintln!("skipped: userfaultfd is not permitted here");
        return;
    };
    let mut file = temp_file("epoll");
    file.write_all(&[0x33; 4096]).unwrap();
    let fd = file.as_raw_fd();
    let b = backend();
    b.register(fd).unwrap();
    let dup = {
        let st = b.shared.lock();
        let entry = st.fds.get(fd).expect("registered");
        entry
            .file
            .as_ref()
            .expect("a file has a duplicate")
            .as_raw_fd()
    };
    let read = RawOp {
        buf: page.ptr,
        len: page.len,
        ..raw_op(Syscall::Read, fd, 1)
    };
    submit(&b, read);
    wait_for(page.uffd.as_raw_fd(), libc::POLLIN); // the worker is in pread
                                                   // Against the contract (an op is in flight), but it must stay safe.
    b.deregister(fd);
    assert!(fd_is_open(dup), "the duplicate was closed under the worker");
    drop(page.uffd);
    // The running read completes with its real result; nothing else comes.
    assert_eq!(collect_one(&b), done(1, 4096));
    assert_quiet(&b, Duration::from_millis(10));
    drop(b);
    // SAFETY: the leaked duplicate is ours to close now that no worker runs.
    unsafe { libc::close(dup) };
    // SAFETY: the worker is gone; the mapping is ours.
    unsafe { libc::munmap(page.ptr.cast(), page.len) };
}
