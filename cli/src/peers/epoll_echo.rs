//! The plain epoll peer: one thread, level-triggered epoll, non-blocking
//! sockets. A connection reads when it has nothing left to write; a write
//! that would block keeps the rest and waits for EPOLLOUT instead of EPOLLIN.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const LISTENER: u64 = u64::MAX;

struct Conn {
    stream: TcpStream,
    /// Bytes still to write back, from `off`.
    pending: Vec<u8>,
    off: usize,
}

fn ctl(ep: &OwnedFd, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call; the
    // kernel copies it.
    if unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    // SAFETY: epoll_create1 has no memory-safety preconditions.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by epoll_create1 and nobody else owns it.
    let ep = unsafe { OwnedFd::from_raw_fd(fd) };
    ctl(
        &ep,
        libc::EPOLL_CTL_ADD,
        listener.as_raw_fd(),
        libc::EPOLLIN as u32,
        LISTENER,
    )?;
    let mut conns: HashMap<RawFd, Conn> = HashMap::new();
    let mut buf = vec![0u8; super::RECV_SIZE];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        // SAFETY: `events` has room for `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), events.len() as i32, -1)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let (token, mask) = (ev.u64, ev.events);
            if token == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(true)?;
                            let _ = stream.set_nodelay(true);
                            let fd = stream.as_raw_fd();
                            ctl(
                                &ep,
                                libc::EPOLL_CTL_ADD,
                                fd,
                                libc::EPOLLIN as u32,
                                fd as u64,
                            )?;
                            conns.insert(
                                fd,
                                Conn {
                                    stream,
                                    pending: Vec::new(),
                                    off: 0,
                                },
                            );
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            eprintln!("epoll echo: accept failed: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let fd = token as RawFd;
            let Some(conn) = conns.get_mut(&fd) else {
                continue;
            };
            let close = step(&ep, conn, mask, &mut buf).unwrap_or(true);
            if close {
                let _ = ctl(&ep, libc::EPOLL_CTL_DEL, fd, 0, 0);
                conns.remove(&fd);
            }
        }
    }
}

/// Handles one event on a connection; `Ok(true)` to close it.
fn step(ep: &OwnedFd, conn: &mut Conn, mask: u32, buf: &mut [u8]) -> io::Result<bool> {
    let fd = conn.stream.as_raw_fd();
    if conn.off < conn.pending.len() {
        if mask & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
            return Ok(false);
        }
        if !write_some(conn)? {
            return Ok(false);
        }
        ctl(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32, fd as u64)?;
        return Ok(false);
    }
    let n = match conn.stream.read(buf) {
        Ok(0) => return Ok(true),
        Ok(n) => n,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    let mut off = 0;
    while off < n {
        match conn.stream.write(&buf[off..n]) {
            Ok(k) => off += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.pending.clear();
                conn.pending.extend_from_slice(&buf[off..n]);
                conn.off = 0;
                ctl(
                    ep,
                    libc::EPOLL_CTL_MOD,
                    fd,
                    libc::EPOLLOUT as u32,
                    fd as u64,
                )?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Writes pending bytes; true when all are written.
fn write_some(conn: &mut Conn) -> io::Result<bool> {
    while conn.off < conn.pending.len() {
        match conn.stream.write(&conn.pending[conn.off..]) {
            Ok(k) => conn.off += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    conn.pending.clear();
    conn.off = 0;
    Ok(true)
}
