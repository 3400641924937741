/* WSAEventSelect + WSAEnumNetworkEvents with Windows' re-enabling rules:
 * FD_WRITE once connected and then only after a send hit WSAEWOULDBLOCK,
 * FD_READ again after each recv, FD_ACCEPT again after accept, FD_CONNECT
 * (with WSAECONNREFUSED for a refused connect), FD_CLOSE once; the socket
 * becomes non-blocking; the record is cleared by WSAEnumNetworkEvents,
 * which also resets the event; a mask of 0 ends the selection. On Linux:
 * the watcher behind it sleeps while nothing happens. */
#include "net.h"

static LONG wait_events(SOCKET s, WSAEVENT ev, DWORD ms, WSANETWORKEVENTS *ne) {
    if (WaitForSingleObject(ev, ms) != WAIT_OBJECT_0) return 0;
    memset(ne, 0x55, sizeof *ne);
    CHECK_EQ(WSAEnumNetworkEvents(s, ev, ne), 0);
    /* The event was reset. */
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_TIMEOUT);
    return ne->lNetworkEvents;
}

static void test_connected(void) {
    SOCKET c, s;
    tcp_pair(&c, &s);
    WSAEVENT ev = WSACreateEvent();
    WSANETWORKEVENTS ne;
    CHECK_EQ(WSAEventSelect(s, ev, FD_READ | FD_WRITE | FD_CLOSE), 0);
    /* Connected and writable: FD_WRITE at once, then no more. */
    CHECK_EQ(wait_events(s, ev, 2000, &ne), FD_WRITE);
    CHECK_EQ(ne.iErrorCode[FD_WRITE_BIT], 0);
    CHECK_EQ(wait_events(s, ev, 100, &ne), 0);
    /* Non-blocking now. */
    char buf[64];
    CHECK_EQ(recv(s, buf, sizeof buf, 0), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEWOULDBLOCK);

    /* Data: FD_READ; more data without a recv: nothing new. */
    send_all_sync(c, "abc", 3);
    CHECK_EQ(wait_events(s, ev, 2000, &ne), FD_READ);
    CHECK_EQ(ne.iErrorCode[FD_READ_BIT], 0);
    send_all_sync(c, "def", 3);
    CHECK_EQ(wait_events(s, ev, 100, &ne), 0);
    /* A recv re-enables it: data remains, so FD_READ again. */
    CHECK_EQ(recv(s, buf, 1, 0), 1);
    CHECK_EQ(wait_events(s, ev, 2000, &ne), FD_READ);
    CHECK_EQ(recv(s, buf, sizeof buf, 0), 5);
    CHECK(memcmp(buf, "bcdef", 5) == 0);
    CHECK_EQ(wait_events(s, ev, 100, &ne), 0);

    /* Fill the send buffer until WSAEWOULDBLOCK; the reader drains → FD_WRITE. */
    static char big[1 << 16];
    int r, sent = 0;
    while ((r = send(s, big, sizeof big, 0)) > 0) sent += r;
    CHECK_EQ(r, SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEWOULDBLOCK);
    CHECK_EQ(wait_events(s, ev, 100, &ne), 0);
    u_long nb = 1;
    CHECK_EQ(ioctlsocket(c, FIONBIO, &nb), 0);
    long long t0 = now_ms();
    LONG got = 0;
    while (!(got & FD_WRITE) && now_ms() - t0 < 5000) {
        static char sink[1 << 16];
        while (recv(c, sink, sizeof sink, 0) > 0) {
        }
        got |= wait_events(s, ev, 10, &ne);
    }
    CHECK(got & FD_WRITE);

    /* The peer reads everything (a close with unread data would be a
     * reset), then closes: FD_CLOSE, error 0, once. */
    for (int quiet = 0; quiet < 3;) {
        static char sink[1 << 16];
        if (recv(c, sink, sizeof sink, 0) > 0) {
            quiet = 0;
        } else {
            CHECK_EQ(WSAGetLastError(), WSAEWOULDBLOCK);
            quiet++;
            Sleep(20);
        }
    }
    CHECK_EQ(closesocket(c), 0);
    got = 0;
    t0 = now_ms();
    while (!(got & FD_CLOSE) && now_ms() - t0 < 5000) got |= wait_events(s, ev, 50, &ne);
    CHECK(got & FD_CLOSE);
    CHECK_EQ(ne.iErrorCode[FD_CLOSE_BIT], 0);
    CHECK_EQ(wait_events(s, ev, 100, &ne) & FD_CLOSE, 0);

    /* A mask of 0 ends the selection. */
    CHECK_EQ(WSAEventSelect(s, NULL, 0), 0);
    CHECK_EQ(closesocket(s), 0);
    WSACloseEvent(ev);
}

static void test_accept(void) {
    struct sockaddr_in a;
    SOCKET l = tcp_listener(&a);
    WSAEVENT ev = WSACreateEvent();
    WSANETWORKEVENTS ne;
    CHECK_EQ(WSAEventSelect(l, ev, FD_ACCEPT), 0);
    CHECK_EQ(wait_events(l, ev, 100, &ne), 0);
    SOCKET c1 = socket(AF_INET, SOCK_STREAM, 0);
    SOCKET c2 = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c1, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(connect(c2, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(wait_events(l, ev, 2000, &ne), FD_ACCEPT);
    CHECK_EQ(ne.iErrorCode[FD_ACCEPT_BIT], 0);
    /* Not again until accept is called. */
    CHECK_EQ(wait_events(l, ev, 100, &ne), 0);
    SOCKET a1 = accept(l, NULL, NULL);
    CHECK(a1 != INVALID_SOCKET);
    CHECK_EQ(wait_events(l, ev, 2000, &ne), FD_ACCEPT); /* the second one */
    SOCKET a2 = accept(l, NULL, NULL);
    CHECK(a2 != INVALID_SOCKET);
    CHECK_EQ(wait_events(l, ev, 100, &ne), 0);
    /* Nothing left: accept would block (the listener is non-blocking). */
    CHECK(accept(l, NULL, NULL) == INVALID_SOCKET);
    CHECK_EQ(WSAGetLastError(), WSAEWOULDBLOCK);
    closesocket(a1);
    closesocket(a2);
    closesocket(c1);
    closesocket(c2);

    /* Selected before listen: FD_ACCEPT once it listens and a client comes. */
    SOCKET l2 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a2addr;
    memset(&a2addr, 0, sizeof a2addr);
    a2addr.sin_family = AF_INET;
    a2addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(l2, (struct sockaddr *)&a2addr, sizeof a2addr), 0);
    int a2len = sizeof a2addr;
    CHECK_EQ(getsockname(l2, (struct sockaddr *)&a2addr, &a2len), 0);
    WSAEVENT ev2 = WSACreateEvent();
    CHECK_EQ(WSAEventSelect(l2, ev2, FD_ACCEPT), 0);
    CHECK_EQ(wait_events(l2, ev2, 100, &ne), 0);
    CHECK_EQ(listen(l2, 4), 0);
    SOCKET c3 = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c3, (struct sockaddr *)&a2addr, sizeof a2addr), 0);
    CHECK_EQ(wait_events(l2, ev2, 2000, &ne), FD_ACCEPT);
    closesocket(c3);
    closesocket(l2);
    WSACloseEvent(ev2);

    /* FD_CONNECT: a non-blocking connect that succeeds, then one refused. */
    SOCKET c = socket(AF_INET, SOCK_STREAM, 0);
    WSAEVENT cev = WSACreateEvent();
    CHECK_EQ(WSAEventSelect(c, cev, FD_CONNECT | FD_WRITE), 0);
    CHECK_EQ(wait_events(c, cev, 100, &ne), 0); /* unconnected: nothing */
    int rc = connect(c, (struct sockaddr *)&a, sizeof a);
    CHECK(rc == 0 || WSAGetLastError() == WSAEWOULDBLOCK);
    LONG got = 0;
    long long t0 = now_ms();
    while ((got & (FD_CONNECT | FD_WRITE)) != (FD_CONNECT | FD_WRITE) && now_ms() - t0 < 5000)
        got |= wait_events(c, cev, 50, &ne);
    CHECK(got & FD_CONNECT);
    CHECK(got & FD_WRITE);
    closesocket(c);
    SOCKET acc = accept(l, NULL, NULL);
    if (acc != INVALID_SOCKET) closesocket(acc);
    closesocket(l); /* now nothing listens on a */

    SOCKET r = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(WSAEventSelect(r, cev, FD_CONNECT | FD_WRITE | FD_CLOSE), 0);
    rc = connect(r, (struct sockaddr *)&a, sizeof a);
    CHECK_EQ(rc, SOCKET_ERROR);
    CHECK(WSAGetLastError() == WSAEWOULDBLOCK || WSAGetLastError() == WSAECONNREFUSED);
    if (WSAGetLastError() == WSAEWOULDBLOCK) {
        CHECK_EQ(wait_events(r, cev, 2000, &ne), FD_CONNECT);
        CHECK_EQ(ne.iErrorCode[FD_CONNECT_BIT], WSAECONNREFUSED);
        CHECK_EQ(wait_events(r, cev, 100, &ne), 0);
    }
    closesocket(r);
    WSACloseEvent(cev);
    WSACloseEvent(ev);
}

static void test_bad(void) {
    WSANETWORKEVENTS ne;
    WSAEVENT ev = WSACreateEvent();
    CHECK_EQ(WSAEventSelect((SOCKET)12344, ev, FD_READ), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    CHECK_EQ(WSAEnumNetworkEvents((SOCKET)12344, ev, &ne), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAENOTSOCK);
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(WSAEnumNetworkEvents(s, NULL, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEFAULT);
    /* Nothing selected: an empty record. */
    CHECK_EQ(WSAEnumNetworkEvents(s, NULL, &ne), 0);
    CHECK_EQ(ne.lNetworkEvents, 0);
    closesocket(s);
    WSACloseEvent(ev);
}

#ifdef __linux__
#include <dirent.h>

/* The voluntary context switches of cport's WSAEventSelect watcher thread
 * so far (-1 if there is none): each is one of its wake-ups. */
static long watcher_wakeups(void) {
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    long found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) continue;
        int is_watcher = 0;
        long n;
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "Name:", 5) == 0 && strstr(line, "cport-event-se") != NULL) is_watcher = 1;
            if (is_watcher && sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1) found = n;
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

/* With selected sockets and nothing happening, the watcher sleeps (it does
 * not wake up in time slices); data arriving wakes it and sets the event. */
static void test_idle_watcher_sleeps(void) {
    SOCKET c, s;
    tcp_pair(&c, &s);
    WSAEVENT ev = WSACreateEvent();
    WSANETWORKEVENTS ne;
    CHECK_EQ(WSAEventSelect(s, ev, FD_READ | FD_CLOSE), 0);
    Sleep(50); /* the watcher takes the new selection in */
    long before = watcher_wakeups();
    CHECK(before >= 0);
    Sleep(300);
    long after = watcher_wakeups();
    /* A slice-polling watcher wakes up 15 times in 300 ms; allow for one
     * stray wake-up, not for a slice. */
    if (after - before > 1) {
        fprintf(stderr, "watcher woke up %ld times while idle\n", after - before);
        exit(1);
    }
    CHECK_EQ(send(c, "x", 1, 0), 1);
    CHECK_EQ(wait_events(s, ev, 2000, &ne), FD_READ);
    CHECK_EQ(WSAEventSelect(s, ev, 0), 0);
    WSACloseEvent(ev);
    closesocket(c);
    closesocket(s);
}
#endif

int main(void) {
    wsa_start();
    CHECK_EQ(FD_READ, 1);
    CHECK_EQ(FD_WRITE, 2);
    CHECK_EQ(FD_ACCEPT, 8);
    CHECK_EQ(FD_CONNECT, 16);
    CHECK_EQ(FD_CLOSE, 32);
    CHECK_EQ(sizeof(WSANETWORKEVENTS), 44);
    test_connected();
    test_accept();
    test_bad();
#ifdef __linux__
    test_idle_watcher_sleeps();
#endif
    WSACleanup();
    printf("wsaeventselect: ok\n");
    return 0;
}
