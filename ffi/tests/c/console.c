/* Console control handlers. Without arguments: the handler chain (newest
 * first, until one returns TRUE), handlers on a thread of their own that may
 * block, GenerateConsoleCtrlEvent, real signals, the CTRL_C ignore flag, bad
 * input. With one argument, a scenario that ends the process, which the Rust
 * test checks from outside:
 *   unhandled-int   SIGINT, every handler returns FALSE → killed by SIGINT
 *   generate        no handler: GenerateConsoleCtrlEvent(CTRL_C) → killed by SIGINT
 *   term            SIGTERM → CTRL_SHUTDOWN_EVENT, handled (TRUE) → killed by SIGTERM
 *   hup             SIGHUP → CTRL_CLOSE_EVENT, handled (TRUE) → killed by SIGHUP
 *   quit            SIGQUIT → CTRL_BREAK_EVENT, handled → the process goes on, exits 0
 *   exitprocess     ExitProcess(7) from another thread → exit status 7 (stdout flushed)
 */
#include <windows.h>
#include <signal.h>
#include <unistd.h>
#include "check.h"

static HANDLE called;     /* auto-reset: a handler ran */
static volatile LONG order[8];
static volatile LONG norder;
static volatile DWORD last_event;
static volatile DWORD handler_tid;

static void record(LONG who, DWORD ev) {
    LONG i = InterlockedIncrement(&norder) - 1;
    if (i < 8) order[i] = who;
    last_event = ev;
    handler_tid = GetCurrentThreadId();
}

static BOOL WINAPI h_false(DWORD ev) {
    record(1, ev);
    return FALSE;
}

static BOOL WINAPI h_true(DWORD ev) {
    record(2, ev);
    SetEvent(called);
    return TRUE;
}

static BOOL WINAPI h_true_print(DWORD ev) {
    /* Announce through the pipe the test reads; the process ends afterwards
     * for close/shutdown events. */
    printf("handled %lu\n", (unsigned long)ev);
    fflush(stdout);
    return TRUE;
}

static BOOL WINAPI h_false_print(DWORD ev) {
    printf("declined %lu\n", (unsigned long)ev);
    fflush(stdout);
    return FALSE;
}

static HANDLE release_blocker, blocker_in;
static volatile LONG blocker_runs;

static BOOL WINAPI h_blocks(DWORD ev) {
    (void)ev;
    if (InterlockedIncrement(&blocker_runs) == 1) {
        SetEvent(blocker_in);
        /* Blocks its own thread; a second event still gets handled meanwhile. */
        CHECK_EQ(WaitForSingleObject(release_blocker, 10000), WAIT_OBJECT_0);
        return TRUE;
    }
    SetEvent(called);
    return TRUE;
}

static void reset_record(void) {
    norder = 0;
    for (int i = 0; i < 8; i++) order[i] = 0;
    last_event = 0xdead;
}

static void expect_called(void) {
    CHECK_EQ(WaitForSingleObject(called, 5000), WAIT_OBJECT_0);
}

static void chain(void) {
    called = CreateEvent(NULL, FALSE, FALSE, NULL);
    CHECK(called != NULL);

    /* Bad input first: nothing registered yet. */
    CHECK(!SetConsoleCtrlHandler(h_true, FALSE));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!GenerateConsoleCtrlEvent(CTRL_CLOSE_EVENT, 0));
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    CHECK(!GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0x7fffffff));
    CHECK_ERR(ERROR_INVALID_PARAMETER);

    /* Newest first until one returns TRUE: h_false (newest) then h_true. */
    CHECK(SetConsoleCtrlHandler(h_true, TRUE));
    CHECK(SetConsoleCtrlHandler(h_false, TRUE));
    reset_record();
    CHECK(GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0));
    expect_called();
    CHECK_EQ(norder, 2);
    CHECK_EQ(order[0], 1);
    CHECK_EQ(order[1], 2);
    CHECK_EQ(last_event, CTRL_C_EVENT);
    CHECK(handler_tid != GetCurrentThreadId()); /* a thread of its own */

    /* A real SIGINT goes the same way; so does CTRL_BREAK (SIGQUIT). */
    reset_record();
    CHECK_EQ(kill(getpid(), SIGINT), 0);
    expect_called();
    CHECK_EQ(norder, 2);
    CHECK_EQ(last_event, CTRL_C_EVENT);
    reset_record();
    CHECK(GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, GetCurrentProcessId()));
    expect_called();
    CHECK_EQ(last_event, CTRL_BREAK_EVENT);
    reset_record();
    CHECK_EQ(kill(getpid(), SIGQUIT), 0);
    expect_called();
    CHECK_EQ(last_event, CTRL_BREAK_EVENT);

    /* Removing h_false: h_true alone runs. */
    CHECK(SetConsoleCtrlHandler(h_false, FALSE));
    CHECK(!SetConsoleCtrlHandler(h_false, FALSE)); /* not registered any more */
    CHECK_ERR(ERROR_INVALID_PARAMETER);
    reset_record();
    CHECK(GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0));
    expect_called();
    CHECK_EQ(norder, 1);
    CHECK_EQ(order[0], 2);

    /* SetConsoleCtrlHandler(NULL, TRUE): CTRL_C is ignored, CTRL_BREAK is not. */
    CHECK(SetConsoleCtrlHandler(NULL, TRUE));
    reset_record();
    CHECK(GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0));
    CHECK(GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, 0));
    expect_called(); /* the BREAK: events are taken in order, the C one was dropped */
    CHECK_EQ(last_event, CTRL_BREAK_EVENT);
    CHECK_EQ(norder, 1);
    CHECK(SetConsoleCtrlHandler(NULL, FALSE));
    reset_record();
    CHECK(GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0));
    expect_called();
    CHECK_EQ(last_event, CTRL_C_EVENT);

    /* A handler may block: the next event runs on another thread meanwhile. */
    CHECK(SetConsoleCtrlHandler(h_true, FALSE));
    release_blocker = CreateEvent(NULL, TRUE, FALSE, NULL);
    blocker_in = CreateEvent(NULL, TRUE, FALSE, NULL);
    CHECK(SetConsoleCtrlHandler(h_blocks, TRUE));
    CHECK(GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0));
    CHECK_EQ(WaitForSingleObject(blocker_in, 5000), WAIT_OBJECT_0);
    CHECK(GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0));
    expect_called(); /* handled while the first one still blocks */
    CHECK_EQ(blocker_runs, 2);
    CHECK(SetEvent(release_blocker));
    CHECK(SetConsoleCtrlHandler(h_blocks, FALSE));
    printf("console: ok\n");
}

static DWORD WINAPI exits(LPVOID p) {
    (void)p;
    printf("exiting\n");
    ExitProcess(7);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        chain();
        return 0;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "unhandled-int") == 0) {
        CHECK(SetConsoleCtrlHandler(h_false_print, TRUE));
        CHECK_EQ(kill(getpid(), SIGINT), 0);
    } else if (strcmp(mode, "generate") == 0) {
        CHECK(GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0));
    } else if (strcmp(mode, "term") == 0 || strcmp(mode, "hup") == 0) {
        CHECK(SetConsoleCtrlHandler(h_false_print, TRUE));
        CHECK(SetConsoleCtrlHandler(h_true_print, TRUE));
        CHECK_EQ(kill(getpid(), mode[0] == 't' ? SIGTERM : SIGHUP), 0);
    } else if (strcmp(mode, "exitprocess") == 0) {
        /* ExitProcess from another thread ends the whole process with its code. */
        HANDLE t = CreateThread(NULL, 0, exits, NULL, 0, NULL);
        CHECK(t != NULL);
        WaitForSingleObject(t, 10000);
    } else if (strcmp(mode, "quit") == 0) {
        called = CreateEvent(NULL, FALSE, FALSE, NULL);
        CHECK(SetConsoleCtrlHandler(h_true, TRUE));
        CHECK_EQ(kill(getpid(), SIGQUIT), 0);
        expect_called();
        CHECK_EQ(last_event, CTRL_BREAK_EVENT);
        printf("survived\n");
        return 0;
    } else {
        return 2;
    }
    /* The process must end before this. */
    Sleep(10000);
    printf("still alive\n");
    return 3;
}
