/* WinSock2.h — the spelling some Windows programs use for winsock2.h (Windows file names
 * are case-insensitive; Linux's are not). The guard keeps a case-insensitive
 * checkout, where the two names are one file, from including itself. */
#ifndef CPORT_ALIAS_WINSOCK2_H
#define CPORT_ALIAS_WINSOCK2_H
#include "winsock2.h"
#endif
