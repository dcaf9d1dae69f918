// epoll: level- and edge-triggered watches, one-shot, hangups, nesting,
// closed fds, maxevents rotation, timeouts, and the error paths.
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

static int ep;

static void show(const char *what, int e, int max, int timeout) {
    struct epoll_event ev[8];
    memset(ev, 0, sizeof ev);
    int n = epoll_wait(e, ev, max, timeout);
    printf("%s: %d%s", what, n, n < 0 ? errname(errno) : "");
    for (int i = 0; i < n; i++) printf(" [%llu %#x]", (unsigned long long)ev[i].data.u64, ev[i].events);
    printf("\n");
}

static int add(int e, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev);
}

static int mod(int e, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(e, EPOLL_CTL_MOD, fd, &ev);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    CHECK("epoll_create 0", epoll_create(0));
    CHECK("epoll_create -1", epoll_create(-1));
    CHECK("epoll_create1 bad flags", epoll_create1(1));
    ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK("epoll_create1", ep >= 0);
    CHECK("F_GETFD", fcntl(ep, F_GETFD));
    struct stat st;
    CHECK("fstat", fstat(ep, &st));
    printf("mode %#o\n", st.st_mode);
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ep);
    CHECK("readlink", readlink(path, link, sizeof link - 1));
    printf("link %s\n", link);
    CHECK("read an epoll fd", read(ep, link, 8));

    int p[2], q[2];
    CHECK("pipe", pipe(p));
    CHECK("pipe", pipe(q));
    char b[64];
    // Level-triggered.
    CHECK("add p read end", add(ep, p[0], EPOLLIN, 1));
    show("nothing yet", ep, 8, 0);
    CHECK("write p", write(p[1], "abc", 3));
    show("p readable", ep, 8, 0);
    show("still readable", ep, 8, 0);
    CHECK("read p", read(p[0], b, sizeof b));
    show("drained", ep, 8, 0);
    // Edge-triggered.
    CHECK("add q read end ET", add(ep, q[0], EPOLLIN | EPOLLET, 2));
    CHECK("write q", write(q[1], "x", 1));
    show("q edge", ep, 8, 0);
    show("no new edge", ep, 8, 0);
    CHECK("write q again", write(q[1], "y", 1));
    show("another write, another edge", ep, 8, 0);
    CHECK("read q", read(q[0], b, 1));
    show("a read makes no read edge", ep, 8, 0);
    CHECK("mod q re-arms", mod(ep, q[0], EPOLLIN | EPOLLET, 3));
    show("after mod", ep, 8, 0);
    CHECK("read q", read(q[0], b, sizeof b));
    // One-shot.
    CHECK("add p write end one-shot", add(ep, p[1], EPOLLOUT | EPOLLONESHOT, 4));
    show("one shot fires", ep, 8, 0);
    show("then is disabled", ep, 8, 0);
    CHECK("mod re-enables", mod(ep, p[1], EPOLLOUT | EPOLLONESHOT, 5));
    show("fires again", ep, 8, 0);
    CHECK("del p write end", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
    // Rotation with maxevents 1: two ready level-triggered watches.
    CHECK("write p", write(p[1], "a", 1));
    CHECK("write q", write(q[1], "b", 1));
    CHECK("mod q level", mod(ep, q[0], EPOLLIN, 6));
    show("max 1", ep, 1, 0);
    show("max 1 again", ep, 1, 0);
    show("max 1 once more", ep, 1, 0);
    show("max 8", ep, 8, 0);
    // Hangup.
    close(q[1]);
    show("q writer gone", ep, 8, 0);
    CHECK("read q", read(q[0], b, sizeof b));
    show("q drained, still hung up", ep, 8, 0);
    CHECK("del q", epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL));
    // A closed fd's watch goes with its file; a dup keeps it.
    int d = dup(p[0]);
    close(p[0]);
    show("closed but duplicated", ep, 8, 0);
    CHECK("ctl on the closed fd", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    CHECK("del through the dup", epoll_ctl(ep, EPOLL_CTL_DEL, d, NULL));
    CHECK("add the dup", add(ep, d, EPOLLIN, 7));
    close(d);
    show("closed for good", ep, 8, 0);
    CHECK("pipe", pipe(q));
    CHECK("add q again", add(ep, q[0], EPOLLIN, 8));
    // Errors.
    int f = open("/tmp/epoll-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK("add a regular file", add(ep, f, EPOLLIN, 0));
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    CHECK("add a directory", add(ep, dir, EPOLLIN, 0));
    int null = open("/dev/null", O_RDWR);
    CHECK("add /dev/null", add(ep, null, EPOLLIN, 0));
    CHECK("add /dev/urandom", add(ep, open("/dev/urandom", O_RDONLY), EPOLLIN, 9));
    int rnd = open("/dev/random", O_RDONLY);
    CHECK("add /dev/random", add(ep, rnd, EPOLLIN, 9));
    show("random readable", ep, 8, 0);
    CHECK("del random", epoll_ctl(ep, EPOLL_CTL_DEL, rnd, NULL));
    CHECK("add twice", add(ep, q[0], EPOLLIN, 0));
    CHECK("mod missing", mod(ep, q[1], EPOLLOUT, 0));
    CHECK("del missing", epoll_ctl(ep, EPOLL_CTL_DEL, q[1], NULL));
    CHECK("bad op", epoll_ctl(ep, 9, q[0], &(struct epoll_event){0}));
    CHECK("bad epfd", add(99, q[0], EPOLLIN, 0));
    CHECK("bad fd", add(ep, 99, EPOLLIN, 0));
    CHECK("epfd is not epoll", add(q[0], q[1], EPOLLIN, 0));
    CHECK("add itself", add(ep, ep, EPOLLIN, 0));
    CHECK("bad event pointer", epoll_ctl(ep, EPOLL_CTL_ADD, q[1], (void *)8));
    CHECK("bad event pointer on del", epoll_ctl(ep, EPOLL_CTL_DEL, q[0], (void *)8));
    CHECK("add q again", add(ep, q[0], EPOLLIN, 8));
    CHECK("exclusive", add(ep, q[1], EPOLLOUT | EPOLLEXCLUSIVE, 10));
    CHECK("mod exclusive", mod(ep, q[1], EPOLLOUT, 10));
    CHECK("mod to exclusive", mod(ep, q[0], EPOLLIN | EPOLLEXCLUSIVE, 10));
    CHECK("del exclusive", epoll_ctl(ep, EPOLL_CTL_DEL, q[1], NULL));
    CHECK("exclusive one-shot", add(ep, q[1], EPOLLOUT | EPOLLEXCLUSIVE | EPOLLONESHOT, 10));
    // Nesting.
    int inner = epoll_create1(0);
    CHECK("exclusive on an epoll", add(ep, inner, EPOLLIN | EPOLLEXCLUSIVE, 0));
    CHECK("add inner", add(ep, inner, EPOLLIN, 11));
    CHECK("loop", add(inner, ep, EPOLLIN, 0));
    show("inner empty", ep, 8, 0);
    int e = eventfd(0, EFD_NONBLOCK);
    CHECK("eventfd in inner, edge-triggered", add(inner, e, EPOLLIN | EPOLLET, 12));
    CHECK("eventfd write", write(e, &(uint64_t){1}, 8));
    show("outer sees inner", ep, 8, 0);
    show("inner", inner, 8, 0);
    show("outer after inner consumed", ep, 8, 0);
    CHECK("eventfd write", write(e, &(uint64_t){1}, 8));
    show("inner again", inner, 8, 0);
    // Waits.
    CHECK("maxevents 0", epoll_wait(ep, (struct epoll_event[1]){}, 0, 0));
    CHECK("maxevents -1", epoll_wait(ep, (struct epoll_event[1]){}, -1, 0));
    CHECK("maxevents huge", epoll_wait(ep, (struct epoll_event[1]){}, INT32_MAX, 0));
    CHECK("wait on a pipe", epoll_wait(q[0], (struct epoll_event[1]){}, 1, 0));
    CHECK("wait on a bad fd", epoll_wait(99, (struct epoll_event[1]){}, 1, 0));
    CHECK("write q", write(q[1], "z", 1));
    CHECK("wait into a bad buffer", epoll_wait(ep, (void *)8, 1, 0));
    CHECK("wait into kernel space", epoll_wait(ep, (void *)-4096L, 1, 0));
    CHECK("read q", read(q[0], b, sizeof b));
    int empty = epoll_create1(0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK("wait 30ms", epoll_wait(empty, (struct epoll_event[1]){}, 1, 30));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("waited at least 30ms: %d\n", ms >= 29);
    sigset_t ss;
    sigemptyset(&ss);
    CHECK("epoll_pwait", epoll_pwait(empty, (struct epoll_event[1]){}, 1, 0, &ss));
    CHECK("epoll_pwait bad sigsetsize", syscall(SYS_epoll_pwait, empty, (struct epoll_event[1]){}, 1, 0, &ss, 4));
    CHECK("epoll_pwait2", syscall(SYS_epoll_pwait2, empty, (struct epoll_event[1]){}, 1, &(struct timespec){0, 1000000}, NULL, 8));
    CHECK("epoll_pwait2 bad timespec", syscall(SYS_epoll_pwait2, empty, (struct epoll_event[1]){}, 1, &(struct timespec){0, -1}, NULL, 8));
    CHECK("epoll_pwait2 bad timespec pointer", syscall(SYS_epoll_pwait2, empty, (struct epoll_event[1]){}, 1, (void *)8, NULL, 8));
    unlink("/tmp/epoll-file");
    return 0;
}
