// Shared by the Asio test programs: CHECK prints the failed condition and
// its line and makes the program exit non-zero at the end (or at once with
// REQUIRE); done() reports the result.
#ifndef CPORT_ASIO_CHECK_HPP
#define CPORT_ASIO_CHECK_HPP

#include <atomic>
#include <cstdio>
#include <cstdlib>

static std::atomic<int> g_failures{0};

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                         #cond);                                                   \
            g_failures++;                                                          \
        }                                                                          \
    } while (0)

#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, \
                         #cond);                                                     \
            std::exit(1);                                                            \
        }                                                                            \
    } while (0)

// An error_code equal to the expected one, printing both on mismatch.
#define CHECK_EC(ec, expected)                                                          \
    do {                                                                                \
        if ((ec) != (expected)) {                                                       \
            std::fprintf(stderr, "%s:%d: %s is %d (%s), expected %s\n", __FILE__,      \
                         __LINE__, #ec, (ec).value(), (ec).category().name(), #expected); \
            g_failures++;                                                               \
        }                                                                               \
    } while (0)

static inline int done(const char *name) {
    if (g_failures.load() != 0) {
        std::fprintf(stderr, "%s: %d check(s) failed\n", name, g_failures.load());
        return 1;
    }
    std::printf("%s: ok\n", name);
    return 0;
}

#endif
