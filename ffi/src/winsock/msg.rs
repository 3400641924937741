//! `WSARecvMsg` (only through `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER,
//! WSAID_WSARECVMSG)`, as on Windows) and `WSASendMsg` (exported, and
//! through `WSAID_WSASENDMSG`): `recvmsg`/`sendmsg` with Windows' `WSAMSG`.
//! The control data is passed through as it is: `WSACMSGHDR` has Linux's
//! `cmsghdr` layout, and the levels, types and payloads (`IP_PKTINFO`'s
//! `struct in_pktinfo` …) are Linux's, like the other socket constants.
//!
//! Without an `OVERLAPPED` both are blocking calls (FIONBIO, SO_RCVTIMEO /
//! SO_SNDTIMEO apply). With one, the call is made at once: if it completes,
//! it returns 0 and queues its packet as any inline completion does; a
//! receive that would have to wait fails with `WSAEOPNOTSUPP` (no pending
//! form), a send waits until it can complete.

use std::ffi::c_void;
use std::sync::atomic::Ordering;

use super::*;
use crate::error::boundary;

/// `WSAMSG` (Windows x64: 56 bytes).
#[repr(C)]
#[allow(non_snake_case, clippy::upper_case_acronyms)]
pub struct WSAMSG {
    pub name: *mut libc::sockaddr,
    pub namelen: INT,
    pub lpBuffers: *mut WSABUF,
    pub dwBufferCount: ULONG,
    pub Control: WSABUF,
    pub dwFlags: ULONG,
}

/// `MSG_TRUNC` and `MSG_CTRUNC` in `dwFlags`: Linux's values, as the
/// header's `MSG_*` are.
const W_MSG_TRUNC: ULONG = libc::MSG_TRUNC as ULONG;
const W_MSG_CTRUNC: ULONG = libc::MSG_CTRUNC as ULONG;

pub(crate) type RecvMsgFn =
    unsafe extern "C" fn(SOCKET, *mut WSAMSG, *mut DWORD, *mut OVERLAPPED, *const c_void) -> INT;
pub(crate) type SendMsgFn = unsafe extern "C" fn(
    SOCKET,
    *mut WSAMSG,
    DWORD,
    *mut DWORD,
    *mut OVERLAPPED,
    *const c_void,
) -> INT;

/// The message's buffers as iovecs, and a msghdr over them.
///
/// # Safety
/// `msg` must be a valid `WSAMSG` whose buffers are valid.
unsafe fn linux_msg(msg: &WSAMSG) -> Result<(Vec<libc::iovec>, libc::msghdr), DWORD> {
    if msg.dwBufferCount > 0 && msg.lpBuffers.is_null() {
        return Err(WSAEFAULT);
    }
    let bufs = if msg.dwBufferCount == 0 {
        &[][..]
    } else {
        // SAFETY: valid for dwBufferCount entries (caller contract).
        unsafe { std::slice::from_raw_parts(msg.lpBuffers, msg.dwBufferCount as usize) }
    };
    // SAFETY: each WSABUF describes valid memory (caller contract).
    let iov: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| unsafe { iovec(b.buf, b.len as usize) })
        .collect();
    let mut m = engine::msghdr(&iov, msg.name.cast(), msg.namelen.max(0) as u32);
    if msg.name.is_null() {
        m.msg_namelen = 0;
    }
    if !msg.Control.buf.is_null() && msg.Control.len > 0 {
        m.msg_control = msg.Control.buf.cast();
        m.msg_controllen = msg.Control.len as usize;
    }
    m.msg_iov = iov.as_ptr() as *mut libc::iovec;
    Ok((iov, m))
}

/// Ends an overlapped call that completed at once: its packet, 0.
///
/// # Safety
/// `ov` must be a valid OVERLAPPED.
unsafe fn complete(obj: &IoObj, ov: *mut OVERLAPPED, n: usize) -> INT {
    // SAFETY: caller contract.
    match unsafe { handles::prepare(obj, ov) } {
        Ok(p) => {
            engine::complete_inline(p, obj, n);
            0
        }
        Err(e) => fail(e, SOCKET_ERROR),
    }
}

/// `WSARecvMsg`.
///
/// # Safety
/// `msg` and everything it points to, `received` and `ov` must be valid.
pub(crate) unsafe extern "C" fn wsa_recv_msg(
    s: SOCKET,
    msg: *mut WSAMSG,
    received: *mut DWORD,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> INT {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        if !routine.is_null() {
            return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
        }
        if msg.is_null() {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        // SAFETY: valid (caller contract).
        let msg = unsafe { &mut *msg };
        // SAFETY: as above.
        let (_iov, mut m) = match unsafe { linux_msg(msg) } {
            Ok(x) => x,
            Err(e) => return fail(e, SOCKET_ERROR),
        };
        super::event_select::reenable(&obj, super::event_select::FD_READ, false);
        let flags = msg.dwFlags as i32 & (libc::MSG_PEEK | libc::MSG_OOB);
        let namelen = m.msg_namelen;
        let controllen = m.msg_controllen;
        let mut call = |fd: RawFd| {
            m.msg_namelen = namelen;
            m.msg_controllen = controllen;
            // SAFETY: the buffers are valid (caller contract).
            unsafe { libc::recvmsg(fd, &mut m, flags | libc::MSG_DONTWAIT) }
        };
        let r = if ov.is_null() {
            let timeout = obj.recv_timeout_ms.load(Ordering::Acquire);
            blocking_call(&obj, libc::POLLIN, timeout, call)
        } else {
            match with_fd(&obj, |fd| check(call(fd))) {
                Ok(Err(libc::EAGAIN)) => return fail(WSAEOPNOTSUPP, SOCKET_ERROR),
                Ok(r) => r,
                Err(e) => Err(e),
            }
        };
        let n = match r {
            Ok(n) => n,
            Err(e) => return fail(stream_error(&obj, e), SOCKET_ERROR),
        };
        if !msg.name.is_null() {
            msg.namelen = m.msg_namelen as INT;
        }
        msg.Control.len = if m.msg_control.is_null() {
            0
        } else {
            m.msg_controllen as ULONG
        };
        let mut out = 0;
        if m.msg_flags & libc::MSG_TRUNC != 0 {
            out |= W_MSG_TRUNC;
        }
        if m.msg_flags & libc::MSG_CTRUNC != 0 {
            out |= W_MSG_CTRUNC;
        }
        msg.dwFlags = out;
        if !received.is_null() {
            // SAFETY: valid out-pointer (caller contract).
            unsafe { *received = n as DWORD };
        }
        if out & W_MSG_TRUNC != 0 && engine::is_datagram(&obj) {
            return fail(WSAEMSGSIZE, SOCKET_ERROR);
        }
        if ov.is_null() {
            0
        } else {
            // SAFETY: valid OVERLAPPED (caller contract).
            unsafe { complete(&obj, ov, n) }
        }
    })
}

/// `WSASendMsg`.
///
/// # Safety
/// `msg` and everything it points to, `sent` and `ov` must be valid.
#[no_mangle]
pub unsafe extern "C" fn WSASendMsg(
    s: SOCKET,
    msg: *mut WSAMSG,
    flags: DWORD,
    sent: *mut DWORD,
    ov: *mut OVERLAPPED,
    routine: *const c_void,
) -> INT {
    boundary(SOCKET_ERROR, || {
        let obj = sock_or!(s, SOCKET_ERROR);
        if !routine.is_null() {
            return fail(WSAEOPNOTSUPP, SOCKET_ERROR);
        }
        if msg.is_null() {
            return fail(WSAEFAULT, SOCKET_ERROR);
        }
        // SAFETY: valid (caller contract).
        let msg = unsafe { &*msg };
        // SAFETY: as above.
        let (_iov, m) = match unsafe { linux_msg(msg) } {
            Ok(x) => x,
            Err(e) => return fail(e, SOCKET_ERROR),
        };
        let flags = flags as i32 & (libc::MSG_OOB | libc::MSG_DONTROUTE);
        let timeout = obj.send_timeout_ms.load(Ordering::Acquire);
        let r = blocking_call(&obj, libc::POLLOUT, timeout, |fd| {
            // SAFETY: the buffers are valid (caller contract).
            unsafe { libc::sendmsg(fd, &m, flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) }
        });
        let n = match r {
            Ok(n) => n,
            Err(libc::EAGAIN) => {
                super::event_select::reenable(&obj, super::event_select::FD_WRITE, false);
                return fail(WSAEWOULDBLOCK, SOCKET_ERROR);
            }
            Err(e) => return fail(stream_error(&obj, e), SOCKET_ERROR),
        };
        if !sent.is_null() {
            // SAFETY: valid out-pointer (caller contract).
            unsafe { *sent = n as DWORD };
        }
        if ov.is_null() {
            0
        } else {
            // SAFETY: valid OVERLAPPED (caller contract).
            unsafe { complete(&obj, ov, n) }
        }
    })
}

/// `WSASendMsg` as the extension function pointer hands it out.
pub(crate) const SEND_MSG: SendMsgFn = WSASendMsg;
/// `WSARecvMsg` as the extension function pointer hands it out.
pub(crate) const RECV_MSG: RecvMsgFn = wsa_recv_msg;
