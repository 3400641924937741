/*
 * winerror.h — part of cport's windows.h. The error numbers of completion
 * ports, files, events and Winsock are in cport_win32.h / winsock2.h; these
 * are those of the synchronisation, storage, memory and message functions.
 */
#include "cport_win32.h"
#ifndef CPORT_WINERROR_H
#define CPORT_WINERROR_H

#define ERROR_NO_MORE_ITEMS         259
#define ERROR_NOT_OWNER             288
#define ERROR_TOO_MANY_POSTS        298
#define ERROR_MR_MID_NOT_FOUND      317
#define ERROR_INVALID_ADDRESS       487
#define ERROR_INVALID_FLAGS         1004
#define ERROR_TIMEOUT               1460
#define ERROR_RESOURCE_LANG_NOT_FOUND 1815

#endif /* CPORT_WINERROR_H */
