// eventfd: counter and semaphore modes, O_NONBLOCK, overflow, short buffers,
// bad flags, poll readiness, fstat, /proc/self/fd, and select.
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static void show_poll(const char *what, int fd) {
    struct pollfd pf = {fd, POLLIN | POLLOUT, 0};
    int r = poll(&pf, 1, 0);
    printf("%s: poll %d revents %#x\n", what, r, pf.revents);
}

int main(void) {
    int fd = eventfd(3, EFD_NONBLOCK);
    CHECK("eventfd", fd >= 0);
    uint64_t v = 0;
    show_poll("initial 3", fd);
    CHECK("read", read(fd, &v, 8));
    printf("value %llu\n", (unsigned long long)v);
    CHECK("read empty", read(fd, &v, 8));
    show_poll("empty", fd);
    v = 5;
    CHECK("write 5", write(fd, &v, 8));
    CHECK("write 7", write(fd, &(uint64_t){7}, 8));
    CHECK("read", read(fd, &v, 8));
    printf("value %llu\n", (unsigned long long)v);
    CHECK("short read", read(fd, &v, 4));
    CHECK("short write", write(fd, &v, 7));
    CHECK("long read", read(fd, (char[16]){0}, 16));
    CHECK("write max", write(fd, &(uint64_t){UINT64_MAX}, 8));
    CHECK("write max-1", write(fd, &(uint64_t){UINT64_MAX - 1}, 8));
    show_poll("full", fd);
    CHECK("write 1 when full", write(fd, &(uint64_t){1}, 8));
    CHECK("read full", read(fd, &v, 8));
    printf("value %#llx\n", (unsigned long long)v);
    CHECK("pread", pread(fd, &v, 8, 0));
    CHECK("lseek", lseek(fd, 0, SEEK_SET));
    CHECK("lseek SEEK_END 5", lseek(fd, 5, SEEK_END));
    CHECK("lseek bad whence", lseek(fd, 0, 99));
    struct stat st;
    CHECK("fstat", fstat(fd, &st));
    printf("mode %#o size %lld nlink %lu\n", st.st_mode, (long long)st.st_size, (unsigned long)st.st_nlink);
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    CHECK("readlink", readlink(path, link, sizeof link - 1));
    printf("link %s\n", link);
    CHECK("F_GETFL", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
    CHECK("F_GETFD", fcntl(fd, F_GETFD));
    close(fd);

    int s = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK("semaphore", s >= 0);
    CHECK("F_GETFD cloexec", fcntl(s, F_GETFD));
    for (int i = 0; i < 3; i++) {
        v = 0;
        long r = read(s, &v, 8);
        printf("sem read %ld %s value %llu\n", r, r < 0 ? errname(errno) : "ok", (unsigned long long)v);
    }
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(s, &rs);
    FD_SET(s, &ws);
    struct timeval tv = {0, 0};
    CHECK("select", select(s + 1, &rs, &ws, NULL, &tv));
    printf("select r %d w %d\n", FD_ISSET(s, &rs), FD_ISSET(s, &ws));
    close(s);

    CHECK("bad flags", eventfd(0, 0x40));
    CHECK("eventfd2 O_RDWR flag", syscall(SYS_eventfd2, 0, O_RDWR));
    int b = syscall(SYS_eventfd, 9);
    CHECK("eventfd syscall", b >= 0);
    CHECK("blocking read with value", read(b, &v, 8));
    printf("value %llu\n", (unsigned long long)v);
    CHECK("F_GETFL blocking", fcntl(b, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
    CHECK("O_NONBLOCK", fcntl(b, F_SETFL, O_NONBLOCK));
    CHECK("write 4", write(b, &(uint64_t){4}, 8));
    void *volatile bad = (void *)8;
    CHECK("write from bad pointer", write(b, bad, 8));
    v = 0;
    CHECK("read after bad write", read(b, &v, 8));
    printf("value %llu\n", (unsigned long long)v);
    CHECK("write 4", write(b, &(uint64_t){4}, 8));
    // Linux consumes the count before it finds the pointer bad; rVisor
    // checks the buffer first. Either way the read fails.
    CHECK("bad pointer read", read(b, bad, 8));
    return 0;
}
