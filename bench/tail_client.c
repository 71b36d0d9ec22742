/* The tail client of bench/serving.py: a closed-loop HTTP/1.1 load like `wrk -t1 -cN`, keeping every
 * request's own timing, so that the benchmark can set each request beside what the host probe saw.
 *
 * One thread, one epoll set, CONNECTIONS keep-alive connections to 127.0.0.1:PORT. Each connection sends
 * `GET PATH` with `Host: HOST`, waits for the whole answer (its head and Content-Length body), and sends
 * the next at once, for SECONDS. Every answered request is written to OUT as two native 64-bit integers:
 * when it was sent and how long its answer took, in nanoseconds of CLOCK_MONOTONIC (the clock the host
 * probe stamps its samples with).
 *
 * Usage: tail_client PORT CONNECTIONS SECONDS HOST PATH OUT
 * Prints one line: requests=N errors=E (errors: a connection closed or an answer not understood; the
 * connection is opened again). Built by bench/serving.py with the system C compiler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { BUFFER = 65536, EVENTS = 256 };

struct connection {
    int fd;
    size_t have;
    int64_t sent;
    char buffer[BUFFER];
};

static int port;
static char request[1024];
static size_t request_length;
static int poller;
static long errors;

static int64_t now_ns(void) {
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    return (int64_t)at.tv_sec * 1000000000 + at.tv_nsec;
}

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(port)};
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&at, sizeof at) < 0) {
        perror("tail_client: connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_request(struct connection *c);

/* The server closed the connection or answered what this client cannot read: counted, and opened again. */
static void open_again(struct connection *c) {
    errors++;
    epoll_ctl(poller, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = dial();
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(poller, EPOLL_CTL_ADD, c->fd, &event);
    send_request(c);
}

static void send_request(struct connection *c) {
    c->have = 0;
    c->sent = now_ns();
    if (write(c->fd, request, request_length) != (ssize_t)request_length)
        open_again(c); /* a connection the server has closed (SIGPIPE is ignored) */
}

/* The length of the whole answer in c->buffer, 0 while it is not all there, -1 if it cannot be read. */
static long answer_length(struct connection *c) {
    char *end = memmem(c->buffer, c->have, "\r\n\r\n", 4);
    if (end == NULL)
        return c->have < BUFFER ? 0 : -1;
    long head = end + 4 - c->buffer, body = -1;
    for (char *line = memchr(c->buffer, '\n', head); line && line < end; line = memchr(line + 1, '\n', end - line)) {
        if (strncasecmp(line + 1, "content-length:", 15) == 0)
            body = strtol(line + 16, NULL, 10);
    }
    if (body < 0 || head + body > BUFFER)
        return -1;
    return (size_t)(head + body) <= c->have ? head + body : 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: tail_client PORT CONNECTIONS SECONDS HOST PATH OUT\n");
        return 2;
    }
    port = atoi(argv[1]);
    int count = atoi(argv[2]);
    int64_t until = now_ns() + (int64_t)(atof(argv[3]) * 1e9);
    request_length = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", argv[5], argv[4]);
    FILE *out = fopen(argv[6], "wb");
    if (out == NULL || count < 1 || request_length >= sizeof request) {
        fprintf(stderr, "tail_client: bad arguments or cannot write %s\n", argv[6]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    poller = epoll_create1(EPOLL_CLOEXEC);
    struct connection *connections = calloc((size_t)count, sizeof *connections);
    if (connections == NULL)
        return 1;
    for (int i = 0; i < count; i++) {
        connections[i].fd = dial();
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = &connections[i]};
        epoll_ctl(poller, EPOLL_CTL_ADD, connections[i].fd, &event);
    }
    for (int i = 0; i < count; i++)
        send_request(&connections[i]);
    long answered = 0;
    struct epoll_event events[EVENTS];
    while (now_ns() < until) {
        int ready = epoll_wait(poller, events, EVENTS, 100);
        for (int i = 0; i < ready; i++) {
            struct connection *c = events[i].data.ptr;
            ssize_t got = read(c->fd, c->buffer + c->have, BUFFER - c->have);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                open_again(c);
                continue;
            }
            c->have += (size_t)got;
            long length = answer_length(c);
            if (length == 0)
                continue;
            if (length < 0 || (size_t)length != c->have) {
                open_again(c);
                continue;
            }
            int64_t record[2] = {c->sent, now_ns() - c->sent};
            fwrite(record, sizeof record, 1, out);
            answered++;
            send_request(c);
        }
    }
    fclose(out);
    printf("requests=%ld errors=%ld\n", answered, errors);
    return 0;
}
