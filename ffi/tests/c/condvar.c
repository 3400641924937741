/* Condition variables: timeouts (FALSE + ERROR_TIMEOUT, the lock held again
 * in the same mode), CONDITION_VARIABLE_INIT, Wake/WakeAll, a bounded queue
 * with producers and consumers under a critical section and under an SRW
 * lock, and sleeps as blocking sections of the port (CS and SRW). */
#include <windows.h>
#include "check.h"
#include "slot.h"

static SRWLOCK lock = SRWLOCK_INIT;
static CONDITION_VARIABLE cv = CONDITION_VARIABLE_INIT;
static CRITICAL_SECTION cs;

static DWORD WINAPI try_cs(LPVOID p) {
    (void)p;
    if (!TryEnterCriticalSection(&cs)) return 0;
    LeaveCriticalSection(&cs);
    return 1;
}

static void test_timeouts(void) {
    CHECK(cv.Ptr == NULL);
    /* SRW, exclusive. */
    AcquireSRWLockExclusive(&lock);
    SetLastError(0);
    long long t0 = now_ms();
    CHECK(!SleepConditionVariableSRW(&cv, &lock, 50, 0));
    CHECK_ERR(ERROR_TIMEOUT);
    CHECK_EQ(ERROR_TIMEOUT, 1460);
    CHECK(now_ms() - t0 >= 45);
    CHECK_EQ(run_on_thread(srw_try_shared, &lock), 0); /* held exclusively again */
    /* Zero timeout: FALSE at once. */
    CHECK(!SleepConditionVariableSRW(&cv, &lock, 0, 0));
    CHECK_ERR(ERROR_TIMEOUT);
    ReleaseSRWLockExclusive(&lock);
    CHECK_EQ(run_on_thread(srw_try_exclusive, &lock), 1);

    /* SRW, shared. */
    AcquireSRWLockShared(&lock);
    CHECK(!SleepConditionVariableSRW(&cv, &lock, 30, CONDITION_VARIABLE_LOCKMODE_SHARED));
    CHECK_ERR(ERROR_TIMEOUT);
    CHECK_EQ(run_on_thread(srw_try_shared, &lock), 1);    /* held shared again */
    CHECK_EQ(run_on_thread(srw_try_exclusive, &lock), 0);
    ReleaseSRWLockShared(&lock);
    CHECK_EQ(run_on_thread(srw_try_exclusive, &lock), 1);

    /* Critical section: left once, entered once again. */
    InitializeCriticalSection(&cs);
    EnterCriticalSection(&cs);
    t0 = now_ms();
    CHECK(!SleepConditionVariableCS(&cv, &cs, 50));
    CHECK_ERR(ERROR_TIMEOUT);
    CHECK(now_ms() - t0 >= 45);
    CHECK_EQ(cs.RecursionCount, 1);
    CHECK_EQ((DWORD)(ULONG_PTR)cs.OwningThread, GetCurrentThreadId());
    CHECK_EQ(run_on_thread(try_cs, NULL), 0);
    LeaveCriticalSection(&cs);
    CHECK_EQ(run_on_thread(try_cs, NULL), 1);

    /* Unknown flags. */
    AcquireSRWLockExclusive(&lock);
    CHECK(!SleepConditionVariableSRW(&cv, &lock, 10, 2));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    ReleaseSRWLockExclusive(&lock);
}

/* ---- Wake and WakeAll: every wake reaches a sleeper ---- */

static volatile LONG tickets, woken;

static DWORD WINAPI ticket_sleeper(LPVOID p) {
    (void)p;
    AcquireSRWLockExclusive(&lock);
    while (tickets == 0) CHECK(SleepConditionVariableSRW(&cv, &lock, 10000, 0));
    tickets--;
    woken++;
    ReleaseSRWLockExclusive(&lock);
    return 0;
}

static void wait_woken(LONG n) {
    long long deadline = now_ms() + 5000;
    for (;;) {
        AcquireSRWLockShared(&lock);
        LONG w = woken;
        ReleaseSRWLockShared(&lock);
        if (w >= n || now_ms() > deadline) {
            CHECK_EQ(w, n);
            return;
        }
        Sleep(2);
    }
}

static void test_wake(void) {
    enum { N = 3 };
    HANDLE t[N];
    /* One at a time with WakeConditionVariable. */
    tickets = woken = 0;
    for (int i = 0; i < N; i++) t[i] = CreateThread(NULL, 0, ticket_sleeper, NULL, 0, NULL);
    Sleep(50); /* let them sleep */
    for (int i = 1; i <= N; i++) {
        AcquireSRWLockExclusive(&lock);
        tickets++;
        ReleaseSRWLockExclusive(&lock);
        WakeConditionVariable(&cv);
        wait_woken(i);
    }
    CHECK_EQ(WaitForMultipleObjects(N, t, TRUE, 5000), WAIT_OBJECT_0);
    for (int i = 0; i < N; i++) CHECK(CloseHandle(t[i]));
    /* All at once with WakeAllConditionVariable. */
    tickets = woken = 0;
    for (int i = 0; i < N; i++) t[i] = CreateThread(NULL, 0, ticket_sleeper, NULL, 0, NULL);
    Sleep(50);
    AcquireSRWLockExclusive(&lock);
    tickets = N;
    ReleaseSRWLockExclusive(&lock);
    WakeAllConditionVariable(&cv);
    CHECK_EQ(WaitForMultipleObjects(N, t, TRUE, 5000), WAIT_OBJECT_0);
    for (int i = 0; i < N; i++) CHECK(CloseHandle(t[i]));
    CHECK_EQ(woken, N);
    /* Waking with nobody asleep is harmless. */
    WakeConditionVariable(&cv);
    WakeAllConditionVariable(&cv);
}

/* ---- a bounded queue: producers and consumers ---- */

enum { CAP = 4, PRODUCERS = 2, CONSUMERS = 2, ITEMS = 5000 };
static long queue[CAP];
static int head, count;
static long long consumed_sum;
static long consumed_n;
static CONDITION_VARIABLE not_full = CONDITION_VARIABLE_INIT, not_empty = CONDITION_VARIABLE_INIT;
static int use_srw;

static void q_lock(void) {
    if (use_srw) AcquireSRWLockExclusive(&lock);
    else EnterCriticalSection(&cs);
}
static void q_unlock(void) {
    if (use_srw) ReleaseSRWLockExclusive(&lock);
    else LeaveCriticalSection(&cs);
}
static void q_sleep(CONDITION_VARIABLE *v) {
    BOOL ok = use_srw ? SleepConditionVariableSRW(v, &lock, 10000, 0)
                      : SleepConditionVariableCS(v, &cs, 10000);
    CHECK(ok);
}

static DWORD WINAPI producer(LPVOID p) {
    long base = (long)(ULONG_PTR)p * ITEMS;
    for (long i = 1; i <= ITEMS; i++) {
        q_lock();
        while (count == CAP) q_sleep(&not_full);
        queue[(head + count) % CAP] = base + i;
        count++;
        q_unlock();
        WakeConditionVariable(&not_empty);
    }
    return 0;
}

static DWORD WINAPI consumer(LPVOID p) {
    (void)p;
    for (;;) {
        q_lock();
        while (count == 0 && consumed_n < PRODUCERS * ITEMS) q_sleep(&not_empty);
        if (count == 0) {
            q_unlock();
            WakeAllConditionVariable(&not_empty);
            return 0;
        }
        consumed_sum += queue[head];
        head = (head + 1) % CAP;
        count--;
        consumed_n++;
        q_unlock();
        WakeConditionVariable(&not_full);
    }
}

static void test_queue(int srw) {
    use_srw = srw;
    head = count = 0;
    consumed_sum = 0;
    consumed_n = 0;
    HANDLE t[PRODUCERS + CONSUMERS];
    for (int i = 0; i < PRODUCERS; i++)
        t[i] = CreateThread(NULL, 0, producer, (LPVOID)(ULONG_PTR)i, 0, NULL);
    for (int i = 0; i < CONSUMERS; i++)
        t[PRODUCERS + i] = CreateThread(NULL, 0, consumer, NULL, 0, NULL);
    CHECK_EQ(WaitForMultipleObjects(PRODUCERS + CONSUMERS, t, TRUE, 60000), WAIT_OBJECT_0);
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++) CHECK(CloseHandle(t[i]));
    long long want = 0;
    for (long p = 0; p < PRODUCERS; p++)
        for (long i = 1; i <= ITEMS; i++) want += p * ITEMS + i;
    CHECK_EQ(consumed_n, PRODUCERS * ITEMS);
    CHECK_EQ(consumed_sum, want);
}

/* ---- blocking sections ---- */

static CONDITION_VARIABLE gate = CONDITION_VARIABLE_INIT;
static volatile LONG open_gate;

static void block_srw(void) {
    AcquireSRWLockExclusive(&lock);
    while (!open_gate) CHECK(SleepConditionVariableSRW(&gate, &lock, INFINITE, 0));
    ReleaseSRWLockExclusive(&lock);
}

static void block_srw_shared(void) {
    AcquireSRWLockShared(&lock);
    while (!open_gate)
        CHECK(SleepConditionVariableSRW(&gate, &lock, INFINITE, CONDITION_VARIABLE_LOCKMODE_SHARED));
    ReleaseSRWLockShared(&lock);
}

static void block_cs(void) {
    EnterCriticalSection(&cs);
    while (!open_gate) CHECK(SleepConditionVariableCS(&gate, &cs, INFINITE));
    LeaveCriticalSection(&cs);
}

static void unblock_srw(void) {
    AcquireSRWLockExclusive(&lock);
    open_gate = 1;
    ReleaseSRWLockExclusive(&lock);
    WakeAllConditionVariable(&gate);
}

static void unblock_cs(void) {
    EnterCriticalSection(&cs);
    open_gate = 1;
    LeaveCriticalSection(&cs);
    WakeConditionVariable(&gate);
}

int main(void) {
    test_timeouts();
    test_wake();
    test_queue(0);
    test_queue(1);
    open_gate = 0;
    check_wait_frees_slot("SleepConditionVariableSRW", block_srw, unblock_srw);
    open_gate = 0;
    check_wait_frees_slot("SleepConditionVariableSRW (shared)", block_srw_shared, unblock_srw);
    open_gate = 0;
    check_wait_frees_slot("SleepConditionVariableCS", block_cs, unblock_cs);
    DeleteCriticalSection(&cs);
    printf("condvar: ok\n");
    return 0;
}
