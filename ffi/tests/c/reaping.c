/* Who reaps completions when no thread waits in GetQueuedCompletionStatus
 * (docs/semantics.md, "C ABI"): a handle associated with a port runs its
 * operations on that port, and a thread that waits for an event, an
 * OVERLAPPED or a Sleep reaps them; a handle never associated runs on the
 * engine port, whose reaper thread starts with its first operation. Also:
 * the process has no thread but its own until then. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <dirent.h>
#include <pthread.h>
#include <sys/resource.h>
#include <string.h>
#include "net.h"

/* Threads of this process (/proc/self/task). */
static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') n++;
    }
    closedir(d);
    return n;
}

/* Voluntary context switches of the calling thread so far. */
static long switches(void) {
    struct rusage u;
    CHECK_EQ(getrusage(RUSAGE_THREAD, &u), 0);
    return u.ru_nvcsw;
}

int main(void) {
    wsa_start();
    CHECK_EQ(thread_count(), 1);
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    CHECK(port != NULL);
    SOCKET c, s;
    tcp_pair(&c, &s);
    CHECK(CreateIoCompletionPort((HANDLE)s, port, 7, 0) == port);
    char buf[64];
    OVERLAPPED ov;
    DWORD n = 0, flags = 0;

    /* 1. An event with the low bit set (no packet); nobody in GQCS: the
     * thread in WaitForSingleObject reaps. */
    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    wsarecv_pending(s, &ov, (HANDLE)((ULONG_PTR)ev | 1), buf, sizeof buf);
    send_all_sync(c, "one", 3);
    CHECK_EQ(WaitForSingleObject(ev, 5000), WAIT_OBJECT_0);
    CHECK(WSAGetOverlappedResult(s, &ov, &n, FALSE, &flags));
    CHECK_EQ(n, 3);
    CHECK(memcmp(buf, "one", 3) == 0);
    EXPECT_NO_PACKET(port, 0);

    /* 2. No event; the data comes while the thread is in GetOverlappedResult
     * with wait: it reaps, and the packet is queued for the port. */
    wsarecv_pending(s, &ov, NULL, buf, sizeof buf);
    struct later two = {.ms = 50, .sock = c, .text = "two!"};
    later_start(&two);
    CHECK(GetOverlappedResult((HANDLE)s, &ov, &n, TRUE));
    CHECK_EQ(n, 4);
    CHECK(memcmp(buf, "two!", 4) == 0);
    later_join(&two);
    EXPECT_PACKET(port, 7, &ov, 4, TRUE, 0);

    /* 3. WSAWaitForMultipleEvents on the operation's event reaps. */
    WSAEVENT wev = WSACreateEvent();
    wsarecv_pending(s, &ov, wev, buf, sizeof buf);
    struct later three = {.ms = 50, .sock = c, .text = "three"};
    later_start(&three);
    CHECK_EQ(WSAWaitForMultipleEvents(1, &wev, TRUE, 5000, FALSE), WSA_WAIT_EVENT_0);
    later_join(&three);
    CHECK(WSAGetOverlappedResult(s, &ov, &n, FALSE, &flags));
    CHECK_EQ(n, 5);
    EXPECT_PACKET(port, 7, &ov, 5, TRUE, 0);

    /* 4. The shutdown idiom: cancel, then poll HasOverlappedIoCompleted in
     * a Sleep(0) loop; Sleep reaps the cancellation. */
    wsarecv_pending(s, &ov, NULL, buf, sizeof buf);
    CHECK(CancelIoEx((HANDLE)s, &ov));
    long long t0 = now_ms();
    while (!HasOverlappedIoCompleted(&ov)) {
        CHECK(now_ms() - t0 < 5000);
        Sleep(0);
    }
    CHECK_EQ(ov.Internal, STATUS_CANCELLED);
    EXPECT_PACKET(port, 7, &ov, 0, FALSE, ERROR_OPERATION_ABORTED);

    /* 4b. A thread waits for an event another thread sets while a receive
     * is pending on a port nobody waits on: it polls the port meanwhile,
     * and the SetEvent interrupts that poll — it does not poll in short
     * turns to look at the event (5 ms turns made ~40 wake-ups here). */
    wsarecv_pending(s, &ov, NULL, buf, sizeof buf);
    HANDLE ev2 = CreateEventA(NULL, TRUE, FALSE, NULL);
    struct later set = {.ms = 200, .event = ev2};
    later_start(&set);
    long before = switches();
    CHECK_EQ(WaitForSingleObject(ev2, 5000), WAIT_OBJECT_0);
    long woke = switches() - before;
    later_join(&set);
    CHECK(woke <= 10);
    CHECK(CancelIoEx((HANDLE)s, &ov));
    CHECK(GetOverlappedResult((HANDLE)s, &ov, &n, TRUE) == FALSE);
    CHECK_ERR(ERROR_OPERATION_ABORTED);
    EXPECT_PACKET(port, 7, &ov, 0, FALSE, ERROR_OPERATION_ABORTED);
    CloseHandle(ev2);

    /* No thread so far but this one: the port's own waiters (none here)
     * and the waiting calls above reaped everything. */
    CHECK_EQ(thread_count(), 1);

    /* 5. The port is closed with a receive pending: the completion is still
     * published to the OVERLAPPED (its packet is dropped). */
    wsarecv_pending(s, &ov, NULL, buf, sizeof buf);
    CHECK(CloseHandle(port));
    struct later five = {.ms = 50, .sock = c, .text = "five5"};
    later_start(&five);
    CHECK(GetOverlappedResult((HANDLE)s, &ov, &n, TRUE));
    CHECK_EQ(n, 5);
    later_join(&five);
    CHECK_EQ(thread_count(), 1);

    /* 6. A socket never associated with a port: event-based I/O runs on the
     * engine port, whose reaper thread starts with the first operation. */
    SOCKET c2, s2;
    tcp_pair(&c2, &s2);
    wsarecv_pending(s2, &ov, ev, buf, sizeof buf);
    send_all_sync(c2, "six", 3);
    CHECK_EQ(WaitForSingleObject(ev, 5000), WAIT_OBJECT_0);
    CHECK(GetOverlappedResult((HANDLE)s2, &ov, &n, FALSE));
    CHECK_EQ(n, 3);
    CHECK_EQ(thread_count(), 2);

    closesocket(c);
    closesocket(s);
    closesocket(c2);
    closesocket(s2);
    CloseHandle(ev);
    WSACloseEvent(wev);
    WSACleanup();
    printf("reaping: ok\n");
    return 0;
}
