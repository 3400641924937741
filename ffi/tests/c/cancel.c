/* Ending operations: closesocket with pending receives, sends and AcceptEx,
 * CancelIoEx (995, then 1168), CancelIo (the calling thread's operations
 * only), thread exit (cancels nothing), peer reset (64, then 10054 on every
 * later call), and closesocket waking blocked calls (docs/semantics.md,
 * "C ABI"). */
#include <pthread.h>
#include "net.h"

#define ADDR_LEN (sizeof(struct sockaddr_in) + 16)

static SOCKET thread_sock;
static OVERLAPPED thread_ov;
static char thread_buf[16];

static void *issue_and_exit(void *arg) {
    (void)arg;
    WSABUF b = {sizeof thread_buf, thread_buf};
    DWORD flags = 0;
    memset(&thread_ov, 0, sizeof thread_ov);
    int r = WSARecv(thread_sock, &b, 1, NULL, &flags, &thread_ov, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    return NULL;
}

static SOCKET blocked_sock;
static volatile int blocked_result;
static volatile int blocked_error;

static void *blocking_accept(void *arg) {
    (void)arg;
    SOCKET s = accept(blocked_sock, NULL, NULL);
    blocked_result = s == INVALID_SOCKET ? -1 : 0;
    blocked_error = WSAGetLastError();
    return NULL;
}

static void *blocking_recv(void *arg) {
    char b[8];
    (void)arg;
    blocked_result = recv(blocked_sock, b, sizeof b, 0);
    blocked_error = WSAGetLastError();
    return NULL;
}

static void pending_recv(SOCKET s, OVERLAPPED *ov, char *buf, ULONG len) {
    WSABUF b = {len, buf};
    DWORD flags = 0;
    memset(ov, 0, sizeof *ov);
    int r = WSARecv(s, &b, 1, NULL, &flags, ov, NULL);
    CHECK(r == SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
}

int main(void) {
    wsa_start();
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    char buf[64], buf2[64];
    OVERLAPPED ov, ov2;
    SOCKET c, s;

    /* closesocket with a pending WSARecv: FALSE, that OVERLAPPED, the socket's
     * key, 0 bytes, ERROR_CONNECTION_ABORTED (1236). */
    tcp_pair(&c, &s);
    CHECK(CreateIoCompletionPort((HANDLE)s, port, 1, 0) == port);
    pending_recv(s, &ov, buf, sizeof buf);
    CHECK_EQ(closesocket(s), 0);
    EXPECT_PACKET(port, 1, &ov, 0, FALSE, ERROR_CONNECTION_ABORTED);
    CHECK_EQ(ov.Internal, STATUS_CONNECTION_ABORTED);
    EXPECT_NO_PACKET(port, 50);
    /* The result stays readable after the close, from the OVERLAPPED. */
    {
        DWORD rn = 0xdeadbeef, rf = 0xdeadbeef;
        CHECK(!WSAGetOverlappedResult(s, &ov, &rn, FALSE, &rf));
        CHECK_ERR(WSAECONNABORTED);
        CHECK_EQ(rn, 0);
        rn = 0xdeadbeef;
        CHECK(!WSAGetOverlappedResult(s, &ov, &rn, TRUE, &rf));
        CHECK_ERR(WSAECONNABORTED);
        CHECK_EQ(rn, 0);
        CHECK(!GetOverlappedResult((HANDLE)s, &ov, &rn, TRUE));
        CHECK_ERR(ERROR_CONNECTION_ABORTED);
        CHECK(!GetOverlappedResult((HANDLE)s, &ov, &rn, FALSE));
        CHECK_ERR(ERROR_CONNECTION_ABORTED);
    }
    /* The closed socket is gone: WSAENOTSOCK, and a second close too. */
    CHECK_EQ(closesocket(s), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(send(s, "x", 1, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(closesocket(c), 0);

    /* CancelIoEx, then closesocket at once: the cancel decided the outcome
     * (995), whatever the close finds (what Asio's cancel-then-close relies on). */
    for (int round = 0; round < 20; round++) {
        tcp_pair(&c, &s);
        CHECK(CreateIoCompletionPort((HANDLE)s, port, 3, 0) == port);
        pending_recv(s, &ov, buf, sizeof buf);
        CHECK(CancelIoEx((HANDLE)s, &ov));
        CHECK_EQ(closesocket(s), 0);
        EXPECT_PACKET(port, 3, &ov, 0, FALSE, ERROR_OPERATION_ABORTED);
        CHECK_EQ(ov.Internal, STATUS_CANCELLED);
        CHECK_EQ(closesocket(c), 0);
    }
    EXPECT_NO_PACKET(port, 50);

    /* The same when the socket is closed with CloseHandle. */
    tcp_pair(&c, &s);
    CHECK(CreateIoCompletionPort((HANDLE)s, port, 2, 0) == port);
    pending_recv(s, &ov, buf, sizeof buf);
    CHECK(CloseHandle((HANDLE)s));
    EXPECT_PACKET(port, 2, &ov, 0, FALSE, ERROR_CONNECTION_ABORTED);
    CHECK_EQ(ov.Internal, STATUS_CONNECTION_ABORTED);
    EXPECT_NO_PACKET(port, 50);
    CHECK_EQ(closesocket(c), 0);

    /* A cancelled operation completes through every notification it asked
     * for: the packet and its event. */
    tcp_pair(&c, &s);
    CHECK(CreateIoCompletionPort((HANDLE)s, port, 4, 0) == port);
    {
        HANDLE cev = CreateEventA(NULL, TRUE, FALSE, NULL);
        WSABUF cb = {sizeof buf, buf};
        DWORD cf = 0;
        memset(&ov, 0, sizeof ov);
        ov.hEvent = cev;
        CHECK_EQ(WSARecv(s, &cb, 1, NULL, &cf, &ov, NULL), SOCKET_ERROR);
        CHECK_ERR(WSA_IO_PENDING);
        CHECK_EQ(WaitForSingleObject(cev, 0), WAIT_TIMEOUT);
        CHECK(CancelIoEx((HANDLE)s, &ov));
        CHECK_EQ(WaitForSingleObject(cev, 5000), WAIT_OBJECT_0);
        EXPECT_PACKET(port, 4, &ov, 0, FALSE, ERROR_OPERATION_ABORTED);
        CHECK(CloseHandle(cev));
    }
    CHECK_EQ(closesocket(s), 0);
    CHECK_EQ(closesocket(c), 0);

    /* CancelIoEx: the operation with that OVERLAPPED only → 995; then nothing
     * left → FALSE, ERROR_NOT_FOUND. */
    tcp_pair(&c, &s);
    CHECK(CreateIoCompletionPort((HANDLE)s, port, 3, 0) == port);
    pending_recv(s, &ov, buf, sizeof buf);
    pending_recv(s, &ov2, buf2, sizeof buf2);
    CHECK(CancelIoEx((HANDLE)s, &ov2));
    EXPECT_PACKET(port, 3, &ov2, 0, FALSE, ERROR_OPERATION_ABORTED);
    CHECK_EQ(ov2.Internal, STATUS_CANCELLED);
    DWORD n, flags;
    CHECK(!WSAGetOverlappedResult(s, &ov2, &n, FALSE, &flags));
    CHECK_EQ(WSAGetLastError(), WSA_OPERATION_ABORTED);
    CHECK(!CancelIoEx((HANDLE)s, &ov2));
    CHECK_ERR(ERROR_NOT_FOUND);
    send_all_sync(c, "abc", 3);
    EXPECT_PACKET(port, 3, &ov, 3, TRUE, 0);
    CHECK(!CancelIoEx((HANDLE)s, NULL));
    CHECK_ERR(ERROR_NOT_FOUND);
    /* CancelIoEx(h, NULL): everything pending on the handle. */
    pending_recv(s, &ov, buf, sizeof buf);
    CHECK(CancelIoEx((HANDLE)s, NULL));
    EXPECT_PACKET(port, 3, &ov, 0, FALSE, ERROR_OPERATION_ABORTED);

    /* CancelIo cancels only the calling thread's operations, and a thread's
     * exit cancels none: the other thread's receive completes with data. */
    thread_sock = s;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, issue_and_exit, NULL) == 0);
    pthread_join(t, NULL);
    CHECK(CancelIo((HANDLE)s));
    EXPECT_NO_PACKET(port, 100);
    send_all_sync(c, "thread", 6);
    EXPECT_PACKET(port, 3, &thread_ov, 6, TRUE, 0);
    CHECK(memcmp(thread_buf, "thread", 6) == 0);
    pending_recv(s, &ov, buf, sizeof buf);
    CHECK(CancelIo((HANDLE)s));
    EXPECT_PACKET(port, 3, &ov, 0, FALSE, ERROR_OPERATION_ABORTED);

    /* Peer reset: the pending receive fails with ERROR_NETNAME_DELETED (64),
     * and every later receive or send fails at once with WSAECONNRESET. */
    pending_recv(s, &ov, buf, sizeof buf);
    struct linger lg = {1, 0};
    CHECK_EQ(setsockopt(c, SOL_SOCKET, SO_LINGER, (char *)&lg, sizeof lg), 0);
    CHECK_EQ(closesocket(c), 0);
    EXPECT_PACKET(port, 3, &ov, 0, FALSE, ERROR_NETNAME_DELETED);
    CHECK_EQ(ov.Internal, STATUS_CONNECTION_RESET);
    CHECK(!WSAGetOverlappedResult(s, &ov, &n, FALSE, &flags));
    CHECK_EQ(WSAGetLastError(), WSAECONNRESET);
    for (int i = 0; i < 2; i++) {
        WSABUF b = {sizeof buf, buf};
        flags = 0;
        memset(&ov, 0, sizeof ov);
        CHECK_EQ(WSARecv(s, &b, 1, NULL, &flags, &ov, NULL), SOCKET_ERROR);
        CHECK_EQ(WSAGetLastError(), WSAECONNRESET);
        CHECK_EQ(WSASend(s, &b, 1, NULL, 0, &ov, NULL), SOCKET_ERROR);
        CHECK_EQ(WSAGetLastError(), WSAECONNRESET);
        CHECK_EQ(recv(s, buf, sizeof buf, 0), SOCKET_ERROR);
        CHECK_EQ(WSAGetLastError(), WSAECONNRESET);
        CHECK_EQ(send(s, "x", 1, 0), SOCKET_ERROR);
        CHECK_EQ(WSAGetLastError(), WSAECONNRESET);
    }
    EXPECT_NO_PACKET(port, 50);
    /* ... while SO_ERROR reads 0, as on Windows. */
    {
        int soerr = -1, solen = sizeof soerr;
        CHECK_EQ(getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&soerr, &solen), 0);
        CHECK_EQ(soerr, 0);
    }
    CHECK_EQ(closesocket(s), 0);

    /* closesocket with a pending WSASend (a large send to a peer that does not
     * read): one failed packet with that OVERLAPPED. */
    tcp_pair(&c, &s);
    CHECK(CreateIoCompletionPort((HANDLE)s, port, 4, 0) == port);
    int small = 4096;
    CHECK_EQ(setsockopt(s, SOL_SOCKET, SO_SNDBUF, (char *)&small, sizeof small), 0);
    CHECK_EQ(setsockopt(c, SOL_SOCKET, SO_RCVBUF, (char *)&small, sizeof small), 0);
    static char big[16 << 20];
    WSABUF bb = {sizeof big, big};
    memset(&ov, 0, sizeof ov);
    CHECK_EQ(WSASend(s, &bb, 1, NULL, 0, &ov, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
    EXPECT_NO_PACKET(port, 100);
    CHECK_EQ(closesocket(s), 0);
    {
        DWORD b;
        ULONG_PTR k;
        LPOVERLAPPED o = NULL;
        CHECK(!GetQueuedCompletionStatus(port, &b, &k, &o, 5000));
        DWORD e = GetLastError();
        CHECK(o == &ov);
        CHECK_EQ(k, 4);
        CHECK(e == ERROR_CONNECTION_ABORTED || e == ERROR_OPERATION_ABORTED || e == ERROR_NETNAME_DELETED);
    }
    CHECK_EQ(closesocket(c), 0);

    /* A pending AcceptEx when the listener is closed: 995, listener's key. */
    struct sockaddr_in la;
    SOCKET l = tcp_listener(&la);
    CHECK(CreateIoCompletionPort((HANDLE)l, port, 5, 0) == port);
    LPFN_ACCEPTEX pAcceptEx = (LPFN_ACCEPTEX)get_ext(l, (GUID)WSAID_ACCEPTEX);
    char ab[2 * ADDR_LEN];
    SOCKET a = socket(AF_INET, SOCK_STREAM, 0);
    memset(&ov, 0, sizeof ov);
    CHECK(!pAcceptEx(l, a, ab, 0, ADDR_LEN, ADDR_LEN, NULL, &ov));
    CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
    /* A second AcceptEx into the same accept socket: WSAEINVAL. */
    memset(&ov2, 0, sizeof ov2);
    CHECK(!pAcceptEx(l, a, ab, 0, ADDR_LEN, ADDR_LEN, NULL, &ov2));
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(closesocket(l), 0);
    EXPECT_PACKET(port, 5, &ov, 0, FALSE, ERROR_OPERATION_ABORTED);
    CHECK_EQ(ov.Internal, STATUS_CANCELLED);
    CHECK_EQ(closesocket(a), 0);

    /* A pending AcceptEx whose accept socket is closed: 995 as well. */
    l = tcp_listener(&la);
    CHECK(CreateIoCompletionPort((HANDLE)l, port, 6, 0) == port);
    a = socket(AF_INET, SOCK_STREAM, 0);
    memset(&ov, 0, sizeof ov);
    CHECK(!pAcceptEx(l, a, ab, 0, ADDR_LEN, ADDR_LEN, NULL, &ov));
    CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
    CHECK_EQ(closesocket(a), 0);
    EXPECT_PACKET(port, 6, &ov, 0, FALSE, ERROR_OPERATION_ABORTED);
    /* ... readable afterwards too, the listener closed as well. */
    CHECK_EQ(closesocket(l), 0);
    {
        DWORD rn = 0xdeadbeef, rf = 0;
        CHECK(!WSAGetOverlappedResult(l, &ov, &rn, TRUE, &rf));
        CHECK_ERR(WSA_OPERATION_ABORTED);
        CHECK(!GetOverlappedResult((HANDLE)l, &ov, &rn, FALSE));
        CHECK_ERR(ERROR_OPERATION_ABORTED);
        CHECK_EQ(rn, 0);
    }
    l = tcp_listener(&la);

    /* closesocket wakes a thread blocked in accept (WSAEINTR)… */
    blocked_sock = l;
    CHECK(pthread_create(&t, NULL, blocking_accept, NULL) == 0);
    Sleep(150);
    CHECK_EQ(closesocket(l), 0);
    pthread_join(t, NULL);
    CHECK_EQ(blocked_result, -1);
    CHECK_EQ(blocked_error, WSAEINTR);
    /* …and one blocked in recv. */
    tcp_pair(&c, &s);
    blocked_sock = s;
    CHECK(pthread_create(&t, NULL, blocking_recv, NULL) == 0);
    Sleep(150);
    CHECK_EQ(closesocket(s), 0);
    pthread_join(t, NULL);
    CHECK_EQ(blocked_result, SOCKET_ERROR);
    CHECK_EQ(blocked_error, WSAEINTR);
    CHECK_EQ(closesocket(c), 0);

    EXPECT_NO_PACKET(port, 50);
    CHECK(CloseHandle(port));
    printf("cancel: ok\n");
    return 0;
}
