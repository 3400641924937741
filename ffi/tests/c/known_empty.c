/* A WSARecv skips its inline receive attempt on a TCP socket the kernel
 * reported empty at its last receive (io_uring, Linux 5.19 or later), until
 * a sync point — a call through which the program could learn of new data
 * (docs/semantics.md, "Inline completion"). To put data into the socket
 * without a sync point, the peer here is a plain Linux socket driven by
 * raw system calls, which cport does not see. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "net.h"

/* The peer: a Linux socket driven by raw system calls (winsock2.h gives
 * `socket`, `connect` and `send` cport's meaning). */
static int raw_connect(const struct sockaddr_in *a) {
    int fd = (int)syscall(SYS_socket, 2 /* AF_INET */, 1 /* SOCK_STREAM */, 0);
    if (fd < 0) return -1;
    if (syscall(SYS_connect, fd, a, sizeof *a) != 0) return -1;
    return fd;
}

static int raw_send(int fd, const char *p) {
    long n = syscall(SYS_sendto, fd, p, strlen(p), 0x4000 /* MSG_NOSIGNAL */, NULL, 0);
    return n == (long)strlen(p);
}

/* Whether the kernel reports IORING_CQE_F_SOCK_NONEMPTY (5.19 or later). */
static int kernel_reports_nonempty(void) {
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) return 0;
    return major > 5 || (major == 5 && minor >= 19);
}

static char rbuf[64];

/* WSARecv of up to sizeof rbuf on `s`: its return value (0 or SOCKET_ERROR). */
static int post_recv(SOCKET s, OVERLAPPED *ov, DWORD *got) {
    memset(ov, 0, sizeof *ov);
    memset(rbuf, 0, sizeof rbuf);
    WSABUF b = {sizeof rbuf, rbuf};
    DWORD flags = 0;
    *got = 0xdeadbeef;
    return WSARecv(s, &b, 1, got, &flags, ov, NULL);
}

int main(void) {
    wsa_start();
    const char *backend = getenv("CPORT_BACKEND");
    int skips = backend && strcmp(backend, "uring") == 0 && kernel_reports_nonempty();

    struct sockaddr_in a;
    SOCKET l = tcp_listener(&a);
    int peer = raw_connect(&a);
    CHECK(peer >= 0);
    SOCKET s = accept(l, NULL, NULL);
    CHECK(s != INVALID_SOCKET);
    HANDLE port = CreateIoCompletionPort((HANDLE)s, NULL, 7, 1);
    CHECK(port != NULL);

    /* A pending receive; the peer's one byte completes it, leaving the
     * socket empty. */
    OVERLAPPED ov;
    DWORD got;
    CHECK_EQ(post_recv(s, &ov, &got), SOCKET_ERROR);
    CHECK_ERR(WSA_IO_PENDING);
    CHECK(raw_send(peer, "a"));
    EXPECT_PACKET(port, 7, &ov, 1, TRUE, 0);
    CHECK_EQ(rbuf[0], 'a');

    /* The peer sends again, seen by no call of this program. Known empty:
     * the receive goes to the port (pending) on io_uring, and still gets
     * the byte; the epoll backend tries at once and completes inline. */
    CHECK(raw_send(peer, "b"));
    int r = post_recv(s, &ov, &got);
    if (skips) {
        CHECK_EQ(r, SOCKET_ERROR);
        CHECK_ERR(WSA_IO_PENDING);
        CHECK_EQ(got, 0xdeadbeef);
    } else {
        CHECK_EQ(r, 0);
        CHECK_EQ(got, 1);
    }
    EXPECT_PACKET(port, 7, &ov, 1, TRUE, 0);
    CHECK_EQ(rbuf[0], 'b');

    /* A sync point (here Sleep(0)) ends "known empty": data that came
     * before it completes the next receive inline, on every backend. */
    CHECK(raw_send(peer, "c"));
    Sleep(0);
    CHECK_EQ(post_recv(s, &ov, &got), 0);
    CHECK_EQ(got, 1);
    CHECK_EQ(rbuf[0], 'c');
    EXPECT_PACKET(port, 7, &ov, 1, TRUE, 0);

    /* So does any other socket call, e.g. an ioctlsocket(FIONREAD) that
     * shows the data. */
    CHECK_EQ(post_recv(s, &ov, &got), SOCKET_ERROR);
    CHECK_ERR(WSA_IO_PENDING);
    CHECK(raw_send(peer, "d"));
    EXPECT_PACKET(port, 7, &ov, 1, TRUE, 0);
    CHECK(raw_send(peer, "ef"));
    u_long avail = 0;
    for (int i = 0; i < 100 && avail < 2; i++) {
        CHECK_EQ(ioctlsocket(s, FIONREAD, &avail), 0);
    }
    CHECK_EQ(avail, 2);
    CHECK_EQ(post_recv(s, &ov, &got), 0);
    CHECK_EQ(got, 2);
    CHECK(memcmp(rbuf, "ef", 2) == 0);
    EXPECT_PACKET(port, 7, &ov, 2, TRUE, 0);

    /* A receive that left data behind (a 1-byte buffer, 2 bytes sent)
     * does not make the socket known empty: the next one completes inline. */
    memset(&ov, 0, sizeof ov);
    WSABUF one = {1, rbuf};
    DWORD flags = 0;
    CHECK_EQ(WSARecv(s, &one, 1, NULL, &flags, &ov, NULL), SOCKET_ERROR);
    CHECK_ERR(WSA_IO_PENDING);
    CHECK(raw_send(peer, "gh"));
    EXPECT_PACKET(port, 7, &ov, 1, TRUE, 0);
    CHECK_EQ(rbuf[0], 'g');
    CHECK_EQ(post_recv(s, &ov, &got), 0);
    CHECK_EQ(got, 1);
    CHECK_EQ(rbuf[0], 'h');
    EXPECT_PACKET(port, 7, &ov, 1, TRUE, 0);

    syscall(SYS_close, peer);
    CHECK_EQ(closesocket(s), 0);
    CHECK_EQ(closesocket(l), 0);
    CHECK(CloseHandle(port));
    printf("known_empty: ok (%s)\n", skips ? "io_uring skips the attempt" : "attempts inline");
    return 0;
}
