// The memory devices under /dev and the /dev links.
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void show(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) {
        printf("%s: -1 %s\n", path, errname(errno));
        return;
    }
    printf("%s: chr=%d mode %o rdev %u:%u\n", path, S_ISCHR(st.st_mode), st.st_mode & 07777, major(st.st_rdev),
           minor(st.st_rdev));
}

int main(void) {
    const char *devs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};
    for (int i = 0; i < 5; i++) show(devs[i]);
    char b[64];
    int fd = open("/dev/null", O_RDWR);
    CHECK("read /dev/null", read(fd, b, sizeof b));
    CHECK("write /dev/null", write(fd, "abc", 3));
    CHECK("lseek /dev/null", lseek(fd, 100, SEEK_SET));
    CHECK("pread /dev/null", pread(fd, b, 4, 10));
    close(fd);
    fd = open("/dev/zero", O_RDONLY);
    memset(b, 1, sizeof b);
    CHECK("read /dev/zero", read(fd, b, sizeof b));
    int z = 1;
    for (int i = 0; i < 64; i++) z &= b[i] == 0;
    printf("zeroes = %d\n", z);
    CHECK("write /dev/zero (O_RDONLY)", write(fd, "x", 1));
    close(fd);
    fd = open("/dev/full", O_RDWR);
    CHECK("write /dev/full", write(fd, "x", 1));
    CHECK("read /dev/full", read(fd, b, 8));
    close(fd);
    fd = open("/dev/urandom", O_RDONLY);
    unsigned char r[256] = {0};
    CHECK("read /dev/urandom", read(fd, r, sizeof r));
    int nz = 0;
    for (int i = 0; i < 256; i++) nz += r[i] != 0;
    printf("random bytes = %d\n", nz > 200);
    close(fd);
    CHECK("open /dev/nonexistent", open("/dev/nonexistent", O_RDONLY));
    char t[64] = {0};
    CHECK("readlink /dev/fd", readlink("/dev/fd", t, sizeof t));
    printf("/dev/fd -> %s\n", t);
    memset(t, 0, sizeof t);
    CHECK("readlink /dev/stderr", readlink("/dev/stderr", t, sizeof t));
    printf("/dev/stderr -> %s\n", t);
    struct stat st;
    CHECK("stat /dev is dir", stat("/dev", &st) == 0 && S_ISDIR(st.st_mode));
    CHECK("stat /dev/shm sticky", stat("/dev/shm", &st) == 0 && (st.st_mode & 01777) == 01777);
    CHECK("stat /tmp sticky", stat("/tmp", &st) == 0 && (st.st_mode & 01777) == 01777);
    return 0;
}
