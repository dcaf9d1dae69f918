// Files and directories in a fresh directory under /tmp: open flags, I/O at
// positions, lseek, stat, names (mkdir, unlink, rmdir, rename, link, symlink),
// getdents64, the working directory, umask and their errors. Prints only what
// does not depend on the filesystem type (no inode or device numbers, no
// directory sizes, no times, listings sorted).
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/file.h>

static char base[64];

static void show_stat(const char *label, const char *path, int follow) {
    struct stat st;
    int r = follow ? stat(path, &st) : lstat(path, &st);
    if (r < 0) {
        printf("%s: -1 %s\n", label, errname(errno));
        return;
    }
    const char *kind = S_ISREG(st.st_mode) ? "reg" : S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "lnk" : "other";
    printf("%s: %s mode %o nlink %ld size %ld\n", label, kind, st.st_mode & 07777, (long)st.st_nlink,
           S_ISDIR(st.st_mode) ? -1L : (long)st.st_size);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(const char *label, const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        printf("%s: -1 %s\n", label, errname(errno));
        return;
    }
    char buf[512];
    char *names[64];
    int n = 0;
    long r;
    while ((r = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < r;) {
            struct { unsigned long ino; long off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(buf + off);
            if (n < 64) names[n++] = strdup(d->name);
            printf("");
            off += d->reclen;
        }
    }
    qsort(names, n, sizeof *names, cmp);
    printf("%s:", label);
    for (int i = 0; i < n; i++) printf(" %s", names[i]);
    printf("\n");
    close(fd);
}

int main(void) {
    umask(022);
    snprintf(base, sizeof base, "/tmp/rvisor-files-%d", getpid());
    CHECK("mkdir base", mkdir(base, 0755));
    CHECK("chdir base", chdir(base));
    char cwd[PATH_MAX];
    printf("getcwd is base = %d\n", getcwd(cwd, sizeof cwd) && strcmp(cwd, base) == 0);
    CHECK("getcwd too small", syscall(SYS_getcwd, cwd, 5));

    // Creating, writing, reading at positions.
    int fd = open("a.txt", O_CREAT | O_RDWR | O_EXCL, 0666);
    printf("open O_CREAT|O_EXCL = %d\n", fd >= 0);
    CHECK("open O_EXCL again", open("a.txt", O_CREAT | O_EXCL | O_RDWR, 0644));
    CHECK("write", write(fd, "hello world\n", 12));
    CHECK("lseek cur", lseek(fd, 0, SEEK_CUR));
    CHECK("lseek set 6", lseek(fd, 6, SEEK_SET));
    char b[64] = {0};
    CHECK("read 5", read(fd, b, 5));
    printf("read '%s'\n", b);
    CHECK("pread 0", pread(fd, b, 5, 0));
    printf("pread '%.5s'\n", b);
    CHECK("pwrite at 20", pwrite(fd, "tail", 4, 20));
    CHECK("lseek end", lseek(fd, 0, SEEK_END));
    CHECK("pread across the hole", pread(fd, b, 24, 0));
    printf("hole reads zero = %d\n", b[12] == 0 && b[19] == 0 && b[20] == 't');
    CHECK("lseek negative", lseek(fd, -100, SEEK_SET));
    CHECK("lseek bad whence", lseek(fd, 0, 7));
    CHECK("lseek SEEK_DATA past end", lseek(fd, 100, SEEK_DATA));
    CHECK("lseek past end", lseek(fd, 1000, SEEK_SET));
    CHECK("read past end", read(fd, b, 10));
    CHECK("ftruncate 5", ftruncate(fd, 5));
    CHECK("ftruncate negative", ftruncate(fd, -1));
    CHECK("fstat size after truncate", ({ struct stat st; fstat(fd, &st); st.st_size; }));
    CHECK("close", close(fd));
    show_stat("stat a.txt", "a.txt", 1);
    fd = open("a.txt", O_RDONLY);
    CHECK("write to O_RDONLY", write(fd, "x", 1));
    CHECK("ftruncate O_RDONLY", ftruncate(fd, 0));
    close(fd);
    fd = open("a.txt", O_WRONLY | O_APPEND);
    write(fd, "++", 2);
    CHECK("read from O_WRONLY", read(fd, b, 1));
    close(fd);
    fd = open("a.txt", O_RDONLY);
    memset(b, 0, sizeof b);
    CHECK("read appended", read(fd, b, sizeof b));
    printf("contents '%s'\n", b);
    close(fd);
    fd = open("a.txt", O_WRONLY | O_TRUNC);
    close(fd);
    show_stat("after O_TRUNC", "a.txt", 1);
    CHECK("creat", creat("c.txt", 0600));
    show_stat("stat c.txt (umask 022)", "c.txt", 1);
    umask(077);
    close(open("d.txt", O_CREAT | O_WRONLY, 0666));
    show_stat("stat d.txt (umask 077)", "d.txt", 1);
    umask(022);
    CHECK("umask returns old", umask(022));

    // Open errors.
    CHECK("open missing", open("missing", O_RDONLY));
    CHECK("open missing dir component", open("nodir/x", O_RDONLY));
    CHECK("open file as dir component", open("a.txt/x", O_RDONLY));
    CHECK("open O_DIRECTORY on file", open("a.txt", O_RDONLY | O_DIRECTORY));
    CHECK("open dir for writing", open(".", O_WRONLY));
    CHECK("open dir O_CREAT", open(".", O_CREAT | O_RDONLY, 0644));
    CHECK("open empty path", open("", O_RDONLY));
    CHECK("open bad pointer", syscall(SYS_open, (void *)0x10, O_RDONLY));
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = 0;
    CHECK("open name too long", open(longname, O_RDONLY));
    char *longpath = malloc(5000);
    memset(longpath, 'p', 4999);
    longpath[4999] = 0;
    CHECK("open path too long", open(longpath, O_RDONLY));
    CHECK("openat bad dirfd", openat(99, "a.txt", O_RDONLY));
    CHECK("openat file as dirfd", ({ int f = open("a.txt", O_RDONLY); long r = openat(f, "x", O_RDONLY); close(f); r; }));
    CHECK("openat absolute ignores dirfd", ({ long r = openat(99, base, O_RDONLY); if (r >= 0) close(r); r >= 0; }));

    // Directories.
    CHECK("mkdir sub", mkdir("sub", 0750));
    CHECK("mkdir again", mkdir("sub", 0750));
    CHECK("mkdir dot", mkdir(".", 0750));
    CHECK("mkdir missing parent", mkdir("no/such", 0750));
    CHECK("mkdir trailing slash", mkdir("sub2/", 0700));
    show_stat("stat sub", "sub", 1);
    show_stat("stat base nlink", ".", 1);
    close(creat("sub/inner", 0644));
    CHECK("rmdir not empty", rmdir("sub"));
    CHECK("rmdir file", rmdir("a.txt"));
    CHECK("rmdir dot", rmdir("sub/."));
    CHECK("rmdir dotdot", rmdir("sub/.."));
    CHECK("unlink dir", unlink("sub"));
    CHECK("unlink trailing slash on file", unlink("a.txt/"));
    CHECK("unlinkat bad flags", unlinkat(AT_FDCWD, "a.txt", 0x1));
    CHECK("unlink missing", unlink("missing"));
    list("listing", ".");
    list("listing sub", "sub");
    CHECK("unlink inner", unlink("sub/inner"));
    CHECK("rmdir sub2", rmdir("sub2"));
    CHECK("unlinkat AT_REMOVEDIR", unlinkat(AT_FDCWD, "sub2", AT_REMOVEDIR));

    // Symlinks.
    CHECK("symlink", symlink("a.txt", "ln"));
    CHECK("symlink exists", symlink("x", "ln"));
    CHECK("symlink empty target", symlink("", "ln2"));
    show_stat("stat through link", "ln", 1);
    show_stat("lstat link", "ln", 0);
    char t[64] = {0};
    CHECK("readlink", readlink("ln", t, sizeof t));
    printf("target '%s'\n", t);
    CHECK("readlink short buffer", readlink("ln", t, 2));
    CHECK("readlink not a link", readlink("a.txt", t, sizeof t));
    CHECK("readlink size 0", readlink("ln", t, 0));
    CHECK("open O_NOFOLLOW on link", open("ln", O_RDONLY | O_NOFOLLOW));
    CHECK("symlink dangling", symlink("nowhere", "dangle"));
    CHECK("open dangling", open("dangle", O_RDONLY));
    CHECK("symlink loop a", symlink("loopb", "loopa"));
    CHECK("symlink loop b", symlink("loopa", "loopb"));
    CHECK("open loop", open("loopa", O_RDONLY));
    CHECK("symlink to dir", symlink("sub", "sublink"));
    CHECK("chdir through link", chdir("sublink"));
    printf("cwd after link is sub = %d\n", getcwd(cwd, sizeof cwd) && strstr(cwd, "/sub") != NULL);
    CHECK("chdir ..", chdir(".."));
    CHECK("stat trailing slash on link to dir", ({ struct stat st; stat("sublink/", &st); }));
    CHECK("stat trailing slash on file", ({ struct stat st; stat("a.txt/", &st); }));
    CHECK("lstat dotdot chain", ({ struct stat st; lstat("sub/../sub/../a.txt", &st); }));

    // Rename and link.
    CHECK("rename", rename("c.txt", "e.txt"));
    CHECK("rename missing", rename("c.txt", "f.txt"));
    CHECK("rename over file", rename("d.txt", "e.txt"));
    CHECK("rename file over dir", rename("e.txt", "sub"));
    CHECK("mkdir sub3", mkdir("sub3", 0755));
    CHECK("rename dir over empty dir", rename("sub3", "sub"));
    CHECK("mkdir sub3 again", mkdir("sub3", 0755));
    close(creat("sub3/x", 0644));
    CHECK("rename dir over non-empty dir", rename("sub", "sub3"));
    CHECK("rename dir into itself", rename("sub3", "sub3/deeper"));
    CHECK("rename dir over file", rename("sub3", "e.txt"));
    CHECK("link", link("e.txt", "e2.txt"));
    show_stat("nlink after link", "e.txt", 1);
    CHECK("link exists", link("e.txt", "e2.txt"));
    CHECK("link dir", link("sub3", "sub4"));
    CHECK("unlink one link", unlink("e2.txt"));
    show_stat("nlink after unlink", "e.txt", 1);
    CHECK("truncate path", truncate("e.txt", 100));
    show_stat("after truncate", "e.txt", 1);
    CHECK("truncate dir", truncate("sub3", 0));
    CHECK("truncate missing", truncate("missing", 0));

    // access.
    CHECK("access F_OK", access("e.txt", F_OK));
    CHECK("access R_OK|W_OK", access("e.txt", R_OK | W_OK));
    CHECK("access X_OK on non-exec (root)", access("e.txt", X_OK));
    CHECK("access missing", access("missing", F_OK));
    CHECK("access bad mode", access("e.txt", 8));
    CHECK("faccessat2 bad flags", syscall(SYS_faccessat2, AT_FDCWD, "e.txt", F_OK, 0x8));

    // Modes, owners and times.
    CHECK("chmod", chmod("e.txt", 0751));
    show_stat("after chmod 751", "e.txt", 1);
    CHECK("chmod missing", chmod("missing", 0644));
    CHECK("chmod high bits dropped", chmod("e.txt", 0177777));
    show_stat("after chmod 177777", "e.txt", 1);
    CHECK("chmod setuid", chmod("e.txt", 04755));
    CHECK("chown", chown("e.txt", 1234, 5678));
    CHECK("chown clears setuid", ({ struct stat st; stat("e.txt", &st); (long)(st.st_mode & 07777); }));
    CHECK("owner after chown", ({ struct stat st; stat("e.txt", &st); (long)st.st_uid * 100000 + st.st_gid; }));
    CHECK("chown -1 -1 keeps", chown("e.txt", -1, -1));
    CHECK("lchown on link", lchown("ln", 42, 43));
    CHECK("link owner", ({ struct stat st; lstat("ln", &st); (long)st.st_uid; }));
    CHECK("target owner unchanged", ({ struct stat st; stat("ln", &st); (long)st.st_uid; }));
    CHECK("fchownat bad flags", fchownat(AT_FDCWD, "e.txt", 0, 0, 0x4));
    CHECK("chown back", chown("e.txt", 0, 0));
    struct timespec ts[2] = {{1000000000, 5}, {1234567890, 600}};
    CHECK("utimensat", utimensat(AT_FDCWD, "e.txt", ts, 0));
    CHECK("mtime", ({ struct stat st; stat("e.txt", &st); (long)st.st_mtime; }));
    CHECK("mtime nsec", ({ struct stat st; stat("e.txt", &st); (long)st.st_mtim.tv_nsec; }));
    CHECK("atime", ({ struct stat st; stat("e.txt", &st); (long)st.st_atime; }));
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_nsec = UTIME_NOW;
    CHECK("utimensat OMIT/NOW", utimensat(AT_FDCWD, "e.txt", ts, 0));
    CHECK("atime kept", ({ struct stat st; stat("e.txt", &st); (long)st.st_atime; }));
    CHECK("mtime is now", ({ struct stat st; stat("e.txt", &st); st.st_mtime > 1700000000; }));
    ts[1].tv_nsec = 2000000000;
    CHECK("utimensat bad nsec", utimensat(AT_FDCWD, "e.txt", ts, 0));
    CHECK("utimensat bad flags", utimensat(AT_FDCWD, "e.txt", NULL, 0x8));
    CHECK("utimensat missing", utimensat(AT_FDCWD, "missing", NULL, 0));
    struct timeval tv[2] = {{111, 0}, {222, 0}};
    CHECK("utimes", utimes("e.txt", tv));
    CHECK("mtime after utimes", ({ struct stat st; stat("e.txt", &st); (long)st.st_mtime; }));
    tv[0].tv_usec = 2000000;
    CHECK("utimes bad usec", utimes("e.txt", tv));
    CHECK("futimens", ({ int f = open("e.txt", O_RDONLY); long r = futimens(f, NULL); close(f); r; }));

    // File locks: POSIX (per process), OFD (per description) and flock.
    int l1 = open("e.txt", O_RDWR), l2 = open("e.txt", O_RDWR), l3 = open("e.txt", O_RDONLY);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 20};
    CHECK("F_SETLK write", fcntl(l1, F_SETLK, &fl));
    CHECK("F_SETLK again, same process", fcntl(l2, F_SETLK, &fl));
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    CHECK("F_GETLK, same process", fcntl(l2, F_GETLK, &probe));
    printf("getlk type = %d\n", probe.l_type == F_UNLCK);
    struct flock ofd = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 15, .l_len = 1};
    CHECK("F_OFD_SETLK over POSIX lock", fcntl(l2, F_OFD_SETLK, &ofd));
    struct flock oprobe = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    CHECK("F_OFD_GETLK", fcntl(l2, F_OFD_GETLK, &oprobe));
    printf("conflict: type %d start %ld len %ld pid is ours %d\n", oprobe.l_type, (long)oprobe.l_start, (long)oprobe.l_len, oprobe.l_pid == getpid());
    ofd.l_start = 40;
    CHECK("F_OFD_SETLK elsewhere", fcntl(l2, F_OFD_SETLK, &ofd));
    CHECK("F_OFD_SETLK from another description", fcntl(l3, F_OFD_SETLK, &(struct flock){.l_type = F_RDLCK, .l_start = 40, .l_len = 1}));
    CHECK("F_SETLK write on O_RDONLY fd", fcntl(l3, F_SETLK, &(struct flock){.l_type = F_WRLCK, .l_start = 100, .l_len = 1}));
    CHECK("F_SETLK bad type", fcntl(l1, F_SETLK, &(struct flock){.l_type = 9}));
    CHECK("F_SETLK bad whence", fcntl(l1, F_SETLK, &(struct flock){.l_type = F_RDLCK, .l_whence = 7}));
    CHECK("F_SETLK negative start", fcntl(l1, F_SETLK, &(struct flock){.l_type = F_RDLCK, .l_start = -5}));
    CHECK("F_OFD_SETLK with l_pid", fcntl(l1, F_OFD_SETLK, &(struct flock){.l_type = F_RDLCK, .l_pid = 1}));
    CHECK("F_GETLK with F_UNLCK", fcntl(l1, F_GETLK, &(struct flock){.l_type = F_UNLCK}));
    CHECK("F_SETLK bad pointer", fcntl(l1, F_SETLK, (void *)0x10));
    close(l3);
    ofd.l_start = 15;
    CHECK("closing any fd drops the process's POSIX locks", fcntl(l2, F_OFD_SETLK, &ofd));
    CHECK("flock LOCK_EX", flock(l1, LOCK_EX | LOCK_NB));
    CHECK("flock from another description", flock(l2, LOCK_SH | LOCK_NB));
    CHECK("flock upgrade same description", flock(l1, LOCK_SH | LOCK_NB));
    CHECK("flock bad op", flock(l1, 0x40));
    CHECK("flock bad fd", flock(99, LOCK_SH));
    CHECK("flock unlock", flock(l1, LOCK_UN));
    CHECK("fsync", fsync(l1));
    CHECK("fdatasync", fdatasync(l1));
    CHECK("fsync bad fd", fsync(99));
    CHECK("fsync pipe", fsync(1));
    CHECK("syncfs", syncfs(l1));
    close(l1);
    close(l2);

    // Extended attributes.
    CHECK("setxattr user", setxattr("e.txt", "user.color", "blue", 4, 0));
    CHECK("setxattr XATTR_CREATE existing", setxattr("e.txt", "user.color", "red", 3, XATTR_CREATE));
    CHECK("setxattr XATTR_REPLACE missing", setxattr("e.txt", "user.size", "1", 1, XATTR_REPLACE));
    CHECK("setxattr bad flags", setxattr("e.txt", "user.x", "1", 1, 3));
    CHECK("setxattr unknown namespace", setxattr("e.txt", "bogus.x", "1", 1, 0));
    CHECK("setxattr empty name", setxattr("e.txt", "", "1", 1, 0));
    CHECK("getxattr size query", getxattr("e.txt", "user.color", NULL, 0));
    memset(t, 0, sizeof t);
    CHECK("getxattr", getxattr("e.txt", "user.color", t, sizeof t));
    printf("value '%s'\n", t);
    CHECK("getxattr too small", getxattr("e.txt", "user.color", t, 2));
    CHECK("getxattr missing", getxattr("e.txt", "user.none", t, sizeof t));
    CHECK("lgetxattr on missing file", lgetxattr("missing", "user.color", t, sizeof t));
    char names[256];
    CHECK("listxattr", listxattr("e.txt", names, sizeof names));
    CHECK("listxattr size query", listxattr("e.txt", NULL, 0));
    CHECK("removexattr", removexattr("e.txt", "user.color"));
    CHECK("removexattr again", removexattr("e.txt", "user.color"));
    CHECK("lsetxattr user on symlink", lsetxattr("ln", "user.x", "1", 1, 0));
    CHECK("statx", ({ struct statx sx; statx(AT_FDCWD, "e.txt", 0, STATX_BASIC_STATS, &sx) == 0 && sx.stx_size == 100 && S_ISREG(sx.stx_mode); }));
    CHECK("statx bad flags", ({ struct statx sx; statx(AT_FDCWD, "e.txt", 0x80000, STATX_BASIC_STATS, &sx); }));
    CHECK("statx reserved mask", ({ struct statx sx; statx(AT_FDCWD, "e.txt", 0, 0x80000000, &sx); }));
    CHECK("statx missing", ({ struct statx sx; statx(AT_FDCWD, "missing", 0, STATX_BASIC_STATS, &sx); }));

    // fchdir and *at with a directory fd.
    int dfd = open("sub3", O_RDONLY | O_DIRECTORY);
    CHECK("openat relative to dirfd", ({ long r = openat(dfd, "x", O_RDONLY); if (r >= 0) close(r); r >= 0; }));
    CHECK("mkdirat", mkdirat(dfd, "made", 0700));
    CHECK("fstatat relative", ({ struct stat st; fstatat(dfd, "made", &st, 0); }));
    CHECK("fstatat AT_EMPTY_PATH on dir fd", ({ struct stat st; fstatat(dfd, "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode); }));
    CHECK("fchdir", fchdir(dfd));
    CHECK("stat x from new cwd", ({ struct stat st; stat("x", &st); }));
    CHECK("fchdir to file", ({ int f = open("x", O_RDONLY); long r = fchdir(f); close(f); r; }));
    CHECK("chdir to file", chdir("x"));
    CHECK("chdir missing", chdir("missing"));
    chdir(base);
    close(dfd);
    int pfd = open("ln", O_PATH | O_NOFOLLOW);
    CHECK("O_PATH|O_NOFOLLOW on link", pfd >= 0);
    CHECK("read from O_PATH", read(pfd, b, 1));
    CHECK("fstatat AT_EMPTY_PATH on O_PATH link", ({ struct stat st; fstatat(pfd, "", &st, AT_EMPTY_PATH) == 0 && S_ISLNK(st.st_mode); }));
    close(pfd);

    // Clean up everything; the directory must be removable.
    const char *files[] = {"a.txt", "e.txt", "ln", "dangle", "loopa", "loopb", "sublink", "sub3/x", NULL};
    for (int i = 0; files[i]; i++) unlink(files[i]);
    rmdir("sub3/made");
    rmdir("sub3");
    rmdir("sub");
    list("left over", ".");
    chdir("/");
    CHECK("rmdir base", rmdir(base));
    CHECK("stat base gone", ({ struct stat st; stat(base, &st); }));
    return 0;
}
