// File operation costs: prints ns per open+close, stat, 4 KiB pread, and the
// MB/s of a sequential read of FILE. Usage: fs_ops SMALL_FILE BIG_FILE N
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *small = argv[1], *big = argv[2];
    long n = atol(argv[3]);
    double t = now();
    for (long i = 0; i < n; i++) close(open(small, O_RDONLY));
    printf("open+close %.0f\n", (now() - t) / n);
    struct stat st;
    t = now();
    for (long i = 0; i < n; i++) stat(small, &st);
    printf("stat %.0f\n", (now() - t) / n);
    int fd = open(small, O_RDONLY);
    static char buf[1 << 20];
    t = now();
    for (long i = 0; i < n; i++) pread(fd, buf, 4096, 0);
    printf("pread4k %.0f\n", (now() - t) / n);
    close(fd);
    fd = open(big, O_RDONLY);
    long total = 0, r;
    t = now();
    while ((r = read(fd, buf, sizeof buf)) > 0) total += r;
    double secs = (now() - t) / 1e9;
    printf("seqread_MBps %.0f\n", total / 1e6 / secs);
    close(fd);
    return 0;
}
