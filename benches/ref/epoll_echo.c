/* Reference: the hand-written edge-triggered epoll echo server that
 * sockloop's loop is measured against (benches/e2e.rs compiles it with
 * `cc -O2` at run time). It does the least a correct ET loop can do per
 * message: one epoll_wait per batch of events, then read until EAGAIN or a
 * short read (on Linux a short read means the queue was empty and any later
 * byte raises a new edge: epoll(7); except at a TCP urgent mark, where a
 * read stops early, which this reference ignores and sockloop handles:
 * readiness::must_drain), and one write of what was read.
 *
 * Deliberate simplification: no output buffering. A write that comes up
 * short closes the connection (it would show as a verify error in the
 * load report); with 64-byte echoes and a reading client it does not happen.
 * Binds 127.0.0.1:0 and prints `listening echo tcp ADDR` like sockloop. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define EVENTS 1024    /* events per epoll_wait, as sockloop's EVENTS_CAPACITY */
#define BUF_SIZE 4096  /* one shared read buffer, as the tokio reference's */

static char buf[BUF_SIZE];

/* Echoes everything readable on fd; closes it on EOF, error or short write. */
static void serve(int fd) {
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;      /* drained */
        if (n <= 0) { close(fd); return; }         /* EOF or error */
        ssize_t done = 0;
        while (done < n) {
            ssize_t w = write(fd, buf + done, n - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { close(fd); return; }     /* full or broken: give up */
            done += w;
        }
        if (n < (ssize_t)sizeof buf) return;       /* short read: drained */
    }
}

int main(void) {
    struct rlimit lim;  /* as sockloop: soft open-file limit up to the hard one */
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(lfd, 1024) < 0 || getsockname(lfd, (struct sockaddr *)&addr, &len) < 0) {
        perror("epoll_echo: listen");
        return 1;
    }
    printf("listening echo tcp 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    static struct epoll_event events[EVENTS];
    for (;;) {
        int ready = epoll_wait(ep, events, EVENTS, -1);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) { perror("epoll_wait"); return 1; }
        for (int i = 0; i < ready; i++) {
            if (events[i].data.fd != lfd) { serve(events[i].data.fd); continue; }
            for (;;) {  /* accept until EAGAIN: no new edge for waiting ones */
                int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c < 0 && errno == EINTR) continue;
                if (c < 0) break;  /* EAGAIN, or EMFILE: wait for the next edge */
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct epoll_event cev = {.events = EPOLLIN | EPOLLET, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
            }
        }
    }
}
