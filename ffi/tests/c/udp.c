/* UDP: WSASendTo / WSARecvFrom through the port, the source address written
 * into lpFrom/lpFromlen at completion, datagram boundaries, connected UDP
 * with WSASend/WSARecv, sendto/recvfrom (docs/semantics.md, "C ABI"). */
#include "net.h"

int main(void) {
    wsa_start();
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    struct sockaddr_in a1, a2;
    SOCKET u1 = udp_bound(&a1), u2 = udp_bound(&a2);
    CHECK(CreateIoCompletionPort((HANDLE)u1, port, 1, 0) == port);
    CHECK(CreateIoCompletionPort((HANDLE)u2, port, 2, 0) == port);

    /* A pending WSARecvFrom; the source address arrives with the packet. */
    char rbuf[64];
    WSABUF rb = {sizeof rbuf, rbuf};
    struct sockaddr_in from;
    int fromlen = sizeof from;
    DWORD flags = 0;
    OVERLAPPED ovr, ovs;
    memset(&ovr, 0, sizeof ovr);
    memset(&from, 0, sizeof from);
    CHECK_EQ(WSARecvFrom(u2, &rb, 1, NULL, &flags, (struct sockaddr *)&from, &fromlen, &ovr, NULL),
             SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
    char msg[] = "dgram1";
    WSABUF sb = {6, msg};
    memset(&ovs, 0, sizeof ovs);
    DWORD sent = 0;
    int r = WSASendTo(u1, &sb, 1, &sent, 0, (struct sockaddr *)&a2, sizeof a2, &ovs, NULL);
    CHECK(r == 0 || WSAGetLastError() == WSA_IO_PENDING);
    for (int i = 0; i < 2; i++) {
        DWORD b;
        ULONG_PTR k;
        LPOVERLAPPED o = NULL;
        CHECK(GetQueuedCompletionStatus(port, &b, &k, &o, 5000));
        CHECK_EQ(b, 6);
        if (o == &ovs) {
            CHECK_EQ(k, 1);
        } else {
            CHECK(o == &ovr);
            CHECK_EQ(k, 2);
        }
    }
    CHECK(memcmp(rbuf, "dgram1", 6) == 0);
    CHECK_EQ(fromlen, sizeof(struct sockaddr_in));
    CHECK_EQ(from.sin_family, AF_INET);
    CHECK_EQ(from.sin_port, a1.sin_port);
    CHECK_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));

    /* Datagram boundaries: two datagrams, two receives. */
    CHECK_EQ(sendto(u1, "a", 1, 0, (struct sockaddr *)&a2, sizeof a2), 1);
    CHECK_EQ(sendto(u1, "bb", 2, 0, (struct sockaddr *)&a2, sizeof a2), 2);
    for (DWORD want = 1; want <= 2; want++) {
        memset(&ovr, 0, sizeof ovr);
        fromlen = sizeof from;
        DWORD got = 0;
        r = WSARecvFrom(u2, &rb, 1, &got, &flags, (struct sockaddr *)&from, &fromlen, &ovr, NULL);
        CHECK(r == 0 || WSAGetLastError() == WSA_IO_PENDING);
        EXPECT_PACKET(port, 2, &ovr, want, TRUE, 0);
        CHECK_EQ(from.sin_port, a1.sin_port);
    }

    /* No buffers: WSAEINVAL, nothing queued. */
    memset(&ovr, 0, sizeof ovr);
    CHECK_EQ(WSARecvFrom(u2, &rb, 0, NULL, &flags, NULL, NULL, &ovr, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    EXPECT_NO_PACKET(port, 50);

    /* Synchronous recvfrom. */
    CHECK_EQ(sendto(u2, "sync", 4, 0, (struct sockaddr *)&a1, sizeof a1), 4);
    fromlen = sizeof from;
    CHECK_EQ(recvfrom(u1, rbuf, sizeof rbuf, 0, (struct sockaddr *)&from, &fromlen), 4);
    CHECK_EQ(from.sin_port, a2.sin_port);

    /* A datagram larger than the buffer (STATUS_BUFFER_OVERFLOW): the bytes
     * that fit, InternalHigh = buffer length, the packet FALSE with
     * ERROR_MORE_DATA (234); WSAGetOverlappedResult says WSAEMSGSIZE. Pending: */
    char small[4];
    WSABUF sm = {sizeof small, small};
    memset(&ovr, 0, sizeof ovr);
    memset(&from, 0, sizeof from);
    fromlen = sizeof from;
    flags = 0;
    CHECK_EQ(WSARecvFrom(u2, &sm, 1, NULL, &flags, (struct sockaddr *)&from, &fromlen, &ovr, NULL),
             SOCKET_ERROR);
    CHECK_ERR(WSA_IO_PENDING);
    CHECK_EQ(sendto(u1, "0123456789", 10, 0, (struct sockaddr *)&a2, sizeof a2), 10);
    EXPECT_PACKET(port, 2, &ovr, 4, FALSE, ERROR_MORE_DATA);
    CHECK(memcmp(small, "0123", 4) == 0);
    CHECK_EQ(ovr.Internal, 0x80000005);
    CHECK_EQ(ovr.InternalHigh, 4);
    CHECK_EQ(from.sin_port, a1.sin_port);
    DWORD ob = 0, ofl = 0;
    CHECK(!WSAGetOverlappedResult(u2, &ovr, &ob, FALSE, &ofl));
    CHECK_ERR(WSAEMSGSIZE);
    CHECK_EQ(ob, 4);
    ob = 0;
    CHECK(!GetOverlappedResult((HANDLE)u2, &ovr, &ob, FALSE));
    CHECK_ERR(ERROR_MORE_DATA);
    CHECK_EQ(ob, 4);
    /* ... the same with WSARecv (one buffer) ... */
    memset(&ovr, 0, sizeof ovr);
    CHECK_EQ(WSARecv(u2, &sm, 1, NULL, &flags, &ovr, NULL), SOCKET_ERROR);
    CHECK_ERR(WSA_IO_PENDING);
    CHECK_EQ(sendto(u1, "ABCDEFG", 7, 0, (struct sockaddr *)&a2, sizeof a2), 7);
    EXPECT_PACKET(port, 2, &ovr, 4, FALSE, ERROR_MORE_DATA);
    CHECK(memcmp(small, "ABCD", 4) == 0);
    /* ... inline (the datagram is there already): SOCKET_ERROR + WSAEMSGSIZE,
     * and, the status being a warning, the packet is still queued. The rest of
     * the datagram is lost: the next receive gets the next datagram. */
    CHECK_EQ(sendto(u1, "abcdefgh", 8, 0, (struct sockaddr *)&a2, sizeof a2), 8);
    CHECK_EQ(sendto(u1, "xy", 2, 0, (struct sockaddr *)&a2, sizeof a2), 2);
    for (int i = 0; i < 200; i++) {
        u_long avail = 0;
        CHECK_EQ(ioctlsocket(u2, FIONREAD, &avail), 0);
        if (avail > 0) break;
        Sleep(5);
    }
    memset(&ovr, 0, sizeof ovr);
    fromlen = sizeof from;
    CHECK_EQ(WSARecvFrom(u2, &sm, 1, NULL, &flags, (struct sockaddr *)&from, &fromlen, &ovr, NULL),
             SOCKET_ERROR);
    CHECK_ERR(WSAEMSGSIZE);
    CHECK_EQ(ovr.Internal, 0x80000005);
    CHECK_EQ(ovr.InternalHigh, 4);
    EXPECT_PACKET(port, 2, &ovr, 4, FALSE, ERROR_MORE_DATA);
    CHECK(memcmp(small, "abcd", 4) == 0);
    CHECK_EQ(from.sin_port, a1.sin_port);
    /* ... and a blocking recvfrom: SOCKET_ERROR + WSAEMSGSIZE, no packet. */
    fromlen = sizeof from;
    CHECK_EQ(recvfrom(u2, small, 1, 0, (struct sockaddr *)&from, &fromlen), SOCKET_ERROR);
    CHECK_ERR(WSAEMSGSIZE);
    CHECK_EQ(small[0], 'x');
    EXPECT_NO_PACKET(port, 50);

    /* Connected UDP: WSASend / WSARecv. */
    CHECK_EQ(connect(u1, (struct sockaddr *)&a2, sizeof a2), 0);
    CHECK_EQ(connect(u2, (struct sockaddr *)&a1, sizeof a1), 0);
    memset(&ovr, 0, sizeof ovr);
    r = WSARecv(u2, &rb, 1, NULL, &flags, &ovr, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    char c2[] = "conn";
    WSABUF cb = {4, c2};
    memset(&ovs, 0, sizeof ovs);
    r = WSASend(u1, &cb, 1, NULL, 0, &ovs, NULL);
    CHECK(r == 0 || WSAGetLastError() == WSA_IO_PENDING);
    for (int i = 0; i < 2; i++) {
        DWORD b;
        ULONG_PTR k;
        LPOVERLAPPED o = NULL;
        CHECK(GetQueuedCompletionStatus(port, &b, &k, &o, 5000));
        CHECK(o == &ovs || o == &ovr);
        CHECK_EQ(k, o == &ovs ? 1u : 2u);
        CHECK_EQ(b, 4);
    }
    CHECK(memcmp(rbuf, "conn", 4) == 0);

    CHECK_EQ(closesocket(u1), 0);
    CHECK_EQ(closesocket(u2), 0);
    EXPECT_NO_PACKET(port, 50);
    CHECK(CloseHandle(port));
    printf("udp: ok\n");
    return 0;
}
