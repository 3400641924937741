//! `select` and `__WSAFDIsSet` on SOCKETs with Windows' `fd_set` layout: a
//! `u_int fd_count`, then `fd_count` SOCKETs (the array may be longer than
//! `FD_SETSIZE`, as programs that allocate their own sets expect).
//!
//! The sets are resolved to the sockets' fds and waited on with `poll`, in
//! slices, as a blocking section of the calling thread's completion port.
//! Readiness as Windows reports it: *read* — data, a pending connection on
//! a listening socket, end of stream or a reset; *write* — connected and
//! room to send; *except* — a failed connection attempt (`POLLERR`) or
//! out-of-band data. `nfds` is ignored. A socket closed during the wait ends
//! it with `WSAENOTSOCK`.

use std::time::{Duration, Instant};

use crate::error::{boundary, fail};
use crate::types::*;

/// The slice of one `poll`, so that a socket closed meanwhile is noticed.
const SLICE: Duration = Duration::from_millis(100);

/// The SOCKETs of a Windows `fd_set` (`fd_count` at offset 0, the array at 8).
///
/// # Safety
/// `set` must be NULL or point to a readable `fd_set` holding `fd_count` SOCKETs.
unsafe fn read_set(set: *const u8) -> Vec<SOCKET> {
    if set.is_null() {
        return Vec::new();
    }
    // SAFETY: the set starts with its u_int count (caller contract).
    let n = unsafe { set.cast::<u32>().read_unaligned() } as usize;
    // SAFETY: `n` SOCKETs follow at offset 8 (caller contract).
    let array = unsafe { set.add(8).cast::<SOCKET>() };
    // SAFETY: as above; read unaligned in case the program packed the set.
    (0..n)
        .map(|i| unsafe { array.add(i).read_unaligned() })
        .collect()
}

/// Writes `ready` back as the set's content.
///
/// # Safety
/// `set` must be NULL or point to a writable `fd_set` with room for `ready`
/// (never more than it held).
unsafe fn write_set(set: *mut u8, ready: &[SOCKET]) {
    if set.is_null() {
        return;
    }
    // SAFETY: room for the count and `ready.len()` SOCKETs (caller contract).
    unsafe {
        set.cast::<u32>().write_unaligned(ready.len() as u32);
        let array = set.add(8).cast::<SOCKET>();
        for (i, s) in ready.iter().enumerate() {
            array.add(i).write_unaligned(*s);
        }
    }
}

/// Which set a `pollfd` entry answers for.
#[derive(Clone, Copy, PartialEq)]
enum Want {
    Read,
    Write,
    Except,
}

fn is_ready(want: Want, revents: i16) -> bool {
    let err = revents & libc::POLLERR != 0;
    match want {
        Want::Read => revents & (libc::POLLIN | libc::POLLHUP | libc::POLLRDHUP) != 0,
        Want::Write => revents & libc::POLLOUT != 0 && !err,
        Want::Except => revents & libc::POLLPRI != 0 || err,
    }
}

/// `select`: the number of (socket, set) pairs ready, 0 on timeout, or
/// `SOCKET_ERROR` (`WSAEINVAL` for no sets or a bad timeout, `WSAENOTSOCK`
/// for something that is not a socket, `WSANOTINITIALISED`).
///
/// # Safety
/// Each set must be NULL or a valid Windows `fd_set`; `timeout` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cport_select(
    _nfds: i32,
    readfds: *mut u8,
    writefds: *mut u8,
    exceptfds: *mut u8,
    timeout: *const libc::timeval,
) -> i32 {
    boundary(-1, || {
        if !crate::winsock::names::wsa_started() {
            return fail(WSANOTINITIALISED, -1);
        }
        let sets = [
            (Want::Read, readfds),
            (Want::Write, writefds),
            (Want::Except, exceptfds),
        ];
        let mut entries = Vec::new();
        let mut total = 0usize;
        for (want, set) in sets {
            // SAFETY: a valid fd_set or NULL (caller contract).
            for s in unsafe { read_set(set) } {
                total += 1;
                match crate::winsock::sock(s) {
                    Ok(obj) => entries.push((want, s, obj)),
                    Err(e) => return fail(e, -1),
                }
            }
        }
        let deadline = if timeout.is_null() {
            None
        } else {
            // SAFETY: a valid timeval (caller contract).
            let tv = unsafe { *timeout };
            if tv.tv_sec < 0 || tv.tv_usec < 0 {
                return fail(WSAEINVAL, -1);
            }
            let d =
                Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64);
            Some(Instant::now() + d)
        };
        if total == 0 {
            // Windows: no sets at all is an error, not a sleep.
            return fail(WSAEINVAL, -1);
        }
        let result = crate::engine::cport::blocking(|| loop {
            let mut pfds = Vec::with_capacity(entries.len());
            for (want, _, obj) in &entries {
                let Some(fd) = obj.current() else {
                    return Err(WSAENOTSOCK);
                };
                let events = match want {
                    Want::Read => libc::POLLIN | libc::POLLRDHUP,
                    Want::Write => libc::POLLOUT,
                    Want::Except => libc::POLLPRI,
                };
                pfds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
            }
            let mut slice = SLICE;
            if let Some(d) = deadline {
                slice = slice.min(d.saturating_duration_since(Instant::now()));
            }
            // SAFETY: `pfds` is a valid array of its length.
            let n = unsafe {
                libc::poll(
                    pfds.as_mut_ptr(),
                    pfds.len() as libc::nfds_t,
                    slice.as_millis() as i32,
                )
            };
            if n < 0 {
                let e = crate::error::errno();
                if e == libc::EINTR {
                    continue;
                }
                return Err(crate::error::errno_to_wsa(e));
            }
            if entries.iter().any(|(_, _, o)| o.current().is_none()) {
                return Err(WSAENOTSOCK);
            }
            let ready: Vec<bool> = entries
                .iter()
                .zip(&pfds)
                .map(|((want, _, _), p)| is_ready(*want, p.revents))
                .collect();
            if ready.iter().any(|r| *r) {
                return Ok(ready);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(ready);
            }
        });
        let ready = match result {
            Ok(r) => r,
            Err(e) => return fail(e, -1),
        };
        let mut count = 0;
        for (want, set) in sets {
            let chosen: Vec<SOCKET> = entries
                .iter()
                .zip(&ready)
                .filter(|((w, _, _), r)| *w == want && **r)
                .map(|((_, s, _), _)| *s)
                .collect();
            count += chosen.len();
            // SAFETY: the set held at least these entries (caller contract).
            unsafe { write_set(set, &chosen) };
        }
        count as i32
    })
}

/// `__WSAFDIsSet` (behind `FD_ISSET`): whether `s` is in the set.
///
/// # Safety
/// `set` must be NULL or a valid Windows `fd_set`.
#[no_mangle]
pub unsafe extern "C" fn __WSAFDIsSet(s: SOCKET, set: *mut u8) -> i32 {
    // SAFETY: a valid fd_set or NULL (caller contract).
    boundary(0, || i32::from(unsafe { read_set(set) }.contains(&s)))
}
