//! `CreateNamedPipeA/W`: not provided — Linux has no Windows named-pipe
//! namespace (`\\.\pipe\…`) to create one in, so both fail with
//! `ERROR_NOT_SUPPORTED` (a program that falls back to sockets, or reports
//! the error, keeps working; Asio's `connect_pipe` reports it).

use std::ffi::{c_char, c_void};

use crate::error::{boundary, fail};
use crate::types::*;

/// Defines `CreateNamedPipeA` and `CreateNamedPipeW`, which differ only in
/// the name's type: `INVALID_HANDLE_VALUE` with `ERROR_NOT_SUPPORTED`.
macro_rules! not_supported {
    ($export:ident, $name_ty:ty) => {
        #[doc = concat!("`", stringify!($export), "`:")]
        /// `INVALID_HANDLE_VALUE` with `ERROR_NOT_SUPPORTED`.
        #[no_mangle]
        pub extern "C" fn $export(
            _name: $name_ty,
            _open_mode: DWORD,
            _pipe_mode: DWORD,
            _max_instances: DWORD,
            _out_size: DWORD,
            _in_size: DWORD,
            _timeout: DWORD,
            _security: *mut c_void,
        ) -> HANDLE {
            boundary(INVALID_HANDLE_VALUE as HANDLE, || {
                fail(ERROR_NOT_SUPPORTED, INVALID_HANDLE_VALUE as HANDLE)
            })
        }
    };
}

not_supported!(CreateNamedPipeA, *const c_char);
not_supported!(CreateNamedPipeW, *const u32);
