/*
 * memoryapi.h — part of cport's windows.h: VirtualAlloc / VirtualFree
 * (reservations at 64 KiB boundaries, so page aligned buffers for
 * FILE_FLAG_NO_BUFFERING; MEM_* and PAGE_* in winnt.h).
 */
#include "cport_win32.h"
#include "winnt.h"
#ifndef CPORT_MEMORYAPI_H
#define CPORT_MEMORYAPI_H

#ifdef __cplusplus
extern "C" {
#endif

LPVOID WINAPI VirtualAlloc(LPVOID lpAddress, SIZE_T dwSize, DWORD flAllocationType,
                           DWORD flProtect);
/* MEM_RELEASE: dwSize 0 and the base VirtualAlloc returned. */
BOOL WINAPI VirtualFree(LPVOID lpAddress, SIZE_T dwSize, DWORD dwFreeType);

#ifdef __cplusplus
}
#endif

#endif /* CPORT_MEMORYAPI_H */
