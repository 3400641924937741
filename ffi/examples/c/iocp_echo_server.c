/*
 * iocp_echo_server — a TCP echo server in the classic Windows IOCP shape,
 * written only against the Win32 API: it builds unchanged for Windows
 * (x86_64-w64-mingw32-gcc ... -lws2_32) and, with cport, for Linux
 * (cc -I include/win32 ... -L target/release -lcport -lpthread).
 *
 *   iocp_echo_server [-e:port] [-t:threads] [-a:accepts] [-s] [-v]
 *
 *   -e:port     port to listen on (0: any free port; default 5001)
 *   -t:threads  worker threads (default 2 per processor)
 *   -a:accepts  AcceptEx calls kept pending (default 16)
 *   -s          FILE_SKIP_COMPLETION_PORT_ON_SUCCESS on connections: an
 *               operation that completes at once is handled in place
 *   -v          verbose
 *
 * Shape: one completion port; worker threads in GetQueuedCompletionStatus;
 * pre-posted AcceptEx on the listener (its key); per connection one context
 * (socket + one OVERLAPPED-embedding I/O context) that alternates WSARecv and
 * WSASend; a list of the connections under a CRITICAL_SECTION; a console
 * control handler that starts the shutdown: it closes the listener (its
 * AcceptEx calls complete with ERROR_OPERATION_ABORTED), posts one empty
 * packet per worker and wakes the main thread, which waits for the workers,
 * closes every connection, waits until every OVERLAPPED has completed
 * (HasOverlappedIoCompleted) and frees everything. For CTRL_CLOSE_EVENT and
 * CTRL_SHUTDOWN_EVENT, after which the system ends the process as soon as
 * the handler returns, the handler waits for that cleanup first.
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
#include <string.h>
#ifdef __linux__
#include <dirent.h>
#include <unistd.h>
#endif

#define BUF_SIZE 16384
#define ADDR_LEN (sizeof(SOCKADDR_STORAGE) + 16)
#define MAX_WORKERS 64
#define MAX_ACCEPTS 256

typedef enum { IO_ACCEPT, IO_READ, IO_WRITE } IO_OP;

/* Per operation: the OVERLAPPED first, so the OVERLAPPED* is the context. */
typedef struct IO_CONTEXT {
    WSAOVERLAPPED ov;
    IO_OP op;
    BOOL pending;        /* an operation was issued and its packet not handled */
    WSABUF wsabuf;
    DWORD total, sent;   /* of the echo being written */
    SOCKET accept_sock;  /* IO_ACCEPT: the socket AcceptEx fills */
    char buf[BUF_SIZE];
} IO_CONTEXT;

/* Per connection: the completion key. */
typedef struct CONN {
    SOCKET sock;
    IO_CONTEXT io;
    struct CONN *prev, *next;
} CONN;

static const char *g_port_arg = "5001";
static DWORD g_threads, g_accept_count = 16;
static BOOL g_skip, g_verbose;
static HANDLE g_iocp;
static SOCKET g_listen = INVALID_SOCKET;
static LPFN_ACCEPTEX g_AcceptEx;
static LPFN_GETACCEPTEXSOCKADDRS g_GetAcceptExSockaddrs;
static IO_CONTEXT *g_accepts;
static HANDLE g_workers[MAX_WORKERS];
static CRITICAL_SECTION g_cs;  /* guards g_conns and the counters */
static CONN *g_conns;
static volatile LONG g_ending;
static HANDLE g_stop;          /* set by the console handler */
static HANDLE g_done;          /* set when the cleanup is over */
static LONG g_connections, g_open, g_messages;
static LONGLONG g_bytes;

#define LISTEN_KEY ((ULONG_PTR)&g_listen)

static void on_conn_io(CONN *c, BOOL ok, DWORD bytes);

static int myprintf(const char *fmt, ...) {
    char line[512];
    va_list ap;
    DWORD n = 0;
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    va_start(ap, fmt);
    StringCchVPrintfA(line, sizeof line, fmt, ap);
    va_end(ap);
    if (out == NULL || out == INVALID_HANDLE_VALUE) return 0;
    /* WriteConsole fails on Windows when stdout is redirected: then WriteFile. */
    if (!WriteConsoleA(out, line, (DWORD)lstrlenA(line), &n, NULL))
        WriteFile(out, line, (DWORD)lstrlenA(line), &n, NULL);
    return (int)n;
}

static void list_add(CONN *c) {
    EnterCriticalSection(&g_cs);
    c->prev = NULL;
    c->next = g_conns;
    if (g_conns) g_conns->prev = c;
    g_conns = c;
    g_connections++;
    g_open++;
    LeaveCriticalSection(&g_cs);
}

/* Removes a connection whose operation has completed and frees it. */
static void close_conn(CONN *c) {
    EnterCriticalSection(&g_cs);
    /* Re-entered on purpose (the section is recursive, as on Windows). */
    EnterCriticalSection(&g_cs);
    if (c->prev) c->prev->next = c->next;
    else g_conns = c->next;
    if (c->next) c->next->prev = c->prev;
    g_open--;
    LeaveCriticalSection(&g_cs);
    if (c->sock != INVALID_SOCKET) closesocket(c->sock);
    LeaveCriticalSection(&g_cs);
    HeapFree(GetProcessHeap(), 0, c);
}

/* What issuing an operation did. */
typedef enum { POST_FAILED, POST_PENDING, POST_DONE } POST_RESULT;

/* A WSARecv/WSASend result: POST_DONE only when it completed at once and, in
 * skip mode, queued no packet (then *bytes is its byte count). */
static POST_RESULT posted(CONN *c, int r, DWORD n, DWORD *bytes) {
    if (r == 0) {
        if (!g_skip) return POST_PENDING; /* its packet comes all the same */
        *bytes = n;
        return POST_DONE;
    }
    if (WSAGetLastError() == WSA_IO_PENDING) return POST_PENDING;
    c->io.pending = FALSE;
    return POST_FAILED;
}

static POST_RESULT post_recv(CONN *c, DWORD *bytes) {
    DWORD flags = 0, n = 0;
    int r;
    c->io.op = IO_READ;
    c->io.wsabuf.buf = c->io.buf;
    c->io.wsabuf.len = BUF_SIZE;
    ZeroMemory(&c->io.ov, sizeof c->io.ov);
    c->io.pending = TRUE;
    r = WSARecv(c->sock, &c->io.wsabuf, 1, &n, &flags, &c->io.ov, NULL);
    return posted(c, r, n, bytes);
}

static POST_RESULT post_send(CONN *c, DWORD *bytes) {
    DWORD n = 0;
    int r;
    c->io.op = IO_WRITE;
    c->io.wsabuf.buf = c->io.buf + c->io.sent;
    c->io.wsabuf.len = c->io.total - c->io.sent;
    ZeroMemory(&c->io.ov, sizeof c->io.ov);
    c->io.pending = TRUE;
    r = WSASend(c->sock, &c->io.wsabuf, 1, &n, 0, &c->io.ov, NULL);
    return posted(c, r, n, bytes);
}

static SOCKET new_socket(void) {
    return WSASocketA(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
}

static BOOL post_accept(IO_CONTEXT *a) {
    DWORD n = 0;
    a->op = IO_ACCEPT;
    a->accept_sock = new_socket();
    if (a->accept_sock == INVALID_SOCKET) return FALSE;
    ZeroMemory(&a->ov, sizeof a->ov);
    a->pending = TRUE;
    if (!g_AcceptEx(g_listen, a->accept_sock, a->buf, 0, ADDR_LEN, ADDR_LEN, &n, &a->ov) &&
        WSAGetLastError() != ERROR_IO_PENDING) {
        /* AcceptEx leaves Internal at STATUS_PENDING even when it fails at
         * once: the pending flag, not HasOverlappedIoCompleted, says so. */
        a->pending = FALSE;
        closesocket(a->accept_sock);
        a->accept_sock = INVALID_SOCKET;
        return FALSE;
    }
    return TRUE;
}

static void on_accept(IO_CONTEXT *a, BOOL ok) {
    SOCKADDR *local = NULL, *remote = NULL;
    int llen = 0, rlen = 0;
    CONN *c;
    a->pending = FALSE;
    if (!ok) {
        closesocket(a->accept_sock);
        a->accept_sock = INVALID_SOCKET;
        if (!g_ending) post_accept(a);
        return;
    }
    setsockopt(a->accept_sock, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&g_listen,
               sizeof g_listen);
    g_GetAcceptExSockaddrs(a->buf, 0, ADDR_LEN, ADDR_LEN, &local, &llen, &remote, &rlen);
    if (g_verbose && remote && remote->sa_family == AF_INET)
        myprintf("accepted from port %u\n",
                 (unsigned)ntohs(((SOCKADDR_IN *)remote)->sin_port));
    c = (CONN *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof *c);
    if (c == NULL) {
        closesocket(a->accept_sock);
    } else {
        c->sock = a->accept_sock;
        if (CreateIoCompletionPort((HANDLE)c->sock, g_iocp, (ULONG_PTR)c, 0) != g_iocp ||
            (g_skip && !SetFileCompletionNotificationModes((HANDLE)c->sock,
                                                           FILE_SKIP_COMPLETION_PORT_ON_SUCCESS))) {
            closesocket(c->sock);
            HeapFree(GetProcessHeap(), 0, c);
        } else {
            DWORD n = 0;
            list_add(c);
            switch (post_recv(c, &n)) {
            case POST_FAILED: close_conn(c); break;
            case POST_DONE: on_conn_io(c, TRUE, n); break;
            case POST_PENDING: break;
            }
        }
    }
    a->accept_sock = INVALID_SOCKET;
    if (!g_ending) post_accept(a); /* the next connection */
}

/* A connection's operation completed: issue its next one. In skip mode an
 * operation that completes at once queues no packet; it is handled here,
 * in the loop. */
static void on_conn_io(CONN *c, BOOL ok, DWORD bytes) {
    POST_RESULT r;
    do {
        c->io.pending = FALSE;
        if (!ok || (c->io.op == IO_READ && bytes == 0)) { /* error, or the client closed */
            close_conn(c);
            return;
        }
        if (c->io.op == IO_READ) {
            c->io.total = bytes;
            c->io.sent = 0;
            InterlockedIncrement(&g_messages);
            InterlockedExchangeAdd64(&g_bytes, bytes);
            r = post_send(c, &bytes);
        } else {
            c->io.sent += bytes;
            r = c->io.sent < c->io.total ? post_send(c, &bytes) : post_recv(c, &bytes);
        }
        if (r == POST_FAILED) {
            close_conn(c);
            return;
        }
    } while (r == POST_DONE);
}

static DWORD WINAPI worker(LPVOID arg) {
    (void)arg;
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        LPOVERLAPPED ov = NULL;
        BOOL ok = GetQueuedCompletionStatus(g_iocp, &bytes, &key, &ov, INFINITE);
        if (g_ending) return 0; /* the main thread cleans up */
        if (ov == NULL) {
            if (!ok || key == 0) return 0; /* an exit packet, or the port is gone */
            continue;
        }
        if (key == LISTEN_KEY) on_accept((IO_CONTEXT *)ov, ok);
        else on_conn_io((CONN *)key, ok, bytes);
    }
}

static void begin_shutdown(void) {
    DWORD i;
    if (InterlockedExchange(&g_ending, 1)) return;
    closesocket(g_listen); /* pending AcceptEx calls complete (995) */
    for (i = 0; i < g_threads; i++) PostQueuedCompletionStatus(g_iocp, 0, 0, NULL);
    SetEvent(g_stop);
}

static BOOL WINAPI ctrl_handler(DWORD ev) {
    switch (ev) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
        begin_shutdown();
        return TRUE;
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        /* The process ends when this returns: let the cleanup finish first. */
        begin_shutdown();
        WaitForSingleObject(g_done, 4000);
        return TRUE;
    default:
        return FALSE;
    }
}

static BOOL parse(int argc, char **argv) {
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((a[0] != '-' && a[0] != '/') || a[1] == '\0') return FALSE;
        switch (a[1]) {
        case 'e': if (lstrlenA(a) > 3) g_port_arg = a + 3; break;
        case 't': if (lstrlenA(a) > 3) g_threads = (DWORD)atoi(a + 3); break;
        case 'a': if (lstrlenA(a) > 3) g_accept_count = (DWORD)atoi(a + 3); break;
        case 's': g_skip = TRUE; break;
        case 'v': g_verbose = TRUE; break;
        default: return FALSE;
        }
    }
    return TRUE;
}

static BOOL start_listening(void) {
    struct addrinfo hints, *res = NULL;
    SOCKADDR_IN bound;
    int len = sizeof bound;
    GUID acceptex = WSAID_ACCEPTEX, sockaddrs = WSAID_GETACCEPTEXSOCKADDRS;
    DWORD n = 0;
    ZeroMemory(&hints, sizeof hints);
    hints.ai_flags = AI_PASSIVE;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    if (getaddrinfo(NULL, g_port_arg, &hints, &res) != 0 || res == NULL) {
        myprintf("getaddrinfo failed: %d\n", WSAGetLastError());
        return FALSE;
    }
    g_listen = new_socket();
    if (g_listen == INVALID_SOCKET ||
        bind(g_listen, res->ai_addr, (int)res->ai_addrlen) == SOCKET_ERROR ||
        listen(g_listen, SOMAXCONN) == SOCKET_ERROR) {
        myprintf("listening on port %s failed: %d\n", g_port_arg, WSAGetLastError());
        freeaddrinfo(res);
        return FALSE;
    }
    freeaddrinfo(res);
    if (CreateIoCompletionPort((HANDLE)g_listen, g_iocp, LISTEN_KEY, 0) != g_iocp ||
        WSAIoctl(g_listen, SIO_GET_EXTENSION_FUNCTION_POINTER, &acceptex, sizeof acceptex,
                 &g_AcceptEx, sizeof g_AcceptEx, &n, NULL, NULL) == SOCKET_ERROR ||
        WSAIoctl(g_listen, SIO_GET_EXTENSION_FUNCTION_POINTER, &sockaddrs, sizeof sockaddrs,
                 &g_GetAcceptExSockaddrs, sizeof g_GetAcceptExSockaddrs, &n, NULL,
                 NULL) == SOCKET_ERROR) {
        myprintf("listener setup failed: %d\n", GetLastError());
        return FALSE;
    }
    if (getsockname(g_listen, (SOCKADDR *)&bound, &len) == SOCKET_ERROR) return FALSE;
    myprintf("listening on port %u\n", (unsigned)ntohs(bound.sin_port));
    return TRUE;
}

/* How many fds, and how many of them sockets, the process still has (a
 * leak check for the tests; Linux only). */
static void report_fds(void) {
#ifdef __linux__
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int total = 0, sockets = 0;
    if (d == NULL) return;
    while ((e = readdir(d)) != NULL) {
        char path[300], target[256];
        ssize_t n;
        if (e->d_name[0] == '.') continue;
        StringCchPrintfA(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof target - 1);
        if (n < 0) continue; /* the directory's own fd, closed by now */
        target[n] = '\0';
        total++;
        if (strncmp(target, "socket:", 7) == 0) sockets++;
    }
    closedir(d);
    myprintf("open fds: %d, sockets: %d\n", total - 1, sockets);
#endif
}

int main(int argc, char **argv) {
    WSADATA wsa;
    SYSTEM_INFO si;
    DWORD i;
    int status = 0;
    CONN *c;

    if (!parse(argc, argv)) {
        myprintf("usage: %s [-e:port] [-t:threads] [-a:accepts] [-s] [-v]\n", argv[0]);
        return 2;
    }
    GetSystemInfo(&si);
    if (g_threads == 0) g_threads = si.dwNumberOfProcessors * 2;
    g_threads = min(g_threads, MAX_WORKERS);
    g_accept_count = max(1, min(g_accept_count, MAX_ACCEPTS));
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return 1;
    InitializeCriticalSectionAndSpinCount(&g_cs, 1000);
    g_stop = CreateEventA(NULL, TRUE, FALSE, NULL);
    g_done = CreateEventA(NULL, TRUE, FALSE, NULL);
    g_accepts = (IO_CONTEXT *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY,
                                        g_accept_count * sizeof(IO_CONTEXT));
    g_iocp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (g_stop == NULL || g_done == NULL || g_accepts == NULL || g_iocp == NULL ||
        !SetConsoleCtrlHandler(ctrl_handler, TRUE)) {
        myprintf("start-up failed: %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    if (!start_listening()) return 1;
    for (i = 0; i < g_threads; i++) {
        g_workers[i] = CreateThread(NULL, 0, worker, NULL, 0, NULL);
        if (g_workers[i] == NULL) return 1;
    }
    for (i = 0; i < g_accept_count; i++) {
        g_accepts[i].accept_sock = INVALID_SOCKET;
        if (!post_accept(&g_accepts[i])) {
            myprintf("AcceptEx failed: %d\n", WSAGetLastError());
            return 1;
        }
    }
    myprintf("%lu workers, %lu accepts pending%s\n", (unsigned long)g_threads,
             (unsigned long)g_accept_count, g_skip ? ", skip on success" : "");

    WaitForSingleObject(g_stop, INFINITE);

    /* The workers leave at their next packet (one each was posted). */
    if (WaitForMultipleObjects(g_threads, g_workers, TRUE, 10000) != WAIT_OBJECT_0) {
        myprintf("workers did not stop: %lu\n", (unsigned long)GetLastError());
        status = 1;
    }
    for (i = 0; i < g_threads; i++) CloseHandle(g_workers[i]);
    /* Close every connection: its pending operation completes (1236); wait
     * for that before the context is freed. */
    EnterCriticalSection(&g_cs);
    for (c = g_conns; c != NULL; c = c->next) {
        closesocket(c->sock);
        c->sock = INVALID_SOCKET;
    }
    while (g_conns != NULL) {
        c = g_conns;
        while (c->io.pending && !HasOverlappedIoCompleted(&c->io.ov)) Sleep(0);
        close_conn(c);
    }
    LeaveCriticalSection(&g_cs);
    for (i = 0; i < g_accept_count; i++) {
        IO_CONTEXT *a = &g_accepts[i];
        while (a->pending && !HasOverlappedIoCompleted(&a->ov)) Sleep(0);
        if (a->accept_sock != INVALID_SOCKET) closesocket(a->accept_sock);
    }
    HeapFree(GetProcessHeap(), 0, g_accepts);
    CloseHandle(g_iocp);
    myprintf("connections %ld, messages %ld, bytes %.0f, open %ld\n", (long)g_connections,
             (long)g_messages, (double)g_bytes, (long)g_open);
    if (g_open != 0) status = 1;
    DeleteCriticalSection(&g_cs);
    WSACleanup();
    report_fds();
    SetEvent(g_done);
    return status;
}
