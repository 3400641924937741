/* Shared by the synchronisation tests: a worker of a completion port that
 * blocks in a wait must free its concurrency slot for another worker.
 *
 * A port with a concurrency limit of 1 and two workers. Packet 1 makes the
 * worker that takes it call `block()` (which waits until the main thread
 * calls `unblock()`); packet 2 only sets a flag. With the limit of 1, the
 * second worker gets packet 2 only if the first one, blocked in its wait,
 * no longer counts as running. Packets 0 stop the workers. */
#ifndef CPORT_TEST_SLOT_H
#define CPORT_TEST_SLOT_H
#include <windows.h>
#include "check.h"

static HANDLE slot_port;
static void (*slot_block)(void);
static volatile LONG slot_second_got;
static volatile LONG slot_blocked_returned;

static DWORD WINAPI slot_worker(LPVOID p) {
    (void)p;
    DWORD bytes;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    for (;;) {
        CHECK(GetQueuedCompletionStatus(slot_port, &bytes, &key, &ov, 10000));
        if (key == 0) return 0;
        if (key == 1) {
            slot_block();
            InterlockedExchange(&slot_blocked_returned, 1);
        } else if (key == 2) {
            InterlockedExchange(&slot_second_got, 1);
        }
    }
}

/* `what` names the wait in the failure message. */
static inline void check_wait_frees_slot(const char *what, void (*block)(void), void (*unblock)(void)) {
    slot_block = block;
    slot_second_got = 0;
    slot_blocked_returned = 0;
    slot_port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    CHECK(slot_port != NULL);
    HANDLE w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = CreateThread(NULL, 0, slot_worker, NULL, 0, NULL);
        CHECK(w[i] != NULL);
    }
    CHECK(PostQueuedCompletionStatus(slot_port, 0, 1, NULL));
    CHECK(PostQueuedCompletionStatus(slot_port, 0, 2, NULL));
    long long deadline = now_ms() + 5000;
    while (!slot_second_got && now_ms() < deadline) Sleep(5);
    if (!slot_second_got)
        fprintf(stderr, "a worker blocked in %s still counts against the port\n", what);
    CHECK_EQ(slot_second_got, 1);
    CHECK_EQ(slot_blocked_returned, 0); /* it really was blocked */
    unblock();
    deadline = now_ms() + 5000;
    while (!slot_blocked_returned && now_ms() < deadline) Sleep(5);
    CHECK_EQ(slot_blocked_returned, 1);
    CHECK(PostQueuedCompletionStatus(slot_port, 0, 0, NULL));
    CHECK(PostQueuedCompletionStatus(slot_port, 0, 0, NULL));
    CHECK_EQ(WaitForMultipleObjects(2, w, TRUE, 5000), WAIT_OBJECT_0);
    for (int i = 0; i < 2; i++) CHECK(CloseHandle(w[i]));
    CHECK(CloseHandle(slot_port));
}

/* Runs `f(param)` on a new thread and returns its exit code. */
static inline DWORD run_on_thread(LPTHREAD_START_ROUTINE f, LPVOID param) {
    HANDLE t = CreateThread(NULL, 0, f, param, 0, NULL);
    CHECK(t != NULL);
    CHECK_EQ(WaitForSingleObject(t, 10000), WAIT_OBJECT_0);
    DWORD code = 99;
    CHECK(GetExitCodeThread(t, &code));
    CHECK(CloseHandle(t));
    return code;
}

/* Thread bodies for `run_on_thread(f, &lock)`: 1 if another thread can take
 * the SRW lock `p` in that mode (and gives it back), else 0. */
static inline DWORD WINAPI srw_try_exclusive(LPVOID p) {
    if (!TryAcquireSRWLockExclusive((PSRWLOCK)p)) return 0;
    ReleaseSRWLockExclusive((PSRWLOCK)p);
    return 1;
}

static inline DWORD WINAPI srw_try_shared(LPVOID p) {
    if (!TryAcquireSRWLockShared((PSRWLOCK)p)) return 0;
    ReleaseSRWLockShared((PSRWLOCK)p);
    return 1;
}

#endif
