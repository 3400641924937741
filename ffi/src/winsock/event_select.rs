//! `WSAEventSelect` and `WSAEnumNetworkEvents`: network events recorded
//! per socket and signalled through a Win32 event.
//!
//! One watcher thread waits in poll(2) on every selected socket, for the
//! events that are still enabled, plus an eventfd that wakes it whenever
//! that set changes (a selection made or ended, a socket closed, an event
//! re-enabled): it sleeps until something happens, so an event is set as
//! soon as the socket is ready and an idle program costs nothing. When an
//! event occurs it records it (with its error code), disables it and sets
//! the socket's event. Windows' re-enabling rules:
//! `FD_READ` by a receive call, `FD_ACCEPT` by `accept`/`WSAAccept`,
//! `FD_WRITE` only by a send that failed with `WSAEWOULDBLOCK`; `FD_CONNECT`
//! fires once per connect, `FD_CLOSE` once; a socket selected before
//! `listen` gets `FD_ACCEPT` once it listens. `WSAEventSelect` makes the
//! socket non-blocking (as `ioctlsocket(FIONBIO)`), clears the record and
//! enables every selected event; a mask of 0 ends the selection (the socket
//! stays non-blocking).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::*;
use crate::engine::signal::Event;
use crate::error::boundary;

pub(crate) const FD_READ: i32 = 0x01;
pub(crate) const FD_WRITE: i32 = 0x02;
pub(crate) const FD_OOB: i32 = 0x04;
pub(crate) const FD_ACCEPT: i32 = 0x08;
pub(crate) const FD_CONNECT: i32 = 0x10;
pub(crate) const FD_CLOSE: i32 = 0x20;

const FD_MAX_EVENTS: usize = 10;

/// `WSANETWORKEVENTS` (`long` is 32 bits on Windows).
#[repr(C)]
#[allow(non_snake_case, clippy::upper_case_acronyms)]
pub struct WSANETWORKEVENTS {
    pub lNetworkEvents: i32,
    pub iErrorCode: [i32; FD_MAX_EVENTS],
}

struct State {
    mask: i32,
    /// Events that may fire now.
    enabled: i32,
    /// Events recorded and not yet enumerated, and their error codes.
    recorded: i32,
    errors: [i32; FD_MAX_EVENTS],
    /// A connect was started and has not been reported.
    connecting: bool,
    /// The socket has been seen connected (so a hang-up is a close).
    seen_connected: bool,
    /// The fd reports only conditions nothing can be done about (a hang-up
    /// with FD_CLOSE already given): left out of the poll until a re-enable.
    parked: bool,
}

struct Selection {
    obj: Weak<IoObj>,
    event: Arc<Event>,
    state: Mutex<State>,
}

/// Selections by the socket object's address.
static SELECTIONS: Mutex<Option<HashMap<usize, Arc<Selection>>>> = Mutex::new(None);
/// Whether any socket was ever selected: the hooks' one check otherwise.
static ANY: AtomicBool = AtomicBool::new(false);
static WATCHER: Once = Once::new();
/// The watcher's wake-up (an eventfd it polls with the sockets). Without
/// one (eventfd failed), the watcher polls in [`SLICE`]s instead.
static WAKE: OnceLock<OwnedFd> = OnceLock::new();
/// How often a watcher without a wake-up looks at the selections again.
const SLICE: Duration = Duration::from_millis(20);

/// The set of sockets or events to watch changed: the watcher recomputes it.
fn wake_watcher() {
    if let Some(fd) = WAKE.get() {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local into an eventfd this module
        // owns. It cannot block (EFD_NONBLOCK); a full counter (EAGAIN)
        // already means "wake up".
        unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
    }
}

fn key(obj: &IoObj) -> usize {
    obj as *const IoObj as usize
}

fn bit_index(bit: i32) -> usize {
    bit.trailing_zeros() as usize
}

/// A socket call that re-enables `bits` (a receive: FD_READ; accept:
/// FD_ACCEPT; a send that would block: FD_WRITE), or a connect started
/// (`connecting`).
pub(crate) fn reenable(obj: &IoObj, bits: i32, connecting: bool) {
    if !ANY.load(Ordering::Acquire) {
        return;
    }
    let sel = SELECTIONS
        .lock()
        .as_ref()
        .and_then(|m| m.get(&key(obj)).cloned());
    if let Some(sel) = sel {
        let mut st = sel.state.lock();
        let before = (st.enabled, st.parked, st.connecting);
        st.enabled |= bits & st.mask;
        st.parked = false;
        if connecting {
            st.connecting = true;
            st.enabled |= st.mask & (FD_CONNECT | FD_WRITE | FD_CLOSE);
        }
        let changed = before != (st.enabled, st.parked, st.connecting);
        drop(st);
        if changed {
            wake_watcher();
        }
    }
}

/// `closesocket` of `obj`: its selection ends, and the watcher stops
/// polling its fd (before the number is reused).
pub(crate) fn closed(obj: &IoObj) {
    if !ANY.load(Ordering::Acquire) {
        return;
    }
    let removed = SELECTIONS.lock().as_mut().and_then(|m| m.remove(&key(obj)));
    if removed.is_some() {
        wake_watcher();
    }
}

/// The socket's pending error, taken; 0 if none (or if it cannot be read).
fn so_error(fd: RawFd) -> i32 {
    take_so_error(fd).unwrap_or(0)
}

/// Records what the poll found for one selection; `true` if its event is to
/// be set.
fn record(sel: &Selection, obj: &IoObj, fd: RawFd, revents: i16) -> bool {
    let mut st = sel.state.lock();
    let mut fired = 0;
    let mut errors = Vec::new();
    let hup = revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) != 0;
    if st.connecting {
        if revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0 {
            st.connecting = false;
            let err = so_error(fd);
            if st.enabled & FD_CONNECT != 0 {
                fired |= FD_CONNECT;
                errors.push((
                    FD_CONNECT,
                    if err == 0 {
                        0
                    } else {
                        errno_to_wsa(err) as i32
                    },
                ));
            }
            if err == 0 {
                st.seen_connected = true;
            } else {
                // A failed connect reports nothing else.
                st.enabled = 0;
            }
        }
    } else if obj.listening.load(Ordering::Acquire) {
        if revents & libc::POLLIN != 0 && st.enabled & FD_ACCEPT != 0 {
            fired |= FD_ACCEPT;
        }
    } else {
        if !st.seen_connected && is_connected(fd) {
            st.seen_connected = true;
        }
        // An unconnected socket polls as writable and hung up: no news.
        if st.seen_connected {
            if revents & libc::POLLIN != 0 && st.enabled & FD_READ != 0 && !hup_only(fd, revents) {
                fired |= FD_READ;
            }
            if revents & libc::POLLOUT != 0 && st.enabled & FD_WRITE != 0 && !hup {
                fired |= FD_WRITE;
            }
            if hup && st.enabled & FD_CLOSE != 0 {
                fired |= FD_CLOSE;
                let code = match so_error(fd) {
                    0 => 0,
                    libc::ECONNRESET | libc::EPIPE => WSAECONNRESET as i32,
                    e => errno_to_wsa(e) as i32,
                };
                errors.push((FD_CLOSE, code));
            }
        }
    }
    if revents & libc::POLLPRI != 0 && st.enabled & FD_OOB != 0 {
        fired |= FD_OOB;
    }
    if fired == 0 {
        // Only conditions that stay true and fire nothing: stop polling it
        // until a call re-enables something.
        st.parked = true;
        return false;
    }
    // Each fires once until re-enabled (FD_CLOSE and FD_CONNECT: once).
    st.enabled &= !fired;
    if fired & FD_CONNECT != 0 && st.seen_connected {
        // After a connect, the socket is writable: FD_WRITE follows.
        st.enabled |= st.mask & FD_WRITE;
    }
    st.recorded |= fired;
    for bit in [FD_READ, FD_WRITE, FD_OOB, FD_ACCEPT] {
        if fired & bit != 0 {
            st.errors[bit_index(bit)] = 0;
        }
    }
    for (bit, code) in errors {
        st.errors[bit_index(bit)] = code;
    }
    true
}

/// A readable socket whose only news is the peer's close with no data left.
fn hup_only(fd: RawFd, revents: i16) -> bool {
    if revents & (libc::POLLHUP | libc::POLLRDHUP) == 0 {
        return false;
    }
    let mut n: i32 = 0;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    n == 0
}

fn watcher() {
    let wake = WAKE.get().map(|f| f.as_raw_fd());
    loop {
        let sels: Vec<(Arc<Selection>, Arc<IoObj>)> = {
            let mut guard = SELECTIONS.lock();
            let map = guard.get_or_insert_with(HashMap::new);
            map.retain(|_, s| s.obj.strong_count() > 0);
            map.values()
                .filter_map(|s| s.obj.upgrade().map(|o| (s.clone(), o)))
                .collect()
        };
        let mut fds = Vec::with_capacity(sels.len() + 1);
        fds.push(libc::pollfd {
            fd: wake.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        });
        for (sel, obj) in &sels {
            let st = sel.state.lock();
            let mut events = 0i16;
            let listening = obj.listening.load(Ordering::Acquire);
            if st.enabled & (FD_READ | FD_ACCEPT) != 0 {
                events |= libc::POLLIN;
            }
            if st.enabled & FD_OOB != 0 {
                events |= libc::POLLPRI;
            }
            if st.enabled & FD_WRITE != 0 && !listening || st.connecting {
                events |= libc::POLLOUT;
            }
            if st.enabled & FD_CLOSE != 0 {
                events |= libc::POLLRDHUP;
            }
            let fd = match obj.current() {
                Some(fd) if events != 0 && !st.parked => fd,
                _ => -1,
            };
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        }
        // Until something happens: readiness, or a change of the set (the
        // eventfd). Without the eventfd, changes are seen at the next slice.
        let timeout = if wake.is_some() {
            -1
        } else {
            SLICE.as_millis() as i32
        };
        // SAFETY: a local array of pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n <= 0 {
            if wake.is_none() && fds.iter().all(|f| f.fd < 0) {
                std::thread::sleep(SLICE);
            }
            continue;
        }
        if let (Some(w), true) = (wake, fds[0].revents & libc::POLLIN != 0) {
            let mut count = 0u64;
            // SAFETY: reads the eventfd's 8-byte counter into a local
            // (non-blocking; it resets the counter).
            unsafe { libc::read(w, (&raw mut count).cast(), 8) };
        }
        for ((sel, obj), p) in sels.iter().zip(&fds[1..]) {
            // A socket closed while the poll ran: its fd number may name
            // another file now.
            let still_open = matches!(obj.current(), Some(fd) if fd == p.fd);
            if p.fd >= 0 && p.revents != 0 && still_open && record(sel, obj, p.fd, p.revents) {
                sel.event.set();
            }
        }
    }
}

/// Starts the watcher, with its eventfd, the first time a socket is selected.
fn start_watcher() {
    WATCHER.call_once(|| {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new
        // fd that nobody else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd >= 0 {
            // SAFETY: as above.
            let _ = WAKE.set(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let _ = std::thread::Builder::new()
            .name("cport-event-select".into())
            .spawn(watcher);
    });
}

/// `WSAEventSelect`.
#[no_mangle]
pub extern "C" fn WSAEventSelect(s: SOCKET, event: HANDLE, events: i32) -> INT {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        // FD_QOS, FD_ROUTING_INTERFACE_CHANGE … are accepted and never fire.
        if events & !0x3FF != 0 {
            return fail(WSAEINVAL, SOCKET_ERROR);
        }
        let mut guard = SELECTIONS.lock();
        let map = guard.get_or_insert_with(HashMap::new);
        if events == 0 {
            let removed = map.remove(&key(&obj));
            drop(guard);
            obj.nonblocking.store(true, Ordering::Release);
            if removed.is_some() {
                wake_watcher();
            }
            return 0;
        }
        let Some(ev) = handles::event(event as usize) else {
            return fail(WSAEINVAL, SOCKET_ERROR);
        };
        obj.nonblocking.store(true, Ordering::Release);
        let connecting = obj.ever_connected.load(Ordering::Acquire)
            && with_fd(&obj, |fd| !is_connected(fd) && so_error(fd) == 0).unwrap_or(false);
        map.insert(
            key(&obj),
            Arc::new(Selection {
                obj: Arc::downgrade(&obj),
                event: ev,
                state: Mutex::new(State {
                    mask: events,
                    enabled: events,
                    recorded: 0,
                    errors: [0; FD_MAX_EVENTS],
                    connecting,
                    seen_connected: false,
                    parked: false,
                }),
            }),
        );
        drop(guard);
        ANY.store(true, Ordering::Release);
        start_watcher();
        wake_watcher();
        0
    })
}

/// `WSAEnumNetworkEvents`: the recorded events and their error codes,
/// cleared; resets `event` if given.
///
/// # Safety
/// `out` must be valid for writes of a `WSANETWORKEVENTS`.
#[no_mangle]
pub unsafe extern "C" fn WSAEnumNetworkEvents(
    s: SOCKET,
    event: HANDLE,
    out: *mut WSANETWORKEVENTS,
) -> INT {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        if out.is_null() {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        let ev = if event.is_null() {
            None
        } else {
            match handles::event(event as usize) {
                Some(e) => Some(e),
                None => return fail(WSAEINVAL, SOCKET_ERROR),
            }
        };
        let sel = SELECTIONS
            .lock()
            .as_ref()
            .and_then(|m| m.get(&key(&obj)).cloned());
        let mut result = WSANETWORKEVENTS {
            lNetworkEvents: 0,
            iErrorCode: [0; FD_MAX_EVENTS],
        };
        if let Some(sel) = sel {
            let mut st = sel.state.lock();
            result.lNetworkEvents = st.recorded;
            result.iErrorCode = st.errors;
            st.recorded = 0;
            st.errors = [0; FD_MAX_EVENTS];
            if let Some(e) = &ev {
                e.reset();
            }
        } else if let Some(e) = &ev {
            e.reset();
        }
        // SAFETY: valid for one write (caller contract).
        unsafe { out.write(result) };
        0
    })
}
