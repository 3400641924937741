//! The Winsock extensions: `AcceptEx` and `GetAcceptExSockaddrs`,
//! `ConnectEx`, `DisconnectEx` and `TransmitFile`. `WSAIoctl`
//! (`SIO_GET_EXTENSION_FUNCTION_POINTER`) hands out `ConnectEx` and
//! `DisconnectEx` (exported as `connect_ex`/`disconnect_ex`); `AcceptEx`,
//! `GetAcceptExSockaddrs` and `TransmitFile` are also exported under their
//! own names.

use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::overlapped::launch_counted;
use super::socket::send_all;
use super::*;
use crate::engine::{self, CBuf, IoObj, OpKind};
use crate::error::{boundary, errno, errno_of, errno_to_wsa, fail};
use crate::handles;

/// The first step of `AcceptEx` and `ConnectEx`: `false` without an
/// OVERLAPPED (the call fails with `ERROR_INVALID_PARAMETER`), else the
/// OVERLAPPED is marked pending, as Windows does even when the call then
/// fails at once.
///
/// # Safety
/// `ov` must be NULL or valid for writes.
unsafe fn mark_pending(ov: *mut OVERLAPPED) -> bool {
    if ov.is_null() {
        return false;
    }
    // SAFETY: valid (checked non-NULL; caller contract).
    unsafe { engine::store_status(ov, STATUS_PENDING) };
    true
}

/// `AcceptEx`: the connection goes into the pre-created `accept` socket; the
/// packet goes to the listener's port with the listener's key.
///
/// # Safety
/// `buf` valid for `recv_len + local_len + remote_len` bytes and `ov` valid,
/// both until completion.
#[no_mangle]
pub unsafe extern "C" fn AcceptEx(
    listen: SOCKET,
    accept: SOCKET,
    buf: *mut c_void,
    recv_len: DWORD,
    local_len: DWORD,
    remote_len: DWORD,
    _received: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    boundary(FALSE, || {
        // SAFETY: ov is NULL or valid (caller contract).
        if !unsafe { mark_pending(ov) } {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        let l = sock_or!(listen, FALSE);
        let a = sock_or!(accept, FALSE);
        if !l.listening.load(Ordering::Acquire) || Arc::ptr_eq(&l, &a) {
            return fail(WSAEINVAL, FALSE);
        }
        if remote_len == 0 || buf.is_null() {
            return fail(WSAEFAULT, FALSE);
        }
        let usable = match a.current() {
            Some(fd) => {
                sock_type(&a) == libc::SOCK_STREAM
                    && !a.listening.load(Ordering::Acquire)
                    && !is_bound(fd)
                    && !is_connected(fd)
            }
            None => false,
        };
        if !usable {
            return fail(WSAEINVAL, FALSE);
        }
        let Some(home) = l.io_home() else {
            return fail(WSAENOTSOCK, FALSE);
        };
        // SAFETY: ov is valid until completion (caller contract).
        let p = match unsafe { handles::prepare(&l, ov) } {
            Ok(p) => p,
            Err(e) => return fail(e, FALSE),
        };
        {
            let mut slot = a.accept_for.lock();
            if slot.is_some() {
                drop(slot);
                engine::fail_sync(p, &l, STATUS_PENDING, true);
                return fail(WSAEINVAL, FALSE);
            }
            *slot = Some((Arc::downgrade(&l), p.token()));
        }
        let need = engine::accept_block_len(sock_family(&l)) as DWORD;
        let too_small = (local_len != 0 && local_len < need) || remote_len < need;
        let ctx = p.into_ctx(
            l.clone(),
            OpKind::Accept(Box::new(engine::AcceptCtx {
                accept: a.clone(),
                buf: buf as usize,
                recv_len: recv_len as usize,
                local_len: local_len as usize,
                remote_len: remote_len as usize,
                peer: None,
            })),
        );
        if too_small {
            // Pending, then a packet with ERROR_INSUFFICIENT_BUFFER.
            *a.accept_for.lock() = None;
            engine::finish(ctx, STATUS_BUFFER_TOO_SMALL, 0);
            return fail(ERROR_IO_PENDING, FALSE);
        }
        // SAFETY: the OVERLAPPED and the output buffer stay valid until
        // completion (caller contract).
        match unsafe { l.launch(&home, ctx, Vec::new()) } {
            Ok(()) => fail(ERROR_IO_PENDING, FALSE),
            Err((e, _ctx)) => {
                *a.accept_for.lock() = None;
                fail(errno_to_wsa(errno_of(&e)), FALSE)
            }
        }
    })
}

/// `GetAcceptExSockaddrs`: reads the address blocks cport's AcceptEx wrote.
///
/// # Safety
/// `buf` as given to AcceptEx; the out-pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn GetAcceptExSockaddrs(
    buf: *mut c_void,
    recv_len: DWORD,
    local_len: DWORD,
    remote_len: DWORD,
    local: *mut *mut libc::sockaddr,
    local_size: *mut i32,
    remote: *mut *mut libc::sockaddr,
    remote_size: *mut i32,
) {
    boundary((), || {
        let block = |offset: usize, len: DWORD| -> (*mut libc::sockaddr, i32) {
            if buf.is_null() || len < 2 {
                return (std::ptr::null_mut(), 0);
            }
            // SAFETY: the buffer holds the blocks AcceptEx was given.
            let p = unsafe { buf.cast::<u8>().add(offset) };
            // SAFETY: at least 2 bytes of the block are valid.
            let family = i32::from(unsafe { std::ptr::read_unaligned(p.cast::<u16>()) });
            let size = match family {
                libc::AF_INET => std::mem::size_of::<libc::sockaddr_in>(),
                libc::AF_INET6 => std::mem::size_of::<libc::sockaddr_in6>(),
                _ => 0,
            };
            (p.cast(), size.min(len as usize) as i32)
        };
        let (l, ls) = block(recv_len as usize, local_len);
        let (r, rs) = block(recv_len as usize + local_len as usize, remote_len);
        // SAFETY: out-pointers valid or NULL (caller contract).
        unsafe {
            if !local.is_null() {
                *local = l;
            }
            if !local_size.is_null() {
                *local_size = ls;
            }
            if !remote.is_null() {
                *remote = r;
            }
            if !remote_size.is_null() {
                *remote_size = rs;
            }
        }
    })
}

/// `ConnectEx` (through `WSAIoctl`): the socket must be bound; a refusal
/// completes through the packet (1225), never synchronously.
///
/// # Safety
/// `name` valid for `namelen` bytes during the call; `send_buf` (if any) and
/// `ov` valid until completion.
pub unsafe extern "C" fn connect_ex(
    s: SOCKET,
    name: *const libc::sockaddr,
    namelen: i32,
    send_buf: *mut c_void,
    send_len: DWORD,
    _sent: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    boundary(FALSE, || {
        // SAFETY: ov is NULL or valid (caller contract).
        if !unsafe { mark_pending(ov) } {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        }
        let obj = sock_or!(s, FALSE);
        let (Some(fd), Some(home)) = (obj.current(), obj.io_home()) else {
            return fail(WSAENOTSOCK, FALSE);
        };
        if obj.listening.load(Ordering::Acquire) || !is_bound(fd) {
            return fail(WSAEINVAL, FALSE);
        }
        if is_connected(fd) {
            return fail(WSAEISCONN, FALSE);
        }
        // SAFETY: caller contract.
        let to = match unsafe { to_std(name, namelen) } {
            Ok(a) => a,
            Err(e) => return fail(e, FALSE),
        };
        if send_buf.is_null() && send_len > 0 {
            return fail(WSAEFAULT, FALSE);
        }
        // SAFETY: ov is valid until completion (caller contract).
        let p = match unsafe { handles::prepare(&obj, ov) } {
            Ok(p) => p,
            Err(e) => return fail(e, FALSE),
        };
        obj.mark_connected();
        let data = (send_len > 0).then_some((send_buf as usize, send_len as usize));
        let ctx = p.into_ctx(obj.clone(), OpKind::Connect { to, data });
        // SAFETY: the OVERLAPPED and the send buffer stay valid until
        // completion (caller contract).
        match unsafe { obj.launch(&home, ctx, Vec::new()) } {
            Ok(()) => fail(ERROR_IO_PENDING, FALSE),
            Err((e, ctx)) => match errno_of(&e) {
                libc::ECONNREFUSED | libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ETIMEDOUT => {
                    // Not a synchronous failure on Windows: pending, then the packet.
                    // SAFETY: as above.
                    unsafe { engine::complete(ctx, Err(e), None, None) };
                    fail(ERROR_IO_PENDING, FALSE)
                }
                n => fail(errno_to_wsa(n), FALSE),
            },
        }
    })
}

/// `DisconnectEx` (through `WSAIoctl`): shuts the connection down (the peer
/// sees end of stream) and completes at once: `TRUE`, and a packet unless
/// skip mode (without an OVERLAPPED it is simply synchronous). With
/// `TF_REUSE_SOCKET` the socket gets a fresh unbound fd underneath, ready for
/// `AcceptEx` (as the accept socket) or `bind` + `ConnectEx`.
///
/// # Safety
/// `ov` NULL or valid until completion.
pub unsafe extern "C" fn disconnect_ex(
    s: SOCKET,
    ov: *mut OVERLAPPED,
    flags: DWORD,
    reserved: DWORD,
) -> BOOL {
    boundary(FALSE, || {
        let obj = sock_or!(s, FALSE);
        if reserved != 0 || flags & !TF_REUSE_SOCKET != 0 {
            return fail(WSAEINVAL, FALSE);
        }
        if let Err(e) = connected_stream(&obj) {
            return fail(e, FALSE);
        }
        let p = if ov.is_null() {
            None
        } else {
            // SAFETY: ov is valid until completion (caller contract).
            match unsafe { handles::prepare(&obj, ov) } {
                Ok(p) => Some(p),
                Err(e) => return fail(e, FALSE),
            }
        };
        match obj.disconnect(flags & TF_REUSE_SOCKET != 0) {
            Ok(()) => {
                if let Some(p) = p {
                    engine::complete_inline(p, &obj, 0);
                }
                TRUE
            }
            Err(e) => {
                let wsa = errno_to_wsa(errno_of(&e));
                if let Some(p) = p {
                    engine::fail_sync(p, &obj, crate::error::status_carrying(wsa), false);
                }
                fail(wsa, FALSE)
            }
        }
    })
}

/// DisconnectEx and TransmitFile work on a connected TCP socket only
/// (`WSAENOTSOCK` for a closed one, `WSAENOTCONN` otherwise); its engine
/// handle.
fn connected_stream(obj: &IoObj) -> Result<Option<engine::Home>, DWORD> {
    let Some(fd) = obj.current() else {
        return Err(WSAENOTSOCK);
    };
    if sock_type(obj) != libc::SOCK_STREAM || !is_connected(fd) {
        return Err(WSAENOTCONN);
    }
    Ok(obj.io_home())
}

/// The most bytes one TransmitFile call sends (Windows' documented limit).
const TRANSMIT_FILE_MAX: u64 = 2_147_483_646;

/// Appends TransmitFile's file part to `out`: `count` bytes (all, if 0)
/// from `offset`, or from the file pointer (advanced) when `offset` is
/// `None`, stopping at end of file.
fn read_file_part(
    file: HANDLE,
    count: DWORD,
    offset: Option<u64>,
    out: &mut Vec<u8>,
) -> Result<(), DWORD> {
    let fobj = handles::io(file as usize)
        .filter(|o| !o.is_socket())
        .ok_or(ERROR_INVALID_HANDLE)?;
    let ffd = fobj.current().ok_or(ERROR_INVALID_HANDLE)?;
    let start = match offset {
        Some(o) => o,
        None => {
            // SAFETY: lseek on an fd; no pointers.
            let pos = unsafe { libc::lseek(ffd, 0, libc::SEEK_CUR) };
            if pos < 0 {
                return Err(crate::error::errno_to_win32(errno()));
            }
            pos as u64
        }
    };
    // SAFETY: `stat` is plain integers, so all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on an fd writes into `st`, which outlives the call.
    if unsafe { libc::fstat(ffd, &mut st) } < 0 {
        return Err(crate::error::errno_to_win32(errno()));
    }
    let remaining = (st.st_size.max(0) as u64).saturating_sub(start);
    // One TransmitFile sends at most 2,147,483,646 bytes on Windows; the file
    // part is read into memory here, so refuse a larger one before reading
    // rather than allocating it (the caller splits it, as on Windows).
    let asked = if count == 0 {
        remaining
    } else {
        u64::from(count)
    };
    if asked > TRANSMIT_FILE_MAX {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let base = out.len();
    out.resize(base + asked.min(remaining) as usize, 0);
    let mut got = 0;
    while base + got < out.len() {
        let dst = &mut out[base + got..];
        // SAFETY: `dst` is a live slice of `out`, valid for its length.
        match unsafe {
            crate::engine::sync_rw(
                ffd,
                false,
                dst.as_mut_ptr(),
                dst.len(),
                Some(start + got as u64),
            )
        } {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(crate::error::errno_to_win32(e)),
        }
    }
    out.truncate(base + got);
    if offset.is_none() {
        // SAFETY: lseek on an fd; no pointers.
        unsafe { libc::lseek(ffd, (start + got as u64) as libc::off_t, libc::SEEK_SET) };
    }
    Ok(())
}

/// `TransmitFile` (exported, and through `WSAIoctl`): sends the head buffer,
/// the file's bytes (`to_write` of them, all to the end of file if 0, from
/// the OVERLAPPED's offset, or from the file pointer without an OVERLAPPED)
/// and the tail buffer, as one send that completes through the port (bytes =
/// the total). `hFile` may be NULL (buffers only). The file part is read into
/// memory cport owns when the call is made. `TF_DISCONNECT` (with
/// `TF_REUSE_SOCKET`) shuts the connection down after the send, as
/// `DisconnectEx` does. `nNumberOfBytesPerSend` is ignored.
///
/// # Safety
/// `bufs` NULL or valid, with its Head/Tail valid for their lengths during
/// the call; `ov` NULL or valid until completion.
#[no_mangle]
pub unsafe extern "C" fn TransmitFile(
    s: SOCKET,
    file: HANDLE,
    to_write: DWORD,
    _per_send: DWORD,
    ov: *mut OVERLAPPED,
    bufs: *const TRANSMIT_FILE_BUFFERS,
    flags: DWORD,
) -> BOOL {
    boundary(FALSE, || {
        let obj = sock_or!(s, FALSE);
        let known = TF_DISCONNECT
            | TF_REUSE_SOCKET
            | TF_WRITE_BEHIND
            | TF_USE_SYSTEM_THREAD
            | TF_USE_KERNEL_APC;
        if flags & !known != 0 || (flags & TF_REUSE_SOCKET != 0 && flags & TF_DISCONNECT == 0) {
            return fail(WSAEINVAL, FALSE);
        }
        let eh = match connected_stream(&obj) {
            Ok(eh) => eh,
            Err(e) => return fail(e, FALSE),
        };
        if obj.reset.load(Ordering::Acquire) {
            return fail(WSAECONNRESET, FALSE);
        }
        // SAFETY: NULL or valid (caller contract).
        let tfb = unsafe { bufs.as_ref() };
        let part = |p: *mut u8, n: DWORD| -> Result<&[u8], DWORD> {
            match (p.is_null(), n) {
                (_, 0) => Ok(&[]),
                (true, _) => Err(WSAEFAULT),
                // SAFETY: valid for `n` bytes during the call (caller contract).
                (false, n) => Ok(unsafe { std::slice::from_raw_parts(p, n as usize) }),
            }
        };
        let (head, tail) = match tfb {
            Some(b) => match (part(b.Head, b.HeadLength), part(b.Tail, b.TailLength)) {
                (Ok(h), Ok(t)) => (h, t),
                (Err(e), _) | (_, Err(e)) => return fail(e, FALSE),
            },
            None => (&[][..], &[][..]),
        };
        // SAFETY: a non-NULL `ov` is valid (caller contract).
        let offset = (!ov.is_null()).then(|| unsafe { crate::engine::file_offset(ov) });
        let mut data = head.to_vec();
        if !file.is_null() {
            if let Err(e) = read_file_part(file, to_write, offset, &mut data) {
                return fail(e, FALSE);
            }
        }
        data.extend_from_slice(tail);
        let disconnect = |obj: &IoObj| {
            if flags & TF_DISCONNECT != 0 {
                let _ = obj.disconnect(flags & TF_REUSE_SOCKET != 0);
            }
        };
        if ov.is_null() {
            // SAFETY: `data` is ours and outlives the call.
            let iov = [unsafe { iovec(data.as_mut_ptr(), data.len()) }];
            // SAFETY: `iov` describes the live `data`.
            return match unsafe { send_all(&obj, &iov, 0, std::ptr::null(), 0) } {
                Ok(_) => {
                    disconnect(&obj);
                    TRUE
                }
                Err(e) => fail(e, FALSE),
            };
        }
        // SAFETY: ov is valid until completion (caller contract).
        let p = match unsafe { handles::prepare(&obj, ov) } {
            Ok(p) => p,
            Err(e) => return fail(e, FALSE),
        };
        if data.is_empty() {
            disconnect(&obj);
            engine::complete_inline(p, &obj, 0);
            return TRUE;
        }
        let Some(eh) = eh else {
            engine::fail_sync(p, &obj, STATUS_INVALID_HANDLE, false);
            return fail(WSAENOTSOCK, FALSE);
        };
        let len = data.len();
        // SAFETY: the heap buffer of `data` does not move when the Vec moves
        // into the context, which the engine keeps until the completion; the
        // Vec is dropped only after that (in `engine::complete`).
        let cbuf = unsafe { CBuf::new(data.as_mut_ptr(), len) };
        let mut ctx = p.into_ctx(obj.clone(), OpKind::Transmit { data, flags });
        ctx.want = len;
        // SAFETY: `data` is owned by the context until completion; the
        // OVERLAPPED stays valid until then (caller contract).
        match unsafe { launch_counted(&obj, &obj.send_pending, &eh, ctx, vec![cbuf]) } {
            Ok(()) => fail(ERROR_IO_PENDING, FALSE),
            Err(wsa) => fail(wsa, FALSE),
        }
    })
}

pub(super) type DisconnectExFn =
    unsafe extern "C" fn(SOCKET, *mut OVERLAPPED, DWORD, DWORD) -> BOOL;
pub(super) type TransmitFileFn = unsafe extern "C" fn(
    SOCKET,
    HANDLE,
    DWORD,
    DWORD,
    *mut OVERLAPPED,
    *const TRANSMIT_FILE_BUFFERS,
    DWORD,
) -> BOOL;

pub(super) type AcceptExFn = unsafe extern "C" fn(
    SOCKET,
    SOCKET,
    *mut c_void,
    DWORD,
    DWORD,
    DWORD,
    *mut DWORD,
    *mut OVERLAPPED,
) -> BOOL;
pub(super) type GetAcceptExSockaddrsFn = unsafe extern "C" fn(
    *mut c_void,
    DWORD,
    DWORD,
    DWORD,
    *mut *mut libc::sockaddr,
    *mut i32,
    *mut *mut libc::sockaddr,
    *mut i32,
);
pub(super) type ConnectExFn = unsafe extern "C" fn(
    SOCKET,
    *const libc::sockaddr,
    i32,
    *mut c_void,
    DWORD,
    *mut DWORD,
    *mut OVERLAPPED,
) -> BOOL;
