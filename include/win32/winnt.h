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

#ifdef __cplusplus
}
#endif

#endif /* CPORT_WINNT_H */
