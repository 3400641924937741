/* Assertions for cport's C tests: print file:line, the expression, both
 * values and the last error, then exit(1). */
#ifndef CPORT_TEST_CHECK_H
#define CPORT_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error %lu)\n", __FILE__,    \
                    __LINE__, #cond, (unsigned long)GetLastError());                   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                 \
    do {                                                                               \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b); \
        if (va_ != vb_) {                                                              \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %llu (0x%llx), expected %s == %llu\n", \
                    __FILE__, __LINE__, #a, va_, va_, #b, vb_);                        \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* Checks the last error (GetLastError and WSAGetLastError share it). */
#define CHECK_ERR(e) CHECK_EQ(GetLastError(), (e))

static inline long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
