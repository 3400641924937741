/* The classic IOCP server shape under load: worker threads on one port,
 * pre-posted AcceptEx, WSARecv → WSASend echo per connection, a zero-byte
 * packet ends a connection, shutdown by posting (0, 0, NULL) per worker.
 * Client threads check every byte that comes back. */
#include <pthread.h>
#include <stdint.h>
#include "net.h"

#define WORKERS 4
#define CLIENTS 8
#define ROUNDS 200
#define ACCEPTS 4
#define ADDR_LEN (sizeof(struct sockaddr_in) + 16)
#define BUF 4096

enum op { OP_ACCEPT, OP_RECV, OP_SEND };

typedef struct io_ctx {
    OVERLAPPED ov; /* first: the OVERLAPPED* is the context */
    enum op op;
    SOCKET sock;
    WSABUF wb;
    DWORD sent, total;
    char buf[BUF + 2 * ADDR_LEN];
} io_ctx;

static HANDLE port;
static SOCKET listener;
static struct sockaddr_in laddr;
static LPFN_ACCEPTEX pAcceptEx;
static volatile long closed_conns, aborted_accepts;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void post_accept(io_ctx *c) {
    memset(&c->ov, 0, sizeof c->ov);
    c->op = OP_ACCEPT;
    c->sock = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    CHECK(c->sock != INVALID_SOCKET);
    if (!pAcceptEx(listener, c->sock, c->buf, 0, ADDR_LEN, ADDR_LEN, NULL, &c->ov))
        CHECK_EQ(WSAGetLastError(), ERROR_IO_PENDING);
}

static void post_recv(io_ctx *c) {
    DWORD flags = 0;
    memset(&c->ov, 0, sizeof c->ov);
    c->op = OP_RECV;
    c->wb.buf = c->buf;
    c->wb.len = BUF;
    int r = WSARecv(c->sock, &c->wb, 1, NULL, &flags, &c->ov, NULL);
    CHECK(r == 0 || WSAGetLastError() == WSA_IO_PENDING);
}

static void post_send(io_ctx *c) {
    memset(&c->ov, 0, sizeof c->ov);
    c->op = OP_SEND;
    c->wb.buf = c->buf + c->sent;
    c->wb.len = c->total - c->sent;
    int r = WSASend(c->sock, &c->wb, 1, NULL, 0, &c->ov, NULL);
    CHECK(r == 0 || WSAGetLastError() == WSA_IO_PENDING);
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        DWORD bytes;
        ULONG_PTR key;
        LPOVERLAPPED ov = NULL;
        BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &ov, INFINITE);
        if (ok && key == 0 && ov == NULL) return NULL; /* shutdown */
        CHECK(ov != NULL);
        io_ctx *c = (io_ctx *)ov;
        if (ok) CHECK_EQ(c->ov.Internal, STATUS_SUCCESS);
        switch (c->op) {
        case OP_ACCEPT: {
            if (!ok) { /* the listener was closed: 995, the listener's key */
                CHECK_ERR(ERROR_OPERATION_ABORTED);
                CHECK_EQ(key, 1);
                CHECK_EQ(c->ov.Internal, STATUS_CANCELLED);
                CHECK_EQ(closesocket(c->sock), 0);
                pthread_mutex_lock(&mu);
                aborted_accepts++;
                pthread_mutex_unlock(&mu);
                break;
            }
            CHECK_EQ(key, 1); /* the listener's key */
            CHECK_EQ(setsockopt(c->sock, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&listener,
                                sizeof listener), 0);
            io_ctx *conn = calloc(1, sizeof *conn);
            CHECK(conn != NULL);
            conn->sock = c->sock;
            CHECK(CreateIoCompletionPort((HANDLE)conn->sock, port, 2, 0) == port);
            post_recv(conn);
            post_accept(c); /* the next connection */
            break;
        }
        case OP_RECV:
            CHECK_EQ(key, 2);
            if (!ok || bytes == 0) { /* the client closed */
                CHECK_EQ(closesocket(c->sock), 0);
                free(c);
                pthread_mutex_lock(&mu);
                closed_conns++;
                pthread_mutex_unlock(&mu);
                break;
            }
            c->total = bytes;
            c->sent = 0;
            post_send(c);
            break;
        case OP_SEND:
            CHECK(ok);
            c->sent += bytes;
            CHECK_EQ(c->sent, c->total); /* overlapped sends send everything */
            post_recv(c);
            break;
        }
    }
}

static void *client(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s != INVALID_SOCKET);
    CHECK_EQ(connect(s, (struct sockaddr *)&laddr, sizeof laddr), 0);
    static __thread char out[BUF], in[BUF];
    for (int r = 0; r < ROUNDS; r++) {
        int n = 1 + (int)(rand_r(&seed) % BUF);
        for (int i = 0; i < n; i++) out[i] = (char)rand_r(&seed);
        send_all_sync(s, out, n);
        recv_all_sync(s, in, n);
        CHECK(memcmp(in, out, n) == 0);
    }
    CHECK_EQ(closesocket(s), 0);
    return NULL;
}

int main(void) {
    wsa_start();
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    CHECK(port != NULL);
    listener = tcp_listener(&laddr);
    CHECK(CreateIoCompletionPort((HANDLE)listener, port, 1, 0) == port);
    pAcceptEx = (LPFN_ACCEPTEX)get_ext(listener, (GUID)WSAID_ACCEPTEX);
    static io_ctx accepts[ACCEPTS];
    for (int i = 0; i < ACCEPTS; i++) post_accept(&accepts[i]);

    pthread_t w[WORKERS], c[CLIENTS];
    for (int i = 0; i < WORKERS; i++) CHECK(pthread_create(&w[i], NULL, worker, NULL) == 0);
    for (int i = 0; i < CLIENTS; i++)
        CHECK(pthread_create(&c[i], NULL, client, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < CLIENTS; i++) pthread_join(c[i], NULL);

    long long deadline = now_ms() + 10000;
    while (closed_conns < CLIENTS && now_ms() < deadline) Sleep(10);
    CHECK_EQ(closed_conns, CLIENTS);

    /* Closing the listener aborts the pre-posted AcceptEx (995, listener key). */
    CHECK_EQ(closesocket(listener), 0);
    deadline = now_ms() + 5000;
    while (aborted_accepts < ACCEPTS && now_ms() < deadline) Sleep(10);
    CHECK_EQ(aborted_accepts, ACCEPTS);
    for (int i = 0; i < WORKERS; i++) CHECK(PostQueuedCompletionStatus(port, 0, 0, NULL));
    for (int i = 0; i < WORKERS; i++) pthread_join(w[i], NULL);
    EXPECT_NO_PACKET(port, 0);
    CHECK(CloseHandle(port));
    printf("echo: ok\n");
    return 0;
}
