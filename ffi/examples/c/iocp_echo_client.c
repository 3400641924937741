/*
 * iocp_echo_client — an echo client and load generator in the classic
 * Windows IOCP shape, written only against the Win32 API (it builds
 * unchanged for Windows with x86_64-w64-mingw32-gcc ... -lws2_32, and for
 * Linux with cport).
 *
 *   iocp_echo_client [-n:host] [-e:port] [-c:connections] [-b:bytes]
 *                    [-r:requests | -d:seconds] [-t:threads] [-v]
 *
 *   -n:host         server (default 127.0.0.1)
 *   -e:port         port (default 5001)
 *   -c:connections  connections, each with one request in flight (default 32)
 *   -b:bytes        request size (default 64)
 *   -r:requests     requests per connection; or
 *   -d:seconds      run for this long (default 5 s)
 *   -t:threads      worker threads (default: processors)
 *
 * Every connection is opened with ConnectEx and then sends a request
 * (WSASend), reads the echo back (WSARecv, as many times as it takes) and
 * checks every byte against the pattern it sent, which differs per
 * connection, per request and per byte. At the end it prints requests/s
 * and exits 0 only if every connection completed without an error or a
 * mismatch. Ctrl+C (the console handler) ends the run early, the same way.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>
#include <strsafe.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_WORKERS 64

typedef enum { OP_CONNECT, OP_SEND, OP_RECV } OP;

typedef struct CONN {
    WSAOVERLAPPED ov; /* first: the OVERLAPPED* is the connection */
    OP op;
    SOCKET sock;
    DWORD id;
    DWORD seq;        /* requests completed */
    DWORD got;        /* bytes of the echo received so far */
    WSABUF wsabuf;
    char *out, *in;
} CONN;

static const char *g_host = "127.0.0.1", *g_port = "5001";
static DWORD g_conn_count = 32, g_size = 64, g_requests, g_seconds = 5, g_threads;
static BOOL g_verbose;
static HANDLE g_iocp, g_all_done;
static HANDLE g_workers[MAX_WORKERS];
static CONN *g_conns;
static volatile LONG g_stop, g_done_conns, g_errors, g_mismatches;
static volatile LONGLONG g_completed;
static LPFN_CONNECTEX g_ConnectEx;

static int myprintf(const char *fmt, ...) {
    char line[512];
    va_list ap;
    DWORD n = 0;
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    va_start(ap, fmt);
    StringCchVPrintfA(line, sizeof line, fmt, ap);
    va_end(ap);
    if (out == NULL || out == INVALID_HANDLE_VALUE) return 0;
    if (!WriteConsoleA(out, line, (DWORD)lstrlenA(line), &n, NULL))
        WriteFile(out, line, (DWORD)lstrlenA(line), &n, NULL);
    return (int)n;
}

static unsigned char pattern(DWORD conn, DWORD seq, DWORD i) {
    return (unsigned char)(conn * 131u + seq * 31u + i * 7u + (i >> 8));
}

static void fill(CONN *c) {
    DWORD i;
    for (i = 0; i < g_size; i++) c->out[i] = (char)pattern(c->id, c->seq, i);
}

static void finish(CONN *c, BOOL failed) {
    if (failed) InterlockedIncrement(&g_errors);
    if (c->sock != INVALID_SOCKET) {
        shutdown(c->sock, SD_SEND);
        closesocket(c->sock);
        c->sock = INVALID_SOCKET;
    }
    if ((DWORD)InterlockedIncrement(&g_done_conns) == g_conn_count) SetEvent(g_all_done);
}

static BOOL issue(CONN *c, OP op) {
    DWORD n = 0, flags = 0;
    int r;
    ZeroMemory(&c->ov, sizeof c->ov);
    c->op = op;
    if (op == OP_SEND) {
        c->wsabuf.buf = c->out;
        c->wsabuf.len = g_size;
        r = WSASend(c->sock, &c->wsabuf, 1, &n, 0, &c->ov, NULL);
    } else {
        c->wsabuf.buf = c->in + c->got;
        c->wsabuf.len = g_size - c->got;
        r = WSARecv(c->sock, &c->wsabuf, 1, &n, &flags, &c->ov, NULL);
    }
    /* 0: done at once, and its packet is queued all the same. */
    if (r == 0 || WSAGetLastError() == WSA_IO_PENDING) return TRUE;
    if (g_verbose) myprintf("connection %lu: error %d\n", (unsigned long)c->id, WSAGetLastError());
    return FALSE;
}

/* The next request, unless the run is over. */
static void next_request(CONN *c) {
    BOOL more = g_requests ? c->seq < g_requests : !g_stop;
    if (!more || g_stop) {
        finish(c, FALSE);
        return;
    }
    fill(c);
    c->got = 0;
    if (!issue(c, OP_SEND)) finish(c, TRUE);
}

static void on_packet(CONN *c, BOOL ok, DWORD bytes) {
    DWORD i;
    if (!ok) {
        if (g_verbose) myprintf("connection %lu: failed %lu\n", (unsigned long)c->id,
                                (unsigned long)GetLastError());
        finish(c, TRUE);
        return;
    }
    switch (c->op) {
    case OP_CONNECT:
        setsockopt(c->sock, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0);
        next_request(c);
        break;
    case OP_SEND:
        if (bytes != g_size) { /* overlapped sends send everything */
            finish(c, TRUE);
            break;
        }
        if (!issue(c, OP_RECV)) finish(c, TRUE);
        break;
    case OP_RECV:
        if (bytes == 0) { /* the server closed */
            finish(c, TRUE);
            break;
        }
        c->got += bytes;
        if (c->got < g_size) {
            if (!issue(c, OP_RECV)) finish(c, TRUE);
            break;
        }
        for (i = 0; i < g_size; i++) {
            if ((unsigned char)c->in[i] != pattern(c->id, c->seq, i)) {
                InterlockedIncrement(&g_mismatches);
                finish(c, TRUE);
                return;
            }
        }
        c->seq++;
        InterlockedIncrement64(&g_completed);
        next_request(c);
        break;
    }
}

static DWORD WINAPI worker(LPVOID arg) {
    (void)arg;
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        LPOVERLAPPED ov = NULL;
        BOOL ok = GetQueuedCompletionStatus(g_iocp, &bytes, &key, &ov, INFINITE);
        if (ov == NULL) return 0; /* the exit packet (or the port is gone) */
        on_packet((CONN *)ov, ok, bytes);
    }
}

static BOOL WINAPI ctrl_handler(DWORD ev) {
    if (ev == CTRL_C_EVENT || ev == CTRL_BREAK_EVENT) {
        myprintf("stopping\n");
        InterlockedExchange(&g_stop, 1);
        return TRUE;
    }
    return FALSE;
}

static BOOL parse(int argc, char **argv) {
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((a[0] != '-' && a[0] != '/') || a[1] == '\0' || (a[1] != 'v' && lstrlenA(a) < 4))
            return FALSE;
        switch (a[1]) {
        case 'n': g_host = a + 3; break;
        case 'e': g_port = a + 3; break;
        case 'c': g_conn_count = (DWORD)atoi(a + 3); break;
        case 'b': g_size = (DWORD)atoi(a + 3); break;
        case 'r': g_requests = (DWORD)atoi(a + 3); break;
        case 'd': g_seconds = (DWORD)atoi(a + 3); break;
        case 't': g_threads = (DWORD)atoi(a + 3); break;
        case 'v': g_verbose = TRUE; break;
        default: return FALSE;
        }
    }
    return g_conn_count > 0 && g_size > 0;
}

int main(int argc, char **argv) {
    WSADATA wsa;
    SYSTEM_INFO si;
    struct addrinfo hints, *server = NULL;
    SOCKADDR_IN any;
    GUID connectex = WSAID_CONNECTEX;
    LARGE_INTEGER freq, t0, t1;
    DWORD i, n = 0, wait_ms;
    double secs;
    HANDLE heap = GetProcessHeap();

    if (!parse(argc, argv)) {
        myprintf("usage: %s [-n:host] [-e:port] [-c:conns] [-b:bytes] [-r:requests | -d:seconds] "
                 "[-t:threads] [-v]\n", argv[0]);
        return 2;
    }
    GetSystemInfo(&si);
    if (g_threads == 0) g_threads = si.dwNumberOfProcessors;
    g_threads = min(g_threads, MAX_WORKERS);
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return 1;
    ZeroMemory(&hints, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    if (getaddrinfo(g_host, g_port, &hints, &server) != 0 || server == NULL) {
        myprintf("cannot resolve %s:%s: %d\n", g_host, g_port, WSAGetLastError());
        return 1;
    }
    g_iocp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    g_all_done = CreateEventA(NULL, TRUE, FALSE, NULL);
    g_conns = (CONN *)HeapAlloc(heap, HEAP_ZERO_MEMORY, g_conn_count * sizeof(CONN));
    if (g_iocp == NULL || g_all_done == NULL || g_conns == NULL ||
        !SetConsoleCtrlHandler(ctrl_handler, TRUE))
        return 1;
    for (i = 0; i < g_threads; i++) {
        g_workers[i] = CreateThread(NULL, 0, worker, NULL, 0, NULL);
        if (g_workers[i] == NULL) return 1;
    }
    ZeroMemory(&any, sizeof any);
    any.sin_family = AF_INET;
    QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t0);
    for (i = 0; i < g_conn_count; i++) {
        CONN *c = &g_conns[i];
        c->id = i;
        c->out = (char *)HeapAlloc(heap, 0, g_size);
        c->in = (char *)HeapAlloc(heap, 0, g_size);
        c->sock = WSASocketA(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
        if (c->out == NULL || c->in == NULL || c->sock == INVALID_SOCKET ||
            bind(c->sock, (SOCKADDR *)&any, sizeof any) == SOCKET_ERROR ||
            CreateIoCompletionPort((HANDLE)c->sock, g_iocp, 0, 0) != g_iocp) {
            finish(c, TRUE);
            continue;
        }
        if (g_ConnectEx == NULL &&
            WSAIoctl(c->sock, SIO_GET_EXTENSION_FUNCTION_POINTER, &connectex, sizeof connectex,
                     &g_ConnectEx, sizeof g_ConnectEx, &n, NULL, NULL) == SOCKET_ERROR) {
            myprintf("no ConnectEx: %d\n", WSAGetLastError());
            return 1;
        }
        c->op = OP_CONNECT;
        if (!g_ConnectEx(c->sock, server->ai_addr, (int)server->ai_addrlen, NULL, 0, NULL, &c->ov) &&
            WSAGetLastError() != ERROR_IO_PENDING)
            finish(c, TRUE);
    }
    freeaddrinfo(server);

    /* Run: for a time, or until every connection made its requests. */
    if (g_requests == 0) {
        if (WaitForSingleObject(g_all_done, g_seconds * 1000) == WAIT_TIMEOUT)
            InterlockedExchange(&g_stop, 1);
        wait_ms = 30000;
    } else {
        wait_ms = INFINITE;
    }
    if (WaitForSingleObject(g_all_done, wait_ms) != WAIT_OBJECT_0) {
        myprintf("connections did not finish\n");
        return 1;
    }
    QueryPerformanceCounter(&t1);
    secs = (double)(t1.QuadPart - t0.QuadPart) / (double)freq.QuadPart;

    for (i = 0; i < g_threads; i++) PostQueuedCompletionStatus(g_iocp, 0, 0, NULL);
    WaitForMultipleObjects(g_threads, g_workers, TRUE, INFINITE);
    for (i = 0; i < g_threads; i++) CloseHandle(g_workers[i]);
    for (i = 0; i < g_conn_count; i++) {
        HeapFree(heap, 0, g_conns[i].out);
        HeapFree(heap, 0, g_conns[i].in);
    }
    HeapFree(heap, 0, g_conns);
    CloseHandle(g_all_done);
    CloseHandle(g_iocp);
    WSACleanup();
    myprintf("connections %lu, requests %.0f, bytes %.0f, seconds %.3f, requests/s %.0f, "
             "errors %ld, mismatches %ld\n",
             (unsigned long)g_conn_count, (double)g_completed, (double)g_completed * 2 * g_size,
             secs, secs > 0 ? (double)g_completed / secs : 0.0, (long)g_errors,
             (long)g_mismatches);
    return (g_errors == 0 && g_mismatches == 0) ? 0 : 1;
}
