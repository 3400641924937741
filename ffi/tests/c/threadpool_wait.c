/* Thread-pool waits: an event signalled → WAIT_OBJECT_0, a timeout →
 * WAIT_TIMEOUT (relative and zero), no timeout = forever, one callback per
 * set, re-setting and cancelling with NULL, SetThreadpoolWaitEx's result,
 * semaphores (a wait takes a unit), waiting for callbacks, closing. */
#include <windows.h>
#include "check.h"
#include "tp_timing.h"

static volatile LONG fired;
static volatile LONG last_result = -1;
static volatile LONGLONG fired_at;
static PTP_WAIT seen_wait;

static VOID CALLBACK wait_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PTP_WAIT wait, TP_WAIT_RESULT result) {
    (void)inst;
    CHECK(ctx == (PVOID)0x55);
    seen_wait = wait;
    last_result = (LONG)result;
    fired_at = now_ms();
    InterlockedIncrement(&fired);
}

int main(void) {
    HANDLE ev = CreateEventA(NULL, FALSE, FALSE, NULL);
    PTP_WAIT w = CreateThreadpoolWait(wait_cb, (PVOID)0x55, NULL);
    CHECK(w != NULL);

    /* Signalled after 50 ms: WAIT_OBJECT_0, once. */
    SetThreadpoolWait(w, ev, NULL);
    Sleep(50);
    CHECK_EQ(fired, 0);
    SetEvent(ev);
    wait_count(&fired, 1, 3000);
    CHECK_EQ(fired, 1);
    CHECK_EQ(last_result, WAIT_OBJECT_0);
    CHECK(seen_wait == w);
    /* The auto-reset event was consumed by the wait. */
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_TIMEOUT);
    /* Not re-armed: another signal calls nothing. */
    SetEvent(ev);
    Sleep(50);
    CHECK_EQ(fired, 1);
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_OBJECT_0);

    /* A 60 ms timeout: WAIT_TIMEOUT after it. */
    FILETIME to = relative_ms(60);
    long long t0 = now_ms();
    SetThreadpoolWait(w, ev, &to);
    wait_count(&fired, 2, 3000);
    CHECK_EQ(fired, 2);
    CHECK_EQ(last_result, WAIT_TIMEOUT);
    CHECK(fired_at - t0 >= 55);

    /* A zero timeout: at once, WAIT_OBJECT_0 if signalled, else WAIT_TIMEOUT. */
    to.dwLowDateTime = 0;
    to.dwHighDateTime = 0;
    SetThreadpoolWait(w, ev, &to);
    wait_count(&fired, 3, 3000);
    CHECK_EQ(last_result, WAIT_TIMEOUT);
    SetEvent(ev);
    SetThreadpoolWait(w, ev, &to);
    wait_count(&fired, 4, 3000);
    CHECK_EQ(fired, 4);
    CHECK_EQ(last_result, WAIT_OBJECT_0);

    /* NULL cancels a pending wait; SetThreadpoolWaitEx says whether one was pending. */
    SetThreadpoolWait(w, ev, NULL);
    CHECK(SetThreadpoolWaitEx(w, NULL, NULL, NULL));
    CHECK(!SetThreadpoolWaitEx(w, NULL, NULL, NULL));
    SetEvent(ev);
    Sleep(50);
    CHECK_EQ(fired, 4);
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_OBJECT_0);

    /* Re-setting replaces: a 10 s timeout, then 30 ms. */
    to = relative_ms(10000);
    SetThreadpoolWait(w, ev, &to);
    to = relative_ms(30);
    t0 = now_ms();
    SetThreadpoolWait(w, ev, &to);
    wait_count(&fired, 5, 3000);
    CHECK_EQ(fired, 5);
    CHECK_EQ(last_result, WAIT_TIMEOUT);
    CHECK(fired_at - t0 < 5000);

    /* A semaphore: the wait takes one unit. */
    HANDLE sem = CreateSemaphoreA(NULL, 0, 5, NULL);
    SetThreadpoolWait(w, sem, NULL);
    CHECK(ReleaseSemaphore(sem, 2, NULL));
    wait_count(&fired, 6, 3000);
    CHECK_EQ(last_result, WAIT_OBJECT_0);
    WaitForThreadpoolWaitCallbacks(w, FALSE);
    CHECK_EQ(WaitForSingleObject(sem, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(sem, 0), WAIT_TIMEOUT);

    /* Closing with a wait pending: no callback afterwards. */
    SetThreadpoolWait(w, ev, NULL);
    CloseThreadpoolWait(w);
    SetEvent(ev);
    Sleep(50);
    CHECK_EQ(fired, 6);
    CHECK_EQ(WaitForSingleObject(ev, 0), WAIT_OBJECT_0);

    /* Many wait objects on one manual-reset event, in a private pool. */
    PTP_POOL pool = CreateThreadpool(NULL);
    TP_CALLBACK_ENVIRON env;
    InitializeThreadpoolEnvironment(&env);
    SetThreadpoolCallbackPool(&env, pool);
    HANDLE manual = CreateEventA(NULL, TRUE, FALSE, NULL);
    PTP_WAIT many[8];
    fired = 0;
    for (int i = 0; i < 8; i++) {
        many[i] = CreateThreadpoolWait(wait_cb, (PVOID)0x55, &env);
        SetThreadpoolWait(many[i], manual, NULL);
    }
    SetEvent(manual);
    wait_count(&fired, 8, 3000);
    CHECK_EQ(fired, 8);
    for (int i = 0; i < 8; i++) {
        WaitForThreadpoolWaitCallbacks(many[i], FALSE);
        CloseThreadpoolWait(many[i]);
    }
    DestroyThreadpoolEnvironment(&env);
    CloseThreadpool(pool);
    CloseHandle(manual);
    CloseHandle(sem);
    CloseHandle(ev);
    printf("threadpool_wait: ok\n");
    return 0;
}
