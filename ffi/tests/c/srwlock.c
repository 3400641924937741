/* Slim reader/writer locks: exclusive and shared modes, TryAcquire from other
 * threads, SRWLOCK_INIT, a waiting writer going before new readers, readers
 * and writers under contention (every write survives, readers never see a
 * half-done write), and contended acquires
 * (exclusive and shared) as blocking sections of the port. */
#include <windows.h>
#include "check.h"
#include "slot.h"

static SRWLOCK lock = SRWLOCK_INIT;

static void test_modes(void) {
    CHECK(lock.Ptr == NULL);
    /* Exclusive: nobody else gets it in either mode. */
    AcquireSRWLockExclusive(&lock);
    CHECK_EQ(run_on_thread(srw_try_exclusive, &lock), 0);
    CHECK_EQ(run_on_thread(srw_try_shared, &lock), 0);
    CHECK(!TryAcquireSRWLockExclusive(&lock)); /* not recursive */
    ReleaseSRWLockExclusive(&lock);
    CHECK_EQ(run_on_thread(srw_try_exclusive, &lock), 1);
    /* Shared: other readers get in, writers do not. */
    AcquireSRWLockShared(&lock);
    CHECK(TryAcquireSRWLockShared(&lock));
    CHECK_EQ(run_on_thread(srw_try_shared, &lock), 1);
    CHECK_EQ(run_on_thread(srw_try_exclusive, &lock), 0);
    ReleaseSRWLockShared(&lock);
    CHECK_EQ(run_on_thread(srw_try_exclusive, &lock), 0); /* one reader left */
    ReleaseSRWLockShared(&lock);
    CHECK_EQ(run_on_thread(srw_try_exclusive, &lock), 1);
    CHECK(TryAcquireSRWLockExclusive(&lock));
    ReleaseSRWLockExclusive(&lock);
    /* InitializeSRWLock gives a free lock. */
    SRWLOCK other;
    memset(&other, 0xAB, sizeof other);
    InitializeSRWLock(&other);
    CHECK(other.Ptr == NULL);
    CHECK(TryAcquireSRWLockShared(&other));
    ReleaseSRWLockShared(&other);
}

/* ---- a waiting writer goes before new readers ---- */

static volatile LONG writer_in;

static DWORD WINAPI wants_exclusive(LPVOID p) {
    (void)p;
    AcquireSRWLockExclusive(&lock);
    InterlockedExchange(&writer_in, 1);
    ReleaseSRWLockExclusive(&lock);
    return 0;
}

static void test_writer_not_starved(void) {
    AcquireSRWLockShared(&lock);
    HANDLE w = CreateThread(NULL, 0, wants_exclusive, NULL, 0, NULL);
    CHECK(w != NULL);
    /* Once the writer sleeps, new readers wait behind it. */
    long long deadline = now_ms() + 5000;
    while (run_on_thread(srw_try_shared, &lock) == 1 && now_ms() < deadline) Sleep(2);
    CHECK_EQ(run_on_thread(srw_try_shared, &lock), 0);
    CHECK_EQ(writer_in, 0);
    ReleaseSRWLockShared(&lock);
    CHECK_EQ(WaitForSingleObject(w, 5000), WAIT_OBJECT_0);
    CHECK(CloseHandle(w));
    CHECK_EQ(writer_in, 1);
    CHECK_EQ(run_on_thread(srw_try_shared, &lock), 1);
    CHECK(lock.Ptr == NULL);
}

/* ---- contention ---- */

enum { WRITERS = 3, READERS = 3, ROUNDS = 20000 };
static volatile long a, b;
static volatile LONG torn;
static volatile LONG writers_done;

static DWORD WINAPI writer(LPVOID p) {
    (void)p;
    for (int i = 0; i < ROUNDS; i++) {
        AcquireSRWLockExclusive(&lock);
        long v = a;
        a = v + 1;
        b = v + 1;
        ReleaseSRWLockExclusive(&lock);
    }
    InterlockedIncrement(&writers_done);
    return 0;
}

static DWORD WINAPI reader(LPVOID p) {
    (void)p;
    long reads = 0;
    while (writers_done < WRITERS || reads < 100) {
        AcquireSRWLockShared(&lock);
        if (a != b) InterlockedIncrement(&torn);
        ReleaseSRWLockShared(&lock);
        reads++;
    }
    return 0;
}

static void test_contention(void) {
    HANDLE t[WRITERS + READERS];
    for (int i = 0; i < WRITERS; i++) t[i] = CreateThread(NULL, 0, writer, NULL, 0, NULL);
    for (int i = 0; i < READERS; i++) t[WRITERS + i] = CreateThread(NULL, 0, reader, NULL, 0, NULL);
    CHECK_EQ(WaitForMultipleObjects(WRITERS + READERS, t, TRUE, 60000), WAIT_OBJECT_0);
    for (int i = 0; i < WRITERS + READERS; i++) CHECK(CloseHandle(t[i]));
    CHECK_EQ(a, WRITERS * ROUNDS);
    CHECK_EQ(b, WRITERS * ROUNDS);
    CHECK_EQ(torn, 0);
    CHECK(lock.Ptr == NULL); /* free, nobody marked as waiting */
}

/* ---- blocking sections ---- */

static SRWLOCK held = SRWLOCK_INIT;

static void block_exclusive(void) {
    AcquireSRWLockExclusive(&held); /* main holds it */
    ReleaseSRWLockExclusive(&held);
}

static void block_shared(void) {
    AcquireSRWLockShared(&held); /* main holds it exclusively */
    ReleaseSRWLockShared(&held);
}

static void unblock(void) { ReleaseSRWLockExclusive(&held); }

int main(void) {
    test_modes();
    test_writer_not_starved();
    test_contention();
    AcquireSRWLockExclusive(&held);
    check_wait_frees_slot("AcquireSRWLockExclusive", block_exclusive, unblock);
    AcquireSRWLockExclusive(&held);
    check_wait_frees_slot("AcquireSRWLockShared", block_shared, unblock);
    printf("srwlock: ok\n");
    return 0;
}
