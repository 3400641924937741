/* closesocket completes every pending operation, exactly once: pre-posted
 * AcceptEx on a listener (995), several receives (1236) and sends that the
 * peer does not read (1236), each with its own OVERLAPPED, each through the
 * port with its key; no other packet; and nothing is left behind — every fd
 * and every handle is gone afterwards. Twenty rounds. */
#include "net.h"
#include <dirent.h>

#define ACCEPTS 3
#define RECVS 5
#define SENDS 2
#define BIG (64 << 20)
#define ADDR_LEN (sizeof(struct sockaddr_in) + 16)

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static DWORD handle_count(void) {
    DWORD n = 0;
    CHECK(GetProcessHandleCount(GetCurrentProcess(), &n));
    return n;
}

static void round_trip(char *big) {
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    CHECK(port != NULL);
    struct sockaddr_in la;
    SOCKET l = tcp_listener(&la);
    CHECK(CreateIoCompletionPort((HANDLE)l, port, 1, 0) == port);
    LPFN_ACCEPTEX pAcceptEx = (LPFN_ACCEPTEX)get_ext(l, (GUID)WSAID_ACCEPTEX);

    static OVERLAPPED ov_acc[ACCEPTS], ov_recv[RECVS], ov_send[SENDS];
    static char accbuf[ACCEPTS][2 * ADDR_LEN];
    static char rbuf[RECVS][64];
    SOCKET acc[ACCEPTS];
    for (int i = 0; i < ACCEPTS; i++) {
        memset(&ov_acc[i], 0, sizeof ov_acc[i]);
        acc[i] = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
        CHECK(acc[i] != INVALID_SOCKET);
        CHECK(!pAcceptEx(l, acc[i], accbuf[i], 0, ADDR_LEN, ADDR_LEN, NULL, &ov_acc[i]));
        CHECK_ERR(ERROR_IO_PENDING);
    }

    /* Receives that nothing will satisfy (the peer sends nothing). */
    SOCKET c1, s1;
    tcp_pair(&c1, &s1);
    CHECK(CreateIoCompletionPort((HANDLE)s1, port, 2, 0) == port);
    for (int i = 0; i < RECVS; i++) {
        memset(&ov_recv[i], 0, sizeof ov_recv[i]);
        WSABUF wb = {i == 0 ? 0u : (ULONG)sizeof rbuf[i], rbuf[i]}; /* one zero-byte receive */
        DWORD flags = 0;
        CHECK_EQ(WSARecv(s1, &wb, 1, NULL, &flags, &ov_recv[i], NULL), SOCKET_ERROR);
        CHECK_ERR(WSA_IO_PENDING);
    }

    /* Sends that cannot finish (the peer does not read). */
    SOCKET c2, s2;
    tcp_pair(&c2, &s2);
    CHECK(CreateIoCompletionPort((HANDLE)c2, port, 4, 0) == port);
    for (int i = 0; i < SENDS; i++) {
        memset(&ov_send[i], 0, sizeof ov_send[i]);
        WSABUF wb = {BIG, big};
        CHECK_EQ(WSASend(c2, &wb, 1, NULL, 0, &ov_send[i], NULL), SOCKET_ERROR);
        CHECK_ERR(WSA_IO_PENDING);
    }
    EXPECT_NO_PACKET(port, 0);

    /* Close the sockets with operations in flight. */
    CHECK_EQ(closesocket(c2), 0);
    CHECK_EQ(closesocket(s1), 0);
    CHECK_EQ(closesocket(l), 0);

    int got_acc = 0, got_recv = 0, got_send = 0;
    for (int n = 0; n < ACCEPTS + RECVS + SENDS; n++) {
        DWORD bytes = 0xdeadbeef;
        ULONG_PTR key = 0;
        LPOVERLAPPED ov = NULL;
        BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &ov, 5000);
        CHECK(!ok);
        CHECK(ov != NULL);
        CHECK(HasOverlappedIoCompleted(ov));
        DWORD err = GetLastError();
        if (ov >= ov_acc && ov < ov_acc + ACCEPTS) {
            CHECK_EQ(key, 1);
            CHECK_EQ(err, ERROR_OPERATION_ABORTED);
            CHECK_EQ(bytes, 0);
            got_acc |= 1 << (ov - ov_acc);
        } else if (ov >= ov_recv && ov < ov_recv + RECVS) {
            CHECK_EQ(key, 2);
            CHECK_EQ(err, ERROR_CONNECTION_ABORTED);
            CHECK_EQ(bytes, 0);
            got_recv |= 1 << (ov - ov_recv);
        } else if (ov >= ov_send && ov < ov_send + SENDS) {
            CHECK_EQ(key, 4);
            CHECK_EQ(err, ERROR_CONNECTION_ABORTED);
            got_send |= 1 << (ov - ov_send);
        } else {
            CHECK(!"a packet for an OVERLAPPED that was never issued");
        }
    }
    /* Each one exactly once, and nothing else. */
    CHECK_EQ(got_acc, (1 << ACCEPTS) - 1);
    CHECK_EQ(got_recv, (1 << RECVS) - 1);
    CHECK_EQ(got_send, (1 << SENDS) - 1);
    EXPECT_NO_PACKET(port, 100);

    /* Sockets without operations close without packets. */
    for (int i = 0; i < ACCEPTS; i++) CHECK_EQ(closesocket(acc[i]), 0);
    CHECK_EQ(closesocket(c1), 0);
    CHECK_EQ(closesocket(s2), 0);
    EXPECT_NO_PACKET(port, 0);
    CHECK(CloseHandle(port));
}

int main(void) {
    wsa_start();
    /* Start the engine (its fds stay for the process's life), then count. */
    SOCKET warm = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(closesocket(warm), 0);
    char *big = (char *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, BIG);
    CHECK(big != NULL);
    int fds = count_fds();
    DWORD handles = handle_count();
    for (int r = 0; r < 20; r++) {
        round_trip(big);
        /* The engine closes an fd once its last operation is reaped. */
        long long deadline = now_ms() + 5000;
        while (count_fds() != fds && now_ms() < deadline) Sleep(1);
        CHECK_EQ(count_fds(), fds);
        CHECK_EQ(handle_count(), handles);
    }
    CHECK(HeapFree(GetProcessHeap(), 0, big));
    CHECK_EQ(WSACleanup(), 0);
    printf("closeall: ok\n");
    return 0;
}
