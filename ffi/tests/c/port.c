/* The completion port: the GQCS / GQCSEx / PQCS return matrix, LIFO release,
 * the concurrency limit with Sleep as a blocking section, close waking
 * waiters with 735 and discarding queued packets, and the handle rules. */
#include <windows.h>
#include <pthread.h>
#include <stdint.h>
#include "check.h"

/* ---------- LIFO release ---------- */
static HANDLE lifo_port;
static volatile int lifo_got[3]; /* thread index → order in which it got a packet (1-based) */
static volatile int lifo_order;
static pthread_mutex_t lifo_mu = PTHREAD_MUTEX_INITIALIZER;

static void *lifo_worker(void *arg) {
    int me = (int)(intptr_t)arg;
    DWORD bytes;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    CHECK(GetQueuedCompletionStatus(lifo_port, &bytes, &key, &ov, 10000));
    pthread_mutex_lock(&lifo_mu);
    lifo_got[me] = ++lifo_order;
    pthread_mutex_unlock(&lifo_mu);
    return NULL;
}

/* ---------- the concurrency limit and Sleep ---------- */
static HANDLE limit_port;
static volatile long long sleep_end_ms;
static volatile long long second_got_ms;

static void *limit_worker(void *arg) {
    DWORD bytes;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    (void)arg;
    CHECK(GetQueuedCompletionStatus(limit_port, &bytes, &key, &ov, 10000));
    if (key == 1) {
        /* The first packet's worker blocks in Sleep: a blocking section,
         * so the other waiter gets the second packet meanwhile. */
        Sleep(400);
        sleep_end_ms = now_ms();
    } else {
        second_got_ms = now_ms();
    }
    return NULL;
}

/* ---------- close wakes every waiter ---------- */
static HANDLE close_port;
/* Waiters about to call GQCS: the close must come after they wait. */
static volatile int waiters_entering;

/* Until `n` threads are about to wait, then a margin for them to block. */
static void wait_for_waiters(int n) {
    while (__atomic_load_n(&waiters_entering, __ATOMIC_SEQ_CST) < n) Sleep(1);
    Sleep(100);
}

static void *close_waiter(void *arg) {
    DWORD bytes = 0xdeadbeef;
    ULONG_PTR key = 0xdeadbeef;
    LPOVERLAPPED ov = (LPOVERLAPPED)1;
    (void)arg;
    __atomic_add_fetch(&waiters_entering, 1, __ATOMIC_SEQ_CST);
    CHECK(!GetQueuedCompletionStatus(close_port, &bytes, &key, &ov, INFINITE));
    CHECK_ERR(ERROR_ABANDONED_WAIT_0);
    CHECK(ov == NULL);
    CHECK_EQ(bytes, 0xdeadbeef);
    CHECK_EQ(key, 0xdeadbeef);
    return NULL;
}

static void *close_waiter_ex(void *arg) {
    OVERLAPPED_ENTRY e[4];
    ULONG n = 99;
    (void)arg;
    __atomic_add_fetch(&waiters_entering, 1, __ATOMIC_SEQ_CST);
    CHECK(!GetQueuedCompletionStatusEx(close_port, e, 4, &n, INFINITE, FALSE));
    CHECK_ERR(ERROR_ABANDONED_WAIT_0);
    return NULL;
}

/* ---------- close discards what is queued ---------- */
static HANDLE full_port;
static volatile int holder_has_slot, holder_release;

/* Takes the only slot of a concurrency-1 port and keeps running (no
 * blocking call: it spins) until told to return. */
static void *slot_holder(void *arg) {
    DWORD bytes;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    (void)arg;
    CHECK(GetQueuedCompletionStatus(full_port, &bytes, &key, &ov, INFINITE));
    CHECK_EQ(key, 100);
    __atomic_store_n(&holder_has_slot, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&holder_release, __ATOMIC_SEQ_CST)) {
    }
    return NULL;
}

static void *full_waiter(void *arg) {
    DWORD bytes = 0xdeadbeef;
    ULONG_PTR key = 0xdeadbeef;
    LPOVERLAPPED ov = (LPOVERLAPPED)1;
    (void)arg;
    __atomic_add_fetch(&waiters_entering, 1, __ATOMIC_SEQ_CST);
    BOOL ok = GetQueuedCompletionStatus(full_port, &bytes, &key, &ov, INFINITE);
    if (ok) fprintf(stderr, "a packet queued before the close was handed out: key %lu\n", (unsigned long)key);
    CHECK(!ok);
    CHECK_ERR(ERROR_ABANDONED_WAIT_0);
    CHECK(ov == NULL);
    CHECK_EQ(key, 0xdeadbeef);
    return NULL;
}

static void *full_waiter_ex(void *arg) {
    OVERLAPPED_ENTRY e[4];
    ULONG n = 99;
    (void)arg;
    __atomic_add_fetch(&waiters_entering, 1, __ATOMIC_SEQ_CST);
    BOOL ok = GetQueuedCompletionStatusEx(full_port, e, 4, &n, INFINITE, FALSE);
    CHECK(!ok);
    CHECK_ERR(ERROR_ABANDONED_WAIT_0);
    CHECK_EQ(n, 0);
    return NULL;
}

int main(void) {
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    CHECK(si.dwNumberOfProcessors >= 1);
    CHECK(si.dwPageSize >= 4096);
    CHECK_EQ(si.wProcessorArchitecture, PROCESSOR_ARCHITECTURE_AMD64);

    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    CHECK(port != NULL);
    CHECK_EQ((ULONG_PTR)port & 3, 0);

    /* Timeout: FALSE, *ov = NULL, 258, bytes and key not written. */
    DWORD bytes = 0xdeadbeef;
    ULONG_PTR key = 0xdeadbeef;
    LPOVERLAPPED ov = (LPOVERLAPPED)1;
    SetLastError(0);
    CHECK(!GetQueuedCompletionStatus(port, &bytes, &key, &ov, 0));
    CHECK_ERR(WAIT_TIMEOUT);
    CHECK(ov == NULL);
    CHECK_EQ(bytes, 0xdeadbeef);
    CHECK_EQ(key, 0xdeadbeef);
    long long t0 = now_ms();
    ov = (LPOVERLAPPED)1;
    CHECK(!GetQueuedCompletionStatus(port, &bytes, &key, &ov, 60));
    CHECK(now_ms() - t0 >= 50);
    CHECK_ERR(WAIT_TIMEOUT);
    CHECK(ov == NULL);
    CHECK_EQ(bytes, 0xdeadbeef);

    /* A posted packet with NULL OVERLAPPED and a full 64-bit key: TRUE, the
     * values verbatim, the last error left alone. */
    CHECK(PostQueuedCompletionStatus(port, 7, ~(ULONG_PTR)0, NULL));
    SetLastError(0xdeadbeef);
    ov = (LPOVERLAPPED)1;
    CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &ov, INFINITE));
    CHECK_EQ(bytes, 7);
    CHECK_EQ(key, ~(ULONG_PTR)0);
    CHECK(ov == NULL);
    CHECK_ERR(0xdeadbeef);

    /* Values need not be an OVERLAPPED; they come back unchanged. */
    CHECK(PostQueuedCompletionStatus(port, 0xFFFFFFFF, (ULONG_PTR)0x8000000000000001ull,
                                     (LPOVERLAPPED)(ULONG_PTR)0x123456789abcdef0ull));
    CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &ov, 0));
    CHECK_EQ(bytes, 0xFFFFFFFF);
    CHECK_EQ(key, 0x8000000000000001ull);
    CHECK_EQ((ULONG_PTR)ov, 0x123456789abcdef0ull);

    /* NULL lpNumberOfBytes and lpCompletionKey are allowed. */
    CHECK(PostQueuedCompletionStatus(port, 1, 2, NULL));
    CHECK(GetQueuedCompletionStatus(port, NULL, NULL, &ov, 0));

    /* FIFO. */
    for (ULONG_PTR i = 1; i <= 5; i++)
        CHECK(PostQueuedCompletionStatus(port, (DWORD)i, i, NULL));
    for (ULONG_PTR i = 1; i <= 5; i++) {
        CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &ov, 0));
        CHECK_EQ(key, i);
        CHECK_EQ(bytes, i);
    }

    /* GQCSEx: returns what is there without waiting to fill the array. */
    OVERLAPPED_ENTRY e[8];
    ULONG n = 99;
    CHECK(PostQueuedCompletionStatus(port, 10, 100, (LPOVERLAPPED)0x1000));
    CHECK(PostQueuedCompletionStatus(port, 20, 200, (LPOVERLAPPED)0x2000));
    CHECK(GetQueuedCompletionStatusEx(port, e, 8, &n, INFINITE, FALSE));
    CHECK_EQ(n, 2);
    CHECK_EQ(e[0].lpCompletionKey, 100);
    CHECK_EQ((ULONG_PTR)e[0].lpOverlapped, 0x1000);
    CHECK_EQ(e[0].dwNumberOfBytesTransferred, 10);
    CHECK_EQ(e[0].Internal, 0);
    CHECK_EQ(e[1].lpCompletionKey, 200);
    CHECK_EQ(e[1].dwNumberOfBytesTransferred, 20);
    /* count 0 → 87; timeout → 258; alertable without APCs times out too. */
    n = 99;
    CHECK(!GetQueuedCompletionStatusEx(port, e, 0, &n, 0, FALSE));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!GetQueuedCompletionStatusEx(port, e, 8, &n, 0, FALSE));
    CHECK_ERR(WAIT_TIMEOUT);
    CHECK_EQ(n, 0);
    CHECK(!GetQueuedCompletionStatusEx(port, e, 8, &n, 20, TRUE));
    CHECK_ERR(WAIT_TIMEOUT);

    /* Creating with an existing port but no file: 87. */
    CHECK(CreateIoCompletionPort(INVALID_HANDLE_VALUE, port, 0, 0) == NULL);
    CHECK_ERR(ERROR_INVALID_PARAMETER);

    /* LIFO: three waiters start in order 0, 1, 2; the last one in is released first. */
    lifo_port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 8);
    CHECK(lifo_port != NULL);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        CHECK(pthread_create(&th[i], NULL, lifo_worker, (void *)(intptr_t)i) == 0);
        Sleep(150);
    }
    for (int i = 0; i < 3; i++) {
        CHECK(PostQueuedCompletionStatus(lifo_port, 0, (ULONG_PTR)i, NULL));
        long long deadline = now_ms() + 5000;
        while (lifo_order < i + 1 && now_ms() < deadline) Sleep(5);
        CHECK_EQ(lifo_order, i + 1);
    }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    CHECK_EQ(lifo_got[2], 1);
    CHECK_EQ(lifo_got[1], 2);
    CHECK_EQ(lifo_got[0], 3);
    CHECK(CloseHandle(lifo_port));

    /* Concurrency 1: the second packet waits until the first worker blocks
     * (Sleep releases its slot), not until it returns to GQCS. */
    limit_port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, limit_worker, NULL) == 0);
    CHECK(pthread_create(&b, NULL, limit_worker, NULL) == 0);
    Sleep(150);
    CHECK(PostQueuedCompletionStatus(limit_port, 0, 1, NULL));
    Sleep(50);
    CHECK(PostQueuedCompletionStatus(limit_port, 0, 2, NULL));
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK(second_got_ms != 0);
    CHECK(second_got_ms < sleep_end_ms);
    CHECK(CloseHandle(limit_port));

    /* Closing a port wakes every waiter with 735 (GQCS and GQCSEx). */
    close_port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    pthread_t w[3];
    CHECK(pthread_create(&w[0], NULL, close_waiter, NULL) == 0);
    CHECK(pthread_create(&w[1], NULL, close_waiter, NULL) == 0);
    CHECK(pthread_create(&w[2], NULL, close_waiter_ex, NULL) == 0);
    wait_for_waiters(3);
    CHECK(CloseHandle(close_port));
    for (int i = 0; i < 3; i++) pthread_join(w[i], NULL);

    /* Closing a port whose only slot is taken while packets are queued
     * discards them: the waiters get 735 and a NULL OVERLAPPED, not the
     * packets (Windows frees the queue with the port). */
    full_port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    CHECK(full_port != NULL);
    pthread_t holder, fw[3];
    CHECK(PostQueuedCompletionStatus(full_port, 0, 100, NULL));
    CHECK(pthread_create(&holder, NULL, slot_holder, NULL) == 0);
    while (!__atomic_load_n(&holder_has_slot, __ATOMIC_SEQ_CST)) Sleep(1);
    waiters_entering = 0;
    CHECK(pthread_create(&fw[0], NULL, full_waiter, NULL) == 0);
    CHECK(pthread_create(&fw[1], NULL, full_waiter, NULL) == 0);
    CHECK(pthread_create(&fw[2], NULL, full_waiter_ex, NULL) == 0);
    wait_for_waiters(3);
    for (ULONG_PTR k = 1; k <= 3; k++) CHECK(PostQueuedCompletionStatus(full_port, 7, k, (LPOVERLAPPED)k));
    Sleep(50);
    CHECK(CloseHandle(full_port));
    for (int i = 0; i < 3; i++) pthread_join(fw[i], NULL);
    __atomic_store_n(&holder_release, 1, __ATOMIC_SEQ_CST);
    pthread_join(holder, NULL);

    /* The closed handle is stale: 6 everywhere, a second close too. */
    ov = (LPOVERLAPPED)1;
    CHECK(!GetQueuedCompletionStatus(close_port, &bytes, &key, &ov, 0));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(ov == NULL);
    CHECK(!GetQueuedCompletionStatusEx(close_port, e, 8, &n, 0, FALSE));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!PostQueuedCompletionStatus(close_port, 0, 0, NULL));
    CHECK_ERR(ERROR_INVALID_HANDLE);
    CHECK(!CloseHandle(close_port));
    CHECK_ERR(ERROR_INVALID_HANDLE);

    CHECK(CloseHandle(port));
    printf("port: ok\n");
    return 0;
}
