// O_TMPFILE: unnamed files, their mode and links, naming one with linkat
// (AT_EMPTY_PATH and through /proc/self/fd), O_EXCL, and the error paths.
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>

static void show_dir(const char *dir) {
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    printf("%s has %d entries\n", dir, n);
}

int main(void) {
    const char *dir = "/dev/shm/tmpfile-test";
    mkdir(dir, 0755);
    umask(022);
    int fd = open(dir, O_TMPFILE | O_RDWR, 0666);
    CHECK("O_TMPFILE", fd >= 0);
    struct stat st;
    CHECK("fstat", fstat(fd, &st));
    printf("mode %o nlink %lu size %lld\n", st.st_mode, (unsigned long)st.st_nlink, (long long)st.st_size);
    CHECK("write", write(fd, "temporary", 9));
    CHECK("pread", pread(fd, (char[16]){0}, 16, 0));
    show_dir(dir);
    CHECK("F_GETFL", fcntl(fd, F_GETFL) & ~0100000);
    char name[256];
    snprintf(name, sizeof name, "%s/named", dir);
    CHECK("linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH));
    CHECK("fstat", fstat(fd, &st));
    printf("nlink after link %lu\n", (unsigned long)st.st_nlink);
    show_dir(dir);
    CHECK("stat named", stat(name, &st));
    printf("named size %lld\n", (long long)st.st_size);

    int fd2 = open(dir, O_TMPFILE | O_WRONLY, 0600);
    CHECK("second", fd2 >= 0);
    char proc[64], name2[256];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd2);
    snprintf(name2, sizeof name2, "%s/via-proc", dir);
    CHECK("linkat through /proc", linkat(AT_FDCWD, proc, AT_FDCWD, name2, AT_SYMLINK_FOLLOW));
    show_dir(dir);

    int ex = open(dir, O_TMPFILE | O_RDWR | O_EXCL, 0600);
    CHECK("O_EXCL", ex >= 0);
    snprintf(name2, sizeof name2, "%s/excl", dir);
    CHECK("linkat an O_EXCL one", linkat(ex, "", AT_FDCWD, name2, AT_EMPTY_PATH));
    // An ordinary file that was unlinked cannot be linked again either.
    snprintf(name2, sizeof name2, "%s/plain", dir);
    int pl = open(name2, O_RDWR | O_CREAT, 0600);
    unlink(name2);
    CHECK("linkat an unlinked file", linkat(pl, "", AT_FDCWD, name2, AT_EMPTY_PATH));

    CHECK("read-only", open(dir, O_TMPFILE | O_RDONLY, 0600));
    CHECK("with O_CREAT", open(dir, O_TMPFILE | O_RDWR | O_CREAT, 0600));
    CHECK("without O_DIRECTORY", open(dir, (O_TMPFILE & ~O_DIRECTORY) | O_RDWR, 0600));
    CHECK("on a file", open(name, O_TMPFILE | O_RDWR, 0600));
    CHECK("missing directory", open("/dev/shm/no-such-dir", O_TMPFILE | O_RDWR, 0600));
    CHECK("in /proc", open("/proc", O_TMPFILE | O_RDWR, 0600));
    CHECK("O_PATH with O_TMPFILE", open(dir, O_PATH | O_TMPFILE | O_RDWR, 0600) >= 0);
    int t = open("/tmp", O_TMPFILE | O_RDWR, 0600);
    CHECK("in /tmp", t >= 0);
    unlink(name);
    snprintf(name2, sizeof name2, "%s/via-proc", dir);
    unlink(name2);
    CHECK("rmdir", rmdir(dir));
    return 0;
}
