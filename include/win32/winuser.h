/*
 * winuser.h — part of cport's windows.h: MessageBox, which (with no window
 * system) writes "caption: text" to stderr and returns IDOK (IDYES for MB_YESNO).
 */
#include "cport_win32.h"
#ifndef CPORT_WINUSER_H
#define CPORT_WINUSER_H

#ifdef __cplusplus
extern "C" {
#endif

typedef HANDLE HWND;

#define MB_OK                       0x00000000L
#define MB_OKCANCEL                 0x00000001L
#define MB_YESNO                    0x00000004L
#define MB_ICONERROR                0x00000010L
#define MB_ICONWARNING              0x00000030L
#define MB_ICONINFORMATION          0x00000040L
#define IDOK                        1
#define IDCANCEL                    2
#define IDYES                       6
#define IDNO                        7

int WINAPI MessageBoxA(HWND hWnd, LPCSTR lpText, LPCSTR lpCaption, UINT uType);
int WINAPI MessageBoxW(HWND hWnd, LPCWSTR lpText, LPCWSTR lpCaption, UINT uType);

#ifdef UNICODE
#define MessageBox MessageBoxW
#else
#define MessageBox MessageBoxA
#endif

#ifdef __cplusplus
}
#endif

#endif /* CPORT_WINUSER_H */
