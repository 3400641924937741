/* WSARecvMsg (through WSAIoctl's WSAID_WSARECVMSG) and WSASendMsg (exported
 * and through WSAID_WSASENDMSG) on UDP over loopback: gathered buffers, the
 * source address, IP_PKTINFO control data read with the WSA_CMSG macros,
 * a truncated datagram (WSAEMSGSIZE + MSG_TRUNC), an overlapped call that
 * completes at once (its packet), WSAMSG's layout. */
#define _GNU_SOURCE
#include "net.h"

int main(void) {
    wsa_start();
    CHECK_EQ(sizeof(WSAMSG), 56);
    CHECK_EQ(offsetof(WSAMSG, Control), 32);
    CHECK_EQ(offsetof(WSAMSG, dwFlags), 48);
    struct sockaddr_in ra, sa;
    SOCKET r = udp_bound(&ra);
    SOCKET s = udp_bound(&sa);
    DWORD on = 1;
    CHECK_EQ(setsockopt(r, IPPROTO_IP, IP_PKTINFO, (const char *)&on, sizeof on), 0);

    LPFN_WSARECVMSG pRecvMsg = (LPFN_WSARECVMSG)get_ext(r, (GUID)WSAID_WSARECVMSG);
    LPFN_WSASENDMSG pSendMsg = (LPFN_WSASENDMSG)get_ext(s, (GUID)WSAID_WSASENDMSG);

    /* Two buffers gathered into one datagram. */
    WSABUF out[2] = {{5, (char *)"hello"}, {6, (char *)" world"}};
    WSAMSG m;
    memset(&m, 0, sizeof m);
    m.name = (struct sockaddr *)&ra;
    m.namelen = sizeof ra;
    m.lpBuffers = out;
    m.dwBufferCount = 2;
    DWORD sent = 0;
    CHECK_EQ(pSendMsg(s, &m, 0, &sent, NULL, NULL), 0);
    CHECK_EQ(sent, 11);

    char buf[64];
    char control[256];
    struct sockaddr_in from;
    WSABUF in = {sizeof buf, buf};
    WSAMSG rm;
    memset(&rm, 0, sizeof rm);
    rm.name = (struct sockaddr *)&from;
    rm.namelen = sizeof from;
    rm.lpBuffers = &in;
    rm.dwBufferCount = 1;
    rm.Control.buf = control;
    rm.Control.len = sizeof control;
    DWORD got = 0;
    CHECK_EQ(pRecvMsg(r, &rm, &got, NULL, NULL), 0);
    CHECK_EQ(got, 11);
    CHECK(memcmp(buf, "hello world", 11) == 0);
    CHECK_EQ(rm.namelen, sizeof from);
    CHECK_EQ(from.sin_port, sa.sin_port);
    CHECK_EQ(rm.dwFlags, 0);
    CHECK(rm.Control.len > 0);
    CHECK(rm.Control.len < sizeof control);
    int pktinfo = 0;
    for (WSACMSGHDR *c = WSA_CMSG_FIRSTHDR(&rm); c != NULL; c = WSA_CMSG_NXTHDR(&rm, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, WSA_CMSG_DATA(c), sizeof pi);
            CHECK_EQ(pi.ipi_addr.s_addr, htonl(INADDR_LOOPBACK));
            pktinfo++;
        }
    }
    CHECK_EQ(pktinfo, 1);

    /* The exported WSASendMsg; a datagram larger than the buffer. */
    char big[100];
    memset(big, 'z', sizeof big);
    WSABUF bb = {sizeof big, big};
    m.lpBuffers = &bb;
    m.dwBufferCount = 1;
    CHECK_EQ(WSASendMsg(s, &m, 0, &sent, NULL, NULL), 0);
    CHECK_EQ(sent, 100);
    char small[10];
    WSABUF sb = {sizeof small, small};
    rm.lpBuffers = &sb;
    rm.Control.len = sizeof control;
    rm.namelen = sizeof from;
    CHECK_EQ(pRecvMsg(r, &rm, &got, NULL, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEMSGSIZE);
    CHECK(rm.dwFlags & MSG_TRUNC);

    /* Overlapped, with the datagram already there: 0 and a packet. */
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    CHECK(CreateIoCompletionPort((HANDLE)r, port, 7, 0) == port);
    m.lpBuffers = out;
    m.dwBufferCount = 2;
    CHECK_EQ(WSASendMsg(s, &m, 0, &sent, NULL, NULL), 0);
    Sleep(50);
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    rm.lpBuffers = &in;
    rm.Control.len = sizeof control;
    rm.namelen = sizeof from;
    int rc = pRecvMsg(r, &rm, &got, &ov, NULL);
    if (rc == SOCKET_ERROR) CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
    DWORD bytes = 0;
    ULONG_PTR key = 0;
    LPOVERLAPPED pov = NULL;
    CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &pov, 2000));
    CHECK_EQ(bytes, 11);
    CHECK_EQ(key, 7);
    CHECK(pov == &ov);
    CHECK(memcmp(buf, "hello world", 11) == 0);
#ifndef _WIN32
    /* cport has no pending form of WSARecvMsg: with nothing there, WSAEOPNOTSUPP. */
    CHECK_EQ(pRecvMsg(r, &rm, &got, &ov, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSAEOPNOTSUPP);
#endif
    closesocket(r);
    closesocket(s);
    CloseHandle(port);
    WSACleanup();
    printf("wsamsg: ok\n");
    return 0;
}
