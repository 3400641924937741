/* Bad input gets the Windows error, never a crash: NULL, stale, foreign and
 * wrong-type handles, double closes, operations on closed sockets, empty
 * buffer arrays, bad addresses, Winsock start-up errors, the per-thread last
 * error, the panic boundary, and no fd leaked by create/close cycles. */
#include <dirent.h>
#include <pthread.h>
#include "net.h"

BOOL cport_debug_panic(void);
void cport_debug_panic_in_completion(void);

static int count_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static volatile DWORD thread_saw;
static void *last_error_thread(void *arg) {
    (void)arg;
    thread_saw = GetLastError(); /* a new thread starts with 0 */
    SetLastError(77);
    return NULL;
}

int main(void) {
    /* Winsock start-up. */
    CHECK_EQ(WSACleanup(), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSANOTINITIALISED);
    CHECK_EQ(WSAStartup(MAKEWORD(2, 2), NULL), WSAEFAULT);
    WSADATA wd;
    CHECK_EQ(WSAStartup(MAKEWORD(0, 0), &wd), WSAVERNOTSUPPORTED);
    CHECK_EQ(WSAStartup(MAKEWORD(2, 2), &wd), 0);
    CHECK_EQ(wd.wHighVersion, 0x0202);

    /* The last error: one slot for both names, per thread. */
    SetLastError(1234);
    CHECK_EQ(WSAGetLastError(), 1234);
    WSASetLastError(WSAEINTR);
    CHECK_EQ(GetLastError(), WSAEINTR);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, last_error_thread, NULL) == 0);
    pthread_join(t, NULL);
    CHECK_EQ(thread_saw, 0);
    CHECK_EQ(GetLastError(), WSAEINTR);

    /* The panic boundary: a Rust panic becomes an error return. */
    CHECK(!cport_debug_panic());
    CHECK_ERR(ERROR_INTERNAL_ERROR);

    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    int local = 0;
    HANDLE foreign[] = {NULL, (HANDLE)3, (HANDLE)4, (HANDLE)0x1234, (HANDLE)&local,
                        (HANDLE)(ULONG_PTR)0xFFFFFFF0u, (HANDLE)((ULONG_PTR)port | 2),
                        (HANDLE)((ULONG_PTR)port | 1)};
    DWORD bytes;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    OVERLAPPED_ENTRY e[2];
    ULONG n;
    for (unsigned i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        HANDLE h = foreign[i];
        ov = (LPOVERLAPPED)1;
        CHECK(!GetQueuedCompletionStatus(h, &bytes, &key, &ov, 0));
        CHECK_ERR(ERROR_INVALID_HANDLE);
        CHECK(ov == NULL);
        CHECK(!GetQueuedCompletionStatusEx(h, e, 2, &n, 0, FALSE));
        CHECK_ERR(ERROR_INVALID_HANDLE);
        CHECK(!PostQueuedCompletionStatus(h, 0, 0, NULL));
        CHECK_ERR(ERROR_INVALID_HANDLE);
        CHECK(!CloseHandle(h));
        CHECK_ERR(ERROR_INVALID_HANDLE);
        CHECK(CreateIoCompletionPort(h, port, 0, 0) == NULL);
        CHECK_ERR(ERROR_INVALID_HANDLE);
        CHECK(!CancelIoEx(h, NULL));
        CHECK_ERR(ERROR_INVALID_HANDLE);
        CHECK(!CancelIo(h));
        CHECK_ERR(ERROR_INVALID_HANDLE);
        CHECK(!SetFileCompletionNotificationModes(h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
        CHECK_ERR(ERROR_INVALID_HANDLE);
        CHECK(!SetEvent(h));
        CHECK_ERR(ERROR_INVALID_HANDLE);
        CHECK_EQ(closesocket((SOCKET)h), SOCKET_ERROR);
        CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
        CHECK_EQ(send((SOCKET)h, "x", 1, 0), SOCKET_ERROR);
        CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    }

    /* Wrong types: a port or event where a socket or port is wanted. */
    ov = (LPOVERLAPPED)1;
    CHECK(!GetQueuedCompletionStatus(ev, &bytes, &key, &ov, 0));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CreateIoCompletionPort(ev, port, 0, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CreateIoCompletionPort(port, port, 0, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK_EQ(listen((SOCKET)port, 1), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(closesocket((SOCKET)ev), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(WaitForSingleObject(port, 0), WAIT_FAILED);
    CHECK_ERR(ERROR_INVALID_HANDLE);

    /* NULL pointers: GQCS needs lpOverlapped (87); GQCSEx needs entries and
     * a count (87); PQCS takes NULL. */
    CHECK(!GetQueuedCompletionStatus(port, &bytes, &key, NULL, 0));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!GetQueuedCompletionStatusEx(port, NULL, 2, &n, 0, FALSE));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!GetQueuedCompletionStatusEx(port, e, 2, NULL, 0, FALSE));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(PostQueuedCompletionStatus(port, 0, 0, NULL));
    CHECK(GetQueuedCompletionStatus(port, NULL, NULL, &ov, 0));

    /* A closed socket: WSAENOTSOCK for everything, a second close too. */
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s != INVALID_SOCKET);
    CHECK_EQ(closesocket(s), 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int alen = sizeof a;
    char buf[16];
    WSABUF wb = {sizeof buf, buf};
    DWORD flags = 0;
    unsigned long arg = 1;
    OVERLAPPED o;
    memset(&o, 0, sizeof o);
    CHECK_EQ(closesocket(s), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof a), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(connect(s, (struct sockaddr *)&a, sizeof a), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK(accept(s, NULL, NULL) == INVALID_SOCKET);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(recv(s, buf, sizeof buf, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(WSARecv(s, &wb, 1, NULL, &flags, &o, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(WSASend(s, &wb, 1, NULL, 0, &o, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(shutdown(s, SD_BOTH), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(ioctlsocket(s, FIONBIO, &arg), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(getsockname(s, (struct sockaddr *)&a, &alen), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, (char *)&arg, sizeof(int)), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK(!CloseHandle((HANDLE)s));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    /* A result query that would have to wait on the stale handle fails
     * (a completed OVERLAPPED is reported whatever the handle: cancel.c). */
    o.Internal = STATUS_PENDING;
    CHECK(!WSAGetOverlappedResult(s, &o, &bytes, TRUE, &flags));
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK(!GetOverlappedResult((HANDLE)s, &o, &bytes, TRUE));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!GetOverlappedResult((HANDLE)s, &o, &bytes, FALSE));
    CHECK_ERR(ERROR_IO_INCOMPLETE);
    o.Internal = 0;

    /* Bad buffers and addresses. */
    SOCKET c, srv;
    tcp_pair(&c, &srv);
    memset(&o, 0, sizeof o);
    CHECK_EQ(WSARecv(srv, &wb, 0, NULL, &flags, &o, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(WSASend(srv, &wb, 0, NULL, 0, &o, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(WSARecv(srv, NULL, 1, NULL, &flags, &o, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    WSABUF nullbuf = {8, NULL};
    CHECK_EQ(WSASend(srv, &nullbuf, 1, NULL, 0, &o, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    CHECK_EQ(send(srv, NULL, 4, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    CHECK_EQ(bind(c, NULL, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    CHECK(!GetOverlappedResult((HANDLE)srv, NULL, &bytes, FALSE));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK_EQ(WSAIoctl(srv, 0x12345678, NULL, 0, NULL, 0, &bytes, NULL, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(shutdown(srv, 7), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(closesocket(c), 0);
    CHECK_EQ(closesocket(srv), 0);

    /* Address in use; refused blocking connect; non-blocking mode. */
    struct sockaddr_in la;
    SOCKET l = tcp_listener(&la);
    SOCKET l2 = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(bind(l2, (struct sockaddr *)&la, sizeof la), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEADDRINUSE);
    CHECK_EQ(closesocket(l2), 0);
    arg = 1;
    CHECK_EQ(ioctlsocket(l, FIONBIO, &arg), 0);
    CHECK(accept(l, NULL, NULL) == INVALID_SOCKET);
    CHECK_EQ(WSAGetLastError(), WSAEWOULDBLOCK);
    CHECK_EQ(closesocket(l), 0);
    SOCKET k = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(k, (struct sockaddr *)&la, sizeof la), SOCKET_ERROR); /* nobody listens now */
    CHECK_EQ(WSAGetLastError(), WSAECONNREFUSED);
    CHECK_EQ(closesocket(k), 0);

    /* Address helpers. */
    struct in_addr ia;
    CHECK_EQ(inet_pton(AF_INET, "127.0.0.1", &ia), 1);
    CHECK_EQ(ntohl(ia.s_addr), INADDR_LOOPBACK);
    CHECK_EQ(inet_pton(AF_INET, "not an address", &ia), 0);
    CHECK_EQ(inet_pton(12345, "127.0.0.1", &ia), -1);
    CHECK_EQ(WSAGetLastError(), WSAEAFNOSUPPORT);
    char txt[64];
    CHECK(inet_ntop(AF_INET, &ia, txt, sizeof txt) != NULL);
    CHECK(strcmp(txt, "127.0.0.1") == 0);
    CHECK(inet_ntop(AF_INET, &ia, txt, 4) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    CHECK_EQ(getaddrinfo("127.0.0.1", "80", &hints, &res), 0);
    CHECK(res != NULL && res->ai_family == AF_INET);
    freeaddrinfo(res);
    CHECK_EQ(getaddrinfo("definitely not numeric", "80", &hints, &res), EAI_NONAME);
    CHECK_EQ(WSAGetLastError(), WSAHOST_NOT_FOUND);

    /* Nothing leaks: sockets with pending operations, ports and events,
     * created and closed many times, leave the fd count where it was. */
    int before = count_fds();
    for (int i = 0; i < 50; i++) {
        HANDLE p = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
        tcp_pair(&c, &srv);
        CHECK(CreateIoCompletionPort((HANDLE)srv, p, 1, 0) == p);
        memset(&o, 0, sizeof o);
        CHECK_EQ(WSARecv(srv, &wb, 1, NULL, &flags, &o, NULL), SOCKET_ERROR);
        CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
        CHECK_EQ(closesocket(srv), 0);
        DWORD b;
        ULONG_PTR kk;
        LPOVERLAPPED oo;
        CHECK(!GetQueuedCompletionStatus(p, &b, &kk, &oo, 5000));
        CHECK(oo == &o);
        CHECK_EQ(closesocket(c), 0);
        CHECK(CloseHandle(p));
        HANDLE ee = WSACreateEvent();
        CHECK(WSACloseEvent(ee));
    }
    long long deadline = now_ms() + 5000;
    while (count_fds() > before && now_ms() < deadline) Sleep(10);
    CHECK_EQ(count_fds(), before);

    /* A panic while a completion is handled (on the thread that reaps it,
     * here the one in GetQueuedCompletionStatus) is caught there: the operation fails with ERROR_INTERNAL_ERROR through its
     * packet and OVERLAPPED, and later operations work. */
    {
        SOCKET pc, ps;
        tcp_pair(&pc, &ps);
        CHECK(CreateIoCompletionPort((HANDLE)ps, port, 77, 0) == port);
        char pb[8];
        OVERLAPPED po;
        wsarecv_pending(ps, &po, NULL, pb, sizeof pb);
        cport_debug_panic_in_completion();
        send_all_sync(pc, "boom", 4);
        EXPECT_PACKET(port, 77, &po, 0, FALSE, ERROR_INTERNAL_ERROR);
        CHECK(HasOverlappedIoCompleted(&po));
        wsarecv_pending(ps, &po, NULL, pb, sizeof pb);
        send_all_sync(pc, "ok", 2);
        EXPECT_PACKET(port, 77, &po, 2, TRUE, 0);
        CHECK(memcmp(pb, "ok", 2) == 0);
        CHECK_EQ(closesocket(pc), 0);
        CHECK_EQ(closesocket(ps), 0);
    }

    /* Pseudo handles: closing them does nothing and succeeds; that includes
     * INVALID_HANDLE_VALUE, which is GetCurrentProcess()'s (HANDLE)-1. NULL: 6. */
    CHECK(GetCurrentProcess() == INVALID_HANDLE_VALUE);
    CHECK(GetCurrentThread() == (HANDLE)(LONG_PTR)-2);
    SetLastError(0xdeadbeef);
    CHECK(CloseHandle(INVALID_HANDLE_VALUE));
    CHECK(CloseHandle(GetCurrentProcess()));
    CHECK(CloseHandle(GetCurrentThread()));
    CHECK_ERR(0xdeadbeef);
    CHECK(!CloseHandle(NULL));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(PostQueuedCompletionStatus(port, 1, 2, NULL)); /* the port is unaffected */
    CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &ov, 1000));
    CHECK_EQ(key, 2);
    CHECK(CloseHandle(ev));
    CHECK(CloseHandle(port));
    CHECK_EQ(WSACleanup(), 0);
    printf("badinput: ok\n");
    return 0;
}
