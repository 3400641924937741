/* Overlapped TCP sockets on a port: association rules, WSARecv/WSASend echo
 * with OVERLAPPED Internal/InternalHigh, inline completion still queueing a
 * packet, skip-on-success, vectored buffers, the zero-byte receive, hEvent
 * low-bit suppression, graceful close, and the synchronous failures that
 * queue nothing (docs/semantics.md, "C ABI"). */
#include "net.h"

/* Waits until `s` has at least `n` bytes to read. */
static void wait_readable(SOCKET s, unsigned long n) {
    long long deadline = now_ms() + 5000;
    for (;;) {
        unsigned long avail = 0;
        CHECK_EQ(ioctlsocket(s, FIONREAD, &avail), 0);
        if (avail >= n) return;
        CHECK(now_ms() < deadline);
        Sleep(5);
    }
}

/* Takes `n` packets and checks each against the expected (ov, key, bytes). */
struct want {
    LPOVERLAPPED ov;
    ULONG_PTR key;
    DWORD bytes;
    int seen;
};
static void expect_packets(HANDLE port, struct want *w, int n) {
    for (int i = 0; i < n; i++) {
        DWORD bytes;
        ULONG_PTR key;
        LPOVERLAPPED ov = NULL;
        CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &ov, 5000));
        int found = 0;
        for (int j = 0; j < n; j++) {
            if (w[j].ov == ov && !w[j].seen) {
                CHECK_EQ(key, w[j].key);
                CHECK_EQ(bytes, w[j].bytes);
                w[j].seen = found = 1;
            }
        }
        CHECK(found);
    }
}

int main(void) {
    /* No socket before WSAStartup. */
    CHECK(socket(AF_INET, SOCK_STREAM, 0) == INVALID_SOCKET);
    CHECK_EQ(WSAGetLastError(), WSANOTINITIALISED);
    wsa_start();

    SOCKET c, s;
    tcp_pair(&c, &s);
    CHECK_EQ(s & 3, 0);

    /* Create-and-associate, then associate into the same port: same handle back. */
    HANDLE port = CreateIoCompletionPort((HANDLE)s, NULL, 11, 0);
    CHECK(port != NULL);
    CHECK(CreateIoCompletionPort((HANDLE)c, port, 22, 0) == port);
    /* A second association, with the same or another port: 87. */
    CHECK(CreateIoCompletionPort((HANDLE)s, port, 33, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    HANDLE other = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    CHECK(CreateIoCompletionPort((HANDLE)s, other, 33, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    /* A socket made without WSA_FLAG_OVERLAPPED cannot be associated: 87. */
    SOCKET nov = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0);
    CHECK(nov != INVALID_SOCKET);
    CHECK(CreateIoCompletionPort((HANDLE)nov, port, 5, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK_EQ(closesocket(nov), 0);
    /* A failed create-and-associate creates nothing. */
    CHECK(CreateIoCompletionPort((HANDLE)s, NULL, 33, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);

    /* A pending receive: SOCKET_ERROR + 997, byte count untouched, Internal pending. */
    char rbuf[64];
    WSABUF rb = {sizeof rbuf, rbuf};
    OVERLAPPED ovr;
    memset(&ovr, 0, sizeof ovr);
    DWORD got = 0xdeadbeef, flags = 0;
    CHECK_EQ(WSARecv(s, &rb, 1, &got, &flags, &ovr, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
    CHECK_ERR(ERROR_IO_PENDING);
    CHECK_EQ(got, 0xdeadbeef);
    CHECK_EQ(ovr.Internal, STATUS_PENDING);
    CHECK(!HasOverlappedIoCompleted(&ovr));
    EXPECT_NO_PACKET(port, 50);

    /* The send completes (inline or not: a packet either way), then the receive. */
    char hello[] = "hello";
    WSABUF sb = {5, hello};
    OVERLAPPED ovs;
    memset(&ovs, 0, sizeof ovs);
    DWORD sent = 0xdeadbeef;
    int r = WSASend(c, &sb, 1, &sent, 0, &ovs, NULL);
    CHECK(r == 0 || WSAGetLastError() == WSA_IO_PENDING);
    if (r == 0) CHECK_EQ(sent, 5);
    struct want w1[2] = {{&ovr, 11, 5, 0}, {&ovs, 22, 5, 0}};
    expect_packets(port, w1, 2);
    CHECK(memcmp(rbuf, "hello", 5) == 0);
    CHECK_EQ(ovr.Internal, STATUS_SUCCESS);
    CHECK_EQ(ovr.InternalHigh, 5);
    CHECK_EQ(ovs.Internal, STATUS_SUCCESS);
    CHECK_EQ(ovs.InternalHigh, 5);
    DWORD n = 0;
    CHECK(WSAGetOverlappedResult(s, &ovr, &n, FALSE, &flags));
    CHECK_EQ(n, 5);
    CHECK(GetOverlappedResult((HANDLE)s, &ovr, &n, TRUE));
    EXPECT_NO_PACKET(port, 0);

    /* Data already there: WSARecv returns 0 with the count, and a packet is
     * still queued, as on Windows. */
    send_all_sync(c, "world", 5);
    wait_readable(s, 5);
    memset(&ovr, 0, sizeof ovr);
    got = 0;
    CHECK_EQ(WSARecv(s, &rb, 1, &got, &flags, &ovr, NULL), 0);
    CHECK_EQ(got, 5);
    CHECK_EQ(flags, 0);
    CHECK(HasOverlappedIoCompleted(&ovr));
    CHECK_EQ(ovr.InternalHigh, 5);
    EXPECT_PACKET(port, 11, &ovr, 5, TRUE, 0);
    CHECK(memcmp(rbuf, "world", 5) == 0);

    /* Vectored: the data fills the buffers in order. */
    char v1[2], v2[10];
    WSABUF rv[2] = {{2, v1}, {10, v2}};
    memset(&ovr, 0, sizeof ovr);
    r = WSARecv(s, rv, 2, NULL, &flags, &ovr, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    char ab[] = "ab", cde[] = "cde";
    WSABUF sv[2] = {{2, ab}, {3, cde}};
    memset(&ovs, 0, sizeof ovs);
    r = WSASend(c, sv, 2, NULL, 0, &ovs, NULL);
    CHECK(r == 0 || WSAGetLastError() == WSA_IO_PENDING);
    /* Two packets in either order: the send (5 bytes) and the receive,
     * which may see the 5 bytes in one go or in parts. */
    DWORD total = 0;
    for (int i = 0; i < 2; i++) {
        DWORD b;
        ULONG_PTR k;
        LPOVERLAPPED o = NULL;
        CHECK(GetQueuedCompletionStatus(port, &b, &k, &o, 5000));
        if (o == &ovs) {
            CHECK_EQ(k, 22);
            CHECK_EQ(b, 5);
        } else {
            CHECK(o == &ovr);
            CHECK_EQ(k, 11);
            total = b;
        }
    }
    CHECK(total >= 1 && total <= 5);
    CHECK(memcmp(v1, "ab", total < 2 ? total : 2) == 0);
    if (total > 2) CHECK(memcmp(v2, "cde", total - 2) == 0);
    while (total < 5) {
        unsigned long avail;
        wait_readable(s, 1);
        CHECK_EQ(ioctlsocket(s, FIONREAD, &avail), 0);
        char tmp[8];
        int k = recv(s, tmp, sizeof tmp, 0);
        CHECK(k > 0);
        total += (DWORD)k;
    }

    /* The zero-byte receive: completes with 0 bytes when data arrives,
     * without consuming it. */
    WSABUF zb = {0, NULL};
    memset(&ovr, 0, sizeof ovr);
    r = WSARecv(s, &zb, 1, NULL, &flags, &ovr, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    EXPECT_NO_PACKET(port, 50);
    send_all_sync(c, "x", 1);
    EXPECT_PACKET(port, 11, &ovr, 0, TRUE, 0);
    CHECK_EQ(recv(s, rbuf, sizeof rbuf, 0), 1);
    CHECK_EQ(rbuf[0], 'x');

    /* hEvent with its low bit set: the event is signalled, Internal written,
     * no packet. */
    WSAEVENT ev = WSACreateEvent();
    CHECK(ev != NULL);
    CHECK_EQ((ULONG_PTR)ev & 3, 0);
    memset(&ovr, 0, sizeof ovr);
    ovr.hEvent = (HANDLE)((ULONG_PTR)ev | 1);
    r = WSARecv(c, &rb, 1, NULL, &flags, &ovr, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    send_all_sync(s, "quiet", 5);
    CHECK_EQ(WaitForSingleObject(ev, 5000), WAIT_OBJECT_0);
    CHECK_EQ(ovr.Internal, STATUS_SUCCESS);
    CHECK_EQ(ovr.InternalHigh, 5);
    EXPECT_NO_PACKET(port, 100);
    /* …and an inline completion with the low bit queues nothing either. */
    send_all_sync(s, "again", 5);
    wait_readable(c, 5);
    memset(&ovr, 0, sizeof ovr);
    ovr.hEvent = (HANDLE)((ULONG_PTR)ev | 1);
    CHECK(WSAResetEvent(ev));
    CHECK_EQ(WSARecv(c, &rb, 1, &got, &flags, &ovr, NULL), 0);
    CHECK_EQ(got, 5);
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_OBJECT_0);
    EXPECT_NO_PACKET(port, 50);
    CHECK(WSACloseEvent(ev));

    /* Skip-on-success: an inline success queues nothing... */
    CHECK(SetFileCompletionNotificationModes((HANDLE)s, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
    send_all_sync(c, "skip", 4);
    wait_readable(s, 4);
    memset(&ovr, 0, sizeof ovr);
    got = 0;
    CHECK_EQ(WSARecv(s, &rb, 1, &got, &flags, &ovr, NULL), 0);
    CHECK_EQ(got, 4);
    CHECK_EQ(ovr.Internal, STATUS_SUCCESS);
    CHECK_EQ(ovr.InternalHigh, 4);
    EXPECT_NO_PACKET(port, 100);
    /* ...a pending operation still does. */
    memset(&ovr, 0, sizeof ovr);
    r = WSARecv(s, &rb, 1, &got, &flags, &ovr, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    send_all_sync(c, "late", 4);
    EXPECT_PACKET(port, 11, &ovr, 4, TRUE, 0);

    /* Synchronous failures queue nothing: no buffers (WSAEINVAL), NULL
     * lpFlags (WSAEFAULT), an unconnected socket (WSAENOTCONN). */
    memset(&ovr, 0, sizeof ovr);
    CHECK_EQ(WSARecv(s, &rb, 0, NULL, &flags, &ovr, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(WSARecv(s, &rb, 1, NULL, NULL, &ovr, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    SOCKET u = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(CreateIoCompletionPort((HANDLE)u, port, 44, 0) == port);
    memset(&ovr, 0, sizeof ovr);
    CHECK_EQ(WSARecv(u, &rb, 1, NULL, &flags, &ovr, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTCONN);
    EXPECT_NO_PACKET(port, 50);
    /* WSASend / send on a never-connected socket: WSAENOTCONN (Linux says
     * EPIPE), not a sticky reset: a receive still says WSAENOTCONN after. */
    {
        char nb[] = "x";
        WSABUF nw = {1, nb};
        memset(&ovr, 0, sizeof ovr);
        CHECK_EQ(WSASend(u, &nw, 1, NULL, 0, &ovr, NULL), SOCKET_ERROR);
        CHECK_ERR(WSAENOTCONN);
        CHECK_EQ(send(u, "x", 1, 0), SOCKET_ERROR);
        CHECK_ERR(WSAENOTCONN);
        memset(&ovr, 0, sizeof ovr);
        CHECK_EQ(WSARecv(u, &rb, 1, NULL, &flags, &ovr, NULL), SOCKET_ERROR);
        CHECK_ERR(WSAENOTCONN);
        EXPECT_NO_PACKET(port, 50);
    }
    /* A plain connect() on an associated socket queues nothing either. */
    struct sockaddr_in la;
    SOCKET l2 = tcp_listener(&la);
    CHECK_EQ(connect(u, (struct sockaddr *)&la, sizeof la), 0);
    EXPECT_NO_PACKET(port, 50);
    CHECK_EQ(closesocket(u), 0);
    CHECK_EQ(closesocket(l2), 0);

    /* Two pending 16-byte receives and 32 bytes arriving: they complete in
     * issue order, the first with bytes 0-15, the second 16-31. */
    {
        char r1[16], r2[16];
        WSABUF w1 = {16, r1}, w2 = {16, r2};
        DWORD f1 = 0, f2 = 0;
        OVERLAPPED o1, o2;
        memset(&o1, 0, sizeof o1);
        memset(&o2, 0, sizeof o2);
        r = WSARecv(s, &w1, 1, NULL, &f1, &o1, NULL);
        CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
        r = WSARecv(s, &w2, 1, NULL, &f2, &o2, NULL);
        CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
        send_all_sync(c, "0123456789abcdefGHIJKLMNOPQRSTUV", 32);
        EXPECT_PACKET(port, 11, &o1, 16, TRUE, 0);
        EXPECT_PACKET(port, 11, &o2, 16, TRUE, 0);
        CHECK(memcmp(r1, "0123456789abcdef", 16) == 0);
        CHECK(memcmp(r2, "GHIJKLMNOPQRSTUV", 16) == 0);
    }

    /* MSG_PEEK in *lpFlags: the data stays in the socket. Pending first ... */
    {
        char pk[16], rd[16];
        WSABUF pb = {sizeof pk, pk}, rdb = {sizeof rd, rd};
        DWORD pf = MSG_PEEK, pgot = 0;
        OVERLAPPED ovp;
        memset(&ovp, 0, sizeof ovp);
        r = WSARecv(s, &pb, 1, NULL, &pf, &ovp, NULL);
        CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
        send_all_sync(c, "peek!", 5);
        EXPECT_PACKET(port, 11, &ovp, 5, TRUE, 0);
        CHECK(memcmp(pk, "peek!", 5) == 0);
        /* ... then inline: the same bytes again ... */
        memset(pk, 0, sizeof pk);
        memset(&ovp, 0, sizeof ovp);
        pf = MSG_PEEK;
        r = WSARecv(s, &pb, 1, &pgot, &pf, &ovp, NULL);
        CHECK_ERR(0xdeadbeef);
        CHECK_EQ(r, 0);
        CHECK_EQ(pgot, 5);
        CHECK(memcmp(pk, "peek!", 5) == 0);
        /* ... and a plain receive still gets them (skip mode: no packets). */
        memset(&ovp, 0, sizeof ovp);
        pf = 0;
        pgot = 0;
        CHECK_EQ(WSARecv(s, &rdb, 1, &pgot, &pf, &ovp, NULL), 0);
        CHECK_EQ(pgot, 5);
        CHECK(memcmp(rd, "peek!", 5) == 0);
        EXPECT_NO_PACKET(port, 50);
    }

    /* Graceful close by the peer: a pending receive completes TRUE with 0
     * bytes; a receive after the FIN returns 0 at once (skip mode: no packet). */
    memset(&ovr, 0, sizeof ovr);
    r = WSARecv(s, &rb, 1, NULL, &flags, &ovr, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    CHECK_EQ(shutdown(c, SD_SEND), 0);
    EXPECT_PACKET(port, 11, &ovr, 0, TRUE, 0);
    memset(&ovr, 0, sizeof ovr);
    got = 0xdeadbeef;
    CHECK_EQ(WSARecv(s, &rb, 1, &got, &flags, &ovr, NULL), 0);
    CHECK_EQ(got, 0);
    EXPECT_NO_PACKET(port, 50);
    /* Sending after our own shutdown(SD_SEND): WSAESHUTDOWN. */
    CHECK_EQ(send(c, "z", 1, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAESHUTDOWN);

    /* closesocket with nothing pending queues nothing. */
    CHECK_EQ(closesocket(c), 0);
    CHECK_EQ(closesocket(s), 0);
    EXPECT_NO_PACKET(port, 50);
    CHECK(CloseHandle(other));
    CHECK(CloseHandle(port));
    CHECK_EQ(WSACleanup(), 0);
    printf("sockets: ok\n");
    return 0;
}
