/* sysinfoapi.h — part of cport's windows.h: GetSystemTimeAsFileTime.
 * (GetSystemInfo, GetTickCount(64) and GetVersion(Ex) are in cport_win32.h.) */
#include "cport_win32.h"
#include "minwinbase.h"
#ifndef CPORT_SYSINFOAPI_H
#define CPORT_SYSINFOAPI_H

#ifdef __cplusplus
extern "C" {
#endif

VOID WINAPI GetSystemTimeAsFileTime(LPFILETIME lpSystemTimeAsFileTime);

#ifdef __cplusplus
}
#endif

#endif /* CPORT_SYSINFOAPI_H */
