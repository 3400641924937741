/*
 * winnt.h — part of cport's windows.h: the winnt.h types and constants of
 * the synchronisation, SList and memory functions (Windows x64 layouts).
 */
#include "cport_win32.h"
#ifndef CPORT_WINNT_H
#define CPORT_WINNT_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef DECLSPEC_ALIGN
#define DECLSPEC_ALIGN(x) __attribute__((aligned(x)))
#endif
#define MEMORY_ALLOCATION_ALIGNMENT 16

typedef union _ULARGE_INTEGER {
    struct {
        DWORD LowPart;
        DWORD HighPart;
    } DUMMYSTRUCTNAME;
    struct {
        DWORD LowPart;
        DWORD HighPart;
    } u;
    ULONGLONG QuadPart;
} ULARGE_INTEGER, *PULARGE_INTEGER;

/* Interlocked singly linked lists: 16-byte entries and header, 16-byte aligned. */
typedef struct DECLSPEC_ALIGN(16) _SLIST_ENTRY {
    struct _SLIST_ENTRY *Next;
} SLIST_ENTRY, *PSLIST_ENTRY;

typedef union DECLSPEC_ALIGN(16) _SLIST_HEADER {
    struct {
        ULONGLONG Alignment; /* depth (bits 0-15), sequence (16-63) */
        ULONGLONG Region;    /* the first entry */
    } DUMMYSTRUCTNAME;
    struct {
        ULONGLONG Depth : 16;
        ULONGLONG Sequence : 48;
        ULONGLONG Reserved : 4;
        ULONGLONG NextEntry : 60;
    } HeaderX64;
} SLIST_HEADER, *PSLIST_HEADER;

/* Access rights of synchronisation objects (accepted, not enforced). */
#define SYNCHRONIZE                 0x00100000
#define SEMAPHORE_MODIFY_STATE      0x0002
#define SEMAPHORE_ALL_ACCESS        0x001F0003
#define MUTEX_MODIFY_STATE          0x0001
#define MUTEX_ALL_ACCESS            0x001F0001

/* Virtual memory. */
#define MEM_COMMIT                  0x00001000
#define MEM_RESERVE                 0x00002000
#define MEM_DECOMMIT                0x00004000
#define MEM_RELEASE                 0x00008000
#define MEM_TOP_DOWN                0x00100000
#define PAGE_NOACCESS               0x01
#define PAGE_READONLY               0x02
#define PAGE_READWRITE              0x04
#define PAGE_EXECUTE                0x10
#define PAGE_EXECUTE_READ           0x20
#define PAGE_EXECUTE_READWRITE      0x40

/* Languages (FormatMessage). */
#define LANG_NEUTRAL                0x00
#define LANG_ENGLISH                0x09
#define SUBLANG_NEUTRAL             0x00
#define SUBLANG_DEFAULT             0x01
#define SUBLANG_SYS_DEFAULT         0x02
#define SUBLANG_ENGLISH_US          0x01
#define MAKELANGID(p, s)            ((((WORD)(s)) << 10) | (WORD)(p))
#define PRIMARYLANGID(lgid)         ((WORD)(lgid) & 0x3ff)
#define SUBLANGID(lgid)             ((WORD)(lgid) >> 10)


/* ---- thread pool types (threadpoolapiset.h has the functions) ---- */
#ifndef NTAPI
#define NTAPI
#endif
typedef DWORD TP_VERSION, *PTP_VERSION;
typedef struct _TP_CALLBACK_INSTANCE TP_CALLBACK_INSTANCE, *PTP_CALLBACK_INSTANCE;
typedef struct _TP_POOL TP_POOL, *PTP_POOL;
typedef struct _TP_CLEANUP_GROUP TP_CLEANUP_GROUP, *PTP_CLEANUP_GROUP;
typedef struct _TP_WORK TP_WORK, *PTP_WORK;
typedef struct _TP_TIMER TP_TIMER, *PTP_TIMER;
typedef struct _TP_WAIT TP_WAIT, *PTP_WAIT;
typedef struct _TP_IO TP_IO, *PTP_IO;
typedef DWORD TP_WAIT_RESULT;
typedef VOID (NTAPI *PTP_SIMPLE_CALLBACK)(PTP_CALLBACK_INSTANCE Instance, PVOID Context);
typedef VOID (NTAPI *PTP_WORK_CALLBACK)(PTP_CALLBACK_INSTANCE Instance, PVOID Context, PTP_WORK Work);
typedef VOID (NTAPI *PTP_TIMER_CALLBACK)(PTP_CALLBACK_INSTANCE Instance, PVOID Context, PTP_TIMER Timer);
typedef VOID (NTAPI *PTP_WAIT_CALLBACK)(PTP_CALLBACK_INSTANCE Instance, PVOID Context, PTP_WAIT Wait,
                                        TP_WAIT_RESULT WaitResult);
typedef VOID (NTAPI *PTP_CLEANUP_GROUP_CANCEL_CALLBACK)(PVOID ObjectContext, PVOID CleanupContext);

typedef enum _TP_CALLBACK_PRIORITY {
    TP_CALLBACK_PRIORITY_HIGH,
    TP_CALLBACK_PRIORITY_NORMAL,
    TP_CALLBACK_PRIORITY_LOW,
    TP_CALLBACK_PRIORITY_INVALID,
    TP_CALLBACK_PRIORITY_COUNT = TP_CALLBACK_PRIORITY_INVALID
} TP_CALLBACK_PRIORITY;

/* The Windows SDK's layout (x64: 72 bytes). */
typedef struct _TP_CALLBACK_ENVIRON_V3 {
    TP_VERSION Version;
    PTP_POOL Pool;
    PTP_CLEANUP_GROUP CleanupGroup;
    PTP_CLEANUP_GROUP_CANCEL_CALLBACK CleanupGroupCancelCallback;
    PVOID RaceDll;
    struct _ACTIVATION_CONTEXT *ActivationContext;
    PTP_SIMPLE_CALLBACK FinalizationCallback;
    union {
        DWORD Flags;
        struct {
            DWORD LongFunction : 1;
            DWORD Persistent : 1;
            DWORD Private : 30;
        } s;
    } u;
    TP_CALLBACK_PRIORITY CallbackPriority;
    DWORD Size;
} TP_CALLBACK_ENVIRON_V3, TP_CALLBACK_ENVIRON, *PTP_CALLBACK_ENVIRON;

static inline VOID TpInitializeCallbackEnviron(PTP_CALLBACK_ENVIRON CallbackEnviron) {
    memset(CallbackEnviron, 0, sizeof(*CallbackEnviron));
    CallbackEnviron->Version = 3;
    CallbackEnviron->CallbackPriority = TP_CALLBACK_PRIORITY_NORMAL;
    CallbackEnviron->Size = sizeof(TP_CALLBACK_ENVIRON);
}
static inline VOID TpSetCallbackThreadpool(PTP_CALLBACK_ENVIRON CallbackEnviron, PTP_POOL Pool) {
    CallbackEnviron->Pool = Pool;
}
static inline VOID TpSetCallbackCleanupGroup(PTP_CALLBACK_ENVIRON CallbackEnviron,
                                             PTP_CLEANUP_GROUP CleanupGroup,
                                             PTP_CLEANUP_GROUP_CANCEL_CALLBACK CleanupGroupCancelCallback) {
    CallbackEnviron->CleanupGroup = CleanupGroup;
    CallbackEnviron->CleanupGroupCancelCallback = CleanupGroupCancelCallback;
}
static inline VOID TpSetCallbackLongFunction(PTP_CALLBACK_ENVIRON CallbackEnviron) {
    CallbackEnviron->u.s.LongFunction = 1;
}
static inline VOID TpSetCallbackRaceWithDll(PTP_CALLBACK_ENVIRON CallbackEnviron, PVOID DllHandle) {
    CallbackEnviron->RaceDll = DllHandle;
}
static inline VOID TpSetCallbackPriority(PTP_CALLBACK_ENVIRON CallbackEnviron, TP_CALLBACK_PRIORITY Priority) {
    CallbackEnviron->CallbackPriority = Priority;
}
static inline VOID TpDestroyCallbackEnviron(PTP_CALLBACK_ENVIRON CallbackEnviron) {
    (void)CallbackEnviron;
}

#ifdef __cplusplus
}
#endif

#endif /* CPORT_WINNT_H */
