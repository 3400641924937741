/* Ws2tcpip.h — the spelling some Windows programs use for ws2tcpip.h (Windows file names
 * are case-insensitive; Linux's are not). The guard keeps a case-insensitive
 * checkout, where the two names are one file, from including itself. */
#ifndef CPORT_ALIAS_WS2TCPIP_H
#define CPORT_ALIAS_WS2TCPIP_H
#include "ws2tcpip.h"
#endif
