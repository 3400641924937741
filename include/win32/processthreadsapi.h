/*
 * processthreadsapi.h — part of cport's windows.h: thread-local storage and
 * SwitchToThread. (CreateThread and the other thread calls are declared in
 * cport_win32.h.)
 */
#include "cport_win32.h"
#ifndef CPORT_PROCESSTHREADSAPI_H
#define CPORT_PROCESSTHREADSAPI_H

#ifdef __cplusplus
extern "C" {
#endif

#define TLS_OUT_OF_INDEXES ((DWORD)0xFFFFFFFF)
#define TLS_MINIMUM_AVAILABLE 64

/* 1088 indexes; TlsFree clears the index in every thread. A successful
 * TlsGetValue sets the last error to 0. */
DWORD WINAPI TlsAlloc(void);
LPVOID WINAPI TlsGetValue(DWORD dwTlsIndex);
BOOL WINAPI TlsSetValue(DWORD dwTlsIndex, LPVOID lpTlsValue);
BOOL WINAPI TlsFree(DWORD dwTlsIndex);

/* sched_yield; always TRUE (Linux does not say whether another thread ran). */
BOOL WINAPI SwitchToThread(void);

#ifdef __cplusplus
}
#endif

#endif /* CPORT_PROCESSTHREADSAPI_H */
