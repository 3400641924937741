/* Socket helpers for cport's C tests. */
#ifndef CPORT_TEST_NET_H
#define CPORT_TEST_NET_H
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <pthread.h>
#include <string.h>
#include "check.h"

static inline void wsa_start(void) {
    WSADATA d;
    CHECK_EQ(WSAStartup(MAKEWORD(2, 2), &d), 0);
    CHECK_EQ(d.wVersion, 0x0202);
}

/* A TCP listener on 127.0.0.1, port chosen by the kernel. */
static inline SOCKET tcp_listener(struct sockaddr_in *addr) {
    SOCKET l = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    CHECK(l != INVALID_SOCKET);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    CHECK_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(listen(l, 16), 0);
    int len = sizeof a;
    CHECK_EQ(getsockname(l, (struct sockaddr *)&a, &len), 0);
    CHECK_EQ(len, sizeof a);
    if (addr) *addr = a;
    return l;
}

/* An overlapped UDP socket bound to 127.0.0.1, port chosen by the kernel;
 * its address in *a. */
static inline SOCKET udp_bound(struct sockaddr_in *a) {
    SOCKET u = WSASocket(AF_INET, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_OVERLAPPED);
    CHECK(u != INVALID_SOCKET);
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(u, (struct sockaddr *)a, sizeof *a), 0);
    int len = sizeof *a;
    CHECK_EQ(getsockname(u, (struct sockaddr *)a, &len), 0);
    return u;
}

/* A connected TCP pair over loopback: *client (connect) and *server (accept). */
static inline void tcp_pair(SOCKET *client, SOCKET *server) {
    struct sockaddr_in a;
    SOCKET l = tcp_listener(&a);
    SOCKET c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c != INVALID_SOCKET);
    CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    struct sockaddr_in peer;
    int plen = sizeof peer;
    SOCKET s = accept(l, (struct sockaddr *)&peer, &plen);
    CHECK(s != INVALID_SOCKET);
    CHECK_EQ(plen, sizeof peer);
    CHECK_EQ(peer.sin_family, AF_INET);
    CHECK_EQ(closesocket(l), 0);
    *client = c;
    *server = s;
}

/* Takes one packet within `ms` and checks key, OVERLAPPED, bytes and result. */
static inline void expect_packet_at(int line, HANDLE port, ULONG_PTR want_key, LPOVERLAPPED want_ov,
                                    DWORD want_bytes, BOOL want_ok, DWORD want_err, DWORD ms) {
    DWORD bytes = 0xdeadbeef;
    ULONG_PTR key = 0xdeadbeef;
    LPOVERLAPPED ov = NULL;
    SetLastError(0xdeadbeef);
    BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &ov, ms);
    DWORD err = GetLastError();
    if (ok != want_ok || ov != want_ov || key != want_key || bytes != want_bytes ||
        (!want_ok && err != want_err) || (want_ok && err != 0xdeadbeef)) {
        fprintf(stderr,
                "line %d: packet: ok=%d ov=%p key=%lu bytes=%lu err=%lu; expected ok=%d ov=%p key=%lu "
                "bytes=%lu err=%lu\n",
                line, ok, (void *)ov, (unsigned long)key, (unsigned long)bytes, (unsigned long)err,
                want_ok, (void *)want_ov, (unsigned long)want_key, (unsigned long)want_bytes,
                (unsigned long)want_err);
        exit(1);
    }
}
#define EXPECT_PACKET(port, key, ov, bytes, ok, err) \
    expect_packet_at(__LINE__, port, key, ov, bytes, ok, err, 5000)

/* A WSARecv of up to `len` bytes on `s` that goes pending (no data yet),
 * with `ov` zeroed and its hEvent as given. */
static inline void wsarecv_pending(SOCKET s, OVERLAPPED *ov, HANDLE event, char *buf, ULONG len) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = event;
    WSABUF b = {len, buf};
    DWORD flags = 0;
    CHECK_EQ(WSARecv(s, &b, 1, NULL, &flags, ov, NULL), SOCKET_ERROR);
    CHECK_ERR(WSA_IO_PENDING);
}

/* No packet within `ms`. */
#define EXPECT_NO_PACKET(port, ms)                                                       \
    do {                                                                                 \
        DWORD b_;                                                                        \
        ULONG_PTR k_;                                                                    \
        LPOVERLAPPED o_ = (LPOVERLAPPED)1;                                               \
        CHECK(!GetQueuedCompletionStatus(port, &b_, &k_, &o_, ms));                      \
        CHECK_ERR(WAIT_TIMEOUT);                                                         \
        CHECK(o_ == NULL);                                                               \
    } while (0)

static inline void send_all_sync(SOCKET s, const char *p, int n) {
    while (n > 0) {
        int k = send(s, p, n, 0);
        CHECK(k > 0);
        p += k;
        n -= k;
    }
}

/* What another thread does `ms` milliseconds after `later_start`: sets
 * `event`, or (with no event) sends `text` on `sock`. `later_join` waits
 * for it; `l` must live until then. */
struct later {
    DWORD ms;
    HANDLE event;
    SOCKET sock;
    const char *text;
    pthread_t thread;
};

static inline void *later_run(void *arg) {
    struct later *l = (struct later *)arg;
    Sleep(l->ms);
    if (l->event)
        CHECK(SetEvent(l->event));
    else
        send_all_sync(l->sock, l->text, (int)strlen(l->text));
    return NULL;
}

static inline void later_start(struct later *l) {
    CHECK(pthread_create(&l->thread, NULL, later_run, l) == 0);
}

static inline void later_join(struct later *l) {
    CHECK(pthread_join(l->thread, NULL) == 0);
}

/* Blocking receive of exactly n bytes (the peer must not close first). */
static inline void recv_all_sync(SOCKET s, char *p, int n) {
    while (n > 0) {
        int k = recv(s, p, n, 0);
        CHECK(k > 0);
        p += k;
        n -= k;
    }
}

static inline void *get_ext(SOCKET s, GUID g) {
    void *f = NULL;
    DWORD n = 0;
    CHECK_EQ(WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &g, sizeof g, &f, sizeof f, &n, NULL, NULL), 0);
    CHECK_EQ(n, sizeof f);
    CHECK(f != NULL);
    return f;
}
#endif
