//! The C library's blocking calls, seen by the concurrency accounting.
//!
//! On Windows every kernel wait takes a thread out of its port's count of
//! running threads; a Linux program that waits in `pthread_join`,
//! `pthread_cond_wait` or `read` waits where cport cannot see it, and a
//! thread associated with a port would keep its slot while it sleeps. So
//! libcport exports the common blocking functions of the C library under
//! their own names. Linked before the C library (the shared library, or the
//! static one inside the executable), these definitions are the ones the
//! program — and every library that calls them through the dynamic linker —
//! reaches. Each one:
//!
//! * on a thread that is not associated with a C port (it never called
//!   `GetQueuedCompletionStatus(Ex)`), calls the C library's function at
//!   once: one thread-local load and one indirect call;
//! * on an associated thread, first checks whether the call can return
//!   without waiting (a free mutex, a posted semaphore, a joinable thread
//!   that has ended, data already there, a zero timeout, a non-blocking fd)
//!   and if so calls it directly, so a thread whose
//!   `GetQueuedCompletionStatus` returned keeps counting as running, as on
//!   Windows, until it really blocks;
//! * otherwise runs the C library's function inside a blocking section of
//!   the thread's port.
//!
//! The C library's function is found once with `dlsym(RTLD_NEXT, name)` and
//! kept. The list of functions, and what is not seen, is in the ffi README
//! ("Blocking calls the port sees").
//!
//! # Cancellation
//!
//! Most of these functions are cancellation points: `pthread_cancel` ends
//! the thread by unwinding it from inside the C library's function, through
//! the wrapper. So the wrappers are `extern "C-unwind"`, and nothing with a
//! destructor lives on their stack while the C library's function runs (Rust
//! defines an unwind that deallocates frames only through frames without
//! pending destructors): the section's guard is kept in a thread-local
//! instead, and the thread's exit ends it.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use cport_core::Blocking;
use libc::{
    clockid_t, fd_set, nfds_t, pollfd, pthread_cond_t, pthread_mutex_t, pthread_rwlock_t,
    pthread_t, sem_t, size_t, sockaddr, socklen_t, ssize_t, timespec, timeval, useconds_t,
};

use crate::engine::cport::{current_port, is_associated, CPort};
use crate::engine::{CBuf, PacketValue};

/// A blocking section entered by a wrapper, kept until the C library's
/// function returns (or the thread ends).
struct Section {
    // Declared before `_port`: dropped first, while the port it borrows lives.
    _guard: Blocking<'static, usize, PacketValue, CBuf>,
    _port: Arc<CPort>,
}

thread_local! {
    static SECTIONS: RefCell<Vec<Section>> = const { RefCell::new(Vec::new()) };
}

/// Enters a blocking section of the calling thread's port. Returns whether a
/// section was recorded (to be ended by [`leave`]).
#[inline(never)]
fn enter() -> bool {
    catch_unwind(|| {
        let Some(port) = current_port() else {
            return false;
        };
        let guard = port.port.enter_blocking();
        // SAFETY: the guard borrows the `Port` inside `port`'s heap
        // allocation, which does not move and stays alive as long as the
        // `Arc` that the `Section` holds; the `Section` drops the guard
        // before that `Arc` (field order), so the borrow never outlives it.
        let guard = unsafe {
            std::mem::transmute::<
                Blocking<'_, usize, PacketValue, CBuf>,
                Blocking<'static, usize, PacketValue, CBuf>,
            >(guard)
        };
        let section = Section {
            _guard: guard,
            _port: port,
        };
        // If the thread-local is gone (thread exit) the section is dropped
        // here, ending it: the call then runs unaccounted, which is harmless.
        SECTIONS
            .try_with(|s| match s.try_borrow_mut() {
                Ok(mut v) => {
                    v.push(section);
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// Ends the section [`enter`] recorded: the thread counts as running again.
#[inline(never)]
fn leave() {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let section = SECTIONS
            .try_with(|s| s.try_borrow_mut().ok().and_then(|mut v| v.pop()))
            .ok()
            .flatten();
        drop(section);
    }));
}

/// The C library's definition of `name` (NUL-terminated), looked up once.
#[inline]
fn next(slot: &AtomicPtr<c_void>, name: &'static str) -> *mut c_void {
    let p = slot.load(Ordering::Relaxed);
    if !p.is_null() {
        return p;
    }
    // SAFETY: `name` is NUL-terminated; RTLD_NEXT asks for the definition
    // after this object's in the lookup order: the C library's.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast::<c_char>()) };
    if p.is_null() {
        let msg = b"cport: the C library's definition of an interposed function is missing\n";
        // SAFETY: writes a static message to stderr; abort does not return.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::abort();
        }
    }
    slot.store(p, Ordering::Relaxed);
    p
}

/// `real!("name", fn type)`: the C library's function of that type.
macro_rules! real {
    ($name:literal, $ty:ty) => {{
        static SLOT: AtomicPtr<c_void> = AtomicPtr::new(null_mut());
        let p = next(&SLOT, concat!($name, "\0"));
        // SAFETY: `p` is the C library's definition of `$name`, whose C
        // prototype is `$ty`.
        unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
    }};
}

/// Calls `f` inside a blocking section if the thread is associated.
/// No value with a destructor is alive while `f` runs (see the module docs).
#[inline(always)]
fn section<R>(f: impl FnOnce() -> R) -> R {
    let entered = enter();
    let r = f();
    if entered {
        leave();
    }
    // The program may have learnt of new data while it waited.
    crate::engine::known_empty::sync_point();
    r
}

fn errno() -> c_int {
    // SAFETY: errno is thread-local and always addressable.
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e }
}

type PollFn = unsafe extern "C-unwind" fn(*mut pollfd, nfds_t, c_int) -> c_int;

/// Whether a call on `fd` that waits for `events` would block: the fd is in
/// blocking mode and not ready now. errno is left as it was.
fn would_block(fd: c_int, events: libc::c_short) -> bool {
    let saved = errno();
    // SAFETY: F_GETFL takes no pointer; a bad fd just fails.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    let blocks = if flags < 0 || flags & libc::O_NONBLOCK != 0 {
        false
    } else if events == 0 {
        true
    } else {
        let mut p = pollfd {
            fd,
            events,
            revents: 0,
        };
        let poll = real!("poll", PollFn);
        // SAFETY: one valid pollfd, no wait.
        unsafe { poll(&mut p, 1, 0) == 0 }
    };
    set_errno(saved);
    blocks
}

/// Whether a relative `timespec` is zero (or negative): no wait.
///
/// # Safety
/// `t` must be NULL or point to a valid `timespec`.
unsafe fn is_zero(t: *const timespec) -> bool {
    // SAFETY: valid or NULL (caller contract).
    !t.is_null() && unsafe { (*t).tv_sec <= 0 && (*t).tv_nsec <= 0 }
}

// ---- threads, mutexes, condition variables, semaphores ----

type JoinFn = unsafe extern "C-unwind" fn(pthread_t, *mut *mut c_void) -> c_int;

/// `pthread_join`, seen as a wait.
///
/// # Safety
/// As for the C library's `pthread_join`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_join(thread: pthread_t, retval: *mut *mut c_void) -> c_int {
    let real = real!("pthread_join", JoinFn);
    if !is_associated() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(thread, retval) };
    }
    // A thread that has ended already is joined without waiting.
    // SAFETY: as above; tryjoin never waits.
    let r = unsafe { libc::pthread_tryjoin_np(thread, retval) };
    if r != libc::EBUSY {
        return r;
    }
    // SAFETY: as above.
    section(|| unsafe { real(thread, retval) })
}

type CondWaitFn = unsafe extern "C-unwind" fn(*mut pthread_cond_t, *mut pthread_mutex_t) -> c_int;
type CondTimedFn = unsafe extern "C-unwind" fn(
    *mut pthread_cond_t,
    *mut pthread_mutex_t,
    *const timespec,
) -> c_int;
type CondClockFn = unsafe extern "C-unwind" fn(
    *mut pthread_cond_t,
    *mut pthread_mutex_t,
    clockid_t,
    *const timespec,
) -> c_int;

/// `pthread_cond_wait`, seen as a wait.
///
/// # Safety
/// As for the C library's `pthread_cond_wait`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_wait(
    cond: *mut pthread_cond_t,
    mutex: *mut pthread_mutex_t,
) -> c_int {
    let real = real!("pthread_cond_wait", CondWaitFn);
    if !is_associated() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(cond, mutex) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(cond, mutex) })
}

/// `pthread_cond_timedwait`, seen as a wait.
///
/// # Safety
/// As for the C library's `pthread_cond_timedwait`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_timedwait(
    cond: *mut pthread_cond_t,
    mutex: *mut pthread_mutex_t,
    abstime: *const timespec,
) -> c_int {
    let real = real!("pthread_cond_timedwait", CondTimedFn);
    if !is_associated() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(cond, mutex, abstime) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(cond, mutex, abstime) })
}

/// `pthread_cond_clockwait` (what C++'s `std::condition_variable` uses for
/// timed waits), seen as a wait.
///
/// # Safety
/// As for the C library's `pthread_cond_clockwait`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_cond_clockwait(
    cond: *mut pthread_cond_t,
    mutex: *mut pthread_mutex_t,
    clock: clockid_t,
    abstime: *const timespec,
) -> c_int {
    let real = real!("pthread_cond_clockwait", CondClockFn);
    if !is_associated() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(cond, mutex, clock, abstime) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(cond, mutex, clock, abstime) })
}

type MutexFn = unsafe extern "C-unwind" fn(*mut pthread_mutex_t) -> c_int;

/// `pthread_mutex_lock`: a wait only when the mutex is taken.
///
/// # Safety
/// As for the C library's `pthread_mutex_lock`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_mutex_lock(mutex: *mut pthread_mutex_t) -> c_int {
    let real = real!("pthread_mutex_lock", MutexFn);
    if !is_associated() {
        // SAFETY: the caller's argument, passed on.
        return unsafe { real(mutex) };
    }
    // Free (or a recursive lock by the owner, or a robust lock whose owner
    // died): taken without waiting, with the lock's own result.
    // SAFETY: as above; trylock never waits.
    let r = unsafe { libc::pthread_mutex_trylock(mutex) };
    if r != libc::EBUSY {
        return r;
    }
    // SAFETY: as above.
    section(|| unsafe { real(mutex) })
}

type RwFn = unsafe extern "C-unwind" fn(*mut pthread_rwlock_t) -> c_int;

/// `pthread_rwlock_rdlock`: a wait only when a writer holds the lock.
///
/// # Safety
/// As for the C library's `pthread_rwlock_rdlock`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_rdlock(lock: *mut pthread_rwlock_t) -> c_int {
    let real = real!("pthread_rwlock_rdlock", RwFn);
    if !is_associated() {
        // SAFETY: the caller's argument, passed on.
        return unsafe { real(lock) };
    }
    // SAFETY: as above; tryrdlock never waits.
    let r = unsafe { libc::pthread_rwlock_tryrdlock(lock) };
    if r != libc::EBUSY {
        return r;
    }
    // SAFETY: as above.
    section(|| unsafe { real(lock) })
}

/// `pthread_rwlock_wrlock`: a wait only when the lock is held.
///
/// # Safety
/// As for the C library's `pthread_rwlock_wrlock`.
#[no_mangle]
pub unsafe extern "C-unwind" fn pthread_rwlock_wrlock(lock: *mut pthread_rwlock_t) -> c_int {
    let real = real!("pthread_rwlock_wrlock", RwFn);
    if !is_associated() {
        // SAFETY: the caller's argument, passed on.
        return unsafe { real(lock) };
    }
    // SAFETY: as above; trywrlock never waits.
    let r = unsafe { libc::pthread_rwlock_trywrlock(lock) };
    if r != libc::EBUSY {
        return r;
    }
    // SAFETY: as above.
    section(|| unsafe { real(lock) })
}

type SemFn = unsafe extern "C-unwind" fn(*mut sem_t) -> c_int;
type SemTimedFn = unsafe extern "C-unwind" fn(*mut sem_t, *const timespec) -> c_int;

/// Takes a posted semaphore without waiting; errno is kept if it cannot.
///
/// # Safety
/// `sem` as for `sem_trywait`.
unsafe fn sem_take_now(sem: *mut sem_t) -> bool {
    let saved = errno();
    // SAFETY: the caller's semaphore; trywait never waits.
    if unsafe { libc::sem_trywait(sem) } == 0 {
        return true;
    }
    set_errno(saved);
    false
}

/// `sem_wait`: a wait only when the semaphore is at zero.
///
/// # Safety
/// As for the C library's `sem_wait`.
#[no_mangle]
pub unsafe extern "C-unwind" fn sem_wait(sem: *mut sem_t) -> c_int {
    let real = real!("sem_wait", SemFn);
    if !is_associated() {
        // SAFETY: the caller's argument, passed on.
        return unsafe { real(sem) };
    }
    // SAFETY: as above.
    if unsafe { sem_take_now(sem) } {
        return 0;
    }
    // SAFETY: as above.
    section(|| unsafe { real(sem) })
}

/// `sem_timedwait`: a wait only when the semaphore is at zero.
///
/// # Safety
/// As for the C library's `sem_timedwait`.
#[no_mangle]
pub unsafe extern "C-unwind" fn sem_timedwait(sem: *mut sem_t, abstime: *const timespec) -> c_int {
    let real = real!("sem_timedwait", SemTimedFn);
    if !is_associated() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(sem, abstime) };
    }
    // SAFETY: as above.
    if unsafe { sem_take_now(sem) } {
        return 0;
    }
    // SAFETY: as above.
    section(|| unsafe { real(sem, abstime) })
}

// ---- sleeping ----

type NanosleepFn = unsafe extern "C-unwind" fn(*const timespec, *mut timespec) -> c_int;
type ClockNanosleepFn =
    unsafe extern "C-unwind" fn(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;
type UsleepFn = unsafe extern "C-unwind" fn(useconds_t) -> c_int;
type SleepFn = unsafe extern "C-unwind" fn(c_uint) -> c_uint;

/// `nanosleep`: a wait unless the duration is zero.
///
/// # Safety
/// As for the C library's `nanosleep`.
#[no_mangle]
pub unsafe extern "C-unwind" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    let real = real!("nanosleep", NanosleepFn);
    // SAFETY: `req` as the caller passed it (valid or NULL).
    if !is_associated() || unsafe { is_zero(req) } {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(req, rem) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(req, rem) })
}

/// `clock_nanosleep`: a wait unless a relative duration is zero.
///
/// # Safety
/// As for the C library's `clock_nanosleep`.
#[no_mangle]
pub unsafe extern "C-unwind" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let real = real!("clock_nanosleep", ClockNanosleepFn);
    // SAFETY: `req` as the caller passed it (valid or NULL).
    let zero = flags & libc::TIMER_ABSTIME == 0 && unsafe { is_zero(req) };
    if !is_associated() || zero {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(clock, flags, req, rem) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(clock, flags, req, rem) })
}

/// `usleep`: a wait unless the duration is zero.
///
/// # Safety
/// As for the C library's `usleep` (no pointers).
#[no_mangle]
pub unsafe extern "C-unwind" fn usleep(usec: useconds_t) -> c_int {
    let real = real!("usleep", UsleepFn);
    if !is_associated() || usec == 0 {
        // SAFETY: the caller's argument, passed on.
        return unsafe { real(usec) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(usec) })
}

/// `sleep`: a wait unless the duration is zero.
///
/// # Safety
/// As for the C library's `sleep` (no pointers).
#[no_mangle]
pub unsafe extern "C-unwind" fn sleep(seconds: c_uint) -> c_uint {
    let real = real!("sleep", SleepFn);
    if !is_associated() || seconds == 0 {
        // SAFETY: the caller's argument, passed on.
        return unsafe { real(seconds) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(seconds) })
}

// ---- file descriptors ----

type ReadFn = unsafe extern "C-unwind" fn(c_int, *mut c_void, size_t) -> ssize_t;
type RecvFn = unsafe extern "C-unwind" fn(c_int, *mut c_void, size_t, c_int) -> ssize_t;
type RecvFromFn = unsafe extern "C-unwind" fn(
    c_int,
    *mut c_void,
    size_t,
    c_int,
    *mut sockaddr,
    *mut socklen_t,
) -> ssize_t;
type AcceptFn = unsafe extern "C-unwind" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
type Accept4Fn = unsafe extern "C-unwind" fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int;
type ConnectFn = unsafe extern "C-unwind" fn(c_int, *const sockaddr, socklen_t) -> c_int;
type SelectFn = unsafe extern "C-unwind" fn(
    c_int,
    *mut fd_set,
    *mut fd_set,
    *mut fd_set,
    *mut timeval,
) -> c_int;

/// `read`: a wait when the fd is in blocking mode and nothing is there to read.
///
/// # Safety
/// As for the C library's `read`.
#[no_mangle]
pub unsafe extern "C-unwind" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    let real = real!("read", ReadFn);
    if !is_associated() || !would_block(fd, libc::POLLIN) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(fd, buf, count) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(fd, buf, count) })
}

/// `recv`: a wait when the socket is in blocking mode, the call may wait
/// (no `MSG_DONTWAIT`) and nothing is there to receive.
///
/// # Safety
/// As for the C library's `recv`.
#[no_mangle]
pub unsafe extern "C-unwind" fn recv(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    let real = real!("recv", RecvFn);
    if !is_associated() || flags & libc::MSG_DONTWAIT != 0 || !would_block(fd, libc::POLLIN) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(fd, buf, len, flags) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(fd, buf, len, flags) })
}

/// `recvfrom`: as `recv`.
///
/// # Safety
/// As for the C library's `recvfrom`.
#[no_mangle]
pub unsafe extern "C-unwind" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    let real = real!("recvfrom", RecvFromFn);
    if !is_associated() || flags & libc::MSG_DONTWAIT != 0 || !would_block(fd, libc::POLLIN) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(fd, buf, len, flags, addr, addrlen) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(fd, buf, len, flags, addr, addrlen) })
}

/// `accept`: a wait when the socket is in blocking mode and no connection
/// is pending.
///
/// # Safety
/// As for the C library's `accept`.
#[no_mangle]
pub unsafe extern "C-unwind" fn accept(
    fd: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> c_int {
    let real = real!("accept", AcceptFn);
    if !is_associated() || !would_block(fd, libc::POLLIN) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(fd, addr, addrlen) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(fd, addr, addrlen) })
}

/// `accept4`: as `accept`.
///
/// # Safety
/// As for the C library's `accept4`.
#[no_mangle]
pub unsafe extern "C-unwind" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let real = real!("accept4", Accept4Fn);
    if !is_associated() || !would_block(fd, libc::POLLIN) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(fd, addr, addrlen, flags) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(fd, addr, addrlen, flags) })
}

/// `connect`: a wait when the socket is in blocking mode.
///
/// # Safety
/// As for the C library's `connect`.
#[no_mangle]
pub unsafe extern "C-unwind" fn connect(
    fd: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> c_int {
    let real = real!("connect", ConnectFn);
    if !is_associated() || !would_block(fd, 0) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(fd, addr, addrlen) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(fd, addr, addrlen) })
}

/// `poll`: a wait when the timeout is not zero and nothing is ready now.
///
/// # Safety
/// As for the C library's `poll`.
#[no_mangle]
pub unsafe extern "C-unwind" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    let real = real!("poll", PollFn);
    if !is_associated() || timeout == 0 {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(fds, nfds, timeout) };
    }
    // SAFETY: as above, without waiting.
    let now = unsafe { real(fds, nfds, 0) };
    if now != 0 {
        return now;
    }
    // SAFETY: as above.
    section(|| unsafe { real(fds, nfds, timeout) })
}

/// `select`: a wait unless the timeout is zero.
///
/// # Safety
/// As for the C library's `select`.
#[no_mangle]
pub unsafe extern "C-unwind" fn select(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    let real = real!("select", SelectFn);
    // SAFETY: `timeout` as the caller passed it (valid or NULL).
    let zero = !timeout.is_null() && unsafe { (*timeout).tv_sec == 0 && (*timeout).tv_usec == 0 };
    if !is_associated() || zero {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real(nfds, readfds, writefds, exceptfds, timeout) };
    }
    // SAFETY: as above.
    section(|| unsafe { real(nfds, readfds, writefds, exceptfds, timeout) })
}
