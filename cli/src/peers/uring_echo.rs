//! The plain io_uring peer: one thread, one ring, the io-uring crate directly.
//! Per connection one operation is in flight at a time: recv, then send (again
//! for the rest after a short send), then recv.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};

use io_uring::{opcode, squeue, types, IoUring};

const ACCEPT: u64 = u64::MAX;
const SEND_BIT: u64 = 1;

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    len: usize,
    sent: usize,
}

struct Loop {
    ring: IoUring,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
}

impl Loop {
    /// Queues `entry`, flushing the submission queue to the kernel if full.
    ///
    /// # Safety
    /// Memory the entry points to must stay valid until its completion.
    unsafe fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller keeps the entry's memory valid (see above).
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn accept(&mut self, listener: &TcpListener) -> io::Result<()> {
        let entry = opcode::Accept::new(
            types::Fd(listener.as_raw_fd()),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(ACCEPT);
        // SAFETY: the accept passes no memory (null address and length).
        unsafe { self.push(entry) }
    }

    fn recv(&mut self, idx: usize) -> io::Result<()> {
        let Some(c) = self.conns[idx].as_mut() else {
            return Ok(());
        };
        let entry = opcode::Recv::new(
            types::Fd(c.stream.as_raw_fd()),
            c.buf.as_mut_ptr(),
            c.buf.len() as u32,
        )
        .build()
        .user_data((idx as u64) << 1);
        // SAFETY: `c.buf` is a heap buffer owned by the connection, which is
        // removed only when this (its only) operation has completed.
        unsafe { self.push(entry) }
    }

    fn send(&mut self, idx: usize) -> io::Result<()> {
        let Some(c) = self.conns[idx].as_mut() else {
            return Ok(());
        };
        // SAFETY: `sent < len <= buf.len()`, so the pointer stays in the buffer.
        let ptr = unsafe { c.buf.as_ptr().add(c.sent) };
        let entry = opcode::Send::new(
            types::Fd(c.stream.as_raw_fd()),
            ptr,
            (c.len - c.sent) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data((idx as u64) << 1 | SEND_BIT);
        // SAFETY: as in `recv`: the buffer lives until this op has completed.
        unsafe { self.push(entry) }
    }

    fn close(&mut self, idx: usize) {
        if self.conns[idx].take().is_some() {
            self.free.push(idx);
        }
    }

    fn accepted(&mut self, fd: i32) -> io::Result<()> {
        // SAFETY: the accept completion returned a new fd nobody else owns.
        let stream = unsafe { TcpStream::from_raw_fd(fd) };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            stream,
            buf: vec![0; super::RECV_SIZE],
            len: 0,
            sent: 0,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.conns[i] = Some(conn);
                i
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        self.recv(idx)
    }

    fn completed(&mut self, user_data: u64, res: i32) -> io::Result<()> {
        let idx = (user_data >> 1) as usize;
        let Some(c) = self.conns.get_mut(idx).and_then(Option::as_mut) else {
            return Ok(());
        };
        if user_data & SEND_BIT == 0 {
            if res <= 0 {
                self.close(idx);
                return Ok(());
            }
            c.len = res as usize;
            c.sent = 0;
            self.send(idx)
        } else {
            if res < 0 {
                self.close(idx);
                return Ok(());
            }
            c.sent += res as usize;
            if c.sent < c.len {
                self.send(idx)
            } else {
                self.recv(idx)
            }
        }
    }
}

/// A ring for one thread: task work deferred to our own `io_uring_enter`
/// (SINGLE_ISSUER + DEFER_TASKRUN, kernel 6.1+), else cooperative task work
/// (5.19+), else a plain ring.
fn ring() -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(1024)
        .or_else(|_| IoUring::builder().setup_coop_taskrun().build(1024))
        .or_else(|_| IoUring::new(1024))
}

pub fn serve(listener: TcpListener) -> io::Result<()> {
    let mut lp = Loop {
        ring: ring()?,
        conns: Vec::new(),
        free: Vec::new(),
    };
    lp.accept(&listener)?;
    let mut done: Vec<(u64, i32)> = Vec::with_capacity(256);
    loop {
        match lp.ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        done.clear();
        done.extend(lp.ring.completion().map(|c| (c.user_data(), c.result())));
        for &(user_data, res) in &done {
            if user_data == ACCEPT {
                if res >= 0 {
                    lp.accepted(res)?;
                } else {
                    eprintln!(
                        "io_uring echo: accept failed: {}",
                        io::Error::from_raw_os_error(-res)
                    );
                }
                lp.accept(&listener)?;
            } else {
                lp.completed(user_data, res)?;
            }
        }
    }
}
