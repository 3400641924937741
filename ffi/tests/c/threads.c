/* Threads, critical sections, the process heap and the Interlocked
 * functions: CreateThread and its handle (waits, exit code, suspend/resume,
 * close while running), the thread-exit and contended-Enter rules of the
 * concurrency accounting, recursive and contended critical sections, and bad
 * input for each. */
#include <windows.h>
#include "check.h"
#include "slot.h"

/* ---- CreateThread ---- */

static HANDLE go;         /* manual-reset: lets the workers finish */
static volatile DWORD seen_tid;
static volatile DWORD seen_last_error;

static DWORD WINAPI returns_param(LPVOID p) {
    seen_tid = GetCurrentThreadId();
    seen_last_error = GetLastError(); /* a new thread starts with 0 */
    CHECK_EQ(WaitForSingleObject(go, 5000), WAIT_OBJECT_0);
    return (DWORD)(ULONG_PTR)p;
}

static void test_create_wait_exit_code(void) {
    go = CreateEvent(NULL, TRUE, FALSE, NULL);
    CHECK(go != NULL);
    SetLastError(1234);
    DWORD tid = 0;
    HANDLE t = CreateThread(NULL, 0, returns_param, (LPVOID)(ULONG_PTR)42, 0, &tid);
    CHECK(t != NULL);
    CHECK(tid != 0 && tid != GetCurrentThreadId());
    CHECK_EQ(GetThreadId(t), tid);
    DWORD code = 0;
    CHECK(GetExitCodeThread(t, &code));
    CHECK_EQ(code, STILL_ACTIVE);
    CHECK_EQ(WaitForSingleObject(t, 50), WAIT_TIMEOUT); /* not signalled while it runs */
    CHECK(SetEvent(go));
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CHECK_EQ(seen_tid, tid);
    CHECK_EQ(seen_last_error, 0);
    CHECK(GetExitCodeThread(t, &code));
    CHECK_EQ(code, 42);
    /* Still signalled: waiting does not consume a thread handle. */
    CHECK_EQ(WaitForSingleObject(t, 0), WAIT_OBJECT_0);
    CHECK(CloseHandle(t));
    /* A closed thread handle is a dead handle. */
    CHECK_EQ(WaitForSingleObject(t, 0), WAIT_FAILED);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!GetExitCodeThread(t, &code));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!CloseHandle(t));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(go));
}

static volatile LONG finished;

static DWORD WINAPI sleeper(LPVOID p) {
    Sleep((DWORD)(ULONG_PTR)p);
    InterlockedIncrement(&finished);
    return 7;
}

static DWORD WINAPI waits_for(LPVOID ev) {
    CHECK_EQ(WaitForSingleObject((HANDLE)ev, 10000), WAIT_OBJECT_0);
    InterlockedIncrement(&finished);
    return 7;
}

static void test_wait_multiple(void) {
    HANDLE t[3], e[3];
    finished = 0;
    for (int i = 0; i < 3; i++) {
        e[i] = CreateEvent(NULL, TRUE, FALSE, NULL);
        CHECK(e[i] != NULL);
    }
    t[0] = CreateThread(NULL, 0, waits_for, e[0], 0, NULL); /* lpThreadId NULL is fine */
    t[1] = CreateThread(NULL, 64 * 1024, waits_for, e[1], 0, NULL);
    t[2] = CreateThread(NULL, 0, waits_for, e[2], STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    for (int i = 0; i < 3; i++) CHECK(t[i] != NULL);
    CHECK_EQ(WaitForMultipleObjects(3, t, FALSE, 0), WAIT_TIMEOUT);
    /* Wait-any: the one that ended. */
    CHECK(SetEvent(e[1]));
    CHECK_EQ(WaitForMultipleObjects(3, t, FALSE, 5000), WAIT_OBJECT_0 + 1);
    CHECK_EQ(finished, 1);
    /* Wait-all: not while one still runs. */
    CHECK(SetEvent(e[0]));
    CHECK_EQ(WaitForSingleObject(t[0], 5000), WAIT_OBJECT_0);
    CHECK_EQ(WaitForMultipleObjects(3, t, TRUE, 0), WAIT_TIMEOUT);
    CHECK(SetEvent(e[2]));
    CHECK_EQ(WaitForMultipleObjects(3, t, TRUE, 5000), WAIT_OBJECT_0);
    CHECK_EQ(finished, 3);
    DWORD code = 0;
    CHECK(GetExitCodeThread(t[2], &code));
    CHECK_EQ(code, 7);
    /* Threads and events in one wait. */
    HANDLE ev = CreateEvent(NULL, FALSE, FALSE, NULL);
    HANDLE mixed[2] = {ev, t[1]};
    CHECK_EQ(WaitForMultipleObjects(2, mixed, FALSE, 0), WAIT_OBJECT_0 + 1);
    CHECK(SetEvent(ev));
    CHECK_EQ(WaitForMultipleObjects(2, mixed, TRUE, 0), WAIT_OBJECT_0);
    CHECK(CloseHandle(ev));
    for (int i = 0; i < 3; i++) {
        CHECK(CloseHandle(t[i]));
        CHECK(CloseHandle(e[i]));
    }
}

static volatile LONG started_count;

static DWORD WINAPI counts_start(LPVOID p) {
    (void)p;
    InterlockedIncrement(&started_count);
    return 0;
}

static void test_suspended_and_closed_while_running(void) {
    started_count = 0;
    HANDLE t = CreateThread(NULL, 0, counts_start, NULL, CREATE_SUSPENDED, NULL);
    CHECK(t != NULL);
    CHECK_EQ(WaitForSingleObject(t, 100), WAIT_TIMEOUT);
    CHECK_EQ(started_count, 0);
    CHECK_EQ(ResumeThread(t), 1); /* the previous suspend count */
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CHECK_EQ(started_count, 1);
    CHECK_EQ(ResumeThread(t), 0); /* not suspended any more */
    CHECK(CloseHandle(t));

    /* Closing the handle of a running thread lets it run on. */
    finished = 0;
    t = CreateThread(NULL, 0, sleeper, (LPVOID)(ULONG_PTR)100, 0, NULL);
    CHECK(t != NULL);
    CHECK(CloseHandle(t));
    long long deadline = now_ms() + 5000;
    while (finished == 0 && now_ms() < deadline) Sleep(5);
    CHECK_EQ(finished, 1);
}

static void test_thread_bad_input(void) {
    SetLastError(0);
    CHECK(CreateThread(NULL, 0, NULL, NULL, 0, NULL) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK_EQ(ResumeThread(NULL), (DWORD)-1);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK_EQ(ResumeThread((HANDLE)(ULONG_PTR)0x12345678), (DWORD)-1);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    DWORD code;
    CHECK(!GetExitCodeThread(NULL, &code));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    CHECK(!GetExitCodeThread(ev, &code)); /* an event is not a thread */
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(ev));
    CHECK_EQ(GetThreadId(NULL), 0);
    CHECK_ERR(ERROR_INVALID_HANDLE);
}

/* ---- thread exit gives the port slot back ---- */

static HANDLE port1;

static DWORD WINAPI take_one(LPVOID p) {
    (void)p;
    DWORD bytes;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    CHECK(GetQueuedCompletionStatus(port1, &bytes, &key, &ov, 5000));
    CHECK_EQ(key, 1);
    return 0; /* exits while counting as active */
}

static volatile LONG got2;

static DWORD WINAPI wait_second(LPVOID p) {
    (void)p;
    DWORD bytes;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    CHECK(GetQueuedCompletionStatus(port1, &bytes, &key, &ov, 5000));
    CHECK_EQ(key, 2);
    InterlockedExchange(&got2, 1);
    return 0;
}

static void test_exit_frees_slot(void) {
    port1 = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    CHECK(port1 != NULL);
    CHECK(PostQueuedCompletionStatus(port1, 0, 1, NULL));
    HANDLE a = CreateThread(NULL, 0, take_one, NULL, 0, NULL);
    /* The first thread took packet 1 and exits; its slot must come back, or
     * the second never gets packet 2 (limit 1). */
    CHECK_EQ(WaitForSingleObject(a, 5000), WAIT_OBJECT_0);
    CHECK(PostQueuedCompletionStatus(port1, 0, 2, NULL));
    HANDLE b = CreateThread(NULL, 0, wait_second, NULL, 0, NULL);
    CHECK_EQ(WaitForSingleObject(b, 5000), WAIT_OBJECT_0);
    CHECK_EQ(got2, 1);
    CHECK(CloseHandle(a));
    CHECK(CloseHandle(b));
    CHECK(CloseHandle(port1));
}

/* ---- critical sections ---- */

static CRITICAL_SECTION cs;
static volatile long counter;

static DWORD WINAPI hammer(LPVOID p) {
    int n = (int)(ULONG_PTR)p;
    for (int i = 0; i < n; i++) {
        EnterCriticalSection(&cs);
        EnterCriticalSection(&cs); /* recursive */
        long v = counter;
        counter = v + 1;
        LeaveCriticalSection(&cs);
        LeaveCriticalSection(&cs);
    }
    return 0;
}

static DWORD WINAPI try_enter(LPVOID p) {
    (void)p;
    if (!TryEnterCriticalSection(&cs)) return 0;
    LeaveCriticalSection(&cs);
    return 1;
}

static DWORD WINAPI leave_not_owner(LPVOID p) {
    (void)p;
    LeaveCriticalSection(&cs); /* not the owner: ignored */
    return TryEnterCriticalSection(&cs) ? 1 : 0;
}

static void test_critical_sections(void) {
    InitializeCriticalSection(&cs);
    /* Recursion: held until the last Leave. */
    EnterCriticalSection(&cs);
    EnterCriticalSection(&cs);
    CHECK(TryEnterCriticalSection(&cs));
    CHECK_EQ(cs.RecursionCount, 3);
    CHECK_EQ((DWORD)(ULONG_PTR)cs.OwningThread, GetCurrentThreadId());
    CHECK_EQ(run_on_thread(try_enter, NULL), 0);
    CHECK_EQ(run_on_thread(leave_not_owner, NULL), 0);
    LeaveCriticalSection(&cs);
    LeaveCriticalSection(&cs);
    CHECK_EQ(run_on_thread(try_enter, NULL), 0); /* still held once */
    LeaveCriticalSection(&cs);
    CHECK_EQ(run_on_thread(try_enter, NULL), 1);
    LeaveCriticalSection(&cs); /* one Leave too many: ignored */
    CHECK_EQ(run_on_thread(try_enter, NULL), 1);

    /* Contention: every increment under the lock survives. */
    enum { THREADS = 4, ROUNDS = 50000 };
    HANDLE t[THREADS];
    counter = 0;
    CHECK(InitializeCriticalSectionAndSpinCount(&cs, 4000));
    CHECK_EQ(SetCriticalSectionSpinCount(&cs, 100), 4000);
    for (int i = 0; i < THREADS; i++) {
        t[i] = CreateThread(NULL, 0, hammer, (LPVOID)(ULONG_PTR)ROUNDS, 0, NULL);
        CHECK(t[i] != NULL);
    }
    CHECK_EQ(WaitForMultipleObjects(THREADS, t, TRUE, 30000), WAIT_OBJECT_0);
    for (int i = 0; i < THREADS; i++) CHECK(CloseHandle(t[i]));
    CHECK_EQ(counter, THREADS * ROUNDS);
    CHECK_EQ(run_on_thread(try_enter, NULL), 1);
    DeleteCriticalSection(&cs);

    /* NULL does not crash. */
    InitializeCriticalSection(NULL);
    EnterCriticalSection(NULL);
    LeaveCriticalSection(NULL);
    DeleteCriticalSection(NULL);
    CHECK(!TryEnterCriticalSection(NULL));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!InitializeCriticalSectionAndSpinCount(NULL, 0));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
}

/* A contended EnterCriticalSection is a blocking section: with a limit of 1,
 * the worker that waits for the lock lets a second worker take a packet. */
static CRITICAL_SECTION held;

static void block_enter(void) {
    EnterCriticalSection(&held); /* contended: main holds it */
    LeaveCriticalSection(&held);
}

static void unblock_leave(void) {
    LeaveCriticalSection(&held);
}

static void test_contended_enter_is_blocking(void) {
    InitializeCriticalSection(&held);
    EnterCriticalSection(&held);
    check_wait_frees_slot("a contended EnterCriticalSection", block_enter, unblock_leave);
    DeleteCriticalSection(&held);
}

/* ---- the heap ---- */

static void test_heap(void) {
    HANDLE heap = GetProcessHeap();
    CHECK(heap != NULL);
    CHECK(GetProcessHeap() == heap);
    unsigned char *p = (unsigned char *)HeapAlloc(heap, HEAP_ZERO_MEMORY, 100);
    CHECK(p != NULL);
    CHECK_EQ((ULONG_PTR)p % 16, 0);
    for (int i = 0; i < 100; i++) CHECK_EQ(p[i], 0);
    CHECK_EQ(HeapSize(heap, 0, p), 100);
    FillMemory(p, 100, 0xAB);
    p = (unsigned char *)HeapReAlloc(heap, HEAP_ZERO_MEMORY, p, 5000);
    CHECK(p != NULL);
    CHECK_EQ(HeapSize(heap, 0, p), 5000);
    for (int i = 0; i < 100; i++) CHECK_EQ(p[i], 0xAB);
    for (int i = 100; i < 5000; i++) CHECK_EQ(p[i], 0);
    /* In place only: shrinking works, growing far does not. */
    CHECK(HeapReAlloc(heap, HEAP_REALLOC_IN_PLACE_ONLY, p, 10) == p);
    CHECK_EQ(HeapSize(heap, 0, p), 10);
    CHECK(HeapReAlloc(heap, HEAP_REALLOC_IN_PLACE_ONLY, p, 1 << 24) == NULL);
    CHECK(HeapFree(heap, 0, p));
    /* Freed twice, foreign, NULL. */
    CHECK(!HeapFree(heap, 0, p));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    char local[32];
    CHECK(!HeapFree(heap, 0, local + 16));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK_EQ(HeapSize(heap, 0, local + 16), (SIZE_T)-1);
    CHECK(HeapReAlloc(heap, 0, local + 16, 10) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(HeapFree(heap, 0, NULL));
    /* Bad heap handles; the heap is not a kernel handle. */
    CHECK(HeapAlloc(NULL, 0, 10) == NULL);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    CHECK(HeapAlloc(ev, 0, 10) == NULL);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(ev));
    CHECK(!CloseHandle(heap));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(HeapAlloc(heap, 0, (SIZE_T)-1) == NULL); /* too large */
    void *q = HeapAlloc(heap, 0, 0); /* zero bytes: a valid block */
    CHECK(q != NULL);
    CHECK(HeapFree(heap, 0, q));
}

static void test_interlocked(void) {
    LONG v = 5;
    CHECK_EQ(InterlockedIncrement(&v), 6);
    CHECK_EQ(InterlockedDecrement(&v), 5);
    CHECK_EQ(InterlockedExchange(&v, 9), 5);
    CHECK_EQ(InterlockedExchangeAdd(&v, 3), 9);
    CHECK_EQ(InterlockedCompareExchange(&v, 1, 12), 12);
    CHECK_EQ(v, 1);
    CHECK_EQ(InterlockedCompareExchange(&v, 7, 12), 1);
    CHECK_EQ(v, 1);
    LONGLONG w = 1LL << 40;
    CHECK_EQ(InterlockedIncrement64(&w), (1LL << 40) + 1);
    PVOID ptr = NULL;
    CHECK(InterlockedCompareExchangePointer(&ptr, &v, NULL) == NULL);
    CHECK(ptr == &v);
}

/* Regression: every completed operation used to wake every thread waiting on
 * an event (one signal bus for both), so a server's main thread, waiting on
 * its stop event for its whole life, woke once per packet. Now a thread
 * waiting on an event sleeps through a thousand completions. */
static HANDLE quiet_ev;

static DWORD WINAPI waits_quietly(LPVOID p) {
    (void)p;
    CHECK_EQ(WaitForSingleObject(quiet_ev, 30000), WAIT_OBJECT_0);
    return 0;
}

static long voluntary_switches(DWORD tid) {
    char path[64], line[128];
    long n = -1;
    snprintf(path, sizeof path, "/proc/self/task/%lu/status", (unsigned long)tid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1) break;
    fclose(f);
    return n;
}

static void test_completions_do_not_wake_event_waiters(void) {
    quiet_ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    DWORD tid = 0;
    HANDLE t = CreateThread(NULL, 0, waits_quietly, NULL, 0, &tid);
    CHECK(t != NULL);
    HANDLE f = CreateFileA("/tmp/cport-threads-quiet.tmp", GENERIC_READ | GENERIC_WRITE, 0, NULL,
                           CREATE_ALWAYS, FILE_FLAG_OVERLAPPED | FILE_FLAG_DELETE_ON_CLOSE, NULL);
    CHECK(f != INVALID_HANDLE_VALUE);
    HANDLE port = CreateIoCompletionPort(f, NULL, 1, 1);
    CHECK(port != NULL);
    Sleep(20); /* let the waiter go to sleep (a lower count only helps it) */
    long before = voluntary_switches(tid);
    char buf[64] = {0};
    for (int i = 0; i < 1000; i++) {
        OVERLAPPED ov;
        ZeroMemory(&ov, sizeof ov);
        ov.Offset = (DWORD)(i * sizeof buf);
        CHECK(!WriteFile(f, buf, sizeof buf, NULL, &ov));
        CHECK_ERR(ERROR_IO_PENDING);
        DWORD n;
        ULONG_PTR key;
        LPOVERLAPPED got;
        CHECK(GetQueuedCompletionStatus(port, &n, &key, &got, 5000));
        CHECK(got == &ov);
    }
    long after = voluntary_switches(tid);
    CHECK(after - before < 20);
    CHECK(SetEvent(quiet_ev));
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CHECK(CloseHandle(t));
    CHECK(CloseHandle(f));
    CHECK(CloseHandle(port));
    CHECK(CloseHandle(quiet_ev));
}

int main(void) {
    test_completions_do_not_wake_event_waiters();
    test_create_wait_exit_code();
    test_wait_multiple();
    test_suspended_and_closed_while_running();
    test_thread_bad_input();
    test_exit_frees_slot();
    test_critical_sections();
    test_contended_enter_is_blocking();
    test_heap();
    test_interlocked();
    printf("threads: ok\n");
    return 0;
}
