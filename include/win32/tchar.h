/*
 * tchar.h — the generic-text mappings for cport: the ANSI (char) forms only.
 *
 * _tmain is main and _TCHAR is char. Building with _UNICODE is refused
 * (a Linux program has no wmain entry point, and the wide C functions take
 * 32-bit wchar_t, not Windows' UTF-16).
 */
#ifndef CPORT_TCHAR_H
#define CPORT_TCHAR_H

#ifdef _UNICODE
#error "cport: tchar.h supports the ANSI mappings only; build without _UNICODE"
#endif

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef __TEXT
#define __TEXT(q) q
#endif
#ifndef _T
#define _T(q) q
#endif
#ifndef _TEXT
#define _TEXT(q) q
#endif

typedef char _TCHAR;
typedef char _TSCHAR;
typedef unsigned char _TUCHAR;
typedef int _TINT;
#define _TEOF EOF

#define _tmain     main
#define _tprintf   printf
#define _ftprintf  fprintf
#define _stprintf  sprintf
#define _sntprintf snprintf
#define _vtprintf  vprintf
#define _vftprintf vfprintf
#define _vstprintf vsprintf
#define _vsntprintf vsnprintf
#define _tscanf    scanf
#define _stscanf   sscanf
#define _fgetts    fgets
#define _fputts    fputs
#define _puttc     putc
#define _puttchar  putchar
#define _gettchar  getchar
#define _tfopen    fopen
#define _tgetenv   getenv
#define _tsystem   system
#define _tremove   remove
#define _trename   rename

#define _tcslen    strlen
#define _tcscpy    strcpy
#define _tcsncpy   strncpy
#define _tcscat    strcat
#define _tcsncat   strncat
#define _tcscmp    strcmp
#define _tcsncmp   strncmp
#define _tcsicmp   strcasecmp
#define _tcsnicmp  strncasecmp
#define _tcschr    strchr
#define _tcsrchr   strrchr
#define _tcsstr    strstr
#define _tcstok    strtok
#define _tcsdup    strdup
#define _tcsspn    strspn
#define _tcscspn   strcspn
#define _tcspbrk   strpbrk
#define _tcstol    strtol
#define _tcstoul   strtoul
#define _tcstod    strtod
#define _ttoi      atoi
#define _ttol      atol
#define _tstoi     atoi
#define _tstol     atol

#define _istalpha  isalpha
#define _istdigit  isdigit
#define _istspace  isspace
#define _istupper  isupper
#define _istlower  islower
#define _istalnum  isalnum
#define _istxdigit isxdigit
#define _totupper  toupper
#define _totlower  tolower

/* The Microsoft C runtime's non-underscore-free names that samples use. */
#ifndef _stricmp
#define _stricmp   strcasecmp
#endif
#ifndef _strnicmp
#define _strnicmp  strncasecmp
#endif

#endif /* CPORT_TCHAR_H */
