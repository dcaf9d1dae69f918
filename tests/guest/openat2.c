// openat2: struct sizes, strict flag checks, and the RESOLVE_* scopes
// (BENEATH, IN_ROOT, NO_SYMLINKS, NO_MAGICLINKS, NO_XDEV) with the escapes
// they must stop.
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static long o2(int dirfd, const char *path, unsigned long long flags, unsigned long long mode,
               unsigned long long resolve) {
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

// Opens and prints the first line of the file, or the error.
static void try_read(const char *what, int dirfd, const char *path, unsigned long long resolve) {
    long fd = o2(dirfd, path, O_RDONLY, 0, resolve);
    if (fd < 0) {
        printf("%s: %s\n", what, errname(errno));
        return;
    }
    char b[64] = {0};
    long n = read(fd, b, sizeof b - 1);
    char *nl = strchr(b, '\n');
    if (nl) *nl = 0;
    printf("%s: read %ld [%s]\n", what, n, b);
    close(fd);
}

static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(fd, text, strlen(text));
    close(fd);
}

int main(void) {
    mkdir("/tmp/o2", 0755);
    mkdir("/tmp/o2/a", 0755);
    mkdir("/tmp/o2/a/b", 0755);
    mkdir("/tmp/o2/etc", 0755);
    put("/tmp/o2/a/b/file", "inside\n");
    put("/tmp/o2/etc/passwd", "jailed\n");
    symlink("/etc", "/tmp/o2/a/abs");
    symlink("b/file", "/tmp/o2/a/rel");
    symlink("../..", "/tmp/o2/a/up");
    int d = open("/tmp/o2", O_RDONLY | O_DIRECTORY);
    CHECK("open dir", d >= 0);

    try_read("plain", d, "a/b/file", 0);
    try_read("beneath inside", d, "a/b/file", RESOLVE_BENEATH);
    try_read("beneath down and up", d, "a/../a/b/../b/file", RESOLVE_BENEATH);
    try_read("beneath relative symlink", d, "a/rel", RESOLVE_BENEATH);
    try_read("beneath dotdot out", d, "../o2/a/b/file", RESOLVE_BENEATH);
    try_read("beneath absolute", d, "/etc/passwd", RESOLVE_BENEATH);
    try_read("beneath absolute with bad dirfd", 99, "/etc/passwd", RESOLVE_BENEATH);
    try_read("beneath absolute symlink", d, "a/abs/passwd", RESOLVE_BENEATH);
    try_read("beneath symlink up", d, "a/up/etc/passwd", RESOLVE_BENEATH);
    try_read("beneath magic link", d, "/proc/self/cwd", RESOLVE_BENEATH);
    try_read("in root absolute", d, "/etc/passwd", RESOLVE_IN_ROOT);
    try_read("in root dotdot", d, "../../../etc/passwd", RESOLVE_IN_ROOT);
    try_read("in root absolute symlink", d, "a/abs/passwd", RESOLVE_IN_ROOT);
    try_read("in root symlink up", d, "a/up/up/etc/passwd", RESOLVE_IN_ROOT);
    try_read("in root relative", d, "a/rel", RESOLVE_IN_ROOT);
    try_read("no symlinks", d, "a/rel", RESOLVE_NO_SYMLINKS);
    try_read("no symlinks, plain path", d, "a/b/file", RESOLVE_NO_SYMLINKS);
    CHECK("no symlinks, O_PATH|O_NOFOLLOW on the link",
          o2(d, "a/rel", O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS) >= 0);
    CHECK("no symlinks, /proc/self", o2(AT_FDCWD, "/proc/self/maps", O_RDONLY, 0, RESOLVE_NO_SYMLINKS));
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", d);
    CHECK("no magic links, fd link", o2(AT_FDCWD, fdpath, O_RDONLY, 0, RESOLVE_NO_MAGICLINKS));
    CHECK("no magic links, plain /proc/self", o2(AT_FDCWD, "/proc/self/maps", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS) >= 0);
    CHECK("no magic links, O_PATH|O_NOFOLLOW", o2(AT_FDCWD, fdpath, O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_MAGICLINKS) >= 0);
    CHECK("magic link followed", o2(AT_FDCWD, fdpath, O_RDONLY, 0, 0) >= 0);
    CHECK("no xdev, into /dev", o2(AT_FDCWD, "/dev/null", O_RDONLY, 0, RESOLVE_NO_XDEV));
    int root = open("/", O_RDONLY | O_DIRECTORY);
    CHECK("no xdev, into a mount", o2(root, "dev", O_RDONLY, 0, RESOLVE_NO_XDEV));
    CHECK("no xdev, same filesystem", o2(root, "etc", O_RDONLY, 0, RESOLVE_NO_XDEV) >= 0);
    int shm = open("/dev/shm", O_RDONLY | O_DIRECTORY);
    CHECK("no xdev, out of a mount", o2(shm, "..", O_RDONLY, 0, RESOLVE_NO_XDEV));
    CHECK("no xdev, within a mount", o2(shm, ".", O_RDONLY, 0, RESOLVE_NO_XDEV) >= 0);
    CHECK("no xdev, magic link across mounts", o2(shm, fdpath, O_RDONLY, 0, RESOLVE_NO_XDEV));
    symlink("/etc", "/dev/shm/o2-abs");
    CHECK("no xdev, absolute symlink from another mount", o2(shm, "o2-abs", O_RDONLY, 0, RESOLVE_NO_XDEV));
    CHECK("no xdev, absolute path from another mount", o2(shm, "/etc", O_RDONLY, 0, RESOLVE_NO_XDEV) >= 0);
    unlink("/dev/shm/o2-abs");

    // The struct and flag checks.
    struct { struct open_how how; unsigned long long extra; } big = {{O_RDONLY, 0, 0}, 0};
    CHECK("size 0", syscall(SYS_openat2, d, "a", &big, 0));
    CHECK("size 23", syscall(SYS_openat2, d, "a", &big, 23));
    CHECK("size 32, zeros after", syscall(SYS_openat2, d, "a", &big, 32) >= 0);
    big.extra = 1;
    CHECK("size 32, not zeros after", syscall(SYS_openat2, d, "a", &big, 32));
    CHECK("size 4097", syscall(SYS_openat2, d, "a", &big, 4097));
    CHECK("bad how pointer", syscall(SYS_openat2, d, "a", (void *)8, 24));
    CHECK("unknown flag", o2(d, "a", 1ULL << 40, 0, 0));
    CHECK("unknown low flag", o2(d, "a", 0x4000000, 0, 0));
    CHECK("mode without O_CREAT", o2(d, "a", O_RDONLY, 0644, 0));
    CHECK("mode with file type", o2(d, "new", O_CREAT | O_WRONLY, S_IFREG | 0644, 0));
    CHECK("create", o2(d, "new", O_CREAT | O_WRONLY, 0640, 0) >= 0);
    CHECK("unknown resolve flag", o2(d, "a", O_RDONLY, 0, 0x40));
    CHECK("beneath and in root", o2(d, "a", O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT));
    CHECK("O_PATH with O_RDWR", o2(d, "a/b/file", O_PATH | O_RDWR, 0, 0));
    CHECK("O_PATH with O_CLOEXEC", o2(d, "a/b/file", O_PATH | O_CLOEXEC, 0, 0) >= 0);
    CHECK("O_DIRECTORY|O_CREAT", o2(d, "x", O_DIRECTORY | O_CREAT | O_RDWR, 0600, 0));
    CHECK("openat O_DIRECTORY|O_CREAT", openat(d, "x", O_DIRECTORY | O_CREAT | O_RDWR, 0600));
    CHECK("cached with O_CREAT", o2(d, "x", O_CREAT | O_RDWR, 0600, RESOLVE_CACHED));
    CHECK("cached with O_TRUNC", o2(d, "new", O_TRUNC | O_RDWR, 0, RESOLVE_CACHED));
    CHECK("cached plain", o2(d, "a/b/file", O_RDONLY, 0, RESOLVE_CACHED) >= 0);
    CHECK("O_TMPFILE read-only", o2(d, ".", O_TMPFILE | O_RDONLY, 0600, 0));
    long fd = o2(d, "a/b/file", O_RDONLY, 0, 0);
    CHECK("F_GETFL has O_LARGEFILE", fcntl(fd, F_GETFL) & 0100000);
    CHECK("bad dirfd", o2(99, "a", O_RDONLY, 0, 0));
    CHECK("empty path", o2(d, "", O_RDONLY, 0, 0));
    CHECK("bad path pointer", syscall(SYS_openat2, d, (void *)8, &big.how, 24));
    const char *files[] = {"new", "a/b/file", "etc/passwd", "a/abs", "a/rel", "a/up"};
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++) unlinkat(d, files[i], 0);
    const char *dirs[] = {"a/b", "a", "etc"};
    for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++) unlinkat(d, dirs[i], AT_REMOVEDIR);
    rmdir("/tmp/o2");
    return 0;
}
