// renameat2 RENAME_EXCHANGE on tmpfs: files, a file with a directory, across
// directories (link counts), and the error paths.
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

static void show(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) {
        printf("%s: %s\n", path, errname(errno));
        return;
    }
    char b[32] = {0};
    if (S_ISREG(st.st_mode)) {
        int fd = open(path, O_RDONLY);
        read(fd, b, sizeof b - 1);
        close(fd);
    }
    printf("%s: %s nlink %lu [%s]\n", path, S_ISDIR(st.st_mode) ? "dir" : "file", (unsigned long)st.st_nlink, b);
}

static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(fd, text, strlen(text));
    close(fd);
}

int main(void) {
    CHECK("mkdir", mkdir("/dev/shm/xch", 0755));
    CHECK("chdir", chdir("/dev/shm/xch"));
    put("a", "A");
    put("b", "B");
    mkdir("d1", 0755);
    mkdir("d2", 0755);
    mkdir("d1/sub", 0755);
    put("d2/c", "C");
    CHECK("exchange files", renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE));
    show("a");
    show("b");
    CHECK("exchange a file with a directory", renameat2(AT_FDCWD, "a", AT_FDCWD, "d1/sub", RENAME_EXCHANGE));
    show("a");
    show("d1/sub");
    show("d1");
    show(".");
    CHECK("exchange across directories", renameat2(AT_FDCWD, "d1/sub", AT_FDCWD, "d2/c", RENAME_EXCHANGE));
    show("d1/sub");
    show("d2/c");
    CHECK("exchange with itself", renameat2(AT_FDCWD, "b", AT_FDCWD, "b", RENAME_EXCHANGE));
    CHECK("missing source", renameat2(AT_FDCWD, "nope", AT_FDCWD, "b", RENAME_EXCHANGE));
    CHECK("missing target", renameat2(AT_FDCWD, "b", AT_FDCWD, "nope", RENAME_EXCHANGE));
    CHECK("a directory into itself", renameat2(AT_FDCWD, "d2", AT_FDCWD, "a/x", RENAME_EXCHANGE));
    mkdir("a/inner", 0755);
    CHECK("a directory with its child", renameat2(AT_FDCWD, "a", AT_FDCWD, "a/inner", RENAME_EXCHANGE));
    CHECK("a child with its directory", renameat2(AT_FDCWD, "a/inner", AT_FDCWD, "a", RENAME_EXCHANGE));
    CHECK("EXCHANGE|NOREPLACE", renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE | RENAME_NOREPLACE));
    CHECK("EXCHANGE|WHITEOUT", renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE | RENAME_WHITEOUT));
    CHECK("unknown flag", renameat2(AT_FDCWD, "a", AT_FDCWD, "b", 8));
    CHECK("dot", renameat2(AT_FDCWD, ".", AT_FDCWD, "b", RENAME_EXCHANGE));
    CHECK("trailing slash on a file", renameat2(AT_FDCWD, "b/", AT_FDCWD, "a", RENAME_EXCHANGE));
    CHECK("across mounts", renameat2(AT_FDCWD, "b", AT_FDCWD, "/proc/self", RENAME_EXCHANGE));
    unlink("d2/c/a"); unlink("b"); rmdir("a/inner"); rmdir("a"); rmdir("d1/sub"); unlink("d2/c"); rmdir("d2");
    unlink("d1/sub"); rmdir("d1"); chdir("/"); rmdir("/dev/shm/xch");
    return 0;
}
