/*
 * fibersapi.h — part of cport's windows.h: fiber-local storage (no fibers:
 * a fiber is its thread). The callback runs for each non-NULL value when its
 * thread exits, and for every thread's value when the index is freed.
 */
#include "cport_win32.h"
#ifndef CPORT_FIBERSAPI_H
#define CPORT_FIBERSAPI_H

#ifdef __cplusplus
extern "C" {
#endif

#define FLS_OUT_OF_INDEXES ((DWORD)0xFFFFFFFF)

typedef VOID (WINAPI *PFLS_CALLBACK_FUNCTION)(PVOID lpFlsData);

DWORD WINAPI FlsAlloc(PFLS_CALLBACK_FUNCTION lpCallback);
PVOID WINAPI FlsGetValue(DWORD dwFlsIndex);
BOOL WINAPI FlsSetValue(DWORD dwFlsIndex, PVOID lpFlsData);
BOOL WINAPI FlsFree(DWORD dwFlsIndex);

#ifdef __cplusplus
}
#endif

#endif /* CPORT_FIBERSAPI_H */
