/*
 * mstcpip.h — cport's Win32 shim for Linux: SIO_KEEPALIVE_VALS and its
 * struct tcp_keepalive (times in milliseconds; Linux keeps whole seconds,
 * so they are rounded up), as in the Windows SDK.
 */
#ifndef CPORT_MSTCPIP_H
#define CPORT_MSTCPIP_H
#include "winsock2.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tcp_keepalive {
    ULONG onoff;
    ULONG keepalivetime;
    ULONG keepaliveinterval;
};

#define SIO_KEEPALIVE_VALS 0x98000004

#ifdef __cplusplus
}
#endif

#endif /* CPORT_MSTCPIP_H */
