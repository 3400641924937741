/* C++'s own waits reach the C library through libstdc++ (a shared library
 * with versioned references): std::thread::join (pthread_join) and
 * std::condition_variable::wait (pthread_cond_wait) are blocking sections
 * too. A port of concurrency 1; the main thread counts as running on it
 * (GetQueuedCompletionStatus(..., 0)) and then waits in C++ for a worker
 * that needs the port's only slot to get its packet. */
#include <windows.h>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

static HANDLE port;

static ULONG_PTR take(void) {
    DWORD n;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    if (!GetQueuedCompletionStatus(port, &n, &key, &ov, 3000)) {
        std::fprintf(stderr, "the worker's GetQueuedCompletionStatus failed with %lu\n",
                     (unsigned long)GetLastError());
        return 0;
    }
    return key;
}

static void make_main_thread_running(void) {
    DWORD n;
    ULONG_PTR key;
    LPOVERLAPPED ov;
    if (GetQueuedCompletionStatus(port, &n, &key, &ov, 0) || GetLastError() != WAIT_TIMEOUT) {
        std::fprintf(stderr, "the port was not empty\n");
        std::exit(1);
    }
}

int main() {
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (port == NULL) return 1;

    ULONG_PTR got = 0;
    std::thread joined([&] { got = take(); });
    Sleep(50);
    make_main_thread_running();
    PostQueuedCompletionStatus(port, 0, 7, NULL);
    joined.join();
    if (got != 7) {
        std::fprintf(stderr, "std::thread::join: the worker got %lu, not 7\n", (unsigned long)got);
        return 1;
    }

    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    got = 0;
    std::thread waited([&] {
        ULONG_PTR k = take();
        std::lock_guard<std::mutex> g(m);
        got = k;
        done = true;
        cv.notify_all();
    });
    Sleep(50);
    PostQueuedCompletionStatus(port, 0, 8, NULL);
    {
        std::unique_lock<std::mutex> l(m);
        cv.wait(l, [&] { return done; });
    }
    waited.join();
    if (got != 8) {
        std::fprintf(stderr, "std::condition_variable::wait: the worker got %lu, not 8\n", (unsigned long)got);
        return 1;
    }
    CloseHandle(port);
    std::printf("blocking (C++): ok\n");
    return 0;
}
