//! The console: control handlers (`SetConsoleCtrlHandler`,
//! `GenerateConsoleCtrlEvent`), the standard handles (`GetStdHandle`) and
//! `WriteConsoleA/W`.
//!
//! # Control events
//!
//! | Linux signal | console event | why |
//! |---|---|---|
//! | SIGINT (Ctrl+C) | `CTRL_C_EVENT` | the same key, the same meaning |
//! | SIGQUIT (Ctrl+\\) | `CTRL_BREAK_EVENT` | the terminal's other interrupt key, as Ctrl+Break is the console's |
//! | SIGHUP | `CTRL_CLOSE_EVENT` | the terminal went away: the console window was closed |
//! | SIGTERM | `CTRL_SHUTDOWN_EVENT` | a polite request to end from the system (shutdown, `kill`, a service manager stopping the service), which is what `CTRL_SHUTDOWN_EVENT` tells a Windows service-like console process; `CTRL_CLOSE_EVENT` is about the user's console, which SIGHUP already stands for |
//!
//! The handlers are installed with the first `SetConsoleCtrlHandler` or
//! `GenerateConsoleCtrlEvent` call; a SIGHUP that the process inherited as
//! ignored (`nohup`) stays ignored. The signal handler itself only writes
//! the event into a pipe (async-signal-safe); a dispatcher thread reads it
//! and, as Windows does, starts a new thread for each event, which calls the
//! registered handlers newest first until one returns `TRUE`. Handlers may
//! block (the thread is theirs). Then, as on Windows:
//!
//! * `CTRL_C_EVENT` / `CTRL_BREAK_EVENT`: if no handler returned `TRUE`, the
//!   default handler ends the process; `SetConsoleCtrlHandler(NULL, TRUE)`
//!   makes the process ignore `CTRL_C_EVENT` (handlers included).
//! * `CTRL_CLOSE_EVENT`, `CTRL_LOGOFF_EVENT`, `CTRL_SHUTDOWN_EVENT`: the
//!   process ends once the handlers return, whatever they return, or when
//!   the handler has run for 5 s (close) / 20 s (logoff, shutdown).
//!
//! "The process ends" is the Linux form of the default handler's
//! `ExitProcess`: the signal of the event (the table above; `CTRL_LOGOFF_EVENT`
//! → SIGTERM) is raised again with its default action, so the parent sees
//! the process killed by that signal, as it would without handlers.
//! `GenerateConsoleCtrlEvent(event, 0)` raises the event in this process only
//! (Windows also sends it to the other processes of the console).

use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;

use crate::engine::{Conn, IoObj, ObjKind};
use crate::error::{boundary, errno, errno_to_win32, fail};
use crate::handles::{self, Object};
use crate::types::*;

/// `PHANDLER_ROUTINE`.
type Handler = unsafe extern "C" fn(DWORD) -> BOOL;

struct Handlers {
    /// Oldest first; called newest first.
    list: Vec<Handler>,
    /// `SetConsoleCtrlHandler(NULL, TRUE)`: ignore CTRL_C_EVENT.
    ignore_ctrl_c: bool,
}

static HANDLERS: Mutex<Handlers> = Mutex::new(Handlers {
    list: Vec::new(),
    ignore_ctrl_c: false,
});

/// The pipe's write end, for the signal handler; -1 before installation.
static EVENT_PIPE: AtomicI32 = AtomicI32::new(-1);
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// The signal an event stands for (raised again to end the process).
fn signal_of(event: DWORD) -> c_int {
    match event {
        CTRL_C_EVENT => libc::SIGINT,
        CTRL_BREAK_EVENT => libc::SIGQUIT,
        CTRL_CLOSE_EVENT => libc::SIGHUP,
        _ => libc::SIGTERM,
    }
}

fn event_of(sig: c_int) -> Option<u8> {
    match sig {
        libc::SIGINT => Some(CTRL_C_EVENT as u8),
        libc::SIGQUIT => Some(CTRL_BREAK_EVENT as u8),
        libc::SIGHUP => Some(CTRL_CLOSE_EVENT as u8),
        libc::SIGTERM => Some(CTRL_SHUTDOWN_EVENT as u8),
        _ => None,
    }
}

/// Queues an event for the dispatcher (async-signal-safe: one `write`).
fn queue_event(event: u8) -> bool {
    let fd = EVENT_PIPE.load(Ordering::Acquire);
    if fd < 0 {
        return false;
    }
    // SAFETY: one byte from a local into the pipe; write is async-signal-safe.
    unsafe { libc::write(fd, (&raw const event).cast(), 1) == 1 }
}

extern "C" fn on_signal(sig: c_int) {
    // SAFETY: errno is thread-local; the handler must leave it as it found it.
    let saved = unsafe { *libc::__errno_location() };
    if let Some(event) = event_of(sig) {
        queue_event(event);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

/// Ends the process the way the default handler does (module docs).
fn terminate(event: DWORD) -> ! {
    let sig = signal_of(event);
    // SAFETY: restoring the default action and raising the signal in this
    // thread (unblocked first) ends the process; if it somehow returns,
    // _exit does.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}

/// How long the system lets the handlers of an ending event run.
fn grace(event: DWORD) -> Option<Duration> {
    match event {
        CTRL_CLOSE_EVENT => Some(Duration::from_secs(5)),
        CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT => Some(Duration::from_secs(20)),
        _ => None,
    }
}

/// Runs the handlers registered when the event came, on a thread of its own.
fn dispatch(event: DWORD, list: Vec<Handler>) {
    let ending = grace(event);
    if let Some(limit) = ending {
        // The system does not wait for a hung handler forever.
        let _ = std::thread::Builder::new()
            .name("cport-ctrl-timeout".into())
            .spawn(move || {
                std::thread::sleep(limit);
                terminate(event)
            });
    }
    // SAFETY: the program registered these handlers for exactly this call.
    let handled = list.iter().rev().any(|h| unsafe { h(event) } != FALSE);
    if !handled || ending.is_some() {
        terminate(event);
    }
}

/// The dispatcher: takes the events in order, decides with the handlers and
/// the ignore flag of that moment, and runs each on a new thread, as Windows
/// does.
fn dispatcher(fd: RawFd) {
    loop {
        let mut event = 0u8;
        // SAFETY: one byte into a local from our own pipe.
        let n = unsafe { libc::read(fd, (&raw mut event).cast(), 1) };
        if n == 1 {
            let event = DWORD::from(event);
            let list = {
                let h = HANDLERS.lock();
                if event == CTRL_C_EVENT && h.ignore_ctrl_c {
                    continue;
                }
                h.list.clone()
            };
            let spare = list.clone();
            let spawned = std::thread::Builder::new()
                .name("cport-ctrl-handler".into())
                .spawn(move || dispatch(event, list));
            if spawned.is_err() {
                dispatch(event, spare);
            }
        } else if n == 0 || errno() != libc::EINTR {
            return;
        }
    }
}

/// Installs the signal handlers and the dispatcher, once. `false` if that
/// failed (no pipe or thread).
fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two fds into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return false;
        }
        let [read_end, write_end] = fds;
        // A full pipe drops events rather than blocking the signal handler.
        // SAFETY: fcntl on our own fd.
        unsafe { libc::fcntl(write_end, libc::F_SETFL, libc::O_NONBLOCK) };
        let spawned = std::thread::Builder::new()
            .name("cport-ctrl".into())
            .spawn(move || dispatcher(read_end));
        if spawned.is_err() {
            // SAFETY: closing our own fds.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
            return false;
        }
        EVENT_PIPE.store(write_end, Ordering::Release);
        for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGTERM] {
            // SAFETY: sigaction with a zeroed struct, our handler and
            // SA_RESTART; the old action is read into a local.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, std::ptr::null(), &mut old);
                if sig == libc::SIGHUP && old.sa_sigaction == libc::SIG_IGN {
                    continue; // nohup
                }
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(c_int) as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
        true
    })
}

/// `SetConsoleCtrlHandler`: adds (newest first) or removes a handler;
/// `(NULL, TRUE/FALSE)` ignores / restores CTRL_C_EVENT. Removing a handler
/// that is not registered: `FALSE`, `ERROR_INVALID_PARAMETER`.
#[no_mangle]
pub extern "C" fn SetConsoleCtrlHandler(handler: Option<Handler>, add: BOOL) -> BOOL {
    boundary(FALSE, || {
        if !install() {
            return fail(ERROR_NOT_ENOUGH_MEMORY, FALSE);
        }
        let mut h = HANDLERS.lock();
        match (handler, add != FALSE) {
            (None, ignore) => h.ignore_ctrl_c = ignore,
            (Some(f), true) => h.list.push(f),
            (Some(f), false) => {
                let Some(i) = h.list.iter().rposition(|&g| g as usize == f as usize) else {
                    return fail(ERROR_INVALID_PARAMETER, FALSE);
                };
                h.list.remove(i);
            }
        }
        TRUE
    })
}

/// `GenerateConsoleCtrlEvent`: `CTRL_C_EVENT` or `CTRL_BREAK_EVENT`, to this
/// process (group 0 or this process's id); the handlers run asynchronously,
/// on their own thread, as on Windows.
#[no_mangle]
pub extern "C" fn GenerateConsoleCtrlEvent(event: DWORD, group: DWORD) -> BOOL {
    boundary(FALSE, || {
        if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        if group != 0 && group != std::process::id() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        if !install() || !queue_event(event as u8) {
            return fail(ERROR_NOT_ENOUGH_MEMORY, FALSE);
        }
        TRUE
    })
}

static STD_HANDLES: [OnceLock<usize>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

/// `GetStdHandle`: handles for fds 0, 1, 2 (whatever they are: a terminal,
/// a pipe, a file). NULL if the fd is not open; `INVALID_HANDLE_VALUE` + 6
/// for another number. `CloseHandle` on one makes it invalid but leaves
/// the fd open (the C runtime still uses it).
#[no_mangle]
pub extern "C" fn GetStdHandle(which: DWORD) -> HANDLE {
    boundary(INVALID_HANDLE_VALUE as HANDLE, || {
        let fd: RawFd = match which {
            STD_INPUT_HANDLE => 0,
            STD_OUTPUT_HANDLE => 1,
            STD_ERROR_HANDLE => 2,
            _ => return fail(ERROR_INVALID_HANDLE, INVALID_HANDLE_VALUE as HANDLE),
        };
        // SAFETY: F_GETFD only asks whether the fd is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return std::ptr::null_mut();
        }
        let value = STD_HANDLES[fd as usize].get_or_init(|| {
            let conn = Conn {
                fd,
                home: None,
                own: None, // never closed by cport
                closed: false,
            };
            let obj = IoObj::new(ObjKind::File, false, conn);
            handles::insert(Object::Io(Arc::new(obj))).unwrap_or(0)
        });
        *value as HANDLE
    })
}

/// Writes `len` bytes to a non-overlapped file handle (console, pipe, file).
///
/// # Safety
/// `buf` must be valid for reads of `len` bytes.
unsafe fn write_handle(h: HANDLE, buf: *const u8, len: usize) -> Result<usize, DWORD> {
    let obj = match handles::io(h as usize) {
        Some(o) if !o.is_socket() && !o.is_overlapped() => o,
        _ => return Err(ERROR_INVALID_HANDLE),
    };
    let Some(fd) = obj.current() else {
        return Err(ERROR_INVALID_HANDLE);
    };
    // SAFETY: `buf` is valid for `len` bytes (caller contract); a write only
    // reads it.
    unsafe { crate::engine::sync_rw(fd, true, buf as *mut u8, len, None) }.map_err(errno_to_win32)
}

/// `WriteConsoleA`/`W`: `len` bytes, or (`wide`) `len` UTF-32 characters
/// written as UTF-8; `*written` counts what `len` counts.
///
/// # Safety
/// `buf` valid for `len` bytes (`len` `wchar_t` if `wide`); `written` NULL or
/// valid.
unsafe fn write_console(
    h: HANDLE,
    buf: *const c_void,
    len: DWORD,
    written: *mut DWORD,
    wide: bool,
) -> BOOL {
    if buf.is_null() && len > 0 {
        return fail(ERROR_NOACCESS, FALSE);
    }
    let result = if wide {
        let chars = if len == 0 {
            &[][..]
        } else {
            // SAFETY: valid for `len` wchar_t (caller contract).
            unsafe { std::slice::from_raw_parts(buf.cast::<u32>(), len as usize) }
        };
        let text: String = chars
            .iter()
            .map(|&c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
        // SAFETY: a live String's bytes.
        unsafe { write_handle(h, text.as_ptr(), text.len()) }.map(|_| len)
    } else {
        // SAFETY: `buf` is valid for `len` bytes (caller contract).
        unsafe { write_handle(h, buf.cast(), len as usize) }.map(|n| n as DWORD)
    };
    match result {
        Ok(n) => {
            if !written.is_null() {
                // SAFETY: valid out-pointer (caller contract).
                unsafe { *written = n };
            }
            TRUE
        }
        Err(e) => fail(e, FALSE),
    }
}

/// Defines `WriteConsoleA` and `WriteConsoleW`: both are [`write_console`],
/// narrow or wide.
macro_rules! write_console_export {
    ($(#[$attr:meta])* fn $export:ident, wide: $wide:literal) => {
        $(#[$attr])*
        #[no_mangle]
        pub unsafe extern "C" fn $export(
            h: HANDLE,
            buf: *const c_void,
            len: DWORD,
            written: *mut DWORD,
            _reserved: *mut c_void,
        ) -> BOOL {
            // SAFETY: the caller's pointers, as `write_console` requires.
            boundary(FALSE, || unsafe { write_console(h, buf, len, written, $wide) })
        }
    };
}

write_console_export! {
    /// `WriteConsoleA`: writes the bytes to the handle's fd, also when it is
    /// redirected to a file or pipe (Windows fails there).
    ///
    /// # Safety
    /// `buf` valid for `len` bytes; `written` NULL or valid.
    fn WriteConsoleA, wide: false
}

write_console_export! {
    /// `WriteConsoleW`: `len` wide characters (UTF-32 `wchar_t` here), written
    /// as UTF-8; `*written` counts characters.
    ///
    /// # Safety
    /// `buf` valid for `len` characters; `written` NULL or valid.
    fn WriteConsoleW, wide: true
}
