/* The relay floor of bench/serving.py: the least any process between a client and the substrate pays.
 *
 * One thread, one epoll set. Each client connection gets its own connection to the upstream (a Unix socket
 * path, or a TCP port on 127.0.0.1), opened when the client's is accepted; every byte read on one side is
 * written to the other as it is, with no parsing, no routing, no headers and no records. So what it costs
 * per request is the kernel's: a read and a write on each side and a share of an epoll_wait. The gateway
 * does that and its own work (parse, route, forward headers, inspector record): gateway/relay-floor says
 * how much of its cost is its own.
 *
 * Usage: relay_floor PORT UPSTREAM   (UPSTREAM: a Unix socket path, or a TCP port number)
 * Built by bench/serving.py with the system C compiler; stopped with SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { MAX_FD = 65536, EVENTS = 256, BUFFER = 65536 };

static int other[MAX_FD]; /* the fd at the other end of each relayed fd */

static int upstream(const char *where) {
    int fd;
    if (where[0] == '/') {
        struct sockaddr_un at = {.sun_family = AF_UNIX};
        if (strlen(where) >= sizeof at.sun_path)
            return -1;
        strcpy(at.sun_path, where);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&at, sizeof at) < 0) {
            close(fd);
            return -1;
        }
    } else {
        struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(where)),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int one = 1;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&at, sizeof at) < 0) {
            close(fd);
            return -1;
        }
        if (fd >= 0)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* All of it, or -1: a full socket buffer (a slow reader) waits here, which a floor may do. */
static int write_all(int fd, const char *data, ssize_t size) {
    while (size > 0) {
        ssize_t done = write(fd, data, (size_t)size);
        if (done < 0 && errno == EAGAIN) {
            struct pollfd wait = {.fd = fd, .events = POLLOUT};
            poll(&wait, 1, 1000);
            continue;
        }
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return -1;
        data += done;
        size -= done;
    }
    return 0;
}

static void watch(int epoll, int fd) {
    struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: relay_floor PORT UPSTREAM (a Unix socket path or a TCP port)\n");
        return 2;
    }
    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&at, sizeof at) < 0 || listen(listener, 1024) < 0) {
        perror("relay_floor: cannot listen");
        return 1;
    }
    memset(other, -1, sizeof other);
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    watch(epoll, listener);
    struct epoll_event events[EVENTS];
    static char buffer[BUFFER];
    for (;;) {
        int ready = epoll_wait(epoll, events, EVENTS, -1);
        if (ready < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (client < 0)
                    continue;
                int up = upstream(argv[2]);
                if (up < 0 || up >= MAX_FD || client >= MAX_FD) {
                    fprintf(stderr, "relay_floor: cannot reach %s: %s\n", argv[2], strerror(errno));
                    close(client);
                    if (up >= 0)
                        close(up);
                    continue;
                }
                setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                other[client] = up;
                other[up] = client;
                watch(epoll, client);
                watch(epoll, up);
                continue;
            }
            if (other[fd] < 0)
                continue; /* closed earlier in this batch */
            ssize_t size = read(fd, buffer, sizeof buffer);
            if (size < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (size <= 0 || write_all(other[fd], buffer, size) < 0) {
                /* Either side gone: both go (closing an fd also leaves the epoll set). */
                int peer = other[fd];
                other[fd] = other[peer] = -1;
                close(fd);
                close(peer);
            }
        }
    }
}
