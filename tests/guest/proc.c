// The minimal /proc: self, exe, cwd, root, fd/ and maps.
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

static char buf[4096];

static long rl(const char *path) {
    memset(buf, 0, sizeof buf);
    return readlink(path, buf, sizeof buf - 1);
}

int main(int argc, char **argv) {
    char want[32];
    snprintf(want, sizeof want, "%d", getpid());
    CHECK("readlink /proc/self ok", rl("/proc/self") > 0);
    printf("self is getpid = %d\n", strcmp(buf, want) == 0);
    rl("/proc/self/exe");
    printf("exe is argv[0] = %d\n", strcmp(buf, argv[0]) == 0);
    CHECK("chdir /tmp", chdir("/tmp"));
    rl("/proc/self/cwd");
    printf("cwd -> %s\n", buf);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/rvisor-proc-%d", getpid());
    mkdir(dir, 0700);
    chdir(dir);
    int fd = open("f", O_CREAT | O_RDWR, 0600);
    write(fd, "data", 4);
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    rl(fdpath);
    printf("fd link is the file = %d\n", strncmp(buf, dir, strlen(dir)) == 0 && strcmp(buf + strlen(dir), "/f") == 0);
    struct stat st;
    CHECK("stat through fd link", stat(fdpath, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4);
    CHECK("lstat of fd link is a link", lstat(fdpath, &st) == 0 && S_ISLNK(st.st_mode));
    int again = open(fdpath, O_RDONLY);
    memset(buf, 0, 8);
    CHECK("reopen through fd link and read", again >= 0 && read(again, buf, 4) == 4 && memcmp(buf, "data", 4) == 0);
    CHECK("open via /proc/self/cwd", ({ int f = open("/proc/self/cwd/f", O_RDONLY); if (f >= 0) close(f); f >= 0; }));
    int mf = open("/proc/self/maps", O_RDONLY);
    CHECK("read maps", read(mf, buf, 10));
    CHECK("lseek maps SEEK_END", lseek(mf, 0, SEEK_END));
    CHECK("lseek maps SEEK_CUR huge", lseek(mf, 0x7fffffffffffffffLL, SEEK_CUR));
    CHECK("lseek maps SEEK_SET", lseek(mf, 5, SEEK_SET));
    CHECK("lseek maps SEEK_CUR back past 0", lseek(mf, -6, SEEK_CUR));
    CHECK("lseek maps SEEK_DATA", lseek(mf, 0, SEEK_DATA));
    close(mf);
    rl("/proc/self/root");
    printf("root -> %s\n", buf);
    CHECK("lstat of root is a link", lstat("/proc/self/root", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK("stat through root is /", ({ struct stat a, b; stat("/proc/self/root", &a) == 0 && stat("/", &b) == 0 &&
                                       a.st_ino == b.st_ino && a.st_dev == b.st_dev; }));
    CHECK("root/.. is still /", ({ struct stat a, b; stat("/proc/self/root/..", &a) == 0 && stat("/", &b) == 0 &&
                                   a.st_ino == b.st_ino; }));
    rl("/proc/self/fd/1");
    printf("stdout link is a pipe = %d\n", strncmp(buf, "pipe:[", 6) == 0);
    CHECK("stat through stdout link is a fifo", stat("/proc/self/fd/1", &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK("readlink missing fd", rl("/proc/self/fd/99"));
    CHECK("stat missing pid", stat("/proc/999999", &st));
    CHECK("stat /proc/self/nosuch", stat("/proc/self/nosuch", &st));
    CHECK("stat /proc/self is dir", stat("/proc/self", &st) == 0 && S_ISDIR(st.st_mode));
    DIR *d = opendir("/proc/self/fd");
    int n = 0, saw = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
        saw += atoi(e->d_name) == fd;
    }
    closedir(d);
    // 0, 1, 2, fd, again, and the listing's own fd.
    printf("fd entries = %d, saw fd = %d\n", n, saw);
    free(malloc(100000));
    (void)malloc(100);
    int m = open("/proc/self/maps", O_RDONLY);
    static char maps[65536];
    long len = 0, r;
    while ((r = read(m, maps + len, sizeof maps - 1 - len)) > 0) len += r;
    close(m);
    int stack = 0, heap = 0, image = 0, lines = 0, good = 1;
    for (char *line = strtok(maps, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        stack += strstr(line, "[stack]") != NULL;
        heap += strstr(line, "[heap]") != NULL;
        image += strstr(line, argv[0]) != NULL;
        char perms[8];
        unsigned long a, b;
        good &= sscanf(line, "%lx-%lx %7s", &a, &b, perms) == 3 && a < b && strlen(perms) == 4;
    }
    printf("maps: well formed = %d, one [stack] = %d, [heap] = %d, image lines > 0 = %d\n", good && lines > 3, stack == 1,
           heap == 1, image > 0);
    unlink("f");
    chdir("/");
    rmdir(dir);
    return 0;
}
