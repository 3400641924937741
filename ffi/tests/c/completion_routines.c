/* Completion routines: WSARecv / WSASend with lpCompletionRoutine and
 * ReadFileEx / WriteFileEx run overlapped, and their routine runs as an APC
 * on the issuing thread only at its next alertable wait (SleepEx,
 * WSAWaitForMultipleEvents, GetQueuedCompletionStatusEx with fAlertable),
 * which then returns WAIT_IO_COMPLETION; the routine gets the error, the
 * byte count and the OVERLAPPED; an operation that completes at once still
 * reports through its routine; a cancelled one gets ERROR_OPERATION_ABORTED;
 * no packet reaches a port. An APC queued while the thread waits wakes it.
 * A routine or APC for a thread that has exited runs nowhere, and
 * QueueUserAPC to it fails with ERROR_GEN_FAILURE. */
#include "net.h"
#include <stdio.h>
#include <string.h>

static struct {
    volatile LONG calls;
    DWORD err, bytes, flags, tid;
    void *ov;
} seen;

static void reset_seen(void) { memset((void *)&seen, 0, sizeof seen); }

static void CALLBACK on_wsa(DWORD err, DWORD bytes, LPWSAOVERLAPPED ov, DWORD flags) {
    seen.calls++;
    seen.err = err;
    seen.bytes = bytes;
    seen.flags = flags;
    seen.tid = GetCurrentThreadId();
    seen.ov = ov;
}

static void CALLBACK on_file(DWORD err, DWORD bytes, LPOVERLAPPED ov) {
    seen.calls++;
    seen.err = err;
    seen.bytes = bytes;
    seen.tid = GetCurrentThreadId();
    seen.ov = ov;
}

/* Sends `n` bytes on a socket after 100 ms, from another thread. */
static SOCKET late_sock;
static DWORD WINAPI late_send(LPVOID arg) {
    (void)arg;
    Sleep(100);
    CHECK_EQ(send(late_sock, "late", 4, 0), 4);
    return 0;
}

#ifndef _WIN32
DWORD cport_debug_queued_apcs(void);
#endif

/* A thread that issues a receive with a routine on `exit_sock` and exits
 * without an alertable wait. */
static SOCKET exit_sock;
static WSAOVERLAPPED exit_ov;
static char exit_buf[16];
static DWORD WINAPI issue_and_exit(LPVOID arg) {
    (void)arg;
    WSABUF b = {sizeof exit_buf, exit_buf};
    DWORD flags = 0;
    memset(&exit_ov, 0, sizeof exit_ov);
    CHECK_EQ(WSARecv(exit_sock, &b, 1, NULL, &flags, &exit_ov, on_wsa), SOCKET_ERROR);
    CHECK_ERR(WSA_IO_PENDING);
    return 0;
}

/* A thread whose alertable wait must find nothing to run: its SleepEx's
 * result is its exit code. */
static DWORD WINAPI alertable_idle(LPVOID arg) {
    (void)arg;
    return SleepEx(100, TRUE);
}

/* A thread that waits, not alertably, for `go` and exits. */
static HANDLE go;
static DWORD WINAPI wait_for_go(LPVOID arg) {
    (void)arg;
    CHECK_EQ(WaitForSingleObject(go, 5000), WAIT_OBJECT_0);
    return 0;
}

static volatile LONG user_apcs;
static void CALLBACK count_apc(ULONG_PTR arg) {
    (void)arg;
    user_apcs++;
}

/* A receive with a routine on `s`, pending (no data yet). */
static void recv_pending(SOCKET s, WSAOVERLAPPED *ov, char *buf, DWORD len) {
    WSABUF b = {len, buf};
    DWORD flags = 0;
    memset(ov, 0, sizeof *ov);
    CHECK_EQ(WSARecv(s, &b, 1, NULL, &flags, ov, on_wsa), SOCKET_ERROR);
    CHECK_ERR(WSA_IO_PENDING);
}

int main(void) {
    wsa_start();
    DWORD me = GetCurrentThreadId();
    SOCKET c, s;
    tcp_pair(&c, &s);
    char buf[64];
    WSAOVERLAPPED ov;

    /* A pending receive: the routine waits for an alertable wait. */
    reset_seen();
    memset(buf, 0, sizeof buf);
    recv_pending(s, &ov, buf, sizeof buf);
    CHECK_EQ(send(c, "hello", 5, 0), 5);
    Sleep(100);
    CHECK_EQ(seen.calls, 0);
    CHECK_EQ(SleepEx(0, FALSE), 0);
    CHECK_EQ(seen.calls, 0);
    /* The OVERLAPPED was written when the receive completed. */
    CHECK_EQ(ov.Internal, 0);
    CHECK_EQ(ov.InternalHigh, 5);
    CHECK_EQ(SleepEx(5000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.err, 0);
    CHECK_EQ(seen.bytes, 5);
    CHECK_EQ(seen.flags, 0);
    CHECK_EQ(seen.tid, me);
    CHECK(seen.ov == &ov);
    CHECK(memcmp(buf, "hello", 5) == 0);
    /* Nothing more queued: an alertable sleep runs out. */
    CHECK_EQ(SleepEx(20, TRUE), 0);
    CHECK_EQ(seen.calls, 1);

    /* Data already there: the call may complete at once (0) or go pending;
     * either way the routine reports it, at the alertable wait. */
    reset_seen();
    CHECK_EQ(send(c, "abc", 3, 0), 3);
    Sleep(50);
    {
        WSABUF b = {sizeof buf, buf};
        DWORD flags = 0;
        memset(&ov, 0, sizeof ov);
        int r = WSARecv(s, &b, 1, NULL, &flags, &ov, on_wsa);
        CHECK(r == 0 || WSAGetLastError() == WSA_IO_PENDING);
    }
    CHECK_EQ(seen.calls, 0);
    CHECK_EQ(SleepEx(5000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.bytes, 3);
    CHECK(seen.ov == &ov);

    /* WSASend with a routine. */
    reset_seen();
    {
        WSABUF b = {3, (char *)"xyz"};
        memset(&ov, 0, sizeof ov);
        int r = WSASend(s, &b, 1, NULL, 0, &ov, on_wsa);
        CHECK(r == 0 || WSAGetLastError() == WSA_IO_PENDING);
    }
    CHECK_EQ(seen.calls, 0);
    CHECK_EQ(SleepEx(5000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.err, 0);
    CHECK_EQ(seen.bytes, 3);
    CHECK_EQ(seen.tid, me);
    CHECK_EQ(recv(c, buf, sizeof buf, 0), 3);
    CHECK(memcmp(buf, "xyz", 3) == 0);

    /* A cancelled receive: its routine gets WSA_OPERATION_ABORTED (995). */
    reset_seen();
    recv_pending(s, &ov, buf, sizeof buf);
    CHECK(CancelIoEx((HANDLE)s, &ov));
    CHECK_EQ(SleepEx(5000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.err, WSA_OPERATION_ABORTED);
    CHECK_EQ(seen.bytes, 0);
    CHECK(seen.ov == &ov);

    /* WSAWaitForMultipleEvents, alertable: a routine queued while it waits
     * ends the wait with WSA_WAIT_IO_COMPLETION; the event is not set. */
    reset_seen();
    WSAEVENT ev = WSACreateEvent();
    CHECK(ev != WSA_INVALID_EVENT);
    recv_pending(s, &ov, buf, sizeof buf);
    late_sock = c;
    HANDLE t = CreateThread(NULL, 0, late_send, NULL, 0, NULL);
    CHECK(t != NULL);
    CHECK_EQ(WSAWaitForMultipleEvents(1, &ev, FALSE, 5000, TRUE), WSA_WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.bytes, 4);
    CHECK_EQ(seen.tid, me);
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CloseHandle(t);
    /* Not alertable: the event wait times out. */
    CHECK_EQ(WSAWaitForMultipleEvents(1, &ev, FALSE, 20, FALSE), WSA_WAIT_TIMEOUT);

    /* GetQueuedCompletionStatusEx, alertable: FALSE + WAIT_IO_COMPLETION. */
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    CHECK(port != NULL);
    OVERLAPPED_ENTRY entries[2];
    ULONG n = 99;
    reset_seen();
    recv_pending(s, &ov, buf, sizeof buf);
    t = CreateThread(NULL, 0, late_send, NULL, 0, NULL);
    CHECK(t != NULL);
    /* Not alertable: the completion does not end the wait. */
    CHECK(!GetQueuedCompletionStatusEx(port, entries, 2, &n, 300, FALSE));
    CHECK_ERR(WAIT_TIMEOUT);
    CHECK_EQ(seen.calls, 0);
    n = 99;
    CHECK(!GetQueuedCompletionStatusEx(port, entries, 2, &n, 5000, TRUE));
    CHECK_ERR(WAIT_IO_COMPLETION);
    CHECK_EQ(n, 0);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.bytes, 4);
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CloseHandle(t);
    /* A routine queued while GQCSEx waits wakes it. */
    reset_seen();
    recv_pending(s, &ov, buf, sizeof buf);
    t = CreateThread(NULL, 0, late_send, NULL, 0, NULL);
    CHECK(t != NULL);
    n = 99;
    CHECK(!GetQueuedCompletionStatusEx(port, entries, 2, &n, 5000, TRUE));
    CHECK_ERR(WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CloseHandle(t);

    /* ReadFileEx / WriteFileEx at offsets. */
    char path[64];
    snprintf(path, sizeof path, "cport_compl_%lu.tmp", (unsigned long)GetCurrentProcessId());
    HANDLE f = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
    CHECK(f != INVALID_HANDLE_VALUE);
    OVERLAPPED fov;
    reset_seen();
    memset(&fov, 0, sizeof fov);
    CHECK(WriteFileEx(f, "0123456789", 10, &fov, on_file));
    CHECK_EQ(SleepEx(5000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.err, 0);
    CHECK_EQ(seen.bytes, 10);
    CHECK_EQ(seen.tid, me);
    CHECK(seen.ov == &fov);
    reset_seen();
    memset(&fov, 0, sizeof fov);
    fov.Offset = 4;
    CHECK(WriteFileEx(f, "AB", 2, &fov, on_file));
    CHECK_EQ(SleepEx(5000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.bytes, 2);
    reset_seen();
    memset(&fov, 0, sizeof fov);
    memset(buf, 0, sizeof buf);
    fov.Offset = 2;
    CHECK(ReadFileEx(f, buf, 6, &fov, on_file));
    CHECK_EQ(SleepEx(5000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.err, 0);
    CHECK_EQ(seen.bytes, 6);
    CHECK(seen.ov == &fov);
    CHECK(memcmp(buf, "23AB67", 6) == 0);
    CHECK_EQ(fov.InternalHigh, 6);
    /* No routine: ERROR_INVALID_PARAMETER. */
    CHECK(!ReadFileEx(f, buf, 6, &fov, NULL));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CloseHandle(f);
    CHECK_EQ(remove(path), 0);

    /* A socket associated with a port: the routine, not a packet, reports
     * the receive. */
    CHECK(CreateIoCompletionPort((HANDLE)s, port, 7, 0) == port);
    reset_seen();
    recv_pending(s, &ov, buf, sizeof buf);
    CHECK_EQ(send(c, "q", 1, 0), 1);
    CHECK_EQ(SleepEx(5000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(seen.calls, 1);
    CHECK_EQ(seen.bytes, 1);
    n = 99;
    CHECK(!GetQueuedCompletionStatusEx(port, entries, 2, &n, 100, FALSE));
    CHECK_ERR(WAIT_TIMEOUT);

    /* A thread issues a receive with a routine and exits; then the data
     * arrives and the operation ends. Its routine runs nowhere: not in a new
     * thread's alertable wait, not in this thread's. */
    SOCKET c2, s2;
    tcp_pair(&c2, &s2);
    exit_sock = s2;
    reset_seen();
    HANDLE th = CreateThread(NULL, 0, issue_and_exit, NULL, 0, NULL);
    CHECK(th != NULL);
    CHECK_EQ(WaitForSingleObject(th, 5000), WAIT_OBJECT_0);
    CHECK_EQ(send(c2, "orphan", 6, 0), 6);
    /* cport: the data completes it (thread exit cancels nothing); Windows
     * cancels it when the thread exits. */
    for (int i = 0; i < 500 && !HasOverlappedIoCompleted(&exit_ov); i++) Sleep(10);
    CHECK(HasOverlappedIoCompleted(&exit_ov));
    HANDLE idle = CreateThread(NULL, 0, alertable_idle, NULL, 0, NULL);
    CHECK(idle != NULL);
    CHECK_EQ(WaitForSingleObject(idle, 5000), WAIT_OBJECT_0);
    DWORD code = 99;
    CHECK(GetExitCodeThread(idle, &code));
    CHECK_EQ(code, 0);
    CHECK_EQ(SleepEx(0, TRUE), 0);
    CHECK_EQ(seen.calls, 0);
    /* QueueUserAPC to the exited thread fails. */
    CHECK(!QueueUserAPC(count_apc, th, 1));
    CHECK_ERR(ERROR_GEN_FAILURE);
    CloseHandle(th);
    CloseHandle(idle);

    /* An APC queued to a thread that exits without an alertable wait is
     * dropped with it. */
    go = CreateEvent(NULL, TRUE, FALSE, NULL);
    th = CreateThread(NULL, 0, wait_for_go, NULL, 0, NULL);
    CHECK(th != NULL);
    CHECK(QueueUserAPC(count_apc, th, 1));
    CHECK(SetEvent(go));
    CHECK_EQ(WaitForSingleObject(th, 5000), WAIT_OBJECT_0);
    CHECK_EQ(user_apcs, 0);
#ifndef _WIN32
    /* Nothing of either thread stays queued. */
    CHECK_EQ(cport_debug_queued_apcs(), 0);
#endif
    CloseHandle(th);
    CloseHandle(go);
    closesocket(c2);
    closesocket(s2);

    CloseHandle(port);
    WSACloseEvent(ev);
    closesocket(c);
    closesocket(s);
    WSACleanup();
    printf("completion_routines: ok\n");
    return 0;
}
