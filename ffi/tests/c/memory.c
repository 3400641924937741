/* Memory and system messages: VirtualAlloc/VirtualFree (64 KiB aligned,
 * zeroed, reserve then commit, decommit, release with size 0, refused
 * arguments), a VirtualAlloc buffer with FILE_FLAG_NO_BUFFERING,
 * FormatMessageA/W with system messages (allocated and caller buffers,
 * MAKELANGID, unknown numbers, languages, inserts), LocalAlloc/LocalFree,
 * GetSystemTimeAsFileTime, SwitchToThread and MessageBoxA (stderr, IDOK). */
#include <winsock2.h>
#include <windows.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static void test_virtual(void) {
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    unsigned char *p = (unsigned char *)VirtualAlloc(NULL, 100000, MEM_COMMIT | MEM_RESERVE,
                                                     PAGE_READWRITE);
    CHECK(p != NULL);
    CHECK_EQ((ULONG_PTR)p % si.dwAllocationGranularity, 0);
    for (int i = 0; i < 100000; i++) CHECK_EQ(p[i], 0);
    memset(p, 0xCD, 100000);
    CHECK(!VirtualFree(p, 100, MEM_RELEASE)); /* size must be 0 */
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!VirtualFree(p + 4096, 0, MEM_RELEASE)); /* not the base */
    CHECK_ERR(ERROR_INVALID_ADDRESS);
    CHECK_EQ(p[4096], 0xCD); /* nothing was unmapped */
    CHECK(VirtualFree(p, 0, MEM_RELEASE));
    CHECK(!VirtualFree(p, 0, MEM_RELEASE));
    CHECK_ERR(ERROR_INVALID_ADDRESS);
    CHECK(!VirtualFree(p, 0, 0));
    CHECK_ERR(ERROR_INVALID_PARAMETER);

    /* MEM_COMMIT alone at NULL reserves too. */
    p = (unsigned char *)VirtualAlloc(NULL, 4096, MEM_COMMIT, PAGE_READWRITE);
    CHECK(p != NULL);
    p[4095] = 1;
    CHECK(VirtualFree(p, 0, MEM_RELEASE));

    /* Reserve, then commit a part; decommit; commit again (zeroed). */
    unsigned char *r = (unsigned char *)VirtualAlloc(NULL, 1 << 20, MEM_RESERVE, PAGE_NOACCESS);
    CHECK(r != NULL);
    unsigned char *c = (unsigned char *)VirtualAlloc(r + 8192 + 10, 100, MEM_COMMIT, PAGE_READWRITE);
    CHECK(c == r + 8192); /* rounded down to its page */
    c[0] = 42;
    c[4095] = 43;
    CHECK(VirtualAlloc(r + (1 << 20), 4096, MEM_COMMIT, PAGE_READWRITE) == NULL); /* outside */
    CHECK_ERR(ERROR_INVALID_ADDRESS);
    CHECK(VirtualAlloc(r + (1 << 20) - 4096, 8192, MEM_COMMIT, PAGE_READWRITE) == NULL);
    CHECK_ERR(ERROR_INVALID_ADDRESS);
    CHECK(VirtualAlloc(c, 4096, MEM_COMMIT, PAGE_READWRITE) == c); /* again: contents kept */
    CHECK_EQ(c[0], 42);
    CHECK(VirtualFree(c, 4096, MEM_DECOMMIT));
    CHECK(VirtualAlloc(c, 4096, MEM_COMMIT, PAGE_READONLY) == c);
    CHECK_EQ(c[0], 0);
    CHECK(VirtualFree(r, 0, MEM_DECOMMIT)); /* the whole reservation */
    CHECK(VirtualFree(r, 0, MEM_RELEASE));

    /* Refused arguments. */
    CHECK(VirtualAlloc(NULL, 0, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(VirtualAlloc(NULL, 4096, 0, PAGE_READWRITE) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(VirtualAlloc(NULL, 4096, MEM_COMMIT | MEM_RESERVE, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(VirtualAlloc(NULL, 4096, MEM_COMMIT | 0x10, PAGE_READWRITE) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(VirtualAlloc((LPVOID)0x10000, 4096, MEM_COMMIT, PAGE_READWRITE) == NULL); /* not reserved */
    CHECK_ERR(ERROR_INVALID_ADDRESS);
}

static void test_unbuffered_io(void) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/cport-memory-%d.bin", (int)getpid());
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                           FILE_FLAG_NO_BUFFERING | FILE_FLAG_DELETE_ON_CLOSE, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    unsigned char *buf = (unsigned char *)VirtualAlloc(NULL, 8192, MEM_COMMIT | MEM_RESERVE,
                                                       PAGE_READWRITE);
    CHECK(buf != NULL);
    for (int i = 0; i < 4096; i++) buf[i] = (unsigned char)i;
    DWORD n = 0;
    CHECK(WriteFile(h, buf, 4096, &n, NULL));
    CHECK_EQ(n, 4096);
    CHECK_EQ(SetFilePointer(h, 0, NULL, FILE_BEGIN), 0);
    CHECK(ReadFile(h, buf + 4096, 4096, &n, NULL));
    CHECK_EQ(n, 4096);
    CHECK_EQ(memcmp(buf, buf + 4096, 4096), 0);
    CHECK(CloseHandle(h));
    CHECK(VirtualFree(buf, 0, MEM_RELEASE));
}

static void check_message(DWORD id, const char *want) {
    LPSTR msg = NULL;
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_ALLOCATE_BUFFER |
                                 FORMAT_MESSAGE_IGNORE_INSERTS,
                             NULL, id, MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT), (LPSTR)&msg, 0,
                             NULL);
    if (n == 0 || strcmp(msg, want) != 0)
        fprintf(stderr, "message %lu: got \"%s\", want \"%s\"\n", (unsigned long)id,
                msg ? msg : "(null)", want);
    CHECK_EQ(n, strlen(want));
    CHECK_EQ(strcmp(msg, want), 0);
    CHECK(LocalFree(msg) == NULL);
}

/* FormatMessage's own va_list form, as logging helpers use it. */
static DWORD format_v(char *buf, DWORD size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_STRING, fmt, 0, 0, buf, size, &ap);
    va_end(ap);
    return n;
}

static void test_format_va_list(void) {
    char buf[256];
    /* More arguments than argument registers: some come from the stack. */
    CHECK_EQ(format_v(buf, sizeof buf, "%1-%2!d!-%3!u!-%4!x!-%5-%6!d!-%7-%8!X!%0", "a", -2, 3u, 255u,
                      "e", 6, "g", 0xABCu),
             19);
    CHECK_EQ(strcmp(buf, "a--2-3-ff-e-6-g-ABC"), 0);
    /* Inserts out of order and repeated: by number, not by position. */
    CHECK_EQ(format_v(buf, sizeof buf, "%2 %1 %2%0", "one", "two"), 11);
    CHECK_EQ(strcmp(buf, "two one two"), 0);
    /* No inserts: the va_list is not touched. */
    CHECK_EQ(format_v(buf, sizeof buf, "plain 100%% %.%0"), 12);
    CHECK_EQ(strcmp(buf, "plain 100% ."), 0);
    /* Inserts with no arguments at all: refused. */
    CHECK_EQ(FormatMessageA(FORMAT_MESSAGE_FROM_STRING, "%1", 0, 0, buf, sizeof buf, NULL), 0);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
}

static void test_format_message(void) {
    check_message(ERROR_TIMEOUT, "This operation returned because the timeout period expired.\r\n");
    check_message(ERROR_INVALID_PARAMETER, "The parameter is incorrect.\r\n");
    check_message(ERROR_INVALID_HANDLE, "The handle is invalid.\r\n");
    check_message(ERROR_OPERATION_ABORTED,
                  "The I/O operation has been aborted because of either a thread exit or an "
                  "application request.\r\n");
    check_message(ERROR_IO_PENDING, "Overlapped I/O operation is in progress.\r\n");
    check_message(ERROR_NETNAME_DELETED, "The specified network name is no longer available.\r\n");
    check_message(ERROR_TOO_MANY_POSTS, "Too many posts were made to a semaphore.\r\n");
    check_message(ERROR_NOT_OWNER, "Attempt to release mutex not owned by caller.\r\n");
    check_message(WSAECONNRESET, "An existing connection was forcibly closed by the remote host.\r\n");
    check_message(WSAEWOULDBLOCK,
                  "A non-blocking socket operation could not be completed immediately.\r\n");
    check_message(0, "The operation completed successfully.\r\n");

    /* Every error number cport sets has a text. */
    static const DWORD ours[] = {
        1, 2, 3, 4, 5, 6, 8, 19, 31, 32, 38, 50, 64, 80, 87, 109, 112, 121, 122, 131, 183, 206,
        234, 258, 259, 288, 298, 487, 735, 995, 996, 997, 998, 1117, 1168, 1225, 1229, 1231,
        1232, 1234, 1236, 1359, 1460, 1815, 10004, 10009, 10013, 10014, 10022, 10024, 10035, 10036,
        10037, 10038, 10039, 10040, 10041, 10042, 10043, 10044, 10045, 10046, 10047, 10048,
        10049, 10050, 10051, 10052, 10053, 10054, 10055, 10056, 10057, 10058, 10059, 10060,
        10061, 10062, 10063, 10064, 10065, 10091, 10092, 10093, 10101, 11001, 11002, 11003, 11004};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        char buf[512];
        DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                                 ours[i], 0, buf, sizeof buf, NULL);
        if (n == 0) fprintf(stderr, "no message for %lu\n", (unsigned long)ours[i]);
        CHECK(n > 2);
        CHECK_EQ(strcmp(buf + n - 2, "\r\n"), 0);
    }

    /* A caller buffer: too small, then enough. */
    char small[8];
    CHECK_EQ(FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, 87,
                            0, small, sizeof small, NULL),
             0);
    CHECK_ERR(ERROR_INSUFFICIENT_BUFFER);
    char big[64];
    CHECK_EQ(FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, 87,
                            MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), big, sizeof big, NULL),
             29);
    CHECK_EQ(strcmp(big, "The parameter is incorrect.\r\n"), 0);
    /* FORMAT_MESSAGE_MAX_WIDTH_MASK: the text's line breaks become spaces. */
    CHECK_EQ(FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS |
                                FORMAT_MESSAGE_MAX_WIDTH_MASK,
                            NULL, 87, 0, big, sizeof big, NULL),
             28);
    CHECK_EQ(strcmp(big, "The parameter is incorrect. "), 0);
    /* Unknown number, unknown language. */
    CHECK_EQ(FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                            0x1234567, 0, big, sizeof big, NULL),
             0);
    CHECK_ERR(ERROR_MR_MID_NOT_FOUND);
    CHECK_EQ(FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, 87,
                            MAKELANGID(0x07, SUBLANG_DEFAULT), big, sizeof big, NULL),
             0);
    CHECK_ERR(ERROR_RESOURCE_LANG_NOT_FOUND);
    /* From a string, with an argument array; IGNORE_INSERTS keeps them. */
    DWORD_PTR args[] = {(DWORD_PTR) "disk", 42};
    CHECK_EQ(FormatMessageA(FORMAT_MESSAGE_FROM_STRING | FORMAT_MESSAGE_ARGUMENT_ARRAY,
                            "%1 has %2!d! bad sectors%n%0ignored", 0, 0, big, sizeof big,
                            (va_list *)args),
             25);
    CHECK_EQ(strcmp(big, "disk has 42 bad sectors\r\n"), 0);
    CHECK_EQ(FormatMessageA(FORMAT_MESSAGE_FROM_STRING | FORMAT_MESSAGE_IGNORE_INSERTS,
                            "%1 and %2!d! 100%%", 0, 0, big, sizeof big, NULL),
             17);
    CHECK_EQ(strcmp(big, "%1 and %2!d! 100%"), 0);
    /* Wide. */
    LPWSTR wmsg = NULL;
    DWORD wn = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_ALLOCATE_BUFFER |
                                  FORMAT_MESSAGE_IGNORE_INSERTS,
                              NULL, ERROR_TIMEOUT, 0, (LPWSTR)&wmsg, 0, NULL);
    CHECK_EQ(wn, 61);
    CHECK_EQ(wcscmp(wmsg, L"This operation returned because the timeout period expired.\r\n"), 0);
    CHECK(LocalFree(wmsg) == NULL);
}

static void test_local(void) {
    unsigned char *p = (unsigned char *)LocalAlloc(LPTR, 64);
    CHECK(p != NULL);
    for (int i = 0; i < 64; i++) CHECK_EQ(p[i], 0);
    CHECK(LocalFree(p) == NULL);
    CHECK(LocalFree(NULL) == NULL);
    char local[32];
    CHECK(LocalFree(local + 16) == (HLOCAL)(local + 16)); /* not a block: returned */
    CHECK_ERR(ERROR_INVALID_HANDLE);
    p = (unsigned char *)LocalAlloc(LMEM_FIXED, 10);
    CHECK(p != NULL);
    CHECK(LocalFree(p) == NULL);
    CHECK(LocalFree(p) == (HLOCAL)p); /* twice */
    CHECK(LocalAlloc(0x2 /* LMEM_MOVEABLE */, 10) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
}

static void test_time_and_yield(void) {
    FILETIME ft;
    GetSystemTimeAsFileTime(&ft);
    ULARGE_INTEGER u;
    u.LowPart = ft.dwLowDateTime;
    u.HighPart = ft.dwHighDateTime;
    long long unix_s = (long long)(u.QuadPart / 10000000ULL) - 11644473600LL;
    long long now = (long long)time(NULL);
    CHECK(unix_s >= now - 2 && unix_s <= now + 2);
    FILETIME later;
    Sleep(20);
    GetSystemTimeAsFileTime(&later);
    ULARGE_INTEGER v;
    v.LowPart = later.dwLowDateTime;
    v.HighPart = later.dwHighDateTime;
    CHECK(v.QuadPart > u.QuadPart);
    CHECK(SwitchToThread());
}

int main(void) {
    test_virtual();
    test_unbuffered_io();
    test_format_message();
    test_format_va_list();
    test_local();
    test_time_and_yield();
    CHECK_EQ(MessageBoxA(NULL, "disk full", "cport test", MB_OK | MB_ICONERROR), IDOK);
    CHECK_EQ(MessageBoxW(NULL, L"wide text", NULL, MB_OK), IDOK);
    printf("memory: ok\n");
    return 0;
}
