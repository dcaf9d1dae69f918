// fallocate on tmpfs: allocation with and without KEEP_SIZE, hole punching,
// SEEK_DATA/SEEK_HOLE afterwards, st_blocks, and the error paths.
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

static void show(const char *what, int fd) {
    struct stat st;
    fstat(fd, &st);
    printf("%s: size %lld blocks %lld\n", what, (long long)st.st_size, (long long)st.st_blocks);
}

int main(void) {
    const char *path = "/dev/shm/falloc"; // tmpfs, natively too
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK("open", fd >= 0);
    CHECK("allocate 10000", fallocate(fd, 0, 0, 10000));
    show("after allocate", fd);
    CHECK("allocate keep size", fallocate(fd, FALLOC_FL_KEEP_SIZE, 10000, 20000));
    show("after keep size", fd);
    CHECK("allocate inside", fallocate(fd, 0, 100, 100));
    show("inside", fd);
    static char buf[3 * 4096];
    memset(buf, 'x', sizeof buf);
    CHECK("pwrite", pwrite(fd, buf, sizeof buf, 0));
    CHECK("punch middle", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 8192));
    show("after punch", fd);
    char b[16];
    CHECK("pread 99", pread(fd, b, 3, 98));
    printf("bytes %d %d %d\n", b[0], b[1], b[2]);
    CHECK("pread 8292", pread(fd, b, 2, 8291));
    printf("bytes %d %d\n", b[0], b[1]);
    CHECK("SEEK_HOLE", lseek(fd, 0, SEEK_HOLE));
    CHECK("SEEK_DATA 4096", lseek(fd, 4096, SEEK_DATA));
    CHECK("punch whole file", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1 << 20));
    show("all punched", fd);
    CHECK("punch without KEEP_SIZE", fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 10));
    CHECK("zero range", fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 10));
    CHECK("punch and zero", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 10));
    CHECK("collapse", fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096));
    CHECK("collapse with keep", fallocate(fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096));
    CHECK("insert with keep", fallocate(fd, FALLOC_FL_INSERT_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096));
    CHECK("unshare with punch", fallocate(fd, FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_PUNCH_HOLE, 0, 4096));
    CHECK("unshare", fallocate(fd, FALLOC_FL_UNSHARE_RANGE, 0, 4096));
    CHECK("insert", fallocate(fd, FALLOC_FL_INSERT_RANGE, 0, 4096));
    CHECK("no hide stale", fallocate(fd, 4 | FALLOC_FL_KEEP_SIZE, 0, 4096));
    CHECK("bad mode", fallocate(fd, 0x100, 0, 10));
    CHECK("len 0", fallocate(fd, 0, 0, 0));
    CHECK("negative len", fallocate(fd, 0, 0, -1));
    CHECK("negative offset", fallocate(fd, 0, -1, 10));
    CHECK("overflow", fallocate(fd, 0, 0x7fffffffffffffffLL, 10));
    CHECK("bad fd", fallocate(99, 0, 0, 10));
    int ro = open(path, O_RDONLY);
    CHECK("read-only fd", fallocate(ro, 0, 0, 10));
    int op = open(path, O_PATH);
    CHECK("O_PATH fd", fallocate(op, 0, 0, 10));
    CHECK("ftruncate O_PATH fd", ftruncate(op, 0));
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    CHECK("directory", fallocate(dir, 0, 0, 10));
    int p[2];
    CHECK("pipe", pipe(p));
    CHECK("pipe write end", fallocate(p[1], 0, 0, 10));
    int null = open("/dev/null", O_WRONLY);
    CHECK("/dev/null", fallocate(null, 0, 0, 10));
    int ap = open(path, O_WRONLY | O_APPEND);
    CHECK("O_APPEND", fallocate(ap, 0, 0, 10));
    // A sparse file of 2^62 bytes, data at both ends: SEEK_DATA and
    // SEEK_HOLE answer at once (a page-by-page walk would never end).
    int sp = open("/dev/shm/falloc-sparse", O_RDWR | O_CREAT | O_TRUNC, 0600);
    long long big = 1LL << 62;
    CHECK("ftruncate 2^62", ftruncate(sp, big));
    CHECK("pwrite at 0", pwrite(sp, "x", 1, 0));
    CHECK("pwrite at 8192", pwrite(sp, "x", 1, 8192));
    CHECK("pwrite at the end", pwrite(sp, "y", 1, big - 1));
    CHECK("SEEK_HOLE 0", lseek(sp, 0, SEEK_HOLE));
    CHECK("SEEK_DATA 4096", lseek(sp, 4096, SEEK_DATA));
    CHECK("SEEK_DATA 12288 (to the last page)", lseek(sp, 12288, SEEK_DATA) == big - 4096);
    CHECK("SEEK_HOLE 12288", lseek(sp, 12288, SEEK_HOLE));
    CHECK("SEEK_HOLE in the last page (EOF)", lseek(sp, big - 10, SEEK_HOLE) == big);
    CHECK("SEEK_DATA in the last page", lseek(sp, big - 10, SEEK_DATA) == big - 10);
    CHECK("SEEK_DATA at EOF", lseek(sp, big, SEEK_DATA));
    CHECK("ftruncate 2^62 - 4096", ftruncate(sp, big - 4096));
    CHECK("SEEK_DATA 12288 (none left)", lseek(sp, 12288, SEEK_DATA));
    unlink("/dev/shm/falloc-sparse");
    unlink(path);
    return 0;
}
