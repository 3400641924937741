/* Overlapped files: CreateFileA with FILE_FLAG_OVERLAPPED, ReadFile/WriteFile
 * at Offset/OffsetHigh through the port, end of file (38), GetOverlappedResult
 * with and without wait, events, synchronous handles (docs/semantics.md, "C ABI"). */
#include <windows.h>
#include <unistd.h>
#include <sys/stat.h>
#include "check.h"

static char path[256], path2[256];

/* Issues a read or write and returns its result through the port, accepting
 * both ways Windows may end it: at once (TRUE) — still a packet — or pending. */
static void io_through_port(HANDLE port, HANDLE h, BOOL write, void *buf, DWORD len,
                            unsigned long long off, DWORD want_bytes) {
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)(off >> 32);
    DWORD n = 0xdeadbeef;
    BOOL ok = write ? WriteFile(h, buf, len, &n, &ov) : ReadFile(h, buf, len, &n, &ov);
    if (!ok) CHECK_ERR(ERROR_IO_PENDING);
    DWORD bytes;
    ULONG_PTR key;
    LPOVERLAPPED o = NULL;
    CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &o, 5000));
    CHECK(o == &ov);
    CHECK_EQ(key, 9);
    CHECK_EQ(bytes, want_bytes);
    CHECK_EQ(ov.Internal, STATUS_SUCCESS);
    CHECK_EQ(ov.InternalHigh, want_bytes);
}

/* A read at or past the end: ERROR_HANDLE_EOF, either synchronously (no
 * packet) or through the packet: the two forms Windows uses. */
static void read_eof(HANDLE port, HANDLE h, unsigned long long off) {
    char buf[16];
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)(off >> 32);
    CHECK(!ReadFile(h, buf, sizeof buf, NULL, &ov));
    DWORD e = GetLastError();
    DWORD bytes = 0xdeadbeef;
    ULONG_PTR key;
    LPOVERLAPPED o = NULL;
    if (e == ERROR_IO_PENDING) {
        CHECK(!GetQueuedCompletionStatus(port, &bytes, &key, &o, 5000));
        CHECK_ERR(ERROR_HANDLE_EOF);
        CHECK(o == &ov);
        CHECK_EQ(key, 9);
        CHECK_EQ(bytes, 0);
        CHECK_EQ(ov.Internal, STATUS_END_OF_FILE);
        DWORD n = 1;
        CHECK(!GetOverlappedResult(h, &ov, &n, FALSE));
        CHECK_ERR(ERROR_HANDLE_EOF);
        CHECK_EQ(n, 0);
    } else {
        CHECK_EQ(e, ERROR_HANDLE_EOF);
        o = (LPOVERLAPPED)1;
        CHECK(!GetQueuedCompletionStatus(port, &bytes, &key, &o, 50));
        CHECK_ERR(WAIT_TIMEOUT);
    }
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/cport-files-%d.bin", (int)getpid());
    snprintf(path2, sizeof path2, "/tmp/cport-files-%d-sync.bin", (int)getpid());

    /* Opening a file that does not exist: 2. */
    CHECK(CreateFileA(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL) ==
          INVALID_HANDLE_VALUE);
    CHECK_ERR(ERROR_FILE_NOT_FOUND);

    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK_EQ((ULONG_PTR)h & 3, 0);
    HANDLE port = CreateIoCompletionPort(h, NULL, 9, 0);
    CHECK(port != NULL);
    CHECK(CreateIoCompletionPort(h, port, 9, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);

    /* Overlapped calls need an OVERLAPPED. */
    char buf[128];
    DWORD n;
    CHECK(!ReadFile(h, buf, sizeof buf, &n, NULL));
    CHECK_ERR(ERROR_INVALID_PARAMETER);

    /* Write at 4096, read it back, read across the end. */
    char digits[] = "0123456789";
    io_through_port(port, h, TRUE, digits, 10, 4096, 10);
    memset(buf, 0, sizeof buf);
    io_through_port(port, h, FALSE, buf, 10, 4096, 10);
    CHECK(memcmp(buf, "0123456789", 10) == 0);
    io_through_port(port, h, FALSE, buf, sizeof buf, 4100, 6);
    CHECK(memcmp(buf, "456789", 6) == 0);
    /* Before the data: zeros (a hole). */
    io_through_port(port, h, FALSE, buf, 16, 0, 16);
    for (int i = 0; i < 16; i++) CHECK_EQ(buf[i], 0);

    /* End of file: at the end, and far past it. */
    read_eof(port, h, 4106);
    read_eof(port, h, 1ull << 20);

    /* GetOverlappedResult waits without the port (the packet still comes). */
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.Offset = 4096;
    if (!ReadFile(h, buf, 4, NULL, &ov)) CHECK_ERR(ERROR_IO_PENDING);
    n = 0;
    CHECK(GetOverlappedResult(h, &ov, &n, TRUE));
    CHECK_EQ(n, 4);
    CHECK(HasOverlappedIoCompleted(&ov));
    {
        DWORD b;
        ULONG_PTR k;
        LPOVERLAPPED o;
        CHECK(GetQueuedCompletionStatus(port, &b, &k, &o, 5000));
        CHECK(o == &ov);
        CHECK_EQ(b, 4);
    }

    /* An event: signalled at completion; with the low bit, no packet. */
    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(ev != NULL);
    memset(&ov, 0, sizeof ov);
    ov.Offset = 4096;
    ov.hEvent = (HANDLE)((ULONG_PTR)ev | 1);
    if (!ReadFile(h, buf, 10, NULL, &ov)) CHECK_ERR(ERROR_IO_PENDING);
    CHECK_EQ(WaitForSingleObject(ev, 5000), WAIT_OBJECT_0);
    CHECK_EQ(ov.InternalHigh, 10);
    {
        DWORD b;
        ULONG_PTR k;
        LPOVERLAPPED o = (LPOVERLAPPED)1;
        CHECK(!GetQueuedCompletionStatus(port, &b, &k, &o, 100));
        CHECK_ERR(WAIT_TIMEOUT);
    }
    CHECK(CloseHandle(ev));

    /* A 64-bit offset (OffsetHigh): write and read past 4 GiB (a sparse file). */
    char hi[] = "high";
    io_through_port(port, h, TRUE, hi, 4, (1ull << 32) + 5, 4);
    memset(buf, 0, sizeof buf);
    io_through_port(port, h, FALSE, buf, 4, (1ull << 32) + 5, 4);
    CHECK(memcmp(buf, "high", 4) == 0);

    /* Nothing to cancel: 1168. */
    CHECK(!CancelIoEx(h, NULL));
    CHECK_ERR(ERROR_NOT_FOUND);

    /* Close; the stale handle gives 6. */
    CHECK(CloseHandle(h));
    CHECK(!ReadFile(h, buf, 4, NULL, &ov));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!CloseHandle(h));
    CHECK_ERR(ERROR_INVALID_HANDLE);

    /* Dispositions: CREATE_NEW on an existing file (80), CREATE_ALWAYS on one
     * (succeeds with 183), OPEN_ALWAYS on a new one (0). */
    CHECK(CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_NEW, 0, NULL) == INVALID_HANDLE_VALUE);
    CHECK_ERR(ERROR_FILE_EXISTS);
    h = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK_ERR(ERROR_ALREADY_EXISTS);
    CHECK(CloseHandle(h));
    unlink(path2);
    h = CreateFileA(path2, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_ALWAYS, FILE_FLAG_DELETE_ON_CLOSE, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK_ERR(0);

    /* A synchronous handle: no association (87); ReadFile/WriteFile run at once. */
    CHECK(CreateIoCompletionPort(h, port, 1, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    n = 0;
    CHECK(WriteFile(h, "sync!", 5, &n, NULL));
    CHECK_EQ(n, 5);
    memset(&ov, 0, sizeof ov);
    CHECK(ReadFile(h, buf, sizeof buf, &n, &ov)); /* offset 0 from the OVERLAPPED */
    CHECK_EQ(n, 5);
    CHECK(memcmp(buf, "sync!", 5) == 0);
    CHECK(CloseHandle(h));
    CHECK(access(path2, F_OK) != 0); /* FILE_FLAG_DELETE_ON_CLOSE */

    /* CreateFileW takes wchar_t strings. */
    wchar_t wpath[256];
    swprintf(wpath, 256, L"%s", path);
    h = CreateFileW(wpath, GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK(CloseHandle(h));

    /* Access modes are honoured: a GENERIC_WRITE handle cannot read and a
     * GENERIC_READ one cannot write: ERROR_ACCESS_DENIED (5), nothing queued. */
    h = CreateFileA(path, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK(WriteFile(h, "access", 6, &n, NULL));
    CHECK_EQ(n, 6);
    n = 0xdeadbeef;
    CHECK(!ReadFile(h, buf, 4, &n, NULL));
    CHECK_ERR(ERROR_ACCESS_DENIED);
    CHECK_EQ(n, 0);
    CHECK(CloseHandle(h));
    h = CreateFileA(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK(!WriteFile(h, "x", 1, &n, NULL));
    CHECK_ERR(ERROR_ACCESS_DENIED);
    CHECK(ReadFile(h, buf, sizeof buf, &n, NULL));
    CHECK_EQ(n, 6);
    CHECK(CloseHandle(h));
    h = CreateFileA(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK(CreateIoCompletionPort(h, port, 9, 0) == port);
    memset(&ov, 0, sizeof ov);
    CHECK(!WriteFile(h, "x", 1, NULL, &ov));
    CHECK_ERR(ERROR_ACCESS_DENIED);
    {
        DWORD b;
        ULONG_PTR k;
        LPOVERLAPPED o = (LPOVERLAPPED)1;
        CHECK(!GetQueuedCompletionStatus(port, &b, &k, &o, 50));
        CHECK_ERR(WAIT_TIMEOUT);
    }
    io_through_port(port, h, FALSE, buf, 6, 0, 6);
    CHECK(memcmp(buf, "access", 6) == 0);
    CHECK(CloseHandle(h));

    /* A synchronous handle's file pointer: used and advanced by ReadFile /
     * WriteFile without an OVERLAPPED; with one, its offset is used and the
     * pointer ends after the bytes; SetFilePointer(Ex) move it. */
    h = CreateFileA(path2, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_FLAG_DELETE_ON_CLOSE, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK(WriteFile(h, "abcdef", 6, &n, NULL));
    CHECK_EQ(SetFilePointer(h, 0, NULL, FILE_CURRENT), 6);
    CHECK(WriteFile(h, "gh", 2, &n, NULL));
    CHECK_EQ(SetFilePointer(h, 2, NULL, FILE_BEGIN), 2);
    memset(buf, 0, sizeof buf);
    CHECK(ReadFile(h, buf, 3, &n, NULL));
    CHECK_EQ(n, 3);
    CHECK(memcmp(buf, "cde", 3) == 0);
    CHECK_EQ(SetFilePointer(h, 0, NULL, FILE_CURRENT), 5);
    memset(&ov, 0, sizeof ov);
    ov.Offset = 6;
    CHECK(ReadFile(h, buf, 2, &n, &ov));
    CHECK_EQ(n, 2);
    CHECK(memcmp(buf, "gh", 2) == 0);
    CHECK_EQ(SetFilePointer(h, 0, NULL, FILE_CURRENT), 8);
    CHECK(ReadFile(h, buf, 4, &n, NULL)); /* synchronous EOF: TRUE, 0 bytes */
    CHECK_EQ(n, 0);
    LARGE_INTEGER dist, np;
    dist.QuadPart = -3;
    np.QuadPart = 0;
    CHECK(SetFilePointerEx(h, dist, &np, FILE_END));
    CHECK_EQ(np.QuadPart, 5);
    CHECK(ReadFile(h, buf, 1, &n, NULL));
    CHECK_EQ(buf[0], 'f');
    CHECK_EQ(SetFilePointer(h, -100, NULL, FILE_CURRENT), INVALID_SET_FILE_POINTER);
    CHECK_ERR(ERROR_NEGATIVE_SEEK);
    CHECK_EQ(SetFilePointer(h, 0, NULL, FILE_CURRENT), 6);
    LONG high = 1;
    CHECK_EQ(SetFilePointer(h, 7, &high, FILE_BEGIN), 7);
    CHECK_EQ(high, 1);
    dist.QuadPart = 0;
    CHECK(SetFilePointerEx(h, dist, &np, FILE_CURRENT));
    CHECK_EQ(np.QuadPart, (1ll << 32) + 7);
    CHECK(!SetFilePointerEx(h, dist, &np, 7));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(CloseHandle(h));
    CHECK_EQ(SetFilePointer(h, 0, NULL, FILE_BEGIN), INVALID_SET_FILE_POINTER);
    CHECK_ERR(ERROR_INVALID_HANDLE);

    /* hTemplateFile is accepted (unbufcpy passes one); both
     * notification modes are accepted. */
    {
        HANDLE t = CreateFileA(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
        CHECK(t != INVALID_HANDLE_VALUE);
        h = CreateFileA(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, t);
        CHECK(h != INVALID_HANDLE_VALUE);
        CHECK(SetFileCompletionNotificationModes(
            h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE));
        CHECK(CloseHandle(h));
        CHECK(CloseHandle(t));
    }

    /* A directory opens only with FILE_FLAG_BACKUP_SEMANTICS (else 5). */
    char dir[300];
    snprintf(dir, sizeof dir, "%s.d", path);
    CHECK_EQ(mkdir(dir, 0700), 0);
    CHECK(CreateFileA(dir, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL) ==
          INVALID_HANDLE_VALUE);
    CHECK_ERR(ERROR_ACCESS_DENIED);
    CHECK(CreateFileA(dir, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL) ==
          INVALID_HANDLE_VALUE);
    CHECK_ERR(ERROR_ACCESS_DENIED);
    h = CreateFileA(dir, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK(CloseHandle(h));
    CHECK_EQ(rmdir(dir), 0);

    unlink(path);
    CHECK(CloseHandle(port));
    printf("files: ok\n");
    return 0;
}
