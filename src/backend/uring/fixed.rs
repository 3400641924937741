//! Registered files: associated descriptors in the ring's file table, so
//! that an operation on them skips the kernel's per-request lookup and
//! reference count of the file (`fget`/`fput`, about 1% of an echo server's
//! CPU at 64-byte messages).
//!
//! The table is sparse and indexed by descriptor number: slot `n` holds fd
//! `n`, so an SQE keeps the fd in its `fd` field and only gains
//! `IOSQE_FIXED_FILE`, and no map from fd to slot is needed. Its size is the
//! process's soft descriptor limit when the ring is set up (at most
//! [`MAX_SLOTS`]); a descriptor beyond it, or one whose registration fails,
//! is used unregistered, which works the same.
//!
//! Only on Linux 6.13 and later. Before 6.13 a replaced or removed table
//! entry released its file only once every request that had used *any*
//! registered file before the change had completed: a closed socket would
//! stay open, with no FIN to the peer, while another connection's receive
//! waited. From 6.13 each entry is counted on its own, and removing it
//! releases the file as soon as the requests that use that file are done —
//! the behaviour of an unregistered fd. (The op layer removes an entry only
//! when the handle is closed and none of its operations is in flight.)

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

use io_uring::IoUring;

/// The largest table set up (8 bytes of kernel memory per slot).
const MAX_SLOTS: u64 = 1 << 16;

/// Which descriptors are registered, one bit each.
pub(super) struct FixedFiles {
    bits: Box<[AtomicU64]>,
}

impl FixedFiles {
    /// Sets up the ring's sparse file table, or `None` where the kernel is
    /// older than 6.13 or refuses it (`CPORT_URING_FIXED_FILES=0` turns it
    /// off, for comparisons).
    pub(super) fn new(ring: &IoUring) -> Option<FixedFiles> {
        if std::env::var_os("CPORT_URING_FIXED_FILES").is_some_and(|v| v == "0")
            || kernel_release().is_none_or(|release| release < (6, 13))
        {
            return None;
        }
        let slots = soft_fd_limit()?.min(MAX_SLOTS);
        let slots = u32::try_from(slots).ok().filter(|&n| n > 0)?;
        ring.submitter().register_files_sparse(slots).ok()?;
        let words = (slots as usize).div_ceil(64);
        Some(FixedFiles {
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    fn bit(&self, fd: RawFd) -> Option<(&AtomicU64, u64)> {
        let n = usize::try_from(fd).ok()?;
        let word = self.bits.get(n / 64)?;
        Some((word, 1 << (n % 64)))
    }

    /// Whether operations on `fd` use the table.
    #[inline]
    pub(super) fn contains(&self, fd: RawFd) -> bool {
        self.bit(fd)
            .is_some_and(|(word, mask)| word.load(Ordering::Acquire) & mask != 0)
    }

    /// Puts `fd` in its slot. Failing is not an error: `fd` is then used
    /// unregistered.
    pub(super) fn register(&self, ring: &IoUring, fd: RawFd) {
        let Some((word, mask)) = self.bit(fd) else {
            return;
        };
        // The slot is `fd` itself, which `bit` checked is in the table.
        if let Ok(1) = ring.submitter().register_files_update(fd as u32, &[fd]) {
            word.fetch_or(mask, Ordering::Release);
        }
    }

    /// Empties `fd`'s slot, before the op layer closes it (with nothing of it
    /// in flight).
    pub(super) fn deregister(&self, ring: &IoUring, fd: RawFd) {
        let Some((word, mask)) = self.bit(fd) else {
            return;
        };
        if word.fetch_and(!mask, Ordering::AcqRel) & mask != 0 {
            // If this fails (ENOMEM) the slot keeps the file until the ring
            // is closed, or until the number is registered again, which
            // replaces it; operations use the fd unregistered meanwhile.
            let _ = ring.submitter().register_files_update(fd as u32, &[-1]);
        }
    }
}

/// The running kernel's (major, minor) release.
fn kernel_release() -> Option<(u32, u32)> {
    // SAFETY: all zeroes is a valid `utsname` (arrays of bytes).
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is valid for writes of a `utsname`.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    // SAFETY: uname NUL-terminates every field within its array.
    let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) };
    parse_release(release.to_str().ok()?)
}

/// "6.13.2-arch1" → (6, 13).
fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn soft_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the local `lim`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    Some(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::parse_release;

    #[test]
    fn releases_parse_to_major_and_minor() {
        assert_eq!(parse_release("6.13.2-arch1-1"), Some((6, 13)));
        assert_eq!(parse_release("6.18.44-fc-v1300"), Some((6, 18)));
        assert_eq!(parse_release("5.15.0-91-generic"), Some((5, 15)));
        assert_eq!(parse_release("6.1"), Some((6, 1)));
        assert_eq!(parse_release("garbage"), None);
    }
}
