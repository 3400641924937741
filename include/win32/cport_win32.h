/*
 * cport_win32.h — the Win32 base of cport's shim headers: types with their
 * Windows x64 (LLP64) sizes, the kernel32 side (completion ports, files,
 * events, errors) and its constants with their Windows values.
 *
 * Included by windows.h / winsock2.h; C and C++. Link with -lcport -lpthread.
 * Differences from Windows, by design:
 *   - WCHAR is wchar_t (32-bit on Linux) so that L"..." literals work; the
 *     W functions take UTF-32 strings.
 *   - Socket-level types and constants (sockaddr, AF_*, SOL_SOCKET, SO_*,
 *     u_long) are Linux's: they travel straight to the kernel. Error codes,
 *     status codes, GUIDs and the Win32 structures are Windows'.
 */
#ifndef CPORT_WIN32_H
#define CPORT_WIN32_H

/* The cport release these headers belong to: the version of libcport
 * (ffi/Cargo.toml; ffi/tests/install.rs checks that the two agree). The
 * shared library's SONAME is libcport.so.<CPORT_VERSION_MAJOR>. */
#define CPORT_VERSION_MAJOR 0
#define CPORT_VERSION_MINOR 1
#define CPORT_VERSION_PATCH 0

/* The socket headers need the POSIX/BSD declarations also under -std=c99/c11
 * (effective when this is the first system-header include of the file). */
#if !defined(_DEFAULT_SOURCE) && !defined(_GNU_SOURCE)
#define _DEFAULT_SOURCE 1
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- calling conventions and annotations: nothing on Linux ---- */
#ifndef WINAPI
#define WINAPI
#endif
#ifndef WSAAPI
#define WSAAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef APIENTRY
#define APIENTRY
#endif
#ifndef PASCAL
#define PASCAL
#endif
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif
#ifndef FAR
#define FAR
#endif
#ifndef NEAR
#define NEAR
#endif
#ifndef IN
#define IN
#endif
#ifndef OUT
#define OUT
#endif
#ifndef OPTIONAL
#define OPTIONAL
#endif
#ifndef CONST
#define CONST const
#endif
#ifndef VOID
#define VOID void
#endif
#define DUMMYSTRUCTNAME
#define DUMMYSTRUCTNAME2
#define DUMMYUNIONNAME
#define DUMMYUNIONNAME2

/* ---- base types (LLP64) ---- */
typedef int BOOL, *PBOOL, *LPBOOL;
typedef unsigned char BOOLEAN, *PBOOLEAN;
typedef unsigned char BYTE, *PBYTE, *LPBYTE;
typedef unsigned char UCHAR, *PUCHAR;
typedef unsigned short WORD, *PWORD, *LPWORD;
typedef unsigned short USHORT, *PUSHORT;
typedef short SHORT, *PSHORT;
typedef unsigned int DWORD, *PDWORD, *LPDWORD;
typedef int INT, *PINT, *LPINT;
typedef unsigned int UINT, *PUINT;
typedef int LONG, *PLONG, *LPLONG;
typedef unsigned int ULONG, *PULONG;
typedef long long LONGLONG, *PLONGLONG;
typedef unsigned long long ULONGLONG, *PULONGLONG;
typedef unsigned long long DWORD64, *PDWORD64;
typedef long long INT64;
typedef unsigned long long UINT64;
typedef int INT32;
typedef unsigned int UINT32;
typedef intptr_t INT_PTR, *PINT_PTR;
typedef intptr_t LONG_PTR, *PLONG_PTR;
typedef uintptr_t UINT_PTR, *PUINT_PTR;
typedef uintptr_t ULONG_PTR, *PULONG_PTR;
/* The same C type as ULONG_PTR (programs pass a PDWORD_PTR as PULONG_PTR). */
typedef ULONG_PTR DWORD_PTR, *PDWORD_PTR;
typedef ULONG_PTR SIZE_T, *PSIZE_T;
typedef LONG_PTR SSIZE_T, *PSSIZE_T;
typedef char CHAR, *PCHAR, *LPCH, *PSTR, *LPSTR;
typedef const char *PCSTR, *LPCSTR, *LPCCH;
typedef wchar_t WCHAR, *PWCHAR, *PWSTR, *LPWSTR;
typedef const wchar_t *PCWSTR, *LPCWSTR;
typedef void *PVOID, *LPVOID;
typedef const void *LPCVOID;
typedef void *HANDLE, **PHANDLE, **LPHANDLE;
typedef HANDLE HMODULE, HINSTANCE, HLOCAL, HGLOBAL;
typedef LONG HRESULT;

#ifdef UNICODE
typedef WCHAR TCHAR, *PTCHAR, *LPTSTR, *PTSTR;
typedef const WCHAR *LPCTSTR, *PCTSTR;
#define __TEXT(q) L##q
#else
typedef char TCHAR, *PTCHAR, *LPTSTR, *PTSTR;
typedef const char *LPCTSTR, *PCTSTR;
#define __TEXT(q) q
#endif
#ifndef TEXT
#define TEXT(q) __TEXT(q)
#endif
#ifndef _T
#define _T(q) __TEXT(q)
#endif

typedef union _LARGE_INTEGER {
    struct {
        DWORD LowPart;
        LONG HighPart;
    } DUMMYSTRUCTNAME;
    struct {
        DWORD LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef struct _GUID {
    unsigned int Data1;
    unsigned short Data2;
    unsigned short Data3;
    unsigned char Data4[8];
} GUID, *LPGUID;
typedef const GUID *LPCGUID;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#define INVALID_HANDLE_VALUE ((HANDLE)(LONG_PTR)-1)
#define INFINITE 0xFFFFFFFF

/* ---- structures ---- */
typedef struct _OVERLAPPED {
    ULONG_PTR Internal;     /* NTSTATUS of the operation (STATUS_PENDING while running) */
    ULONG_PTR InternalHigh; /* bytes transferred */
    union {
        struct {
            DWORD Offset;
            DWORD OffsetHigh;
        } DUMMYSTRUCTNAME;
        PVOID Pointer;
    } DUMMYUNIONNAME;
    HANDLE hEvent;
} OVERLAPPED, *LPOVERLAPPED;

typedef struct _OVERLAPPED_ENTRY {
    ULONG_PTR lpCompletionKey;
    LPOVERLAPPED lpOverlapped;
    ULONG_PTR Internal;
    DWORD dwNumberOfBytesTransferred;
} OVERLAPPED_ENTRY, *LPOVERLAPPED_ENTRY;

typedef struct _SECURITY_ATTRIBUTES {
    DWORD nLength;
    LPVOID lpSecurityDescriptor;
    BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

typedef struct _SYSTEM_INFO {
    union {
        DWORD dwOemId;
        struct {
            WORD wProcessorArchitecture;
            WORD wReserved;
        } DUMMYSTRUCTNAME;
    } DUMMYUNIONNAME;
    DWORD dwPageSize;
    LPVOID lpMinimumApplicationAddress;
    LPVOID lpMaximumApplicationAddress;
    DWORD_PTR dwActiveProcessorMask;
    DWORD dwNumberOfProcessors;
    DWORD dwProcessorType;
    DWORD dwAllocationGranularity;
    WORD wProcessorLevel;
    WORD wProcessorRevision;
} SYSTEM_INFO, *LPSYSTEM_INFO;

/* Recursive lock in the program's memory (Windows x64 layout, 40 bytes).
 * cport keeps its own state in these fields: LockCount is the lock word,
 * OwningThread the owner's thread id, RecursionCount its depth. */
typedef struct _RTL_CRITICAL_SECTION {
    PVOID DebugInfo;
    LONG LockCount;
    LONG RecursionCount;
    HANDLE OwningThread;
    HANDLE LockSemaphore;
    ULONG_PTR SpinCount;
} RTL_CRITICAL_SECTION, *PRTL_CRITICAL_SECTION, CRITICAL_SECTION, *PCRITICAL_SECTION,
    *LPCRITICAL_SECTION;

typedef struct _OSVERSIONINFOA {
    DWORD dwOSVersionInfoSize;
    DWORD dwMajorVersion;
    DWORD dwMinorVersion;
    DWORD dwBuildNumber;
    DWORD dwPlatformId;
    CHAR szCSDVersion[128];
} OSVERSIONINFOA, *POSVERSIONINFOA, *LPOSVERSIONINFOA;

typedef struct _OSVERSIONINFOEXA {
    DWORD dwOSVersionInfoSize;
    DWORD dwMajorVersion;
    DWORD dwMinorVersion;
    DWORD dwBuildNumber;
    DWORD dwPlatformId;
    CHAR szCSDVersion[128];
    WORD wServicePackMajor;
    WORD wServicePackMinor;
    WORD wSuiteMask;
    BYTE wProductType;
    BYTE wReserved;
} OSVERSIONINFOEXA, *POSVERSIONINFOEXA, *LPOSVERSIONINFOEXA;

/* The W forms with this ABI's 32-bit WCHAR (532 / 540 bytes, not Windows' 276 / 284). */
typedef struct _OSVERSIONINFOW {
    DWORD dwOSVersionInfoSize;
    DWORD dwMajorVersion;
    DWORD dwMinorVersion;
    DWORD dwBuildNumber;
    DWORD dwPlatformId;
    WCHAR szCSDVersion[128];
} OSVERSIONINFOW, *POSVERSIONINFOW, *LPOSVERSIONINFOW;

typedef struct _OSVERSIONINFOEXW {
    DWORD dwOSVersionInfoSize;
    DWORD dwMajorVersion;
    DWORD dwMinorVersion;
    DWORD dwBuildNumber;
    DWORD dwPlatformId;
    WCHAR szCSDVersion[128];
    WORD wServicePackMajor;
    WORD wServicePackMinor;
    WORD wSuiteMask;
    BYTE wProductType;
    BYTE wReserved;
} OSVERSIONINFOEXW, *POSVERSIONINFOEXW, *LPOSVERSIONINFOEXW;

#ifdef UNICODE
typedef OSVERSIONINFOW OSVERSIONINFO, *POSVERSIONINFO, *LPOSVERSIONINFO;
typedef OSVERSIONINFOEXW OSVERSIONINFOEX, *POSVERSIONINFOEX, *LPOSVERSIONINFOEX;
#else
typedef OSVERSIONINFOA OSVERSIONINFO, *POSVERSIONINFO, *LPOSVERSIONINFO;
typedef OSVERSIONINFOEXA OSVERSIONINFOEX, *POSVERSIONINFOEX, *LPOSVERSIONINFOEX;
#endif

typedef DWORD (WINAPI *PTHREAD_START_ROUTINE)(LPVOID lpThreadParameter);
typedef PTHREAD_START_ROUTINE LPTHREAD_START_ROUTINE;
typedef BOOL (WINAPI *PHANDLER_ROUTINE)(DWORD CtrlType);

#define STATUS_SUCCESS              ((DWORD)0x00000000)
#define STATUS_ABANDONED            ((DWORD)0x00000080)
#define STATUS_USER_APC             ((DWORD)0x000000C0)
#define STATUS_TIMEOUT              ((DWORD)0x00000102)
#define STATUS_PENDING              ((DWORD)0x00000103)
#define STATUS_BUFFER_OVERFLOW      ((DWORD)0x80000005)
#define STATUS_INVALID_INFO_CLASS   ((DWORD)0xC0000003)
#define STATUS_INFO_LENGTH_MISMATCH ((DWORD)0xC0000004)
#define STATUS_INVALID_HANDLE       ((DWORD)0xC0000008)
#define STATUS_INVALID_PARAMETER    ((DWORD)0xC000000D)
#define STATUS_END_OF_FILE          ((DWORD)0xC0000011)
#define STATUS_NO_MEMORY            ((DWORD)0xC0000017)
#define STATUS_ACCESS_DENIED        ((DWORD)0xC0000022)
#define STATUS_BUFFER_TOO_SMALL     ((DWORD)0xC0000023)
#define STATUS_IO_TIMEOUT           ((DWORD)0xC00000B5)
#define STATUS_CANCELLED            ((DWORD)0xC0000120)
#define STATUS_LOCAL_DISCONNECT     ((DWORD)0xC000013B)
#define STATUS_REMOTE_DISCONNECT    ((DWORD)0xC000013C)
#define STATUS_INVALID_CONNECTION   ((DWORD)0xC0000140)
#define STATUS_CONNECTION_RESET     ((DWORD)0xC000020D)
#define STATUS_NOT_FOUND            ((DWORD)0xC0000225)
#define STATUS_CONNECTION_REFUSED   ((DWORD)0xC0000236)
#define STATUS_NETWORK_UNREACHABLE  ((DWORD)0xC000023C)
#define STATUS_HOST_UNREACHABLE     ((DWORD)0xC000023D)
#define STATUS_PORT_UNREACHABLE     ((DWORD)0xC000023F)
#define STATUS_CONNECTION_ABORTED   ((DWORD)0xC0000241)

/* Whether an overlapped operation has completed (Internal is no longer STATUS_PENDING). */
#define HasOverlappedIoCompleted(lpOverlapped) \
    (((DWORD)(lpOverlapped)->Internal) != STATUS_PENDING)

/* ---- Win32 errors ---- */
#define ERROR_SUCCESS               0
#define NO_ERROR                    0
#define ERROR_INVALID_FUNCTION      1
#define ERROR_FILE_NOT_FOUND        2
#define ERROR_PATH_NOT_FOUND        3
#define ERROR_TOO_MANY_OPEN_FILES   4
#define ERROR_ACCESS_DENIED         5
#define ERROR_INVALID_HANDLE        6
#define ERROR_NOT_ENOUGH_MEMORY     8
#define ERROR_WRITE_PROTECT         19
#define ERROR_GEN_FAILURE           31
#define ERROR_SHARING_VIOLATION     32
#define ERROR_HANDLE_EOF            38
#define ERROR_NEGATIVE_SEEK         131
#define ERROR_NOT_SUPPORTED         50
#define ERROR_NETNAME_DELETED       64
#define ERROR_FILE_EXISTS           80
#define ERROR_INVALID_PARAMETER     87
#define ERROR_BROKEN_PIPE           109
#define ERROR_DISK_FULL             112
#define ERROR_SEM_TIMEOUT           121
#define ERROR_INSUFFICIENT_BUFFER   122
#define ERROR_ALREADY_EXISTS        183
#define ERROR_FILENAME_EXCED_RANGE  206
#define ERROR_MORE_DATA             234
#define WAIT_TIMEOUT                258
#define ERROR_ABANDONED_WAIT_0      735
#define ERROR_OPERATION_ABORTED     995
#define ERROR_IO_INCOMPLETE         996
#define ERROR_IO_PENDING            997
#define ERROR_NOACCESS              998
#define ERROR_IO_DEVICE             1117
#define ERROR_NOT_FOUND             1168
#define ERROR_CONNECTION_REFUSED    1225
#define ERROR_CONNECTION_INVALID    1229
#define ERROR_NETWORK_UNREACHABLE   1231
#define ERROR_HOST_UNREACHABLE      1232
#define ERROR_PORT_UNREACHABLE      1234
#define ERROR_CONNECTION_ABORTED    1236
#define ERROR_INTERNAL_ERROR        1359

/* ---- waits ---- */
#define WAIT_OBJECT_0               0
#define WAIT_ABANDONED              0x80
#define WAIT_ABANDONED_0            0x80
#define WAIT_IO_COMPLETION          0xC0
#define WAIT_FAILED                 0xFFFFFFFF
#define MAXIMUM_WAIT_OBJECTS        64

/* ---- files ---- */
#define GENERIC_READ                0x80000000
#define GENERIC_WRITE               0x40000000
#define GENERIC_EXECUTE             0x20000000
#define GENERIC_ALL                 0x10000000
#define FILE_SHARE_READ             0x00000001
#define FILE_SHARE_WRITE            0x00000002
#define FILE_SHARE_DELETE           0x00000004
#define CREATE_NEW                  1
#define CREATE_ALWAYS               2
#define OPEN_EXISTING               3
#define OPEN_ALWAYS                 4
#define TRUNCATE_EXISTING           5
#define FILE_ATTRIBUTE_READONLY     0x00000001
#define FILE_ATTRIBUTE_NORMAL       0x00000080
#define FILE_ATTRIBUTE_TEMPORARY    0x00000100
#define FILE_FLAG_WRITE_THROUGH     0x80000000
#define FILE_FLAG_OVERLAPPED        0x40000000
#define FILE_FLAG_NO_BUFFERING      0x20000000
#define FILE_FLAG_RANDOM_ACCESS     0x10000000
#define FILE_FLAG_SEQUENTIAL_SCAN   0x08000000
#define FILE_FLAG_DELETE_ON_CLOSE   0x04000000
#define FILE_FLAG_BACKUP_SEMANTICS  0x02000000
#define FILE_BEGIN                  0
#define FILE_CURRENT                1
#define FILE_END                    2
#define INVALID_SET_FILE_POINTER    ((DWORD)0xFFFFFFFF)
#define FILE_SKIP_COMPLETION_PORT_ON_SUCCESS 0x1
#define FILE_SKIP_SET_EVENT_ON_HANDLE        0x2

/* ---- threads, console, heaps, versions ---- */
#define STILL_ACTIVE                ((DWORD)0x00000103)
#define CREATE_SUSPENDED            0x00000004
#define STACK_SIZE_PARAM_IS_A_RESERVATION 0x00010000
#define CTRL_C_EVENT                0
#define CTRL_BREAK_EVENT            1
#define CTRL_CLOSE_EVENT            2
#define CTRL_LOGOFF_EVENT           5
#define CTRL_SHUTDOWN_EVENT         6
#define STD_INPUT_HANDLE            ((DWORD)-10)
#define STD_OUTPUT_HANDLE           ((DWORD)-11)
#define STD_ERROR_HANDLE            ((DWORD)-12)
#define HEAP_NO_SERIALIZE           0x00000001
#define HEAP_GENERATE_EXCEPTIONS    0x00000004
#define HEAP_ZERO_MEMORY            0x00000008
#define HEAP_REALLOC_IN_PLACE_ONLY  0x00000010
#define VER_PLATFORM_WIN32s         0
#define VER_PLATFORM_WIN32_WINDOWS  1
#define VER_PLATFORM_WIN32_NT       2
#define VER_NT_WORKSTATION          0x0000001
#define VER_NT_DOMAIN_CONTROLLER    0x0000002
#define VER_NT_SERVER               0x0000003

/* ---- HRESULT ---- */
#define S_OK                        ((HRESULT)0)
#define S_FALSE                     ((HRESULT)1)
#define SUCCEEDED(hr)               (((HRESULT)(hr)) >= 0)
#define FAILED(hr)                  (((HRESULT)(hr)) < 0)

#define PROCESSOR_ARCHITECTURE_AMD64 9
#define PROCESSOR_AMD_X8664          8664

/* ---- macros ---- */
#define ZeroMemory(d, n)        memset((d), 0, (n))
#define SecureZeroMemory(d, n)  memset((d), 0, (n))
#define FillMemory(d, n, c)     memset((d), (c), (n))
#define CopyMemory(d, s, n)     memcpy((d), (s), (n))
#define MoveMemory(d, s, n)     memmove((d), (s), (n))
#define MAKEWORD(lo, hi)  ((WORD)(((BYTE)((DWORD_PTR)(lo) & 0xff)) | ((WORD)((BYTE)((DWORD_PTR)(hi) & 0xff))) << 8))
#define MAKELONG(lo, hi)  ((LONG)(((WORD)((DWORD_PTR)(lo) & 0xffff)) | ((DWORD)((WORD)((DWORD_PTR)(hi) & 0xffff))) << 16))
#define LOWORD(l)         ((WORD)((DWORD_PTR)(l) & 0xffff))
#define HIWORD(l)         ((WORD)((DWORD_PTR)(l) >> 16))
#define LOBYTE(w)         ((BYTE)((DWORD_PTR)(w) & 0xff))
#define HIBYTE(w)         ((BYTE)((DWORD_PTR)(w) >> 8))
/* min/max: macros in C, as in the SDK. In C++ they are function templates
 * (after the extern "C" block below): the SDK's macros would break every
 * libstdc++ header included after this one. NOMINMAX removes both. */
#if !defined(NOMINMAX) && !defined(__cplusplus)
#ifndef max
#define max(a, b) (((a) > (b)) ? (a) : (b))
#endif
#ifndef min
#define min(a, b) (((a) < (b)) ? (a) : (b))
#endif
#endif

/* ---- kernel32 ---- */
HANDLE WINAPI CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort,
                                     ULONG_PTR CompletionKey, DWORD NumberOfConcurrentThreads);
BOOL WINAPI GetQueuedCompletionStatus(HANDLE CompletionPort, LPDWORD lpNumberOfBytesTransferred,
                                      PULONG_PTR lpCompletionKey, LPOVERLAPPED *lpOverlapped,
                                      DWORD dwMilliseconds);
BOOL WINAPI GetQueuedCompletionStatusEx(HANDLE CompletionPort, LPOVERLAPPED_ENTRY lpCompletionPortEntries,
                                        ULONG ulCount, PULONG ulNumEntriesRemoved, DWORD dwMilliseconds,
                                        BOOL fAlertable);
BOOL WINAPI PostQueuedCompletionStatus(HANDLE CompletionPort, DWORD dwNumberOfBytesTransferred,
                                       ULONG_PTR dwCompletionKey, LPOVERLAPPED lpOverlapped);
BOOL WINAPI CloseHandle(HANDLE hObject);
DWORD WINAPI GetLastError(void);
void WINAPI SetLastError(DWORD dwErrCode);
void WINAPI GetSystemInfo(LPSYSTEM_INFO lpSystemInfo);
void WINAPI Sleep(DWORD dwMilliseconds);
DWORD WINAPI SleepEx(DWORD dwMilliseconds, BOOL bAlertable);
DWORD WINAPI GetCurrentThreadId(void);

HANDLE WINAPI CreateFileA(LPCSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode,
                          LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwCreationDisposition,
                          DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
HANDLE WINAPI CreateFileW(LPCWSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode,
                          LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwCreationDisposition,
                          DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
BOOL WINAPI ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead,
                     LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped);
BOOL WINAPI WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite,
                      LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped);
/* The file pointer of a synchronous (non-FILE_FLAG_OVERLAPPED) handle; used and
 * advanced by ReadFile/WriteFile (also when they are given an OVERLAPPED). */
DWORD WINAPI SetFilePointer(HANDLE hFile, LONG lDistanceToMove, PLONG lpDistanceToMoveHigh,
                            DWORD dwMoveMethod);
BOOL WINAPI SetFilePointerEx(HANDLE hFile, LARGE_INTEGER liDistanceToMove,
                             PLARGE_INTEGER lpNewFilePointer, DWORD dwMoveMethod);
BOOL WINAPI GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped,
                                LPDWORD lpNumberOfBytesTransferred, BOOL bWait);
BOOL WINAPI CancelIo(HANDLE hFile);
BOOL WINAPI CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped);
BOOL WINAPI SetFileCompletionNotificationModes(HANDLE FileHandle, UCHAR Flags);

HANDLE WINAPI CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset,
                           BOOL bInitialState, LPCSTR lpName);
HANDLE WINAPI CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset,
                           BOOL bInitialState, LPCWSTR lpName);
BOOL WINAPI SetEvent(HANDLE hEvent);
BOOL WINAPI ResetEvent(HANDLE hEvent);
DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
DWORD WINAPI WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll,
                                    DWORD dwMilliseconds);

/* Threads. WaitForSingleObject / WaitForMultipleObjects see a thread handle
 * signalled once the thread has exited; CloseHandle lets the thread run on. */
HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
                           LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter,
                           DWORD dwCreationFlags, LPDWORD lpThreadId);
DWORD WINAPI ResumeThread(HANDLE hThread);
BOOL WINAPI GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode);
DWORD WINAPI GetThreadId(HANDLE Thread);
#ifdef __cplusplus
[[noreturn]]
#else
__attribute__((noreturn))
#endif
VOID WINAPI ExitProcess(UINT uExitCode);
HANDLE WINAPI GetCurrentProcess(void);
HANDLE WINAPI GetCurrentThread(void);
DWORD WINAPI GetCurrentProcessId(void);
BOOL WINAPI GetProcessHandleCount(HANDLE hProcess, PDWORD pdwHandleCount);

/* Critical sections: recursive; a contended Enter is a blocking section of the
 * calling thread's completion port (it stops counting against the limit). */
VOID WINAPI InitializeCriticalSection(LPCRITICAL_SECTION lpCriticalSection);
BOOL WINAPI InitializeCriticalSectionAndSpinCount(LPCRITICAL_SECTION lpCriticalSection,
                                                  DWORD dwSpinCount);
BOOL WINAPI InitializeCriticalSectionEx(LPCRITICAL_SECTION lpCriticalSection, DWORD dwSpinCount,
                                        DWORD Flags);
DWORD WINAPI SetCriticalSectionSpinCount(LPCRITICAL_SECTION lpCriticalSection, DWORD dwSpinCount);
VOID WINAPI EnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection);
BOOL WINAPI TryEnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection);
VOID WINAPI LeaveCriticalSection(LPCRITICAL_SECTION lpCriticalSection);
VOID WINAPI DeleteCriticalSection(LPCRITICAL_SECTION lpCriticalSection);

/* The process heap. */
HANDLE WINAPI GetProcessHeap(void);
LPVOID WINAPI HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes);
LPVOID WINAPI HeapReAlloc(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem, SIZE_T dwBytes);
BOOL WINAPI HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem);
SIZE_T WINAPI HeapSize(HANDLE hHeap, DWORD dwFlags, LPCVOID lpMem);

/* The console: SIGINT → CTRL_C_EVENT, SIGQUIT → CTRL_BREAK_EVENT, SIGHUP →
 * CTRL_CLOSE_EVENT, SIGTERM → CTRL_SHUTDOWN_EVENT; handlers run on a thread of
 * their own, newest first. The standard handles are fds 0-2, whatever they are. */
BOOL WINAPI SetConsoleCtrlHandler(PHANDLER_ROUTINE HandlerRoutine, BOOL Add);
BOOL WINAPI GenerateConsoleCtrlEvent(DWORD dwCtrlEvent, DWORD dwProcessGroupId);
HANDLE WINAPI GetStdHandle(DWORD nStdHandle);
BOOL WINAPI WriteConsoleA(HANDLE hConsoleOutput, const VOID *lpBuffer, DWORD nNumberOfCharsToWrite,
                          LPDWORD lpNumberOfCharsWritten, LPVOID lpReserved);
BOOL WINAPI WriteConsoleW(HANDLE hConsoleOutput, const VOID *lpBuffer, DWORD nNumberOfCharsToWrite,
                          LPDWORD lpNumberOfCharsWritten, LPVOID lpReserved);

/* Versions and clocks. GetVersionEx reports 6.2 build 9200, VER_PLATFORM_WIN32_NT. */
BOOL WINAPI GetVersionExA(LPOSVERSIONINFOA lpVersionInformation);
BOOL WINAPI GetVersionExW(LPOSVERSIONINFOW lpVersionInformation);
DWORD WINAPI GetVersion(void);
DWORD WINAPI GetTickCount(void);
ULONGLONG WINAPI GetTickCount64(void);
BOOL WINAPI QueryPerformanceCounter(LARGE_INTEGER *lpPerformanceCount);
BOOL WINAPI QueryPerformanceFrequency(LARGE_INTEGER *lpFrequency);

/* Strings (NULL-safe as on Windows; lstrcmp(i) compare by code unit). */
int WINAPI lstrlenA(LPCSTR lpString);
int WINAPI lstrlenW(LPCWSTR lpString);
LPSTR WINAPI lstrcpyA(LPSTR lpString1, LPCSTR lpString2);
LPWSTR WINAPI lstrcpyW(LPWSTR lpString1, LPCWSTR lpString2);
LPSTR WINAPI lstrcpynA(LPSTR lpString1, LPCSTR lpString2, int iMaxLength);
LPWSTR WINAPI lstrcpynW(LPWSTR lpString1, LPCWSTR lpString2, int iMaxLength);
LPSTR WINAPI lstrcatA(LPSTR lpString1, LPCSTR lpString2);
LPWSTR WINAPI lstrcatW(LPWSTR lpString1, LPCWSTR lpString2);
int WINAPI lstrcmpA(LPCSTR lpString1, LPCSTR lpString2);
int WINAPI lstrcmpW(LPCWSTR lpString1, LPCWSTR lpString2);
int WINAPI lstrcmpiA(LPCSTR lpString1, LPCSTR lpString2);
int WINAPI lstrcmpiW(LPCWSTR lpString1, LPCWSTR lpString2);

/* Interlocked operations (sequentially consistent, as on Windows). */
static inline LONG InterlockedIncrement(LONG volatile *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }
static inline LONG InterlockedDecrement(LONG volatile *p) { return __atomic_sub_fetch(p, 1, __ATOMIC_SEQ_CST); }
static inline LONG InterlockedExchange(LONG volatile *p, LONG v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline LONG InterlockedExchangeAdd(LONG volatile *p, LONG v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline LONG InterlockedCompareExchange(LONG volatile *p, LONG exchange, LONG comparand) {
    __atomic_compare_exchange_n(p, &comparand, exchange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return comparand;
}
static inline LONGLONG InterlockedIncrement64(LONGLONG volatile *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }
static inline LONGLONG InterlockedDecrement64(LONGLONG volatile *p) { return __atomic_sub_fetch(p, 1, __ATOMIC_SEQ_CST); }
static inline LONGLONG InterlockedExchangeAdd64(LONGLONG volatile *p, LONGLONG v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline LONGLONG InterlockedCompareExchange64(LONGLONG volatile *p, LONGLONG exchange, LONGLONG comparand) {
    __atomic_compare_exchange_n(p, &comparand, exchange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return comparand;
}
static inline PVOID InterlockedExchangePointer(PVOID volatile *p, PVOID v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline PVOID InterlockedCompareExchangePointer(PVOID volatile *p, PVOID exchange, PVOID comparand) {
    __atomic_compare_exchange_n(p, &comparand, exchange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return comparand;
}

#ifdef UNICODE
#define CreateFile    CreateFileW
#define CreateEvent   CreateEventW
#define WriteConsole  WriteConsoleW
#define GetVersionEx  GetVersionExW
#define lstrlen       lstrlenW
#define lstrcpy       lstrcpyW
#define lstrcpyn      lstrcpynW
#define lstrcat       lstrcatW
#define lstrcmp       lstrcmpW
#define lstrcmpi      lstrcmpiW
#else
#define CreateFile    CreateFileA
#define CreateEvent   CreateEventA
#define WriteConsole  WriteConsoleA
#define GetVersionEx  GetVersionExA
#define lstrlen       lstrlenA
#define lstrcpy       lstrcpyA
#define lstrcpyn      lstrcpynA
#define lstrcat       lstrcatA
#define lstrcmp       lstrcmpA
#define lstrcmpi      lstrcmpiA
#endif

#ifdef __cplusplus
}
#endif

#if defined(__cplusplus) && !defined(NOMINMAX)
#include <type_traits>
/* The SDK macros' results for mixed types (the common type), without
 * evaluating an argument twice; std::min/std::max stay what they are. */
template <typename A, typename B>
inline typename std::common_type<A, B>::type min(const A &a, const B &b) {
    typedef typename std::common_type<A, B>::type T;
    return (T(b) < T(a)) ? T(b) : T(a);
}
template <typename A, typename B>
inline typename std::common_type<A, B>::type max(const A &a, const B &b) {
    typedef typename std::common_type<A, B>::type T;
    return (T(a) < T(b)) ? T(b) : T(a);
}
#endif

/* The SDK's windows.h pulls these in too (each includes this file first). */
#include "winerror.h"
#include "winnt.h"
#include "minwinbase.h"
#include "synchapi.h"
#include "interlockedapi.h"
#include "processthreadsapi.h"
#include "fibersapi.h"
#include "fileapi.h"
#include "memoryapi.h"
#include "sysinfoapi.h"
#include "winbase.h"
#include "winuser.h"
#include "threadpoolapiset.h"

#endif /* CPORT_WIN32_H */
