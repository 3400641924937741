/* AcceptEx, GetAcceptExSockaddrs and ConnectEx through
 * WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) (docs/semantics.md, "C ABI"). */
#include "net.h"
#include <unistd.h>

static LPFN_ACCEPTEX pAcceptEx;
static LPFN_GETACCEPTEXSOCKADDRS pGetAcceptExSockaddrs;
static LPFN_CONNECTEX pConnectEx;

#define ADDR_LEN (sizeof(struct sockaddr_in) + 16)

static SOCKET new_tcp(void) {
    SOCKET s = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    CHECK(s != INVALID_SOCKET);
    return s;
}

static SOCKET bound_tcp(void) {
    SOCKET s = new_tcp();
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    return s;
}

static unsigned short local_port(SOCKET s) {
    struct sockaddr_in a;
    int len = sizeof a;
    CHECK_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

int main(void) {
    wsa_start();
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    struct sockaddr_in la;
    SOCKET l = tcp_listener(&la);
    CHECK(CreateIoCompletionPort((HANDLE)l, port, 1, 0) == port);

    GUID ga = WSAID_ACCEPTEX, gs = WSAID_GETACCEPTEXSOCKADDRS, gc = WSAID_CONNECTEX;
    pAcceptEx = (LPFN_ACCEPTEX)get_ext(l, ga);
    pGetAcceptExSockaddrs = (LPFN_GETACCEPTEXSOCKADDRS)get_ext(l, gs);
    pConnectEx = (LPFN_CONNECTEX)get_ext(l, gc);
    /* An unknown GUID: WSAEINVAL; a short buffer: WSAEFAULT. */
    GUID bogus = {1, 2, 3, {4, 5, 6, 7, 8, 9, 10, 11}};
    void *f;
    DWORD nret;
    CHECK_EQ(WSAIoctl(l, SIO_GET_EXTENSION_FUNCTION_POINTER, &bogus, sizeof bogus, &f, sizeof f, &nret, NULL, NULL),
             SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(WSAIoctl(l, SIO_GET_EXTENSION_FUNCTION_POINTER, &ga, 4, &f, sizeof f, &nret, NULL, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);

    /* AcceptEx without first data: completes on connect, listener's key, 0 bytes. */
    char buf[64 + 2 * ADDR_LEN];
    SOCKET a = new_tcp();
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    DWORD bytes = 0xdeadbeef;
    CHECK(!pAcceptEx(l, a, buf, 0, ADDR_LEN, ADDR_LEN, &bytes, &ov));
    CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
    CHECK_EQ(ov.Internal, STATUS_PENDING);
    EXPECT_NO_PACKET(port, 50);
    /* Before the AcceptEx completed, the accept socket has no peer. */
    {
        struct sockaddr_in na;
        int nalen = sizeof na;
        CHECK_EQ(getpeername(a, (struct sockaddr *)&na, &nalen), SOCKET_ERROR);
        CHECK_ERR(WSAENOTCONN);
    }
    SOCKET c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c, (struct sockaddr *)&la, sizeof la), 0);
    EXPECT_PACKET(port, 1, &ov, 0, TRUE, 0);
    CHECK_EQ(ov.Internal, STATUS_SUCCESS);
    CHECK_EQ(setsockopt(a, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&l, sizeof l), 0);
    struct sockaddr *lp = NULL, *rp = NULL;
    int llen = 0, rlen = 0;
    pGetAcceptExSockaddrs(buf, 0, ADDR_LEN, ADDR_LEN, &lp, &llen, &rp, &rlen);
    CHECK(lp != NULL && rp != NULL);
    CHECK_EQ(llen, sizeof(struct sockaddr_in));
    CHECK_EQ(rlen, sizeof(struct sockaddr_in));
    struct sockaddr_in lsa, rsa;
    memcpy(&lsa, lp, sizeof lsa);
    memcpy(&rsa, rp, sizeof rsa);
    CHECK_EQ(lsa.sin_family, AF_INET);
    CHECK_EQ(ntohs(lsa.sin_port), ntohs(la.sin_port));
    CHECK_EQ(rsa.sin_family, AF_INET);
    CHECK_EQ(ntohs(rsa.sin_port), local_port(c));
    CHECK_EQ(ntohl(rsa.sin_addr.s_addr), INADDR_LOOPBACK);
    /* The accept socket is the connection now. */
    struct sockaddr_in pa;
    int palen = sizeof pa;
    CHECK_EQ(getpeername(a, (struct sockaddr *)&pa, &palen), 0);
    CHECK_EQ(ntohs(pa.sin_port), local_port(c));
    send_all_sync(c, "ping", 4);
    char tmp[16];
    CHECK_EQ(recv(a, tmp, sizeof tmp, 0), 4);
    CHECK(memcmp(tmp, "ping", 4) == 0);
    /* …and can be associated (a new handle to the port) and used overlapped. */
    CHECK(CreateIoCompletionPort((HANDLE)a, port, 2, 0) == port);
    WSABUF wb = {sizeof tmp, tmp};
    DWORD flags = 0;
    OVERLAPPED ovr;
    memset(&ovr, 0, sizeof ovr);
    int r = WSARecv(a, &wb, 1, NULL, &flags, &ovr, NULL);
    CHECK(r == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
    send_all_sync(c, "pong", 4);
    EXPECT_PACKET(port, 2, &ovr, 4, TRUE, 0);
    CHECK_EQ(closesocket(a), 0);
    CHECK_EQ(closesocket(c), 0);

    /* AcceptEx with first data: not complete on connect, only when data comes. */
    a = new_tcp();
    memset(&ov, 0, sizeof ov);
    CHECK(!pAcceptEx(l, a, buf, 16, ADDR_LEN, ADDR_LEN, &bytes, &ov));
    CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
    c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c, (struct sockaddr *)&la, sizeof la), 0);
    EXPECT_NO_PACKET(port, 150);
    /* Connected underneath but the AcceptEx has not completed: still no peer. */
    {
        struct sockaddr_in na;
        int nalen = sizeof na;
        CHECK_EQ(getpeername(a, (struct sockaddr *)&na, &nalen), SOCKET_ERROR);
        CHECK_ERR(WSAENOTCONN);
    }
    send_all_sync(c, "first", 5);
    EXPECT_PACKET(port, 1, &ov, 5, TRUE, 0);
    CHECK(memcmp(buf, "first", 5) == 0);
    pGetAcceptExSockaddrs(buf, 16, ADDR_LEN, ADDR_LEN, &lp, &llen, &rp, &rlen);
    memcpy(&rsa, rp, sizeof rsa);
    CHECK_EQ(ntohs(rsa.sin_port), local_port(c));
    CHECK_EQ(closesocket(a), 0);
    CHECK_EQ(closesocket(c), 0);
    /* ... and when the peer closes before sending: TRUE with 0 bytes; a
     * pending AcceptEx leaves *lpdwBytesReceived alone. */
    a = new_tcp();
    memset(&ov, 0, sizeof ov);
    bytes = 0xdeadbeef;
    CHECK(!pAcceptEx(l, a, buf, 16, ADDR_LEN, ADDR_LEN, &bytes, &ov));
    CHECK_ERR(ERROR_IO_PENDING);
    c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c, (struct sockaddr *)&la, sizeof la), 0);
    CHECK_EQ(closesocket(c), 0);
    EXPECT_PACKET(port, 1, &ov, 0, TRUE, 0);
    CHECK_EQ(bytes, 0xdeadbeef);
    CHECK_EQ(closesocket(a), 0);

    /* AcceptEx's synchronous failures (Internal still STATUS_PENDING). */
    a = new_tcp();
    CHECK(!pAcceptEx(l, a, buf, 0, ADDR_LEN, ADDR_LEN, &bytes, NULL));
    CHECK_EQ(WSAGetLastError(), ERROR_INVALID_PARAMETER);
    memset(&ov, 0, sizeof ov);
    CHECK(!pAcceptEx((SOCKET)0x1234, a, buf, 0, ADDR_LEN, ADDR_LEN, &bytes, &ov));
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(ov.Internal, STATUS_PENDING);
    CHECK(!pAcceptEx(l, INVALID_SOCKET, buf, 0, ADDR_LEN, ADDR_LEN, &bytes, &ov));
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK(!pAcceptEx(l, a, buf, 0, ADDR_LEN, 0, &bytes, &ov));
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    SOCKET notl = bound_tcp();
    CHECK(!pAcceptEx(notl, a, buf, 0, ADDR_LEN, ADDR_LEN, &bytes, &ov));
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK(!pAcceptEx(l, notl, buf, 0, ADDR_LEN, ADDR_LEN, &bytes, &ov)); /* bound accept socket */
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(ov.Internal, STATUS_PENDING);
    EXPECT_NO_PACKET(port, 50);
    /* A UDP accept socket: WSAEINVAL, as on Windows. */
    {
        SOCKET ua = socket(AF_INET, SOCK_DGRAM, 0);
        CHECK(ua != INVALID_SOCKET);
        memset(&ov, 0, sizeof ov);
        CHECK(!pAcceptEx(l, ua, buf, 0, ADDR_LEN, ADDR_LEN, &bytes, &ov));
        CHECK_ERR(WSAEINVAL);
        CHECK_EQ(ov.Internal, STATUS_PENDING);
        CHECK_EQ(closesocket(ua), 0);
    }
    /* ConnectEx on a listening socket: WSAEINVAL. */
    memset(&ov, 0, sizeof ov);
    CHECK(!pConnectEx(l, (struct sockaddr *)&la, sizeof la, NULL, 0, NULL, &ov));
    CHECK_ERR(WSAEINVAL);
    /* A local address length of 0 is allowed; GetAcceptExSockaddrs still
     * finds the remote address. CancelIo on the accept socket does not cancel
     * the AcceptEx: it belongs to the listener. */
    {
        SOCKET a0 = new_tcp();
        memset(&ov, 0, sizeof ov);
        CHECK(!pAcceptEx(l, a0, buf, 0, 0, ADDR_LEN, &bytes, &ov));
        CHECK_ERR(ERROR_IO_PENDING);
        CHECK(CancelIo((HANDLE)a0));
        EXPECT_NO_PACKET(port, 50);
        SOCKET c0 = socket(AF_INET, SOCK_STREAM, 0);
        CHECK_EQ(connect(c0, (struct sockaddr *)&la, sizeof la), 0);
        EXPECT_PACKET(port, 1, &ov, 0, TRUE, 0);
        struct sockaddr *lp0 = (struct sockaddr *)1, *rp0 = NULL;
        int llen0 = -1, rlen0 = 0;
        pGetAcceptExSockaddrs(buf, 0, 0, ADDR_LEN, &lp0, &llen0, &rp0, &rlen0);
        CHECK(rp0 != NULL);
        CHECK_EQ(rlen0, sizeof(struct sockaddr_in));
        struct sockaddr_in r0;
        memcpy(&r0, rp0, sizeof r0);
        CHECK_EQ(ntohs(r0.sin_port), local_port(c0));
        CHECK_EQ(closesocket(c0), 0);
        CHECK_EQ(closesocket(a0), 0);
    }
    /* Too small a local address block: pending, then ERROR_INSUFFICIENT_BUFFER. */
    memset(&ov, 0, sizeof ov);
    CHECK(!pAcceptEx(l, a, buf, 0, 3, ADDR_LEN, &bytes, &ov));
    CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
    EXPECT_PACKET(port, 1, &ov, 0, FALSE, ERROR_INSUFFICIENT_BUFFER);
    CHECK_EQ(ov.Internal, STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(closesocket(a), 0);

    /* Association after the AcceptEx was issued still routes its packet
     * with the key given later. */
    struct sockaddr_in la2;
    SOCKET l2 = tcp_listener(&la2);
    a = new_tcp();
    memset(&ov, 0, sizeof ov);
    CHECK(!pAcceptEx(l2, a, buf, 0, ADDR_LEN, ADDR_LEN, &bytes, &ov));
    CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
    CHECK(CreateIoCompletionPort((HANDLE)l2, port, 5, 0) == port);
    c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c, (struct sockaddr *)&la2, sizeof la2), 0);
    EXPECT_PACKET(port, 5, &ov, 0, TRUE, 0);
    CHECK_EQ(closesocket(a), 0);
    CHECK_EQ(closesocket(c), 0);
    CHECK_EQ(closesocket(l2), 0);

    /* ConnectEx on an unbound socket: WSAEINVAL; NULL OVERLAPPED: 87. */
    SOCKET k = new_tcp();
    memset(&ov, 0, sizeof ov);
    CHECK(!pConnectEx(k, (struct sockaddr *)&la, sizeof la, NULL, 0, NULL, &ov));
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(ov.Internal, STATUS_PENDING);
    CHECK(!pConnectEx(k, (struct sockaddr *)&la, sizeof la, NULL, 0, NULL, NULL));
    CHECK_EQ(WSAGetLastError(), ERROR_INVALID_PARAMETER);
    CHECK_EQ(closesocket(k), 0);

    /* ConnectEx with first data: one packet, bytes = the data sent. */
    k = bound_tcp();
    CHECK(CreateIoCompletionPort((HANDLE)k, port, 7, 0) == port);
    char data[] = "data!";
    memset(&ov, 0, sizeof ov);
    CHECK(!pConnectEx(k, (struct sockaddr *)&la, sizeof la, data, 5, NULL, &ov));
    CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
    EXPECT_PACKET(port, 7, &ov, 5, TRUE, 0);
    CHECK_EQ(setsockopt(k, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0), 0);
    SOCKET srv = accept(l, NULL, NULL);
    CHECK(srv != INVALID_SOCKET);
    CHECK_EQ(recv(srv, tmp, sizeof tmp, 0), 5);
    CHECK(memcmp(tmp, "data!", 5) == 0);
    /* A connected socket: WSAEISCONN. */
    CHECK(!pConnectEx(k, (struct sockaddr *)&la, sizeof la, NULL, 0, NULL, &ov));
    CHECK_EQ(WSAGetLastError(), WSAEISCONN);
    CHECK_EQ(closesocket(srv), 0);
    CHECK_EQ(closesocket(k), 0);

    /* Refused: pending, then a failed packet with 1225 (also in skip mode). */
    SOCKET gone = bound_tcp();
    struct sockaddr_in ga2;
    int galen = sizeof ga2;
    CHECK_EQ(getsockname(gone, (struct sockaddr *)&ga2, &galen), 0);
    CHECK_EQ(closesocket(gone), 0);
    k = bound_tcp();
    CHECK(CreateIoCompletionPort((HANDLE)k, port, 8, 0) == port);
    CHECK(SetFileCompletionNotificationModes((HANDLE)k, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
    memset(&ov, 0, sizeof ov);
    CHECK(!pConnectEx(k, (struct sockaddr *)&ga2, sizeof ga2, NULL, 0, NULL, &ov));
    CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
    EXPECT_PACKET(port, 8, &ov, 0, FALSE, ERROR_CONNECTION_REFUSED);
    CHECK_EQ(ov.Internal, STATUS_CONNECTION_REFUSED);
    DWORD n = 0;
    CHECK(!WSAGetOverlappedResult(k, &ov, &n, FALSE, &flags));
    CHECK_EQ(WSAGetLastError(), WSAECONNREFUSED);
    CHECK(!GetOverlappedResult((HANDLE)k, &ov, &n, FALSE));
    CHECK_ERR(ERROR_CONNECTION_REFUSED);
    CHECK_EQ(closesocket(k), 0);

    /* TransmitFile and DisconnectEx: overlapped,
     * one packet each. */
    {
        LPFN_DISCONNECTEX pDisconnectEx = (LPFN_DISCONNECTEX)get_ext(l, (GUID)WSAID_DISCONNECTEX);
        LPFN_TRANSMITFILE pTransmitFile = (LPFN_TRANSMITFILE)get_ext(l, (GUID)WSAID_TRANSMITFILE);
        CHECK(pTransmitFile == TransmitFile);
        SOCKET tc, ts;
        tcp_pair(&tc, &ts);
        CHECK(CreateIoCompletionPort((HANDLE)ts, port, 7, 0) == port);
        char fpath[64];
        snprintf(fpath, sizeof fpath, "/tmp/cport-transmit-%d", (int)getpid());
        HANDLE f = CreateFileA(fpath, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                               FILE_FLAG_DELETE_ON_CLOSE, NULL);
        CHECK(f != INVALID_HANDLE_VALUE);
        DWORD fw = 0;
        CHECK(WriteFile(f, "0123456789", 10, &fw, NULL));
        /* Head, the whole file from the OVERLAPPED's offset (2), tail. */
        TRANSMIT_FILE_BUFFERS tfb = {(LPVOID) "HEAD:", 5, (LPVOID) ":TAIL", 5};
        OVERLAPPED tov;
        memset(&tov, 0, sizeof tov);
        tov.Offset = 2;
        if (!pTransmitFile(ts, f, 0, 0, &tov, &tfb, 0)) CHECK_ERR(ERROR_IO_PENDING);
        EXPECT_PACKET(port, 7, &tov, 18, TRUE, 0);
        char got[32];
        recv_all_sync(tc, got, 18);
        CHECK(memcmp(got, "HEAD:23456789:TAIL", 18) == 0);
        /* The export, synchronous (no OVERLAPPED): 3 bytes from the file pointer. */
        CHECK_EQ(SetFilePointer(f, 1, NULL, FILE_BEGIN), 1);
        CHECK(TransmitFile(ts, f, 3, 0, NULL, NULL, 0));
        recv_all_sync(tc, got, 3);
        CHECK(memcmp(got, "123", 3) == 0);
        CHECK_EQ(SetFilePointer(f, 0, NULL, FILE_CURRENT), 4);
        EXPECT_NO_PACKET(port, 50);
        /* Bad flags (TF_REUSE_SOCKET needs TF_DISCONNECT): WSAEINVAL, no packet. */
        memset(&tov, 0, sizeof tov);
        CHECK(!pTransmitFile(ts, f, 0, 0, &tov, NULL, TF_REUSE_SOCKET));
        CHECK_ERR(WSAEINVAL);
        /* A file part over Windows' 2,147,483,646-byte limit (a sparse 3 GiB
         * file): ERROR_INVALID_PARAMETER before anything is read or sent, no packet. */
        {
            char bpath[64];
            snprintf(bpath, sizeof bpath, "/tmp/cport-transmit-big-%d", (int)getpid());
            HANDLE big = CreateFileA(bpath, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                                     FILE_FLAG_DELETE_ON_CLOSE, NULL);
            CHECK(big != INVALID_HANDLE_VALUE);
            LARGE_INTEGER at;
            at.QuadPart = 3LL << 30;
            CHECK(SetFilePointerEx(big, at, NULL, FILE_BEGIN));
            CHECK(WriteFile(big, "x", 1, &fw, NULL));
            memset(&tov, 0, sizeof tov);
            CHECK(!pTransmitFile(ts, big, 0, 0, &tov, NULL, 0));
            CHECK_ERR(ERROR_INVALID_PARAMETER);
            EXPECT_NO_PACKET(port, 50);
            CHECK(CloseHandle(big));
        }
        /* TF_DISCONNECT: after the bytes, the peer sees end of stream. */
        memset(&tov, 0, sizeof tov);
        tov.Offset = 9;
        if (!pTransmitFile(ts, f, 0, 0, &tov, NULL, TF_DISCONNECT)) CHECK_ERR(ERROR_IO_PENDING);
        EXPECT_PACKET(port, 7, &tov, 1, TRUE, 0);
        CHECK_EQ(recv(tc, got, sizeof got, 0), 1);
        CHECK_EQ(got[0], '9');
        CHECK_EQ(recv(tc, got, sizeof got, 0), 0);
        CHECK_EQ(closesocket(tc), 0);
        CHECK_EQ(closesocket(ts), 0);

        /* DisconnectEx: the peer sees end of stream; one packet. */
        tcp_pair(&tc, &ts);
        CHECK(CreateIoCompletionPort((HANDLE)ts, port, 8, 0) == port);
        memset(&tov, 0, sizeof tov);
        CHECK(!pDisconnectEx(ts, &tov, 0x80, 0));
        CHECK_ERR(WSAEINVAL);
        memset(&tov, 0, sizeof tov);
        if (!pDisconnectEx(ts, &tov, 0, 0)) CHECK_ERR(ERROR_IO_PENDING);
        EXPECT_PACKET(port, 8, &tov, 0, TRUE, 0);
        CHECK_EQ(recv(tc, got, sizeof got, 0), 0);
        EXPECT_NO_PACKET(port, 50);
        CHECK_EQ(closesocket(tc), 0);
        CHECK_EQ(closesocket(ts), 0);
        /* Never connected: WSAENOTCONN for both. */
        SOCKET nc = new_tcp();
        CHECK(!pDisconnectEx(nc, NULL, 0, 0));
        CHECK_ERR(WSAENOTCONN);
        CHECK(!TransmitFile(nc, f, 0, 0, NULL, NULL, 0));
        CHECK_ERR(WSAENOTCONN);
        CHECK_EQ(closesocket(nc), 0);
        /* TF_REUSE_SOCKET: the same SOCKET can be an AcceptEx accept socket. */
        tcp_pair(&tc, &ts);
        CHECK(pDisconnectEx(ts, NULL, TF_REUSE_SOCKET, 0));
        CHECK_EQ(recv(tc, got, sizeof got, 0), 0);
        CHECK_EQ(closesocket(tc), 0);
        memset(&tov, 0, sizeof tov);
        CHECK(!pAcceptEx(l, ts, buf, 0, ADDR_LEN, ADDR_LEN, NULL, &tov));
        CHECK_ERR(ERROR_IO_PENDING);
        tc = socket(AF_INET, SOCK_STREAM, 0);
        CHECK_EQ(connect(tc, (struct sockaddr *)&la, sizeof la), 0);
        EXPECT_PACKET(port, 1, &tov, 0, TRUE, 0);
        send_all_sync(tc, "again", 5);
        CHECK_EQ(recv(ts, got, sizeof got, 0), 5);
        CHECK(memcmp(got, "again", 5) == 0);
        CHECK_EQ(closesocket(tc), 0);
        CHECK_EQ(closesocket(ts), 0);
        CHECK(CloseHandle(f));
        CHECK(access(fpath, F_OK) != 0);
    }

    CHECK_EQ(closesocket(notl), 0);
    CHECK_EQ(closesocket(l), 0);
    EXPECT_NO_PACKET(port, 50);
    CHECK(CloseHandle(port));
    printf("acceptex: ok\n");
    return 0;
}
