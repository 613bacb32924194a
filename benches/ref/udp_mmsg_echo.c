/* Reference: a UDP echo server that moves 64 datagrams per syscall with
 * recvmmsg and sendmmsg, the floor sockloop's batched udp-echo is measured
 * against (benches/e2e/udp.rs compiles it with `cc -O2` at run time).
 * Edge-triggered epoll; after an event it receives batches until one comes
 * back short (the queue ran empty: a later datagram raises a new edge) and
 * echoes each batch with one sendmmsg, retrying from the first reply not
 * sent; a reply that would block drops the rest of its batch, as sockloop
 * does. No fairness bound (it has one socket) and no per-datagram work
 * beyond the two syscalls. SO_RCVBUF and SO_SNDBUF are 4 MiB (argv[1] bytes
 * if given), as sockloop's default --udp-buffer.
 * Binds 127.0.0.1:0 and prints `listening udp-echo udp ADDR` like sockloop. */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64           /* as sockloop's UDP_BATCH */
#define SLOT 65536         /* any UDP payload fits */
#define BUFFER (4 << 20)   /* as sockloop's DEFAULT_UDP_BUFFER */

static char bufs[BATCH][SLOT];
static struct sockaddr_in6 names[BATCH];  /* room for either family */
static struct iovec iovs[BATCH];
static struct mmsghdr in[BATCH], out[BATCH];

int main(int argc, char **argv) {
    int bytes = argc > 1 ? atoi(argv[1]) : BUFFER;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        perror("udp_mmsg_echo: bind");
        return 1;
    }
    printf("listening udp-echo udp 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    for (int i = 0; i < BATCH; i++) {
        iovs[i].iov_base = bufs[i];
        in[i].msg_hdr.msg_iov = &iovs[i];
        in[i].msg_hdr.msg_iovlen = 1;
        in[i].msg_hdr.msg_name = &names[i];
        out[i].msg_hdr.msg_name = &names[i];
        out[i].msg_hdr.msg_iov = &iovs[i];
        out[i].msg_hdr.msg_iovlen = 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    for (;;) {
        struct epoll_event event;
        int ready = epoll_wait(ep, &event, 1, -1);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) { perror("epoll_wait"); return 1; }
        for (;;) {
            for (int i = 0; i < BATCH; i++) {  /* the kernel overwrites these */
                iovs[i].iov_len = SLOT;
                in[i].msg_hdr.msg_namelen = sizeof names[i];
            }
            int got = recvmmsg(fd, in, BATCH, 0, NULL);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;  /* EAGAIN: drained */
            for (int i = 0; i < got; i++) {
                iovs[i].iov_len = in[i].msg_len;
                out[i].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
            }
            for (int sent = 0; sent < got;) {
                int r = sendmmsg(fd, out + sent, got - sent, 0);
                if (r < 0 && errno == EINTR) continue;
                if (r < 0 && errno == EAGAIN) break;  /* drop the rest */
                sent += r < 0 ? 1 : r;                /* drop the one that failed */
            }
            if (got < BATCH) break;  /* short batch: the queue ran empty */
        }
    }
}
