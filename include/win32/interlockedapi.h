/*
 * interlockedapi.h — part of cport's windows.h: interlocked singly linked
 * lists (SLIST_HEADER / SLIST_ENTRY in winnt.h). Entries must stay valid
 * while they are in a list. cport guards each header with a tiny spin lock
 * of its own (in a bit of the header), held for a few instructions.
 */
#include "cport_win32.h"
#include "winnt.h"
#ifndef CPORT_INTERLOCKEDAPI_H
#define CPORT_INTERLOCKEDAPI_H

#ifdef __cplusplus
extern "C" {
#endif

VOID WINAPI InitializeSListHead(PSLIST_HEADER ListHead);
PSLIST_ENTRY WINAPI InterlockedPushEntrySList(PSLIST_HEADER ListHead, PSLIST_ENTRY ListEntry);
PSLIST_ENTRY WINAPI InterlockedPopEntrySList(PSLIST_HEADER ListHead);
PSLIST_ENTRY WINAPI InterlockedFlushSList(PSLIST_HEADER ListHead);
USHORT WINAPI QueryDepthSList(PSLIST_HEADER ListHead);

#ifdef __cplusplus
}
#endif

#endif /* CPORT_INTERLOCKEDAPI_H */
