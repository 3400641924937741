/*
 * overlapped_copy — copies a file with overlapped ReadFile/WriteFile through
 * a completion port, several chunks in flight, written only against the
 * Win32 API (it builds unchanged for Windows with x86_64-w64-mingw32-gcc,
 * and for Linux with cport).
 *
 *   overlapped_copy <source> <destination> [-k:chunk KiB] [-q:chunks in flight]
 *
 * Each chunk reads at its offset; when the read completes, the same bytes
 * are written at the same offset; when the write completes, the chunk reads
 * the next unclaimed offset. A read at or past the end of the file fails
 * with ERROR_HANDLE_EOF — at once or through its packet, both of which
 * Windows does — and that chunk retires. The copy is over when no chunk is
 * in flight. One thread does it all in a GetQueuedCompletionStatus loop.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <strsafe.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_DEPTH 64

typedef struct CHUNK {
    OVERLAPPED ov; /* first: the OVERLAPPED* is the chunk */
    BOOL writing;
    ULONGLONG offset;
    DWORD length; /* bytes read, to be written */
    char *buf;
} CHUNK;

static HANDLE g_src, g_dst, g_iocp;
static ULONGLONG g_next;    /* the next offset to read */
static DWORD g_chunk = 256 * 1024, g_depth = 8;
static int g_in_flight;
static BOOL g_eof, g_failed;
static ULONGLONG g_copied;

#define SRC_KEY 1
#define DST_KEY 2

static int myprintf(const char *fmt, ...) {
    char line[512];
    va_list ap;
    DWORD n = 0;
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    va_start(ap, fmt);
    StringCchVPrintfA(line, sizeof line, fmt, ap);
    va_end(ap);
    if (out != NULL && out != INVALID_HANDLE_VALUE)
        WriteFile(out, line, (DWORD)lstrlenA(line), &n, NULL);
    return (int)n;
}

static void set_offset(CHUNK *c) {
    ZeroMemory(&c->ov, sizeof c->ov);
    c->ov.Offset = (DWORD)(c->offset & 0xFFFFFFFFu);
    c->ov.OffsetHigh = (DWORD)(c->offset >> 32);
}

/* Starts the chunk's next read, or retires it at the end of the file. */
static void start_read(CHUNK *c) {
    if (g_eof || g_failed) return;
    c->writing = FALSE;
    c->offset = g_next;
    g_next += g_chunk;
    set_offset(c);
    if (ReadFile(g_src, c->buf, g_chunk, NULL, &c->ov) || GetLastError() == ERROR_IO_PENDING) {
        g_in_flight++; /* a packet comes (also for a read that completed at once) */
        return;
    }
    if (GetLastError() == ERROR_HANDLE_EOF) {
        g_eof = TRUE; /* the synchronous form of the end of the file */
        return;
    }
    myprintf("ReadFile at %.0f failed: %lu\n", (double)c->offset, (unsigned long)GetLastError());
    g_failed = TRUE;
}

static void start_write(CHUNK *c) {
    c->writing = TRUE;
    set_offset(c);
    if (WriteFile(g_dst, c->buf, c->length, NULL, &c->ov) || GetLastError() == ERROR_IO_PENDING) {
        g_in_flight++;
        return;
    }
    myprintf("WriteFile at %.0f failed: %lu\n", (double)c->offset, (unsigned long)GetLastError());
    g_failed = TRUE;
}

static BOOL parse(int argc, char **argv) {
    int i;
    for (i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || lstrlenA(a) < 4 || a[2] != ':') return FALSE;
        if (a[1] == 'k') g_chunk = (DWORD)atoi(a + 3) * 1024;
        else if (a[1] == 'q') g_depth = (DWORD)atoi(a + 3);
        else return FALSE;
    }
    return argc >= 3 && g_chunk > 0 && g_depth > 0 && g_depth <= MAX_DEPTH;
}

int main(int argc, char **argv) {
    CHUNK chunks[MAX_DEPTH];
    LARGE_INTEGER freq, t0, t1;
    DWORD i;
    double secs;
    HANDLE heap = GetProcessHeap();

    if (!parse(argc, argv)) {
        myprintf("usage: %s <source> <destination> [-k:chunk KiB] [-q:chunks in flight]\n",
                 argc > 0 ? argv[0] : "overlapped_copy");
        return 2;
    }
    g_src = CreateFileA(argv[1], GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                        FILE_FLAG_OVERLAPPED | FILE_FLAG_SEQUENTIAL_SCAN, NULL);
    if (g_src == INVALID_HANDLE_VALUE) {
        myprintf("cannot open %s: %lu\n", argv[1], (unsigned long)GetLastError());
        return 1;
    }
    g_dst = CreateFileA(argv[2], GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_FLAG_OVERLAPPED, NULL);
    if (g_dst == INVALID_HANDLE_VALUE) {
        myprintf("cannot create %s: %lu\n", argv[2], (unsigned long)GetLastError());
        return 1;
    }
    g_iocp = CreateIoCompletionPort(g_src, NULL, SRC_KEY, 1);
    if (g_iocp == NULL || CreateIoCompletionPort(g_dst, g_iocp, DST_KEY, 1) != g_iocp) {
        myprintf("CreateIoCompletionPort failed: %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t0);
    for (i = 0; i < g_depth; i++) {
        chunks[i].buf = (char *)HeapAlloc(heap, 0, g_chunk);
        if (chunks[i].buf == NULL) return 1;
        start_read(&chunks[i]);
    }
    while (g_in_flight > 0) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        LPOVERLAPPED ov = NULL;
        BOOL ok = GetQueuedCompletionStatus(g_iocp, &bytes, &key, &ov, 30000);
        CHUNK *c = (CHUNK *)ov;
        if (c == NULL) {
            myprintf("GetQueuedCompletionStatus failed: %lu\n", (unsigned long)GetLastError());
            return 1;
        }
        g_in_flight--;
        if (!c->writing) {
            if (!ok && GetLastError() == ERROR_HANDLE_EOF) {
                g_eof = TRUE; /* the end of the file, through the packet */
            } else if (!ok) {
                myprintf("read failed: %lu\n", (unsigned long)GetLastError());
                g_failed = TRUE;
            } else if (bytes == 0) {
                g_eof = TRUE;
            } else {
                if (bytes < g_chunk) g_eof = TRUE; /* the last piece */
                c->length = bytes;
                start_write(c);
            }
        } else if (!ok || bytes != c->length) {
            myprintf("write failed: %lu\n", (unsigned long)GetLastError());
            g_failed = TRUE;
        } else {
            g_copied += bytes;
            start_read(c);
        }
    }
    QueryPerformanceCounter(&t1);
    secs = (double)(t1.QuadPart - t0.QuadPart) / (double)freq.QuadPart;
    for (i = 0; i < g_depth; i++) HeapFree(heap, 0, chunks[i].buf);
    CloseHandle(g_src);
    CloseHandle(g_dst);
    CloseHandle(g_iocp);
    myprintf("copied %.0f bytes in %.3f s (%.0f MiB/s), %lu chunks of %lu KiB in flight%s\n",
             (double)g_copied, secs, secs > 0 ? (double)g_copied / secs / 1048576.0 : 0.0,
             (unsigned long)g_depth, (unsigned long)(g_chunk / 1024), g_failed ? ", FAILED" : "");
    return g_failed ? 1 : 0;
}
