//! Overlapped receive and send: `WSARecv`, `WSARecvFrom`, `WSASend`,
//! `WSASendTo` (inline completion when the socket is ready, else pending on
//! the engine; blocking without an `OVERLAPPED`), and
//! `WSAGetOverlappedResult`.

use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::socket::{advance, recv_blocking, send_all};
use super::*;
use crate::engine::{self, CBuf, IoObj, OpKind};
use crate::error::{boundary, errno_of, fail};
use crate::handles;

/// The WSABUF array as iovecs, or WSAEINVAL / WSAEFAULT.
///
/// # Safety
/// `bufs` must be NULL or valid for `count` WSABUFs.
unsafe fn wsabufs(bufs: *const WSABUF, count: DWORD) -> Result<Vec<libc::iovec>, DWORD> {
    if count == 0 {
        return Err(WSAEINVAL);
    }
    if bufs.is_null() {
        return Err(WSAEFAULT);
    }
    if count > 1024 {
        return Err(WSAENOBUFS);
    }
    // SAFETY: valid for count entries (caller contract).
    let bufs = unsafe { std::slice::from_raw_parts(bufs, count as usize) };
    let mut out = Vec::with_capacity(bufs.len());
    for b in bufs {
        if b.buf.is_null() && b.len > 0 {
            return Err(WSAEFAULT);
        }
        out.push(libc::iovec {
            iov_base: b.buf.cast(),
            iov_len: b.len as usize,
        });
    }
    Ok(out)
}

/// Buffers for the engine, one per iovec.
///
/// # Safety
/// Each iovec must describe memory valid until the operation using the
/// buffers has completed.
pub(super) unsafe fn cbufs(iov: &[libc::iovec]) -> Vec<CBuf> {
    iov.iter()
        // SAFETY: valid until the operation completes (caller contract).
        .map(|v| unsafe { CBuf::new(v.iov_base.cast(), v.iov_len) })
        .collect()
}

/// `WSARecv`. With an OVERLAPPED: completes inline (0, and still a packet
/// unless skip mode) when data is there and no receive is pending, else
/// `SOCKET_ERROR` + `WSA_IO_PENDING`; without one: a blocking receive.
///
/// # Safety
/// Pointers per the Win32 contract; buffers and `ov` stay valid until completion.
#[no_mangle]
pub unsafe extern "C" fn WSARecv(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    recvd: *mut DWORD,
    flags: *mut DWORD,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        // SAFETY: forwarded caller contract.
        unsafe {
            recv_common(
                s,
                bufs,
                count,
                recvd,
                flags,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                ov,
                routine,
                false,
            )
        }
    })
}

/// `WSARecvFrom`: as `WSARecv`; `lpFrom`/`lpFromlen` are written at completion.
///
/// # Safety
/// As `WSARecv`; `from`/`fromlen` stay valid until completion.
#[no_mangle]
pub unsafe extern "C" fn WSARecvFrom(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    recvd: *mut DWORD,
    flags: *mut DWORD,
    from: *mut libc::sockaddr,
    fromlen: *mut i32,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        // SAFETY: forwarded caller contract.
        unsafe {
            recv_common(
                s, bufs, count, recvd, flags, from, fromlen, ov, routine, true,
            )
        }
    })
}

/// WSARecv / WSARecvFrom: a blocking receive without an OVERLAPPED, else
/// inline or pending.
///
/// # Safety
/// `bufs` must be NULL or point to `count` WSABUFs, each valid for writes of
/// its length; `recvd` and `flags` NULL or valid; `fromlen` NULL or valid,
/// and `from` NULL or valid for `*fromlen` bytes. With an `ov`, it must
/// point to an `OVERLAPPED`, and the buffers, `from` and `fromlen` stay valid
/// until the operation's completion is published.
#[allow(clippy::too_many_arguments)]
unsafe fn recv_common(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    recvd: *mut DWORD,
    flags: *mut DWORD,
    from: *mut libc::sockaddr,
    fromlen: *mut i32,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
    is_from: bool,
) -> i32 {
    if ov.is_null() {
        engine::known_empty::sync_point();
    }
    let obj = match sock_quiet(s) {
        Ok(o) => o,
        Err(e) => return fail(e, SOCKET_ERROR),
    };
    if flags.is_null() || (!from.is_null() && fromlen.is_null()) {
        return fail(WSAEFAULT, SOCKET_ERROR);
    }
    // SAFETY: caller contract.
    let iov = match unsafe { wsabufs(bufs, count) } {
        Ok(v) => v,
        Err(e) => return fail(e, SOCKET_ERROR),
    };
    // SAFETY: flags is valid (checked non-NULL).
    let in_flags = unsafe { *flags } as i32;
    if obj.reset.load(Ordering::Acquire) {
        return fail(WSAECONNRESET, SOCKET_ERROR);
    }
    let write_out = |n: usize| {
        // SAFETY: valid out-pointers (caller contract; recvd may be NULL).
        unsafe {
            if !recvd.is_null() {
                *recvd = n as DWORD;
            }
            *flags = 0;
        }
    };
    if ov.is_null() {
        // SAFETY: the WSABUFs and `from`/`fromlen` are valid (caller contract).
        return match unsafe {
            recv_blocking(
                &obj,
                &iov,
                in_flags & (libc::MSG_PEEK | libc::MSG_OOB | libc::MSG_WAITALL),
                from,
                fromlen,
            )
        } {
            Ok(n) => {
                write_out(n);
                0
            }
            Err(e) => fail(e, SOCKET_ERROR),
        };
    }
    let peek_flag = in_flags & libc::MSG_PEEK;
    if in_flags & libc::MSG_OOB != 0 || (is_from && (iov.len() != 1 || peek_flag != 0)) {
        return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
    }
    let datagram = engine::is_datagram(&obj);
    // SAFETY: ov is valid until completion (caller contract).
    let p = match unsafe { prepare_winsock(&obj, ov, routine) } {
        Ok(p) => p,
        Err(e) => return fail(e, SOCKET_ERROR),
    };
    // Inline attempt, as Windows completes a receive whose data is there:
    // only with no receive of this socket in flight (to keep the order of
    // the data), and not for a plain receive on a socket known to be empty.
    let total: usize = iov.iter().map(|v| v.iov_len).sum();
    let known_empty = total > 0 && peek_flag == 0 && engine::known_empty::is_known_empty(&obj);
    if obj.recv_pending.load(Ordering::Acquire) == 0 && !known_empty {
        let cap = if fromlen.is_null() {
            0
        } else {
            // SAFETY: valid (caller contract).
            unsafe { *fromlen }.max(0) as u32
        };
        let mut peek = [0u8; 1];
        let r = with_fd(&obj, |fd| {
            if total == 0 && !is_from {
                // A zero-byte receive: ready if a receive would not block.
                // SAFETY: one byte into a local buffer, not consumed (PEEK).
                check(unsafe {
                    libc::recv(
                        fd,
                        peek.as_mut_ptr().cast(),
                        1,
                        libc::MSG_PEEK | libc::MSG_DONTWAIT,
                    )
                })
                .map(|_| (0, false))
            } else {
                let mut m = engine::msghdr(&iov, from.cast(), cap);
                // SAFETY: the program's buffers and address (caller contract).
                let n = check(unsafe { libc::recvmsg(fd, &mut m, peek_flag | libc::MSG_DONTWAIT) });
                if n.is_ok() && !fromlen.is_null() && !from.is_null() {
                    // SAFETY: valid (caller contract).
                    unsafe { *fromlen = m.msg_namelen as i32 };
                }
                n.map(|n| (n, datagram && m.msg_flags & libc::MSG_TRUNC != 0))
            }
        });
        match r {
            Ok(Ok((n, true))) => {
                // A datagram larger than the buffers: they hold its start
                // (STATUS_BUFFER_OVERFLOW, a warning: the packet is queued).
                write_out(n);
                engine::complete_inline_warning(p, &obj, STATUS_BUFFER_OVERFLOW, n);
                return fail(WSAEMSGSIZE, SOCKET_ERROR);
            }
            Ok(Ok((n, false))) => {
                write_out(n);
                engine::complete_inline(p, &obj, n);
                return 0;
            }
            Ok(Err(libc::EAGAIN)) => {}
            Ok(Err(e)) | Err(e) => return failed_at_once(p, &obj, e),
        }
    }
    let Some(home) = obj.io_home() else {
        return closed_meanwhile(p, &obj);
    };
    let kind = if is_from {
        OpKind::RecvFrom {
            from: from as usize,
            fromlen: fromlen as usize,
        }
    } else if peek_flag != 0 {
        OpKind::Peek {
            bufs: iov
                .iter()
                .map(|v| (v.iov_base as usize, v.iov_len))
                .collect(),
        }
    } else {
        OpKind::Recv
    };
    let bufs = if peek_flag != 0 {
        // A zero-byte receive waits for the data without consuming it.
        // SAFETY: a zero-length buffer: the engine writes nothing into it.
        vec![unsafe { CBuf::new(iov[0].iov_base.cast(), 0) }]
    } else {
        // SAFETY: the WSABUFs stay valid until completion (caller contract).
        unsafe { cbufs(&iov) }
    };
    let mut ctx = p.into_ctx(obj.clone(), kind);
    ctx.want = iov.iter().map(|v| v.iov_len).sum();
    // SAFETY: the buffers, the OVERLAPPED and lpFrom stay valid until
    // completion (caller contract).
    match unsafe { launch_counted(&obj, &obj.recv_pending, &home, ctx, bufs) } {
        Ok(()) => fail(WSA_IO_PENDING, SOCKET_ERROR),
        Err(wsa) => fail(wsa, SOCKET_ERROR),
    }
}

/// A receive or send whose first, inline attempt failed with `errno`: the
/// OVERLAPPED gets the failure status (nothing is queued) and the call
/// returns `SOCKET_ERROR` with the Winsock error.
pub(super) fn failed_at_once(p: engine::Prepared, obj: &IoObj, errno: i32) -> i32 {
    let wsa = stream_error(obj, errno);
    engine::fail_sync(p, obj, crate::error::status_carrying(wsa), false);
    fail(wsa, SOCKET_ERROR)
}

/// A receive or send on a socket closed since the call began:
/// `STATUS_INVALID_HANDLE` in the OVERLAPPED, `WSAENOTSOCK` returned.
pub(super) fn closed_meanwhile(p: engine::Prepared, obj: &IoObj) -> i32 {
    engine::fail_sync(p, obj, STATUS_INVALID_HANDLE, false);
    fail(WSAENOTSOCK, SOCKET_ERROR)
}

/// The start of an overlapped Winsock call ([`handles::prepare`]); with a
/// completion routine (`lpCompletionRoutine` not NULL) the operation ends as
/// an APC to the calling thread instead of a packet or an event.
///
/// # Safety
/// As for [`handles::prepare`]; `routine` is NULL or a
/// `LPWSAOVERLAPPED_COMPLETION_ROUTINE`.
pub(super) unsafe fn prepare_winsock(
    obj: &IoObj,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> Result<engine::Prepared, DWORD> {
    // SAFETY: the caller's promise, passed on.
    let p = unsafe { handles::prepare(obj, ov) }?;
    Ok(if routine.is_null() {
        p
    } else {
        p.with_routine(crate::thread::apc::routine_target(routine as usize, true))
    })
}

/// Hands a receive or send to the engine, counted in `pending` (the socket's
/// receives or sends in the engine) while it is there. If the engine refuses
/// it, the count is undone, the OVERLAPPED gets the failure status (nothing
/// is queued: a synchronous failure) and the Winsock error is returned.
///
/// # Safety
/// As for [`IoObj::launch`]: `bufs` and the pointers in `ctx` stay valid
/// until the operation's completion is published.
pub(super) unsafe fn launch_counted(
    obj: &Arc<IoObj>,
    pending: &std::sync::atomic::AtomicUsize,
    home: &engine::Home,
    ctx: engine::OpCtx,
    bufs: Vec<CBuf>,
) -> Result<(), DWORD> {
    pending.fetch_add(1, Ordering::AcqRel);
    // SAFETY: the caller's promise, passed on.
    unsafe { obj.launch(home, ctx, bufs) }.map_err(|(e, ctx)| {
        pending.fetch_sub(1, Ordering::AcqRel);
        let wsa = stream_error(obj, errno_of(&e));
        ctx.fail_sync(crate::error::status_carrying(wsa));
        wsa
    })
}

/// `WSASend`: inline when the socket takes all the data at once and no send
/// is pending (0, and still a packet unless skip mode), else pending; the
/// operation completes when every byte was sent. `WSASendTo` without an
/// address.
///
/// # Safety
/// Pointers per the Win32 contract; buffers and `ov` stay valid until completion.
#[no_mangle]
pub unsafe extern "C" fn WSASend(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    sent: *mut DWORD,
    flags: DWORD,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    // SAFETY: forwarded caller contract; a NULL `to` is never read.
    unsafe {
        WSASendTo(
            s,
            bufs,
            count,
            sent,
            flags,
            std::ptr::null(),
            0,
            ov,
            routine,
        )
    }
}

/// `WSASendTo` (and `WSASend`, with a NULL `to`): a blocking send without an
/// OVERLAPPED, else inline or pending.
///
/// # Safety
/// `bufs` must be NULL or point to `count` WSABUFs, each valid for reads of
/// its length; `sent` NULL or valid; `to` NULL or valid for `tolen` bytes.
/// With an `ov`, it must point to an `OVERLAPPED`, and the buffers stay
/// valid until the operation's completion is published.
#[no_mangle]
pub unsafe extern "C" fn WSASendTo(
    s: SOCKET,
    bufs: *const WSABUF,
    count: DWORD,
    sent: *mut DWORD,
    flags: DWORD,
    to: *const libc::sockaddr,
    tolen: i32,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> i32 {
    boundary(SOCKET_ERROR, || {
        if ov.is_null() {
            engine::known_empty::sync_point();
        }
        let obj = match sock_quiet(s) {
            Ok(o) => o,
            Err(e) => return fail(e, SOCKET_ERROR),
        };
        // SAFETY: caller contract.
        let iov = match unsafe { wsabufs(bufs, count) } {
            Ok(v) => v,
            Err(e) => return fail(e, SOCKET_ERROR),
        };
        let dest = if to.is_null() {
            None
        } else {
            // SAFETY: `to` valid for tolen bytes (caller contract).
            match unsafe { to_std(to, tolen) } {
                Ok(a) => Some(a),
                Err(e) => return fail(e, SOCKET_ERROR),
            }
        };
        if obj.reset.load(Ordering::Acquire) {
            return fail(WSAECONNRESET, SOCKET_ERROR);
        }
        let write_out = |n: usize| {
            if !sent.is_null() {
                // SAFETY: valid out-pointer (caller contract).
                unsafe { *sent = n as DWORD };
            }
        };
        let flags = (flags as i32) & (libc::MSG_OOB | libc::MSG_DONTROUTE);
        if ov.is_null() {
            // SAFETY: the WSABUFs and `to` are valid (caller contract).
            return match unsafe { send_all(&obj, &iov, flags, to, tolen) } {
                Ok(n) => {
                    write_out(n);
                    0
                }
                Err(e) => fail(e, SOCKET_ERROR),
            };
        }
        if dest.is_some() && iov.len() != 1 {
            return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
        }
        // SAFETY: ov is valid until completion (caller contract).
        let p = match unsafe { prepare_winsock(&obj, ov, routine) } {
            Ok(p) => p,
            Err(e) => return fail(e, SOCKET_ERROR),
        };
        let total: usize = iov.iter().map(|v| v.iov_len).sum();
        let mut done = 0;
        // Inline attempt, as Windows completes a send the socket buffer takes at
        // once: only with no send of this socket in flight (to keep the order
        // of the data), and not where the send joins a worker's batch anyway —
        // on a connected stream socket. (A socket never connected or shut down
        // for sending takes the attempt, so those errors still come at once, as
        // on Windows; a reset the kernel finds comes in the packet.)
        let connected_stream = !engine::is_datagram(&obj)
            && obj.ever_connected.load(Ordering::Acquire)
            && !obj.shut_send.load(Ordering::Acquire);
        let batch_home = connected_stream
            .then(|| obj.io_home())
            .flatten()
            .filter(engine::Home::batches);
        if obj.send_pending.load(Ordering::Acquire) == 0 && batch_home.is_none() {
            let m = engine::msghdr(&iov, to as *mut c_void, tolen.max(0) as u32);
            let r = with_fd(&obj, |fd| {
                // SAFETY: the program's buffers and address (caller contract).
                check(unsafe {
                    libc::sendmsg(fd, &m, flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
                })
            });
            match r {
                Ok(Ok(n)) if n >= total => {
                    write_out(n);
                    engine::complete_inline(p, &obj, n);
                    return 0;
                }
                Ok(Ok(n)) => done = n,
                Ok(Err(libc::EAGAIN)) => {}
                Ok(Err(e)) | Err(e) => return failed_at_once(p, &obj, e),
            }
        }
        // The home found above, or (after an attempt, which may have outlived
        // the socket) the current one.
        let Some(home) = batch_home.or_else(|| obj.io_home()) else {
            return closed_meanwhile(p, &obj);
        };
        let mut rest = iov;
        advance(&mut rest, done);
        let mut ctx = p.into_ctx(
            obj.clone(),
            match dest {
                Some(to) => OpKind::SendTo { to },
                None => OpKind::Send,
            },
        );
        ctx.base = done;
        ctx.want = total - done;
        // SAFETY: the buffers and the OVERLAPPED stay valid until completion
        // (caller contract).
        match unsafe { launch_counted(&obj, &obj.send_pending, &home, ctx, cbufs(&rest)) } {
            Ok(()) => fail(WSA_IO_PENDING, SOCKET_ERROR),
            Err(wsa) => fail(wsa, SOCKET_ERROR),
        }
    })
}

/// `WSAGetOverlappedResult`.
///
/// # Safety
/// `ov` valid; `bytes`/`flags` valid out-pointers.
#[no_mangle]
pub unsafe extern "C" fn WSAGetOverlappedResult(
    s: SOCKET,
    ov: *mut OVERLAPPED,
    bytes: *mut DWORD,
    wait: BOOL,
    flags: *mut DWORD,
) -> BOOL {
    boundary(FALSE, || {
        // As GetOverlappedResult: the socket matters only for a wait on it,
        // so a result stored before (or by) closesocket is still reported.
        if ov.is_null() || bytes.is_null() || flags.is_null() {
            return fail(WSAEFAULT, FALSE);
        }
        // SAFETY: valid pointers (checked non-NULL; caller contract).
        unsafe {
            match engine::overlapped_result(|| handles::io(s).is_some(), ov, bytes, wait != FALSE) {
                Ok(()) => {
                    *flags = 0;
                    TRUE
                }
                Err(status) => {
                    *flags = 0;
                    fail(crate::error::status_to_wsa(status), FALSE)
                }
            }
        }
    })
}
