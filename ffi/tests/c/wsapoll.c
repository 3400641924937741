/* WSAPoll with Windows' POLL* values (readable, writable, a listener with a
 * pending connection, a peer that closed → POLLHUP, timeouts, INVALID_SOCKET
 * ignored, a non-socket → POLLNVAL, bad arguments → WSAEINVAL/WSAEFAULT);
 * SO_RCVTIMEO/SO_SNDTIMEO as DWORD milliseconds (a blocking recv fails with
 * WSAETIMEDOUT after it); SIO_KEEPALIVE_VALS from mstcpip.h. */
#include "net.h"
#include <mstcpip.h>

static void test_values(void) {
    CHECK_EQ(POLLRDNORM, 0x100);
    CHECK_EQ(POLLRDBAND, 0x200);
    CHECK_EQ(POLLIN, 0x300);
    CHECK_EQ(POLLPRI, 0x400);
    CHECK_EQ(POLLWRNORM, 0x10);
    CHECK_EQ(POLLOUT, 0x10);
    CHECK_EQ(POLLWRBAND, 0x20);
    CHECK_EQ(POLLERR, 1);
    CHECK_EQ(POLLHUP, 2);
    CHECK_EQ(POLLNVAL, 4);
    CHECK_EQ(sizeof(WSAPOLLFD), 16);
    CHECK_EQ(SIO_KEEPALIVE_VALS, 0x98000004);
    CHECK_EQ(sizeof(struct tcp_keepalive), 12);
}

static void test_poll(void) {
    SOCKET c, s;
    tcp_pair(&c, &s);
    WSAPOLLFD p[3];
    memset(p, 0, sizeof p);
    p[0].fd = s;
    p[0].events = POLLRDNORM;
    p[1].fd = c;
    p[1].events = POLLWRNORM;
    p[2].fd = INVALID_SOCKET; /* ignored */
    p[2].events = POLLRDNORM;
    /* Nothing to read yet; the client is writable. */
    CHECK_EQ(WSAPoll(p, 3, 0), 1);
    CHECK_EQ(p[0].revents, 0);
    CHECK_EQ(p[1].revents, POLLWRNORM);
    CHECK_EQ(p[2].revents, 0);
    /* A timeout with nothing ready: 0 after about the time. */
    p[1].fd = INVALID_SOCKET;
    long long t0 = now_ms();
    CHECK_EQ(WSAPoll(p, 2, 60), 0);
    CHECK(now_ms() - t0 >= 55);
    /* Data: POLLRDNORM (POLLIN asks for both read bits, only RDNORM reported). */
    send_all_sync(c, "x", 1);
    p[0].events = POLLIN;
    CHECK_EQ(WSAPoll(p, 1, 2000), 1);
    CHECK_EQ(p[0].revents, POLLRDNORM);
    char b;
    CHECK_EQ(recv(s, &b, 1, 0), 1);
    /* The peer closes: POLLHUP. */
    CHECK_EQ(closesocket(c), 0);
    CHECK_EQ(WSAPoll(p, 1, 2000), 1);
    CHECK(p[0].revents & POLLHUP);
    CHECK_EQ(closesocket(s), 0);

    /* A listener with a connection waiting: readable. */
    struct sockaddr_in a;
    SOCKET l = tcp_listener(&a);
    WSAPOLLFD lp = {l, POLLRDNORM, 0};
    CHECK_EQ(WSAPoll(&lp, 1, 0), 0);
    SOCKET c2 = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c2, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(WSAPoll(&lp, 1, 2000), 1);
    CHECK_EQ(lp.revents, POLLRDNORM);

    /* A value that is no socket: POLLNVAL, counted. */
    WSAPOLLFD bad = {(SOCKET)12344, POLLRDNORM, 0};
    CHECK_EQ(WSAPoll(&bad, 1, 1000), 1);
    CHECK_EQ(bad.revents, POLLNVAL);
    /* Bad arguments. */
    CHECK_EQ(WSAPoll(&lp, 0, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    CHECK_EQ(WSAPoll(NULL, 1, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    lp.events = POLLHUP; /* not a request bit */
    CHECK_EQ(WSAPoll(&lp, 1, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEINVAL);
    closesocket(c2);
    closesocket(l);
}

static void test_timeouts(void) {
    SOCKET c, s;
    tcp_pair(&c, &s);
    DWORD ms = 150;
    CHECK_EQ(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms), 0);
    DWORD got = 0;
    int len = sizeof got;
    CHECK_EQ(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (char *)&got, &len), 0);
    CHECK_EQ(got, 150);
    CHECK_EQ(len, sizeof(DWORD));
    char buf[16];
    long long t0 = now_ms();
    CHECK_EQ(recv(s, buf, sizeof buf, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAETIMEDOUT);
    long long took = now_ms() - t0;
    CHECK(took >= 140);
    CHECK(took < 5000);
    /* Data within the timeout is received as usual. */
    send_all_sync(c, "ok", 2);
    CHECK_EQ(recv(s, buf, sizeof buf, 0), 2);
    /* 0: forever again (checked through getsockopt only). */
    ms = 0;
    CHECK_EQ(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms), 0);
    CHECK_EQ(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (char *)&got, &len), 0);
    CHECK_EQ(got, 0);
    ms = 250;
    CHECK_EQ(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof ms), 0);
    CHECK_EQ(getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (char *)&got, &len), 0);
    CHECK_EQ(got, 250);
    /* A send into a full buffer (the client does not read): WSAETIMEDOUT. */
    static char big[1 << 16];
    int sent = 0, r;
    t0 = now_ms();
    while ((r = send(s, big, sizeof big, 0)) > 0) {
        sent += r;
        CHECK(now_ms() - t0 < 20000);
    }
    CHECK_EQ(r, SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAETIMEDOUT);
    CHECK(sent > 0);
    /* Too short a value. */
    CHECK_EQ(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, 2), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    closesocket(c);
    closesocket(s);
}

static void test_keepalive(void) {
    SOCKET c, s;
    tcp_pair(&c, &s);
    struct tcp_keepalive ka = {1, 30000, 1500};
    DWORD n = 99;
    CHECK_EQ(WSAIoctl(s, SIO_KEEPALIVE_VALS, &ka, sizeof ka, NULL, 0, &n, NULL, NULL), 0);
    CHECK_EQ(n, 0);
    int on = 0, len = sizeof on;
    CHECK_EQ(getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, (char *)&on, &len), 0);
    CHECK(on != 0);
    ka.onoff = 0;
    CHECK_EQ(WSAIoctl(s, SIO_KEEPALIVE_VALS, &ka, sizeof ka, NULL, 0, &n, NULL, NULL), 0);
    CHECK_EQ(getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, (char *)&on, &len), 0);
    CHECK_EQ(on, 0);
    CHECK_EQ(WSAIoctl(s, SIO_KEEPALIVE_VALS, &ka, 4, NULL, 0, &n, NULL, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    closesocket(c);
    closesocket(s);
}

int main(void) {
    wsa_start();
    test_values();
    test_poll();
    test_timeouts();
    test_keepalive();
    WSACleanup();
    printf("wsapoll: ok\n");
    return 0;
}
