/* The C library's blocking calls as blocking sections of a port.
 *
 * `blocking <call>`: a port with concurrency 1; two workers loop on
 * GetQueuedCompletionStatus(port, ..., 3000). The main thread posts work,
 * checks with GetQueuedCompletionStatus(port, ..., 0) that nothing is left
 * (which associates it with the port: it counts as running there), posts a
 * quit packet per worker, and then waits in <call> until the workers have
 * ended. While it waits there it must not hold the port's only slot: the
 * workers get their quit packets (not 258 after 3 s).
 *
 * `blocking exits`: a thread ends in each state of the accounting (running
 * after a packet, running after a time-out, blocked in a wrapped call and
 * cancelled there, pthread_exit while running, never associated), and after
 * each, a round of fresh threads finds the port's count exact: one packet
 * releases one waiter, a second one waits while the first worker runs, and
 * is released as soon as the first blocks. */
#define _GNU_SOURCE /* accept4, pthread_cond_clockwait */
#include <windows.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

#define KEY_WORK 1
#define KEY_QUIT 2
#define WORKERS 2

static HANDLE port;
static const char *mode;
static volatile long work_done, quits, timeouts, finished;

/* What the workers use to wake the main thread, by mode. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static int pipefd[2];  /* workers write one byte each */
static int sockpair[2]; /* workers send one byte each on [1] */

static int is(const char *m) { return strcmp(mode, m) == 0; }

static void worker_ended(void) {
    pthread_mutex_lock(&mu);
    __atomic_add_fetch(&finished, 1, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    CHECK(sem_post(&sem) == 0);
    char b = 'q';
    CHECK(write(pipefd[1], &b, 1) == 1);
    CHECK(send(sockpair[1], &b, 1, 0) == 1);
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        DWORD n;
        ULONG_PTR key;
        LPOVERLAPPED ov;
        if (!GetQueuedCompletionStatus(port, &n, &key, &ov, 3000)) {
            fprintf(stderr, "%s: a worker's GetQueuedCompletionStatus failed with %lu\n", mode,
                    (unsigned long)GetLastError());
            __atomic_add_fetch(&timeouts, 1, __ATOMIC_SEQ_CST);
            worker_ended();
            return NULL;
        }
        if (key == KEY_QUIT) {
            __atomic_add_fetch(&quits, 1, __ATOMIC_SEQ_CST);
            worker_ended();
            return NULL;
        }
        __atomic_add_fetch(&work_done, 1, __ATOMIC_SEQ_CST);
    }
}

static long ended(void) { return __atomic_load_n(&finished, __ATOMIC_SEQ_CST); }

/* A thread that is not associated with any port: it holds a lock, or an
 * end of a connection, until both workers have ended, then lets go. */
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t held_rw = PTHREAD_RWLOCK_INITIALIZER;
static volatile int helper_ready;
static struct sockaddr_un unix_addr;
static int listener = -1, first_conn = -1;

static void wait_for_workers(void) {
    long long deadline = now_ms() + 20000;
    while (ended() < WORKERS && now_ms() < deadline) usleep(1000);
}

static void *helper(void *arg) {
    (void)arg;
    if (is("mutex_lock")) CHECK(pthread_mutex_lock(&held_mu) == 0);
    if (is("rwlock_rdlock")) CHECK(pthread_rwlock_wrlock(&held_rw) == 0);
    if (is("rwlock_wrlock")) CHECK(pthread_rwlock_rdlock(&held_rw) == 0);
    __atomic_store_n(&helper_ready, 1, __ATOMIC_SEQ_CST);
    wait_for_workers();
    if (is("mutex_lock")) CHECK(pthread_mutex_unlock(&held_mu) == 0);
    if (is("rwlock_rdlock") || is("rwlock_wrlock")) CHECK(pthread_rwlock_unlock(&held_rw) == 0);
    if (is("accept") || is("accept4")) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        CHECK(c >= 0);
        CHECK(connect(c, (struct sockaddr *)&unix_addr, sizeof unix_addr) == 0);
        close(c);
    }
    if (is("connect")) {
        /* Makes room in the full backlog: the main thread's connect goes on. */
        int c = accept(listener, NULL, NULL);
        CHECK(c >= 0);
        close(c);
    }
    return NULL;
}

static void listen_unix(int backlog) {
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(listener >= 0);
    memset(&unix_addr, 0, sizeof unix_addr);
    unix_addr.sun_family = AF_UNIX;
    snprintf(unix_addr.sun_path, sizeof unix_addr.sun_path, "/tmp/cport-blocking-%d", (int)getpid());
    unlink(unix_addr.sun_path);
    CHECK(bind(listener, (struct sockaddr *)&unix_addr, sizeof unix_addr) == 0);
    CHECK(listen(listener, backlog) == 0);
}

static struct timespec in_ms(clockid_t clock, long ms) {
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Reads one byte per worker from `fd` with `how`. */
static void read_bytes(int fd) {
    for (int got = 0; got < WORKERS;) {
        char b[WORKERS];
        ssize_t n;
        if (is("read")) {
            n = read(fd, b, (size_t)(WORKERS - got));
        } else if (is("recv")) {
            n = recv(fd, b, (size_t)(WORKERS - got), 0);
        } else {
            n = recvfrom(fd, b, (size_t)(WORKERS - got), 0, NULL, NULL);
        }
        CHECK(n > 0);
        got += (int)n;
    }
}

/* The main thread's wait, in the call under test, until both workers ended. */
static void wait_in_call(pthread_t *w) {
    if (is("pthread_join")) {
        for (int i = 0; i < WORKERS; i++) CHECK(pthread_join(w[i], NULL) == 0);
        return;
    }
    if (is("cond_wait") || is("cond_timedwait") || is("cond_clockwait")) {
        struct timespec real_deadline = in_ms(CLOCK_REALTIME, 20000);
        struct timespec mono_deadline = in_ms(CLOCK_MONOTONIC, 20000);
        CHECK(pthread_mutex_lock(&mu) == 0);
        while (ended() < WORKERS) {
            int r;
            if (is("cond_wait")) {
                r = pthread_cond_wait(&cv, &mu);
            } else if (is("cond_timedwait")) {
                r = pthread_cond_timedwait(&cv, &mu, &real_deadline);
            } else {
                r = pthread_cond_clockwait(&cv, &mu, CLOCK_MONOTONIC, &mono_deadline);
            }
            CHECK(r == 0);
        }
        CHECK(pthread_mutex_unlock(&mu) == 0);
    } else if (is("mutex_lock")) {
        CHECK(pthread_mutex_lock(&held_mu) == 0);
        CHECK(pthread_mutex_unlock(&held_mu) == 0);
    } else if (is("rwlock_rdlock")) {
        CHECK(pthread_rwlock_rdlock(&held_rw) == 0);
        CHECK(pthread_rwlock_unlock(&held_rw) == 0);
    } else if (is("rwlock_wrlock")) {
        CHECK(pthread_rwlock_wrlock(&held_rw) == 0);
        CHECK(pthread_rwlock_unlock(&held_rw) == 0);
    } else if (is("sem_wait") || is("sem_timedwait")) {
        for (int i = 0; i < WORKERS; i++) {
            if (is("sem_wait")) {
                CHECK(sem_wait(&sem) == 0);
            } else {
                struct timespec deadline = in_ms(CLOCK_REALTIME, 20000);
                CHECK(sem_timedwait(&sem, &deadline) == 0);
            }
        }
    } else if (is("nanosleep") || is("clock_nanosleep") || is("usleep") || is("sleep")) {
        /* Returns to running between sleeps: the workers must have been
         * released during one of them. */
        long long deadline = now_ms() + 20000;
        while (ended() < WORKERS && now_ms() < deadline) {
            struct timespec t = {0, 50 * 1000000L};
            if (is("nanosleep")) {
                CHECK(nanosleep(&t, NULL) == 0);
            } else if (is("clock_nanosleep")) {
                CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &t, NULL) == 0);
            } else if (is("usleep")) {
                CHECK(usleep(50000) == 0);
            } else {
                CHECK(sleep(1) == 0);
            }
        }
    } else if (is("read")) {
        read_bytes(pipefd[0]);
    } else if (is("recv") || is("recvfrom")) {
        read_bytes(sockpair[0]);
    } else if (is("poll") || is("select")) {
        for (int got = 0; got < WORKERS;) {
            if (is("poll")) {
                struct pollfd p = {pipefd[0], POLLIN, 0};
                CHECK(poll(&p, 1, -1) == 1);
            } else {
                fd_set r;
                FD_ZERO(&r);
                FD_SET(pipefd[0], &r);
                CHECK(select(pipefd[0] + 1, &r, NULL, NULL, NULL) == 1);
            }
            char b[WORKERS];
            ssize_t n = read(pipefd[0], b, (size_t)(WORKERS - got));
            CHECK(n > 0);
            got += (int)n;
        }
    } else if (is("accept") || is("accept4")) {
        int c = is("accept") ? accept(listener, NULL, NULL) : accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        CHECK(c >= 0);
        close(c);
    } else if (is("connect")) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        CHECK(c >= 0);
        CHECK(connect(c, (struct sockaddr *)&unix_addr, sizeof unix_addr) == 0);
        close(c);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        exit(2);
    }
    for (int i = 0; i < WORKERS; i++) CHECK(pthread_join(w[i], NULL) == 0);
}

static int scenario(void) {
    CHECK(sem_init(&sem, 0, 0) == 0);
    CHECK(pipe(pipefd) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sockpair) == 0);
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    CHECK(port != NULL);

    pthread_t h = 0;
    if (is("accept") || is("accept4")) listen_unix(8);
    if (is("connect")) {
        /* A backlog of 0 holds one pending connection: the next connect waits
         * until the listener accepts. */
        listen_unix(0);
        first_conn = socket(AF_UNIX, SOCK_STREAM, 0);
        CHECK(first_conn >= 0);
        CHECK(connect(first_conn, (struct sockaddr *)&unix_addr, sizeof unix_addr) == 0);
    }
    CHECK(pthread_create(&h, NULL, helper, NULL) == 0);
    while (!__atomic_load_n(&helper_ready, __ATOMIC_SEQ_CST)) usleep(1000);

    pthread_t w[WORKERS];
    for (int i = 0; i < WORKERS; i++) CHECK(pthread_create(&w[i], NULL, worker, NULL) == 0);
    for (ULONG_PTR i = 0; i < 4; i++) CHECK(PostQueuedCompletionStatus(port, 0, KEY_WORK, NULL));
    while (__atomic_load_n(&work_done, __ATOMIC_SEQ_CST) < 4) usleep(1000);

    /* Nothing left: FALSE, 258 — and the main thread now counts as running. */
    DWORD n;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    CHECK(!GetQueuedCompletionStatus(port, &n, &key, &ov, 0));
    CHECK_ERR(WAIT_TIMEOUT);
    for (int i = 0; i < WORKERS; i++) CHECK(PostQueuedCompletionStatus(port, 0, KEY_QUIT, NULL));

    long long t0 = now_ms();
    wait_in_call(w);
    long long took = now_ms() - t0;
    CHECK(pthread_join(h, NULL) == 0);
    if (quits != WORKERS) fprintf(stderr, "%s: %ld workers got their quit packet, %ld timed out\n", mode, quits, timeouts);
    CHECK_EQ(quits, WORKERS);
    CHECK_EQ(timeouts, 0);
    /* Released at once, not after the workers' 3 s time-out. */
    CHECK(took < 2500);
    if (listener >= 0) {
        close(listener);
        unlink(unix_addr.sun_path);
    }
    if (first_conn >= 0) close(first_conn);
    CHECK(CloseHandle(port));
    printf("blocking %s: ok\n", mode);
    return 0;
}

/* ---------- thread exit in each state, then fresh threads ---------- */

static sem_t never; /* nobody posts it: a thread blocked on it stays blocked */
static volatile int state_reached, fresh_got[2], fresh_release, fresh_blocked;
static volatile long long fresh_b_ms, fresh_a_unblocked_ms;

static void mark(volatile int *flag) { __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST); }
static int seen(volatile int *flag) { return __atomic_load_n(flag, __ATOMIC_SEQ_CST); }

static void *ending_thread(void *arg) {
    const char *state = (const char *)arg;
    DWORD n;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    if (strcmp(state, "unassociated") == 0) {
        mark(&state_reached);
        return NULL;
    }
    if (strcmp(state, "timed-out") == 0) {
        CHECK(!GetQueuedCompletionStatus(port, &n, &key, &ov, 10));
        CHECK_ERR(WAIT_TIMEOUT);
        mark(&state_reached);
        return NULL;
    }
    CHECK(GetQueuedCompletionStatus(port, &n, &key, &ov, 5000));
    mark(&state_reached);
    if (strcmp(state, "cancelled-in-sem_wait") == 0) {
        sem_wait(&never); /* cancelled here */
        CHECK(!"sem_wait returned");
    }
    if (strcmp(state, "pthread_exit") == 0) pthread_exit(NULL);
    return NULL; /* "running" */
}

static void *fresh_a(void *arg) {
    DWORD n;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    (void)arg;
    CHECK(GetQueuedCompletionStatus(port, &n, &key, &ov, 5000));
    mark(&fresh_got[0]);
    while (!seen(&fresh_release)) {
    }
    /* Blocks: the waiter gets the second packet meanwhile. */
    mark(&fresh_blocked);
    usleep(1000 * 1000);
    fresh_a_unblocked_ms = now_ms();
    return NULL;
}

static void *fresh_b(void *arg) {
    DWORD n;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    (void)arg;
    CHECK(GetQueuedCompletionStatus(port, &n, &key, &ov, 5000));
    fresh_b_ms = now_ms();
    mark(&fresh_got[1]);
    return NULL;
}

static int exits(void) {
    const char *states[] = {"running", "timed-out", "cancelled-in-sem_wait", "pthread_exit", "unassociated"};
    CHECK(sem_init(&never, 0, 0) == 0);
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    CHECK(port != NULL);
    for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
        const char *state = states[s];
        state_reached = 0;
        pthread_t t;
        if (strcmp(state, "running") == 0 || strcmp(state, "cancelled-in-sem_wait") == 0 ||
            strcmp(state, "pthread_exit") == 0)
            CHECK(PostQueuedCompletionStatus(port, 0, 10 + s, NULL));
        CHECK(pthread_create(&t, NULL, ending_thread, (void *)state) == 0);
        while (!seen(&state_reached)) usleep(1000);
        if (strcmp(state, "cancelled-in-sem_wait") == 0) {
            usleep(100 * 1000); /* let it block in sem_wait */
            CHECK(pthread_cancel(t) == 0);
        }
        void *ret = NULL;
        CHECK(pthread_join(t, &ret) == 0);
        if (strcmp(state, "cancelled-in-sem_wait") == 0) CHECK(ret == PTHREAD_CANCELED);

        /* The fresh round: one packet releases one waiter... */
        fresh_got[0] = fresh_got[1] = 0;
        fresh_release = fresh_blocked = 0;
        fresh_b_ms = fresh_a_unblocked_ms = 0;
        pthread_t a, b;
        CHECK(pthread_create(&a, NULL, fresh_a, NULL) == 0);
        usleep(50 * 1000);
        CHECK(PostQueuedCompletionStatus(port, 0, 1, NULL));
        long long deadline = now_ms() + 3000;
        while (!seen(&fresh_got[0]) && now_ms() < deadline) usleep(1000);
        if (!seen(&fresh_got[0])) fprintf(stderr, "after a thread ended %s: a fresh waiter was not released\n", state);
        CHECK(seen(&fresh_got[0]));
        /* ...a second one waits while the first runs (the limit is 1)... */
        CHECK(pthread_create(&b, NULL, fresh_b, NULL) == 0);
        usleep(50 * 1000);
        CHECK(PostQueuedCompletionStatus(port, 0, 2, NULL));
        usleep(300 * 1000);
        if (seen(&fresh_got[1])) fprintf(stderr, "after a thread ended %s: two threads run on a port of concurrency 1\n", state);
        CHECK(!seen(&fresh_got[1]));
        /* ...and is released when the first blocks. */
        mark(&fresh_release);
        CHECK(pthread_join(b, NULL) == 0);
        CHECK(pthread_join(a, NULL) == 0);
        CHECK(fresh_b_ms != 0 && fresh_b_ms < fresh_a_unblocked_ms);
    }
    CHECK(CloseHandle(port));
    printf("blocking exits: ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: blocking <call>|exits\n");
        return 2;
    }
    mode = argv[1];
    return is("exits") ? exits() : scenario();
}
