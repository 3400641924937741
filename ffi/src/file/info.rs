//! File information and maintenance: `GetFileSize`, `GetFileSizeEx`,
//! `SetEndOfFile`, `FlushFileBuffers`, `GetFileType`.
//!
//! They work on file handles, synchronous or overlapped (and `GetFileType`
//! on sockets and standard handles too), through the handle's fd. The file
//! pointer of a synchronous handle is its fd's offset (see `SetFilePointer`),
//! which is where `SetEndOfFile` cuts or extends the file. `FlushFileBuffers`
//! (`fsync`) runs as a blocking section of the calling thread's completion
//! port. As on Windows, `SetEndOfFile` and `FlushFileBuffers` need a handle
//! opened for writing (`ERROR_ACCESS_DENIED` otherwise).

use std::os::fd::RawFd;

use crate::error::{boundary, errno, errno_to_win32, fail, set_last_error};
use crate::handles::{self, Object};
use crate::types::*;
use crate::types_sync::*;

/// The fd of a live file (not socket) handle.
fn file_fd(h: HANDLE) -> Result<RawFd, DWORD> {
    let obj = handles::io(h as usize).ok_or(ERROR_INVALID_HANDLE)?;
    if obj.is_socket() {
        return Err(ERROR_INVALID_HANDLE);
    }
    obj.current().ok_or(ERROR_INVALID_HANDLE)
}

fn stat(fd: RawFd) -> Result<libc::stat, DWORD> {
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into the local `st` only.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(errno_to_win32(errno()));
    }
    Ok(st)
}

fn size_of(h: HANDLE) -> Result<u64, DWORD> {
    let st = stat(file_fd(h)?)?;
    Ok(st.st_size as u64)
}

/// Fails unless the fd was opened for writing.
fn writable(fd: RawFd) -> Result<(), DWORD> {
    // SAFETY: F_GETFL only reads the fd's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(errno_to_win32(errno()));
    }
    if flags & libc::O_ACCMODE == libc::O_RDONLY {
        return Err(ERROR_ACCESS_DENIED);
    }
    Ok(())
}

/// `GetFileSize`: the low 32 bits of the size (the high ones in `*high`);
/// `INVALID_FILE_SIZE` + the error on failure. A size whose low part is
/// `0xFFFFFFFF` sets the last error to 0, so the two can be told apart.
///
/// # Safety
/// `high` must be NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn GetFileSize(h: HANDLE, high: *mut DWORD) -> DWORD {
    boundary(INVALID_FILE_SIZE, || match size_of(h) {
        Ok(size) => {
            if !high.is_null() {
                // SAFETY: valid out-pointer (caller contract).
                unsafe { high.write((size >> 32) as DWORD) };
            }
            let low = size as DWORD;
            if low == INVALID_FILE_SIZE {
                set_last_error(NO_ERROR);
            }
            low
        }
        Err(e) => fail(e, INVALID_FILE_SIZE),
    })
}

/// `GetFileSizeEx`: the size as a `LARGE_INTEGER`.
///
/// # Safety
/// `size` must be NULL or valid for a write (NULL fails with `ERROR_NOACCESS`).
#[no_mangle]
pub unsafe extern "C" fn GetFileSizeEx(h: HANDLE, size: *mut LARGE_INTEGER) -> BOOL {
    boundary(FALSE, || match size_of(h) {
        Ok(n) => {
            if size.is_null() {
                return fail(ERROR_NOACCESS, FALSE);
            }
            // SAFETY: valid out-pointer (checked non-NULL; caller contract).
            unsafe { size.write(n as LARGE_INTEGER) };
            TRUE
        }
        Err(e) => fail(e, FALSE),
    })
}

/// `SetEndOfFile`: the file ends at the handle's file pointer (shorter, or
/// longer with zeros).
#[no_mangle]
pub extern "C" fn SetEndOfFile(h: HANDLE) -> BOOL {
    boundary(FALSE, || {
        let run = || -> Result<(), DWORD> {
            let fd = file_fd(h)?;
            writable(fd)?;
            // SAFETY: lseek and ftruncate on an fd; no pointers.
            let pos = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
            // SAFETY: as above.
            if pos < 0 || unsafe { libc::ftruncate(fd, pos) } < 0 {
                return Err(errno_to_win32(errno()));
            }
            Ok(())
        };
        match run() {
            Ok(()) => TRUE,
            Err(e) => fail(e, FALSE),
        }
    })
}

/// `FlushFileBuffers`: `fsync`, as a blocking section.
#[no_mangle]
pub extern "C" fn FlushFileBuffers(h: HANDLE) -> BOOL {
    boundary(FALSE, || {
        let run = || -> Result<(), DWORD> {
            let fd = file_fd(h)?;
            writable(fd)?;
            // SAFETY: fsync on an fd; no pointers.
            let rc = crate::engine::cport::blocking(|| unsafe { libc::fsync(fd) });
            match rc {
                0 => Ok(()),
                // A pipe or terminal has nothing to flush to a disk.
                _ if errno() == libc::EINVAL => Ok(()),
                _ => Err(errno_to_win32(errno())),
            }
        };
        match run() {
            Ok(()) => TRUE,
            Err(e) => fail(e, FALSE),
        }
    })
}

/// `GetFileType`: `FILE_TYPE_DISK` for files and directories,
/// `FILE_TYPE_CHAR` for terminals and character devices, `FILE_TYPE_PIPE`
/// for pipes and sockets (as on Windows); `FILE_TYPE_UNKNOWN` +
/// `ERROR_INVALID_HANDLE` for a handle that is not a file, pipe or socket.
#[no_mangle]
pub extern "C" fn GetFileType(h: HANDLE) -> DWORD {
    boundary(FILE_TYPE_UNKNOWN, || {
        let obj = match handles::get(h as usize) {
            Some(Object::Io(o)) => o,
            _ => return fail(ERROR_INVALID_HANDLE, FILE_TYPE_UNKNOWN),
        };
        if obj.is_socket() {
            return FILE_TYPE_PIPE;
        }
        let Some(fd) = obj.current() else {
            return fail(ERROR_INVALID_HANDLE, FILE_TYPE_UNKNOWN);
        };
        match stat(fd) {
            Ok(st) => match st.st_mode & libc::S_IFMT {
                libc::S_IFREG | libc::S_IFDIR | libc::S_IFBLK => FILE_TYPE_DISK,
                libc::S_IFCHR => FILE_TYPE_CHAR,
                libc::S_IFIFO | libc::S_IFSOCK => FILE_TYPE_PIPE,
                _ => fail(NO_ERROR, FILE_TYPE_UNKNOWN),
            },
            Err(e) => fail(e, FILE_TYPE_UNKNOWN),
        }
    })
}
