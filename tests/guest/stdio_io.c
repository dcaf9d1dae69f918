// I/O on the stdio fds: large writes, short reads, reading stdin to EOF,
// readv/writev, and the errors of bad fds, bad pointers and bad counts.
#include "common.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>

int main(void) {
    // Short reads: stdin is a pipe holding "abcdefghij\n" then more lines.
    char b[64];
    CHECK("read 3", read(0, b, 3));
    printf("got '%.3s'\n", b);
    CHECK("read 0 bytes", read(0, b, 0));
    struct iovec rv[2] = {{b, 2}, {b + 2, 3}};
    CHECK("readv 2+3", readv(0, rv, 2));
    printf("got '%.5s'\n", b);
    long total = 0, n;
    while ((n = read(0, b, sizeof b)) > 0) total += n;
    printf("rest of stdin = %ld bytes, last read = %ld\n", total, n);
    CHECK("read at EOF", read(0, b, sizeof b));

    // Errors.
    CHECK("read bad fd", read(99, b, 1));
    CHECK("read fd -1", read(-1, b, 1));
    CHECK("write bad fd", write(99, "x", 1));
    CHECK("write to stdin (read end)", write(0, "x", 1));
    CHECK("read from stdout (write end)", read(1, b, 1));
    CHECK("write NULL buf", write(1, NULL, 5));
    CHECK("write bad buf", write(1, (void *)0x10, 5));
    CHECK("write kernel buf", write(1, (void *)0xffffffffff600000UL, 5));
    CHECK("write 0 bytes bad buf", write(1, (void *)0x10, 0));
    CHECK("readv bad iov", readv(0, (void *)0x10, 1));
    CHECK("writev count -1", writev(1, rv, -1));
    CHECK("writev count 1025", writev(1, rv, 1025));
    struct iovec neg[1] = {{b, (size_t)-1}};
    CHECK("writev negative len", writev(1, neg, 1));
    CHECK("write SIZE_MAX", write(1, b, (size_t)-1));
    CHECK("write beyond user space", write(1, (void *)0x7ffffffff000UL, 8192));
    CHECK("pread negative offset, bad fd", pread(99, b, 1, -1));
    CHECK("pread on pipe, bad buffer", pread(0, (void *)0x10, 1, 0));
    CHECK("readv on write end, bad iov", readv(1, (void *)0x10, 1));
    CHECK("pread on pipe", pread(0, b, 1, 0));
    CHECK("pwrite on pipe", pwrite(1, "x", 1, 0));
    CHECK("close bad fd", close(77));

    // A write from a buffer whose tail is unmapped writes the mapped head.
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m + 4096, 4096);
    memset(m, 'p', 4096);
    m[4095] = '\n';
    CHECK("write across unmapped tail", write(1, m + 4096 - 8, 100));

    // Large writes: 1 MiB in one call, then in 16 iovecs.
    size_t big = 1 << 20;
    char *p = malloc(big);
    for (size_t i = 0; i < big; i++) p[i] = 'a' + i % 26;
    p[big - 1] = '\n';
    CHECK("write 1MiB", write(1, p, big));
    struct iovec wv[16];
    for (int i = 0; i < 16; i++) wv[i] = (struct iovec){p + i * (big / 16), big / 16};
    CHECK("writev 16 x 64KiB", writev(1, wv, 16));

    // A buffer whose pages come from scattered backing (every other page
    // dropped) still goes out in one write.
    size_t sz = 8 << 20;
    char *sc = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(sc, 's', sz);
    for (size_t off = 0; off < sz; off += 8192) madvise(sc + off, 4096, MADV_DONTNEED);
    for (size_t off = 0; off < sz; off += 8192) sc[off] = '\n';
    CHECK("write 8MiB scattered", write(1, sc, sz));

    // fds: dup, dup2, dup3, fcntl.
    CHECK("dup 1", dup(1));
    CHECK("dup2 1->10", dup2(1, 10));
    CHECK("dup2 same fd", dup2(10, 10));
    CHECK("dup2 bad old", dup2(50, 11));
    CHECK("dup2 to -1", dup2(1, -1));
    CHECK("dup3 same fd", dup3(10, 10, 0));
    CHECK("dup3 bad flags", dup3(1, 12, 12345));
    CHECK("dup3 cloexec", dup3(1, 12, O_CLOEXEC));
    CHECK("F_GETFD 12", fcntl(12, F_GETFD));
    CHECK("F_GETFD 10", fcntl(10, F_GETFD));
    CHECK("F_SETFD 10", fcntl(10, F_SETFD, FD_CLOEXEC));
    CHECK("F_GETFD 10 after", fcntl(10, F_GETFD));
    CHECK("FIONCLEX 10", ioctl(10, FIONCLEX));
    CHECK("F_GETFD 10 after FIONCLEX", fcntl(10, F_GETFD));
    CHECK("F_DUPFD 1 from 20", fcntl(1, F_DUPFD, 20));
    CHECK("F_DUPFD_CLOEXEC 1 from 20", fcntl(1, F_DUPFD_CLOEXEC, 20));
    CHECK("F_GETFD 21", fcntl(21, F_GETFD));
    CHECK("F_DUPFD huge", fcntl(1, F_DUPFD, 1 << 30));
    CHECK("F_DUPFD arg truncated to int", syscall(SYS_fcntl, 1, F_DUPFD, 0x100000019UL));
    CHECK("F_DUPFD negative", fcntl(1, F_DUPFD, -5));
    CHECK("F_GETFL 0 accmode", fcntl(0, F_GETFL) & O_ACCMODE);
    CHECK("F_GETFL 1 accmode", fcntl(1, F_GETFL) & O_ACCMODE);
    CHECK("F_SETFL 0 nonblock", fcntl(0, F_SETFL, O_NONBLOCK));
    CHECK("F_GETFL 0 nonblock", (fcntl(0, F_GETFL) & O_NONBLOCK) != 0);
    CHECK("F_GETFD bad fd", fcntl(55, F_GETFD));
    CHECK("fcntl bad cmd", fcntl(1, 99999));
    CHECK("close 10", close(10));
    CHECK("close 10 again", close(10));
    CHECK("dup lowest free", dup(1));

    // fstat and ioctl on pipes.
    struct stat st;
    CHECK("fstat 1", fstat(1, &st));
    printf("stdout is fifo = %d\n", S_ISFIFO(st.st_mode));
    CHECK("fstat bad fd", fstat(66, &st));
    CHECK("fstat bad buf", fstat(1, (void *)0x10));
    CHECK("fstatat empty path", fstatat(1, "", &st, AT_EMPTY_PATH));
    CHECK("fstatat empty path, no flag", fstatat(1, "", &st, 0));
    CHECK("fstatat bad flags", fstatat(1, "", &st, 0x8000000));
    struct termios t;
    CHECK("TCGETS on pipe", ioctl(1, TCGETS, &t));
    struct winsize ws;
    CHECK("TIOCGWINSZ on pipe", ioctl(1, TIOCGWINSZ, &ws));
    CHECK("unknown ioctl", ioctl(1, 0x12345678, 0));
    CHECK("ioctl bad fd", ioctl(88, TCGETS, &t));
    return 0;
}
