/* One-time initialisation: InitOnceExecuteOnce from many threads (the
 * callback runs once, everyone gets its context), a failing callback tried
 * again, InitOnceBeginInitialize / InitOnceComplete synchronously and
 * asynchronously with INIT_ONCE_CHECK_ONLY / INIT_ONCE_ASYNC /
 * INIT_ONCE_INIT_FAILED, the refused combinations, and a thread waiting for
 * another's initialisation as a blocking section of the port. */
#include <windows.h>
#include "check.h"
#include "slot.h"

static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static volatile LONG calls;
static volatile LONG fail_next;
static char target[64];

static BOOL CALLBACK init_fn(PINIT_ONCE o, PVOID param, PVOID *ctx) {
    CHECK(o == &once);
    CHECK(param == (PVOID)target);
    InterlockedIncrement(&calls);
    Sleep(30); /* others arrive meanwhile and must wait */
    if (InterlockedExchange(&fail_next, 0)) return FALSE;
    *ctx = (PVOID)(target + 16); /* low two bits clear */
    return TRUE;
}

static volatile LONG agreed;

static DWORD WINAPI execute(LPVOID p) {
    (void)p;
    PVOID ctx = NULL;
    if (!InitOnceExecuteOnce(&once, init_fn, target, &ctx)) return 2;
    if (ctx == (PVOID)(target + 16)) InterlockedIncrement(&agreed);
    return 0;
}

static void test_execute_once(void) {
    CHECK(once.Ptr == NULL);
    /* A failing callback: FALSE, and the next call runs it again. */
    fail_next = 1;
    PVOID ctx = (PVOID)1;
    CHECK(!InitOnceExecuteOnce(&once, init_fn, target, &ctx));
    CHECK_EQ(calls, 1);
    /* Many threads at once: one call, everyone sees the context. */
    enum { N = 8 };
    HANDLE t[N];
    for (int i = 0; i < N; i++) t[i] = CreateThread(NULL, 0, execute, NULL, 0, NULL);
    CHECK_EQ(WaitForMultipleObjects(N, t, TRUE, 10000), WAIT_OBJECT_0);
    for (int i = 0; i < N; i++) {
        DWORD code = 9;
        CHECK(GetExitCodeThread(t[i], &code));
        CHECK_EQ(code, 0);
        CHECK(CloseHandle(t[i]));
    }
    CHECK_EQ(calls, 2);
    CHECK_EQ(agreed, N);
    CHECK(InitOnceExecuteOnce(&once, init_fn, target, &ctx));
    CHECK(ctx == (PVOID)(target + 16));
    CHECK_EQ(calls, 2);
    /* NULL context pointer is fine once done. */
    CHECK(InitOnceExecuteOnce(&once, init_fn, target, NULL));
}

static void test_begin_complete(void) {
    INIT_ONCE o;
    InitOnceInitialize(&o);
    CHECK(o.Ptr == NULL);
    BOOL pending = 7;
    PVOID ctx = NULL;
    /* Not done yet: CHECK_ONLY fails. */
    CHECK(!InitOnceBeginInitialize(&o, INIT_ONCE_CHECK_ONLY, &pending, &ctx));
    CHECK_ERR(ERROR_GEN_FAILURE);
    /* The caller initialises. */
    CHECK(InitOnceBeginInitialize(&o, 0, &pending, &ctx));
    CHECK_EQ(pending, TRUE);
    CHECK(!InitOnceBeginInitialize(&o, INIT_ONCE_CHECK_ONLY, &pending, &ctx));
    CHECK_ERR(ERROR_GEN_FAILURE);
    /* A context with reserved bits, a failure with a context: refused. */
    CHECK(!InitOnceComplete(&o, 0, (PVOID)(target + 1)));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!InitOnceComplete(&o, INIT_ONCE_INIT_FAILED, target));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    /* Failed: back to the start; the next caller initialises. */
    CHECK(InitOnceComplete(&o, INIT_ONCE_INIT_FAILED, NULL));
    pending = FALSE;
    CHECK(InitOnceBeginInitialize(&o, 0, &pending, &ctx));
    CHECK_EQ(pending, TRUE);
    CHECK(InitOnceComplete(&o, 0, target));
    /* Done: the context, not pending, also with CHECK_ONLY. */
    pending = TRUE;
    ctx = NULL;
    CHECK(InitOnceBeginInitialize(&o, 0, &pending, &ctx));
    CHECK_EQ(pending, FALSE);
    CHECK(ctx == (PVOID)target);
    pending = TRUE;
    ctx = NULL;
    CHECK(InitOnceBeginInitialize(&o, INIT_ONCE_CHECK_ONLY, &pending, &ctx));
    CHECK_EQ(pending, FALSE);
    CHECK(ctx == (PVOID)target);
    /* Completing again: nothing in progress. */
    CHECK(!InitOnceComplete(&o, 0, target));
    CHECK_ERR(ERROR_GEN_FAILURE);
    /* Bad flags. */
    CHECK(!InitOnceBeginInitialize(&o, INIT_ONCE_CHECK_ONLY | INIT_ONCE_ASYNC, &pending, &ctx));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!InitOnceBeginInitialize(&o, 0x100, &pending, &ctx));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!InitOnceBeginInitialize(&o, 0, NULL, &ctx));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
}

static void test_async(void) {
    INIT_ONCE o = INIT_ONCE_STATIC_INIT;
    BOOL p1 = FALSE, p2 = FALSE;
    PVOID ctx = NULL;
    /* Several asynchronous initialisations may run; the first to complete wins. */
    CHECK(InitOnceBeginInitialize(&o, INIT_ONCE_ASYNC, &p1, &ctx));
    CHECK(InitOnceBeginInitialize(&o, INIT_ONCE_ASYNC, &p2, &ctx));
    CHECK_EQ(p1, TRUE);
    CHECK_EQ(p2, TRUE);
    /* A synchronous caller on an asynchronous initialisation: refused. */
    CHECK(!InitOnceBeginInitialize(&o, 0, &p1, &ctx));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!InitOnceComplete(&o, 0, target));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    /* INIT_FAILED cannot be combined with ASYNC. */
    CHECK(!InitOnceComplete(&o, INIT_ONCE_ASYNC | INIT_ONCE_INIT_FAILED, NULL));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(InitOnceComplete(&o, INIT_ONCE_ASYNC, target + 32));
    CHECK(!InitOnceComplete(&o, INIT_ONCE_ASYNC, target + 48)); /* lost the race */
    CHECK(InitOnceBeginInitialize(&o, INIT_ONCE_ASYNC, &p1, &ctx));
    CHECK_EQ(p1, FALSE);
    CHECK(ctx == (PVOID)(target + 32));
    CHECK(InitOnceBeginInitialize(&o, 0, &p1, &ctx)); /* done: any mode reads it */
    CHECK_EQ(p1, FALSE);
    /* And the other way round: an asynchronous caller on a synchronous one. */
    INIT_ONCE s = INIT_ONCE_STATIC_INIT;
    CHECK(InitOnceBeginInitialize(&s, 0, &p1, &ctx));
    CHECK(!InitOnceBeginInitialize(&s, INIT_ONCE_ASYNC, &p2, &ctx));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!InitOnceComplete(&s, INIT_ONCE_ASYNC, target));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(InitOnceComplete(&s, 0, target));
}

/* ---- waiting for another thread's initialisation is a blocking section ---- */

static INIT_ONCE slow = INIT_ONCE_STATIC_INIT;

static void block_begin(void) {
    BOOL pending = TRUE;
    PVOID ctx = NULL;
    CHECK(InitOnceBeginInitialize(&slow, 0, &pending, &ctx)); /* main is initialising */
    CHECK_EQ(pending, FALSE);
    CHECK(ctx == (PVOID)target);
}

static void unblock_complete(void) { CHECK(InitOnceComplete(&slow, 0, target)); }

int main(void) {
    test_execute_once();
    test_begin_complete();
    test_async();
    BOOL pending = FALSE;
    CHECK(InitOnceBeginInitialize(&slow, 0, &pending, NULL));
    CHECK_EQ(pending, TRUE);
    check_wait_frees_slot("InitOnceBeginInitialize", block_begin, unblock_complete);
    printf("initonce: ok\n");
    return 0;
}
