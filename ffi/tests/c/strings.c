/* What the classic samples use around the I/O: strsafe.h (truncation,
 * NUL-termination, invalid parameters, the Ex flags), lstr*, GetVersionEx,
 * GetStdHandle + WriteFile/WriteConsoleA on a redirected stdout (the Rust
 * test reads what arrives), tchar.h's _tmain, the memory/min/max/MAKEWORD
 * macros, the clocks, getnameinfo. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <strsafe.h>
#include <tchar.h>
#include "check.h"

#define HR_EQ(a, b) CHECK_EQ((unsigned long)(a), (unsigned long)(b))

static void test_strsafe(void) {
    char buf[8];
    /* Fits. */
    HR_EQ(StringCchCopyA(buf, sizeof buf, "abc"), S_OK);
    CHECK(strcmp(buf, "abc") == 0);
    /* Exactly fills (7 + NUL). */
    HR_EQ(StringCchCopyA(buf, sizeof buf, "1234567"), S_OK);
    CHECK(strcmp(buf, "1234567") == 0);
    /* Truncated, NUL-terminated. */
    memset(buf, 'x', sizeof buf);
    HR_EQ(StringCchCopyA(buf, sizeof buf, "123456789"), STRSAFE_E_INSUFFICIENT_BUFFER);
    CHECK(strcmp(buf, "1234567") == 0);
    /* Invalid sizes: 0 leaves the buffer alone, > STRSAFE_MAX_CCH empties it. */
    memset(buf, 'x', sizeof buf);
    HR_EQ(StringCchCopyA(buf, 0, "a"), STRSAFE_E_INVALID_PARAMETER);
    CHECK_EQ(buf[0], 'x');
    HR_EQ(StringCchCopyA(buf, (size_t)STRSAFE_MAX_CCH + 1, "a"), STRSAFE_E_INVALID_PARAMETER);
    CHECK_EQ(buf[0], '\0');
    /* N forms: at most n characters (the classic samples' StringCbCopyN). */
    HR_EQ(StringCbCopyNA(buf, sizeof buf, "abcdef", 3), S_OK);
    CHECK(strcmp(buf, "abc") == 0);
    HR_EQ(StringCchCopyNA(buf, sizeof buf, "abcdefghij", 10), STRSAFE_E_INSUFFICIENT_BUFFER);
    CHECK(strcmp(buf, "abcdefg") == 0);
    HR_EQ(StringCbCopyNA(buf, 4, "ab", 100), S_OK);
    CHECK(strcmp(buf, "ab") == 0);
    /* Cat. */
    HR_EQ(StringCchCopyA(buf, sizeof buf, "ab"), S_OK);
    HR_EQ(StringCchCatA(buf, sizeof buf, "cd"), S_OK);
    CHECK(strcmp(buf, "abcd") == 0);
    HR_EQ(StringCbCatA(buf, sizeof buf, "efghij"), STRSAFE_E_INSUFFICIENT_BUFFER);
    CHECK(strcmp(buf, "abcdefg") == 0);
    char unterminated[4] = {'a', 'b', 'c', 'd'};
    HR_EQ(StringCchCatA(unterminated, 4, "x"), STRSAFE_E_INVALID_PARAMETER);
    HR_EQ(StringCchCatNA(buf, sizeof buf, "zz", 0), S_OK); /* nothing to append */
    HR_EQ(StringCchCatNA(buf, sizeof buf, "zz", 2), STRSAFE_E_INSUFFICIENT_BUFFER); /* full */
    CHECK(strcmp(buf, "abcdefg") == 0);
    /* Length. */
    size_t n = 99;
    HR_EQ(StringCchLengthA("hello", 10, &n), S_OK);
    CHECK_EQ(n, 5);
    HR_EQ(StringCchLengthA("hello", 5, &n), STRSAFE_E_INVALID_PARAMETER); /* no NUL within 5 */
    CHECK_EQ(n, 0);
    HR_EQ(StringCbLengthA(NULL, 5, &n), STRSAFE_E_INVALID_PARAMETER);
    /* Printf: truncation, exact fit, the sample's StringCchVPrintf. */
    HR_EQ(StringCchPrintfA(buf, sizeof buf, "%d-%s", 42, "xy"), S_OK);
    CHECK(strcmp(buf, "42-xy") == 0);
    HR_EQ(StringCchPrintfA(buf, sizeof buf, "%s", "0123456"), S_OK);
    HR_EQ(StringCbPrintfA(buf, sizeof buf, "%s", "0123456789"), STRSAFE_E_INSUFFICIENT_BUFFER);
    CHECK(strcmp(buf, "0123456") == 0);
    HR_EQ(StringCchPrintfA(buf, 0, "x"), STRSAFE_E_INVALID_PARAMETER);
    HR_EQ(StringCchPrintfA(buf, sizeof buf, NULL), STRSAFE_E_INVALID_PARAMETER);
    CHECK_EQ(buf[0], '\0');
    /* Ex: the end pointer and what is left; the flags. */
    char big[16];
    char *end = NULL;
    size_t left = 0;
    HR_EQ(StringCchCopyExA(big, sizeof big, "abc", &end, &left, 0), S_OK);
    CHECK(end == big + 3);
    CHECK_EQ(left, 13);
    HR_EQ(StringCchCatExA(big, sizeof big, "de", &end, &left, 0), S_OK);
    CHECK(end == big + 5 && left == 11);
    HR_EQ(StringCchPrintfExA(big, sizeof big, &end, &left, STRSAFE_FILL_BEHIND_NULL | 'z', "%s", "ab"),
          S_OK);
    CHECK(strcmp(big, "ab") == 0 && big[3] == 'z' && big[15] == 'z');
    HR_EQ(StringCchCopyExA(big, sizeof big, NULL, &end, &left, STRSAFE_IGNORE_NULLS), S_OK);
    CHECK(big[0] == '\0' && end == big && left == 16);
    HR_EQ(StringCchCopyExA(big, 4, "abcdef", &end, &left, STRSAFE_NO_TRUNCATION),
          STRSAFE_E_INSUFFICIENT_BUFFER);
    CHECK_EQ(big[0], '\0');
    HR_EQ(StringCchCopyExA(big, 4, "abcdef", &end, &left, 0), STRSAFE_E_INSUFFICIENT_BUFFER);
    CHECK(strcmp(big, "abc") == 0 && end == big + 3 && left == 1);
    HR_EQ(StringCchCopyExA(big, 4, "abcdef", NULL, NULL, STRSAFE_FAILURE_BYTE('q')),
          STRSAFE_E_INSUFFICIENT_BUFFER);
    CHECK(big[0] == 'q' && big[2] == 'q' && big[3] == '\0');
    HR_EQ(StringCchCopyExA(big, sizeof big, "a", NULL, NULL, 0x10000), STRSAFE_E_INVALID_PARAMETER);
    /* W forms with this ABI's wchar_t. */
    wchar_t w[4];
    HR_EQ(StringCchCopyW(w, 4, L"abcdef"), STRSAFE_E_INSUFFICIENT_BUFFER);
    CHECK(wcscmp(w, L"abc") == 0);
    HR_EQ(StringCchLengthW(L"ab", 4, &n), S_OK);
    CHECK_EQ(n, 2);
    CHECK(SUCCEEDED(S_OK) && FAILED(STRSAFE_E_INSUFFICIENT_BUFFER));
}

/* The samples' myprintf: StringCchVPrintf into a buffer, WriteConsole it. */
static int myprintf(const char *fmt, ...) {
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    HRESULT hr = StringCchVPrintf(b, 512, fmt, ap);
    va_end(ap);
    CHECK(SUCCEEDED(hr));
    DWORD n = 0;
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    CHECK(out != INVALID_HANDLE_VALUE && out != NULL);
    CHECK(WriteConsole(out, b, lstrlen(b), &n, NULL));
    CHECK_EQ(n, (DWORD)lstrlen(b));
    return (int)n;
}

static void test_lstr(void) {
    char a[16];
    CHECK_EQ(lstrlenA("hello"), 5);
    CHECK_EQ(lstrlenA(NULL), 0);
    CHECK(lstrcpyA(a, "abc") == a);
    CHECK(lstrcatA(a, "def") == a);
    CHECK(strcmp(a, "abcdef") == 0);
    CHECK(lstrcpynA(a, "123456", 4) == a);
    CHECK(strcmp(a, "123") == 0);
    CHECK(lstrcpyA(NULL, "x") == NULL);
    CHECK(lstrcatA(a, NULL) == NULL);
    CHECK_EQ(lstrcmpA("abc", "abd"), -1);
    CHECK_EQ(lstrcmpA("abd", "abc"), 1);
    CHECK_EQ(lstrcmpA("abc", "abc"), 0);
    CHECK_EQ(lstrcmpiA("HeLLo", "hello"), 0);
    CHECK_EQ(lstrcmpiA("a", "B"), -1);
    CHECK_EQ(lstrlenW(L"wide"), 4);
    wchar_t w[8];
    CHECK(lstrcpyW(w, L"ab") == w);
    CHECK(lstrcatW(w, L"cd") == w);
    CHECK_EQ(lstrcmpW(w, L"abcd"), 0);
    CHECK_EQ(lstrcmpiW(L"\u00C9T\u00C9", L"\u00E9t\u00E9"), 0);
    CHECK_EQ(lstrlen(_T("tchar")), 5);
}

static void test_version(void) {
    OSVERSIONINFO vi;
    ZeroMemory(&vi, sizeof vi);
    vi.dwOSVersionInfoSize = sizeof vi;
    CHECK(GetVersionEx(&vi));
    CHECK_EQ(vi.dwPlatformId, VER_PLATFORM_WIN32_NT);
    CHECK_EQ(vi.dwMajorVersion, 6);
    CHECK_EQ(vi.dwMinorVersion, 2);
    CHECK_EQ(vi.dwBuildNumber, 9200);
    CHECK_EQ(vi.szCSDVersion[0], '\0');
    OSVERSIONINFOEXA ex;
    FillMemory(&ex, sizeof ex, 0x55);
    ex.dwOSVersionInfoSize = sizeof ex;
    CHECK(GetVersionExA((LPOSVERSIONINFOA)&ex));
    CHECK_EQ(ex.wProductType, VER_NT_WORKSTATION);
    CHECK_EQ(ex.wServicePackMajor, 0);
    vi.dwOSVersionInfoSize = 10;
    CHECK(!GetVersionExA(&vi));
    CHECK_ERR(ERROR_INSUFFICIENT_BUFFER);
    CHECK(!GetVersionExA(NULL));
    DWORD v = GetVersion();
    CHECK_EQ(LOBYTE(LOWORD(v)), 6);
    CHECK_EQ(HIBYTE(LOWORD(v)), 2);
    CHECK_EQ(HIWORD(v), 9200);
}

static void test_std_handles(void) {
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    HANDLE err = GetStdHandle(STD_ERROR_HANDLE);
    CHECK(out != NULL && out != INVALID_HANDLE_VALUE);
    CHECK(err != NULL && err != out);
    CHECK(GetStdHandle(STD_OUTPUT_HANDLE) == out);
    CHECK(GetStdHandle(7) == INVALID_HANDLE_VALUE);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    /* Not overlapped: no completion port for it. */
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    CHECK(CreateIoCompletionPort(out, port, 1, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(CloseHandle(port));
    /* stdout is a pipe here: both writes must arrive, in order. */
    fflush(stdout);
    DWORD n = 0;
    const char a[] = "via WriteFile\n";
    CHECK(WriteFile(out, a, sizeof a - 1, &n, NULL));
    CHECK_EQ(n, sizeof a - 1);
    CHECK_EQ(myprintf("via WriteConsole %d\n", 7), 19);
    CHECK(WriteConsoleA(out, "", 0, &n, NULL));
    CHECK_EQ(n, 0);
    CHECK(WriteConsoleW(out, L"wide \u00E9\n", 7, &n, NULL));
    CHECK_EQ(n, 7);
    CHECK(!WriteConsoleA(NULL, "x", 1, &n, NULL));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    CHECK(!WriteConsoleA(ev, "x", 1, &n, NULL));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(ev));
    /* Closing the stderr handle invalidates it but leaves fd 2 to the C runtime. */
    CHECK(CloseHandle(err));
    CHECK(!WriteFile(err, "x", 1, &n, NULL));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(fprintf(stderr, "stderr still works\n") > 0);
}

static void test_macros_and_clocks(void) {
    CHECK_EQ(MAKEWORD(2, 2), 0x0202);
    CHECK_EQ(LOBYTE(0x1234), 0x34);
    CHECK_EQ(HIBYTE(0x1234), 0x12);
    CHECK_EQ(min(3, 5), 3);
    CHECK_EQ(max(3u, 5u), 5u);
    char b[4] = {1, 2, 3, 4}, c[4];
    SecureZeroMemory(b, 2);
    CHECK(b[0] == 0 && b[1] == 0 && b[2] == 3);
    CopyMemory(c, b, 4);
    CHECK(memcmp(b, c, 4) == 0);
    LARGE_INTEGER f, t0, t1;
    CHECK(QueryPerformanceFrequency(&f));
    CHECK_EQ(f.QuadPart, 10000000);
    CHECK(QueryPerformanceCounter(&t0));
    ULONGLONG k0 = GetTickCount64();
    Sleep(20);
    CHECK(QueryPerformanceCounter(&t1));
    CHECK(t1.QuadPart - t0.QuadPart >= 200000); /* ≥ 20 ms in 100 ns units */
    CHECK(GetTickCount64() - k0 >= 19);
    CHECK(!QueryPerformanceCounter(NULL));
}

static void test_getnameinfo(void) {
    WSADATA d;
    CHECK_EQ(WSAStartup(MAKEWORD(2, 2), &d), 0);
    struct sockaddr_in a;
    ZeroMemory(&a, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(5001);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    CHECK_EQ(getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, serv, sizeof serv,
                         NI_NUMERICHOST | NI_NUMERICSERV), 0);
    CHECK(strcmp(host, "127.0.0.1") == 0);
    CHECK(strcmp(serv, "5001") == 0);
    char tiny[4];
    CHECK(getnameinfo((struct sockaddr *)&a, sizeof a, tiny, sizeof tiny, NULL, 0, NI_NUMERICHOST) != 0);
    CHECK_EQ(getnameinfo(NULL, 0, host, sizeof host, NULL, 0, 0), WSAEFAULT);
    CHECK_ERR(WSAEFAULT);
    CHECK_EQ(WSACleanup(), 0);
}

int _tmain(int argc, _TCHAR **argv) {
    (void)argc;
    (void)argv;
    test_strsafe();
    test_lstr();
    test_version();
    test_macros_and_clocks();
    test_getnameinfo();
    test_std_handles();
    printf("strings: ok\n");
    return 0;
}
