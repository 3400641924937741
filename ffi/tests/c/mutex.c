/* Mutexes: initial owner, recursion, ReleaseMutex by a non-owner
 * (ERROR_NOT_OWNER), waits from other threads, abandonment when the owner
 * exits (WAIT_ABANDONED, also to a thread already waiting and through
 * WaitForMultipleObjects), CreateMutexEx flags, names (OpenMutex), contention, and a mutex wait
 * as a blocking section of the port. */
#include <windows.h>
#include "check.h"
#include "slot.h"

static HANDLE m;

static DWORD WINAPI try_take(LPVOID p) {
    (void)p;
    DWORD r = WaitForSingleObject(m, 0);
    if (r == WAIT_OBJECT_0) CHECK(ReleaseMutex(m));
    return r;
}

static DWORD WINAPI release_not_owned(LPVOID p) {
    (void)p;
    if (ReleaseMutex(m)) return 0;
    return GetLastError();
}

static void test_ownership(void) {
    m = CreateMutexA(NULL, TRUE, NULL);
    CHECK(m != NULL);
    /* Owned by the creator; waits by the owner nest. */
    CHECK_EQ(WaitForSingleObject(m, 0), WAIT_OBJECT_0);
    CHECK_EQ(run_on_thread(try_take, NULL), WAIT_TIMEOUT);
    CHECK_EQ(run_on_thread(release_not_owned, NULL), ERROR_NOT_OWNER);
    CHECK(ReleaseMutex(m));
    CHECK_EQ(run_on_thread(try_take, NULL), WAIT_TIMEOUT); /* still held once */
    CHECK(ReleaseMutex(m));
    CHECK_EQ(run_on_thread(try_take, NULL), WAIT_OBJECT_0);
    /* Free: releasing is an error. */
    CHECK(!ReleaseMutex(m));
    CHECK_ERR(ERROR_NOT_OWNER);
    CHECK_EQ(ERROR_NOT_OWNER, 288);
    /* Wrong types. */
    HANDLE s = CreateSemaphoreA(NULL, 1, 1, NULL);
    CHECK(!ReleaseMutex(s));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!ReleaseSemaphore(m, 1, NULL));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(s));
    CHECK(CloseHandle(m));
    CHECK(!ReleaseMutex(m));
    CHECK_ERR(ERROR_INVALID_HANDLE);

    /* Not initially owned; Ex forms. */
    m = CreateMutexW(NULL, FALSE, L"ignored");
    CHECK(m != NULL);
    CHECK_EQ(run_on_thread(try_take, NULL), WAIT_OBJECT_0);
    CHECK(CloseHandle(m));
    m = CreateMutexExA(NULL, NULL, CREATE_MUTEX_INITIAL_OWNER, MUTEX_ALL_ACCESS);
    CHECK(m != NULL);
    CHECK_EQ(run_on_thread(try_take, NULL), WAIT_TIMEOUT);
    CHECK(ReleaseMutex(m));
    CHECK(CloseHandle(m));
    m = CreateMutexExW(NULL, NULL, 0, SYNCHRONIZE | MUTEX_MODIFY_STATE);
    CHECK(m != NULL);
    CHECK(!ReleaseMutex(m));
    CHECK_ERR(ERROR_NOT_OWNER);
    CHECK(CloseHandle(m));
    CHECK(CreateMutexExA(NULL, NULL, 2, MUTEX_ALL_ACCESS) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);
}

/* ---- names ---- */

static DWORD WINAPI open_and_try(LPVOID p) {
    HANDLE h = OpenMutexA(SYNCHRONIZE, FALSE, (LPCSTR)p);
    if (h == NULL) return 1000 + GetLastError();
    DWORD r = WaitForSingleObject(h, 0);
    if (r == WAIT_OBJECT_0) CHECK(ReleaseMutex(h));
    CHECK(CloseHandle(h));
    return r;
}

static void test_names(void) {
    CHECK(OpenMutexA(SYNCHRONIZE, FALSE, "cport-mutex") == NULL);
    CHECK_ERR(ERROR_FILE_NOT_FOUND);
    SetLastError(1234);
    HANDLE a = CreateMutexA(NULL, TRUE, "cport-mutex");
    CHECK(a != NULL);
    CHECK_ERR(0);
    /* Owned by this thread: another thread opening it by name cannot take it. */
    CHECK_EQ(run_on_thread(open_and_try, (LPVOID) "cport-mutex"), WAIT_TIMEOUT);
    /* The same name again: the same mutex, bInitialOwner ignored. */
    HANDLE b = CreateMutexW(NULL, TRUE, L"cport-mutex");
    CHECK(b != NULL);
    CHECK_ERR(ERROR_ALREADY_EXISTS);
    CHECK(ReleaseMutex(b)); /* releases a's ownership: one level only */
    CHECK(!ReleaseMutex(a));
    CHECK_ERR(ERROR_NOT_OWNER);
    CHECK_EQ(run_on_thread(open_and_try, (LPVOID) "cport-mutex"), WAIT_OBJECT_0);
    HANDLE w = OpenMutexW(MUTEX_ALL_ACCESS, FALSE, L"cport-mutex");
    CHECK(w != NULL);
    CHECK(CloseHandle(w));
    /* Another kind's name. */
    HANDLE s = CreateSemaphoreA(NULL, 0, 1, "cport-sem-name");
    CHECK(CreateMutexA(NULL, FALSE, "cport-sem-name") == NULL);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(OpenMutexA(SYNCHRONIZE, FALSE, "cport-sem-name") == NULL);
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(s));
    CHECK(CloseHandle(a));
    CHECK(CloseHandle(b));
    CHECK_EQ(run_on_thread(open_and_try, (LPVOID) "cport-mutex"), 1000 + ERROR_FILE_NOT_FOUND);
}

/* ---- abandonment ---- */

static DWORD WINAPI take_and_exit(LPVOID p) {
    (void)p;
    CHECK_EQ(WaitForSingleObject(m, 0), WAIT_OBJECT_0);
    CHECK_EQ(WaitForSingleObject(m, 0), WAIT_OBJECT_0); /* twice: depth 2 */
    return 0;                                          /* exits holding it */
}

static HANDLE holding, let_go;

static DWORD WINAPI hold_until_told(LPVOID p) {
    (void)p;
    CHECK_EQ(WaitForSingleObject(m, 0), WAIT_OBJECT_0);
    CHECK(SetEvent(holding));
    CHECK_EQ(WaitForSingleObject(let_go, 10000), WAIT_OBJECT_0);
    return 0;
}

static DWORD WINAPI wait_for_it(LPVOID p) {
    (void)p;
    DWORD r = WaitForSingleObject(m, 10000);
    if (r == WAIT_ABANDONED) CHECK(ReleaseMutex(m)); /* the waiter owns it */
    return r;
}

static void test_abandoned(void) {
    m = CreateMutexA(NULL, FALSE, NULL);
    HANDLE t = CreateThread(NULL, 0, take_and_exit, NULL, 0, NULL);
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CHECK(CloseHandle(t));
    /* The next wait gets it, abandoned, and owns it (once). */
    CHECK_EQ(WaitForSingleObject(m, 0), WAIT_ABANDONED);
    CHECK_EQ(WAIT_ABANDONED, 0x80);
    CHECK_EQ(run_on_thread(try_take, NULL), WAIT_TIMEOUT);
    CHECK(ReleaseMutex(m));
    CHECK(!ReleaseMutex(m));
    CHECK_ERR(ERROR_NOT_OWNER);
    /* Only once: the next wait is a normal one. */
    CHECK_EQ(WaitForSingleObject(m, 0), WAIT_OBJECT_0);
    CHECK(ReleaseMutex(m));

    /* A thread already waiting when the owner exits gets WAIT_ABANDONED. */
    holding = CreateEvent(NULL, TRUE, FALSE, NULL);
    let_go = CreateEvent(NULL, TRUE, FALSE, NULL);
    HANDLE owner = CreateThread(NULL, 0, hold_until_told, NULL, 0, NULL);
    CHECK_EQ(WaitForSingleObject(holding, 5000), WAIT_OBJECT_0);
    HANDLE waiter = CreateThread(NULL, 0, wait_for_it, NULL, 0, NULL);
    Sleep(30);
    CHECK(SetEvent(let_go));
    CHECK_EQ(WaitForSingleObject(waiter, 10000), WAIT_OBJECT_0);
    DWORD code = 0;
    CHECK(GetExitCodeThread(waiter, &code));
    CHECK_EQ(code, WAIT_ABANDONED);
    CHECK_EQ(WaitForSingleObject(owner, 5000), WAIT_OBJECT_0);
    CHECK(CloseHandle(owner));
    CHECK(CloseHandle(waiter));

    /* Through WaitForMultipleObjects: WAIT_ABANDONED_0 + its index. */
    t = CreateThread(NULL, 0, take_and_exit, NULL, 0, NULL);
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CHECK(CloseHandle(t));
    HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    HANDLE hs[2] = {ev, m};
    CHECK_EQ(WaitForMultipleObjects(2, hs, FALSE, 1000), WAIT_ABANDONED_0 + 1);
    CHECK(ReleaseMutex(m));
    /* Wait-all with an abandoned mutex: all taken, WAIT_ABANDONED_0 + its index. */
    t = CreateThread(NULL, 0, take_and_exit, NULL, 0, NULL);
    CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
    CHECK(CloseHandle(t));
    CHECK(SetEvent(ev));
    CHECK_EQ(WaitForMultipleObjects(2, hs, TRUE, 1000), WAIT_ABANDONED_0 + 1);
    CHECK(ReleaseMutex(m));
    CHECK(CloseHandle(ev));
    CHECK(CloseHandle(holding));
    CHECK(CloseHandle(let_go));
    CHECK(CloseHandle(m));
}

/* ---- contention ---- */

enum { THREADS = 4, ROUNDS = 3000 };
static volatile long counter;

static DWORD WINAPI hammer(LPVOID p) {
    (void)p;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK_EQ(WaitForSingleObject(m, 10000), WAIT_OBJECT_0);
        long v = counter;
        counter = v + 1;
        CHECK(ReleaseMutex(m));
    }
    return 0;
}

static void test_contention(void) {
    m = CreateMutexA(NULL, FALSE, NULL);
    HANDLE t[THREADS];
    for (int i = 0; i < THREADS; i++) t[i] = CreateThread(NULL, 0, hammer, NULL, 0, NULL);
    CHECK_EQ(WaitForMultipleObjects(THREADS, t, TRUE, 60000), WAIT_OBJECT_0);
    for (int i = 0; i < THREADS; i++) CHECK(CloseHandle(t[i]));
    CHECK_EQ(counter, THREADS * ROUNDS);
    CHECK(CloseHandle(m));
}

/* ---- blocking sections ---- */

static void block_wait(void) {
    CHECK_EQ(WaitForSingleObject(m, INFINITE), WAIT_OBJECT_0);
    CHECK(ReleaseMutex(m));
}
static void unblock_release(void) { CHECK(ReleaseMutex(m)); }

int main(void) {
    test_ownership();
    test_names();
    test_abandoned();
    test_contention();
    m = CreateMutexA(NULL, TRUE, NULL);
    check_wait_frees_slot("WaitForSingleObject on a mutex", block_wait, unblock_release);
    CHECK(CloseHandle(m));
    printf("mutex: ok\n");
    return 0;
}
