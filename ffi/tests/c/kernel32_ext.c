/* The kernel32 / Winsock calls beyond the completion port that IOCP
 * libraries such as Asio make: waitable timers, thread-pool waits, APCs,
 * select with Windows' fd_set, module lookup, version checks, address
 * strings, BCryptGenRandom, serial ports on termios, named pipes (refused),
 * _snwprintf. */
#define _GNU_SOURCE 1 /* posix_openpt & co */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <bcrypt.h>
#include <process.h>
#include "net.h"

/* ---- waitable timers ---- */
static void test_waitable_timers(void) {
    /* A synchronization timer, 50 ms relative: not before, signalled after,
     * consumed by the wait. */
    HANDLE t = CreateWaitableTimerA(NULL, FALSE, NULL);
    CHECK(t != NULL);
    CHECK_EQ(WaitForSingleObject(t, 0), WAIT_TIMEOUT); /* never set: not signalled */
    LARGE_INTEGER due;
    due.QuadPart = -50 * 10000LL;
    long long start = now_ms();
    CHECK(SetWaitableTimer(t, &due, 0, NULL, NULL, FALSE));
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    long long took = now_ms() - start;
    CHECK(took >= 45);
    CHECK(took < 2000);
    CHECK_EQ(WaitForSingleObject(t, 100), WAIT_TIMEOUT); /* auto-reset, not periodic */

    /* Periodic: 20 ms, fires again and again. */
    due.QuadPart = -1;
    CHECK(SetWaitableTimer(t, &due, 20, NULL, NULL, FALSE));
    start = now_ms();
    for (int i = 0; i < 5; i++)
        CHECK_EQ(WaitForSingleObject(t, 2000), WAIT_OBJECT_0);
    took = now_ms() - start;
    CHECK(took >= 70);
    /* Cancelled: no more signals. */
    CHECK(CancelWaitableTimer(t));
    (void)WaitForSingleObject(t, 0); /* one may have fired just before */
    CHECK_EQ(WaitForSingleObject(t, 100), WAIT_TIMEOUT);

    /* A completion routine is not supported; a bad handle is refused. */
    due.QuadPart = -1;
    CHECK(!SetWaitableTimer(t, &due, 0, (PTIMERAPCROUTINE)1, NULL, FALSE));
    CHECK_ERR(ERROR_NOT_SUPPORTED);
    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(!SetWaitableTimer(ev, &due, 0, NULL, NULL, FALSE)); /* an event, not a timer */
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(ev));
    CHECK(CloseHandle(t));
    CHECK(!SetWaitableTimer(t, &due, 0, NULL, NULL, FALSE)); /* closed */
    CHECK_ERR(ERROR_INVALID_HANDLE);

    /* A manual-reset timer with an absolute due time in the past (FILETIME 1):
     * signalled at once and stays signalled; SetWaitableTimer resets it. */
    HANDLE m = CreateWaitableTimerExW(NULL, NULL, CREATE_WAITABLE_TIMER_MANUAL_RESET, TIMER_ALL_ACCESS);
    CHECK(m != NULL);
    due.QuadPart = 1;
    CHECK(SetWaitableTimer(m, &due, 0, NULL, NULL, FALSE));
    CHECK_EQ(WaitForSingleObject(m, 2000), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(m, 0), WAIT_OBJECT_0);
    due.QuadPart = -10000LL * 10000; /* 10 s */
    CHECK(SetWaitableTimer(m, &due, 0, NULL, NULL, FALSE));
    CHECK_EQ(WaitForSingleObject(m, 0), WAIT_TIMEOUT);
    CHECK(CloseHandle(m));
}

/* ---- thread-pool waits ---- */
static volatile LONG wait_calls;
static volatile LONG wait_timeouts;
static HANDLE callback_running;
static HANDLE callback_release;

static VOID CALLBACK on_wait(PVOID ctx, BOOLEAN timed_out) {
    CHECK_EQ((uintptr_t)ctx, 42);
    if (timed_out)
        InterlockedIncrement(&wait_timeouts);
    else
        InterlockedIncrement(&wait_calls);
}

/* Signals that it runs, waits to be released, then counts in *ctx. */
static VOID CALLBACK slow_wait(PVOID ctx, BOOLEAN timed_out) {
    (void)timed_out;
    SetEvent(callback_running);
    WaitForSingleObject(callback_release, 5000);
    Sleep(20); /* so that an unregister that does not wait would see 0 */
    InterlockedIncrement((volatile LONG *)ctx);
}

static void wait_until_count(volatile LONG *v, LONG want) {
    long long end = now_ms() + 5000;
    while (*v < want && now_ms() < end)
        Sleep(1);
    CHECK_EQ(*v, want);
}

static void test_register_wait(void) {
    HANDLE ev = CreateEventA(NULL, FALSE, FALSE, NULL);
    HANDLE w = NULL;
    /* Once: one call per registration even if the event is set again. */
    CHECK(RegisterWaitForSingleObject(&w, ev, on_wait, (PVOID)42, INFINITE, WT_EXECUTEONLYONCE));
    CHECK(w != NULL);
    Sleep(20);
    CHECK_EQ(wait_calls, 0);
    CHECK(SetEvent(ev));
    wait_until_count(&wait_calls, 1);
    CHECK(SetEvent(ev));
    Sleep(50);
    CHECK_EQ(wait_calls, 1);
    CHECK(UnregisterWaitEx(w, INVALID_HANDLE_VALUE));
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_OBJECT_0); /* nobody consumed the second set */

    /* Repeating: every set calls it; a timeout calls it with TRUE. */
    wait_calls = 0;
    CHECK(RegisterWaitForSingleObject(&w, ev, on_wait, (PVOID)42, INFINITE, WT_EXECUTEDEFAULT));
    for (int i = 1; i <= 3; i++) {
        CHECK(SetEvent(ev));
        wait_until_count(&wait_calls, i);
    }
    CHECK(UnregisterWait(w));
    CHECK(!UnregisterWait(w)); /* gone */
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(RegisterWaitForSingleObject(&w, ev, on_wait, (PVOID)42, 30, WT_EXECUTEONLYONCE));
    wait_until_count(&wait_timeouts, 1);
    CHECK(UnregisterWaitEx(w, NULL));

    /* UnregisterWaitEx(INVALID_HANDLE_VALUE) waits for a running callback;
     * UnregisterWaitEx(NULL) says ERROR_IO_PENDING while it runs. */
    callback_running = CreateEventA(NULL, TRUE, FALSE, NULL);
    callback_release = CreateEventA(NULL, TRUE, FALSE, NULL);
    static volatile LONG first_done, second_done;
    CHECK(RegisterWaitForSingleObject(&w, ev, slow_wait, (PVOID)&first_done, INFINITE, WT_EXECUTEONLYONCE));
    CHECK(SetEvent(ev));
    CHECK_EQ(WaitForSingleObject(callback_running, 5000), WAIT_OBJECT_0);
    CHECK(!UnregisterWaitEx(w, NULL));
    CHECK_ERR(ERROR_IO_PENDING);
    HANDLE w2 = NULL;
    CHECK(RegisterWaitForSingleObject(&w2, ev, slow_wait, (PVOID)&second_done, INFINITE, WT_EXECUTEONLYONCE));
    CHECK(ResetEvent(callback_running));
    CHECK(SetEvent(ev));
    CHECK_EQ(WaitForSingleObject(callback_running, 5000), WAIT_OBJECT_0);
    CHECK(SetEvent(callback_release));
    CHECK(UnregisterWaitEx(w2, INVALID_HANDLE_VALUE)); /* returns after the callback */
    CHECK_EQ(second_done, 1);
    wait_until_count(&first_done, 1);

    /* A bad object or callback is refused. */
    CHECK(!RegisterWaitForSingleObject(&w, (HANDLE)(uintptr_t)0x1234, on_wait, NULL, INFINITE, 0));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!RegisterWaitForSingleObject(&w, ev, NULL, NULL, INFINITE, 0));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(CloseHandle(callback_running));
    CHECK(CloseHandle(callback_release));
    CHECK(CloseHandle(ev));
}

/* ---- APCs ---- */
static volatile LONG apc_sum;
static VOID WINAPI add_apc(ULONG_PTR v) { InterlockedExchangeAdd(&apc_sum, (LONG)v); }

static unsigned __stdcall sleeper(void *arg) {
    (void)arg;
    /* Wakes for the APC queued while it sleeps; runs it on this thread. */
    DWORD r = SleepEx(INFINITE, TRUE);
    return r == WAIT_IO_COMPLETION ? 7 : 1;
}

/* An alertable wait on an event that is never set: ended by an APC. */
static HANDLE never_set;
static volatile DWORD apc_ran_on;
static VOID WINAPI note_apc(ULONG_PTR v) {
    (void)v;
    apc_ran_on = GetCurrentThreadId();
}
static unsigned __stdcall object_waiter(void *arg) {
    (void)arg;
    DWORD r = WaitForSingleObjectEx(never_set, INFINITE, TRUE);
    return r == WAIT_IO_COMPLETION ? 7 : 1;
}

/* The voluntary context switches of thread `tid` so far (its wake-ups). */
static long wakeups_of(unsigned tid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%u/status", tid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    long n = -1, v;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1) n = v;
    }
    fclose(f);
    return n;
}

/* Starts `waiter` (a thread that waits alertably and returns 7 once its
 * wait ended with WAIT_IO_COMPLETION) and checks that it sleeps: at most
 * `most` wake-ups in 300 ms with nothing queued; then that an APC ends the
 * wait, running on that thread. */
static void check_alertable_wait_sleeps(const char *what, unsigned(__stdcall *waiter)(void *),
                                        long most) {
    unsigned tid = 0;
    HANDLE th = (HANDLE)_beginthreadex(NULL, 0, waiter, NULL, 0, &tid);
    CHECK(th != NULL);
    Sleep(50); /* it is waiting */
    long before = wakeups_of(tid);
    Sleep(300);
    long after = wakeups_of(tid);
    if (after - before > most) {
        fprintf(stderr, "the alertable %s woke up %ld times with nothing queued\n", what,
                after - before);
        exit(1);
    }
    CHECK_EQ(WaitForSingleObject(th, 0), WAIT_TIMEOUT);
    apc_ran_on = 0;
    CHECK(QueueUserAPC(note_apc, th, 0));
    CHECK_EQ(WaitForSingleObject(th, 5000), WAIT_OBJECT_0);
    DWORD code = 0;
    CHECK(GetExitCodeThread(th, &code));
    CHECK_EQ(code, 7);
    CHECK_EQ(apc_ran_on, tid);
    CHECK(CloseHandle(th));
}

/* An alertable object wait sleeps until an APC comes (it does not look for
 * APCs in time slices: every 10 ms would be 30 wake-ups). */
static void test_alertable_object_wait_sleeps(void) {
    never_set = CreateEventA(NULL, TRUE, FALSE, NULL);
    check_alertable_wait_sleeps("object wait", object_waiter, 1);
    CHECK(CloseHandle(never_set));
}

/* The same for an alertable GetQueuedCompletionStatusEx: it waits in the
 * port, and an APC queued to its thread interrupts that wait (it used to
 * look for APCs every 10 ms: 30 wake-ups in 300 ms; a 100 ms backstop
 * remains). */
static HANDLE empty_port;
static unsigned __stdcall port_waiter(void *arg) {
    (void)arg;
    OVERLAPPED_ENTRY e[2];
    ULONG n = 99;
    BOOL ok = GetQueuedCompletionStatusEx(empty_port, e, 2, &n, INFINITE, TRUE);
    return !ok && GetLastError() == WAIT_IO_COMPLETION && n == 0 ? 7 : 1;
}

static void test_alertable_port_wait_sleeps(void) {
    empty_port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    CHECK(empty_port != NULL);
    check_alertable_wait_sleeps("port wait", port_waiter, 5);
    CHECK(CloseHandle(empty_port));
}

static void test_apcs(void) {
    /* To this thread: only alertable waits run them, in order. */
    apc_sum = 0;
    CHECK(QueueUserAPC(add_apc, GetCurrentThread(), 1));
    CHECK(QueueUserAPC(add_apc, GetCurrentThread(), 10));
    CHECK_EQ(SleepEx(0, FALSE), 0);
    CHECK_EQ(apc_sum, 0);
    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK_EQ(WaitForSingleObjectEx(ev, 0, FALSE), WAIT_TIMEOUT);
    CHECK_EQ(apc_sum, 0);
    CHECK_EQ(WaitForSingleObjectEx(ev, 1000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(apc_sum, 11);
    CHECK_EQ(SleepEx(10, TRUE), 0); /* nothing queued: the full time */
    CHECK(SetEvent(ev));
    CHECK_EQ(WaitForMultipleObjectsEx(1, &ev, FALSE, 0, TRUE), WAIT_OBJECT_0);
    CHECK(CloseHandle(ev));

    /* To another thread (a _beginthreadex thread) sleeping alertably. */
    unsigned tid = 0;
    HANDLE th = (HANDLE)_beginthreadex(NULL, 0, sleeper, NULL, 0, &tid);
    CHECK(th != NULL);
    CHECK(tid != 0);
    Sleep(30);
    CHECK(QueueUserAPC(add_apc, th, 100));
    CHECK_EQ(WaitForSingleObject(th, 5000), WAIT_OBJECT_0);
    DWORD code = 0;
    CHECK(GetExitCodeThread(th, &code));
    CHECK_EQ(code, 7);
    CHECK_EQ(apc_sum, 111);
    CHECK(!QueueUserAPC(add_apc, th, 1)); /* it has exited */
    CHECK(!TerminateThread(th, 0));
    CHECK_ERR(ERROR_NOT_SUPPORTED);
    CHECK(CloseHandle(th));
    CHECK(!QueueUserAPC(add_apc, (HANDLE)(uintptr_t)0x1234, 1));
    CHECK_ERR(ERROR_INVALID_HANDLE);
}

/* ---- select ---- */
static void test_select(void) {
    SOCKET c, s;
    tcp_pair(&c, &s);
    fd_set r, w;
    struct timeval zero = {0, 0}, tenth = {0, 100000};
    /* Nothing to read yet: a timeout, the set emptied. */
    FD_ZERO(&r);
    FD_SET(s, &r);
    FD_SET(s, &r); /* a second FD_SET of the same socket adds nothing */
    CHECK_EQ(r.fd_count, 1);
    long long start = now_ms();
    CHECK_EQ(select(0, &r, NULL, NULL, &tenth), 0);
    CHECK(now_ms() - start >= 90);
    CHECK_EQ(r.fd_count, 0);
    /* Writable at once; readable once data arrives. */
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(s, &r);
    FD_SET(c, &w);
    CHECK_EQ(select(0, &r, &w, NULL, &zero), 1);
    CHECK(!FD_ISSET(s, &r));
    CHECK(FD_ISSET(c, &w));
    CHECK_EQ(send(c, "x", 1, 0), 1);
    FD_ZERO(&r);
    FD_SET(c, &r);
    FD_SET(s, &r);
    CHECK_EQ(select(0, &r, NULL, NULL, NULL), 1);
    CHECK_EQ(r.fd_count, 1);
    CHECK(FD_ISSET(s, &r));
    CHECK(!FD_ISSET(c, &r));
    FD_CLR(s, &r);
    CHECK_EQ(r.fd_count, 0);
    /* A listener is readable when a connection is pending. */
    struct sockaddr_in a;
    SOCKET l = tcp_listener(&a);
    SOCKET c2 = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c2, (struct sockaddr *)&a, sizeof a), 0);
    FD_ZERO(&r);
    FD_SET(l, &r);
    CHECK_EQ(select(0, &r, NULL, NULL, &tenth), 1);
    /* A failed non-blocking connect shows in exceptfds, not writefds. */
    CHECK_EQ(closesocket(l), 0);
    SOCKET c3 = socket(AF_INET, SOCK_STREAM, 0);
    u_long one = 1;
    CHECK_EQ(ioctlsocket(c3, FIONBIO, &one), 0);
    CHECK_EQ(connect(c3, (struct sockaddr *)&a, sizeof a), SOCKET_ERROR);
    CHECK_ERR(WSAEWOULDBLOCK);
    fd_set e;
    FD_ZERO(&w);
    FD_ZERO(&e);
    FD_SET(c3, &w);
    FD_SET(c3, &e);
    struct timeval two = {2, 0};
    CHECK_EQ(select(0, NULL, &w, &e, &two), 1);
    CHECK(FD_ISSET(c3, &e));
    CHECK(!FD_ISSET(c3, &w));
    /* SO_CONNECT_TIME: seconds connected, 0xFFFFFFFF before (Asio's
     * remote_endpoint() asks it of accepted sockets). */
    {
        DWORD secs = 7;
        int slen = sizeof secs;
        CHECK_EQ(getsockopt(s, SOL_SOCKET, SO_CONNECT_TIME, (char *)&secs, &slen), 0);
        CHECK_EQ(secs, 0);
        CHECK_EQ(slen, 4);
        CHECK_EQ(getsockopt(c, SOL_SOCKET, SO_CONNECT_TIME, (char *)&secs, &slen), 0);
        CHECK_EQ(secs, 0);
        SOCKET fresh = socket(AF_INET, SOCK_STREAM, 0);
        CHECK_EQ(getsockopt(fresh, SOL_SOCKET, SO_CONNECT_TIME, (char *)&secs, &slen), 0);
        CHECK_EQ(secs, 0xFFFFFFFF);
        CHECK_EQ(closesocket(fresh), 0);
    }
    /* SO_SNDBUF / SO_RCVBUF read back as set (Linux reports double). */
    {
        int size = 16384, got = 0, glen = sizeof got;
        CHECK_EQ(setsockopt(c, SOL_SOCKET, SO_SNDBUF, (char *)&size, sizeof size), 0);
        CHECK_EQ(getsockopt(c, SOL_SOCKET, SO_SNDBUF, (char *)&got, &glen), 0);
        CHECK_EQ(got, 16384);
        CHECK_EQ(setsockopt(c, SOL_SOCKET, SO_RCVBUF, (char *)&size, sizeof size), 0);
        CHECK_EQ(getsockopt(c, SOL_SOCKET, SO_RCVBUF, (char *)&got, &glen), 0);
        CHECK_EQ(got, 16384);
    }
    /* No sets at all, or something that is not a socket: errors. */
    CHECK_EQ(select(0, NULL, NULL, NULL, &zero), SOCKET_ERROR);
    CHECK_ERR(WSAEINVAL);
    FD_ZERO(&r);
    FD_SET((SOCKET)0x1234, &r);
    CHECK_EQ(select(0, &r, NULL, NULL, &zero), SOCKET_ERROR);
    CHECK_ERR(WSAENOTSOCK);
    CHECK_EQ(closesocket(c), 0);
    CHECK_EQ(closesocket(s), 0);
    CHECK_EQ(closesocket(c2), 0);
    CHECK_EQ(closesocket(c3), 0);
}

/* ---- module lookup and versions ---- */
typedef BOOL(WINAPI *cancel_io_ex_fn)(HANDLE, LPOVERLAPPED);
typedef LONG(WINAPI *nt_set_info_fn)(HANDLE, ULONG_PTR *, void *, ULONG, ULONG);

/* ntdll's NtSetInformationFile with FileReplaceCompletionInformation (61),
 * as Asio's release() calls it: an operation's packet goes to the port the
 * handle is associated with when it completes; with no port, none is
 * queued (the OVERLAPPED is still written). */
static void test_replace_completion_port(nt_set_info_fn set_info) {
    HANDLE a = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    HANDLE b = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    SOCKET c, s;
    tcp_pair(&c, &s);
    CHECK(CreateIoCompletionPort((HANDLE)s, a, 1, 0) == a);
    char buf[8];
    OVERLAPPED ov;
    wsarecv_pending(s, &ov, NULL, buf, sizeof buf);
    ULONG_PTR iosb[2] = {7, 7};
    void *info[2] = {b, (void *)2};
    CHECK_EQ(set_info((HANDLE)s, iosb, info, sizeof info, 61), 0);
    CHECK_EQ(iosb[0], 0);
    CHECK_EQ(iosb[1], 0);
    send_all_sync(c, "moved", 5);
    EXPECT_PACKET(b, 2, &ov, 5, TRUE, 0);
    EXPECT_NO_PACKET(a, 0);
    /* Removed: nothing is queued anywhere; the OVERLAPPED completes. */
    void *none[2] = {NULL, NULL};
    CHECK_EQ(set_info((HANDLE)s, iosb, none, sizeof none, 61), 0);
    wsarecv_pending(s, &ov, NULL, buf, sizeof buf);
    send_all_sync(c, "gone", 4);
    DWORD n = 0, flags = 0;
    CHECK(WSAGetOverlappedResult(s, &ov, &n, TRUE, &flags));
    CHECK_EQ(n, 4);
    EXPECT_NO_PACKET(a, 0);
    EXPECT_NO_PACKET(b, 0);
    /* Bad input: another class, a short buffer, a handle that is no
     * socket, a port value that is no port. */
    CHECK_EQ((ULONG)set_info((HANDLE)s, iosb, info, sizeof info, 4), (ULONG)STATUS_INVALID_INFO_CLASS);
    CHECK_EQ((ULONG)iosb[0], (ULONG)STATUS_INVALID_INFO_CLASS);
    CHECK_EQ((ULONG)set_info((HANDLE)s, iosb, info, 4, 61), (ULONG)STATUS_INFO_LENGTH_MISMATCH);
    CHECK_EQ((ULONG)set_info(a, iosb, info, sizeof info, 61), (ULONG)STATUS_INVALID_HANDLE);
    void *bad[2] = {(void *)(uintptr_t)0x1234, NULL};
    CHECK_EQ((ULONG)set_info((HANDLE)s, iosb, bad, sizeof bad, 61), (ULONG)STATUS_INVALID_HANDLE);
    CHECK_EQ(closesocket(c), 0);
    CHECK_EQ(closesocket(s), 0);
    CHECK(CloseHandle(a));
    CHECK(CloseHandle(b));
}

static void test_modules_and_versions(void) {
    HMODULE k = GetModuleHandleA("KERNEL32");
    CHECK(k != NULL);
    CHECK(GetModuleHandleA("kernel32.dll") == k);
    CHECK(GetModuleHandleW(L"Kernel32.DLL") == k);
    FARPROC p = GetProcAddress(k, "CancelIoEx");
    CHECK(p != NULL);
    CHECK((cancel_io_ex_fn)(void (*)(void))p == CancelIoEx);
    CHECK(GetProcAddress(k, "NoSuchFunction") == NULL);
    CHECK_ERR(ERROR_PROC_NOT_FOUND);
    HMODULE nt = GetModuleHandleA("NTDLL");
    CHECK(nt != NULL && nt != k);
    FARPROC set_info = GetProcAddress(nt, "NtSetInformationFile");
    CHECK(set_info != NULL);
    test_replace_completion_port((nt_set_info_fn)(void (*)(void))set_info);
    CHECK(GetProcAddress(nt, "NtFlushBuffersFileEx") == NULL); /* not provided: the caller's fallback */
    CHECK_ERR(ERROR_PROC_NOT_FOUND);
    CHECK(GetProcAddress(GetModuleHandleA("ws2_32"), "setsockopt") != NULL);
    CHECK(GetModuleHandleA("user32") == NULL);
    CHECK_ERR(ERROR_MOD_NOT_FOUND);
    CHECK(GetModuleHandleA(NULL) != NULL);
    CHECK(GetProcAddress((HMODULE)(uintptr_t)0x1234, "CancelIoEx") == NULL);
    CHECK_ERR(ERROR_INVALID_HANDLE);

    OSVERSIONINFOEXA v;
    memset(&v, 0, sizeof v);
    v.dwOSVersionInfoSize = sizeof v;
    v.dwMajorVersion = 6;
    ULONGLONG mask = VerSetConditionMask(0, VER_MAJORVERSION, VER_GREATER_EQUAL);
    CHECK(VerifyVersionInfoA(&v, VER_MAJORVERSION, mask));
    v.dwMajorVersion = 10;
    CHECK(!VerifyVersionInfoA(&v, VER_MAJORVERSION, mask));
    CHECK_ERR(ERROR_OLD_WIN_VERSION);
    /* 6.2 >= 6.1, compared as one number; 6.3 is not. */
    v.dwMajorVersion = 6;
    v.dwMinorVersion = 1;
    mask = VerSetConditionMask(VerSetConditionMask(0, VER_MAJORVERSION, VER_GREATER_EQUAL),
                               VER_MINORVERSION, VER_GREATER_EQUAL);
    CHECK(VerifyVersionInfoA(&v, VER_MAJORVERSION | VER_MINORVERSION, mask));
    v.dwMinorVersion = 3;
    CHECK(!VerifyVersionInfoA(&v, VER_MAJORVERSION | VER_MINORVERSION, mask));
    v.dwPlatformId = VER_PLATFORM_WIN32_NT;
    CHECK(VerifyVersionInfoA(&v, VER_PLATFORMID, VerSetConditionMask(0, VER_PLATFORMID, VER_EQUAL)));
    CHECK(!VerifyVersionInfoA(&v, 0, 0));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
}

/* ---- address strings, random numbers, named pipes, _snwprintf ---- */
static void test_strings_random_pipes(void) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char text[] = "10.0.0.7:8080";
    CHECK_EQ(WSAStringToAddressA(text, AF_INET, NULL, (LPSOCKADDR)&ss, &len), 0);
    CHECK_EQ(len, sizeof(struct sockaddr_in));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    CHECK_EQ(ntohs(in->sin_port), 8080);
    CHECK_EQ(ntohl(in->sin_addr.s_addr), 0x0a000007);
    char out[64];
    DWORD outlen = sizeof out;
    CHECK_EQ(WSAAddressToStringA((LPSOCKADDR)&ss, sizeof(struct sockaddr_in), NULL, out, &outlen), 0);
    CHECK(strcmp(out, "10.0.0.7:8080") == 0);
    CHECK_EQ(outlen, strlen("10.0.0.7:8080") + 1);
    outlen = 4; /* too small: the size needed */
    CHECK_EQ(WSAAddressToStringA((LPSOCKADDR)&ss, sizeof(struct sockaddr_in), NULL, out, &outlen), SOCKET_ERROR);
    CHECK_ERR(WSAEFAULT);
    CHECK_EQ(outlen, 14);
    char v6[] = "[fe80::1%4]:443";
    len = sizeof ss;
    CHECK_EQ(WSAStringToAddressA(v6, AF_INET6, NULL, (LPSOCKADDR)&ss, &len), 0);
    CHECK_EQ(((struct sockaddr_in6 *)&ss)->sin6_scope_id, 4);
    outlen = sizeof out;
    CHECK_EQ(WSAAddressToStringA((LPSOCKADDR)&ss, len, NULL, out, &outlen), 0);
    CHECK(strcmp(out, "[fe80::1%4]:443") == 0);
    char bad[] = "10.0.0.300";
    len = sizeof ss;
    CHECK_EQ(WSAStringToAddressA(bad, AF_INET, NULL, (LPSOCKADDR)&ss, &len), SOCKET_ERROR);
    CHECK_ERR(WSAEINVAL);

    unsigned char a[32], b[32];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    CHECK_EQ(BCryptGenRandom(NULL, a, sizeof a, BCRYPT_USE_SYSTEM_PREFERRED_RNG), 0);
    CHECK_EQ(BCryptGenRandom(NULL, b, sizeof b, BCRYPT_USE_SYSTEM_PREFERRED_RNG), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_EQ((DWORD)BCryptGenRandom(NULL, a, sizeof a, 0), STATUS_INVALID_HANDLE);

    HANDLE p = CreateNamedPipeW(L"\\\\.\\pipe\\cport-test", PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED,
                                0, 1, 8192, 8192, 0, NULL);
    CHECK(p == INVALID_HANDLE_VALUE);
    CHECK_ERR(ERROR_NOT_SUPPORTED);

    wchar_t w[16];
    CHECK_EQ(_snwprintf(w, 16, L"%u-%ld", 12u, -3L), 5);
    CHECK(wcscmp(w, L"12--3") == 0);
    CHECK_EQ(_snwprintf(w, 4, L"%s", "too long"), -1);
}

/* ---- serial ports ---- */
static void test_serial(void) {
    /* A file is not a communications device. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/cport-comm-%d", (int)getpid());
    HANDLE f = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                           FILE_FLAG_DELETE_ON_CLOSE, NULL);
    CHECK(f != INVALID_HANDLE_VALUE);
    DCB dcb;
    memset(&dcb, 0, sizeof dcb);
    dcb.DCBlength = sizeof dcb;
    CHECK(!GetCommState(f, &dcb));
    CHECK_ERR(ERROR_INVALID_FUNCTION);
    CHECK(CloseHandle(f));
    CHECK_EQ(sizeof(DCB), 28);

    /* A pseudo-terminal, opened through the device namespace as Asio does. */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    CHECK(master >= 0);
    CHECK(grantpt(master) == 0 && unlockpt(master) == 0);
    char name[128];
    snprintf(name, sizeof name, "\\\\.\\%s", ptsname(master));
    HANDLE t = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(t != INVALID_HANDLE_VALUE);
    CHECK(GetCommState(t, &dcb));
    CHECK(dcb.fBinary);
    dcb.BaudRate = CBR_57600;
    dcb.ByteSize = 8;
    dcb.Parity = NOPARITY;
    dcb.StopBits = TWOSTOPBITS;
    dcb.fOutX = TRUE;
    dcb.fInX = TRUE;
    dcb.fOutxCtsFlow = FALSE;
    dcb.fRtsControl = RTS_CONTROL_ENABLE;
    CHECK(SetCommState(t, &dcb));
    DCB back;
    memset(&back, 0, sizeof back);
    back.DCBlength = sizeof back;
    CHECK(GetCommState(t, &back));
    CHECK_EQ(back.BaudRate, 57600);
    CHECK_EQ(back.ByteSize, 8);
    CHECK_EQ(back.StopBits, TWOSTOPBITS);
    CHECK_EQ(back.Parity, NOPARITY);
    CHECK(back.fOutX && back.fInX);
    dcb.BaudRate = 12345; /* no such rate */
    CHECK(!SetCommState(t, &dcb));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    dcb.BaudRate = CBR_9600;
    dcb.StopBits = ONE5STOPBITS;
    CHECK(!SetCommState(t, &dcb));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    COMMTIMEOUTS ct = {MAXDWORD, 0, 0, 0, 0}, ct2;
    CHECK(SetCommTimeouts(t, &ct));
    CHECK(GetCommTimeouts(t, &ct2));
    CHECK_EQ(ct2.ReadIntervalTimeout, MAXDWORD);
    /* Bytes go through the terminal, raw. */
    DWORD n = 0;
    CHECK(WriteFile(t, "ab\n", 3, &n, NULL));
    CHECK_EQ(n, 3);
    char got[8];
    CHECK_EQ(read(master, got, sizeof got), 3);
    CHECK(memcmp(got, "ab\n", 3) == 0);
    CHECK(CloseHandle(t));

    /* Overlapped, on a port (as Asio's serial_port does): a terminal cannot
     * seek, so the OVERLAPPED's offset is ignored, as Windows does. */
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    HANDLE ot = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                            FILE_FLAG_OVERLAPPED, NULL);
    CHECK(ot != INVALID_HANDLE_VALUE);
    CHECK(CreateIoCompletionPort(ot, port, 9, 0) == port);
    CHECK(SetCommState(ot, &back));
    OVERLAPPED wov, rov;
    memset(&wov, 0, sizeof wov);
    memset(&rov, 0, sizeof rov);
    if (!WriteFile(ot, "xyz", 3, NULL, &wov))
        CHECK_ERR(ERROR_IO_PENDING);
    EXPECT_PACKET(port, 9, &wov, 3, TRUE, 0);
    CHECK_EQ(read(master, got, sizeof got), 3);
    CHECK(memcmp(got, "xyz", 3) == 0);
    /* A read of what has arrived (on epoll a terminal read runs on a file
     * worker, which cannot wait for data that is not there yet). */
    char rbuf[8];
    CHECK_EQ(write(master, "hi", 2), 2);
    Sleep(20);
    if (!ReadFile(ot, rbuf, sizeof rbuf, NULL, &rov))
        CHECK_ERR(ERROR_IO_PENDING);
    EXPECT_PACKET(port, 9, &rov, 2, TRUE, 0);
    CHECK(memcmp(rbuf, "hi", 2) == 0);
    CHECK(CloseHandle(ot));
    CHECK(CloseHandle(port));
    close(master);
    CHECK(CreateFileA("\\\\.\\COM200", GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL) == INVALID_HANDLE_VALUE);
    CHECK_ERR(ERROR_FILE_NOT_FOUND); /* /dev/ttyS199 */
}

int main(void) {
    wsa_start();
    test_waitable_timers();
    test_register_wait();
    test_apcs();
    test_alertable_object_wait_sleeps();
    test_alertable_port_wait_sleeps();
    test_select();
    test_modules_and_versions();
    test_strings_random_pipes();
    test_serial();
    CHECK_EQ(WSACleanup(), 0);
    printf("kernel32_ext: ok\n");
    return 0;
}
