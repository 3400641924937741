//! `WSAPoll`: `poll` over sockets, with Windows' `WSAPOLLFD` (a `SOCKET`,
//! then the two masks) and Windows' `POLL*` values, which differ from
//! Linux's (`POLLRDNORM` 0x100, `POLLWRNORM` 0x10, `POLLIN` =
//! `POLLRDNORM | POLLRDBAND`, …). A peer that closed its side shows as
//! `POLLHUP` (Linux says `POLLRDHUP` until both sides are shut).

use super::*;
use crate::error::boundary;

const W_POLLERR: i16 = 0x0001;
const W_POLLHUP: i16 = 0x0002;
const W_POLLNVAL: i16 = 0x0004;
const W_POLLWRNORM: i16 = 0x0010;
const W_POLLWRBAND: i16 = 0x0020;
const W_POLLRDNORM: i16 = 0x0100;
const W_POLLRDBAND: i16 = 0x0200;
const W_POLLPRI: i16 = 0x0400;
/// What a program may ask for.
const W_REQUESTABLE: i16 = W_POLLRDNORM | W_POLLRDBAND | W_POLLPRI | W_POLLWRNORM | W_POLLWRBAND;

/// `WSAPOLLFD`.
#[repr(C)]
#[allow(clippy::upper_case_acronyms)]
pub struct WSAPOLLFD {
    pub fd: SOCKET,
    pub events: i16,
    pub revents: i16,
}

/// Windows request bits → Linux's.
fn to_linux(events: i16) -> i16 {
    let mut e = libc::POLLRDHUP;
    if events & W_POLLRDNORM != 0 {
        e |= libc::POLLIN;
    }
    if events & (W_POLLRDBAND | W_POLLPRI) != 0 {
        e |= libc::POLLPRI;
    }
    if events & (W_POLLWRNORM | W_POLLWRBAND) != 0 {
        e |= libc::POLLOUT;
    }
    e
}

/// Linux result bits → Windows', limited to what was asked (plus the
/// conditions always reported).
fn to_windows(revents: i16, events: i16) -> i16 {
    let mut r = 0;
    if revents & libc::POLLIN != 0 {
        r |= W_POLLRDNORM;
    }
    if revents & libc::POLLPRI != 0 {
        r |= W_POLLRDBAND | W_POLLPRI;
    }
    if revents & libc::POLLOUT != 0 {
        r |= W_POLLWRNORM;
    }
    r &= events;
    if revents & (libc::POLLHUP | libc::POLLRDHUP) != 0 {
        r |= W_POLLHUP;
    }
    if revents & libc::POLLERR != 0 {
        r |= W_POLLERR;
    }
    if revents & libc::POLLNVAL != 0 {
        r |= W_POLLNVAL;
    }
    r
}

/// `WSAPoll`: the number of entries with results, 0 on timeout
/// (`timeout` < 0: forever); `SOCKET_ERROR` with `WSAEINVAL` for no entries
/// or a request bit Windows does not take, `WSAEFAULT` for NULL. A value
/// that is no socket gets `POLLNVAL`; `INVALID_SOCKET` entries are ignored.
///
/// # Safety
/// `fds` must be valid for `n` entries.
#[no_mangle]
pub unsafe extern "C" fn WSAPoll(fds: *mut WSAPOLLFD, n: ULONG, timeout: INT) -> INT {
    boundary(SOCKET_ERROR, || {
        if n == 0 {
            return fail(WSAEINVAL, SOCKET_ERROR);
        }
        if fds.is_null() {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        // SAFETY: valid for n entries (caller contract).
        let fds = unsafe { std::slice::from_raw_parts_mut(fds, n as usize) };
        if fds.iter().any(|f| f.events & !W_REQUESTABLE != 0) {
            return fail(WSAEINVAL, SOCKET_ERROR);
        }
        let mut linux = Vec::with_capacity(fds.len());
        let mut objs = Vec::with_capacity(fds.len());
        for f in fds.iter_mut() {
            f.revents = 0;
            let (fd, obj) = if f.fd == INVALID_SOCKET {
                (-1, None)
            } else {
                match sock(f.fd) {
                    Ok(o) => match o.current() {
                        Some(fd) => (fd, Some(o)),
                        None => (-1, None),
                    },
                    Err(_) => (-1, None),
                }
            };
            if fd < 0 && f.fd != INVALID_SOCKET {
                f.revents = W_POLLNVAL;
            }
            linux.push(libc::pollfd {
                fd,
                events: to_linux(f.events),
                revents: 0,
            });
            objs.push(obj);
        }
        let invalid = fds.iter().filter(|f| f.revents != 0).count();
        let ms = if invalid > 0 { 0 } else { timeout.max(-1) };
        let r = crate::engine::cport::blocking(|| loop {
            // SAFETY: `linux` is a local array of `len` pollfds.
            let r = unsafe { libc::poll(linux.as_mut_ptr(), linux.len() as libc::nfds_t, ms) };
            if r < 0 && errno() == libc::EINTR {
                continue;
            }
            return r;
        });
        if r < 0 {
            return fail(errno_to_wsa(errno()), SOCKET_ERROR);
        }
        // The sockets stay referenced (their fds open) until here.
        drop(objs);
        let mut count = invalid as INT;
        for (f, l) in fds.iter_mut().zip(&linux) {
            if l.fd < 0 {
                continue;
            }
            f.revents = to_windows(l.revents, f.events);
            if f.revents != 0 {
                count += 1;
            }
        }
        count
    })
}
