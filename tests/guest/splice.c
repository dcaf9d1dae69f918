// splice, tee, copy_file_range and sendfile between files and pipes: data,
// offsets and positions, end of file, and the error paths.
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

static void show_file(const char *what, const char *path) {
    char b[128] = {0};
    int fd = open(path, O_RDONLY);
    long n = read(fd, b, sizeof b - 1);
    close(fd);
    printf("%s: %ld [%s]\n", what, n, b);
}

static void show_pipe(const char *what, int rfd) {
    char b[128] = {0};
    int fl = fcntl(rfd, F_GETFL);
    fcntl(rfd, F_SETFL, fl | O_NONBLOCK);
    long n = read(rfd, b, sizeof b - 1);
    fcntl(rfd, F_SETFL, fl);
    printf("%s: %ld [%s]\n", what, n, n > 0 ? b : "");
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const char *a = "/tmp/splice-a", *b = "/tmp/splice-b";
    int fa = open(a, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK("write a", write(fa, "0123456789abcdefghij", 20));
    int fb = open(b, O_RDWR | O_CREAT | O_TRUNC, 0644);

    // copy_file_range
    loff_t oi = 2, oo = 0;
    CHECK("cfr with offsets", copy_file_range(fa, &oi, fb, &oo, 5, 0));
    printf("offsets %lld %lld pos a %ld pos b %ld\n", (long long)oi, (long long)oo, lseek(fa, 0, SEEK_CUR), lseek(fb, 0, SEEK_CUR));
    CHECK("lseek a", lseek(fa, 15, SEEK_SET));
    CHECK("cfr at positions past eof", copy_file_range(fa, NULL, fb, NULL, 100, 0));
    printf("pos a %ld pos b %ld\n", lseek(fa, 0, SEEK_CUR), lseek(fb, 0, SEEK_CUR));
    show_file("b", b);
    CHECK("cfr at eof", copy_file_range(fa, NULL, fb, NULL, 100, 0));
    oi = 100;
    CHECK("cfr offset past eof", copy_file_range(fa, &oi, fb, NULL, 10, 0));
    CHECK("cfr len 0", copy_file_range(fa, NULL, fb, NULL, 0, 0));
    oi = 0; oo = 4;
    CHECK("cfr same file overlapping", copy_file_range(fa, &oi, fa, &oo, 8, 0));
    oi = 0; oo = 10;
    CHECK("cfr same file apart", copy_file_range(fa, &oi, fa, &oo, 5, 0));
    show_file("a", a);
    CHECK("cfr flags", copy_file_range(fa, NULL, fb, NULL, 5, 1));
    CHECK("cfr bad fd", copy_file_range(99, NULL, fb, NULL, 5, 0));
    CHECK("cfr bad out fd", copy_file_range(fa, NULL, 99, NULL, 5, 0));
    CHECK("cfr bad offset pointer", copy_file_range(fa, (loff_t *)8, fb, NULL, 5, 0));
    oi = -1;
    CHECK("cfr negative offset", copy_file_range(fa, &oi, fb, NULL, 5, 0));
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    CHECK("cfr from a directory", copy_file_range(dir, NULL, fb, NULL, 5, 0));
    int ro = open(b, O_RDONLY);
    CHECK("cfr to a read-only fd", copy_file_range(fa, NULL, ro, NULL, 5, 0));
    int ap = open(b, O_WRONLY | O_APPEND);
    CHECK("cfr to O_APPEND", copy_file_range(fa, NULL, ap, NULL, 5, 0));
    int wo = open(a, O_WRONLY);
    CHECK("cfr from a write-only fd", copy_file_range(wo, NULL, fb, NULL, 5, 0));
    int p[2], q[2];
    CHECK("pipe", pipe(p));
    CHECK("pipe", pipe(q));
    CHECK("cfr into a pipe", copy_file_range(fa, NULL, p[1], NULL, 5, 0));

    // splice
    loff_t off = 3;
    CHECK("splice file to pipe", splice(fa, &off, p[1], NULL, 6, 0));
    printf("off %lld pos a %ld\n", (long long)off, lseek(fa, 0, SEEK_CUR));
    CHECK("splice pipe to pipe", splice(p[0], NULL, q[1], NULL, 4, 0));
    show_pipe("p", p[0]);
    CHECK("splice pipe to file", splice(q[0], NULL, fb, NULL, 100, 0));
    printf("pos b %ld\n", lseek(fb, 0, SEEK_CUR));
    show_file("b", b);
    CHECK("splice empty pipe SPLICE_F_NONBLOCK", splice(p[0], NULL, fb, NULL, 10, SPLICE_F_NONBLOCK));
    CHECK("splice len 0", splice(99, NULL, 98, NULL, 0, 0));
    CHECK("splice bad flags", splice(fa, NULL, p[1], NULL, 5, 0x100));
    CHECK("splice bad fd", splice(99, NULL, p[1], NULL, 5, 0));
    CHECK("splice file to file", splice(fa, NULL, fb, NULL, 5, 0));
    off = 0;
    CHECK("splice offset on a pipe", splice(p[0], &off, fb, NULL, 5, 0));
    CHECK("splice same pipe", splice(p[0], NULL, p[1], NULL, 5, 0));
    CHECK("splice from write end", splice(p[1], NULL, fb, NULL, 5, 0));
    CHECK("write p", write(p[1], "xyz", 3));
    CHECK("splice to O_APPEND", splice(p[0], NULL, ap, NULL, 5, 0));
    CHECK("splice to a directory", splice(p[0], NULL, dir, NULL, 5, 0));
    CHECK("splice from a directory", splice(dir, NULL, p[1], NULL, 5, 0));
    CHECK("splice bad offset pointer", splice(fa, (loff_t *)8, p[1], NULL, 5, 0));
    off = -5;
    CHECK("splice negative offset", splice(fa, &off, p[1], NULL, 5, 0));
    // A full pipe: nonblocking splice into it is EAGAIN.
    CHECK("O_NONBLOCK", fcntl(q[1], F_SETFL, O_NONBLOCK));
    static char big[1 << 16];
    while (write(q[1], big, sizeof big) > 0) {}
    CHECK("splice into a full pipe", splice(fa, NULL, q[1], NULL, 5, 0));
    CHECK("tee into a full pipe", tee(p[0], q[1], 5, 0));
    close(q[0]);
    CHECK("splice with no reader", splice(fa, NULL, q[1], NULL, 5, 0));
    close(q[1]);
    CHECK("pipe", pipe(q));

    // tee
    CHECK("tee", tee(p[0], q[1], 2, 0));
    show_pipe("q", q[0]);
    show_pipe("p still", p[0]);
    CHECK("tee empty SPLICE_F_NONBLOCK", tee(p[0], q[1], 5, SPLICE_F_NONBLOCK));
    CHECK("tee same pipe", tee(p[0], p[1], 5, 0));
    CHECK("tee from a file", tee(fa, q[1], 5, 0));
    CHECK("tee bad flags", tee(p[0], q[1], 5, 0x40));
    CHECK("tee len 0", tee(p[0], q[1], 0, 0));
    CHECK("tee bad fd", tee(99, q[1], 5, 0));
    close(p[1]);
    CHECK("tee at eof", tee(p[0], q[1], 5, 0));
    CHECK("splice at eof", splice(p[0], NULL, fb, NULL, 5, 0));

    // sendfile
    off = 10;
    CHECK("sendfile with offset", sendfile(q[1], fa, &off, 4));
    printf("off %lld\n", (long long)off);
    show_pipe("q", q[0]);
    CHECK("sendfile from a pipe", sendfile(fb, q[0], NULL, 4));
    CHECK("sendfile bad offset pointer", sendfile(q[1], fa, (off_t *)8, 4));
    unlink(a);
    unlink(b);
    return 0;
}
