/* Semaphores: counts and waits (each wait takes one), ReleaseSemaphore's
 * previous count and ERROR_TOO_MANY_POSTS, bad parameters, names
 * (OpenSemaphore), the handle's type checks, wait-all taking all or nothing, timeouts, many threads, and
 * a semaphore wait as a blocking section of the port. */
#include <windows.h>
#include "check.h"
#include "slot.h"

static void test_counts(void) {
    HANDLE s = CreateSemaphoreA(NULL, 2, 3, NULL);
    CHECK(s != NULL);
    CHECK_EQ(WaitForSingleObject(s, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(s, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(s, 0), WAIT_TIMEOUT);
    long long t0 = now_ms();
    CHECK_EQ(WaitForSingleObject(s, 50), WAIT_TIMEOUT);
    CHECK(now_ms() - t0 >= 45);
    LONG prev = -1;
    CHECK(ReleaseSemaphore(s, 1, &prev));
    CHECK_EQ(prev, 0);
    CHECK(ReleaseSemaphore(s, 2, &prev));
    CHECK_EQ(prev, 1);
    /* At the maximum (3): one more is too many, and nothing changes. */
    prev = 77;
    CHECK(!ReleaseSemaphore(s, 1, &prev));
    CHECK_ERR(ERROR_TOO_MANY_POSTS);
    CHECK_EQ(ERROR_TOO_MANY_POSTS, 298);
    CHECK_EQ(prev, 77);
    CHECK(!ReleaseSemaphore(s, 0x7FFFFFFF, NULL));
    CHECK_ERR(ERROR_TOO_MANY_POSTS);
    for (int i = 0; i < 3; i++) CHECK_EQ(WaitForSingleObject(s, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(s, 0), WAIT_TIMEOUT);
    CHECK(ReleaseSemaphore(s, 3, NULL));
    /* Bad counts. */
    CHECK(!ReleaseSemaphore(s, 0, &prev));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!ReleaseSemaphore(s, -1, &prev));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(CloseHandle(s));
    CHECK(!ReleaseSemaphore(s, 1, NULL)); /* closed */
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!CloseHandle(s));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK_EQ(WaitForSingleObject(s, 0), WAIT_FAILED);
    CHECK_ERR(ERROR_INVALID_HANDLE);
}

static void test_create_variants(void) {
    CHECK(CreateSemaphoreA(NULL, -1, 1, NULL) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(CreateSemaphoreA(NULL, 2, 1, NULL) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(CreateSemaphoreA(NULL, 0, 0, NULL) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(CreateSemaphoreExA(NULL, 0, 1, NULL, 1, SEMAPHORE_ALL_ACCESS) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    HANDLE w = CreateSemaphoreW(NULL, 1, 1, L"ignored");
    HANDLE x = CreateSemaphoreExW(NULL, 0, 5, NULL, 0, SEMAPHORE_ALL_ACCESS);
    HANDLE y = CreateSemaphoreExA(NULL, 5, 5, "named", 0, SYNCHRONIZE | SEMAPHORE_MODIFY_STATE);
    HANDLE z = CreateSemaphore(NULL, 0, 1, NULL);
    CHECK(w && x && y && z);
    CHECK_EQ(WaitForSingleObject(w, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(x, 0), WAIT_TIMEOUT);
    CHECK_EQ(WaitForSingleObject(y, 0), WAIT_OBJECT_0);
    LONG prev = 0;
    CHECK(ReleaseSemaphore(y, 1, &prev));
    CHECK_EQ(prev, 4);
    /* Wrong handle types. */
    HANDLE ev = CreateEvent(NULL, TRUE, TRUE, NULL);
    CHECK(!ReleaseSemaphore(ev, 1, NULL));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!SetEvent(w));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!ReleaseSemaphore(NULL, 1, NULL));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(ev));
    CHECK(CloseHandle(w));
    CHECK(CloseHandle(x));
    CHECK(CloseHandle(y));
    CHECK(CloseHandle(z));
}

static void test_names(void) {
    CHECK(OpenSemaphoreA(SEMAPHORE_ALL_ACCESS, FALSE, "cport-sem") == NULL);
    CHECK_ERR(ERROR_FILE_NOT_FOUND);
    SetLastError(1234);
    HANDLE a = CreateSemaphoreA(NULL, 1, 5, "cport-sem");
    CHECK(a != NULL);
    CHECK_ERR(0);
    /* The same name: the same semaphore (the counts are ignored). */
    HANDLE b = CreateSemaphoreA(NULL, 0, 1, "cport-sem");
    CHECK(b != NULL && b != a);
    CHECK_ERR(ERROR_ALREADY_EXISTS);
    HANDLE c = OpenSemaphoreA(SYNCHRONIZE, FALSE, "cport-sem");
    CHECK(c != NULL);
    HANDLE d = OpenSemaphoreW(SEMAPHORE_ALL_ACCESS, FALSE, L"cport-sem");
    CHECK(d != NULL);
    CHECK_EQ(WaitForSingleObject(c, 0), WAIT_OBJECT_0); /* takes a's unit */
    CHECK_EQ(WaitForSingleObject(a, 0), WAIT_TIMEOUT);
    LONG prev = -1;
    CHECK(ReleaseSemaphore(b, 5, &prev));
    CHECK_EQ(prev, 0);
    CHECK(!ReleaseSemaphore(d, 1, NULL)); /* max 5, from the first create */
    CHECK_ERR(ERROR_TOO_MANY_POSTS);
    /* Case matters; another kind's name is refused. */
    CHECK(OpenSemaphoreA(SYNCHRONIZE, FALSE, "CPORT-SEM") == NULL);
    CHECK_ERR(ERROR_FILE_NOT_FOUND);
    HANDLE m = CreateMutexA(NULL, FALSE, "cport-mutex-name");
    CHECK(m != NULL);
    CHECK(CreateSemaphoreA(NULL, 0, 1, "cport-mutex-name") == NULL);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(OpenSemaphoreA(SYNCHRONIZE, FALSE, "cport-mutex-name") == NULL);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(OpenSemaphoreA(SYNCHRONIZE, FALSE, NULL) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(CloseHandle(m));
    /* The name lives while a handle is open. */
    CHECK(CloseHandle(a));
    CHECK(CloseHandle(b));
    CHECK(CloseHandle(c));
    HANDLE e = OpenSemaphoreA(SYNCHRONIZE, FALSE, "cport-sem"); /* d is still open */
    CHECK(e != NULL);
    CHECK(CloseHandle(e));
    CHECK(CloseHandle(d));
    CHECK(OpenSemaphoreA(SYNCHRONIZE, FALSE, "cport-sem") == NULL); /* all closed: gone */
    CHECK_ERR(ERROR_FILE_NOT_FOUND);
    a = CreateSemaphoreA(NULL, 0, 1, "cport-sem"); /* a new one, afresh */
    CHECK(a != NULL);
    CHECK_ERR(0);
    CHECK_EQ(WaitForSingleObject(a, 0), WAIT_TIMEOUT);
    CHECK(CloseHandle(a));
}

static void test_wait_multiple(void) {
    HANDLE s = CreateSemaphoreA(NULL, 1, 10, NULL);
    HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    HANDLE both[2] = {ev, s};
    /* Wait-any: the semaphore (index 1), taking its unit. */
    CHECK_EQ(WaitForMultipleObjects(2, both, FALSE, 0), WAIT_OBJECT_0 + 1);
    CHECK_EQ(WaitForSingleObject(s, 0), WAIT_TIMEOUT);
    CHECK(ReleaseSemaphore(s, 1, NULL));
    /* Wait-all with the event unset: times out and takes nothing. */
    CHECK_EQ(WaitForMultipleObjects(2, both, TRUE, 30), WAIT_TIMEOUT);
    CHECK_EQ(WaitForSingleObject(s, 0), WAIT_OBJECT_0);
    CHECK(ReleaseSemaphore(s, 1, NULL));
    CHECK(SetEvent(ev));
    CHECK_EQ(WaitForMultipleObjects(2, both, TRUE, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(s, 0), WAIT_TIMEOUT); /* taken by the wait-all */
    CHECK(CloseHandle(ev));
    CHECK(CloseHandle(s));
}

/* ---- many threads: every unit is taken exactly once ---- */

enum { CONSUMERS = 4, UNITS = 4000 };
static HANDLE work;
static volatile LONG taken;

static DWORD WINAPI take_units(LPVOID p) {
    (void)p;
    for (;;) {
        CHECK_EQ(WaitForSingleObject(work, 10000), WAIT_OBJECT_0);
        if (InterlockedIncrement(&taken) > UNITS) return 0; /* a stop unit */
    }
}

static void test_threads(void) {
    work = CreateSemaphoreA(NULL, 0, UNITS + CONSUMERS, NULL);
    CHECK(work != NULL);
    HANDLE t[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) t[i] = CreateThread(NULL, 0, take_units, NULL, 0, NULL);
    for (int i = 0; i < UNITS; i += 10) CHECK(ReleaseSemaphore(work, 10, NULL));
    long long deadline = now_ms() + 20000;
    while (taken < UNITS && now_ms() < deadline) Sleep(1);
    CHECK_EQ(taken, UNITS);
    CHECK(ReleaseSemaphore(work, CONSUMERS, NULL)); /* one stop unit each */
    CHECK_EQ(WaitForMultipleObjects(CONSUMERS, t, TRUE, 10000), WAIT_OBJECT_0);
    for (int i = 0; i < CONSUMERS; i++) CHECK(CloseHandle(t[i]));
    CHECK_EQ(taken, UNITS + CONSUMERS);
    CHECK_EQ(WaitForSingleObject(work, 0), WAIT_TIMEOUT);
    CHECK(CloseHandle(work));
}

/* ---- blocking sections ---- */

static HANDLE gate;

static void block_wait(void) { CHECK_EQ(WaitForSingleObject(gate, INFINITE), WAIT_OBJECT_0); }
static void unblock_release(void) { CHECK(ReleaseSemaphore(gate, 1, NULL)); }

int main(void) {
    DWORD before = 0;
    CHECK(GetProcessHandleCount(GetCurrentProcess(), &before));
    test_counts();
    test_create_variants();
    test_names();
    test_wait_multiple();
    test_threads();
    gate = CreateSemaphoreA(NULL, 0, 1, NULL);
    check_wait_frees_slot("WaitForSingleObject on a semaphore", block_wait, unblock_release);
    CHECK(CloseHandle(gate));
    DWORD after = 0;
    CHECK(GetProcessHandleCount(GetCurrentProcess(), &after));
    CHECK_EQ(after, before); /* every semaphore handle was closed */
    printf("semaphore: ok\n");
    return 0;
}
