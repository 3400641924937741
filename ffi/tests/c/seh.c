/* cport_seh.h, force-included (-include cport_seh.h), in C and in C++: what
 * the mapped __try/__except/__finally/__leave do, and — in C++ — that
 * libstdc++'s own __try/__catch blocks still work after it. */
#ifdef __cplusplus
#include <map>
#include <stdexcept>
#include <string>
#include <vector>
#endif
#include <windows.h>
#include "check.h"

static int filter_calls;

static int filter(unsigned code) {
    (void)code;
    filter_calls++;
    return EXCEPTION_EXECUTE_HANDLER;
}

static int leave_from_loop(void) {
    int r = 0;
    __try {
        for (int i = 0; i < 10; i++) {
            switch (i) {
            case 3:
                __leave; /* leaves the __try, not the switch or the loop */
            default:
                r++;
            }
        }
        r = 1000;
    }
    __finally {
        r += 100;
    }
    return r;
}

static int nested(void) {
    int r = 0;
    __try {
        __try {
            r += 1;
            __leave; /* the inner one only */
            r += 1000;
        }
        __finally {
            r += 10;
        }
        r += 100;
    }
    __except (filter(GetExceptionCode())) {
        r = -1;
    }
    return r;
}

int main(void) {
    int r = 0;
    /* Normal flow: body, then __finally. */
    __try {
        r = 1;
    }
    __finally {
        r *= 10;
    }
    CHECK_EQ(r, 10);
    CHECK_EQ(leave_from_loop(), 103);
    CHECK_EQ(nested(), 111);
    /* __except: the handler never runs, the filter is never evaluated. */
    int seen = 0;
    __try {
        r = 5;
    }
    __except (seen = 1, EXCEPTION_EXECUTE_HANDLER) {
        r = -5;
    }
    CHECK_EQ(r, 5);
    CHECK_EQ(seen, 0);
    CHECK_EQ(filter_calls, 0);
    CHECK_EQ(AbnormalTermination(), 0);
    CHECK(GetExceptionInformation() == NULL);
#ifdef __cplusplus
    /* libstdc++'s templates, instantiated after the force-include, use its
     * own __try/__catch (several clauses): they must still catch. */
    std::vector<std::string> v;
    for (int i = 0; i < 1000; i++) v.push_back(std::to_string(i));
    std::map<int, std::string> m;
    m[1] = "one";
    int caught = 0;
    try {
        v.at(5000);
    } catch (const std::out_of_range &) {
        caught = 1;
    }
    CHECK_EQ(caught, 1);
    CHECK_EQ(max(2, 7u), 7u); /* the C++ min/max templates */
    CHECK_EQ(std::max(2, 7), 7);
    /* What is lost: a C++ exception leaving a __try skips its __finally. */
    int fin = 0;
    try {
        __try {
            throw 1;
        }
        __finally {
            fin = 1;
        }
    } catch (int) {
    }
    CHECK_EQ(fin, 0);
    printf("seh (C++): ok\n");
#else
    printf("seh (C): ok\n");
#endif
    return 0;
}
