/*
 * cport_win32_ext.h — more of kernel32 (included by windows.h): waitable
 * timers, thread-pool waits (RegisterWaitForSingleObject), APCs on alertable
 * waits, module and procedure lookup, serial ports (DCB on termios), version
 * checks, named pipes, Winsock address strings' kernel32 side, and the C++
 * overloads that make Windows-correct uses of `long` compile (LLP64: a
 * Windows `long` is a LONG; on Linux it is 64-bit, so the Interlocked
 * functions get `long` overloads that work on the program's own variable).
 */
#ifndef CPORT_WIN32_EXT_H
#define CPORT_WIN32_EXT_H

#include <stdarg.h>
#include "cport_win32.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NTAPI
#define NTAPI
#endif

/* MSVC's sized integer keywords (as mingw-w64 defines them). */
#ifndef __int8
#define __int8 char
#endif
#ifndef __int16
#define __int16 short
#endif
#ifndef __int32
#define __int32 int
#endif
#ifndef __int64
#define __int64 long long
#endif

/* ---- errors used below and by Winsock programs ---- */
#ifndef ERROR_OUTOFMEMORY
#define ERROR_OUTOFMEMORY           14
#endif
#define ERROR_BAD_UNIT              20
#define ERROR_BAD_COMMAND           22
#define ERROR_CALL_NOT_IMPLEMENTED  120
#define ERROR_MOD_NOT_FOUND         126
#define ERROR_PROC_NOT_FOUND        127
#define ERROR_PIPE_BUSY             231
#define ERROR_NO_DATA               232
#define ERROR_PIPE_NOT_CONNECTED    233
#define ERROR_PIPE_CONNECTED        535
#define ERROR_OLD_WIN_VERSION       1150
#define ERROR_RETRY                 1237

/* ---- module and procedure lookup ----
 * GetModuleHandle knows "kernel32", "ntdll" and "ws2_32" (any case, with or
 * without ".dll") and NULL (the program). GetProcAddress finds the Win32
 * functions cport provides in those modules; for any other name it returns
 * NULL with ERROR_PROC_NOT_FOUND, as an older Windows without that entry
 * point does (ntdll's NtFlushBuffersFileEx is not provided). ntdll's
 * NtSetInformationFile is found, for FileReplaceCompletionInformation (61)
 * only: it replaces or (Port NULL) removes a handle's port association. */
#ifdef __cplusplus
typedef intptr_t (WINAPI *FARPROC)(void);
typedef intptr_t (WINAPI *NEARPROC)(void);
typedef intptr_t (WINAPI *PROC)(void);
#else
/* Unprototyped in C, as in the SDK: converts to any function pointer type. */
typedef intptr_t (WINAPI *FARPROC)();
typedef intptr_t (WINAPI *NEARPROC)();
typedef intptr_t (WINAPI *PROC)();
#endif
HMODULE WINAPI GetModuleHandleA(LPCSTR lpModuleName);
HMODULE WINAPI GetModuleHandleW(LPCWSTR lpModuleName);
FARPROC WINAPI GetProcAddress(HMODULE hModule, LPCSTR lpProcName);

/* ---- APCs ----
 * QueueUserAPC queues to a thread made by CreateThread (or the calling
 * thread's GetCurrentThread pseudo-handle); the APC runs when that thread
 * makes an alertable wait (SleepEx, WaitForSingleObjectEx,
 * WaitForMultipleObjectsEx with bAlertable TRUE), which then returns
 * WAIT_IO_COMPLETION. */
typedef VOID (WINAPI *PAPCFUNC)(ULONG_PTR Parameter);
DWORD WINAPI QueueUserAPC(PAPCFUNC pfnAPC, HANDLE hThread, ULONG_PTR dwData);
DWORD WINAPI WaitForSingleObjectEx(HANDLE hHandle, DWORD dwMilliseconds, BOOL bAlertable);
DWORD WINAPI WaitForMultipleObjectsEx(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll,
                                      DWORD dwMilliseconds, BOOL bAlertable);
/* Completion routines: ReadFileEx / WriteFileEx (and WSARecv / WSASend /
 * WSARecvFrom / WSASendTo with lpCompletionRoutine) run overlapped; when the
 * operation ends, OVERLAPPED.Internal/InternalHigh are written and the
 * routine is queued as an APC to the issuing thread (no packet, no event).
 * It runs at that thread's next alertable wait (the waits above,
 * WSAWaitForMultipleEvents and GetQueuedCompletionStatusEx with fAlertable:
 * FALSE, GetLastError WAIT_IO_COMPLETION). A cancelled operation's routine
 * gets ERROR_OPERATION_ABORTED. */
typedef VOID (WINAPI *LPOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwErrorCode,
                                                       DWORD dwNumberOfBytesTransfered,
                                                       LPOVERLAPPED lpOverlapped);
BOOL WINAPI ReadFileEx(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead,
                       LPOVERLAPPED lpOverlapped,
                       LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
BOOL WINAPI WriteFileEx(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite,
                        LPOVERLAPPED lpOverlapped,
                        LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
/* Not provided (Linux cannot end another thread safely): FALSE with
 * ERROR_NOT_SUPPORTED. */
BOOL WINAPI TerminateThread(HANDLE hThread, DWORD dwExitCode);

/* ---- waitable timers ----
 * A waitable timer is waitable like an event (manual-reset or
 * synchronization timer); periodic timers re-arm. Completion routines are not
 * supported (SetWaitableTimer fails with ERROR_NOT_SUPPORTED when given one).
 * Names are ignored. */
typedef VOID (WINAPI *PTIMERAPCROUTINE)(LPVOID lpArgToCompletionRoutine,
                                        DWORD dwTimerLowValue, DWORD dwTimerHighValue);
#define CREATE_WAITABLE_TIMER_MANUAL_RESET   0x00000001
#define CREATE_WAITABLE_TIMER_HIGH_RESOLUTION 0x00000002
#define TIMER_ALL_ACCESS                     0x1F0003
#define TIMER_MODIFY_STATE                   0x0002
#define TIMER_QUERY_STATE                    0x0001
HANDLE WINAPI CreateWaitableTimerA(LPSECURITY_ATTRIBUTES lpTimerAttributes, BOOL bManualReset,
                                   LPCSTR lpTimerName);
HANDLE WINAPI CreateWaitableTimerW(LPSECURITY_ATTRIBUTES lpTimerAttributes, BOOL bManualReset,
                                   LPCWSTR lpTimerName);
HANDLE WINAPI CreateWaitableTimerExA(LPSECURITY_ATTRIBUTES lpTimerAttributes, LPCSTR lpTimerName,
                                     DWORD dwFlags, DWORD dwDesiredAccess);
HANDLE WINAPI CreateWaitableTimerExW(LPSECURITY_ATTRIBUTES lpTimerAttributes, LPCWSTR lpTimerName,
                                     DWORD dwFlags, DWORD dwDesiredAccess);
BOOL WINAPI SetWaitableTimer(HANDLE hTimer, const LARGE_INTEGER *lpDueTime, LONG lPeriod,
                             PTIMERAPCROUTINE pfnCompletionRoutine,
                             LPVOID lpArgToCompletionRoutine, BOOL fResume);
BOOL WINAPI CancelWaitableTimer(HANDLE hTimer);

/* ---- thread-pool waits ----
 * Each registration waits on a thread of its own; the callback runs there.
 * UnregisterWaitEx(h, INVALID_HANDLE_VALUE) waits for a running callback
 * (except when called from that callback); with NULL it returns FALSE and
 * ERROR_IO_PENDING while the callback runs; with an event it sets the event
 * once the callback is done. */
typedef VOID (CALLBACK *WAITORTIMERCALLBACK)(PVOID lpParameter, BOOLEAN TimerOrWaitFired);
typedef WAITORTIMERCALLBACK WAITORTIMERCALLBACKFUNC;
#define WT_EXECUTEDEFAULT            0x00000000
#define WT_EXECUTEINIOTHREAD         0x00000001
#define WT_EXECUTEINUITHREAD         0x00000002
#define WT_EXECUTEINWAITTHREAD       0x00000004
#define WT_EXECUTEONLYONCE           0x00000008
#define WT_EXECUTEINTIMERTHREAD      0x00000020
#define WT_EXECUTELONGFUNCTION       0x00000010
#define WT_EXECUTEINPERSISTENTIOTHREAD 0x00000040
#define WT_EXECUTEINPERSISTENTTHREAD 0x00000080
#define WT_TRANSFER_IMPERSONATION    0x00000100
BOOL WINAPI RegisterWaitForSingleObject(PHANDLE phNewWaitObject, HANDLE hObject,
                                        WAITORTIMERCALLBACK Callback, PVOID Context,
                                        ULONG dwMilliseconds, ULONG dwFlags);
BOOL WINAPI UnregisterWait(HANDLE WaitHandle);
BOOL WINAPI UnregisterWaitEx(HANDLE WaitHandle, HANDLE CompletionEvent);

/* ---- serial ports ----
 * GetCommState/SetCommState map the DCB to the termios settings of a
 * terminal device opened with CreateFile (baud rate, byte size, parity, stop
 * bits, RTS/CTS and XON/XOFF flow control); on a handle that is not a
 * terminal they fail with ERROR_INVALID_FUNCTION, as Windows does for a
 * handle that is not a communications device. SetCommTimeouts/GetCommTimeouts
 * remember the values (overlapped reads wait for the first byte, which is
 * what Asio sets). */
typedef struct _DCB {
    DWORD DCBlength;
    DWORD BaudRate;
    DWORD fBinary : 1;
    DWORD fParity : 1;
    DWORD fOutxCtsFlow : 1;
    DWORD fOutxDsrFlow : 1;
    DWORD fDtrControl : 2;
    DWORD fDsrSensitivity : 1;
    DWORD fTXContinueOnXoff : 1;
    DWORD fOutX : 1;
    DWORD fInX : 1;
    DWORD fErrorChar : 1;
    DWORD fNull : 1;
    DWORD fRtsControl : 2;
    DWORD fAbortOnError : 1;
    DWORD fDummy2 : 17;
    WORD wReserved;
    WORD XonLim;
    WORD XoffLim;
    BYTE ByteSize;
    BYTE Parity;
    BYTE StopBits;
    char XonChar;
    char XoffChar;
    char ErrorChar;
    char EofChar;
    char EvtChar;
    WORD wReserved1;
} DCB, *LPDCB;

typedef struct _COMMTIMEOUTS {
    DWORD ReadIntervalTimeout;
    DWORD ReadTotalTimeoutMultiplier;
    DWORD ReadTotalTimeoutConstant;
    DWORD WriteTotalTimeoutMultiplier;
    DWORD WriteTotalTimeoutConstant;
} COMMTIMEOUTS, *LPCOMMTIMEOUTS;

#define NOPARITY            0
#define ODDPARITY           1
#define EVENPARITY          2
#define MARKPARITY          3
#define SPACEPARITY         4
#define ONESTOPBIT          0
#define ONE5STOPBITS        1
#define TWOSTOPBITS         2
#define DTR_CONTROL_DISABLE   0x00
#define DTR_CONTROL_ENABLE    0x01
#define DTR_CONTROL_HANDSHAKE 0x02
#define RTS_CONTROL_DISABLE   0x00
#define RTS_CONTROL_ENABLE    0x01
#define RTS_CONTROL_HANDSHAKE 0x02
#define RTS_CONTROL_TOGGLE    0x03
#define CBR_110    110
#define CBR_300    300
#define CBR_600    600
#define CBR_1200   1200
#define CBR_2400   2400
#define CBR_4800   4800
#define CBR_9600   9600
#define CBR_14400  14400
#define CBR_19200  19200
#define CBR_38400  38400
#define CBR_56000  56000
#define CBR_57600  57600
#define CBR_115200 115200
#define CBR_128000 128000
#define CBR_256000 256000
#define MAXDWORD   0xffffffff
BOOL WINAPI GetCommState(HANDLE hFile, LPDCB lpDCB);
BOOL WINAPI SetCommState(HANDLE hFile, LPDCB lpDCB);
BOOL WINAPI GetCommTimeouts(HANDLE hFile, LPCOMMTIMEOUTS lpCommTimeouts);
BOOL WINAPI SetCommTimeouts(HANDLE hFile, LPCOMMTIMEOUTS lpCommTimeouts);

/* ---- versions ----
 * cport reports Windows 6.2 build 9200 (GetVersionEx); VerifyVersionInfo
 * compares against that. */
#define VER_MINORVERSION     0x0000001
#define VER_MAJORVERSION     0x0000002
#define VER_BUILDNUMBER      0x0000004
#define VER_PLATFORMID       0x0000008
#define VER_SERVICEPACKMINOR 0x0000010
#define VER_SERVICEPACKMAJOR 0x0000020
#define VER_SUITENAME        0x0000040
#define VER_PRODUCT_TYPE     0x0000080
#define VER_EQUAL            1
#define VER_GREATER          2
#define VER_GREATER_EQUAL    3
#define VER_LESS             4
#define VER_LESS_EQUAL       5
#define VER_AND              6
#define VER_OR               7
#define ERROR_OLD_WIN_VERSION_CHECK ERROR_OLD_WIN_VERSION
ULONGLONG WINAPI VerSetConditionMask(ULONGLONG ConditionMask, DWORD TypeMask,
                                     BYTE Condition);
BOOL WINAPI VerifyVersionInfoA(LPOSVERSIONINFOEXA lpVersionInformation, DWORD dwTypeMask,
                               ULONGLONG dwlConditionMask);
BOOL WINAPI VerifyVersionInfoW(LPOSVERSIONINFOEXW lpVersionInformation, DWORD dwTypeMask,
                               ULONGLONG dwlConditionMask);
#define VER_SET_CONDITION(m, t, c) ((m) = VerSetConditionMask((m), (t), (c)))

/* ---- named pipes ----
 * Not provided: CreateNamedPipe fails with ERROR_NOT_SUPPORTED (Linux has no
 * Windows named-pipe namespace). */
#define PIPE_ACCESS_INBOUND         0x00000001
#define PIPE_ACCESS_OUTBOUND        0x00000002
#define PIPE_ACCESS_DUPLEX          0x00000003
#define PIPE_TYPE_BYTE              0x00000000
#define PIPE_TYPE_MESSAGE           0x00000004
#define PIPE_READMODE_BYTE          0x00000000
#define PIPE_READMODE_MESSAGE       0x00000002
#define PIPE_WAIT                   0x00000000
#define PIPE_NOWAIT                 0x00000001
#define PIPE_UNLIMITED_INSTANCES    255
HANDLE WINAPI CreateNamedPipeA(LPCSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode,
                               DWORD nMaxInstances, DWORD nOutBufferSize, DWORD nInBufferSize,
                               DWORD nDefaultTimeOut, LPSECURITY_ATTRIBUTES lpSecurityAttributes);
HANDLE WINAPI CreateNamedPipeW(LPCWSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode,
                               DWORD nMaxInstances, DWORD nOutBufferSize, DWORD nInBufferSize,
                               DWORD nDefaultTimeOut, LPSECURITY_ATTRIBUTES lpSecurityAttributes);

/* ---- the C runtime's wide printf ----
 * _snwprintf: at most count wide characters; no terminator and -1 when the
 * output does not fit (as Microsoft's). Conversions are glibc's (%s is a
 * narrow string, %ls a wide one). */
static inline int _vsnwprintf(wchar_t *buffer, size_t count, const wchar_t *format, va_list args) {
    int n;
    if (count == 0)
        return -1;
    n = vswprintf(buffer, count, format, args);
    if (n < 0 || (size_t)n >= count)
        return -1;
    return n;
}
static inline int _snwprintf(wchar_t *buffer, size_t count, const wchar_t *format, ...) {
    va_list args;
    int n;
    va_start(args, format);
    n = _vsnwprintf(buffer, count, format, args);
    va_end(args);
    return n;
}

#ifdef UNICODE
#define GetModuleHandle      GetModuleHandleW
#define CreateWaitableTimer  CreateWaitableTimerW
#define CreateWaitableTimerEx CreateWaitableTimerExW
#define VerifyVersionInfo    VerifyVersionInfoW
#define CreateNamedPipe      CreateNamedPipeW
#else
#define GetModuleHandle      GetModuleHandleA
#define CreateWaitableTimer  CreateWaitableTimerA
#define CreateWaitableTimerEx CreateWaitableTimerExA
#define VerifyVersionInfo    VerifyVersionInfoA
#define CreateNamedPipe      CreateNamedPipeA
#endif

#ifdef __cplusplus
}

/* LLP64: Windows code keeps Interlocked counters in `long` (32-bit there,
 * 64-bit on Linux). These overloads work on the program's own `long`
 * atomically (all 64 bits), so such code compiles and behaves. */
inline long InterlockedIncrement(long volatile *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }
inline long InterlockedDecrement(long volatile *p) { return __atomic_sub_fetch(p, 1, __ATOMIC_SEQ_CST); }
inline long InterlockedExchange(long volatile *p, long v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline long InterlockedExchangeAdd(long volatile *p, long v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline long InterlockedCompareExchange(long volatile *p, long exchange, long comparand) {
    __atomic_compare_exchange_n(p, &comparand, exchange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return comparand;
}
inline unsigned long InterlockedIncrement(unsigned long volatile *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }
inline unsigned long InterlockedDecrement(unsigned long volatile *p) { return __atomic_sub_fetch(p, 1, __ATOMIC_SEQ_CST); }
inline unsigned long InterlockedExchange(unsigned long volatile *p, unsigned long v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline unsigned long InterlockedExchangeAdd(unsigned long volatile *p, unsigned long v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned long InterlockedCompareExchange(unsigned long volatile *p, unsigned long exchange, unsigned long comparand) {
    __atomic_compare_exchange_n(p, &comparand, exchange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return comparand;
}
#endif

#endif /* CPORT_WIN32_EXT_H */
