/* Reference for the "slow readers" memory row of docs/benchmarks.md: an
 * edge-triggered epoll echo loop that handles a short write the way most
 * hand-written C loops do. It reads up to 64 KiB, writes it back, keeps the
 * unwritten rest in a per-connection buffer (allocated for that rest only),
 * stops reading until that rest is flushed on EPOLLOUT, then reads on.
 * A client that never reads therefore costs it the rest of one read.
 *
 * Built and run by scripts/slow-readers.py (`cc -O2`). Binds 127.0.0.1:0
 * and prints `listening echo tcp ADDR` like sockloop. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define EVENTS 1024
#define BUF_SIZE 65536 /* one read, as sockloop's READ_CHUNK before issue 16 */
#define MAX_FD 65536

struct rest { char *bytes; size_t len, off; };
static struct rest rests[MAX_FD];
static char buf[BUF_SIZE];

static void drop_conn(int fd) {
    free(rests[fd].bytes);
    rests[fd] = (struct rest){0};
    close(fd);
}

/* Writes what is pending; 1 if all of it went, 0 if some waits, -1 closed. */
static int flush(int fd) {
    struct rest *r = &rests[fd];
    while (r->off < r->len) {
        ssize_t w = write(fd, r->bytes + r->off, r->len - r->off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return 0;
        if (w <= 0) { drop_conn(fd); return -1; }
        r->off += (size_t)w;
    }
    free(r->bytes);
    *r = (struct rest){0};
    return 1;
}

static void serve(int fd) {
    int flushed = flush(fd);
    if (flushed <= 0) return; /* still pending (or closed): no reading */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) { drop_conn(fd); return; }
        ssize_t done = 0;
        while (done < n) {
            ssize_t w = write(fd, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && errno == EAGAIN) break;
            if (w <= 0) { drop_conn(fd); return; }
            done += w;
        }
        if (done < n) { /* keep the rest, stop reading until EPOLLOUT */
            struct rest *r = &rests[fd];
            r->len = (size_t)(n - done);
            r->off = 0;
            r->bytes = malloc(r->len);
            if (!r->bytes) { drop_conn(fd); return; }
            memcpy(r->bytes, buf + done, r->len);
            return;
        }
        if (n < (ssize_t)sizeof buf) return; /* short read: drained */
    }
}

int main(void) {
    struct rlimit lim;
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
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("listening echo tcp 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    struct epoll_event events[EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, EVENTS, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd != lfd) { serve(fd); continue; }
            for (;;) {
                int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c < 0) break;
                if (c >= MAX_FD) { close(c); continue; }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
            }
        }
    }
}
