// Pipes and FIFOs within one process: ends, EOF, EPIPE, O_NONBLOCK, atomic
// writes, FIONREAD, pipe sizes, poll, and FIFOs in /tmp.
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    CHECK("pipe", pipe(p));
    CHECK("write", write(p[1], "hello", 5));
    int n = -1;
    CHECK("FIONREAD", ioctl(p[0], FIONREAD, &n));
    printf("available %d\n", n);
    char b[16] = {0};
    CHECK("read", read(p[0], b, sizeof b));
    printf("got %s\n", b);
    CHECK("F_GETFL read end", fcntl(p[0], F_GETFL) & O_ACCMODE);
    CHECK("F_GETFL write end", fcntl(p[1], F_GETFL) & O_ACCMODE);
    CHECK("write to read end", write(p[0], "x", 1));
    CHECK("read from write end", read(p[1], b, 1));
    CHECK("lseek on pipe", lseek(p[0], 0, SEEK_SET));
    CHECK("fstat is fifo", ({ struct stat st; fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode); }));
    CHECK("F_GETPIPE_SZ", fcntl(p[1], F_GETPIPE_SZ));
    CHECK("F_SETPIPE_SZ 5000", fcntl(p[1], F_SETPIPE_SZ, 5000));
    CHECK("F_GETPIPE_SZ after", fcntl(p[0], F_GETPIPE_SZ));
    CHECK("F_GETPIPE_SZ on a file", fcntl(1, F_GETPIPE_SZ) > 0 || errno == EBADF);
    // Fill it without blocking.
    CHECK("O_NONBLOCK", fcntl(p[1], F_SETFL, O_NONBLOCK));
    static char big[70000];
    long total = 0, r;
    while ((r = write(p[1], big, 1000)) > 0) total += r;
    printf("filled %ld, then %s\n", total, errname(errno));
    CHECK("atomic write that does not fit", write(p[1], big, 4000));
    struct pollfd pf[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
    CHECK("poll full pipe", poll(pf, 2, 0));
    printf("revents %#x %#x\n", pf[0].revents, pf[1].revents);
    while (read(p[0], big, sizeof big) > 0 && (ioctl(p[0], FIONREAD, &n), n > 0)) {
    }
    CHECK("close write end", close(p[1]));
    CHECK("read at EOF", read(p[0], b, 1));
    pf[0].revents = 0;
    CHECK("poll read end at EOF", poll(pf, 1, 0));
    printf("revents %#x\n", pf[0].revents);
    close(p[0]);
    CHECK("pipe2 O_CLOEXEC|O_NONBLOCK", pipe2(p, O_CLOEXEC | O_NONBLOCK));
    CHECK("cloexec", fcntl(p[0], F_GETFD));
    CHECK("nonblock", (fcntl(p[1], F_GETFL) & O_NONBLOCK) != 0);
    CHECK("empty nonblocking read", read(p[0], b, 1));
    CHECK("close read end", close(p[0]));
    CHECK("write with no reader", write(p[1], "x", 1));
    close(p[1]);
    CHECK("pipe2 bad flags", pipe2(p, 0x40));
    CHECK("pipe bad pointer", pipe((int *)0x10));

    char path[64];
    snprintf(path, sizeof path, "/tmp/rvisor-fifo-%d", getpid());
    CHECK("mkfifo", mkfifo(path, 0600));
    CHECK("open write-only nonblocking, no reader", open(path, O_WRONLY | O_NONBLOCK));
    int rd = open(path, O_RDONLY | O_NONBLOCK);
    CHECK("open read nonblocking", rd >= 0);
    CHECK("read, no writer yet", read(rd, b, 1));
    int wr = open(path, O_WRONLY | O_NONBLOCK);
    CHECK("open write with a reader", wr >= 0);
    CHECK("fifo write", write(wr, "via fifo", 8));
    memset(b, 0, sizeof b);
    CHECK("fifo read", read(rd, b, sizeof b));
    printf("got %s\n", b);
    close(wr);
    CHECK("fifo EOF", read(rd, b, 1));
    close(rd);
    int both = open(path, O_RDWR);
    CHECK("fifo O_RDWR", both >= 0);
    CHECK("write and read back", write(both, "x", 1) == 1 && read(both, b, 1) == 1);
    close(both);
    unlink(path);
    return 0;
}
