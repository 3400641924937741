//! `CreateFileA/W`: access, disposition and flags to `open(2)`; overlapped
//! files go to the engine, the others are synchronous handles.

use std::ffi::{c_char, c_void, CStr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::{Conn, IoObj, ObjKind};
use crate::error::{boundary, errno, errno_to_win32, fail, set_last_error};
use crate::handles::{self, Object};
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
        // O_DIRECT where the file system has it, else buffered.
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
        match handles::register(owned, ObjKind::File, true) {
            Ok(h) => h,
            Err(e) => return fail(errno_to_win32(e), invalid),
        }
    } else {
        let conn = Conn {
            fd,
            home: None,
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

/// The path a narrow name names: its bytes as they are (the locale's, i.e.
/// UTF-8 on Linux).
///
/// # Safety
/// `name` must be NUL-terminated.
unsafe fn narrow_path(name: *const c_char) -> Result<PathBuf, DWORD> {
    // SAFETY: NUL-terminated (caller contract).
    let bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

/// The path a wide (UTF-32) name names; `ERROR_INVALID_PARAMETER` for a unit
/// that is no Unicode scalar value.
///
/// # Safety
/// `name` must be NUL-terminated.
unsafe fn wide_path(name: *const u32) -> Result<PathBuf, DWORD> {
    let mut s = String::new();
    for i in 0.. {
        // SAFETY: NUL-terminated (caller contract); we stop at the NUL.
        let c = unsafe { *name.add(i) };
        if c == 0 {
            break;
        }
        s.push(char::from_u32(c).ok_or(ERROR_INVALID_PARAMETER)?);
    }
    Ok(PathBuf::from(s))
}

/// Defines `CreateFileA` and `CreateFileW`, which differ only in how the
/// name becomes a path (`$path_of`).
macro_rules! create_file_export {
    ($(#[$attr:meta])* fn $export:ident(name: $name_ty:ty) via $path_of:ident) => {
        $(#[$attr])*
        #[no_mangle]
        pub unsafe extern "C" fn $export(
            name: $name_ty,
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
                // SAFETY: checked non-NULL; NUL-terminated (caller contract).
                match unsafe { $path_of(name) } {
                    Ok(path) => create_file(path, access, disposition, attrs),
                    Err(e) => fail(e, INVALID_HANDLE_VALUE as HANDLE),
                }
            })
        }
    };
}

create_file_export! {
    /// `CreateFileA` (the path in the locale's bytes, i.e. UTF-8 on Linux).
    ///
    /// # Safety
    /// `name` must be NULL or NUL-terminated.
    fn CreateFileA(name: *const c_char) via narrow_path
}

create_file_export! {
    /// `CreateFileW`. `WCHAR` is `wchar_t` here (32-bit on Linux, so `L"..."`
    /// literals work): the name is UTF-32.
    ///
    /// # Safety
    /// `name` must be NULL or NUL-terminated.
    fn CreateFileW(name: *const u32) via wide_path
}
