//! Files and the calls common to every handle: `CreateFileA/W`, `ReadFile`,
//! `WriteFile`, `GetOverlappedResult`, `CancelIo(Ex)`,
//! `SetFileCompletionNotificationModes`, `CloseHandle` (docs/semantics.md).
//!
//! A file opened with `FILE_FLAG_OVERLAPPED` lives on the engine like a
//! socket: `ReadFile`/`WriteFile` take the position from `Offset`/`OffsetHigh`,
//! return `FALSE` + `ERROR_IO_PENDING` and complete through the packet (a read
//! at or past the end: `ERROR_HANDLE_EOF`, through the packet). A file opened
//! without it is synchronous: its calls run at once on the calling thread and
//! it cannot be associated with a port (87).

use std::ffi::{c_char, c_void, CStr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{
    boundary, errno, errno_of, errno_to_win32, fail, set_last_error, status_to_win32,
};
use crate::handles::{self, Object};
use crate::io::{self, CBuf, Conn, IoObj, ObjKind, OpKind};
use crate::types::*;

fn open_flags(access: DWORD, disposition: DWORD) -> Result<i32, DWORD> {
    let read = access & (GENERIC_READ | GENERIC_ALL | 0x1) != 0;
    let write = access & (GENERIC_WRITE | GENERIC_ALL | 0x2 | 0x4) != 0;
    let mut flags = match (read, write) {
        (_, false) => libc::O_RDONLY,
        (false, true) => libc::O_WRONLY,
        (true, true) => libc::O_RDWR,
    };
    flags |= match disposition {
        CREATE_NEW => libc::O_CREAT | libc::O_EXCL,
        CREATE_ALWAYS => libc::O_CREAT | libc::O_TRUNC,
        OPEN_EXISTING => 0,
        OPEN_ALWAYS => libc::O_CREAT,
        TRUNCATE_EXISTING if write => libc::O_TRUNC,
        _ => return Err(ERROR_INVALID_PARAMETER),
    };
    Ok(flags | libc::O_CLOEXEC)
}

fn create_file(path: PathBuf, access: DWORD, disposition: DWORD, mut attrs: DWORD) -> HANDLE {
    let path = crate::comm::device_path(path);
    let invalid = INVALID_HANDLE_VALUE as HANDLE;
    let mut flags = match open_flags(access, disposition) {
        Ok(f) => f,
        Err(e) => return fail(e, invalid),
    };
    if attrs & FILE_FLAG_WRITE_THROUGH != 0 {
        flags |= libc::O_DSYNC;
    }
    let existed = path.exists();
    if path.is_dir() {
        // A directory opens only with FILE_FLAG_BACKUP_SEMANTICS (then as a
        // synchronous, read-only handle: there is no directory I/O to overlap).
        if attrs & FILE_FLAG_BACKUP_SEMANTICS == 0 {
            return fail(ERROR_ACCESS_DENIED, invalid);
        }
        match disposition {
            OPEN_EXISTING | OPEN_ALWAYS => {}
            CREATE_NEW => return fail(ERROR_FILE_EXISTS, invalid),
            _ => return fail(ERROR_ACCESS_DENIED, invalid),
        }
        flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        attrs &= !(FILE_FLAG_OVERLAPPED | FILE_FLAG_NO_BUFFERING | FILE_FLAG_DELETE_ON_CLOSE);
    }
    let Ok(cpath) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return fail(ERROR_PATH_NOT_FOUND, invalid);
    };
    let open = |flags: i32| {
        // SAFETY: a NUL-terminated path; no other pointers.
        unsafe { libc::open(cpath.as_ptr(), flags, 0o666 as libc::c_uint) }
    };
    let mut fd = if attrs & FILE_FLAG_NO_BUFFERING != 0 {
        // O_DIRECT where the file system has it, else buffered (docs/semantics.md).
        match open(flags | libc::O_DIRECT) {
            -1 if errno() == libc::EINVAL => -1,
            fd => fd,
        }
    } else {
        -1
    };
    if fd < 0 {
        fd = open(flags);
    }
    if fd < 0 {
        let e = errno();
        let code = if e == libc::ENOENT
            && path
                .parent()
                .is_some_and(|p| !p.as_os_str().is_empty() && !p.exists())
        {
            ERROR_PATH_NOT_FOUND
        } else {
            errno_to_win32(e)
        };
        return fail(code, invalid);
    }
    // SAFETY: open returned a new fd that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let overlapped = attrs & FILE_FLAG_OVERLAPPED != 0;
    let value = if overlapped {
        match io::register(owned, ObjKind::File, true) {
            Ok(h) => h,
            Err(e) => return fail(errno_to_win32(e), invalid),
        }
    } else {
        let conn = Conn {
            fd,
            eh: None,
            own: Some(owned),
            closed: false,
        };
        let obj = Arc::new(IoObj::new(ObjKind::File, false, conn));
        match handles::insert(Object::Io(obj)) {
            Some(h) => h,
            None => return fail(ERROR_TOO_MANY_OPEN_FILES, invalid),
        }
    };
    if attrs & FILE_FLAG_DELETE_ON_CLOSE != 0 {
        if let Some(o) = handles::io(value) {
            *o.delete_on_close.lock() = Some(path);
        }
    }
    // CREATE_ALWAYS / OPEN_ALWAYS say whether the file existed; other
    // successful opens leave the last error alone.
    if disposition == CREATE_ALWAYS || disposition == OPEN_ALWAYS {
        set_last_error(if existed {
            ERROR_ALREADY_EXISTS
        } else {
            ERROR_SUCCESS
        });
    }
    value as HANDLE
}

/// `CreateFileA` (the path in the locale's bytes, i.e. UTF-8 on Linux).
///
/// # Safety
/// `name` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn CreateFileA(
    name: *const c_char,
    access: DWORD,
    _share: DWORD,
    _security: *mut c_void,
    disposition: DWORD,
    attrs: DWORD,
    _template: HANDLE,
) -> HANDLE {
    boundary(INVALID_HANDLE_VALUE as HANDLE, || {
        if name.is_null() {
            return fail(ERROR_PATH_NOT_FOUND, INVALID_HANDLE_VALUE as HANDLE);
        }
        // SAFETY: NUL-terminated (caller contract).
        let bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(bytes));
        create_file(path, access, disposition, attrs)
    })
}

/// `CreateFileW`. `WCHAR` is `wchar_t` here (32-bit on Linux, so `L"..."`
/// literals work): the name is UTF-32.
///
/// # Safety
/// `name` must be NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn CreateFileW(
    name: *const u32,
    access: DWORD,
    _share: DWORD,
    _security: *mut c_void,
    disposition: DWORD,
    attrs: DWORD,
    _template: HANDLE,
) -> HANDLE {
    boundary(INVALID_HANDLE_VALUE as HANDLE, || {
        if name.is_null() {
            return fail(ERROR_PATH_NOT_FOUND, INVALID_HANDLE_VALUE as HANDLE);
        }
        let mut s = String::new();
        for i in 0.. {
            // SAFETY: NUL-terminated (caller contract); we stop at the NUL.
            let c = unsafe { *name.add(i) };
            if c == 0 {
                break;
            }
            match char::from_u32(c) {
                Some(ch) => s.push(ch),
                None => return fail(ERROR_INVALID_PARAMETER, INVALID_HANDLE_VALUE as HANDLE),
            }
        }
        create_file(PathBuf::from(s), access, disposition, attrs)
    })
}

pub(crate) fn file_offset(ov: *const OVERLAPPED) -> u64 {
    // SAFETY: `ov` is valid (caller contract).
    unsafe { u64::from((*ov).Offset) | (u64::from((*ov).OffsetHigh) << 32) }
}

/// A synchronous read or write on the calling thread.
pub(crate) fn sync_rw(
    fd: RawFd,
    write: bool,
    buf: *mut u8,
    len: usize,
    offset: Option<u64>,
) -> Result<usize, i32> {
    crate::port::blocking(|| {
        let mut done = 0;
        loop {
            // SAFETY: the program's buffer is valid for `len` bytes.
            let n = unsafe {
                let p = buf.add(done);
                let left = len - done;
                match (write, offset) {
                    (false, Some(o)) => {
                        libc::pread(fd, p.cast(), left, (o + done as u64) as libc::off_t)
                    }
                    (false, None) => libc::read(fd, p.cast(), left),
                    (true, Some(o)) => {
                        libc::pwrite(fd, p.cast(), left, (o + done as u64) as libc::off_t)
                    }
                    (true, None) => libc::write(fd, p.cast(), left),
                }
            };
            if n < 0 {
                match errno() {
                    libc::EINTR => continue,
                    e => return Err(e),
                }
            }
            done += n as usize;
            if !write || n == 0 || done >= len {
                return Ok(done);
            }
        }
    })
}

fn rw(
    h: HANDLE,
    write: bool,
    buf: *mut u8,
    len: DWORD,
    done: *mut DWORD,
    ov: *mut OVERLAPPED,
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
        if let Some((fd, _)) = obj.current() {
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
                crate::sock::WSASend(h as SOCKET, &wb, 1, done, 0, ov, std::ptr::null())
            } else {
                crate::sock::WSARecv(h as SOCKET, &wb, 1, done, &mut flags, ov, std::ptr::null())
            }
        };
        return if r == 0 { TRUE } else { FALSE };
    }
    if !obj.is_overlapped() {
        let Some((fd, _)) = obj.current() else {
            return fail(ERROR_INVALID_HANDLE, FALSE);
        };
        let offset = (!ov.is_null()).then(|| file_offset(ov));
        return match sync_rw(fd, write, buf, len as usize, offset) {
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
                        io::store_status(ov, status);
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
    let Some((fd, Some(eh))) = obj.current() else {
        return fail(ERROR_INVALID_HANDLE, FALSE);
    };
    let mut offset = file_offset(ov);
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
    let p = match unsafe { io::prepare(&obj, ov) } {
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
    let r = obj.launch(eh, ctx, vec![cbuf]);
    match r {
        Ok(()) => fail(ERROR_IO_PENDING, FALSE),
        Err((e, ctx)) => {
            let code = errno_to_win32(errno_of(&e));
            // SAFETY: the OVERLAPPED is valid during this call.
            unsafe {
                io::store_status(
                    ctx.ov as *mut OVERLAPPED,
                    crate::error::status_carrying(code),
                )
            };
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
    boundary(FALSE, || rw(h, false, buf.cast(), len, read, ov))
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
    boundary(FALSE, || rw(h, true, buf as *mut u8, len, written, ov))
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
    let (fd, _) = obj.current().ok_or(ERROR_INVALID_HANDLE)?;
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

/// Reads an operation's result from its OVERLAPPED, waiting if asked:
/// `Err(STATUS_PENDING)` if not done and not waiting, `Err(status)` if it
/// failed; `Err(STATUS_INVALID_HANDLE)` if it would wait, with no event, on
/// a handle `h` that is not live (closed, or never one).
///
/// # Safety
/// `ov` must be valid; `bytes` NULL or valid.
pub(crate) unsafe fn overlapped_result(
    h: usize,
    ov: *mut OVERLAPPED,
    bytes: *mut DWORD,
    wait: bool,
) -> Result<(), DWORD> {
    // SAFETY: ov valid (caller contract).
    let mut status = unsafe { io::load_status(ov) };
    if status == STATUS_PENDING {
        if !wait {
            return Err(STATUS_PENDING);
        }
        // SAFETY: as above.
        let h_event = unsafe { (*ov).hEvent } as usize & !1;
        if h_event == 0 && handles::io(h).is_none() {
            // Windows waits on the handle itself here, and that fails.
            return Err(STATUS_INVALID_HANDLE);
        }
        crate::event::OVERLAPPED.wait_until(None, || {
            // SAFETY: as above.
            let s = unsafe { io::load_status(ov) };
            (s != STATUS_PENDING).then_some(())
        });
        // SAFETY: as above.
        status = unsafe { io::load_status(ov) };
    }
    if !bytes.is_null() {
        // SAFETY: valid pointers; InternalHigh was written before Internal.
        unsafe { *bytes = std::ptr::read_volatile(&raw const (*ov).InternalHigh) as DWORD };
    }
    if nt_success(status) {
        Ok(())
    } else {
        Err(status)
    }
}

/// `GetOverlappedResult`.
///
/// # Safety
/// `ov` valid; `bytes` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn GetOverlappedResult(
    h: HANDLE,
    ov: *mut OVERLAPPED,
    bytes: *mut DWORD,
    wait: BOOL,
) -> BOOL {
    boundary(FALSE, || {
        // The handle is not checked (as on Windows) unless the call has to
        // wait on it: an operation that ended, also by the handle's close
        // (1236 / 995), reports what its OVERLAPPED holds.
        if ov.is_null() {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        // SAFETY: valid pointers (caller contract).
        match unsafe { overlapped_result(h as usize, ov, bytes, wait != FALSE) } {
            Ok(()) => TRUE,
            Err(STATUS_PENDING) => fail(ERROR_IO_INCOMPLETE, FALSE),
            Err(status) => fail(status_to_win32(status), FALSE),
        }
    })
}

/// `CancelIo`: the calling thread's operations on `h`; `TRUE` even if none.
#[no_mangle]
pub extern "C" fn CancelIo(h: HANDLE) -> BOOL {
    boundary(FALSE, || match handles::io(h as usize) {
        Some(o) => {
            o.cancel(None, true);
            TRUE
        }
        None => fail(ERROR_INVALID_HANDLE, FALSE),
    })
}

/// `CancelIoEx`: the operations on `h` with `ov` (all if NULL), any thread;
/// `ERROR_NOT_FOUND` if none is pending.
#[no_mangle]
pub extern "C" fn CancelIoEx(h: HANDLE, ov: *mut OVERLAPPED) -> BOOL {
    boundary(FALSE, || match handles::io(h as usize) {
        Some(o) => {
            let which = (!ov.is_null()).then_some(ov as usize);
            if o.cancel(which, false) > 0 {
                TRUE
            } else {
                fail(ERROR_NOT_FOUND, FALSE)
            }
        }
        None => fail(ERROR_INVALID_HANDLE, FALSE),
    })
}

/// `SetFileCompletionNotificationModes`.
#[no_mangle]
pub extern "C" fn SetFileCompletionNotificationModes(h: HANDLE, flags: u8) -> BOOL {
    boundary(FALSE, || match handles::io(h as usize) {
        Some(o) => {
            if u32::from(flags)
                & !(FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE)
                != 0
            {
                return fail(ERROR_INVALID_PARAMETER, FALSE);
            }
            o.set_modes(flags);
            TRUE
        }
        None => fail(ERROR_INVALID_HANDLE, FALSE),
    })
}

/// `CloseHandle`: ports (waiters wake with 735), sockets (as closesocket),
/// files, events, threads (the thread runs on). A second close, NULL, a
/// foreign value or the process heap (not a kernel handle): 6. The pseudo
/// handles of `GetCurrentProcess` (`-1`, which is also `INVALID_HANDLE_VALUE`)
/// and `GetCurrentThread` (`-2`): `TRUE`, closing them does nothing.
#[no_mangle]
pub extern "C" fn CloseHandle(h: HANDLE) -> BOOL {
    boundary(FALSE, || {
        if h as isize == -1 || h as isize == -2 {
            return TRUE;
        }
        match handles::remove_if(h as usize, |o| !matches!(o, Object::Heap)) {
            Some(Object::Port(p)) => {
                crate::port::close_port(&p);
                TRUE
            }
            Some(Object::Io(o)) => {
                o.close();
                TRUE
            }
            Some(Object::Event(_) | Object::Thread(_)) => TRUE,
            Some(Object::Heap) | None => fail(ERROR_INVALID_HANDLE, FALSE),
        }
    })
}
