/*
 * ws2tcpip.h — getaddrinfo / inet_pton / inet_ntop (declared and mapped to
 * cport's versions in winsock2.h) and the ADDRINFO names. struct addrinfo is
 * Linux's (same fields; field order is not part of the API).
 */
#ifndef CPORT_WS2TCPIP_H
#define CPORT_WS2TCPIP_H
#include "winsock2.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct addrinfo ADDRINFOA, *PADDRINFOA;
typedef struct addrinfo ADDRINFO, *LPADDRINFO;

#define InetPtonA inet_pton
#define InetNtopA inet_ntop

#ifdef __cplusplus
}
#endif

#endif /* CPORT_WS2TCPIP_H */
