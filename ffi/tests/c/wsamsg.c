/* WSARecvMsg (through WSAIoctl's WSAID_WSARECVMSG) and WSASendMsg (exported
 * and through WSAID_WSASENDMSG) on UDP over loopback: gathered buffers, the
 * source address, IP_PKTINFO control data read with the WSA_CMSG macros,
 * a truncated datagram (WSAEMSGSIZE + MSG_TRUNC), an overlapped call that
 * completes at once (its packet), overlapped calls issued before the
 * datagram is sent (WSA_IO_PENDING, then the packet or the event, with the
 * source, the IP_PKTINFO destination, MSG_TRUNC and MSG_CTRUNC written into
 * the WSAMSG at completion; also with a completion routine), WSASendMsg
 * with a completion routine, and WSAMSG's layout. */
#define _GNU_SOURCE
#include "net.h"

/* The destination address of the IP_PKTINFO control message in `m`, and
 * how many there were. */
static int pktinfo_dst(WSAMSG *m, ULONG *dst) {
    int count = 0;
    for (WSACMSGHDR *c = WSA_CMSG_FIRSTHDR(m); c != NULL; c = WSA_CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, WSA_CMSG_DATA(c), sizeof pi);
            *dst = pi.ipi_addr.s_addr;
            count++;
        }
    }
    return count;
}

static int routine_calls;
static DWORD routine_err, routine_bytes;
static LPWSAOVERLAPPED routine_ov;
static void CALLBACK on_msg(DWORD err, DWORD bytes, LPWSAOVERLAPPED ov, DWORD flags) {
    (void)flags;
    routine_calls++;
    routine_err = err;
    routine_bytes = bytes;
    routine_ov = ov;
}

/* A WSAMSG over one buffer, a source-address buffer and a control buffer. */
static void msg_over(WSAMSG *m, WSABUF *data, struct sockaddr_in *from, char *control, ULONG control_len) {
    memset(m, 0, sizeof *m);
    memset(from, 0, sizeof *from);
    memset(control, 0, control_len);
    m->name = (struct sockaddr *)from;
    m->namelen = sizeof *from;
    m->lpBuffers = data;
    m->dwBufferCount = 1;
    m->Control.buf = control;
    m->Control.len = control_len;
}

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

    /* Overlapped, issued before the datagram is sent: WSA_IO_PENDING, then
     * the packet; the WSAMSG gets the source, the control data and flags. */
    char pbuf[64];
    char pcontrol[256];
    struct sockaddr_in pfrom;
    WSABUF pin = {sizeof pbuf, pbuf};
    WSAMSG pm;
    msg_over(&pm, &pin, &pfrom, pcontrol, sizeof pcontrol);
    pm.dwFlags = MSG_TRUNC; /* an output: overwritten at completion */
    memset(&ov, 0, sizeof ov);
    CHECK_EQ(pRecvMsg(r, &pm, &got, &ov, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
    EXPECT_NO_PACKET(port, 50);
    CHECK_EQ(sendto(s, "pending!", 8, 0, (struct sockaddr *)&ra, sizeof ra), 8);
    EXPECT_PACKET(port, 7, &ov, 8, TRUE, 0);
    CHECK(memcmp(pbuf, "pending!", 8) == 0);
    CHECK_EQ(pm.namelen, sizeof pfrom);
    CHECK_EQ(pfrom.sin_family, AF_INET);
    CHECK_EQ(pfrom.sin_port, sa.sin_port);
    CHECK_EQ(pfrom.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_EQ(pm.dwFlags, 0);
    CHECK(pm.Control.len > 0);
    CHECK(pm.Control.len < sizeof pcontrol);
    ULONG dst = 0;
    CHECK_EQ(pktinfo_dst(&pm, &dst), 1);
    CHECK_EQ(dst, htonl(INADDR_LOOPBACK));

    /* The same with an event-based OVERLAPPED, on a socket with no port. */
    struct sockaddr_in ea;
    SOCKET e = udp_bound(&ea);
    CHECK_EQ(setsockopt(e, IPPROTO_IP, IP_PKTINFO, (const char *)&on, sizeof on), 0);
    WSAEVENT ev = WSACreateEvent();
    CHECK(ev != WSA_INVALID_EVENT);
    OVERLAPPED eov;
    memset(&eov, 0, sizeof eov);
    eov.hEvent = ev;
    msg_over(&pm, &pin, &pfrom, pcontrol, sizeof pcontrol);
    CHECK_EQ(pRecvMsg(e, &pm, &got, &eov, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
    CHECK_EQ(WaitForSingleObject(ev, 50), WAIT_TIMEOUT);
    CHECK_EQ(sendto(s, "event", 5, 0, (struct sockaddr *)&ea, sizeof ea), 5);
    CHECK_EQ(WaitForSingleObject(ev, 5000), WAIT_OBJECT_0);
    DWORD flags = 0xdeadbeef;
    bytes = 0;
    CHECK(WSAGetOverlappedResult(e, &eov, &bytes, FALSE, &flags));
    CHECK_EQ(bytes, 5);
    CHECK(memcmp(pbuf, "event", 5) == 0);
    CHECK_EQ(pm.namelen, sizeof pfrom);
    CHECK_EQ(pfrom.sin_port, sa.sin_port);
    CHECK_EQ(pm.dwFlags, 0);
    dst = 0;
    CHECK_EQ(pktinfo_dst(&pm, &dst), 1);
    CHECK_EQ(dst, htonl(INADDR_LOOPBACK));

    /* Pending, then a datagram larger than the buffer and a control buffer
     * too small for the IP_PKTINFO message: WSAEMSGSIZE with the buffer's
     * worth of bytes, MSG_TRUNC and MSG_CTRUNC. */
    char tiny[4];
    WSABUF tin = {sizeof tiny, tiny};
    msg_over(&pm, &tin, &pfrom, pcontrol, sizeof(WSACMSGHDR));
    memset(&eov, 0, sizeof eov);
    eov.hEvent = ev;
    CHECK_EQ(pRecvMsg(e, &pm, &got, &eov, NULL), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
    CHECK_EQ(sendto(s, "truncated", 9, 0, (struct sockaddr *)&ea, sizeof ea), 9);
    CHECK_EQ(WaitForSingleObject(ev, 5000), WAIT_OBJECT_0);
    CHECK(!WSAGetOverlappedResult(e, &eov, &bytes, FALSE, &flags));
    CHECK_EQ(WSAGetLastError(), WSAEMSGSIZE);
    CHECK_EQ(bytes, 4);
    CHECK(memcmp(tiny, "trun", 4) == 0);
    CHECK(pm.dwFlags & MSG_TRUNC);
    CHECK(pm.dwFlags & MSG_CTRUNC);
    CHECK_EQ(pfrom.sin_port, sa.sin_port);

    /* With a completion routine: pending, then the routine at the next
     * alertable wait, with the byte count and the OVERLAPPED; the WSAMSG is
     * written before it runs. */
    msg_over(&pm, &pin, &pfrom, pcontrol, sizeof pcontrol);
    memset(&eov, 0, sizeof eov);
    CHECK_EQ(pRecvMsg(e, &pm, &got, &eov, on_msg), SOCKET_ERROR);
    CHECK_EQ(WSAGetLastError(), WSA_IO_PENDING);
    CHECK_EQ(sendto(s, "routine", 7, 0, (struct sockaddr *)&ea, sizeof ea), 7);
    CHECK_EQ(SleepEx(5000, TRUE), WAIT_IO_COMPLETION);
    CHECK_EQ(routine_calls, 1);
    CHECK_EQ(routine_err, 0);
    CHECK_EQ(routine_bytes, 7);
    CHECK(routine_ov == &eov);
    CHECK(memcmp(pbuf, "routine", 7) == 0);
    CHECK_EQ(pfrom.sin_port, sa.sin_port);
    CHECK_EQ(pm.dwFlags, 0);
    dst = 0;
    CHECK_EQ(pktinfo_dst(&pm, &dst), 1);
    CHECK_EQ(dst, htonl(INADDR_LOOPBACK));

    /* WSASendMsg with a completion routine: the send completes at once, and
     * the routine runs at the thread's next alertable wait, not before. */
    {
        char rout[] = "rout";
        WSABUF rw = {4, rout};
        m.lpBuffers = &rw;
        m.dwBufferCount = 1;
        OVERLAPPED sov;
        memset(&sov, 0, sizeof sov);
        routine_calls = 0;
        CHECK_EQ(WSASendMsg(s, &m, 0, &sent, &sov, on_msg), 0);
        CHECK_EQ(sent, 4);
        CHECK_EQ(routine_calls, 0);
        CHECK_EQ(SleepEx(0, TRUE), WAIT_IO_COMPLETION);
        CHECK_EQ(routine_calls, 1);
        CHECK_EQ(routine_err, 0);
        CHECK_EQ(routine_bytes, 4);
        CHECK(routine_ov == &sov);
    }
    WSACloseEvent(ev);
    closesocket(e);
    closesocket(r);
    closesocket(s);
    CloseHandle(port);
    WSACleanup();
    printf("wsamsg: ok\n");
    return 0;
}
