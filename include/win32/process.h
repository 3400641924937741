/*
 * process.h — the C runtime's _beginthreadex / _endthreadex, on CreateThread
 * (the handle is a thread HANDLE: wait on it, CloseHandle it).
 */
#ifndef CPORT_PROCESS_H
#define CPORT_PROCESS_H
#include "windows.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned (__stdcall *_beginthreadex_proc_type)(void *);

/* 0 on failure (GetLastError says why), as the C runtime's. */
static inline uintptr_t _beginthreadex(void *security, unsigned stack_size,
                                       _beginthreadex_proc_type start_address, void *arglist,
                                       unsigned initflag, unsigned *thrdaddr) {
    return (uintptr_t)CreateThread((LPSECURITY_ATTRIBUTES)security, stack_size,
                                   (LPTHREAD_START_ROUTINE)start_address, arglist, initflag,
                                   (LPDWORD)thrdaddr);
}

#ifdef __cplusplus
}
#endif
#endif
