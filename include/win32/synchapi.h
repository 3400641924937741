/*
 * synchapi.h — part of cport's windows.h: slim reader/writer locks,
 * condition variables, one-time initialisation, semaphores, mutexes and
 * WaitOnAddress. (Critical sections, events and the WaitFor… functions are
 * declared in cport_win32.h.)
 *
 * Every wait here (a contended SRW acquire, a condition-variable sleep, a
 * semaphore or mutex wait, WaitOnAddress, InitOnce waiting for another
 * thread's initialisation) is a blocking section of the calling thread's
 * completion port: the thread stops counting against its concurrency limit.
 */
#include "cport_win32.h"
#ifndef CPORT_SYNCHAPI_H
#define CPORT_SYNCHAPI_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- slim reader/writer locks: one pointer, zero = free ---- */
typedef struct _RTL_SRWLOCK {
    PVOID Ptr;
} RTL_SRWLOCK, SRWLOCK, *PSRWLOCK;
#define RTL_SRWLOCK_INIT {0}
#define SRWLOCK_INIT RTL_SRWLOCK_INIT

VOID WINAPI InitializeSRWLock(PSRWLOCK SRWLock);
VOID WINAPI AcquireSRWLockExclusive(PSRWLOCK SRWLock);
VOID WINAPI AcquireSRWLockShared(PSRWLOCK SRWLock);
VOID WINAPI ReleaseSRWLockExclusive(PSRWLOCK SRWLock);
VOID WINAPI ReleaseSRWLockShared(PSRWLOCK SRWLock);
BOOLEAN WINAPI TryAcquireSRWLockExclusive(PSRWLOCK SRWLock);
BOOLEAN WINAPI TryAcquireSRWLockShared(PSRWLOCK SRWLock);

/* ---- condition variables: one pointer, zero = initialised ---- */
typedef struct _RTL_CONDITION_VARIABLE {
    PVOID Ptr;
} RTL_CONDITION_VARIABLE, CONDITION_VARIABLE, *PCONDITION_VARIABLE;
#define RTL_CONDITION_VARIABLE_INIT {0}
#define CONDITION_VARIABLE_INIT RTL_CONDITION_VARIABLE_INIT
#define CONDITION_VARIABLE_LOCKMODE_SHARED 0x1

VOID WINAPI InitializeConditionVariable(PCONDITION_VARIABLE ConditionVariable);
/* FALSE + ERROR_TIMEOUT (1460) after dwMilliseconds, the lock held again. */
BOOL WINAPI SleepConditionVariableCS(PCONDITION_VARIABLE ConditionVariable,
                                     PCRITICAL_SECTION CriticalSection, DWORD dwMilliseconds);
BOOL WINAPI SleepConditionVariableSRW(PCONDITION_VARIABLE ConditionVariable, PSRWLOCK SRWLock,
                                      DWORD dwMilliseconds, ULONG Flags);
VOID WINAPI WakeConditionVariable(PCONDITION_VARIABLE ConditionVariable);
VOID WINAPI WakeAllConditionVariable(PCONDITION_VARIABLE ConditionVariable);

/* ---- one-time initialisation: one pointer, zero = not started ---- */
typedef union _RTL_RUN_ONCE {
    PVOID Ptr;
} RTL_RUN_ONCE, INIT_ONCE, *PINIT_ONCE, *LPINIT_ONCE;
#define RTL_RUN_ONCE_INIT {0}
#define INIT_ONCE_STATIC_INIT RTL_RUN_ONCE_INIT
#define INIT_ONCE_CHECK_ONLY        0x00000001UL
#define INIT_ONCE_ASYNC             0x00000002UL
#define INIT_ONCE_INIT_FAILED       0x00000004UL
#define INIT_ONCE_CTX_RESERVED_BITS 2

typedef BOOL (WINAPI *PINIT_ONCE_FN)(PINIT_ONCE InitOnce, PVOID Parameter, PVOID *Context);

VOID WINAPI InitOnceInitialize(PINIT_ONCE InitOnce);
BOOL WINAPI InitOnceExecuteOnce(PINIT_ONCE InitOnce, PINIT_ONCE_FN InitFn, PVOID Parameter,
                                LPVOID *Context);
BOOL WINAPI InitOnceBeginInitialize(LPINIT_ONCE lpInitOnce, DWORD dwFlags, PBOOL fPending,
                                    LPVOID *lpContext);
BOOL WINAPI InitOnceComplete(LPINIT_ONCE lpInitOnce, DWORD dwFlags, LPVOID lpContext);

/* ---- semaphores and mutexes: handles, waitable with WaitFor…, closed with
 * CloseHandle. Names are the process's own: creating an existing name gives
 * a handle to that object with ERROR_ALREADY_EXISTS (0 otherwise); Open…
 * finds it (ERROR_FILE_NOT_FOUND if none). Other processes do not see them. ---- */
#define CREATE_MUTEX_INITIAL_OWNER  0x00000001

HANDLE WINAPI CreateSemaphoreA(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes, LONG lInitialCount,
                               LONG lMaximumCount, LPCSTR lpName);
HANDLE WINAPI CreateSemaphoreW(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes, LONG lInitialCount,
                               LONG lMaximumCount, LPCWSTR lpName);
HANDLE WINAPI CreateSemaphoreExA(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes, LONG lInitialCount,
                                 LONG lMaximumCount, LPCSTR lpName, DWORD dwFlags,
                                 DWORD dwDesiredAccess);
HANDLE WINAPI CreateSemaphoreExW(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes, LONG lInitialCount,
                                 LONG lMaximumCount, LPCWSTR lpName, DWORD dwFlags,
                                 DWORD dwDesiredAccess);
HANDLE WINAPI OpenSemaphoreA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName);
HANDLE WINAPI OpenSemaphoreW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName);
/* Past the maximum: FALSE + ERROR_TOO_MANY_POSTS (298), count unchanged. */
BOOL WINAPI ReleaseSemaphore(HANDLE hSemaphore, LONG lReleaseCount, LPLONG lpPreviousCount);

HANDLE WINAPI CreateMutexA(LPSECURITY_ATTRIBUTES lpMutexAttributes, BOOL bInitialOwner,
                           LPCSTR lpName);
HANDLE WINAPI CreateMutexW(LPSECURITY_ATTRIBUTES lpMutexAttributes, BOOL bInitialOwner,
                           LPCWSTR lpName);
HANDLE WINAPI CreateMutexExA(LPSECURITY_ATTRIBUTES lpMutexAttributes, LPCSTR lpName,
                             DWORD dwFlags, DWORD dwDesiredAccess);
HANDLE WINAPI CreateMutexExW(LPSECURITY_ATTRIBUTES lpMutexAttributes, LPCWSTR lpName,
                             DWORD dwFlags, DWORD dwDesiredAccess);
HANDLE WINAPI OpenMutexA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName);
HANDLE WINAPI OpenMutexW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName);
/* Not the owner: FALSE + ERROR_NOT_OWNER (288). A mutex whose owner thread
 * exits is abandoned: the next wait that takes it returns WAIT_ABANDONED_0 + i. */
BOOL WINAPI ReleaseMutex(HANDLE hMutex);

/* ---- WaitOnAddress (sizes 1, 2, 4, 8; FALSE + ERROR_TIMEOUT on timeout) ---- */
BOOL WINAPI WaitOnAddress(volatile VOID *Address, PVOID CompareAddress, SIZE_T AddressSize,
                          DWORD dwMilliseconds);
VOID WINAPI WakeByAddressSingle(PVOID Address);
VOID WINAPI WakeByAddressAll(PVOID Address);

#ifdef UNICODE
#define CreateSemaphore   CreateSemaphoreW
#define CreateSemaphoreEx CreateSemaphoreExW
#define CreateMutex       CreateMutexW
#define CreateMutexEx     CreateMutexExW
#define OpenSemaphore     OpenSemaphoreW
#define OpenMutex         OpenMutexW
#else
#define CreateSemaphore   CreateSemaphoreA
#define CreateSemaphoreEx CreateSemaphoreExA
#define CreateMutex       CreateMutexA
#define CreateMutexEx     CreateMutexExA
#define OpenSemaphore     OpenSemaphoreA
#define OpenMutex         OpenMutexA
#endif

#ifdef __cplusplus
}
#endif

#endif /* CPORT_SYNCHAPI_H */
