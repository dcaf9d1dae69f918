// poll and ppoll on stdio pipes, files, devices, bad fds and bad arguments.
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

int main(void) {
    int null = open("/dev/null", O_RDWR);
    // Stdin alone first: it becomes readable when the input arrives.
    struct pollfd in0 = {.fd = 0, .events = POLLIN};
    CHECK("poll stdin until input", poll(&in0, 1, 5000));
    // Whether the writer has closed too (POLLHUP) is a matter of timing.
    printf("stdin revents %#x\n", in0.revents & ~POLLHUP);
    struct pollfd p[5] = {
        {.fd = 0, .events = POLLIN},
        {.fd = 1, .events = POLLOUT},
        {.fd = null, .events = POLLIN | POLLOUT},
        {.fd = -1, .events = POLLIN},
        {.fd = 77, .events = POLLIN},
    };
    CHECK("poll", poll(p, 5, 1000));
    for (int i = 0; i < 5; i++) printf("fd %d revents %#x\n", p[i].fd, i == 0 ? p[i].revents & ~POLLHUP : p[i].revents);
    CHECK("poll zero fds, zero timeout", poll(NULL, 0, 0));
    CHECK("poll zero fds, 20ms", poll(NULL, 0, 20));
    CHECK("poll bad pointer", poll((void *)0x10, 1, 0));
    CHECK("poll too many fds", poll(p, 1 << 30, 0));
    struct timespec ts = {0, 1000};
    sigset_t s;
    sigemptyset(&s);
    CHECK("ppoll", ppoll(p, 3, &ts, &s));
    CHECK("ppoll bad sigsetsize", syscall(SYS_ppoll, p, 3, &ts, &s, 4));
    struct timespec bad = {0, 2000000000};
    CHECK("ppoll bad timeout", ppoll(p, 3, &bad, NULL));
    // Drain stdin: at EOF a pipe reports POLLHUP.
    char b[64];
    while (read(0, b, sizeof b) > 0) {
    }
    struct pollfd in = {.fd = 0, .events = POLLIN};
    CHECK("poll at EOF", poll(&in, 1, 0));
    printf("revents %#x\n", in.revents);
    return 0;
}
