/*
 * winbase.h — part of cport's windows.h: FormatMessage and the local heap
 * that owns its buffers.
 */
#include "cport_win32.h"
#ifndef CPORT_WINBASE_H
#define CPORT_WINBASE_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FORMAT_MESSAGE_ALLOCATE_BUFFER 0x00000100
#define FORMAT_MESSAGE_IGNORE_INSERTS  0x00000200
#define FORMAT_MESSAGE_FROM_STRING     0x00000400
#define FORMAT_MESSAGE_FROM_HMODULE    0x00000800
#define FORMAT_MESSAGE_FROM_SYSTEM     0x00001000
#define FORMAT_MESSAGE_ARGUMENT_ARRAY  0x00002000
#define FORMAT_MESSAGE_MAX_WIDTH_MASK  0x000000FF

#define LMEM_FIXED                     0x0000
#define LMEM_ZEROINIT                  0x0040
#define LPTR                           (LMEM_FIXED | LMEM_ZEROINIT)

/* System messages: Windows' English texts for the error numbers cport sets
 * (others: 0 + ERROR_MR_MID_NOT_FOUND). Inserts come from a DWORD_PTR array
 * (FORMAT_MESSAGE_ARGUMENT_ARRAY), from the va_list (x86-64), or are left as
 * they are (FORMAT_MESSAGE_IGNORE_INSERTS). With
 * FORMAT_MESSAGE_ALLOCATE_BUFFER, lpBuffer is a pointer to the pointer that
 * receives a LocalAlloc buffer (free it with LocalFree). */
DWORD WINAPI FormatMessageA(DWORD dwFlags, LPCVOID lpSource, DWORD dwMessageId, DWORD dwLanguageId,
                            LPSTR lpBuffer, DWORD nSize, va_list *Arguments);
DWORD WINAPI FormatMessageW(DWORD dwFlags, LPCVOID lpSource, DWORD dwMessageId, DWORD dwLanguageId,
                            LPWSTR lpBuffer, DWORD nSize, va_list *Arguments);
HLOCAL WINAPI LocalAlloc(UINT uFlags, SIZE_T uBytes);
/* NULL once freed; the pointer itself + ERROR_INVALID_HANDLE if not a live block. */
HLOCAL WINAPI LocalFree(HLOCAL hMem);

#ifdef UNICODE
#define FormatMessage FormatMessageW
#else
#define FormatMessage FormatMessageA
#endif

#ifdef __cplusplus
}
#endif

#endif /* CPORT_WINBASE_H */
