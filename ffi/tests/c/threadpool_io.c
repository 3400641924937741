/* Thread-pool I/O: CreateThreadpoolIo on sockets and files; the callback
 * gets the OVERLAPPED, the Win32 result (0 or the error) and the byte count;
 * StartThreadpoolIo before each call, CancelThreadpoolIo after one that
 * failed at once; AcceptEx, WSARecv/WSASend, a receive ended by closesocket
 * (ERROR_CONNECTION_ABORTED), ReadFile/WriteFile at offsets,
 * WaitForThreadpoolIoCallbacks; bad handles and a handle already
 * associated with a port. */
#include "net.h"
#include <stdio.h>

typedef struct {
    OVERLAPPED ov;
    volatile LONG done;
    volatile ULONG result;
    volatile ULONG_PTR bytes;
    PTP_IO io;
} Op;

static volatile LONG callbacks;
static PVOID seen_ctx;

static VOID CALLBACK io_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID overlapped, ULONG result,
                           ULONG_PTR bytes, PTP_IO io) {
    (void)inst;
    Op *op = (Op *)overlapped;
    CHECK(op != NULL);
    seen_ctx = ctx;
    op->result = result;
    op->bytes = bytes;
    op->io = io;
    InterlockedIncrement(&callbacks);
    InterlockedExchange(&op->done, 1);
}

static void wait_op(Op *op) {
    for (int i = 0; i < 5000 && !op->done; i++) Sleep(1);
    CHECK_EQ(op->done, 1);
}

static void test_sockets(void) {
    SOCKET c, s;
    tcp_pair(&c, &s);
    /* tcp_pair's client is not overlapped: make an overlapped pair instead. */
    closesocket(c);
    closesocket(s);

    struct sockaddr_in la;
    SOCKET l = tcp_listener(&la);
    PTP_IO lio = CreateThreadpoolIo((HANDLE)l, io_cb, (PVOID)0x11, NULL);
    CHECK(lio != NULL);
    /* Associated now: a port can no longer take it. */
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    CHECK(CreateIoCompletionPort((HANDLE)l, port, 1, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(CreateThreadpoolIo((HANDLE)l, io_cb, NULL, NULL) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);

    LPFN_ACCEPTEX pAcceptEx = (LPFN_ACCEPTEX)get_ext(l, (GUID)WSAID_ACCEPTEX);
    SOCKET as = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    char addrs[2 * (sizeof(struct sockaddr_in) + 16)];
    Op acc;
    memset(&acc, 0, sizeof acc);
    DWORD n = 0;
    StartThreadpoolIo(lio);
    BOOL ok = pAcceptEx(l, as, addrs, 0, sizeof(struct sockaddr_in) + 16, sizeof(struct sockaddr_in) + 16, &n,
                        &acc.ov);
    CHECK(!ok);
    CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
    SOCKET cl = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    CHECK_EQ(connect(cl, (struct sockaddr *)&la, sizeof la), 0);
    wait_op(&acc);
    CHECK_EQ(acc.result, 0);
    CHECK_EQ(acc.bytes, 0);
    CHECK(acc.io == lio);
    CHECK(seen_ctx == (PVOID)0x11);
    WaitForThreadpoolIoCallbacks(lio, FALSE);
    CHECK_EQ(setsockopt(as, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&l, sizeof l), 0);

    PTP_IO sio = CreateThreadpoolIo((HANDLE)as, io_cb, (PVOID)0x22, NULL);
    CHECK(sio != NULL);

    /* A receive that waits for the client's data. */
    char rbuf[64];
    WSABUF rb = {sizeof rbuf, rbuf};
    Op rop;
    memset(&rop, 0, sizeof rop);
    DWORD flags = 0;
    StartThreadpoolIo(sio);
    int rc = WSARecv(as, &rb, 1, NULL, &flags, &rop.ov, NULL);
    CHECK(rc == 0 || WSAGetLastError() == WSA_IO_PENDING);
    Sleep(20);
    CHECK_EQ(rop.done, 0);
    send_all_sync(cl, "hello pool", 10);
    wait_op(&rop);
    CHECK_EQ(rop.result, 0);
    CHECK_EQ(rop.bytes, 10);
    CHECK(memcmp(rbuf, "hello pool", 10) == 0);
    CHECK(seen_ctx == (PVOID)0x22);

    /* A send: the callback reports the bytes. */
    Op sop;
    memset(&sop, 0, sizeof sop);
    WSABUF sb = {5, (char *)"world"};
    StartThreadpoolIo(sio);
    rc = WSASend(as, &sb, 1, NULL, 0, &sop.ov, NULL);
    CHECK(rc == 0 || WSAGetLastError() == WSA_IO_PENDING);
    wait_op(&sop);
    CHECK_EQ(sop.result, 0);
    CHECK_EQ(sop.bytes, 5);
    char got[5];
    recv_all_sync(cl, got, 5);
    CHECK(memcmp(got, "world", 5) == 0);

    /* A call that fails at once: CancelThreadpoolIo, and no callback. */
    SOCKET unconnected = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    PTP_IO uio = CreateThreadpoolIo((HANDLE)unconnected, io_cb, NULL, NULL);
    CHECK(uio != NULL);
    Op fop;
    memset(&fop, 0, sizeof fop);
    LONG before = callbacks;
    StartThreadpoolIo(uio);
    rc = WSARecv(unconnected, &rb, 1, NULL, &flags, &fop.ov, NULL);
    CHECK_EQ(rc, SOCKET_ERROR);
    CHECK(WSAGetLastError() != WSA_IO_PENDING);
    CancelThreadpoolIo(uio);
    /* With nothing pending, waiting returns at once. */
    WaitForThreadpoolIoCallbacks(uio, FALSE);
    Sleep(20);
    CHECK_EQ(callbacks, before);
    CloseThreadpoolIo(uio);
    closesocket(unconnected);

    /* A receive ended by closesocket: ERROR_CONNECTION_ABORTED (1236), 0 bytes. */
    memset(&rop, 0, sizeof rop);
    StartThreadpoolIo(sio);
    rc = WSARecv(as, &rb, 1, NULL, &flags, &rop.ov, NULL);
    CHECK_EQ(rc, SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
    CHECK_EQ(closesocket(as), 0);
    WaitForThreadpoolIoCallbacks(sio, FALSE);
    CHECK_EQ(rop.done, 1);
    CHECK_EQ(rop.result, ERROR_CONNECTION_ABORTED);
    CHECK_EQ(rop.bytes, 0);
    CloseThreadpoolIo(sio);

    /* Bad handles. */
    CHECK(CreateThreadpoolIo(NULL, io_cb, NULL, NULL) == NULL);
    CHECK(CreateThreadpoolIo((HANDLE)(ULONG_PTR)12345, io_cb, NULL, NULL) == NULL);

    CloseThreadpoolIo(lio);
    closesocket(cl);
    closesocket(l);
    CloseHandle(port);
}

static void test_file(void) {
    char path[260];
    snprintf(path, sizeof path, "cport_tp_io_%lu.tmp", (unsigned long)GetCurrentProcessId());
    HANDLE f = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                           FILE_FLAG_OVERLAPPED | FILE_FLAG_DELETE_ON_CLOSE, NULL);
    CHECK(f != INVALID_HANDLE_VALUE);
    PTP_POOL pool = CreateThreadpool(NULL);
    SetThreadpoolThreadMaximum(pool, 2);
    TP_CALLBACK_ENVIRON env;
    InitializeThreadpoolEnvironment(&env);
    SetThreadpoolCallbackPool(&env, pool);
    PTP_IO fio = CreateThreadpoolIo(f, io_cb, (PVOID)0x33, &env);
    CHECK(fio != NULL);

    /* Four writes of 4 KiB at their offsets, all in flight. */
    static char data[4][4096];
    Op w[4];
    for (int i = 0; i < 4; i++) {
        memset(data[i], 'a' + i, sizeof data[i]);
        memset(&w[i], 0, sizeof w[i]);
        w[i].ov.Offset = (DWORD)(i * 4096);
        StartThreadpoolIo(fio);
        BOOL ok = WriteFile(f, data[i], 4096, NULL, &w[i].ov);
        CHECK(ok || GetLastError() == ERROR_IO_PENDING);
    }
    WaitForThreadpoolIoCallbacks(fio, FALSE);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(w[i].done, 1);
        CHECK_EQ(w[i].result, 0);
        CHECK_EQ(w[i].bytes, 4096);
    }
    /* Read it back; a read past the end: ERROR_HANDLE_EOF (38). */
    static char back[16384];
    Op r;
    memset(&r, 0, sizeof r);
    StartThreadpoolIo(fio);
    BOOL ok = ReadFile(f, back, sizeof back, NULL, &r.ov);
    CHECK(ok || GetLastError() == ERROR_IO_PENDING);
    wait_op(&r);
    CHECK_EQ(r.result, 0);
    CHECK_EQ(r.bytes, sizeof back);
    for (int i = 0; i < 4; i++) CHECK(memcmp(back + i * 4096, data[i], 4096) == 0);
    Op eof;
    memset(&eof, 0, sizeof eof);
    eof.ov.Offset = 1 << 20;
    StartThreadpoolIo(fio);
    ok = ReadFile(f, back, 16, NULL, &eof.ov);
    if (!ok && GetLastError() == ERROR_HANDLE_EOF) {
        CancelThreadpoolIo(fio); /* failed at once */
    } else {
        CHECK(ok || GetLastError() == ERROR_IO_PENDING);
        wait_op(&eof);
        CHECK_EQ(eof.result, ERROR_HANDLE_EOF);
        CHECK_EQ(eof.bytes, 0);
    }
    WaitForThreadpoolIoCallbacks(fio, FALSE);
    CHECK(seen_ctx == (PVOID)0x33);
    CloseThreadpoolIo(fio);
    CloseHandle(f);
    DestroyThreadpoolEnvironment(&env);
    CloseThreadpool(pool);
}

int main(void) {
    wsa_start();
    test_sockets();
    test_file();
    WSACleanup();
    printf("threadpool_io: ok\n");
    return 0;
}
