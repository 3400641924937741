//! `ReadFile`/`WriteFile` (overlapped on the engine, or synchronous on the
//! calling thread; on a socket handle, as `WSARecv`/`WSASend`) and
//! `SetFilePointer(Ex)`.

use std::ffi::c_void;

use crate::engine::{self, CBuf, OpKind};
use crate::error::{boundary, errno, errno_of, errno_to_win32, fail, set_last_error};
use crate::handles::{self};
use crate::types::*;

/// ReadFile / WriteFile.
///
/// # Safety
/// `buf` must be valid for `len` bytes, `done` NULL or valid, and `ov` NULL
/// or an `OVERLAPPED` valid until the operation's completion is published.
unsafe fn rw(
    h: HANDLE,
    write: bool,
    buf: *mut u8,
    len: DWORD,
    done: *mut DWORD,
    ov: *mut OVERLAPPED,
    routine: usize,
) -> BOOL {
    let Some(obj) = handles::io(h as usize) else {
        return fail(ERROR_INVALID_HANDLE, FALSE);
    };
    if !done.is_null() {
        // SAFETY: valid out-pointer (caller contract).
        unsafe { *done = 0 };
    }
    if buf.is_null() && len > 0 {
        return fail(ERROR_NOACCESS, FALSE);
    }
    if !obj.is_socket() {
        // The access the file was opened with (GENERIC_READ / GENERIC_WRITE).
        if let Some(fd) = obj.current() {
            // SAFETY: fcntl(F_GETFL) on an fd; no pointers.
            let mode = unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_ACCMODE;
            let denied = if write {
                mode == libc::O_RDONLY
            } else {
                mode == libc::O_WRONLY
            };
            if denied {
                return fail(ERROR_ACCESS_DENIED, FALSE);
            }
        }
    }
    if obj.is_socket() {
        let wb = WSABUF { len, buf };
        let mut flags: DWORD = 0;
        // SAFETY: forwarded caller contract.
        let r = unsafe {
            if write {
                crate::winsock::overlapped::WSASend(
                    h as SOCKET,
                    &wb,
                    1,
                    done,
                    0,
                    ov,
                    std::ptr::null(),
                )
            } else {
                crate::winsock::overlapped::WSARecv(
                    h as SOCKET,
                    &wb,
                    1,
                    done,
                    &mut flags,
                    ov,
                    std::ptr::null(),
                )
            }
        };
        return if r == 0 { TRUE } else { FALSE };
    }
    if !obj.is_overlapped() {
        let Some(fd) = obj.current() else {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        };
        // SAFETY: a non-NULL `ov` is valid (caller contract).
        let offset = (!ov.is_null()).then(|| unsafe { engine::file_offset(ov) });
        // SAFETY: `buf` is valid for `len` bytes (caller contract).
        return match unsafe { engine::sync_rw(fd, write, buf, len as usize, offset) } {
            Ok(n) => {
                if let Some(o) = offset {
                    // A synchronous handle's file pointer moves past the
                    // bytes transferred at the OVERLAPPED's offset too.
                    // SAFETY: lseek on an fd; no pointers.
                    unsafe { libc::lseek(fd, (o + n as u64) as libc::off_t, libc::SEEK_SET) };
                }
                if !done.is_null() {
                    // SAFETY: valid out-pointer (caller contract).
                    unsafe { *done = n as DWORD };
                }
                if !ov.is_null() {
                    let status = if n == 0 && len > 0 && !write {
                        STATUS_END_OF_FILE
                    } else {
                        STATUS_SUCCESS
                    };
                    // SAFETY: ov is valid (caller contract).
                    unsafe {
                        (*ov).InternalHigh = n;
                        engine::store_status(ov, status);
                    }
                    if status == STATUS_END_OF_FILE {
                        return fail(ERROR_HANDLE_EOF, FALSE);
                    }
                }
                TRUE
            }
            Err(e) => fail(errno_to_win32(e), FALSE),
        };
    }
    if ov.is_null() {
        return fail(ERROR_INVALID_PARAMETER, FALSE);
    }
    let (Some(fd), Some(home)) = (obj.current(), obj.io_home()) else {
        return fail(ERROR_INVALID_HANDLE, FALSE);
    };
    // SAFETY: `ov` is non-NULL and valid (caller contract).
    let mut offset = unsafe { engine::file_offset(ov) };
    if write && offset == u64::MAX {
        // FILE_WRITE_TO_END_OF_FILE.
        // SAFETY: fstat into a zeroed stat buffer.
        let size = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) == 0 {
                st.st_size as u64
            } else {
                0
            }
        };
        offset = size;
    }
    // SAFETY: ov is valid until completion (caller contract).
    let p = match unsafe { handles::prepare(&obj, ov) } {
        // ReadFileEx / WriteFileEx: the routine is queued to this thread.
        Ok(p) if routine != 0 => p.with_routine(crate::thread::apc::routine_target(routine, false)),
        Ok(p) => p,
        Err(e) => return fail(e, FALSE),
    };
    // SAFETY: as above; ReadFile/WriteFile clear InternalHigh at issue.
    unsafe { (*ov).InternalHigh = 0 };
    let kind = if write {
        OpKind::Write { offset }
    } else {
        OpKind::Read {
            want: len as usize,
            offset,
        }
    };
    let mut ctx = p.into_ctx(obj.clone(), kind);
    ctx.want = len as usize;
    // SAFETY: the program keeps the buffer valid until completion (Win32 contract).
    let cbuf = unsafe { CBuf::new(buf, len as usize) };
    // SAFETY: the OVERLAPPED and the buffer stay valid until completion
    // (caller contract).
    let r = unsafe { obj.launch(&home, ctx, vec![cbuf]) };
    match r {
        Ok(()) => fail(ERROR_IO_PENDING, FALSE),
        Err((e, ctx)) => {
            let code = errno_to_win32(errno_of(&e));
            ctx.fail_sync(crate::error::status_carrying(code));
            fail(code, FALSE)
        }
    }
}

/// `ReadFile`.
///
/// # Safety
/// `buf` valid for `len` bytes and `ov` valid, until completion.
#[no_mangle]
pub unsafe extern "C" fn ReadFile(
    h: HANDLE,
    buf: *mut c_void,
    len: DWORD,
    read: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    // SAFETY: the caller's pointers, as `rw` requires.
    boundary(FALSE, || unsafe {
        rw(h, false, buf.cast(), len, read, ov, 0)
    })
}

/// `WriteFile`.
///
/// # Safety
/// `buf` valid for `len` bytes and `ov` valid, until completion.
#[no_mangle]
pub unsafe extern "C" fn WriteFile(
    h: HANDLE,
    buf: *const c_void,
    len: DWORD,
    written: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    // SAFETY: the caller's pointers, as `rw` requires.
    boundary(FALSE, || unsafe {
        rw(h, true, buf as *mut u8, len, written, ov, 0)
    })
}

/// `LPOVERLAPPED_COMPLETION_ROUTINE`.
type FileRoutine = unsafe extern "C" fn(DWORD, DWORD, *mut OVERLAPPED);

/// `ReadFileEx`: an overlapped read whose `routine` runs as an APC on this
/// thread at its next alertable wait; `hEvent` is the program's. `FALSE`
/// with `ERROR_INVALID_PARAMETER` without a routine or an `OVERLAPPED`.
///
/// # Safety
/// `buf` valid for `len` bytes and `ov` valid, until the routine runs.
#[no_mangle]
pub unsafe extern "C" fn ReadFileEx(
    h: HANDLE,
    buf: *mut c_void,
    len: DWORD,
    ov: *mut OVERLAPPED,
    routine: Option<FileRoutine>,
) -> BOOL {
    // SAFETY: the caller's pointers, as `rw_ex` requires.
    unsafe { rw_ex(h, false, buf.cast(), len, ov, routine) }
}

/// `WriteFileEx`: as [`ReadFileEx`], writing.
///
/// # Safety
/// `buf` valid for `len` bytes and `ov` valid, until the routine runs.
#[no_mangle]
pub unsafe extern "C" fn WriteFileEx(
    h: HANDLE,
    buf: *const c_void,
    len: DWORD,
    ov: *mut OVERLAPPED,
    routine: Option<FileRoutine>,
) -> BOOL {
    // SAFETY: the caller's pointers, as `rw_ex` requires.
    unsafe { rw_ex(h, true, buf as *mut u8, len, ov, routine) }
}

/// ReadFileEx / WriteFileEx: a routine and an `OVERLAPPED` are required.
///
/// # Safety
/// As `rw`: `buf` valid for `len` bytes and `ov` valid, until the routine runs.
unsafe fn rw_ex(
    h: HANDLE,
    write: bool,
    buf: *mut u8,
    len: DWORD,
    ov: *mut OVERLAPPED,
    routine: Option<FileRoutine>,
) -> BOOL {
    boundary(FALSE, || {
        let (Some(r), false) = (routine, ov.is_null()) else {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        };
        // SAFETY: the caller's pointers, as `rw` requires.
        rx_result(unsafe { rw(h, write, buf, len, std::ptr::null_mut(), ov, r as usize) })
    })
}

/// ReadFileEx/WriteFileEx succeed (`TRUE`, last error 0) when the operation
/// went pending: the routine reports its end.
fn rx_result(r: BOOL) -> BOOL {
    if r == FALSE && crate::error::last_error() == ERROR_IO_PENDING {
        crate::error::set_last_error(0);
        return TRUE;
    }
    r
}

/// Moves the file pointer of a synchronous file handle; the new position.
fn seek(h: HANDLE, dist: i64, method: DWORD) -> Result<u64, DWORD> {
    let whence = match method {
        FILE_BEGIN => libc::SEEK_SET,
        FILE_CURRENT => libc::SEEK_CUR,
        FILE_END => libc::SEEK_END,
        _ => return Err(ERROR_INVALID_PARAMETER),
    };
    let obj = handles::io(h as usize).ok_or(ERROR_INVALID_HANDLE)?;
    if obj.is_socket() {
        return Err(ERROR_INVALID_HANDLE);
    }
    let fd = obj.current().ok_or(ERROR_INVALID_HANDLE)?;
    // SAFETY: lseek on an fd; no pointers.
    let base = unsafe { libc::lseek(fd, 0, whence) };
    if base < 0 {
        return Err(errno_to_win32(errno()));
    }
    let target = (base as i64)
        .checked_add(dist)
        .ok_or(ERROR_INVALID_PARAMETER)?;
    if target < 0 {
        // The position does not move (Windows: ERROR_NEGATIVE_SEEK).
        // SAFETY: as above.
        unsafe { libc::lseek(fd, base, libc::SEEK_SET) };
        return Err(ERROR_NEGATIVE_SEEK);
    }
    // SAFETY: as above.
    let n = unsafe { libc::lseek(fd, target as libc::off_t, libc::SEEK_SET) };
    if n < 0 {
        return Err(errno_to_win32(errno()));
    }
    Ok(n as u64)
}

/// `SetFilePointer`: the low 32 bits of the new position (and the high ones
/// in `*high` if given), or `INVALID_SET_FILE_POINTER` with the error. A
/// success whose low part is `0xFFFFFFFF` sets the last error to 0.
///
/// # Safety
/// `high` must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn SetFilePointer(
    h: HANDLE,
    dist: LONG,
    high: *mut LONG,
    method: DWORD,
) -> DWORD {
    boundary(INVALID_SET_FILE_POINTER, || {
        let d = if high.is_null() {
            i64::from(dist)
        } else {
            // SAFETY: valid (caller contract).
            (i64::from(unsafe { *high }) << 32) | i64::from(dist as u32)
        };
        match seek(h, d, method) {
            Ok(pos) => {
                if !high.is_null() {
                    // SAFETY: valid (caller contract).
                    unsafe { *high = (pos >> 32) as LONG };
                }
                if pos as u32 == INVALID_SET_FILE_POINTER {
                    set_last_error(ERROR_SUCCESS);
                }
                pos as u32
            }
            Err(e) => fail(e, INVALID_SET_FILE_POINTER),
        }
    })
}

/// `SetFilePointerEx` (`LARGE_INTEGER` by value is a 64-bit integer).
///
/// # Safety
/// `new_pos` must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn SetFilePointerEx(
    h: HANDLE,
    dist: LARGE_INTEGER,
    new_pos: *mut LARGE_INTEGER,
    method: DWORD,
) -> BOOL {
    boundary(FALSE, || match seek(h, dist, method) {
        Ok(pos) => {
            if !new_pos.is_null() {
                // SAFETY: valid (caller contract).
                unsafe { *new_pos = pos as i64 };
            }
            TRUE
        }
        Err(e) => fail(e, FALSE),
    })
}
