/*
 * cport_seh.h — Microsoft's structured exception handling keywords
 * (__try, __except, __finally, __leave) as plain blocks, so that programs
 * written for MSVC compile with gcc/g++ and clang. Force-include it:
 *
 *     cc  -include cport_seh.h -I include/win32 prog.c ...
 *     c++ -include cport_seh.h -I include/win32 prog.cpp ...
 *
 * What it does:
 *   __try { B } __finally { F }   runs B, then F;
 *   __try { B } __except (E) { H } runs B; H never runs, E is never evaluated
 *                                  (it is compiled, so its variables count as used);
 *   __leave                        jumps to the end of the innermost __try block
 *                                  (then F runs), also from loops or switches
 *                                  inside it, as on Windows.
 *
 * What is lost (there is no SEH on Linux):
 *   - Nothing is ever caught. A hardware fault (access violation, division by
 *     zero, stack overflow) is a signal (SIGSEGV, SIGFPE, ...) and ends the
 *     process, as an unhandled exception ends a Windows process. RaiseException
 *     is not provided (a link error). GetExceptionCode() is 0,
 *     GetExceptionInformation() is NULL, AbnormalTermination() is 0.
 *   - A __finally block runs only when its __try block ends normally or by
 *     __leave — not when it is left by return, goto, break or continue (of an
 *     enclosing loop), longjmp, a C++ exception or a signal. Code that relies on
 *     "return inside __try still runs __finally" must be changed (e.g. set a
 *     result and __leave).
 *   - Syntax: a __try statement used as the unbraced body of if/else/for/while
 *     must be put in braces (the macros expand to more than one statement).
 *
 * C++: libstdc++ names its own macros __try/__catch (bits/exception_defines.h);
 * this header includes that file first and keeps their meaning (__try is
 * try), so __leave is a throw of a private type there, caught by the
 * innermost __except/__finally; a catch (...) of the program's between the
 * __leave and its __try would swallow it. With -fno-exceptions, __leave is a
 * compile error. Include this header before any other (as -include does).
 */
#ifndef CPORT_SEH_H
#define CPORT_SEH_H

#if defined(__cplusplus)
#include <cstddef>
#if defined(__GLIBCXX__)
#include <bits/exception_defines.h>
#endif
#undef __try
#undef __catch
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Filter results and the usual exception codes (only ever compiled, never produced). */
#define EXCEPTION_EXECUTE_HANDLER     1
#define EXCEPTION_CONTINUE_SEARCH     0
#define EXCEPTION_CONTINUE_EXECUTION  (-1)
#define EXCEPTION_ACCESS_VIOLATION    0xC0000005u
#define EXCEPTION_DATATYPE_MISALIGNMENT 0x80000002u
#define EXCEPTION_BREAKPOINT          0x80000003u
#define EXCEPTION_ARRAY_BOUNDS_EXCEEDED 0xC000008Cu
#define EXCEPTION_INT_DIVIDE_BY_ZERO  0xC0000094u
#define EXCEPTION_INT_OVERFLOW        0xC0000095u
#define EXCEPTION_ILLEGAL_INSTRUCTION 0xC000001Du
#define EXCEPTION_STACK_OVERFLOW      0xC00000FDu
#define EXCEPTION_NONCONTINUABLE      0x1

#ifndef CPORT_SEH_TYPES
#define CPORT_SEH_TYPES
typedef struct _EXCEPTION_RECORD {
    unsigned int ExceptionCode;
    unsigned int ExceptionFlags;
    struct _EXCEPTION_RECORD *ExceptionRecord;
    void *ExceptionAddress;
    unsigned int NumberParameters;
    unsigned long long ExceptionInformation[15];
} EXCEPTION_RECORD, *PEXCEPTION_RECORD;
struct _CONTEXT; /* opaque: never filled in */
typedef struct _EXCEPTION_POINTERS {
    PEXCEPTION_RECORD ExceptionRecord;
    struct _CONTEXT *ContextRecord;
} EXCEPTION_POINTERS, *PEXCEPTION_POINTERS, *LPEXCEPTION_POINTERS;
#endif

#define GetExceptionCode()        (0u)
#define _exception_code()         (0u)
#define GetExceptionInformation() ((PEXCEPTION_POINTERS)0)
#define _exception_info()         ((PEXCEPTION_POINTERS)0)
#define AbnormalTermination()     (0)
#define _abnormal_termination()   (0)

#ifdef __cplusplus
}
#endif

#if !defined(__cplusplus)
/* C: every __try block declares its own local label (a GNU extension that
 * gcc and clang support), so __leave means the innermost one; the dead
 * "if (0) goto" marks the label used. */
#define __try            { __label__ cport_seh_leave; if (0) goto cport_seh_leave;
#define __except(...)     cport_seh_leave:; } if (0 && (__VA_ARGS__))
#define __finally        cport_seh_leave:; }
#define __leave          goto cport_seh_leave
#elif defined(__cpp_exceptions)
/* C++: __try is try (libstdc++'s meaning, so its own try/catch blocks, which
 * can have several __catch clauses, keep working); __leave throws a private
 * type that the __except/__finally of the innermost __try catches. A
 * catch (...) of the program's between the two would swallow it. */
struct cport_seh_leave {};
#define __try            try
#define __catch(X)       catch (X)
#define __except(...)     catch (cport_seh_leave &) {} if (0 && (__VA_ARGS__))
#define __finally        catch (cport_seh_leave &) {}
#define __leave          throw cport_seh_leave()
#else
/* C++ with -fno-exceptions: libstdc++'s forms; __leave is not available. */
#define __try            if (true)
#define __catch(X)       if (false)
#define __except(...)     else if (0 && (__VA_ARGS__))
#define __finally
#define __leave          cport_seh_leave_needs_cxx_exceptions
#endif

#endif /* CPORT_SEH_H */
