/*
 * windows.h — cport's Win32 shim for Linux: completion ports, overlapped
 * files, events, errors (see cport_win32.h). Include winsock2.h for sockets.
 */
#ifndef CPORT_WINDOWS_H
#define CPORT_WINDOWS_H
#include "cport_win32.h"
#endif
