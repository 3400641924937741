//! Fault injection for kernel refusals with a seccomp filter (shared by the
//! integration tests and the CLI's tests).
#![allow(dead_code)]

/// Makes system call `nr` fail with `errno` in the calling thread for the
/// rest of its life, and in whatever it starts after (no privilege needed
/// with PR_SET_NO_NEW_PRIVS). Async-signal-safe (system calls on stack data
/// only), so a `pre_exec` hook may call it.
pub fn refuse_syscall(nr: libc::c_long, errno: i32) -> std::io::Result<()> {
    const RET_ERRNO: u32 = 0x0005_0000;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const LD_W_ABS: u16 = 0x20; // load the syscall number (offset 0)
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    let filter = [
        libc::sock_filter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k: nr as u32,
        },
        libc::sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_ERRNO | errno as u32,
        },
        libc::sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: prctl with these arguments only changes this thread's syscall
    // filter; it reads `prog` and `filter`, which outlive the calls.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
