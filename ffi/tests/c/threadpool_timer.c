/* Thread-pool timers: relative (negative) and absolute FILETIME due times,
 * a zero due time firing at once, periods, re-setting, NULL cancelling,
 * SetThreadpoolTimerEx's result, IsThreadpoolTimerSet, waiting for and
 * cancelling callbacks, closing a running periodic timer. */
#include <windows.h>
#include "check.h"
#include "tp_timing.h"

static volatile LONG fired;
static volatile LONGLONG fired_at;
static PTP_TIMER seen_timer;

static VOID CALLBACK timer_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PTP_TIMER timer) {
    (void)inst;
    CHECK(ctx == (PVOID)&fired);
    seen_timer = timer;
    fired_at = now_ms();
    InterlockedIncrement(&fired);
}

static FILETIME absolute_in_ms(LONGLONG ms) {
    FILETIME now;
    GetSystemTimeAsFileTime(&now);
    ULARGE_INTEGER u;
    u.LowPart = now.dwLowDateTime;
    u.HighPart = now.dwHighDateTime;
    u.QuadPart += (ULONGLONG)ms * 10000;
    FILETIME ft;
    ft.dwLowDateTime = u.LowPart;
    ft.dwHighDateTime = u.HighPart;
    return ft;
}

static void test_one_shot(void) {
    PTP_TIMER t = CreateThreadpoolTimer(timer_cb, (PVOID)&fired, NULL);
    CHECK(t != NULL);
    CHECK(!IsThreadpoolTimerSet(t));

    /* Relative: 80 ms from now. */
    FILETIME due = relative_ms(80);
    long long t0 = now_ms();
    SetThreadpoolTimer(t, &due, 0, 0);
    CHECK(IsThreadpoolTimerSet(t));
    wait_count(&fired, 1, 3000);
    CHECK_EQ(fired, 1);
    CHECK(fired_at - t0 >= 75);
    CHECK(seen_timer == t);
    Sleep(100);
    CHECK_EQ(fired, 1); /* one-shot */

    /* Absolute: a FILETIME 80 ms ahead of the system time. */
    due = absolute_in_ms(80);
    t0 = now_ms();
    SetThreadpoolTimer(t, &due, 0, 0);
    wait_count(&fired, 2, 3000);
    CHECK_EQ(fired, 2);
    CHECK(fired_at - t0 >= 70);

    /* An absolute time in the past, and a zero due time: at once. */
    due = absolute_in_ms(-5000);
    t0 = now_ms();
    SetThreadpoolTimer(t, &due, 0, 0);
    wait_count(&fired, 3, 3000);
    CHECK_EQ(fired, 3);
    CHECK(fired_at - t0 < 1000);
    due.dwLowDateTime = 0;
    due.dwHighDateTime = 0;
    SetThreadpoolTimer(t, &due, 0, 0);
    wait_count(&fired, 4, 3000);
    CHECK_EQ(fired, 4);

    /* NULL cancels: a timer set for 100 ms never fires. */
    due = relative_ms(100);
    SetThreadpoolTimer(t, &due, 0, 0);
    SetThreadpoolTimer(t, NULL, 0, 0);
    CHECK(!IsThreadpoolTimerSet(t));
    Sleep(200);
    CHECK_EQ(fired, 4);

    /* SetThreadpoolTimerEx: TRUE when it replaced a pending due time. */
    due = relative_ms(10000);
    CHECK(!SetThreadpoolTimerEx(t, &due, 0, 0));
    CHECK(SetThreadpoolTimerEx(t, NULL, 0, 0));
    CHECK(!SetThreadpoolTimerEx(t, NULL, 0, 0));

    /* Re-setting moves the due time: 10 s, then 50 ms. */
    due = relative_ms(10000);
    SetThreadpoolTimer(t, &due, 0, 0);
    due = relative_ms(50);
    SetThreadpoolTimer(t, &due, 0, 0);
    wait_count(&fired, 5, 3000);
    CHECK_EQ(fired, 5);
    WaitForThreadpoolTimerCallbacks(t, FALSE);
    CloseThreadpoolTimer(t);
}

static void test_periodic(void) {
    fired = 0;
    PTP_TIMER t = CreateThreadpoolTimer(timer_cb, (PVOID)&fired, NULL);
    FILETIME due = relative_ms(10);
    long long t0 = now_ms();
    SetThreadpoolTimer(t, &due, 30, 10);
    wait_count(&fired, 5, 5000);
    CHECK(fired >= 5);
    /* 10 + 4 * 30 ms at least. */
    CHECK(now_ms() - t0 >= 125);
    SetThreadpoolTimer(t, NULL, 0, 0);
    WaitForThreadpoolTimerCallbacks(t, TRUE);
    LONG n = fired;
    Sleep(100);
    CHECK_EQ(fired, n);
    /* Closing a running periodic timer stops it. */
    SetThreadpoolTimer(t, &due, 20, 0);
    wait_count(&fired, n + 2, 3000);
    WaitForThreadpoolTimerCallbacks(t, TRUE);
    CloseThreadpoolTimer(t);
    n = fired;
    Sleep(100);
    CHECK_EQ(fired, n);
}

static volatile LONG slow_runs;

static VOID CALLBACK slow_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PTP_TIMER timer) {
    (void)inst;
    (void)ctx;
    (void)timer;
    Sleep(100);
    InterlockedIncrement(&slow_runs);
}

/* WaitFor…(FALSE) waits for a running callback. */
static void test_wait_running(void) {
    PTP_TIMER t = CreateThreadpoolTimer(slow_cb, NULL, NULL);
    FILETIME due = relative_ms(0);
    SetThreadpoolTimer(t, &due, 0, 0);
    while (!IsThreadpoolTimerSet(t)) Sleep(1);
    Sleep(20);
    WaitForThreadpoolTimerCallbacks(t, FALSE);
    CHECK_EQ(slow_runs, 1);
    CloseThreadpoolTimer(t);
}

/* A timer in a private pool with a cleanup group: closing the members stops it. */
static void test_group(void) {
    PTP_POOL pool = CreateThreadpool(NULL);
    PTP_CLEANUP_GROUP group = CreateThreadpoolCleanupGroup();
    TP_CALLBACK_ENVIRON env;
    InitializeThreadpoolEnvironment(&env);
    SetThreadpoolCallbackPool(&env, pool);
    SetThreadpoolCallbackCleanupGroup(&env, group, NULL);
    fired = 0;
    PTP_TIMER t = CreateThreadpoolTimer(timer_cb, (PVOID)&fired, &env);
    FILETIME due = relative_ms(5);
    SetThreadpoolTimer(t, &due, 10, 0);
    wait_count(&fired, 3, 3000);
    CloseThreadpoolCleanupGroupMembers(group, FALSE, NULL);
    LONG n = fired;
    Sleep(80);
    CHECK_EQ(fired, n);
    CloseThreadpoolCleanupGroup(group);
    DestroyThreadpoolEnvironment(&env);
    CloseThreadpool(pool);
}

int main(void) {
    test_one_shot();
    test_periodic();
    test_wait_running();
    test_group();
    printf("threadpool_timer: ok\n");
    return 0;
}
