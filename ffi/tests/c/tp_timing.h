/* Shared by the thread-pool timer and wait tests: a relative due time as a
 * FILETIME, and polling a callback counter with a bound. */
#ifndef CPORT_TEST_TP_TIMING_H
#define CPORT_TEST_TP_TIMING_H
#include <windows.h>

/* A due time `ms` milliseconds from now (negative: relative, 100 ns units). */
static inline FILETIME relative_ms(LONGLONG ms) {
    ULARGE_INTEGER u;
    u.QuadPart = (ULONGLONG)(-ms * 10000);
    FILETIME ft;
    ft.dwLowDateTime = u.LowPart;
    ft.dwHighDateTime = u.HighPart;
    return ft;
}

/* Until `*count` reaches `n`, or about `ms` milliseconds have passed; the
 * caller checks the count. */
static inline void wait_count(volatile LONG *count, LONG n, int ms) {
    for (int i = 0; i < ms && *count < n; i++) Sleep(1);
}

#endif
