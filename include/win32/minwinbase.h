/* minwinbase.h — part of cport's windows.h: FILETIME. */
#include "cport_win32.h"
#ifndef CPORT_MINWINBASE_H
#define CPORT_MINWINBASE_H

#ifdef __cplusplus
extern "C" {
#endif

/* 100-ns intervals since 1601-01-01 UTC. */
typedef struct _FILETIME {
    DWORD dwLowDateTime;
    DWORD dwHighDateTime;
} FILETIME, *PFILETIME, *LPFILETIME;

#ifdef __cplusplus
}
#endif

#endif /* CPORT_MINWINBASE_H */
