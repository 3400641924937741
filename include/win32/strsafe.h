/*
 * strsafe.h — the Windows SDK's safe string functions for cport (C and C++).
 *
 * As in the SDK, every function is inline here. Semantics (the SDK's):
 *   - a destination size of 0 or above STRSAFE_MAX_CCH fails with
 *     STRSAFE_E_INVALID_PARAMETER (and, for a non-zero size, the destination
 *     becomes "");
 *   - a result that does not fit is truncated to size - 1 characters, always
 *     NUL-terminated, and the call returns STRSAFE_E_INSUFFICIENT_BUFFER;
 *   - Cch functions count characters, Cb functions bytes (the same for char).
 * The Ex forms return the end of the result and the space left, and take the
 * STRSAFE_* flags (IGNORE_NULLS, FILL_BEHIND_NULL, FILL_ON_FAILURE,
 * NULL_ON_FAILURE, NO_TRUNCATION; the low byte is the fill byte).
 * The printf family formats with the C library's vsnprintf (C99 rules:
 * %s is a char string, %ls a wchar_t one), so only the A forms are provided;
 * the W forms of copy, cat and length take this ABI's 32-bit WCHAR.
 * The SDK's deprecation of strcpy & co is not applied.
 */
#ifndef CPORT_STRSAFE_H
#define CPORT_STRSAFE_H
#include "windows.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRSAFE_MAX_CCH 2147483647
#define STRSAFE_E_INSUFFICIENT_BUFFER ((HRESULT)0x8007007AL)
#define STRSAFE_E_INVALID_PARAMETER   ((HRESULT)0x80070057L)
#define STRSAFE_E_END_OF_FILE         ((HRESULT)0x80070026L)

#define STRSAFE_IGNORE_NULLS     0x00000100
#define STRSAFE_FILL_BEHIND_NULL 0x00000200
#define STRSAFE_FILL_ON_FAILURE  0x00000400
#define STRSAFE_NULL_ON_FAILURE  0x00000800
#define STRSAFE_NO_TRUNCATION    0x00001000
#define STRSAFE_VALID_FLAGS      0x00001FFF
#define STRSAFE_FILL_BYTE(x)     ((DWORD)(((x) & 0xFF) | STRSAFE_FILL_BEHIND_NULL))
#define STRSAFE_FAILURE_BYTE(x)  ((DWORD)(((x) & 0xFF) | STRSAFE_FILL_ON_FAILURE))

typedef char *STRSAFE_LPSTR;
typedef const char *STRSAFE_LPCSTR;
typedef wchar_t *STRSAFE_LPWSTR;
typedef const wchar_t *STRSAFE_LPCWSTR;

/* ---- the engine (not part of the API) ---- */

static inline HRESULT cport_strsafe_dest_ok(void *dst, size_t cch) {
    return (dst == NULL || cch == 0 || cch > STRSAFE_MAX_CCH) ? STRSAFE_E_INVALID_PARAMETER : S_OK;
}

/* Length of a string that must end within max characters. */
static inline HRESULT cport_strsafe_len_a(const char *s, size_t max, size_t *len) {
    size_t n = 0;
    if (s == NULL || max > STRSAFE_MAX_CCH) {
        if (len) *len = 0;
        return STRSAFE_E_INVALID_PARAMETER;
    }
    while (n < max && s[n] != '\0') n++;
    if (len) *len = (n < max) ? n : 0;
    return (n < max) ? S_OK : STRSAFE_E_INVALID_PARAMETER;
}

static inline HRESULT cport_strsafe_len_w(const wchar_t *s, size_t max, size_t *len) {
    size_t n = 0;
    if (s == NULL || max > STRSAFE_MAX_CCH) {
        if (len) *len = 0;
        return STRSAFE_E_INVALID_PARAMETER;
    }
    while (n < max && s[n] != L'\0') n++;
    if (len) *len = (n < max) ? n : 0;
    return (n < max) ? S_OK : STRSAFE_E_INVALID_PARAMETER;
}

/* Appends at most `limit` characters of src at dst[used]; truncates with NUL. */
static inline HRESULT cport_strsafe_put_a(char *dst, size_t cch, size_t used, const char *src,
                                          size_t limit, size_t *end) {
    size_t i = used;
    HRESULT hr = S_OK;
    while (limit > 0 && *src != '\0' && i < cch) {
        dst[i++] = *src++;
        limit--;
    }
    if (i == cch) { /* ran out of room */
        i--;
        hr = STRSAFE_E_INSUFFICIENT_BUFFER;
    }
    dst[i] = '\0';
    *end = i;
    return hr;
}

static inline HRESULT cport_strsafe_put_w(wchar_t *dst, size_t cch, size_t used, const wchar_t *src,
                                          size_t limit, size_t *end) {
    size_t i = used;
    HRESULT hr = S_OK;
    while (limit > 0 && *src != L'\0' && i < cch) {
        dst[i++] = *src++;
        limit--;
    }
    if (i == cch) {
        i--;
        hr = STRSAFE_E_INSUFFICIENT_BUFFER;
    }
    dst[i] = L'\0';
    *end = i;
    return hr;
}

/* The Ex epilogue for char strings: flags, end pointer, remaining count. */
static inline HRESULT cport_strsafe_finish_a(HRESULT hr, char *dst, size_t cch, size_t end,
                                             char **pend, size_t *premain, DWORD flags) {
    if (dst != NULL && cch > 0 && cch <= STRSAFE_MAX_CCH) {
        if (FAILED(hr)) {
            if (flags & STRSAFE_FILL_ON_FAILURE) {
                memset(dst, (int)(flags & 0xFF), cch);
                if (flags & (STRSAFE_NULL_ON_FAILURE | STRSAFE_NO_TRUNCATION)) {
                    dst[0] = '\0';
                    end = 0;
                } else {
                    dst[cch - 1] = '\0';
                    end = cch - 1;
                }
            } else if (flags & (STRSAFE_NULL_ON_FAILURE | STRSAFE_NO_TRUNCATION)) {
                dst[0] = '\0';
                end = 0;
            }
        } else if ((flags & STRSAFE_FILL_BEHIND_NULL) && end + 1 < cch) {
            memset(dst + end + 1, (int)(flags & 0xFF), cch - end - 1);
        }
    }
    if (SUCCEEDED(hr) || hr == STRSAFE_E_INSUFFICIENT_BUFFER) {
        if (pend) *pend = dst + end;
        if (premain) *premain = cch - end;
    }
    return hr;
}

/* ---- length ---- */

static inline HRESULT StringCchLengthA(STRSAFE_LPCSTR psz, size_t cchMax, size_t *pcchLength) {
    return cport_strsafe_len_a(psz, cchMax, pcchLength);
}
static inline HRESULT StringCbLengthA(STRSAFE_LPCSTR psz, size_t cbMax, size_t *pcbLength) {
    return cport_strsafe_len_a(psz, cbMax, pcbLength);
}
static inline HRESULT StringCchLengthW(STRSAFE_LPCWSTR psz, size_t cchMax, size_t *pcchLength) {
    return cport_strsafe_len_w(psz, cchMax, pcchLength);
}
static inline HRESULT StringCbLengthW(STRSAFE_LPCWSTR psz, size_t cbMax, size_t *pcbLength) {
    size_t n = 0;
    HRESULT hr = cport_strsafe_len_w(psz, cbMax / sizeof(wchar_t), &n);
    if (pcbLength) *pcbLength = n * sizeof(wchar_t);
    return hr;
}

/* ---- copy ---- */

static inline HRESULT StringCchCopyNA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc,
                                      size_t cchToCopy) {
    size_t end;
    HRESULT hr = cport_strsafe_dest_ok(pszDest, cchDest);
    if (FAILED(hr)) {
        if (pszDest && cchDest > 0) *pszDest = '\0';
        return hr;
    }
    if (cchToCopy > STRSAFE_MAX_CCH || pszSrc == NULL) {
        *pszDest = '\0';
        return STRSAFE_E_INVALID_PARAMETER;
    }
    return cport_strsafe_put_a(pszDest, cchDest, 0, pszSrc, cchToCopy, &end);
}
static inline HRESULT StringCchCopyA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc) {
    return StringCchCopyNA(pszDest, cchDest, pszSrc, STRSAFE_MAX_CCH);
}
static inline HRESULT StringCbCopyA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszSrc) {
    return StringCchCopyNA(pszDest, cbDest, pszSrc, STRSAFE_MAX_CCH);
}
static inline HRESULT StringCbCopyNA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszSrc,
                                     size_t cbToCopy) {
    return StringCchCopyNA(pszDest, cbDest, pszSrc, cbToCopy);
}
static inline HRESULT StringCchCopyExA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc,
                                       STRSAFE_LPSTR *ppszDestEnd, size_t *pcchRemaining,
                                       DWORD dwFlags) {
    size_t end = 0;
    HRESULT hr;
    if (dwFlags & ~(DWORD)STRSAFE_VALID_FLAGS) return STRSAFE_E_INVALID_PARAMETER;
    if (pszSrc == NULL && (dwFlags & STRSAFE_IGNORE_NULLS)) pszSrc = "";
    hr = cport_strsafe_dest_ok(pszDest, cchDest);
    if (SUCCEEDED(hr)) {
        if (pszSrc == NULL) {
            *pszDest = '\0';
            hr = STRSAFE_E_INVALID_PARAMETER;
        } else {
            hr = cport_strsafe_put_a(pszDest, cchDest, 0, pszSrc, STRSAFE_MAX_CCH, &end);
        }
    }
    return cport_strsafe_finish_a(hr, pszDest, cchDest, end, ppszDestEnd, pcchRemaining, dwFlags);
}
static inline HRESULT StringCbCopyExA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszSrc,
                                      STRSAFE_LPSTR *ppszDestEnd, size_t *pcbRemaining,
                                      DWORD dwFlags) {
    return StringCchCopyExA(pszDest, cbDest, pszSrc, ppszDestEnd, pcbRemaining, dwFlags);
}

static inline HRESULT StringCchCopyNW(STRSAFE_LPWSTR pszDest, size_t cchDest,
                                      STRSAFE_LPCWSTR pszSrc, size_t cchToCopy) {
    size_t end;
    HRESULT hr = cport_strsafe_dest_ok(pszDest, cchDest);
    if (FAILED(hr)) {
        if (pszDest && cchDest > 0) *pszDest = L'\0';
        return hr;
    }
    if (cchToCopy > STRSAFE_MAX_CCH || pszSrc == NULL) {
        *pszDest = L'\0';
        return STRSAFE_E_INVALID_PARAMETER;
    }
    return cport_strsafe_put_w(pszDest, cchDest, 0, pszSrc, cchToCopy, &end);
}
static inline HRESULT StringCchCopyW(STRSAFE_LPWSTR pszDest, size_t cchDest, STRSAFE_LPCWSTR pszSrc) {
    return StringCchCopyNW(pszDest, cchDest, pszSrc, STRSAFE_MAX_CCH);
}
static inline HRESULT StringCbCopyW(STRSAFE_LPWSTR pszDest, size_t cbDest, STRSAFE_LPCWSTR pszSrc) {
    return StringCchCopyNW(pszDest, cbDest / sizeof(wchar_t), pszSrc, STRSAFE_MAX_CCH);
}
static inline HRESULT StringCbCopyNW(STRSAFE_LPWSTR pszDest, size_t cbDest, STRSAFE_LPCWSTR pszSrc,
                                     size_t cbToCopy) {
    return StringCchCopyNW(pszDest, cbDest / sizeof(wchar_t), pszSrc, cbToCopy / sizeof(wchar_t));
}

/* ---- concatenation ---- */

static inline HRESULT StringCchCatNA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc,
                                     size_t cchToAppend) {
    size_t used, end;
    HRESULT hr = cport_strsafe_dest_ok(pszDest, cchDest);
    if (FAILED(hr)) return hr;
    hr = cport_strsafe_len_a(pszDest, cchDest, &used);
    if (FAILED(hr)) return hr; /* no NUL within cchDest */
    if (pszSrc == NULL || cchToAppend > STRSAFE_MAX_CCH) return STRSAFE_E_INVALID_PARAMETER;
    return cport_strsafe_put_a(pszDest, cchDest, used, pszSrc, cchToAppend, &end);
}
static inline HRESULT StringCchCatA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc) {
    return StringCchCatNA(pszDest, cchDest, pszSrc, STRSAFE_MAX_CCH);
}
static inline HRESULT StringCbCatA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszSrc) {
    return StringCchCatNA(pszDest, cbDest, pszSrc, STRSAFE_MAX_CCH);
}
static inline HRESULT StringCbCatNA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszSrc,
                                    size_t cbToAppend) {
    return StringCchCatNA(pszDest, cbDest, pszSrc, cbToAppend);
}
static inline HRESULT StringCchCatExA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszSrc,
                                      STRSAFE_LPSTR *ppszDestEnd, size_t *pcchRemaining,
                                      DWORD dwFlags) {
    size_t used = 0, end = 0;
    HRESULT hr;
    if (dwFlags & ~(DWORD)STRSAFE_VALID_FLAGS) return STRSAFE_E_INVALID_PARAMETER;
    if (pszSrc == NULL && (dwFlags & STRSAFE_IGNORE_NULLS)) pszSrc = "";
    hr = cport_strsafe_dest_ok(pszDest, cchDest);
    if (SUCCEEDED(hr)) hr = cport_strsafe_len_a(pszDest, cchDest, &used);
    if (SUCCEEDED(hr)) {
        if (pszSrc == NULL) {
            hr = STRSAFE_E_INVALID_PARAMETER;
        } else {
            hr = cport_strsafe_put_a(pszDest, cchDest, used, pszSrc, STRSAFE_MAX_CCH, &end);
        }
    }
    if (hr == STRSAFE_E_INVALID_PARAMETER) return hr; /* the destination is left alone */
    return cport_strsafe_finish_a(hr, pszDest, cchDest, end, ppszDestEnd, pcchRemaining, dwFlags);
}

static inline HRESULT StringCchCatNW(STRSAFE_LPWSTR pszDest, size_t cchDest, STRSAFE_LPCWSTR pszSrc,
                                     size_t cchToAppend) {
    size_t used, end;
    HRESULT hr = cport_strsafe_dest_ok(pszDest, cchDest);
    if (FAILED(hr)) return hr;
    hr = cport_strsafe_len_w(pszDest, cchDest, &used);
    if (FAILED(hr)) return hr;
    if (pszSrc == NULL || cchToAppend > STRSAFE_MAX_CCH) return STRSAFE_E_INVALID_PARAMETER;
    return cport_strsafe_put_w(pszDest, cchDest, used, pszSrc, cchToAppend, &end);
}
static inline HRESULT StringCchCatW(STRSAFE_LPWSTR pszDest, size_t cchDest, STRSAFE_LPCWSTR pszSrc) {
    return StringCchCatNW(pszDest, cchDest, pszSrc, STRSAFE_MAX_CCH);
}
static inline HRESULT StringCbCatW(STRSAFE_LPWSTR pszDest, size_t cbDest, STRSAFE_LPCWSTR pszSrc) {
    return StringCchCatNW(pszDest, cbDest / sizeof(wchar_t), pszSrc, STRSAFE_MAX_CCH);
}

/* ---- formatting ---- */

static inline HRESULT StringCchVPrintfExA(STRSAFE_LPSTR pszDest, size_t cchDest,
                                          STRSAFE_LPSTR *ppszDestEnd, size_t *pcchRemaining,
                                          DWORD dwFlags, STRSAFE_LPCSTR pszFormat, va_list argList) {
    size_t end = 0;
    HRESULT hr;
    if (dwFlags & ~(DWORD)STRSAFE_VALID_FLAGS) return STRSAFE_E_INVALID_PARAMETER;
    if (pszFormat == NULL && (dwFlags & STRSAFE_IGNORE_NULLS)) pszFormat = "";
    hr = cport_strsafe_dest_ok(pszDest, cchDest);
    if (SUCCEEDED(hr) && pszFormat == NULL) {
        *pszDest = '\0';
        hr = STRSAFE_E_INVALID_PARAMETER;
    } else if (SUCCEEDED(hr)) {
        int n = vsnprintf(pszDest, cchDest, pszFormat, argList);
        if (n < 0 || (size_t)n >= cchDest) {
            pszDest[cchDest - 1] = '\0';
            end = (n < 0) ? strlen(pszDest) : cchDest - 1;
            hr = STRSAFE_E_INSUFFICIENT_BUFFER;
        } else {
            end = (size_t)n;
        }
    } else if (pszDest != NULL && cchDest > 0) {
        *pszDest = '\0';
    }
    return cport_strsafe_finish_a(hr, pszDest, cchDest, end, ppszDestEnd, pcchRemaining, dwFlags);
}
static inline HRESULT StringCchVPrintfA(STRSAFE_LPSTR pszDest, size_t cchDest,
                                        STRSAFE_LPCSTR pszFormat, va_list argList) {
    return StringCchVPrintfExA(pszDest, cchDest, NULL, NULL, 0, pszFormat, argList);
}
static inline HRESULT StringCbVPrintfA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszFormat,
                                       va_list argList) {
    return StringCchVPrintfExA(pszDest, cbDest, NULL, NULL, 0, pszFormat, argList);
}
static inline HRESULT StringCbVPrintfExA(STRSAFE_LPSTR pszDest, size_t cbDest,
                                         STRSAFE_LPSTR *ppszDestEnd, size_t *pcbRemaining,
                                         DWORD dwFlags, STRSAFE_LPCSTR pszFormat, va_list argList) {
    return StringCchVPrintfExA(pszDest, cbDest, ppszDestEnd, pcbRemaining, dwFlags, pszFormat,
                               argList);
}
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline HRESULT StringCchPrintfA(STRSAFE_LPSTR pszDest, size_t cchDest, STRSAFE_LPCSTR pszFormat,
                                       ...) {
    HRESULT hr;
    va_list ap;
    va_start(ap, pszFormat);
    hr = StringCchVPrintfExA(pszDest, cchDest, NULL, NULL, 0, pszFormat, ap);
    va_end(ap);
    return hr;
}
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline HRESULT StringCbPrintfA(STRSAFE_LPSTR pszDest, size_t cbDest, STRSAFE_LPCSTR pszFormat,
                                      ...) {
    HRESULT hr;
    va_list ap;
    va_start(ap, pszFormat);
    hr = StringCchVPrintfExA(pszDest, cbDest, NULL, NULL, 0, pszFormat, ap);
    va_end(ap);
    return hr;
}
#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
static inline HRESULT StringCchPrintfExA(STRSAFE_LPSTR pszDest, size_t cchDest,
                                         STRSAFE_LPSTR *ppszDestEnd, size_t *pcchRemaining,
                                         DWORD dwFlags, STRSAFE_LPCSTR pszFormat, ...) {
    HRESULT hr;
    va_list ap;
    va_start(ap, pszFormat);
    hr = StringCchVPrintfExA(pszDest, cchDest, ppszDestEnd, pcchRemaining, dwFlags, pszFormat, ap);
    va_end(ap);
    return hr;
}
#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
static inline HRESULT StringCbPrintfExA(STRSAFE_LPSTR pszDest, size_t cbDest,
                                        STRSAFE_LPSTR *ppszDestEnd, size_t *pcbRemaining,
                                        DWORD dwFlags, STRSAFE_LPCSTR pszFormat, ...) {
    HRESULT hr;
    va_list ap;
    va_start(ap, pszFormat);
    hr = StringCchVPrintfExA(pszDest, cbDest, ppszDestEnd, pcbRemaining, dwFlags, pszFormat, ap);
    va_end(ap);
    return hr;
}

/* ---- TCHAR names ---- */
#ifdef UNICODE
#define StringCchLength StringCchLengthW
#define StringCbLength  StringCbLengthW
#define StringCchCopy   StringCchCopyW
#define StringCchCopyN  StringCchCopyNW
#define StringCbCopy    StringCbCopyW
#define StringCbCopyN   StringCbCopyNW
#define StringCchCat    StringCchCatW
#define StringCchCatN   StringCchCatNW
#define StringCbCat     StringCbCatW
/* No W printf forms (see the top of this file). */
#else
#define StringCchLength   StringCchLengthA
#define StringCbLength    StringCbLengthA
#define StringCchCopy     StringCchCopyA
#define StringCchCopyN    StringCchCopyNA
#define StringCchCopyEx   StringCchCopyExA
#define StringCbCopy      StringCbCopyA
#define StringCbCopyN     StringCbCopyNA
#define StringCbCopyEx    StringCbCopyExA
#define StringCchCat      StringCchCatA
#define StringCchCatN     StringCchCatNA
#define StringCchCatEx    StringCchCatExA
#define StringCbCat       StringCbCatA
#define StringCbCatN      StringCbCatNA
#define StringCchPrintf   StringCchPrintfA
#define StringCchPrintfEx StringCchPrintfExA
#define StringCbPrintf    StringCbPrintfA
#define StringCbPrintfEx  StringCbPrintfExA
#define StringCchVPrintf  StringCchVPrintfA
#define StringCchVPrintfEx StringCchVPrintfExA
#define StringCbVPrintf   StringCbVPrintfA
#define StringCbVPrintfEx StringCbVPrintfExA
#endif

#ifdef __cplusplus
}
#endif

#endif /* CPORT_STRSAFE_H */
