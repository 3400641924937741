/* File information: GetFileSize / GetFileSizeEx (also past 4 GiB, and the
 * low part 0xFFFFFFFF with last error 0), SetEndOfFile at the file pointer
 * (shorter and longer), FlushFileBuffers, the access they need, GetFileType
 * for files, devices, sockets and non-files, and bad handles; on synchronous
 * and overlapped handles. */
#include <winsock2.h>
#include <windows.h>
#include <unistd.h>
#include "check.h"

static char path[256];

static ULONGLONG size_of(HANDLE h) {
    LARGE_INTEGER li;
    li.QuadPart = -1;
    CHECK(GetFileSizeEx(h, &li));
    DWORD high = 0xDEAD;
    DWORD low = GetFileSize(h, &high);
    CHECK_EQ(((ULONGLONG)high << 32) | low, (ULONGLONG)li.QuadPart);
    return (ULONGLONG)li.QuadPart;
}

static void test_sizes(void) {
    snprintf(path, sizeof path, "/tmp/cport-fileinfo-%d.bin", (int)getpid());
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK_EQ(size_of(h), 0);
    DWORD high = 7;
    CHECK_EQ(GetFileSize(h, &high), 0);
    CHECK_EQ(high, 0);
    CHECK_EQ(GetFileSize(h, NULL), 0);
    static char buf[5000];
    memset(buf, 'x', sizeof buf);
    DWORD n = 0;
    CHECK(WriteFile(h, buf, sizeof buf, &n, NULL));
    CHECK_EQ(size_of(h), 5000);
    /* SetEndOfFile cuts at the file pointer... */
    CHECK_EQ(SetFilePointer(h, 1000, NULL, FILE_BEGIN), 1000);
    CHECK(SetEndOfFile(h));
    CHECK_EQ(size_of(h), 1000);
    CHECK_EQ(SetFilePointer(h, 0, NULL, FILE_CURRENT), 1000); /* the pointer stays */
    /* ...and extends with zeros. */
    CHECK_EQ(SetFilePointer(h, 3000, NULL, FILE_BEGIN), 3000);
    CHECK(SetEndOfFile(h));
    CHECK_EQ(size_of(h), 3000);
    CHECK_EQ(SetFilePointer(h, 2000, NULL, FILE_BEGIN), 2000);
    char c = 1;
    CHECK(ReadFile(h, &c, 1, &n, NULL));
    CHECK_EQ(n, 1);
    CHECK_EQ(c, 0);
    /* Past 4 GiB (sparse): the high part. */
    LARGE_INTEGER at;
    at.QuadPart = 0x180000000LL; /* 6 GiB */
    CHECK(SetFilePointerEx(h, at, NULL, FILE_BEGIN));
    CHECK(SetEndOfFile(h));
    CHECK_EQ(size_of(h), 0x180000000ULL);
    CHECK_EQ(GetFileSize(h, &high), 0x80000000u);
    CHECK_EQ(high, 1);
    /* A low part of 0xFFFFFFFF: INVALID_FILE_SIZE with last error 0. */
    at.QuadPart = 0x1FFFFFFFFLL;
    CHECK(SetFilePointerEx(h, at, NULL, FILE_BEGIN));
    CHECK(SetEndOfFile(h));
    SetLastError(1234);
    CHECK_EQ(GetFileSize(h, &high), INVALID_FILE_SIZE);
    CHECK_ERR(NO_ERROR);
    CHECK_EQ(high, 1);
    CHECK(FlushFileBuffers(h));
    CHECK_EQ(GetFileType(h), FILE_TYPE_DISK);
    CHECK(!GetFileSizeEx(h, NULL));
    CHECK_ERR(ERROR_NOACCESS);
    CHECK(CloseHandle(h));
    /* Closed: bad handle. */
    CHECK_EQ(GetFileSize(h, NULL), INVALID_FILE_SIZE);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!SetEndOfFile(h));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!FlushFileBuffers(h));
    CHECK_ERR(ERROR_INVALID_HANDLE);

    /* Read-only: SetEndOfFile and FlushFileBuffers need write access. */
    h = CreateFileA(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK_EQ(size_of(h), 0x1FFFFFFFFULL);
    CHECK(!SetEndOfFile(h));
    CHECK_ERR(ERROR_ACCESS_DENIED);
    CHECK(!FlushFileBuffers(h));
    CHECK_ERR(ERROR_ACCESS_DENIED);
    CHECK_EQ(size_of(h), 0x1FFFFFFFFULL);
    CHECK(CloseHandle(h));

    /* Overlapped handles too. */
    h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                    FILE_FLAG_OVERLAPPED, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK_EQ(size_of(h), 0x1FFFFFFFFULL);
    CHECK(SetEndOfFile(h)); /* at the pointer: 0 */
    CHECK_EQ(size_of(h), 0);
    CHECK(FlushFileBuffers(h));
    CHECK_EQ(GetFileType(h), FILE_TYPE_DISK);
    CHECK(CloseHandle(h));
    CHECK_EQ(unlink(path), 0);
}

static void test_types(void) {
    HANDLE h = CreateFileA("/dev/null", GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK_EQ(GetFileType(h), FILE_TYPE_CHAR);
    CHECK(CloseHandle(h));
    h = CreateFileA("/tmp", GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK_EQ(GetFileType(h), FILE_TYPE_DISK);
    CHECK(CloseHandle(h));
    WSADATA wsa;
    CHECK_EQ(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
    SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    CHECK(s != INVALID_SOCKET);
    CHECK_EQ(GetFileType((HANDLE)s), FILE_TYPE_PIPE); /* sockets are pipes, as on Windows */
    CHECK_EQ(GetFileSize((HANDLE)s, NULL), INVALID_FILE_SIZE);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK_EQ(closesocket(s), 0);
    WSACleanup();
    /* Not files. */
    HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    CHECK_EQ(GetFileType(ev), FILE_TYPE_UNKNOWN);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK_EQ(GetFileSize(ev, NULL), INVALID_FILE_SIZE);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(ev));
    CHECK_EQ(GetFileType(NULL), FILE_TYPE_UNKNOWN);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK_EQ(GetFileType(INVALID_HANDLE_VALUE), FILE_TYPE_UNKNOWN);
    CHECK_ERR(ERROR_INVALID_HANDLE);
}

int main(void) {
    test_sizes();
    test_types();
    printf("fileinfo: ok\n");
    return 0;
}
