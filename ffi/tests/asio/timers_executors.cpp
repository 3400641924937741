// Asio's timers and executors on its Windows backend: steady_timer waits
// (on time, never early), cancellation (operation_aborted), re-arming, the
// order of several timers; post/dispatch/defer; a strand's ordering and
// mutual exclusion under 4 threads; work guards, stop() and restart().
#include <asio.hpp>

#include <chrono>
#include <csignal>
#include <mutex>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace std::chrono;
using namespace std::chrono_literals;

static void timers() {
    asio::io_context io;

    // A wait ends after its time, not before.
    asio::steady_timer t1(io, 50ms);
    auto start = steady_clock::now();
    steady_clock::time_point fired{};
    asio::error_code ec1 = asio::error::would_block;
    t1.async_wait([&](asio::error_code ec) {
        ec1 = ec;
        fired = steady_clock::now();
    });

    // A cancelled wait ends with operation_aborted; re-armed, it waits again.
    asio::steady_timer t2(io, 10s);
    asio::error_code ec2 = asio::error::would_block;
    asio::error_code ec2b = asio::error::would_block;
    steady_clock::time_point rearmed_fired{};
    t2.async_wait([&](asio::error_code ec) {
        ec2 = ec;
        t2.expires_after(30ms);
        t2.async_wait([&](asio::error_code ec) {
            ec2b = ec;
            rearmed_fired = steady_clock::now();
        });
    });
    asio::steady_timer canceller(io, 20ms);
    canceller.async_wait([&](asio::error_code) { CHECK(t2.cancel() == 1); });

    // Timers fire in due-time order whatever the order they were set in.
    std::vector<int> order;
    std::vector<std::unique_ptr<asio::steady_timer>> many;
    for (int i : {5, 1, 4, 2, 3}) {
        many.push_back(std::make_unique<asio::steady_timer>(io, milliseconds(20 * i)));
        many.back()->async_wait([&order, i](asio::error_code ec) {
            CHECK(!ec);
            order.push_back(i);
        });
    }

    // Changing the expiry of a pending wait aborts it.
    asio::steady_timer t3(io, 10s);
    asio::error_code ec3 = asio::error::would_block;
    t3.async_wait([&](asio::error_code ec) { ec3 = ec; });
    CHECK(t3.expires_after(1ms) == 1);

    io.run();
    CHECK(!ec1);
    CHECK(fired - start >= 50ms);
    CHECK(fired - start < 5s);
    CHECK_EC(ec2, asio::error::operation_aborted);
    CHECK(!ec2b);
    CHECK(rearmed_fired - start >= 50ms);
    CHECK((order == std::vector<int>{1, 2, 3, 4, 5}));
    CHECK_EC(ec3, asio::error::operation_aborted);

    // A synchronous wait.
    asio::steady_timer t4(io, 20ms);
    auto s4 = steady_clock::now();
    t4.wait();
    CHECK(steady_clock::now() - s4 >= 20ms);
}

static void post_dispatch_defer() {
    asio::io_context io;
    std::vector<int> seq;
    asio::post(io, [&] {
        seq.push_back(1);
        // Inside run(): dispatch runs at once, post and defer later.
        asio::post(io, [&] { seq.push_back(4); });
        asio::defer(io, [&] { seq.push_back(5); });
        asio::dispatch(io, [&] { seq.push_back(2); });
        seq.push_back(3);
    });
    CHECK(seq.empty());  // nothing runs outside run()
    std::size_t n = io.run();
    // dispatch ran inline: three handlers went through the queue.
    CHECK(n == 3);
    CHECK((seq == std::vector<int>{1, 2, 3, 4, 5}));
    CHECK(io.stopped());
}

static void strand_order() {
    asio::io_context io(4);
    auto strand = asio::make_strand(io);
    const int N = 20000;
    std::vector<int> seen;
    seen.reserve(N);
    std::atomic<int> inside{0};
    std::atomic<bool> overlap{false};
    std::atomic<int> other{0};
    for (int i = 0; i < N; i++) {
        asio::post(strand, [&, i] {
            if (inside.fetch_add(1) != 0)
                overlap = true;
            seen.push_back(i);
            inside.fetch_sub(1);
        });
        asio::post(io, [&] { other++; });  // unordered work beside it
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&] { io.run(); });
    for (auto &t : threads)
        t.join();
    CHECK(!overlap.load());
    CHECK(static_cast<int>(seen.size()) == N);
    bool in_order = true;
    for (int i = 0; i < N && i < static_cast<int>(seen.size()); i++)
        in_order = in_order && seen[i] == i;
    CHECK(in_order);
    CHECK(other.load() == N);
}

static void work_guard_and_stop() {
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    std::atomic<bool> returned{false};
    std::thread runner([&] {
        io.run();
        returned = true;
    });
    // With the guard, run() waits for work instead of returning.
    std::this_thread::sleep_for(50ms);
    CHECK(!returned.load());
    std::atomic<int> ran{0};
    asio::post(io, [&] { ran++; });
    auto deadline = steady_clock::now() + 5s;
    while (ran.load() == 0 && steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    CHECK(ran.load() == 1);
    CHECK(!returned.load());
    // Resetting the guard lets run() return once idle.
    guard.reset();
    runner.join();
    CHECK(returned.load());

    // stop() ends run() in every thread even with work outstanding.
    io.restart();
    auto guard2 = asio::make_work_guard(io);
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; i++)
        threads.emplace_back([&] { io.run(); });
    std::this_thread::sleep_for(20ms);
    io.stop();
    for (auto &t : threads)
        t.join();
    CHECK(io.stopped());
    // A handler posted while stopped runs after restart().
    bool later = false;
    asio::post(io, [&] { later = true; });
    CHECK(io.poll() == 0);
    CHECK(!later);
    io.restart();
    guard2.reset();
    CHECK(io.run() == 1);
    CHECK(later);
}

// asio::thread_pool (Asio's own threads: _beginthreadex, joined through
// QueueUserAPC and an alertable SleepEx) and signal_set (the C runtime's
// signal() on Windows).
static void thread_pool_and_signals() {
    asio::thread_pool pool(3);
    std::atomic<int> sum{0};
    for (int i = 1; i <= 100; i++)
        asio::post(pool, [&sum, i] { sum += i; });
    pool.join();
    CHECK(sum.load() == 5050);

    asio::io_context io;
    asio::signal_set signals(io, SIGTERM);
    int got = 0;
    signals.async_wait([&](asio::error_code ec, int sig) {
        CHECK(!ec);
        got = sig;
    });
    asio::post(io, [] { std::raise(SIGTERM); });
    io.run();
    CHECK(got == SIGTERM);
}

int main() {
    timers();
    thread_pool_and_signals();
    post_dispatch_defer();
    strand_order();
    work_guard_and_stop();
    return done("timers_executors");
}
