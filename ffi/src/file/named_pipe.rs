//! `CreateNamedPipeA/W`: not provided — Linux has no Windows named-pipe
//! namespace (`\\.\pipe\…`) to create one in, so both fail with
//! `ERROR_NOT_SUPPORTED` (a program that falls back to sockets, or reports
//! the error, keeps working; Asio's `connect_pipe` reports it).

use std::ffi::{c_char, c_void};

use crate::error::{boundary, fail};
use crate::types::*;

/// `CreateNamedPipeA`: `INVALID_HANDLE_VALUE` with `ERROR_NOT_SUPPORTED`.
#[no_mangle]
pub extern "C" fn CreateNamedPipeA(
    _name: *const c_char,
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

/// `CreateNamedPipeW`: `INVALID_HANDLE_VALUE` with `ERROR_NOT_SUPPORTED`.
#[no_mangle]
pub extern "C" fn CreateNamedPipeW(
    _name: *const u32,
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
