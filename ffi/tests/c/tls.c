/* Thread- and fiber-local storage: per-thread values, NULL in new threads,
 * last error 0 on a successful Get, freed and re-allocated indexes reading
 * NULL everywhere, bad indexes, running out of indexes, and FlsAlloc's
 * callback: at thread exit for non-NULL values (before the thread handle is
 * signalled) and at FlsFree for every thread's value. */
#include <windows.h>
#include "check.h"
#include "slot.h"

static DWORD idx;

static DWORD WINAPI tls_other_thread(LPVOID p) {
    (void)p;
    SetLastError(5);
    if (TlsGetValue(idx) != NULL) return 1; /* a new thread starts with NULL */
    if (GetLastError() != 0) return 2;
    if (!TlsSetValue(idx, (LPVOID)0x2222)) return 3;
    if (TlsGetValue(idx) != (LPVOID)0x2222) return 4;
    return 0;
}

static void test_tls(void) {
    idx = TlsAlloc();
    CHECK(idx != TLS_OUT_OF_INDEXES);
    SetLastError(5);
    CHECK(TlsGetValue(idx) == NULL);
    CHECK_ERR(0); /* success clears the last error */
    CHECK(TlsSetValue(idx, (LPVOID)0x1111));
    CHECK(TlsGetValue(idx) == (LPVOID)0x1111);
    CHECK_EQ(run_on_thread(tls_other_thread, NULL), 0);
    CHECK(TlsGetValue(idx) == (LPVOID)0x1111); /* untouched by the other thread */
    DWORD second = TlsAlloc();
    CHECK(second != idx && second != TLS_OUT_OF_INDEXES);
    CHECK(TlsGetValue(second) == NULL);
    /* Freed: re-allocated, it reads NULL again. */
    CHECK(TlsFree(idx));
    CHECK(!TlsFree(idx));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    DWORD again = TlsAlloc();
    CHECK_EQ(again, idx); /* the lowest free index */
    CHECK(TlsGetValue(again) == NULL);
    CHECK(TlsFree(again));
    CHECK(TlsFree(second));
    /* Bad indexes. */
    CHECK(!TlsSetValue(1088, (LPVOID)1));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(TlsGetValue(TLS_OUT_OF_INDEXES) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!TlsFree(5000));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    /* Running out: at least TLS_MINIMUM_AVAILABLE, then TLS_OUT_OF_INDEXES + 259. */
    static DWORD all[2000];
    int n = 0;
    for (;;) {
        DWORD i = TlsAlloc();
        if (i == TLS_OUT_OF_INDEXES) break;
        CHECK(n < 2000);
        all[n++] = i;
    }
    CHECK_ERR(ERROR_NO_MORE_ITEMS);
    CHECK(n >= TLS_MINIMUM_AVAILABLE);
    CHECK_EQ(n, 1088);
    for (int i = 0; i < n; i++) CHECK(TlsFree(all[i]));
}

/* ---- FLS ---- */

static DWORD fls;
static volatile LONG callbacks;
static PVOID volatile last_value;

static VOID WINAPI fls_callback(PVOID value) {
    InterlockedIncrement(&callbacks);
    InterlockedExchangePointer(&last_value, value);
}

static DWORD WINAPI fls_set_and_exit(LPVOID value) {
    SetLastError(5);
    if (FlsGetValue(fls) != NULL || GetLastError() != 0) return 1;
    if (!FlsSetValue(fls, value)) return 2;
    if (FlsGetValue(fls) != value) return 3;
    return 0;
}

static HANDLE keep_going, value_set;

static DWORD WINAPI fls_set_and_wait(LPVOID value) {
    CHECK(FlsSetValue(fls, value));
    CHECK(SetEvent(value_set));
    CHECK_EQ(WaitForSingleObject(keep_going, 10000), WAIT_OBJECT_0);
    return 0;
}

static void test_fls(void) {
    fls = FlsAlloc(fls_callback);
    CHECK(fls != FLS_OUT_OF_INDEXES);
    /* A thread's non-NULL value: the callback runs when it exits, before
     * its handle is signalled. */
    callbacks = 0;
    CHECK_EQ(run_on_thread(fls_set_and_exit, (LPVOID)0x3333), 0);
    CHECK_EQ(callbacks, 1);
    CHECK(last_value == (PVOID)0x3333);
    /* A NULL value: no callback. */
    CHECK_EQ(run_on_thread(fls_set_and_exit, NULL), 0);
    CHECK_EQ(callbacks, 1);
    /* FlsFree runs the callback for every thread's value: this thread's and
     * a live other thread's; that thread's exit then runs none. */
    CHECK(FlsSetValue(fls, (PVOID)0x4444));
    CHECK(FlsGetValue(fls) == (PVOID)0x4444);
    keep_going = CreateEvent(NULL, TRUE, FALSE, NULL);
    value_set = CreateEvent(NULL, TRUE, FALSE, NULL);
    HANDLE t = CreateThread(NULL, 0, fls_set_and_wait, (LPVOID)0x5555, 0, NULL);
    CHECK_EQ(WaitForSingleObject(value_set, 5000), WAIT_OBJECT_0);
    callbacks = 0;
    CHECK(FlsFree(fls));
    CHECK_EQ(callbacks, 2);
    CHECK(SetEvent(keep_going));
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CHECK_EQ(callbacks, 2);
    CHECK(CloseHandle(t));
    CHECK(CloseHandle(keep_going));
    CHECK(CloseHandle(value_set));
    /* A freed index is refused; re-allocated, it reads NULL. */
    CHECK(!FlsSetValue(fls, (PVOID)1));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(FlsGetValue(fls) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!FlsFree(fls));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    DWORD again = FlsAlloc(NULL);
    CHECK_EQ(again, fls);
    CHECK(FlsGetValue(again) == NULL);
    CHECK(FlsSetValue(again, (PVOID)0x6666)); /* no callback: nothing runs */
    CHECK(FlsFree(again));
    CHECK_EQ(callbacks, 2);
    /* Running out. */
    static DWORD all[5000];
    int n = 0;
    for (;;) {
        DWORD i = FlsAlloc(NULL);
        if (i == FLS_OUT_OF_INDEXES) break;
        CHECK(n < 5000);
        all[n++] = i;
    }
    CHECK_ERR(ERROR_NO_MORE_ITEMS);
    CHECK(n >= 128);
    for (int i = 0; i < n; i++) CHECK(FlsFree(all[i]));
}

int main(void) {
    test_tls();
    test_fls();
    printf("tls: ok\n");
    return 0;
}
