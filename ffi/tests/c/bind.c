/* Windows' address rules for bind, on Linux:
 *   - a server binds its port again while connections of its earlier
 *     instance sit in TIME_WAIT (SO_REUSEADDR underneath) and works at once;
 *   - SO_EXCLUSIVEADDRUSE: no reuse underneath (the TIME_WAIT blocks it),
 *     and a socket with SO_REUSEADDR cannot take its address (WSAEACCES);
 *   - an address in use — listened on, or merely bound by another socket —
 *     is refused with WSAEADDRINUSE, which Linux's SO_REUSEADDR alone would
 *     allow for bound-only sockets; two listeners on one port are refused
 *     even when the program asks for SO_REUSEADDR (Linux's meaning);
 *   - UDP gets no reuse; SO_REUSEADDR + SO_EXCLUSIVEADDRUSE is WSAEINVAL;
 * and WSAAccept with and without a condition function. */
#include "net.h"
#include <errno.h>
#include <unistd.h>

/* A plain Linux bind without SO_REUSEADDR (defined at the end, outside
 * cport's names): 1 if the port is in use for it (EADDRINUSE). */
static int linux_bind_in_use(unsigned short port_be);

static SOCKET tcp(void) {
    SOCKET s = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    CHECK(s != INVALID_SOCKET);
    return s;
}

static struct sockaddr_in loopback(unsigned short port_be) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = port_be;
    return a;
}

static int bind_to(SOCKET s, unsigned short port_be) {
    struct sockaddr_in a = loopback(port_be);
    return bind(s, (struct sockaddr *)&a, sizeof a);
}

static void set_int(SOCKET s, int opt, int v, int want) {
    int r = setsockopt(s, SOL_SOCKET, opt, (const char *)&v, sizeof v);
    CHECK_EQ(r, want);
}

static int get_int(SOCKET s, int opt) {
    int v = -1, len = sizeof v;
    CHECK_EQ(getsockopt(s, SOL_SOCKET, opt, (char *)&v, &len), 0);
    CHECK_EQ(len, sizeof v);
    return v;
}

static unsigned short free_port(void) {
    struct sockaddr_in a;
    SOCKET l = tcp_listener(&a);
    CHECK_EQ(closesocket(l), 0);
    return a.sin_port;
}

/* One round trip on a fresh connection to the listener on `port`. */
static void echo_once(SOCKET l, unsigned short port_be) {
    SOCKET c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(port_be);
    CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    SOCKET s = accept(l, NULL, NULL);
    CHECK(s != INVALID_SOCKET);
    send_all_sync(c, "ping", 4);
    char b[4];
    CHECK_EQ(recv(s, b, 4, MSG_WAITALL), 4);
    CHECK(memcmp(b, "ping", 4) == 0);
    CHECK_EQ(closesocket(s), 0);
    CHECK_EQ(closesocket(c), 0);
}

static void test_time_wait_restart_and_exclusive(void) {
    /* First instance: a listener on a fixed port, a connection the server
     * closes first. */
    unsigned short port = free_port();
    struct sockaddr_in la = loopback(port);
    SOCKET l1 = tcp();
    CHECK_EQ(bind_to(l1, port), 0);
    CHECK_EQ(listen(l1, 16), 0);
    SOCKET c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c, (struct sockaddr *)&la, sizeof la), 0);
    SOCKET s = accept(l1, NULL, NULL);
    CHECK(s != INVALID_SOCKET);
    CHECK_EQ(closesocket(s), 0); /* the server closes first: its side gets TIME_WAIT */
    char b;
    CHECK_EQ(recv(c, &b, 1, 0), 0);
    CHECK_EQ(closesocket(c), 0);
    CHECK_EQ(closesocket(l1), 0);
    /* The port is taken for a plain Linux bind (the TIME_WAIT connection)... */
    CHECK(linux_bind_in_use(port));

    /* ...and for an exclusive one, which gets no SO_REUSEADDR underneath. */
    SOCKET x = tcp();
    set_int(x, SO_EXCLUSIVEADDRUSE, 1, 0);
    CHECK_EQ(get_int(x, SO_EXCLUSIVEADDRUSE), 1);
    CHECK_EQ(bind_to(x, port), SOCKET_ERROR);
    CHECK_ERR(WSAEADDRINUSE);
    CHECK_EQ(closesocket(x), 0);

    /* The restarted server binds at once, as on Windows, and works. */
    SOCKET l2 = tcp();
    CHECK_EQ(bind_to(l2, port), 0);
    CHECK_EQ(get_int(l2, SO_REUSEADDR), 0); /* the program did not ask for it */
    CHECK_EQ(listen(l2, 16), 0);
    echo_once(l2, port);

    /* A second listener on the same port: refused, with or without SO_REUSEADDR. */
    SOCKET l3 = tcp();
    CHECK_EQ(bind_to(l3, port), SOCKET_ERROR);
    CHECK_ERR(WSAEADDRINUSE);
    set_int(l3, SO_REUSEADDR, 1, 0);
    CHECK_EQ(get_int(l3, SO_REUSEADDR), 1);
    CHECK_EQ(bind_to(l3, port), SOCKET_ERROR); /* Linux's SO_REUSEADDR: no two listeners */
    CHECK_ERR(WSAEADDRINUSE);
    struct sockaddr_in any = loopback(port);
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    CHECK_EQ(bind(l3, (struct sockaddr *)&any, sizeof any), SOCKET_ERROR); /* the wildcard overlaps */
    CHECK_ERR(WSAEADDRINUSE);
    CHECK_EQ(closesocket(l3), 0);
    CHECK_EQ(closesocket(l2), 0);
}

static void test_bound_only_and_exclusive_rules(void) {
    /* Two sockets bound (not listening) to one address: Linux with
     * SO_REUSEADDR on both would allow it; Windows does not. */
    unsigned short q = free_port();
    SOCKET b1 = tcp(), b2 = tcp();
    CHECK_EQ(bind_to(b1, q), 0);
    CHECK_EQ(bind_to(b2, q), SOCKET_ERROR);
    CHECK_ERR(WSAEADDRINUSE);
    CHECK_EQ(bind_to(b1, q), SOCKET_ERROR); /* binding twice */
    CHECK_ERR(WSAEINVAL);
    CHECK_EQ(closesocket(b1), 0);
    CHECK_EQ(bind_to(b2, q), 0); /* free again once the first is closed */
    CHECK_EQ(closesocket(b2), 0);

    /* An exclusive owner: SO_REUSEADDR gets WSAEACCES, others WSAEADDRINUSE. */
    unsigned short r = free_port();
    SOCKET e = tcp(), f = tcp(), g = tcp();
    set_int(e, SO_EXCLUSIVEADDRUSE, 1, 0);
    CHECK_EQ(bind_to(e, r), 0);
    set_int(f, SO_REUSEADDR, 1, 0);
    CHECK_EQ(bind_to(f, r), SOCKET_ERROR);
    CHECK_ERR(WSAEACCES);
    CHECK_EQ(bind_to(g, r), SOCKET_ERROR);
    CHECK_ERR(WSAEADDRINUSE);
    /* Both options on one socket: refused, whichever comes second. */
    set_int(f, SO_EXCLUSIVEADDRUSE, 1, SOCKET_ERROR);
    CHECK_ERR(WSAEINVAL);
    set_int(e, SO_REUSEADDR, 1, SOCKET_ERROR);
    CHECK_ERR(WSAEINVAL);
    CHECK_EQ(closesocket(e), 0);
    CHECK_EQ(closesocket(f), 0);
    CHECK_EQ(closesocket(g), 0);

    /* UDP: no reuse underneath. */
    SOCKET u1 = WSASocket(AF_INET, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_OVERLAPPED);
    SOCKET u2 = WSASocket(AF_INET, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_OVERLAPPED);
    CHECK_EQ(bind_to(u1, 0), 0);
    struct sockaddr_in ua;
    int ulen = sizeof ua;
    CHECK_EQ(getsockname(u1, (struct sockaddr *)&ua, &ulen), 0);
    CHECK_EQ(bind_to(u2, ua.sin_port), SOCKET_ERROR);
    CHECK_ERR(WSAEADDRINUSE);
    CHECK_EQ(closesocket(u1), 0);
    CHECK_EQ(closesocket(u2), 0);

    /* Bad input. */
    int v = 1;
    CHECK_EQ(setsockopt(INVALID_SOCKET, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&v, sizeof v),
             SOCKET_ERROR);
    CHECK_ERR(WSAENOTSOCK);
    SOCKET h = tcp();
    CHECK_EQ(setsockopt(h, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, NULL, 0), SOCKET_ERROR);
    CHECK_ERR(WSAEFAULT);
    CHECK_EQ(closesocket(h), 0);
}

static volatile int cond_calls;
static unsigned short cond_peer_port, cond_local_port;

static int CALLBACK condition(LPWSABUF caller, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos,
                              LPWSABUF callee, LPWSABUF callee_data, GROUP *g, DWORD_PTR verdict) {
    (void)caller_data, (void)sqos, (void)gqos, (void)callee_data, (void)g;
    cond_calls++;
    CHECK(caller != NULL && caller->len >= sizeof(struct sockaddr_in));
    CHECK(callee != NULL && callee->len >= sizeof(struct sockaddr_in));
    cond_peer_port = ((struct sockaddr_in *)caller->buf)->sin_port;
    cond_local_port = ((struct sockaddr_in *)callee->buf)->sin_port;
    return (int)verdict;
}

static void test_wsaaccept(void) {
    struct sockaddr_in la;
    SOCKET l = tcp_listener(&la);
    for (int round = 0; round < 4; round++) {
        SOCKET c = socket(AF_INET, SOCK_STREAM, 0);
        CHECK_EQ(connect(c, (struct sockaddr *)&la, sizeof la), 0);
        struct sockaddr_in ca;
        int clen = sizeof ca;
        CHECK_EQ(getsockname(c, (struct sockaddr *)&ca, &clen), 0);
        struct sockaddr_in peer;
        int plen = sizeof peer;
        cond_calls = 0;
        SOCKET s;
        switch (round) {
        case 0: /* no condition function: accept */
            s = WSAAccept(l, (struct sockaddr *)&peer, &plen, NULL, 0);
            CHECK(s != INVALID_SOCKET);
            CHECK_EQ(plen, sizeof peer);
            CHECK_EQ(peer.sin_port, ca.sin_port);
            CHECK_EQ(cond_calls, 0);
            break;
        case 1: /* CF_ACCEPT: the function sees both addresses */
            s = WSAAccept(l, (struct sockaddr *)&peer, &plen, condition, CF_ACCEPT);
            CHECK(s != INVALID_SOCKET);
            CHECK_EQ(cond_calls, 1);
            CHECK_EQ(cond_peer_port, ca.sin_port);
            CHECK_EQ(cond_local_port, la.sin_port);
            CHECK_EQ(peer.sin_port, ca.sin_port);
            break;
        default: /* CF_REJECT / CF_DEFER: refused, and the client is reset */
            s = WSAAccept(l, NULL, NULL, condition, round == 2 ? CF_REJECT : CF_DEFER);
            CHECK(s == INVALID_SOCKET);
            CHECK_ERR(round == 2 ? WSAECONNREFUSED : WSATRY_AGAIN);
            CHECK_EQ(cond_calls, 1);
            break;
        }
        if (s != INVALID_SOCKET) {
            send_all_sync(c, "x", 1);
            char b;
            CHECK_EQ(recv(s, &b, 1, 0), 1);
            CHECK_EQ(closesocket(s), 0);
        } else {
            char b;
            CHECK_EQ(recv(c, &b, 1, 0), SOCKET_ERROR);
            CHECK_ERR(WSAECONNRESET);
        }
        CHECK_EQ(closesocket(c), 0);
    }
    CHECK(WSAAccept(INVALID_SOCKET, NULL, NULL, NULL, 0) == INVALID_SOCKET);
    CHECK_ERR(WSAENOTSOCK);
    struct sockaddr_in p;
    CHECK(WSAAccept(l, (struct sockaddr *)&p, NULL, condition, 0) == INVALID_SOCKET);
    CHECK_ERR(WSAEFAULT);
    CHECK_EQ(closesocket(l), 0);
}

int main(void) {
    wsa_start();
    test_time_wait_restart_and_exclusive();
    test_bound_only_and_exclusive_rules();
    test_wsaaccept();
    CHECK_EQ(WSACleanup(), 0);
    printf("bind: ok\n");
    return 0;
}

/* Linux's own socket calls, past cport's names (winsock2.h declares
 * socket and bind with cport's symbols; these reach libc's). */
int linux_socket(int domain, int type, int protocol) __asm__("socket");
int linux_bind(int fd, const struct sockaddr *addr, socklen_t len) __asm__("bind");
static int linux_bind_in_use(unsigned short port_be) {
    int fd = linux_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = loopback(port_be);
    int r = linux_bind(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(fd);
    return r != 0 && e == EADDRINUSE;
}
