/*
 * winsock2.h — cport's Winsock 2 for Linux (C and C++).
 *
 * Socket addresses, AF_*, SOL_SOCKET, SO_*, MSG_* and u_long are Linux's
 * (sockaddr structures go straight to the kernel). Error codes, WSABUF,
 * WSADATA and the overlapped API are Windows'.
 *
 * The Winsock functions that share their name with a libc function are
 * exported as cport_<name>. This header declares them under their Winsock
 * names with the cport_<name> symbol as assembler name (gcc and clang), so a
 * program calling socket(), bind(), send() … gets cport's (Windows) functions
 * while libc and the C runtime keep theirs, and no macro renames a C++ member
 * or namespaced function called connect, send, bind …. libc's own
 * declarations of those names (sys/socket.h, netdb.h, arpa/inet.h) are
 * hidden while this header includes them: include winsock2.h before any of
 * those Linux headers (a Windows program does not include them at all).
 *
 * select and fd_set have Windows' layout (fd_count, then fd_array of
 * SOCKETs; FD_SETSIZE 64 unless the program set it first). fd_set is a macro
 * naming cport_fd_set, because libc's fd_set is usually declared already
 * (stdlib.h includes it). In C++ select is an overload of libc's (its
 * assembler name is cport_select); in C it is that too when sys/select.h was
 * not yet included, and otherwise a macro naming cport_select.
 */
#ifndef CPORT_WINSOCK2_H
#define CPORT_WINSOCK2_H
#define _WINSOCK2API_
#define _WINSOCKAPI_

#include "windows.h"

#if defined(_SYS_SELECT_H)
#define CPORT_LIBC_SELECT_SEEN 1
#endif
/* Hide libc's declarations of the names Winsock declares differently. */
#pragma push_macro("FD_SETSIZE")
#define socket       cport_libc_socket
#define bind         cport_libc_bind
#define listen       cport_libc_listen
#define connect      cport_libc_connect
#define accept       cport_libc_accept
#define shutdown     cport_libc_shutdown
#define setsockopt   cport_libc_setsockopt
#define getsockopt   cport_libc_getsockopt
#define getsockname  cport_libc_getsockname
#define getpeername  cport_libc_getpeername
#define send         cport_libc_send
#define recv         cport_libc_recv
#define sendto       cport_libc_sendto
#define recvfrom     cport_libc_recvfrom
#define inet_pton    cport_libc_inet_pton
#define inet_ntop    cport_libc_inet_ntop
#define getaddrinfo  cport_libc_getaddrinfo
#define freeaddrinfo cport_libc_freeaddrinfo
#define getnameinfo  cport_libc_getnameinfo
#define select       cport_libc_select
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#undef socket
#undef bind
#undef listen
#undef connect
#undef accept
#undef shutdown
#undef setsockopt
#undef getsockopt
#undef getsockname
#undef getpeername
#undef send
#undef recv
#undef sendto
#undef recvfrom
#undef inet_pton
#undef inet_ntop
#undef getaddrinfo
#undef freeaddrinfo
#undef getnameinfo
#undef select
#undef FD_SETSIZE
#pragma pop_macro("FD_SETSIZE")
#ifndef FD_SETSIZE
#define FD_SETSIZE 64
#endif
#undef FD_SET
#undef FD_CLR
#undef FD_ISSET
#undef FD_ZERO

#ifdef __cplusplus
extern "C" {
#endif

typedef UINT_PTR SOCKET;
typedef HANDLE WSAEVENT, *LPWSAEVENT;
typedef unsigned int GROUP;
/* WSAOVERLAPPED is OVERLAPPED (the same type). */
typedef struct _OVERLAPPED WSAOVERLAPPED, *LPWSAOVERLAPPED;

typedef struct _WSABUF {
    ULONG len; /* length first: not struct iovec order */
    CHAR *buf;
} WSABUF, *LPWSABUF;

typedef struct sockaddr SOCKADDR, *PSOCKADDR, *LPSOCKADDR;
typedef struct sockaddr_in SOCKADDR_IN, *PSOCKADDR_IN, *LPSOCKADDR_IN;
typedef struct sockaddr_in6 SOCKADDR_IN6, *PSOCKADDR_IN6, *LPSOCKADDR_IN6;
typedef struct sockaddr_storage SOCKADDR_STORAGE, *PSOCKADDR_STORAGE, *LPSOCKADDR_STORAGE;
typedef struct in_addr IN_ADDR, *PIN_ADDR, *LPIN_ADDR;
typedef struct in6_addr IN6_ADDR, *PIN6_ADDR, *LPIN6_ADDR;
typedef struct linger LINGER, *PLINGER, *LPLINGER;
typedef struct hostent HOSTENT, *PHOSTENT, *LPHOSTENT;
typedef struct timeval TIMEVAL, *PTIMEVAL, *LPTIMEVAL;
typedef unsigned short ADDRESS_FAMILY;

/* Windows' fd_set (see the header comment). */
typedef struct cport_fd_set {
    unsigned int fd_count;
    SOCKET fd_array[FD_SETSIZE];
} cport_fd_set;
#define fd_set cport_fd_set
typedef fd_set FD_SET_T, *PFD_SET, *LPFD_SET;

int WSAAPI __WSAFDIsSet(SOCKET fd, fd_set *set);
#define FD_ISSET(fd, set) __WSAFDIsSet((SOCKET)(fd), (fd_set *)(set))
#define FD_ZERO(set) (((fd_set *)(set))->fd_count = 0)
#define FD_CLR(fd, set) do { \
    unsigned int cport_i_; \
    for (cport_i_ = 0; cport_i_ < ((fd_set *)(set))->fd_count; cport_i_++) { \
        if (((fd_set *)(set))->fd_array[cport_i_] == (SOCKET)(fd)) { \
            while (cport_i_ < ((fd_set *)(set))->fd_count - 1) { \
                ((fd_set *)(set))->fd_array[cport_i_] = ((fd_set *)(set))->fd_array[cport_i_ + 1]; \
                cport_i_++; \
            } \
            ((fd_set *)(set))->fd_count--; \
            break; \
        } \
    } \
} while (0)
#define FD_SET(fd, set) do { \
    unsigned int cport_i_; \
    for (cport_i_ = 0; cport_i_ < ((fd_set *)(set))->fd_count; cport_i_++) { \
        if (((fd_set *)(set))->fd_array[cport_i_] == (SOCKET)(fd)) break; \
    } \
    if (cport_i_ == ((fd_set *)(set))->fd_count && ((fd_set *)(set))->fd_count < FD_SETSIZE) { \
        ((fd_set *)(set))->fd_array[cport_i_] = (SOCKET)(fd); \
        ((fd_set *)(set))->fd_count++; \
    } \
} while (0)

#define WSADESCRIPTION_LEN 256
#define WSASYS_STATUS_LEN  128

/* The _WIN64 field order. */
typedef struct WSAData {
    WORD wVersion;
    WORD wHighVersion;
    unsigned short iMaxSockets;
    unsigned short iMaxUdpDg;
    char *lpVendorInfo;
    char szDescription[WSADESCRIPTION_LEN + 1];
    char szSystemStatus[WSASYS_STATUS_LEN + 1];
} WSADATA, *LPWSADATA;

#define MAX_PROTOCOL_CHAIN 7
typedef struct _WSAPROTOCOLCHAIN {
    int ChainLen;
    DWORD ChainEntries[MAX_PROTOCOL_CHAIN];
} WSAPROTOCOLCHAIN, *LPWSAPROTOCOLCHAIN;

#define WSAPROTOCOL_LEN 255
typedef struct _WSAPROTOCOL_INFOA {
    DWORD dwServiceFlags1;
    DWORD dwServiceFlags2;
    DWORD dwServiceFlags3;
    DWORD dwServiceFlags4;
    DWORD dwProviderFlags;
    GUID ProviderId;
    DWORD dwCatalogEntryId;
    WSAPROTOCOLCHAIN ProtocolChain;
    int iVersion;
    int iAddressFamily;
    int iMaxSockAddr;
    int iMinSockAddr;
    int iSocketType;
    int iProtocol;
    int iProtocolMaxOffset;
    int iNetworkByteOrder;
    int iSecurityScheme;
    DWORD dwMessageSize;
    DWORD dwProviderReserved;
    CHAR szProtocol[WSAPROTOCOL_LEN + 1];
} WSAPROTOCOL_INFOA, *LPWSAPROTOCOL_INFOA;

typedef struct _WSAPROTOCOL_INFOW {
    DWORD dwServiceFlags1;
    DWORD dwServiceFlags2;
    DWORD dwServiceFlags3;
    DWORD dwServiceFlags4;
    DWORD dwProviderFlags;
    GUID ProviderId;
    DWORD dwCatalogEntryId;
    WSAPROTOCOLCHAIN ProtocolChain;
    int iVersion;
    int iAddressFamily;
    int iMaxSockAddr;
    int iMinSockAddr;
    int iSocketType;
    int iProtocol;
    int iProtocolMaxOffset;
    int iNetworkByteOrder;
    int iSecurityScheme;
    DWORD dwMessageSize;
    DWORD dwProviderReserved;
    WCHAR szProtocol[WSAPROTOCOL_LEN + 1];
} WSAPROTOCOL_INFOW, *LPWSAPROTOCOL_INFOW;

#ifdef UNICODE
typedef WSAPROTOCOL_INFOW WSAPROTOCOL_INFO;
typedef LPWSAPROTOCOL_INFOW LPWSAPROTOCOL_INFO;
#else
typedef WSAPROTOCOL_INFOA WSAPROTOCOL_INFO;
typedef LPWSAPROTOCOL_INFOA LPWSAPROTOCOL_INFO;
#endif

typedef void (CALLBACK *LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError, DWORD cbTransferred,
                                                           LPWSAOVERLAPPED lpOverlapped, DWORD dwFlags);

/* WSAAccept's condition function. QOS is opaque: cport passes NULL. */
typedef struct _QualityOfService QOS, *LPQOS;
typedef int (CALLBACK *LPCONDITIONPROC)(LPWSABUF lpCallerId, LPWSABUF lpCallerData, LPQOS lpSQOS,
                                        LPQOS lpGQOS, LPWSABUF lpCalleeId, LPWSABUF lpCalleeData,
                                        GROUP *g, DWORD_PTR dwCallbackData);

/* ---- constants ---- */
#define INVALID_SOCKET  ((SOCKET)(~0))
#define SOCKET_ERROR    (-1)
#define SD_RECEIVE      0
#define SD_SEND         1
#define SD_BOTH         2
#define WSA_FLAG_OVERLAPPED         0x01
#define WSA_FLAG_NO_HANDLE_INHERIT  0x80
#define FROM_PROTOCOL_INFO          (-1)
#define WSA_INVALID_EVENT           ((WSAEVENT)NULL)
/* As Windows defines it, from (here: Linux's) SO_REUSEADDR. cport's bind
 * sets SO_REUSEADDR underneath for TCP unless this is set. */
#define SO_EXCLUSIVEADDRUSE         ((int)(~SO_REUSEADDR))
#define CF_ACCEPT                   0x0000
#define CF_REJECT                   0x0001
#define CF_DEFER                    0x0002
#ifndef MSG_PARTIAL
#define MSG_PARTIAL 0x8000
#endif

/* ioctlsocket / WSAIoctl commands (Windows values; Linux's are accepted too). */
#undef FIONBIO
#undef FIONREAD
#define FIONBIO   ((long)(int)0x8004667Eu)
#define FIONREAD  ((long)0x4004667F)
#define SIO_GET_EXTENSION_FUNCTION_POINTER 0xC8000006

#define WSA_IO_PENDING          997
#define WSA_IO_INCOMPLETE       996
#define WSA_OPERATION_ABORTED   995
#define WSA_INVALID_HANDLE      6
#define WSA_INVALID_PARAMETER   87
#define WSA_NOT_ENOUGH_MEMORY   8
#define WSAEINTR                10004
#define WSAEBADF                10009
#define WSAEACCES               10013
#define WSAEFAULT               10014
#define WSAEINVAL               10022
#define WSAEMFILE               10024
#define WSAEWOULDBLOCK          10035
#define WSAEINPROGRESS          10036
#define WSAEALREADY             10037
#define WSAENOTSOCK             10038
#define WSAEDESTADDRREQ         10039
#define WSAEMSGSIZE             10040
#define WSAEPROTOTYPE           10041
#define WSAENOPROTOOPT          10042
#define WSAEPROTONOSUPPORT      10043
#define WSAESOCKTNOSUPPORT      10044
#define WSAEOPNOTSUPP           10045
#define WSAEPFNOSUPPORT         10046
#define WSAEAFNOSUPPORT         10047
#define WSAEADDRINUSE           10048
#define WSAEADDRNOTAVAIL        10049
#define WSAENETDOWN             10050
#define WSAENETUNREACH          10051
#define WSAENETRESET            10052
#define WSAECONNABORTED         10053
#define WSAECONNRESET           10054
#define WSAENOBUFS              10055
#define WSAEISCONN              10056
#define WSAENOTCONN             10057
#define WSAESHUTDOWN            10058
#define WSAETOOMANYREFS         10059
#define WSAETIMEDOUT            10060
#define WSAECONNREFUSED         10061
#define WSAELOOP                10062
#define WSAENAMETOOLONG         10063
#define WSAEHOSTDOWN            10064
#define WSAEHOSTUNREACH         10065
#define WSASYSNOTREADY          10091
#define WSAVERNOTSUPPORTED      10092
#define WSANOTINITIALISED       10093
#define WSAEDISCON              10101
#define WSATYPE_NOT_FOUND       10109
#define WSAHOST_NOT_FOUND       11001
#define WSATRY_AGAIN            11002
#define WSANO_RECOVERY          11003
#define WSANO_DATA              11004

/* getaddrinfo errors: Windows values (cport's getaddrinfo returns these). */
#undef EAI_AGAIN
#undef EAI_BADFLAGS
#undef EAI_FAIL
#undef EAI_FAMILY
#undef EAI_MEMORY
#undef EAI_NONAME
#undef EAI_SERVICE
#undef EAI_SOCKTYPE
#undef EAI_NODATA
#define EAI_AGAIN     WSATRY_AGAIN
#define EAI_BADFLAGS  WSAEINVAL
#define EAI_FAIL      WSANO_RECOVERY
#define EAI_FAMILY    WSAEAFNOSUPPORT
#define EAI_MEMORY    WSA_NOT_ENOUGH_MEMORY
#define EAI_NONAME    WSAHOST_NOT_FOUND
#define EAI_SERVICE   WSATYPE_NOT_FOUND
#define EAI_SOCKTYPE  WSAESOCKTNOSUPPORT
#define EAI_NODATA    EAI_NONAME

#define WSA_WAIT_EVENT_0        0
#define WSA_WAIT_IO_COMPLETION  0xC0
#define WSA_WAIT_TIMEOUT        258
#define WSA_WAIT_FAILED         0xFFFFFFFF
#define WSA_INFINITE            0xFFFFFFFF
#define WSA_MAXIMUM_WAIT_EVENTS 64

/* ---- the libc-named functions: cport's versions (assembler names) ---- */
#define CPORT_ASM(name) __asm__("cport_" #name)
SOCKET WSAAPI socket(int af, int type, int protocol) CPORT_ASM(socket);
int WSAAPI bind(SOCKET s, const struct sockaddr *name, int namelen) CPORT_ASM(bind);
int WSAAPI listen(SOCKET s, int backlog) CPORT_ASM(listen);
int WSAAPI connect(SOCKET s, const struct sockaddr *name, int namelen) CPORT_ASM(connect);
SOCKET WSAAPI accept(SOCKET s, struct sockaddr *addr, int *addrlen) CPORT_ASM(accept);
int WSAAPI shutdown(SOCKET s, int how) CPORT_ASM(shutdown);
int WSAAPI setsockopt(SOCKET s, int level, int optname, const char *optval, int optlen)
    CPORT_ASM(setsockopt);
int WSAAPI getsockopt(SOCKET s, int level, int optname, char *optval, int *optlen)
    CPORT_ASM(getsockopt);
int WSAAPI getsockname(SOCKET s, struct sockaddr *name, int *namelen) CPORT_ASM(getsockname);
int WSAAPI getpeername(SOCKET s, struct sockaddr *name, int *namelen) CPORT_ASM(getpeername);
int WSAAPI send(SOCKET s, const char *buf, int len, int flags) CPORT_ASM(send);
int WSAAPI recv(SOCKET s, char *buf, int len, int flags) CPORT_ASM(recv);
int WSAAPI sendto(SOCKET s, const char *buf, int len, int flags, const struct sockaddr *to,
                  int tolen) CPORT_ASM(sendto);
int WSAAPI recvfrom(SOCKET s, char *buf, int len, int flags, struct sockaddr *from, int *fromlen)
    CPORT_ASM(recvfrom);
INT WSAAPI inet_pton(INT Family, PCSTR pszAddrString, PVOID pAddrBuf) CPORT_ASM(inet_pton);
PCSTR WSAAPI inet_ntop(INT Family, const VOID *pAddr, PSTR pStringBuf, size_t StringBufSize)
    CPORT_ASM(inet_ntop);
INT WSAAPI getaddrinfo(PCSTR pNodeName, PCSTR pServiceName, const struct addrinfo *pHints,
                       struct addrinfo **ppResult) CPORT_ASM(getaddrinfo);
VOID WSAAPI freeaddrinfo(struct addrinfo *pAddrInfo) CPORT_ASM(freeaddrinfo);
/* NI_* flags are Linux's (netdb.h). */
INT WSAAPI getnameinfo(const struct sockaddr *pSockaddr, socklen_t SockaddrLength, PCHAR pNodeBuffer,
                       DWORD NodeBufferSize, PCHAR pServiceBuffer, DWORD ServiceBufferSize,
                       INT Flags) CPORT_ASM(getnameinfo);
/* select on SOCKETs (nfds is ignored, as on Windows). */
int WSAAPI cport_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
                        const struct timeval *timeout);
#if !defined(__cplusplus)
#if defined(CPORT_LIBC_SELECT_SEEN)
#define select cport_select
#else
int WSAAPI select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
                  const struct timeval *timeout) CPORT_ASM(select);
#endif
#endif
#undef CPORT_ASM

/* ---- Winsock proper ---- */
int WSAAPI WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData);
int WSAAPI WSACleanup(void);
int WSAAPI WSAGetLastError(void);
void WSAAPI WSASetLastError(int iError);
int WSAAPI closesocket(SOCKET s);
SOCKET WSAAPI WSAAccept(SOCKET s, struct sockaddr *addr, LPINT addrlen,
                        LPCONDITIONPROC lpfnCondition, DWORD_PTR dwCallbackData);
int WSAAPI ioctlsocket(SOCKET s, long cmd, unsigned long *argp); /* u_long * */
SOCKET WSAAPI WSASocketA(int af, int type, int protocol, LPWSAPROTOCOL_INFOA lpProtocolInfo,
                         GROUP g, DWORD dwFlags);
SOCKET WSAAPI WSASocketW(int af, int type, int protocol, LPWSAPROTOCOL_INFOW lpProtocolInfo,
                         GROUP g, DWORD dwFlags);
int WSAAPI WSARecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
                   LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
                   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
int WSAAPI WSASend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
                   DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
                   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
int WSAAPI WSARecvFrom(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
                       LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags, struct sockaddr *lpFrom,
                       LPINT lpFromlen, LPWSAOVERLAPPED lpOverlapped,
                       LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
int WSAAPI WSASendTo(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
                     DWORD dwFlags, const struct sockaddr *lpTo, int iTolen,
                     LPWSAOVERLAPPED lpOverlapped,
                     LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
int WSAAPI WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
                    LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
                    LPWSAOVERLAPPED lpOverlapped,
                    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
BOOL WSAAPI WSAGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer,
                                   BOOL fWait, LPDWORD lpdwFlags);
WSAEVENT WSAAPI WSACreateEvent(void);
BOOL WSAAPI WSACloseEvent(WSAEVENT hEvent);
BOOL WSAAPI WSASetEvent(WSAEVENT hEvent);
BOOL WSAAPI WSAResetEvent(WSAEVENT hEvent);
DWORD WSAAPI WSAWaitForMultipleEvents(DWORD cEvents, const WSAEVENT *lphEvents, BOOL fWaitAll,
                                      DWORD dwTimeout, BOOL fAlertable);

/* Address strings: "a.b.c.d[:port]", "[v6[%scope]]:port" or "v6[%scope]"
 * (the port is printed when it is not 0). lpProtocolInfo must be NULL. */
INT WSAAPI WSAStringToAddressA(LPSTR AddressString, INT AddressFamily,
                               LPWSAPROTOCOL_INFOA lpProtocolInfo, LPSOCKADDR lpAddress,
                               LPINT lpAddressLength);
INT WSAAPI WSAStringToAddressW(LPWSTR AddressString, INT AddressFamily,
                               LPWSAPROTOCOL_INFOW lpProtocolInfo, LPSOCKADDR lpAddress,
                               LPINT lpAddressLength);
INT WSAAPI WSAAddressToStringA(LPSOCKADDR lpsaAddress, DWORD dwAddressLength,
                               LPWSAPROTOCOL_INFOA lpProtocolInfo, LPSTR lpszAddressString,
                               LPDWORD lpdwAddressStringLength);
INT WSAAPI WSAAddressToStringW(LPSOCKADDR lpsaAddress, DWORD dwAddressLength,
                               LPWSAPROTOCOL_INFOW lpProtocolInfo, LPWSTR lpszAddressString,
                               LPDWORD lpdwAddressStringLength);

/* WSAMSG (ws2def.h in the SDK) for WSASendMsg and WSARecvMsg (mswsock.h).
 * Control messages have Linux's cmsghdr layout, which is Windows' too; their
 * levels, types and payloads are Linux's, like the other socket constants. */
typedef struct _WSAMSG {
    struct sockaddr *name;
    INT namelen;
    LPWSABUF lpBuffers;
    ULONG dwBufferCount;
    WSABUF Control;
    ULONG dwFlags;
} WSAMSG, *PWSAMSG, *LPWSAMSG;
typedef struct cmsghdr WSACMSGHDR, *PWSACMSGHDR, *LPWSACMSGHDR;
#define WSA_CMSG_FIRSTHDR(msg)                                                              \
    ((msg)->Control.len >= sizeof(WSACMSGHDR) ? (LPWSACMSGHDR)(msg)->Control.buf : (LPWSACMSGHDR)0)
#define WSA_CMSG_DATA(cmsg) CMSG_DATA(cmsg)
#define WSA_CMSG_SPACE(length) CMSG_SPACE(length)
#define WSA_CMSG_LEN(length) CMSG_LEN(length)
#define WSA_CMSG_NXTHDR(msg, cmsg)                                                          \
    ((cmsg) == 0 ? WSA_CMSG_FIRSTHDR(msg)                                                   \
     : ((char *)(cmsg) + CMSG_ALIGN((cmsg)->cmsg_len) + sizeof(WSACMSGHDR) >                \
        (char *)(msg)->Control.buf + (msg)->Control.len)                                    \
         ? (LPWSACMSGHDR)0                                                                  \
         : (LPWSACMSGHDR)((char *)(cmsg) + CMSG_ALIGN((cmsg)->cmsg_len)))
int WSAAPI WSASendMsg(SOCKET Handle, LPWSAMSG lpMsg, DWORD dwFlags, LPDWORD lpNumberOfBytesSent,
                      LPWSAOVERLAPPED lpOverlapped,
                      LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);

/* WSAEventSelect: network events recorded per socket, signalled through an
 * event, read (and cleared) with WSAEnumNetworkEvents. */
#define FD_READ_BIT 0
#define FD_READ (1 << FD_READ_BIT)
#define FD_WRITE_BIT 1
#define FD_WRITE (1 << FD_WRITE_BIT)
#define FD_OOB_BIT 2
#define FD_OOB (1 << FD_OOB_BIT)
#define FD_ACCEPT_BIT 3
#define FD_ACCEPT (1 << FD_ACCEPT_BIT)
#define FD_CONNECT_BIT 4
#define FD_CONNECT (1 << FD_CONNECT_BIT)
#define FD_CLOSE_BIT 5
#define FD_CLOSE (1 << FD_CLOSE_BIT)
#define FD_MAX_EVENTS 10
#define FD_ALL_EVENTS ((1 << FD_MAX_EVENTS) - 1)
typedef struct _WSANETWORKEVENTS {
    LONG lNetworkEvents; /* Windows' long: 32 bits */
    int iErrorCode[FD_MAX_EVENTS];
} WSANETWORKEVENTS, *LPWSANETWORKEVENTS;
int WSAAPI WSAEventSelect(SOCKET s, WSAEVENT hEventObject, LONG lNetworkEvents);
int WSAAPI WSAEnumNetworkEvents(SOCKET s, WSAEVENT hEventObject, LPWSANETWORKEVENTS lpNetworkEvents);

/* WSAPoll, with Windows' POLL* values (they replace <poll.h>'s: include
 * <poll.h>, if at all, before this header and use WSAPOLLFD). */
#undef POLLRDNORM
#undef POLLRDBAND
#undef POLLIN
#undef POLLPRI
#undef POLLWRNORM
#undef POLLOUT
#undef POLLWRBAND
#undef POLLERR
#undef POLLHUP
#undef POLLNVAL
#define POLLRDNORM 0x0100
#define POLLRDBAND 0x0200
#define POLLIN (POLLRDNORM | POLLRDBAND)
#define POLLPRI 0x0400
#define POLLWRNORM 0x0010
#define POLLOUT (POLLWRNORM)
#define POLLWRBAND 0x0020
#define POLLERR 0x0001
#define POLLHUP 0x0002
#define POLLNVAL 0x0004
typedef struct cport_wsapollfd {
    SOCKET fd;
    SHORT events;
    SHORT revents;
} WSAPOLLFD, *PWSAPOLLFD, *LPWSAPOLLFD;
#ifndef _SYS_POLL_H
#define pollfd cport_wsapollfd /* `struct pollfd`, as the SDK names it */
#endif
int WSAAPI WSAPoll(LPWSAPOLLFD fdArray, ULONG fds, INT timeout);

#ifdef UNICODE
#define WSASocket WSASocketW
#define WSAStringToAddress WSAStringToAddressW
#define WSAAddressToString WSAAddressToStringW
#else
#define WSASocket WSASocketA
#define WSAStringToAddress WSAStringToAddressA
#define WSAAddressToString WSAAddressToStringA
#endif

#ifdef __cplusplus
}
/* An overload of libc's select (different parameter types), C++ linkage. */
int select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
           const struct timeval *timeout) __asm__("cport_select");
#endif

#endif /* CPORT_WINSOCK2_H */
