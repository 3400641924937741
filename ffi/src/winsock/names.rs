//! Winsock start-up and the address and name helpers: `WSAStartup`,
//! `WSACleanup`, `WSAGetLastError`/`WSASetLastError` (the thread's one
//! last-error slot), `inet_pton`/`inet_ntop`, `getaddrinfo`/`freeaddrinfo`,
//! `getnameinfo`.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{boundary, errno, errno_to_wsa, fail, last_error, set_last_error};
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
