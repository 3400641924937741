/*
 * threadpoolapiset.h — part of cport's windows.h: the thread pool. (The
 * TP_* types and the environment are in winnt.h, as in the Windows SDK.)
 *
 * A pool is a completion port served by worker threads; every callback is a
 * packet on it, so blocking inside a callback is a blocking section of the
 * pool's port, as it is for any GetQueuedCompletionStatus worker. The
 * default process pool needs no CreateThreadpool.
 */
#include "cport_win32.h"
#ifndef CPORT_THREADPOOLAPISET_H
#define CPORT_THREADPOOLAPISET_H

#ifdef __cplusplus
extern "C" {
#endif

typedef VOID (WINAPI *PTP_WIN32_IO_CALLBACK)(PTP_CALLBACK_INSTANCE Instance, PVOID Context,
                                             PVOID Overlapped, ULONG IoResult,
                                             ULONG_PTR NumberOfBytesTransferred, PTP_IO Io);

/* Callback environments: inline over TP_CALLBACK_ENVIRON_V3, as in winbase.h. */
static inline VOID InitializeThreadpoolEnvironment(PTP_CALLBACK_ENVIRON pcbe) {
    TpInitializeCallbackEnviron(pcbe);
}
static inline VOID SetThreadpoolCallbackPool(PTP_CALLBACK_ENVIRON pcbe, PTP_POOL ptpp) {
    TpSetCallbackThreadpool(pcbe, ptpp);
}
static inline VOID SetThreadpoolCallbackCleanupGroup(PTP_CALLBACK_ENVIRON pcbe, PTP_CLEANUP_GROUP ptpcg,
                                                     PTP_CLEANUP_GROUP_CANCEL_CALLBACK pfng) {
    TpSetCallbackCleanupGroup(pcbe, ptpcg, pfng);
}
static inline VOID SetThreadpoolCallbackRunsLong(PTP_CALLBACK_ENVIRON pcbe) {
    TpSetCallbackLongFunction(pcbe);
}
static inline VOID SetThreadpoolCallbackLibrary(PTP_CALLBACK_ENVIRON pcbe, PVOID mod) {
    TpSetCallbackRaceWithDll(pcbe, mod);
}
static inline VOID SetThreadpoolCallbackPriority(PTP_CALLBACK_ENVIRON pcbe, TP_CALLBACK_PRIORITY Priority) {
    TpSetCallbackPriority(pcbe, Priority);
}
static inline VOID DestroyThreadpoolEnvironment(PTP_CALLBACK_ENVIRON pcbe) {
    TpDestroyCallbackEnviron(pcbe);
}

/* Pools. */
PTP_POOL WINAPI CreateThreadpool(PVOID reserved);
VOID WINAPI SetThreadpoolThreadMaximum(PTP_POOL ptpp, DWORD cthrdMost);
BOOL WINAPI SetThreadpoolThreadMinimum(PTP_POOL ptpp, DWORD cthrdMic);
VOID WINAPI CloseThreadpool(PTP_POOL ptpp);

/* Cleanup groups. */
PTP_CLEANUP_GROUP WINAPI CreateThreadpoolCleanupGroup(VOID);
VOID WINAPI CloseThreadpoolCleanupGroupMembers(PTP_CLEANUP_GROUP ptpcg, BOOL fCancelPendingCallbacks,
                                               PVOID pvCleanupContext);
VOID WINAPI CloseThreadpoolCleanupGroup(PTP_CLEANUP_GROUP ptpcg);

/* Simple callbacks and work. */
BOOL WINAPI TrySubmitThreadpoolCallback(PTP_SIMPLE_CALLBACK pfns, PVOID pv, PTP_CALLBACK_ENVIRON pcbe);
PTP_WORK WINAPI CreateThreadpoolWork(PTP_WORK_CALLBACK pfnwk, PVOID pv, PTP_CALLBACK_ENVIRON pcbe);
VOID WINAPI SubmitThreadpoolWork(PTP_WORK pwk);
VOID WINAPI WaitForThreadpoolWorkCallbacks(PTP_WORK pwk, BOOL fCancelPendingCallbacks);
VOID WINAPI CloseThreadpoolWork(PTP_WORK pwk);

/* Timers: a negative due time is relative (100 ns units), a positive one an
 * absolute FILETIME; NULL cancels. */
PTP_TIMER WINAPI CreateThreadpoolTimer(PTP_TIMER_CALLBACK pfnti, PVOID pv, PTP_CALLBACK_ENVIRON pcbe);
VOID WINAPI SetThreadpoolTimer(PTP_TIMER pti, PFILETIME pftDueTime, DWORD msPeriod, DWORD msWindowLength);
BOOL WINAPI SetThreadpoolTimerEx(PTP_TIMER pti, PFILETIME pftDueTime, DWORD msPeriod, DWORD msWindowLength);
BOOL WINAPI IsThreadpoolTimerSet(PTP_TIMER pti);
VOID WINAPI WaitForThreadpoolTimerCallbacks(PTP_TIMER pti, BOOL fCancelPendingCallbacks);
VOID WINAPI CloseThreadpoolTimer(PTP_TIMER pti);

/* Waits: the callback gets WAIT_OBJECT_0 or WAIT_TIMEOUT. */
PTP_WAIT WINAPI CreateThreadpoolWait(PTP_WAIT_CALLBACK pfnwa, PVOID pv, PTP_CALLBACK_ENVIRON pcbe);
VOID WINAPI SetThreadpoolWait(PTP_WAIT pwa, HANDLE h, PFILETIME pftTimeout);
BOOL WINAPI SetThreadpoolWaitEx(PTP_WAIT pwa, HANDLE h, PFILETIME pftTimeout, PVOID Reserved);
VOID WINAPI WaitForThreadpoolWaitCallbacks(PTP_WAIT pwa, BOOL fCancelPendingCallbacks);
VOID WINAPI CloseThreadpoolWait(PTP_WAIT pwa);

/* I/O: StartThreadpoolIo before each overlapped call, CancelThreadpoolIo
 * after one that failed without going pending. */
PTP_IO WINAPI CreateThreadpoolIo(HANDLE fl, PTP_WIN32_IO_CALLBACK pfnio, PVOID pv, PTP_CALLBACK_ENVIRON pcbe);
VOID WINAPI StartThreadpoolIo(PTP_IO pio);
VOID WINAPI CancelThreadpoolIo(PTP_IO pio);
VOID WINAPI WaitForThreadpoolIoCallbacks(PTP_IO pio, BOOL fCancelPendingCallbacks);
VOID WINAPI CloseThreadpoolIo(PTP_IO pio);

/* The running callback's instance. */
BOOL WINAPI CallbackMayRunLong(PTP_CALLBACK_INSTANCE pci);
VOID WINAPI DisassociateCurrentThreadFromCallback(PTP_CALLBACK_INSTANCE pci);
VOID WINAPI SetEventWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci, HANDLE evt);
VOID WINAPI ReleaseSemaphoreWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci, HANDLE sem, DWORD crel);
VOID WINAPI ReleaseMutexWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci, HANDLE mut);
VOID WINAPI LeaveCriticalSectionWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci, PCRITICAL_SECTION pcs);
VOID WINAPI FreeLibraryWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci, HMODULE mod);

#ifdef __cplusplus
}
#endif

#endif /* CPORT_THREADPOOLAPISET_H */
