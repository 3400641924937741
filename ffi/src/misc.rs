//! Winsock start-up, last-error accessors, events, `Sleep`, `GetSystemInfo`,
//! and the address helpers (`inet_pton`/`inet_ntop`, `getaddrinfo`).

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{boundary, errno, errno_to_wsa, fail, last_error, set_last_error};
use crate::event::{self, timeout_of, Event, WaitResult, Waitable};
use crate::handles::{self, Object};
use crate::types::*;

extern "C" {
    // glibc's, not re-exported by the libc crate.
    fn inet_pton(af: i32, src: *const c_char, dst: *mut c_void) -> i32;
    fn inet_ntop(
        af: i32,
        src: *const c_void,
        dst: *mut c_char,
        size: libc::socklen_t,
    ) -> *const c_char;
}

static WSA_STARTED: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn wsa_started() -> bool {
    WSA_STARTED.load(Ordering::Acquire) > 0
}

/// `WSAStartup`: versions 1.1 to 2.2; returns the error (not via the last error).
///
/// # Safety
/// `data` must be NULL or point to a `WSADATA`.
#[no_mangle]
pub unsafe extern "C" fn WSAStartup(version: WORD, data: *mut WSADATA) -> i32 {
    boundary(WSASYSNOTREADY as i32, || {
        if data.is_null() {
            return WSAEFAULT as i32;
        }
        let (major, minor) = (version & 0xFF, version >> 8);
        if major == 0 || (major == 1 && minor == 0) {
            return WSAVERNOTSUPPORTED as i32;
        }
        let granted = if major > 2 || (major == 2 && minor > 2) {
            0x0202
        } else {
            version
        };
        let mut d = WSADATA {
            wVersion: granted,
            wHighVersion: 0x0202,
            iMaxSockets: 0,
            iMaxUdpDg: 0,
            lpVendorInfo: std::ptr::null_mut(),
            szDescription: [0; WSADESCRIPTION_LEN + 1],
            szSystemStatus: [0; WSASYS_STATUS_LEN + 1],
        };
        let desc = b"cport WinSock 2.2";
        d.szDescription[..desc.len()].copy_from_slice(desc);
        d.szSystemStatus[..7].copy_from_slice(b"Running");
        // SAFETY: `data` points to a WSADATA (caller contract).
        unsafe { data.write(d) };
        WSA_STARTED.fetch_add(1, Ordering::AcqRel);
        0
    })
}

/// `WSACleanup`: one per successful WSAStartup. Open sockets stay usable.
#[no_mangle]
pub extern "C" fn WSACleanup() -> i32 {
    boundary(SOCKET_ERROR, || {
        let r = WSA_STARTED.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        match r {
            Ok(_) => 0,
            Err(_) => fail(WSANOTINITIALISED, SOCKET_ERROR),
        }
    })
}

/// `WSAGetLastError`: the same per-thread slot as `GetLastError`.
#[no_mangle]
pub extern "C" fn WSAGetLastError() -> i32 {
    boundary(ERROR_INTERNAL_ERROR as i32, || last_error() as i32)
}

/// `WSASetLastError`.
#[no_mangle]
pub extern "C" fn WSASetLastError(error: i32) {
    boundary((), || set_last_error(error as DWORD))
}

/// `GetSystemInfo`: `dwNumberOfProcessors` is the number a concurrency value
/// of 0 stands for.
///
/// # Safety
/// `info` must be NULL or point to a `SYSTEM_INFO`.
#[no_mangle]
pub unsafe extern "C" fn GetSystemInfo(info: *mut SYSTEM_INFO) {
    boundary((), || {
        if info.is_null() {
            return;
        }
        let n = crate::port::processors();
        // SAFETY: sysconf has no pointers.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as DWORD;
        let mask = if n >= usize::BITS as usize {
            usize::MAX
        } else {
            (1usize << n) - 1
        };
        let si = SYSTEM_INFO {
            wProcessorArchitecture: PROCESSOR_ARCHITECTURE_AMD64,
            wReserved: 0,
            dwPageSize: page,
            lpMinimumApplicationAddress: 0x10000 as *mut c_void,
            lpMaximumApplicationAddress: 0x7FFF_FFFE_FFFF_usize as *mut c_void,
            dwActiveProcessorMask: mask,
            dwNumberOfProcessors: n as DWORD,
            dwProcessorType: PROCESSOR_AMD_X8664,
            dwAllocationGranularity: 65536,
            wProcessorLevel: 6,
            wProcessorRevision: 0,
        };
        // SAFETY: `info` points to a SYSTEM_INFO (caller contract).
        unsafe { info.write(si) };
    })
}

fn sleep(ms: DWORD) {
    crate::port::blocking(|| match ms {
        0 => std::thread::yield_now(),
        INFINITE => loop {
            std::thread::park();
        },
        ms => std::thread::sleep(Duration::from_millis(u64::from(ms))),
    })
}

/// `Sleep`: a blocking section of the thread's completion port.
#[no_mangle]
pub extern "C" fn Sleep(ms: DWORD) {
    boundary((), || sleep(ms))
}

/// `SleepEx`: 0 after the full time; alertable, `WAIT_IO_COMPLETION` as
/// soon as queued APCs ran (see `thread/apc.rs`).
#[no_mangle]
pub extern "C" fn SleepEx(ms: DWORD, alertable: BOOL) -> DWORD {
    boundary(0, || {
        if alertable != FALSE {
            return crate::apc::alertable_sleep(ms);
        }
        sleep(ms);
        0
    })
}

fn create_event(manual: BOOL, initial: BOOL) -> HANDLE {
    match handles::insert(Object::Event(Arc::new(Event::new(
        manual != FALSE,
        initial != FALSE,
    )))) {
        Some(h) => h as HANDLE,
        None => fail(ERROR_NOT_ENOUGH_MEMORY, std::ptr::null_mut()),
    }
}

/// `CreateEventA` (names are ignored: every event is unnamed).
#[no_mangle]
pub extern "C" fn CreateEventA(
    _security: *mut c_void,
    manual: BOOL,
    initial: BOOL,
    _name: *const c_char,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || create_event(manual, initial))
}

/// `CreateEventW` (names are ignored).
#[no_mangle]
pub extern "C" fn CreateEventW(
    _security: *mut c_void,
    manual: BOOL,
    initial: BOOL,
    _name: *const u32,
) -> HANDLE {
    boundary(std::ptr::null_mut(), || create_event(manual, initial))
}

/// `WSACreateEvent`: manual-reset, not signalled.
#[no_mangle]
pub extern "C" fn WSACreateEvent() -> HANDLE {
    boundary(std::ptr::null_mut(), || create_event(TRUE, FALSE))
}

fn with_event(h: HANDLE, f: impl FnOnce(&Event)) -> BOOL {
    match handles::event(h as usize) {
        Some(e) => {
            f(&e);
            TRUE
        }
        None => fail(ERROR_INVALID_HANDLE, FALSE),
    }
}

/// `SetEvent`.
#[no_mangle]
pub extern "C" fn SetEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || with_event(h, Event::set))
}

/// `ResetEvent`.
#[no_mangle]
pub extern "C" fn ResetEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || with_event(h, Event::reset))
}

/// `WSASetEvent`.
#[no_mangle]
pub extern "C" fn WSASetEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || with_event(h, Event::set))
}

/// `WSAResetEvent`.
#[no_mangle]
pub extern "C" fn WSAResetEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || with_event(h, Event::reset))
}

/// `WSACloseEvent`.
#[no_mangle]
pub extern "C" fn WSACloseEvent(h: HANDLE) -> BOOL {
    boundary(FALSE, || {
        match handles::remove_if(h as usize, |o| matches!(o, Object::Event(_))) {
            Some(_) => TRUE,
            None => fail(WSA_INVALID_HANDLE, FALSE),
        }
    })
}

/// Resolves a wait's handle array to events and threads.
///
/// # Safety
/// `handles` must be valid for `n` entries (checked non-NULL).
unsafe fn wait_many(n: DWORD, hs: *const HANDLE, all: BOOL, ms: DWORD) -> DWORD {
    if n == 0 || n > MAXIMUM_WAIT_OBJECTS || hs.is_null() {
        return fail(ERROR_INVALID_PARAMETER, WAIT_FAILED);
    }
    // SAFETY: valid for n entries (caller contract).
    let hs = unsafe { std::slice::from_raw_parts(hs, n as usize) };
    let mut events = Vec::with_capacity(hs.len());
    for &h in hs {
        match handles::get(h as usize) {
            Some(Object::Event(e)) => events.push(Waitable::Event(e)),
            Some(Object::Thread(t)) => events.push(Waitable::Thread(t)),
            _ => return fail(ERROR_INVALID_HANDLE, WAIT_FAILED),
        }
    }
    match event::wait_events(&events, all != FALSE, timeout_of(ms)) {
        WaitResult::Signaled(i) => WAIT_OBJECT_0 + i as DWORD,
        WaitResult::TimedOut => WAIT_TIMEOUT,
    }
}

/// `WaitForSingleObject` (events, threads).
#[no_mangle]
pub extern "C" fn WaitForSingleObject(h: HANDLE, ms: DWORD) -> DWORD {
    boundary(WAIT_FAILED, || {
        let one = [h];
        // SAFETY: a local array of one handle.
        unsafe { wait_many(1, one.as_ptr(), TRUE, ms) }
    })
}

/// `WaitForMultipleObjects` (events, threads; at most 64).
///
/// # Safety
/// `hs` must be valid for `n` handles.
#[no_mangle]
pub unsafe extern "C" fn WaitForMultipleObjects(
    n: DWORD,
    hs: *const HANDLE,
    all: BOOL,
    ms: DWORD,
) -> DWORD {
    // SAFETY: forwarded caller contract.
    boundary(WAIT_FAILED, || unsafe { wait_many(n, hs, all, ms) })
}

/// `WSAWaitForMultipleEvents` (no APCs: `alertable` changes nothing).
///
/// # Safety
/// `events` must be valid for `n` handles.
#[no_mangle]
pub unsafe extern "C" fn WSAWaitForMultipleEvents(
    n: DWORD,
    events: *const HANDLE,
    all: BOOL,
    ms: DWORD,
    _alertable: BOOL,
) -> DWORD {
    // SAFETY: forwarded caller contract.
    boundary(WSA_WAIT_FAILED, || unsafe { wait_many(n, events, all, ms) })
}

/// `inet_pton`: 1, 0 for a malformed string, -1 + `WSAEAFNOSUPPORT`.
///
/// # Safety
/// `src` NUL-terminated, `dst` large enough for the family's address.
#[no_mangle]
pub unsafe extern "C" fn cport_inet_pton(family: i32, src: *const c_char, dst: *mut c_void) -> i32 {
    boundary(-1, || {
        if src.is_null() || dst.is_null() {
            return fail(WSAEFAULT, -1);
        }
        if family != libc::AF_INET && family != libc::AF_INET6 {
            return fail(WSAEAFNOSUPPORT, -1);
        }
        // SAFETY: caller contract.
        unsafe { inet_pton(family, src, dst) }
    })
}

/// `inet_ntop`: NULL + `WSAEAFNOSUPPORT` or `ERROR_INVALID_PARAMETER` (too small).
///
/// # Safety
/// `src` valid for the family's address, `dst` for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn cport_inet_ntop(
    family: i32,
    src: *const c_void,
    dst: *mut c_char,
    size: usize,
) -> *const c_char {
    boundary(std::ptr::null(), || {
        if family != libc::AF_INET && family != libc::AF_INET6 {
            return fail(WSAEAFNOSUPPORT, std::ptr::null());
        }
        if src.is_null() || dst.is_null() {
            return fail(ERROR_INVALID_PARAMETER, std::ptr::null());
        }
        // SAFETY: caller contract.
        let r = unsafe {
            inet_ntop(
                family,
                src,
                dst,
                size.min(u32::MAX as usize) as libc::socklen_t,
            )
        };
        if r.is_null() {
            return fail(ERROR_INVALID_PARAMETER, std::ptr::null());
        }
        r
    })
}

/// `getaddrinfo`: Linux `struct addrinfo` (the headers use it), Windows
/// error numbers (`WSAHOST_NOT_FOUND` …), also set as the last error.
///
/// # Safety
/// As libc's `getaddrinfo`.
#[no_mangle]
pub unsafe extern "C" fn cport_getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> i32 {
    boundary(WSANO_RECOVERY as i32, || {
        if res.is_null() || (node.is_null() && service.is_null()) {
            return fail(WSAHOST_NOT_FOUND, WSAHOST_NOT_FOUND as i32);
        }
        // SAFETY: caller contract.
        let rc = unsafe { libc::getaddrinfo(node, service, hints, res) };
        match eai_to_wsa(rc) {
            0 => 0,
            e => fail(e, e as i32),
        }
    })
}

/// A `getaddrinfo`/`getnameinfo` result as the Windows (WSA) error; 0 for 0.
fn eai_to_wsa(rc: i32) -> DWORD {
    match rc {
        0 => 0,
        libc::EAI_NONAME => WSAHOST_NOT_FOUND,
        libc::EAI_AGAIN => WSATRY_AGAIN,
        libc::EAI_FAIL => WSANO_RECOVERY,
        libc::EAI_NODATA => WSANO_DATA,
        libc::EAI_FAMILY => WSAEAFNOSUPPORT,
        libc::EAI_MEMORY => WSA_NOT_ENOUGH_MEMORY,
        libc::EAI_SERVICE => WSATYPE_NOT_FOUND,
        libc::EAI_SOCKTYPE => WSAESOCKTNOSUPPORT,
        libc::EAI_BADFLAGS => WSAEINVAL,
        libc::EAI_SYSTEM => errno_to_wsa(errno()),
        libc::EAI_OVERFLOW => WSAEFAULT,
        _ => WSANO_RECOVERY,
    }
}

/// `getnameinfo`: numeric or resolved host and service names; 0 or the
/// Windows error (also set as the last error). `NI_*` flags are Linux's
/// (the header's); a too-small buffer is `WSAEFAULT`.
///
/// # Safety
/// `sa` valid for `salen` bytes; `host`/`serv` NULL or valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn cport_getnameinfo(
    sa: *const libc::sockaddr,
    salen: i32,
    host: *mut c_char,
    hostlen: DWORD,
    serv: *mut c_char,
    servlen: DWORD,
    flags: i32,
) -> i32 {
    boundary(WSANO_RECOVERY as i32, || {
        if sa.is_null() || salen <= 0 || (host.is_null() && serv.is_null()) {
            return fail(WSAEFAULT, WSAEFAULT as i32);
        }
        let (hostlen, servlen) = (
            if host.is_null() { 0 } else { hostlen },
            if serv.is_null() { 0 } else { servlen },
        );
        // SAFETY: caller contract; lengths of 0 for NULL buffers.
        let rc = unsafe {
            libc::getnameinfo(
                sa,
                salen as libc::socklen_t,
                host,
                hostlen,
                serv,
                servlen,
                flags,
            )
        };
        match eai_to_wsa(rc) {
            0 => 0,
            e => fail(e, e as i32),
        }
    })
}

/// `freeaddrinfo`.
///
/// # Safety
/// `ai` must come from `getaddrinfo` (or be NULL).
#[no_mangle]
pub unsafe extern "C" fn cport_freeaddrinfo(ai: *mut libc::addrinfo) {
    boundary((), || {
        if !ai.is_null() {
            // SAFETY: from getaddrinfo (caller contract).
            unsafe { libc::freeaddrinfo(ai) }
        }
    })
}

/// Not a Win32 function: panics inside the panic boundary, to test that a
/// Rust panic never unwinds into C (returns `FALSE`, `ERROR_INTERNAL_ERROR`).
#[doc(hidden)]
#[no_mangle]
pub extern "C" fn cport_debug_panic() -> BOOL {
    boundary(FALSE, || {
        panic!("cport_debug_panic: a test of the panic boundary")
    })
}

/// Not a Win32 function: makes the handling of the next completion panic on
/// the engine's reaper thread, to test that the panic is caught there and the
/// operation fails with `ERROR_INTERNAL_ERROR` instead of being lost.
#[doc(hidden)]
#[no_mangle]
pub extern "C" fn cport_debug_panic_in_completion() {
    boundary((), || {
        crate::io::PANIC_NEXT_COMPLETION.store(true, std::sync::atomic::Ordering::Release)
    })
}

/// The version `GetVersionEx` reports: 6.2 build 9200, what Windows 8.1 and
/// later report to programs without a compatibility manifest (the classic
/// samples only check for the NT platform).
const VERSION: (DWORD, DWORD, DWORD) = (6, 2, 9200);

/// `OSVERSIONINFOW` / `OSVERSIONINFOEXW` with this ABI's 32-bit `WCHAR`.
const OSVERSIONINFOW_SIZE: usize = 20 + 128 * 4;
const OSVERSIONINFOEXW_SIZE: usize = OSVERSIONINFOW_SIZE + 8;

/// Fills the common part of an OSVERSIONINFO(EX) (A or W) of `size` bytes.
///
/// # Safety
/// `info` must be valid for `size` bytes, `size` ≥ 20.
unsafe fn fill_version(info: *mut u8, size: usize, ex_at: Option<usize>) {
    let (major, minor, build) = VERSION;
    let head = [size as DWORD, major, minor, build, VER_PLATFORM_WIN32_NT];
    // SAFETY: the first 20 bytes are the five DWORDs (caller contract); the
    // rest (the empty szCSDVersion and the EX fields) is zeroed.
    unsafe {
        std::ptr::write_bytes(info.add(20), 0, size - 20);
        std::ptr::copy_nonoverlapping(head.as_ptr().cast::<u8>(), info, 20);
        if let Some(at) = ex_at {
            // wProductType, after wServicePackMajor/Minor and wSuiteMask.
            info.add(at + 6).write(VER_NT_WORKSTATION);
        }
    }
}

/// `GetVersionExA`: `dwOSVersionInfoSize` must be `sizeof(OSVERSIONINFOA)`
/// or `sizeof(OSVERSIONINFOEXA)`, else `FALSE` + `ERROR_INSUFFICIENT_BUFFER`.
///
/// # Safety
/// `info` must be NULL or point to the structure its size field names.
#[no_mangle]
pub unsafe extern "C" fn GetVersionExA(info: *mut OSVERSIONINFOA) -> BOOL {
    boundary(FALSE, || {
        if info.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: a valid structure (caller contract).
        let size = unsafe { (*info).dwOSVersionInfoSize } as usize;
        let ex_at = if size == std::mem::size_of::<OSVERSIONINFOEXA>() {
            Some(std::mem::size_of::<OSVERSIONINFOA>())
        } else if size == std::mem::size_of::<OSVERSIONINFOA>() {
            None
        } else {
            return fail(ERROR_INSUFFICIENT_BUFFER, FALSE);
        };
        // SAFETY: `size` bytes as checked against the structure sizes.
        unsafe { fill_version(info.cast(), size, ex_at) };
        TRUE
    })
}

/// `GetVersionExW` (with this ABI's 32-bit `WCHAR`: sizes 532 / 540).
///
/// # Safety
/// As `GetVersionExA`.
#[no_mangle]
pub unsafe extern "C" fn GetVersionExW(info: *mut c_void) -> BOOL {
    boundary(FALSE, || {
        if info.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: a valid structure (caller contract), which starts with
        // its DWORD size, as OSVERSIONINFOW does.
        let size = unsafe { info.cast::<DWORD>().read_unaligned() } as usize;
        let ex_at = match size {
            OSVERSIONINFOEXW_SIZE => Some(OSVERSIONINFOW_SIZE),
            OSVERSIONINFOW_SIZE => None,
            _ => return fail(ERROR_INSUFFICIENT_BUFFER, FALSE),
        };
        // SAFETY: `size` bytes as checked against the structure sizes.
        unsafe { fill_version(info.cast(), size, ex_at) };
        TRUE
    })
}

/// `GetVersion`: build << 16 | minor << 8 | major (bit 31 clear: NT).
#[no_mangle]
pub extern "C" fn GetVersion() -> DWORD {
    boundary(0, || {
        let (major, minor, build) = VERSION;
        (build << 16) | (minor << 8) | major
    })
}

fn monotonic() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `GetTickCount64`: milliseconds of the monotonic clock (since boot).
#[no_mangle]
pub extern "C" fn GetTickCount64() -> u64 {
    boundary(0, || monotonic().as_millis() as u64)
}

/// `GetTickCount`: the same, wrapping at 2³² ms.
#[no_mangle]
pub extern "C" fn GetTickCount() -> DWORD {
    boundary(0, || monotonic().as_millis() as DWORD)
}

/// The `QueryPerformanceFrequency` of current Windows: 10 MHz.
const QPC_HZ: i64 = 10_000_000;

/// `QueryPerformanceCounter`: the monotonic clock in 100 ns units.
///
/// # Safety
/// `count` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn QueryPerformanceCounter(count: *mut LARGE_INTEGER) -> BOOL {
    boundary(FALSE, || {
        if count.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        let t = monotonic();
        let ticks = t.as_secs() as i64 * QPC_HZ + i64::from(t.subsec_nanos()) / 100;
        // SAFETY: valid out-pointer (checked non-NULL; caller contract).
        unsafe { count.write(ticks) };
        TRUE
    })
}

/// `QueryPerformanceFrequency`: 10 000 000.
///
/// # Safety
/// `freq` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn QueryPerformanceFrequency(freq: *mut LARGE_INTEGER) -> BOOL {
    boundary(FALSE, || {
        if freq.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: valid out-pointer (checked non-NULL; caller contract).
        unsafe { freq.write(QPC_HZ) };
        TRUE
    })
}

/// `GetCurrentProcessId`.
#[no_mangle]
pub extern "C" fn GetCurrentProcessId() -> DWORD {
    boundary(0, std::process::id)
}

/// `GetProcessHandleCount`: the live cport handles (ports, sockets, files,
/// events, threads, the heap and the standard handles once fetched).
///
/// # Safety
/// `count` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn GetProcessHandleCount(process: HANDLE, count: *mut DWORD) -> BOOL {
    boundary(FALSE, || {
        // Only the current process: its pseudo-handle, (HANDLE)-1.
        if process as usize != INVALID_HANDLE_VALUE {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        }
        if count.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: valid out-pointer (checked non-NULL; caller contract).
        unsafe { *count = handles::count() as DWORD };
        TRUE
    })
}

/// `GetCurrentProcess`: the pseudo-handle `(HANDLE)-1`.
#[no_mangle]
pub extern "C" fn GetCurrentProcess() -> HANDLE {
    boundary(INVALID_HANDLE_VALUE as HANDLE, || {
        INVALID_HANDLE_VALUE as HANDLE
    })
}
