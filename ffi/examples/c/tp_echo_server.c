/*
 * tp_echo_server — the TCP echo server of iocp_echo_server.c on the Windows
 * thread pool instead of its own worker threads: CreateThreadpoolIo on the
 * listener (AcceptEx) and on every connection (WSARecv/WSASend), with
 * StartThreadpoolIo before each overlapped call and CancelThreadpoolIo after
 * one that failed at once. Written only against the Win32 API: it builds
 * unchanged for Windows (x86_64-w64-mingw32-gcc ... -lws2_32 -lmswsock) and,
 * with cport, for Linux (cc -I include/win32 ... -L target/release -lcport
 * -lpthread).
 *
 *   tp_echo_server [-e:port] [-t:threads] [-a:accepts] [-v]
 *
 *   -e:port     port to listen on (0: any free port; default 5001)
 *   -t:threads  the private pool's maximum number of threads (default 2 per
 *               processor)
 *   -a:accepts  AcceptEx calls kept pending (default 16)
 *   -v          verbose
 *
 * Shape: a private pool (CreateThreadpool, SetThreadpoolThreadMaximum) and a
 * callback environment naming it; one I/O object for the listener, whose
 * callback gets each AcceptEx's OVERLAPPED; per connection one context (its
 * socket, its I/O object, one OVERLAPPED-embedding I/O context alternating
 * WSARecv and WSASend), in a list under a CRITICAL_SECTION. A console
 * control handler wakes the main thread, which closes the listener (its
 * AcceptEx calls complete with ERROR_OPERATION_ABORTED), waits for the
 * listener's callbacks, cancels the connections' operations until every
 * connection has closed itself in its callback, and closes the pool.
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
#define MAX_ACCEPTS 256

typedef enum { IO_ACCEPT, IO_READ, IO_WRITE } IO_OP;

/* Per operation: the OVERLAPPED first, so the OVERLAPPED* is the context. */
typedef struct IO_CONTEXT {
    WSAOVERLAPPED ov;
    IO_OP op;
    WSABUF wsabuf;
    DWORD total, sent;   /* of the echo being written */
    SOCKET accept_sock;  /* IO_ACCEPT: the socket AcceptEx fills */
    char buf[BUF_SIZE];
} IO_CONTEXT;

/* Per connection: the I/O object's context. */
typedef struct CONN {
    SOCKET sock;
    PTP_IO tpio;
    IO_CONTEXT io;
    struct CONN *prev, *next;
} CONN;

static const char *g_port_arg = "5001";
static DWORD g_threads, g_accept_count = 16;
static BOOL g_verbose;
static PTP_POOL g_pool;
static TP_CALLBACK_ENVIRON g_env;
static PTP_IO g_listen_io;
static SOCKET g_listen = INVALID_SOCKET;
static LPFN_ACCEPTEX g_AcceptEx;
static LPFN_GETACCEPTEXSOCKADDRS g_GetAcceptExSockaddrs;
static IO_CONTEXT *g_accepts;
static CRITICAL_SECTION g_cs;  /* guards g_conns and the counters */
static CONN *g_conns;
static volatile LONG g_ending;
static HANDLE g_stop;          /* set by the console handler */
static HANDLE g_done;          /* set when the cleanup is over */
static LONG g_connections, g_open, g_messages;
static LONGLONG g_bytes;

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

/* Removes a connection (from its own callback: nothing of it is pending)
 * and frees it; its I/O object goes once the callback returns. */
static void close_conn(CONN *c) {
    EnterCriticalSection(&g_cs);
    if (c->prev) c->prev->next = c->next;
    else g_conns = c->next;
    if (c->next) c->next->prev = c->prev;
    g_open--;
    LeaveCriticalSection(&g_cs);
    closesocket(c->sock);
    CloseThreadpoolIo(c->tpio);
    HeapFree(GetProcessHeap(), 0, c);
}

/* Issues the connection's next receive or send; FALSE if it failed at once
 * (no callback will come). A call that completes at once still queues its
 * completion, so its callback comes too. */
static BOOL post_io(CONN *c) {
    DWORD n = 0, flags = 0;
    int r;
    ZeroMemory(&c->io.ov, sizeof c->io.ov);
    StartThreadpoolIo(c->tpio);
    if (c->io.op == IO_READ) {
        c->io.wsabuf.buf = c->io.buf;
        c->io.wsabuf.len = BUF_SIZE;
        r = WSARecv(c->sock, &c->io.wsabuf, 1, &n, &flags, &c->io.ov, NULL);
    } else {
        c->io.wsabuf.buf = c->io.buf + c->io.sent;
        c->io.wsabuf.len = c->io.total - c->io.sent;
        r = WSASend(c->sock, &c->io.wsabuf, 1, &n, 0, &c->io.ov, NULL);
    }
    if (r == 0 || WSAGetLastError() == WSA_IO_PENDING) return TRUE;
    CancelThreadpoolIo(c->tpio);
    return FALSE;
}

static VOID CALLBACK conn_io(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov, ULONG result,
                             ULONG_PTR bytes, PTP_IO io) {
    CONN *c = (CONN *)ctx;
    (void)inst;
    (void)ov;
    (void)io;
    if (result != 0 || (c->io.op == IO_READ && bytes == 0) || g_ending) {
        close_conn(c); /* error, the client closed, or shutting down */
        return;
    }
    if (c->io.op == IO_READ) {
        c->io.total = (DWORD)bytes;
        c->io.sent = 0;
        c->io.op = IO_WRITE;
        InterlockedIncrement(&g_messages);
        InterlockedExchangeAdd64(&g_bytes, (LONGLONG)bytes);
    } else {
        c->io.sent += (DWORD)bytes;
        if (c->io.sent == c->io.total) c->io.op = IO_READ;
    }
    if (!post_io(c)) close_conn(c);
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
    StartThreadpoolIo(g_listen_io);
    if (!g_AcceptEx(g_listen, a->accept_sock, a->buf, 0, ADDR_LEN, ADDR_LEN, &n, &a->ov) &&
        WSAGetLastError() != ERROR_IO_PENDING) {
        CancelThreadpoolIo(g_listen_io);
        closesocket(a->accept_sock);
        a->accept_sock = INVALID_SOCKET;
        return FALSE;
    }
    return TRUE;
}

static VOID CALLBACK accept_io(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov, ULONG result,
                               ULONG_PTR bytes, PTP_IO io) {
    IO_CONTEXT *a = (IO_CONTEXT *)ov;
    SOCKADDR *local = NULL, *remote = NULL;
    int llen = 0, rlen = 0;
    CONN *c;
    (void)inst;
    (void)ctx;
    (void)bytes;
    (void)io;
    if (result != 0) {
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
        c->tpio = CreateThreadpoolIo((HANDLE)c->sock, conn_io, c, &g_env);
        if (c->tpio == NULL) {
            closesocket(c->sock);
            HeapFree(GetProcessHeap(), 0, c);
        } else {
            EnterCriticalSection(&g_cs);
            c->next = g_conns;
            if (g_conns) g_conns->prev = c;
            g_conns = c;
            g_connections++;
            g_open++;
            c->io.op = IO_READ;
            /* Issued under the lock, so the shutdown's cancel sees it. */
            if (!post_io(c)) {
                LeaveCriticalSection(&g_cs);
                close_conn(c);
            } else {
                LeaveCriticalSection(&g_cs);
            }
        }
    }
    a->accept_sock = INVALID_SOCKET;
    if (!g_ending) post_accept(a); /* the next connection */
}

static BOOL WINAPI ctrl_handler(DWORD ev) {
    switch (ev) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
        SetEvent(g_stop);
        return TRUE;
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        /* The process ends when this returns: let the cleanup finish first. */
        SetEvent(g_stop);
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
    g_listen_io = CreateThreadpoolIo((HANDLE)g_listen, accept_io, NULL, &g_env);
    if (g_listen_io == NULL ||
        WSAIoctl(g_listen, SIO_GET_EXTENSION_FUNCTION_POINTER, &acceptex, sizeof acceptex,
                 &g_AcceptEx, sizeof g_AcceptEx, &n, NULL, NULL) == SOCKET_ERROR ||
        WSAIoctl(g_listen, SIO_GET_EXTENSION_FUNCTION_POINTER, &sockaddrs, sizeof sockaddrs,
                 &g_GetAcceptExSockaddrs, sizeof g_GetAcceptExSockaddrs, &n, NULL,
                 NULL) == SOCKET_ERROR) {
        myprintf("listener setup failed: %lu\n", (unsigned long)GetLastError());
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
    int status = 0, waited;
    CONN *c;

    if (!parse(argc, argv)) {
        myprintf("usage: %s [-e:port] [-t:threads] [-a:accepts] [-v]\n", argv[0]);
        return 2;
    }
    GetSystemInfo(&si);
    if (g_threads == 0) g_threads = si.dwNumberOfProcessors * 2;
    g_accept_count = max(1, min(g_accept_count, MAX_ACCEPTS));
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return 1;
    InitializeCriticalSectionAndSpinCount(&g_cs, 1000);
    g_stop = CreateEventA(NULL, TRUE, FALSE, NULL);
    g_done = CreateEventA(NULL, TRUE, FALSE, NULL);
    g_accepts = (IO_CONTEXT *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY,
                                        g_accept_count * sizeof(IO_CONTEXT));
    g_pool = CreateThreadpool(NULL);
    if (g_stop == NULL || g_done == NULL || g_accepts == NULL || g_pool == NULL ||
        !SetConsoleCtrlHandler(ctrl_handler, TRUE)) {
        myprintf("start-up failed: %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    SetThreadpoolThreadMaximum(g_pool, g_threads);
    if (!SetThreadpoolThreadMinimum(g_pool, 1)) return 1;
    InitializeThreadpoolEnvironment(&g_env);
    SetThreadpoolCallbackPool(&g_env, g_pool);
    if (!start_listening()) return 1;
    for (i = 0; i < g_accept_count; i++) {
        g_accepts[i].accept_sock = INVALID_SOCKET;
        if (!post_accept(&g_accepts[i])) {
            myprintf("AcceptEx failed: %d\n", WSAGetLastError());
            return 1;
        }
    }
    myprintf("pool of up to %lu threads, %lu accepts pending\n", (unsigned long)g_threads,
             (unsigned long)g_accept_count);

    WaitForSingleObject(g_stop, INFINITE);

    InterlockedExchange(&g_ending, 1);
    closesocket(g_listen); /* pending AcceptEx calls complete (995) */
    WaitForThreadpoolIoCallbacks(g_listen_io, FALSE);
    CloseThreadpoolIo(g_listen_io);
    /* Every connection closes itself in its callback once its operation
     * ends: cancel them (again, for one that a callback issued meanwhile). */
    for (waited = 0; waited < 1000; waited++) {
        EnterCriticalSection(&g_cs);
        for (c = g_conns; c != NULL; c = c->next) CancelIoEx((HANDLE)c->sock, NULL);
        i = (DWORD)g_open;
        LeaveCriticalSection(&g_cs);
        if (i == 0) break;
        Sleep(10);
    }
    if (g_open != 0) {
        myprintf("connections did not close: %ld\n", (long)g_open);
        status = 1;
    }
    DestroyThreadpoolEnvironment(&g_env);
    CloseThreadpool(g_pool);
    HeapFree(GetProcessHeap(), 0, g_accepts);
    myprintf("connections %ld, messages %ld, bytes %.0f, open %ld\n", (long)g_connections,
             (long)g_messages, (double)g_bytes, (long)g_open);
    DeleteCriticalSection(&g_cs);
    WSACleanup();
    report_fds();
    SetEvent(g_done);
    return status;
}
