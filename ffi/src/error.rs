//! The per-thread last error, the panic boundary, and the translations
//! errno → Winsock / Win32 error → NTSTATUS → error.

use std::cell::Cell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::types::*;

thread_local! {
    /// `GetLastError()` / `WSAGetLastError()`: one slot per thread, 0 at start.
    static LAST_ERROR: Cell<DWORD> = const { Cell::new(0) };
}

pub(crate) fn last_error() -> DWORD {
    LAST_ERROR.try_with(Cell::get).unwrap_or(0)
}

pub(crate) fn set_last_error(e: DWORD) {
    let _ = LAST_ERROR.try_with(|c| c.set(e));
}

/// Sets the last error and returns `ret`: `return fail(ERROR_INVALID_HANDLE, FALSE)`.
#[inline]
pub(crate) fn fail<T>(e: DWORD, ret: T) -> T {
    set_last_error(e);
    ret
}

/// The panic boundary every export runs its body in: a Rust panic never
/// unwinds into C; it becomes `ret` with `ERROR_INTERNAL_ERROR`.
#[inline]
pub(crate) fn boundary<T>(ret: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => fail(ERROR_INTERNAL_ERROR, ret),
    }
}

/// Private NTSTATUS values that carry a Win32 / Winsock error verbatim, for
/// errnos that have no NTSTATUS of their own (customer bit set, severity error).
const STATUS_CPORT_ERROR: DWORD = 0xE0CF_0000;

pub(crate) fn status_carrying(error: DWORD) -> DWORD {
    STATUS_CPORT_ERROR | (error & 0xFFFF)
}

/// `RtlNtStatusToDosError` for the statuses cport produces: what
/// `GetLastError` says after GQCS / `GetOverlappedResult`.
pub(crate) fn status_to_win32(status: DWORD) -> DWORD {
    match status {
        STATUS_SUCCESS => ERROR_SUCCESS,
        STATUS_PENDING => ERROR_IO_PENDING,
        STATUS_TIMEOUT => WAIT_TIMEOUT,
        STATUS_ABANDONED => ERROR_ABANDONED_WAIT_0,
        STATUS_USER_APC => WAIT_IO_COMPLETION,
        STATUS_CANCELLED => ERROR_OPERATION_ABORTED,
        STATUS_CONNECTION_ABORTED => ERROR_CONNECTION_ABORTED,
        STATUS_CONNECTION_RESET | STATUS_LOCAL_DISCONNECT | STATUS_REMOTE_DISCONNECT => {
            ERROR_NETNAME_DELETED
        }
        STATUS_CONNECTION_REFUSED => ERROR_CONNECTION_REFUSED,
        STATUS_END_OF_FILE => ERROR_HANDLE_EOF,
        STATUS_BUFFER_OVERFLOW => ERROR_MORE_DATA,
        STATUS_BUFFER_TOO_SMALL => ERROR_INSUFFICIENT_BUFFER,
        STATUS_INVALID_PARAMETER => ERROR_INVALID_PARAMETER,
        STATUS_INVALID_HANDLE => ERROR_INVALID_HANDLE,
        STATUS_NOT_FOUND => ERROR_NOT_FOUND,
        STATUS_NO_MEMORY => ERROR_NOT_ENOUGH_MEMORY,
        STATUS_ACCESS_DENIED => ERROR_ACCESS_DENIED,
        STATUS_IO_TIMEOUT => ERROR_SEM_TIMEOUT,
        STATUS_INVALID_CONNECTION => ERROR_CONNECTION_INVALID,
        STATUS_NETWORK_UNREACHABLE => ERROR_NETWORK_UNREACHABLE,
        STATUS_HOST_UNREACHABLE => ERROR_HOST_UNREACHABLE,
        STATUS_PORT_UNREACHABLE => ERROR_PORT_UNREACHABLE,
        s if s & 0xFFFF_0000 == STATUS_CPORT_ERROR => s & 0xFFFF,
        _ => ERROR_GEN_FAILURE,
    }
}

/// Winsock's own table: what `WSAGetOverlappedResult` reports.
pub(crate) fn status_to_wsa(status: DWORD) -> DWORD {
    match status {
        STATUS_SUCCESS => 0,
        STATUS_PENDING => WSA_IO_INCOMPLETE,
        STATUS_CANCELLED => WSA_OPERATION_ABORTED,
        STATUS_CONNECTION_ABORTED | STATUS_LOCAL_DISCONNECT => WSAECONNABORTED,
        STATUS_CONNECTION_RESET | STATUS_REMOTE_DISCONNECT | STATUS_PORT_UNREACHABLE => {
            WSAECONNRESET
        }
        STATUS_CONNECTION_REFUSED => WSAECONNREFUSED,
        STATUS_BUFFER_OVERFLOW => WSAEMSGSIZE,
        STATUS_BUFFER_TOO_SMALL => WSAEFAULT,
        STATUS_INVALID_PARAMETER => WSAEINVAL,
        STATUS_INVALID_HANDLE => WSAENOTSOCK,
        STATUS_NO_MEMORY => WSA_NOT_ENOUGH_MEMORY,
        STATUS_ACCESS_DENIED => WSAEACCES,
        STATUS_IO_TIMEOUT => WSAETIMEDOUT,
        STATUS_INVALID_CONNECTION => WSAENOTCONN,
        STATUS_NETWORK_UNREACHABLE => WSAENETUNREACH,
        STATUS_HOST_UNREACHABLE => WSAEHOSTUNREACH,
        other => status_to_win32(other),
    }
}

/// A Linux errno as a Winsock error (synchronous Winsock failures).
pub(crate) fn errno_to_wsa(errno: i32) -> DWORD {
    match errno {
        libc::EINTR => WSAEINTR,
        libc::EBADF => WSAENOTSOCK,
        libc::EACCES | libc::EPERM => WSAEACCES,
        libc::EFAULT => WSAEFAULT,
        libc::EINVAL => WSAEINVAL,
        libc::EMFILE | libc::ENFILE => WSAEMFILE,
        libc::EAGAIN => WSAEWOULDBLOCK,
        libc::EINPROGRESS => WSAEWOULDBLOCK,
        libc::EALREADY => WSAEALREADY,
        libc::ENOTSOCK => WSAENOTSOCK,
        libc::EDESTADDRREQ => WSAEDESTADDRREQ,
        libc::EMSGSIZE => WSAEMSGSIZE,
        libc::EPROTOTYPE => WSAEPROTOTYPE,
        libc::ENOPROTOOPT => WSAENOPROTOOPT,
        libc::EPROTONOSUPPORT => WSAEPROTONOSUPPORT,
        libc::ESOCKTNOSUPPORT => WSAESOCKTNOSUPPORT,
        libc::EOPNOTSUPP => WSAEOPNOTSUPP,
        libc::EPFNOSUPPORT => WSAEPFNOSUPPORT,
        libc::EAFNOSUPPORT => WSAEAFNOSUPPORT,
        libc::EADDRINUSE => WSAEADDRINUSE,
        libc::EADDRNOTAVAIL => WSAEADDRNOTAVAIL,
        libc::ENETDOWN => WSAENETDOWN,
        libc::ENETUNREACH => WSAENETUNREACH,
        libc::ENETRESET => WSAENETRESET,
        libc::ECONNABORTED => WSAECONNABORTED,
        libc::ECONNRESET => WSAECONNRESET,
        libc::ENOBUFS | libc::ENOMEM => WSAENOBUFS,
        libc::EISCONN => WSAEISCONN,
        libc::ENOTCONN => WSAENOTCONN,
        libc::ESHUTDOWN | libc::EPIPE => WSAESHUTDOWN,
        libc::ETOOMANYREFS => WSAETOOMANYREFS,
        libc::ETIMEDOUT => WSAETIMEDOUT,
        libc::ECONNREFUSED => WSAECONNREFUSED,
        libc::ELOOP => WSAELOOP,
        libc::ENAMETOOLONG => WSAENAMETOOLONG,
        libc::EHOSTDOWN => WSAEHOSTDOWN,
        libc::EHOSTUNREACH => WSAEHOSTUNREACH,
        libc::ECANCELED => WSA_OPERATION_ABORTED,
        _ => WSAEINVAL,
    }
}

/// A Linux errno as a Win32 error (files and the kernel32 side).
pub(crate) fn errno_to_win32(errno: i32) -> DWORD {
    match errno {
        libc::ENOENT => ERROR_FILE_NOT_FOUND,
        libc::ENOTDIR => ERROR_PATH_NOT_FOUND,
        libc::EMFILE | libc::ENFILE => ERROR_TOO_MANY_OPEN_FILES,
        libc::EACCES | libc::EPERM | libc::EISDIR => ERROR_ACCESS_DENIED,
        libc::EBADF => ERROR_INVALID_HANDLE,
        libc::ENOMEM => ERROR_NOT_ENOUGH_MEMORY,
        libc::EEXIST => ERROR_FILE_EXISTS,
        libc::EINVAL => ERROR_INVALID_PARAMETER,
        libc::ENOSPC | libc::EDQUOT => ERROR_DISK_FULL,
        libc::EROFS => ERROR_WRITE_PROTECT,
        libc::ENAMETOOLONG => ERROR_FILENAME_EXCED_RANGE,
        libc::EPIPE => ERROR_BROKEN_PIPE,
        libc::EIO => ERROR_IO_DEVICE,
        libc::ECANCELED => ERROR_OPERATION_ABORTED,
        libc::ETXTBSY | libc::EBUSY => ERROR_SHARING_VIOLATION,
        libc::EOPNOTSUPP => ERROR_NOT_SUPPORTED,
        _ => ERROR_GEN_FAILURE,
    }
}

/// The errno of an `io::Error` (EINVAL if it has none).
pub(crate) fn errno_of(e: &io::Error) -> i32 {
    if let Some(n) = e.raw_os_error() {
        return n;
    }
    match e.kind() {
        io::ErrorKind::TimedOut => libc::ETIMEDOUT,
        io::ErrorKind::BrokenPipe => libc::EPIPE,
        io::ErrorKind::NotFound => libc::ENOENT,
        io::ErrorKind::ConnectionRefused => libc::ECONNREFUSED,
        io::ErrorKind::ConnectionReset => libc::ECONNRESET,
        io::ErrorKind::OutOfMemory => libc::ENOMEM,
        // The op layer reports invalid or closed handles as InvalidInput "(EBADF)".
        io::ErrorKind::InvalidInput if e.to_string().contains("EBADF") => libc::EBADF,
        _ => libc::EINVAL,
    }
}

/// The current thread's errno.
pub(crate) fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL)
}

/// `GetLastError`.
#[no_mangle]
pub extern "C" fn GetLastError() -> DWORD {
    crate::error::boundary(ERROR_INTERNAL_ERROR, crate::error::last_error)
}

/// `SetLastError`.
#[no_mangle]
pub extern "C" fn SetLastError(error: DWORD) {
    crate::error::boundary((), || set_last_error(error))
}
