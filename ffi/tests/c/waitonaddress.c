/* WaitOnAddress / WakeByAddressSingle / WakeByAddressAll: a different value
 * returns at once, timeouts (FALSE + ERROR_TIMEOUT), sizes 1, 2, 4, 8 and
 * refused sizes, single and all wake-ups, a counter handed between threads,
 * and the wait as a blocking section of the port. */
#include <windows.h>
#include "check.h"
#include "slot.h"

static volatile LONG word;

static void test_immediate_and_timeout(void) {
    LONG other = 5;
    word = 1;
    CHECK(WaitOnAddress(&word, &other, sizeof(LONG), INFINITE)); /* differs: at once */
    LONG same = 1;
    SetLastError(0);
    long long t0 = now_ms();
    CHECK(!WaitOnAddress(&word, &same, sizeof(LONG), 50));
    CHECK_ERR(ERROR_TIMEOUT);
    CHECK(now_ms() - t0 >= 45);
    CHECK(!WaitOnAddress(&word, &same, sizeof(LONG), 0));
    CHECK_ERR(ERROR_TIMEOUT);
    /* Sizes. */
    volatile BYTE b = 7;
    BYTE b7 = 7, b8 = 8;
    CHECK(WaitOnAddress(&b, &b8, 1, 0));
    CHECK(!WaitOnAddress(&b, &b7, 1, 0));
    CHECK_ERR(ERROR_TIMEOUT);
    volatile WORD w = 0x1234;
    WORD w1 = 0x1234, w2 = 0x1235;
    CHECK(WaitOnAddress(&w, &w2, 2, 0));
    CHECK(!WaitOnAddress(&w, &w1, 2, 0));
    volatile ULONGLONG q = 0x100000000ULL;
    ULONGLONG q0 = 0, q1 = 0x100000000ULL;
    CHECK(WaitOnAddress(&q, &q0, 8, 0)); /* differs only in the high half */
    CHECK(!WaitOnAddress(&q, &q1, 8, 0));
    /* Refused sizes and pointers. */
    CHECK(!WaitOnAddress(&word, &same, 3, 0));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!WaitOnAddress(&word, &same, 16, 0));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!WaitOnAddress(NULL, &same, 4, 0));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    /* Waking an address nobody waits on is harmless. */
    WakeByAddressSingle((PVOID)&word);
    WakeByAddressAll((PVOID)&word);
}

/* ---- wake-ups ---- */

static volatile LONG flag;
static volatile LONG returned;

static DWORD WINAPI wait_flag(LPVOID p) {
    (void)p;
    LONG zero = 0;
    while (flag == 0) CHECK(WaitOnAddress(&flag, &zero, sizeof(LONG), 10000));
    InterlockedIncrement(&returned);
    return 0;
}

static void test_wake(void) {
    enum { N = 3 };
    HANDLE t[N];
    /* Single. */
    flag = 0;
    returned = 0;
    t[0] = CreateThread(NULL, 0, wait_flag, NULL, 0, NULL);
    Sleep(30);
    CHECK_EQ(returned, 0);
    InterlockedExchange(&flag, 1);
    WakeByAddressSingle((PVOID)&flag);
    CHECK_EQ(WaitForSingleObject(t[0], 5000), WAIT_OBJECT_0);
    CHECK(CloseHandle(t[0]));
    /* All. */
    flag = 0;
    returned = 0;
    for (int i = 0; i < N; i++) t[i] = CreateThread(NULL, 0, wait_flag, NULL, 0, NULL);
    Sleep(30);
    CHECK_EQ(returned, 0);
    InterlockedExchange(&flag, 1);
    WakeByAddressAll((PVOID)&flag);
    CHECK_EQ(WaitForMultipleObjects(N, t, TRUE, 5000), WAIT_OBJECT_0);
    for (int i = 0; i < N; i++) CHECK(CloseHandle(t[i]));
    CHECK_EQ(returned, N);
}

/* A turn counter passed back and forth: no wake-up is lost. */
enum { TURNS = 2000 };
static volatile LONG turn;

static DWORD WINAPI ping(LPVOID p) {
    LONG me = (LONG)(ULONG_PTR)p;
    for (;;) {
        LONG t = turn;
        if (t >= TURNS) return 0;
        if (t % 2 != me) {
            CHECK(WaitOnAddress(&turn, &t, sizeof(LONG), 10000));
            continue;
        }
        InterlockedIncrement(&turn);
        WakeByAddressSingle((PVOID)&turn);
    }
}

static void test_ping_pong(void) {
    HANDLE t[2];
    for (int i = 0; i < 2; i++) t[i] = CreateThread(NULL, 0, ping, (LPVOID)(ULONG_PTR)i, 0, NULL);
    CHECK_EQ(WaitForMultipleObjects(2, t, TRUE, 30000), WAIT_OBJECT_0);
    for (int i = 0; i < 2; i++) CHECK(CloseHandle(t[i]));
    CHECK_EQ(turn, TURNS);
}

/* ---- blocking sections ---- */

static volatile LONG gate;

static void block_wait(void) {
    LONG zero = 0;
    while (gate == 0) CHECK(WaitOnAddress(&gate, &zero, sizeof(LONG), INFINITE));
}

static void unblock_wake(void) {
    InterlockedExchange(&gate, 1);
    WakeByAddressAll((PVOID)&gate);
}

int main(void) {
    test_immediate_and_timeout();
    test_wake();
    test_ping_pong();
    check_wait_frees_slot("WaitOnAddress", block_wait, unblock_wake);
    printf("waitonaddress: ok\n");
    return 0;
}
