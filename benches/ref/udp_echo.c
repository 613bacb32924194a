/* Reference: a UDP echo server that does one recvfrom and one sendto per
 * datagram, the floor for a per-datagram loop (benches/e2e/udp.rs compiles
 * it with `cc -O2` at run time). Edge-triggered epoll; after an event it
 * receives until EAGAIN (no new edge comes for datagrams already queued)
 * and answers each at once. A reply that would block is dropped, as
 * sockloop drops it. SO_RCVBUF and SO_SNDBUF are 4 MiB (argv[1] bytes if
 * given), as sockloop's default --udp-buffer, so that both queue alike.
 * Binds 127.0.0.1:0 and prints `listening udp-echo udp ADDR` like sockloop. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER (4 << 20)   /* as sockloop's DEFAULT_UDP_BUFFER */

static char buf[65536];    /* any UDP payload fits */

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
        perror("udp_echo: bind");
        return 1;
    }
    printf("listening udp-echo udp 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    for (;;) {
        struct epoll_event event;
        int ready = epoll_wait(ep, &event, 1, -1);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) { perror("epoll_wait"); return 1; }
        for (;;) {  /* until EAGAIN */
            struct sockaddr_in from;
            socklen_t from_len = sizeof from;
            ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_len);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) break;  /* EAGAIN: drained */
            while (sendto(fd, buf, n, 0, (struct sockaddr *)&from, from_len) < 0 &&
                   errno == EINTR) {
            }
        }
    }
}
