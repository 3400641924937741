/* Thread pool work: TrySubmitThreadpoolCallback, work objects (one callback
 * per submit, waiting with and without cancelling pending callbacks),
 * private pools with a thread maximum and minimum, callback environments,
 * cleanup groups (members closed, cancel callback), and the callback
 * instance calls (SetEvent/ReleaseSemaphore/ReleaseMutex/
 * LeaveCriticalSection WhenCallbackReturns, Disassociate, MayRunLong). */
#ifdef __linux__
#define _GNU_SOURCE
#include <sched.h>
#endif
#include <windows.h>
#include "check.h"

static volatile LONG simple_runs;
static HANDLE simple_done;

static VOID CALLBACK simple_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx) {
    CHECK(inst != NULL);
    CHECK(ctx == (PVOID)0x1234);
    if (InterlockedIncrement(&simple_runs) == 8) SetEvent(simple_done);
}

static void test_simple(void) {
    simple_done = CreateEventA(NULL, TRUE, FALSE, NULL);
    for (int i = 0; i < 8; i++) CHECK(TrySubmitThreadpoolCallback(simple_cb, (PVOID)0x1234, NULL));
    CHECK_EQ(WaitForSingleObject(simple_done, 5000), WAIT_OBJECT_0);
    CHECK_EQ(simple_runs, 8);
    CloseHandle(simple_done);
}

static volatile LONG work_runs;
static volatile LONG work_in;
static volatile LONG work_max_in;
static PTP_WORK seen_work;

static VOID CALLBACK work_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PTP_WORK work) {
    (void)inst;
    CHECK(ctx == (PVOID)&work_runs);
    seen_work = work;
    LONG in = InterlockedIncrement(&work_in);
    LONG m;
    while ((m = work_max_in) < in && InterlockedCompareExchange(&work_max_in, in, m) != m) {
    }
    Sleep(20);
    InterlockedDecrement(&work_in);
    InterlockedIncrement(&work_runs);
}

/* Each submit is one callback; WaitFor…(FALSE) returns after all of them. */
static void test_work_default_pool(void) {
    PTP_WORK w = CreateThreadpoolWork(work_cb, (PVOID)&work_runs, NULL);
    CHECK(w != NULL);
    for (int i = 0; i < 5; i++) SubmitThreadpoolWork(w);
    WaitForThreadpoolWorkCallbacks(w, FALSE);
    CHECK_EQ(work_runs, 5);
    CHECK_EQ(work_in, 0);
    CHECK(seen_work == w);
    CloseThreadpoolWork(w);
}

/* A private pool with one thread: callbacks run one at a time; cancelling
 * drops the ones that have not started. */
static void test_private_pool_and_cancel(void) {
    PTP_POOL pool = CreateThreadpool(NULL);
    CHECK(pool != NULL);
    SetThreadpoolThreadMaximum(pool, 1);
    CHECK(SetThreadpoolThreadMinimum(pool, 1));
    TP_CALLBACK_ENVIRON env;
    InitializeThreadpoolEnvironment(&env);
    CHECK_EQ(env.Version, 3);
    CHECK_EQ(env.Size, sizeof(TP_CALLBACK_ENVIRON));
    CHECK_EQ(env.CallbackPriority, TP_CALLBACK_PRIORITY_NORMAL);
    SetThreadpoolCallbackPool(&env, pool);
    CHECK(env.Pool == pool);

    work_runs = 0;
    work_max_in = 0;
    PTP_WORK w = CreateThreadpoolWork(work_cb, (PVOID)&work_runs, &env);
    CHECK(w != NULL);
    for (int i = 0; i < 4; i++) SubmitThreadpoolWork(w);
    WaitForThreadpoolWorkCallbacks(w, FALSE);
    CHECK_EQ(work_runs, 4);
    CHECK_EQ(work_max_in, 1);

    /* 20 callbacks of 20 ms on one thread: cancel right after the first starts. */
    work_runs = 0;
    for (int i = 0; i < 20; i++) SubmitThreadpoolWork(w);
    while (work_in == 0 && work_runs == 0) Sleep(1);
    WaitForThreadpoolWorkCallbacks(w, TRUE);
    CHECK(work_runs >= 1);
    CHECK(work_runs < 20);
    LONG after = work_runs;
    Sleep(60);
    CHECK_EQ(work_runs, after); /* none of the cancelled ones ran later */
    /* The object still works after a cancel. */
    SubmitThreadpoolWork(w);
    WaitForThreadpoolWorkCallbacks(w, FALSE);
    CHECK_EQ(work_runs, after + 1);
    CloseThreadpoolWork(w);
    DestroyThreadpoolEnvironment(&env);
    CloseThreadpool(pool);
}

static HANDLE instance_sem, instance_mutex, instance_event;
static CRITICAL_SECTION instance_cs;
static volatile LONG may_run_long;

static VOID CALLBACK instance_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PTP_WORK work) {
    (void)work;
    switch ((int)(INT_PTR)ctx) {
    case 0:
        SetEventWhenCallbackReturns(inst, instance_event);
        break;
    case 1:
        ReleaseSemaphoreWhenCallbackReturns(inst, instance_sem, 2);
        break;
    case 2:
        CHECK_EQ(WaitForSingleObject(instance_mutex, 0), WAIT_OBJECT_0);
        ReleaseMutexWhenCallbackReturns(inst, instance_mutex);
        break;
    case 3:
        EnterCriticalSection(&instance_cs);
        LeaveCriticalSectionWhenCallbackReturns(inst, &instance_cs);
        break;
    case 4:
        may_run_long = CallbackMayRunLong(inst) ? 1 : 2;
        FreeLibraryWhenCallbackReturns(inst, NULL);
        break;
    }
    /* Not done before the callback returns. */
    Sleep(30);
}

static void run_instance(int what) {
    PTP_WORK w = CreateThreadpoolWork(instance_cb, (PVOID)(INT_PTR)what, NULL);
    CHECK(w != NULL);
    SubmitThreadpoolWork(w);
    WaitForThreadpoolWorkCallbacks(w, FALSE);
    CloseThreadpoolWork(w);
}

static void test_instance(void) {
    instance_event = CreateEventA(NULL, TRUE, FALSE, NULL);
    instance_sem = CreateSemaphoreA(NULL, 0, 10, NULL);
    instance_mutex = CreateMutexA(NULL, FALSE, NULL);
    InitializeCriticalSection(&instance_cs);

    run_instance(0);
    CHECK_EQ(WaitForSingleObject(instance_event, 0), WAIT_OBJECT_0);
    run_instance(1);
    CHECK_EQ(WaitForSingleObject(instance_sem, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(instance_sem, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(instance_sem, 0), WAIT_TIMEOUT);
    run_instance(2);
    /* Released by the worker: this thread can take it. */
    CHECK_EQ(WaitForSingleObject(instance_mutex, 0), WAIT_OBJECT_0);
    CHECK(ReleaseMutex(instance_mutex));
    run_instance(3);
    CHECK(TryEnterCriticalSection(&instance_cs));
    LeaveCriticalSection(&instance_cs);
    run_instance(4);
    CHECK_EQ(may_run_long, 1);

    CloseHandle(instance_event);
    CloseHandle(instance_sem);
    CloseHandle(instance_mutex);
    DeleteCriticalSection(&instance_cs);
}

static HANDLE release_disassociated;
static volatile LONG disassociated_done;

static VOID CALLBACK disassociate_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PTP_WORK work) {
    (void)ctx;
    (void)work;
    DisassociateCurrentThreadFromCallback(inst);
    WaitForSingleObject(release_disassociated, 5000);
    disassociated_done = 1;
}

/* After Disassociate…, waiting for the object's callbacks does not wait for this one. */
static void test_disassociate(void) {
    release_disassociated = CreateEventA(NULL, TRUE, FALSE, NULL);
    PTP_WORK w = CreateThreadpoolWork(disassociate_cb, NULL, NULL);
    SubmitThreadpoolWork(w);
    WaitForThreadpoolWorkCallbacks(w, FALSE);
    CHECK_EQ(disassociated_done, 0);
    SetEvent(release_disassociated);
    while (!disassociated_done) Sleep(1);
    CloseThreadpoolWork(w);
    CloseHandle(release_disassociated);
}

static volatile LONG group_runs;
static volatile LONG group_started;
static volatile LONG group_cancelled;
static HANDLE group_gate;

static VOID CALLBACK group_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PTP_WORK work) {
    (void)inst;
    (void)ctx;
    (void)work;
    InterlockedIncrement(&group_started);
    WaitForSingleObject(group_gate, 5000);
    InterlockedIncrement(&group_runs);
}

static DWORD WINAPI open_gate_later(LPVOID arg) {
    (void)arg;
    Sleep(100);
    SetEvent(group_gate);
    return 0;
}

static VOID CALLBACK group_cancel_cb(PVOID object_ctx, PVOID cleanup_ctx) {
    CHECK(object_ctx == (PVOID)0x77);
    CHECK(cleanup_ctx == (PVOID)0x99);
    InterlockedIncrement(&group_cancelled);
}

/* Cleanup groups: closing the members waits for (or cancels) their callbacks
 * and releases them. */
static void test_cleanup_group(void) {
    PTP_POOL pool = CreateThreadpool(NULL);
    SetThreadpoolThreadMaximum(pool, 1);
    PTP_CLEANUP_GROUP group = CreateThreadpoolCleanupGroup();
    CHECK(group != NULL);
    TP_CALLBACK_ENVIRON env;
    InitializeThreadpoolEnvironment(&env);
    SetThreadpoolCallbackPool(&env, pool);
    SetThreadpoolCallbackCleanupGroup(&env, group, group_cancel_cb);
    CHECK(env.CleanupGroup == group);

    /* Without cancelling: every callback runs before the call returns. */
    group_gate = CreateEventA(NULL, TRUE, TRUE, NULL);
    PTP_WORK a = CreateThreadpoolWork(group_cb, (PVOID)0x77, &env);
    PTP_WORK b = CreateThreadpoolWork(group_cb, (PVOID)0x77, &env);
    for (int i = 0; i < 3; i++) {
        SubmitThreadpoolWork(a);
        SubmitThreadpoolWork(b);
    }
    CloseThreadpoolCleanupGroupMembers(group, FALSE, (PVOID)0x99);
    CHECK_EQ(group_runs, 6);
    CHECK_EQ(group_cancelled, 0);

    /* Cancelling: the queued ones behind a blocked callback are dropped, and
     * the cancel callback runs once per member. */
    group_runs = 0;
    ResetEvent(group_gate);
    PTP_WORK c = CreateThreadpoolWork(group_cb, (PVOID)0x77, &env);
    PTP_WORK d = CreateThreadpoolWork(group_cb, (PVOID)0x77, &env);
    /* A closed work object is no longer a member. */
    PTP_WORK e = CreateThreadpoolWork(group_cb, (PVOID)0x77, &env);
    CloseThreadpoolWork(e);
    for (int i = 0; i < 4; i++) SubmitThreadpoolWork(c);
    SubmitThreadpoolWork(d);
    /* One callback is blocked at the gate. */
    for (int i = 0; i < 5000 && group_started == 6; i++) Sleep(1);
    CHECK_EQ(group_started, 7);
    /* The gate opens while the members are being closed, so the cancel is
     * in place before the blocked callback returns. */
    HANDLE opener = CreateThread(NULL, 0, open_gate_later, NULL, 0, NULL);
    CHECK(opener != NULL);
    CloseThreadpoolCleanupGroupMembers(group, TRUE, (PVOID)0x99);
    CHECK_EQ(WaitForSingleObject(opener, 5000), WAIT_OBJECT_0);
    CloseHandle(opener);
    CHECK(group_runs >= 1);
    CHECK(group_runs < 5);
    CHECK_EQ(group_cancelled, 2);
    LONG after = group_runs;
    Sleep(50);
    CHECK_EQ(group_runs, after);

    CloseThreadpoolCleanupGroup(group);
    DestroyThreadpoolEnvironment(&env);
    CloseThreadpool(pool);
    CloseHandle(group_gate);
}

/* A callback blocked on an event set by a later callback: the pool starts
 * another thread rather than deadlocking, and (on Linux, where main pins the
 * process to one CPU, so the pool's port allows one running callback) the
 * wait is a blocking section of the pool's port, which lets the second
 * callback run. */
static HANDLE chain_event;
static volatile LONG chain_done;

static VOID CALLBACK chain_wait_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx) {
    (void)inst;
    (void)ctx;
    CHECK_EQ(WaitForSingleObject(chain_event, 5000), WAIT_OBJECT_0);
    chain_done = 1;
}

static VOID CALLBACK chain_set_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx) {
    (void)inst;
    (void)ctx;
    SetEvent(chain_event);
}

static void test_blocking_callback(void) {
    chain_event = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(TrySubmitThreadpoolCallback(chain_wait_cb, NULL, NULL));
    CHECK(TrySubmitThreadpoolCallback(chain_set_cb, NULL, NULL));
    for (int i = 0; i < 5000 && !chain_done; i++) Sleep(1);
    CHECK_EQ(chain_done, 1);
    CloseHandle(chain_event);
}

int main(void) {
#ifdef __linux__
    /* One CPU before the default pool exists: its concurrency limit is 1. */
    cpu_set_t set;
    CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            break;
        }
    }
    CHECK_EQ(sched_setaffinity(0, sizeof set, &set), 0);
#endif
    test_simple();
    test_work_default_pool();
    test_private_pool_and_cancel();
    test_instance();
    test_disassociate();
    test_cleanup_group();
    test_blocking_callback();
    printf("threadpool_work: ok\n");
    return 0;
}
