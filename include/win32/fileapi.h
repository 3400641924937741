/*
 * fileapi.h — part of cport's windows.h: file size, end of file, flushing
 * and file type. (CreateFile, ReadFile, WriteFile and SetFilePointer(Ex) are
 * declared in cport_win32.h.)
 */
#include "cport_win32.h"
#ifndef CPORT_FILEAPI_H
#define CPORT_FILEAPI_H

#ifdef __cplusplus
extern "C" {
#endif

#define INVALID_FILE_SIZE           ((DWORD)0xFFFFFFFF)
#define FILE_TYPE_UNKNOWN           0x0000
#define FILE_TYPE_DISK              0x0001
#define FILE_TYPE_CHAR              0x0002
#define FILE_TYPE_PIPE              0x0003
#define FILE_TYPE_REMOTE            0x8000

/* A size whose low part is 0xFFFFFFFF sets the last error to 0. */
DWORD WINAPI GetFileSize(HANDLE hFile, LPDWORD lpFileSizeHigh);
BOOL WINAPI GetFileSizeEx(HANDLE hFile, PLARGE_INTEGER lpFileSize);
/* The file ends at the handle's file pointer (needs GENERIC_WRITE). */
BOOL WINAPI SetEndOfFile(HANDLE hFile);
BOOL WINAPI FlushFileBuffers(HANDLE hFile);
/* Files: DISK; terminals: CHAR; pipes and sockets: PIPE. */
DWORD WINAPI GetFileType(HANDLE hFile);

#ifdef __cplusplus
}
#endif

#endif /* CPORT_FILEAPI_H */
