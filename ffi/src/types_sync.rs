//! Win32 types and constants of the slim synchronisation objects, one-time
//! initialisation, SLists, semaphores and mutexes, thread- and fiber-local
//! storage, file information, virtual memory, `FormatMessage` and the thread
//! pool's callback environment, with their
//! Windows x64 sizes and values.
//!
//! Self-contained beside `types.rs` (only `core` and the base types there), so
//! the layout test (`ffi/tests/layout.rs`) includes it with `#[path]` and
//! checks every structure and constant below against `include/win32/`.
#![allow(
    non_camel_case_types,
    non_snake_case,
    dead_code,
    clippy::upper_case_acronyms
)]

use core::ffi::c_void;

use crate::types::{BOOL, DWORD, LONG, UINT, ULONG};

/// `SRWLOCK` (`RTL_SRWLOCK`): one pointer-sized word in the program's memory;
/// all zero (`SRWLOCK_INIT`) is an unlocked lock.
#[repr(C)]
pub struct SRWLOCK {
    pub Ptr: *mut c_void,
}

/// `CONDITION_VARIABLE` (`RTL_CONDITION_VARIABLE`): one pointer-sized word;
/// all zero is `CONDITION_VARIABLE_INIT`.
#[repr(C)]
pub struct CONDITION_VARIABLE {
    pub Ptr: *mut c_void,
}

/// `INIT_ONCE` (`RTL_RUN_ONCE`): one pointer-sized word; all zero is
/// `INIT_ONCE_STATIC_INIT`.
#[repr(C)]
pub struct INIT_ONCE {
    pub Ptr: *mut c_void,
}

/// `SLIST_ENTRY`: 16 bytes, 16-byte aligned (Windows x64).
#[repr(C, align(16))]
pub struct SLIST_ENTRY {
    pub Next: *mut SLIST_ENTRY,
}

/// `SLIST_HEADER` (Windows x64): 16 bytes, 16-byte aligned. `Alignment` holds
/// the depth (bits 0-15) and a sequence number (bits 16-63); `Region` the
/// first entry.
#[repr(C, align(16))]
pub struct SLIST_HEADER {
    pub Alignment: u64,
    pub Region: u64,
}

/// `FILETIME`: 100-ns intervals since 1601-01-01 UTC, in two halves.
#[repr(C)]
pub struct FILETIME {
    pub dwLowDateTime: DWORD,
    pub dwHighDateTime: DWORD,
}

/// `ULARGE_INTEGER` (a union of `QuadPart` with `LowPart`/`HighPart`).
pub type ULARGE_INTEGER = u64;

/// `PFLS_CALLBACK_FUNCTION`.
pub type FlsCallback = unsafe extern "C" fn(*mut c_void);

/// `PINIT_ONCE_FN`.
pub type InitOnceFn = unsafe extern "C" fn(*mut INIT_ONCE, *mut c_void, *mut *mut c_void) -> BOOL;

/// Declares constants and collects them in [`ALL_CONSTANTS`] for the layout test.
macro_rules! constants {
    ($($(#[$m:meta])* $name:ident : $ty:ty = $val:expr;)*) => {
        $($(#[$m])* pub const $name: $ty = $val;)*
        /// Every constant of this module with its value, as the headers must have it.
        pub const ALL_CONSTANTS: &[(&str, i128)] = &[$((stringify!($name), $name as i128)),*];
    };
}

constants! {
    // Errors.
    ERROR_NO_MORE_ITEMS: DWORD = 259;
    ERROR_NOT_OWNER: DWORD = 288;
    ERROR_TOO_MANY_POSTS: DWORD = 298;
    ERROR_MR_MID_NOT_FOUND: DWORD = 317;
    ERROR_INVALID_ADDRESS: DWORD = 487;
    ERROR_INVALID_FLAGS: DWORD = 1004;
    ERROR_TIMEOUT: DWORD = 1460;
    ERROR_RESOURCE_LANG_NOT_FOUND: DWORD = 1815;

    // Condition variables and one-time initialisation.
    CONDITION_VARIABLE_LOCKMODE_SHARED: ULONG = 1;
    INIT_ONCE_CHECK_ONLY: DWORD = 1;
    INIT_ONCE_ASYNC: DWORD = 2;
    INIT_ONCE_INIT_FAILED: DWORD = 4;
    INIT_ONCE_CTX_RESERVED_BITS: DWORD = 2;

    // Semaphores and mutexes.
    CREATE_MUTEX_INITIAL_OWNER: DWORD = 1;
    SYNCHRONIZE: DWORD = 0x0010_0000;
    SEMAPHORE_MODIFY_STATE: DWORD = 0x2;
    SEMAPHORE_ALL_ACCESS: DWORD = 0x001F_0003;
    MUTEX_MODIFY_STATE: DWORD = 0x1;
    MUTEX_ALL_ACCESS: DWORD = 0x001F_0001;

    // Thread- and fiber-local storage.
    TLS_OUT_OF_INDEXES: DWORD = 0xFFFF_FFFF;
    FLS_OUT_OF_INDEXES: DWORD = 0xFFFF_FFFF;
    TLS_MINIMUM_AVAILABLE: DWORD = 64;

    // Files.
    FILE_TYPE_UNKNOWN: DWORD = 0;
    FILE_TYPE_DISK: DWORD = 1;
    FILE_TYPE_CHAR: DWORD = 2;
    FILE_TYPE_PIPE: DWORD = 3;
    FILE_TYPE_REMOTE: DWORD = 0x8000;
    INVALID_FILE_SIZE: DWORD = 0xFFFF_FFFF;

    // Virtual memory.
    MEM_COMMIT: DWORD = 0x1000;
    MEM_RESERVE: DWORD = 0x2000;
    MEM_DECOMMIT: DWORD = 0x4000;
    MEM_RELEASE: DWORD = 0x8000;
    PAGE_NOACCESS: DWORD = 0x01;
    PAGE_READONLY: DWORD = 0x02;
    PAGE_READWRITE: DWORD = 0x04;
    PAGE_EXECUTE: DWORD = 0x10;
    PAGE_EXECUTE_READ: DWORD = 0x20;
    PAGE_EXECUTE_READWRITE: DWORD = 0x40;

    // FormatMessage and local memory.
    FORMAT_MESSAGE_ALLOCATE_BUFFER: DWORD = 0x0100;
    FORMAT_MESSAGE_IGNORE_INSERTS: DWORD = 0x0200;
    FORMAT_MESSAGE_FROM_STRING: DWORD = 0x0400;
    FORMAT_MESSAGE_FROM_HMODULE: DWORD = 0x0800;
    FORMAT_MESSAGE_FROM_SYSTEM: DWORD = 0x1000;
    FORMAT_MESSAGE_ARGUMENT_ARRAY: DWORD = 0x2000;
    FORMAT_MESSAGE_MAX_WIDTH_MASK: DWORD = 0x00FF;
    LANG_NEUTRAL: DWORD = 0x00;
    LANG_ENGLISH: DWORD = 0x09;
    SUBLANG_NEUTRAL: DWORD = 0x00;
    SUBLANG_DEFAULT: DWORD = 0x01;
    SUBLANG_SYS_DEFAULT: DWORD = 0x02;
    SUBLANG_ENGLISH_US: DWORD = 0x01;
    LMEM_FIXED: UINT = 0x0000;
    LMEM_ZEROINIT: UINT = 0x0040;
    LPTR: UINT = 0x0040;

    // MessageBox.
    MB_OK: UINT = 0x0;
    MB_OKCANCEL: UINT = 0x1;
    MB_YESNO: UINT = 0x4;
    MB_ICONERROR: UINT = 0x10;
    MB_ICONWARNING: UINT = 0x30;
    MB_ICONINFORMATION: UINT = 0x40;
    IDOK: LONG = 1;
    IDCANCEL: LONG = 2;
    IDYES: LONG = 6;
    IDNO: LONG = 7;
}

/// `TP_CALLBACK_ENVIRON_V3`, as the Windows SDK lays it out (x64: 72 bytes).
#[repr(C)]
pub struct TP_CALLBACK_ENVIRON_V3 {
    pub Version: DWORD,
    pub Pool: *mut c_void,
    pub CleanupGroup: *mut c_void,
    pub CleanupGroupCancelCallback: *mut c_void,
    pub RaceDll: *mut c_void,
    pub ActivationContext: *mut c_void,
    pub FinalizationCallback: *mut c_void,
    /// `u.Flags` in C (bit 0: `LongFunction`, bit 1: `Persistent`).
    pub Flags: DWORD,
    pub CallbackPriority: DWORD,
    pub Size: DWORD,
}
