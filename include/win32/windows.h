/*
 * windows.h — cport's Win32 shim for Linux: completion ports, overlapped
 * files, events, errors (see cport_win32.h), the rest of kernel32 that
 * IOCP programs use (cport_win32_ext.h) and the structured exception
 * handling keywords (cport_seh.h). Include winsock2.h for sockets.
 */
#ifndef CPORT_WINDOWS_H
#define CPORT_WINDOWS_H
#include "cport_seh.h"
#include "cport_win32.h"
#include "cport_win32_ext.h"
#endif
