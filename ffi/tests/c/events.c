/* Events and event-based completion without a port (the Overlap.c shape):
 * WSACreateEvent / CreateEvent, Set/Reset, WaitForSingleObject,
 * WaitForMultipleObjects, WSAWaitForMultipleEvents, WSAGetOverlappedResult and
 * GetOverlappedResult with and without wait (docs/semantics.md, "C ABI"). */
#include <pthread.h>
#include "net.h"

int main(void) {
    /* Events work before WSAStartup (the serverex sample relies on it). */
    WSAEVENT ev = WSACreateEvent();
    CHECK(ev != NULL);
    wsa_start();

    /* Manual reset, not signalled at first. */
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_TIMEOUT);
    CHECK_EQ(WSAWaitForMultipleEvents(1, &ev, FALSE, 0, FALSE), WSA_WAIT_TIMEOUT);
    /* More than WSA_MAXIMUM_WAIT_EVENTS (64): WSA_WAIT_FAILED. */
    {
        WSAEVENT many[65];
        for (int i = 0; i < 65; i++) many[i] = ev;
        CHECK_EQ(WSAWaitForMultipleEvents(65, many, FALSE, 0, FALSE), WSA_WAIT_FAILED);
        CHECK_ERR(WSA_INVALID_PARAMETER);
    }
    long long t0 = now_ms();
    CHECK_EQ(WSAWaitForMultipleEvents(1, &ev, FALSE, 60, FALSE), WSA_WAIT_TIMEOUT);
    CHECK(now_ms() - t0 >= 50);
    CHECK(WSASetEvent(ev));
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_OBJECT_0);
    CHECK(WSAResetEvent(ev));
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_TIMEOUT);

    /* Auto reset: one wait consumes the signal. */
    HANDLE ae = CreateEventA(NULL, FALSE, TRUE, NULL);
    CHECK(ae != NULL);
    CHECK_EQ(WaitForSingleObject(ae, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(ae, 0), WAIT_TIMEOUT);

    /* Wait-any: the lowest signalled index; wait-all: all or nothing. */
    HANDLE hs[3] = {CreateEventA(NULL, TRUE, FALSE, NULL), CreateEventA(NULL, TRUE, FALSE, NULL),
                    CreateEventA(NULL, TRUE, FALSE, NULL)};
    CHECK(SetEvent(hs[2]));
    CHECK(SetEvent(hs[1]));
    CHECK_EQ(WaitForMultipleObjects(3, hs, FALSE, 0), WAIT_OBJECT_0 + 1);
    CHECK_EQ(WaitForMultipleObjects(3, hs, TRUE, 0), WAIT_TIMEOUT);
    CHECK(SetEvent(hs[0]));
    CHECK_EQ(WaitForMultipleObjects(3, hs, TRUE, 0), WAIT_OBJECT_0);
    /* Bad input: no handles or too many (87), a non-event (6). */
    CHECK_EQ(WaitForMultipleObjects(0, hs, FALSE, 0), WAIT_FAILED);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK_EQ(WaitForMultipleObjects(65, hs, FALSE, 0), WAIT_FAILED);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    HANDLE bad[2] = {hs[0], (HANDLE)0x1000};
    CHECK_EQ(WaitForMultipleObjects(2, bad, FALSE, 0), WAIT_FAILED);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK_EQ(WaitForSingleObject(NULL, 0), WAIT_FAILED);
    CHECK_ERR(ERROR_INVALID_HANDLE);

    /* Another thread sets the event: an INFINITE wait returns. */
    HANDLE later_event = CreateEventA(NULL, FALSE, FALSE, NULL);
    struct later set = {.ms = 100, .event = later_event};
    later_start(&set);
    CHECK_EQ(WaitForSingleObject(later_event, INFINITE), WAIT_OBJECT_0);
    later_join(&set);

    /* Overlapped receives signalled through events, the socket associated
     * with no port. The event is reset when an operation starts. */
    SOCKET c, s;
    tcp_pair(&c, &s);
    char buf[32];
    WSABUF wb = {sizeof buf, buf};
    DWORD flags = 0, n = 0;
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    CHECK(WSASetEvent(ev));
    ov.hEvent = ev;
    int r = WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_TIMEOUT);
    CHECK(!WSAGetOverlappedResult(s, &ov, &n, FALSE, &flags));
    CHECK_EQ(WSAGetLastError(), WSA_IO_INCOMPLETE);
    CHECK(!GetOverlappedResult((HANDLE)s, &ov, &n, FALSE));
    CHECK_ERR(ERROR_IO_INCOMPLETE);
    send_all_sync(c, "abc", 3);
    WSAEVENT two[2] = {hs[1], ev};
    CHECK(ResetEvent(hs[1]));
    CHECK_EQ(WSAWaitForMultipleEvents(2, two, FALSE, 5000, FALSE), WSA_WAIT_EVENT_0 + 1);
    n = 0;
    CHECK(WSAGetOverlappedResult(s, &ov, &n, FALSE, &flags));
    CHECK_EQ(n, 3);
    CHECK_EQ(flags, 0);

    /* WSAGetOverlappedResult with fWait = TRUE waits for the completion. */
    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    r = WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    struct later send_later = {.ms = 100, .sock = c, .text = "later"};
    later_start(&send_later);
    n = 0;
    CHECK(WSAGetOverlappedResult(s, &ov, &n, TRUE, &flags));
    CHECK_EQ(n, 5);
    CHECK(memcmp(buf, "later", 5) == 0);
    later_join(&send_later);

    /* GetOverlappedResult with wait and no event (waits on the operation). */
    memset(&ov, 0, sizeof ov);
    r = WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    later_start(&send_later);
    n = 0;
    CHECK(GetOverlappedResult((HANDLE)s, &ov, &n, TRUE));
    CHECK_EQ(n, 5);
    later_join(&send_later);

    /* A failed operation through its event: the peer resets. */
    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    r = WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    struct linger lg = {1, 0};
    CHECK_EQ(setsockopt(c, SOL_SOCKET, SO_LINGER, (char *)&lg, sizeof lg), 0);
    CHECK_EQ(closesocket(c), 0);
    CHECK_EQ(WSAWaitForMultipleEvents(1, &ev, TRUE, 5000, FALSE), WSA_WAIT_EVENT_0);
    CHECK(!WSAGetOverlappedResult(s, &ov, &n, TRUE, &flags));
    CHECK_EQ(WSAGetLastError(), WSAECONNRESET);
    CHECK(!GetOverlappedResult((HANDLE)s, &ov, &n, TRUE));
    CHECK_ERR(ERROR_NETNAME_DELETED);

    CHECK_EQ(closesocket(s), 0);

    /* An invalid event in the OVERLAPPED: the call fails, nothing starts. */
    tcp_pair(&c, &s);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = (HANDLE)0x4000;
    CHECK_EQ(WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_INVALID_HANDLE);
    CHECK_EQ(closesocket(s), 0);
    CHECK_EQ(closesocket(c), 0);
    CHECK(WSACloseEvent(ev));
    CHECK(!WSACloseEvent(ev));
    CHECK_EQ(WSAGetLastError(), WSA_INVALID_HANDLE);
    CHECK(!SetEvent(ev));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    for (int i = 0; i < 3; i++) CHECK(CloseHandle(hs[i]));
    CHECK(CloseHandle(ae));
    CHECK(CloseHandle(later_event));
    printf("events: ok\n");
    return 0;
}
