// Vector I/O at offsets, sendfile, close_range, statfs, select, memfd, mknod,
// renameat2, sysinfo and chroot.
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <linux/close_range.h>

int main(void) {
    char base[64];
    snprintf(base, sizeof base, "/tmp/rvisor-fsmisc-%d", getpid());
    mkdir(base, 0755);
    chdir(base);
    int fd = open("v.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    char a[] = "alpha", b[] = "-beta";
    struct iovec w[2] = {{a, 5}, {b, 5}};
    CHECK("pwritev at 3", pwritev(fd, w, 2, 3));
    char r1[4] = {0}, r2[8] = {0};
    struct iovec r[2] = {{r1, 3}, {r2, 7}};
    CHECK("preadv at 3", preadv(fd, r, 2, 3));
    printf("'%s' '%s'\n", r1, r2);
    CHECK("lseek after preadv unchanged", lseek(fd, 0, SEEK_CUR));
    CHECK("preadv2 at -1 (position)", preadv2(fd, r, 2, -1, 0));
    CHECK("position after preadv2", lseek(fd, 0, SEEK_CUR));
    CHECK("preadv2 bad flags", preadv2(fd, r, 2, 0, 0x40000000));
    CHECK("pwritev2 RWF_APPEND ok", pwritev2(fd, w, 1, 0, 0));
    CHECK("preadv negative offset", preadv(fd, r, 2, -5));

    int out = open("copy.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    off_t off = 3;
    CHECK("sendfile with offset", sendfile(out, fd, &off, 100));
    printf("offset now %ld\n", (long)off);
    CHECK("sendfile to stdout", ({ lseek(fd, 0, SEEK_SET); sendfile(1, fd, NULL, 5); }));
    printf("\n");
    CHECK("sendfile from a pipe", sendfile(out, 0, NULL, 10));
    CHECK("sendfile bad fd", sendfile(out, 99, NULL, 10));
    CHECK("sendfile to O_RDONLY", sendfile(fd, fd, NULL, 10));
    close(out);

    int d1 = dup(fd), d2 = dup(fd), d3 = dup(fd);
    CHECK("close_range bad flags", syscall(SYS_close_range, d1, d3, 0x80));
    CHECK("close_range first > last", syscall(SYS_close_range, d3, d1, 0));
    CHECK("close_range CLOEXEC", syscall(SYS_close_range, d1, d1, CLOSE_RANGE_CLOEXEC));
    CHECK("cloexec set", fcntl(d1, F_GETFD));
    CHECK("close_range", syscall(SYS_close_range, d1, d3, 0));
    CHECK("closed", fcntl(d2, F_GETFD));
    CHECK("close_range beyond", syscall(SYS_close_range, 1000, ~0U, 0));

    struct statfs sf;
    CHECK("statfs", statfs(".", &sf) == 0 && sf.f_namelen == 255 && sf.f_bsize > 0);
    CHECK("fstatfs", fstatfs(fd, &sf) == 0 && sf.f_namelen == 255);
    CHECK("statfs missing", statfs("missing", &sf));
    CHECK("fstatfs bad fd", fstatfs(99, &sf));

    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(fd, &rs);
    FD_SET(1, &ws);
    struct timeval tv = {1, 0};
    CHECK("select", select(fd + 1, &rs, &ws, NULL, &tv));
    printf("ready: file %d stdout %d\n", FD_ISSET(fd, &rs), FD_ISSET(1, &ws));
    FD_ZERO(&rs);
    /* An fd inside the fd table's initial 64 slots: Linux ignores set bits
       beyond the table's size, which depends on what the parent held. */
    FD_SET(40, &rs);
    CHECK("select bad fd", select(41, &rs, NULL, NULL, &tv));
    CHECK("select negative nfds", select(-1, NULL, NULL, NULL, &tv));
    tv.tv_sec = 0;
    tv.tv_usec = 20000;
    CHECK("select timeout only", select(0, NULL, NULL, NULL, &tv));

    int m = memfd_create("scratch", MFD_CLOEXEC);
    CHECK("memfd write", write(m, "memfd data", 10));
    CHECK("memfd size", ({ struct stat st; fstat(m, &st); (long)st.st_size; }));
    CHECK("memfd cloexec", fcntl(m, F_GETFD));
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", m);
    readlink(path, link, sizeof link);
    printf("memfd link %s\n", link);
    char *map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, m, 0);
    printf("memfd mapped: %.10s\n", map);
    CHECK("memfd_create bad flags", memfd_create("x", 0x100));
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = 0;
    CHECK("memfd_create long name", memfd_create(longname, 0));

    CHECK("mknod fifo", mknod("fifo", S_IFIFO | 0640, 0));
    CHECK("fifo type", ({ struct stat st; stat("fifo", &st); S_ISFIFO(st.st_mode); }));
    CHECK("mknod regular", mknod("plain", 0640, 0));
    CHECK("mknod exists", mknod("plain", 0640, 0));
    CHECK("mknod bad type", mknod("bad", 0170000, 0));

    CHECK("renameat2 NOREPLACE onto existing", renameat2(AT_FDCWD, "plain", AT_FDCWD, "copy.txt", RENAME_NOREPLACE));
    CHECK("renameat2 NOREPLACE", renameat2(AT_FDCWD, "plain", AT_FDCWD, "plain2", RENAME_NOREPLACE));
    CHECK("renameat2 bad flags", renameat2(AT_FDCWD, "plain2", AT_FDCWD, "p3", 0x80));
    CHECK("renameat2 NOREPLACE|EXCHANGE", renameat2(AT_FDCWD, "plain2", AT_FDCWD, "p3", 3));

    struct sysinfo si;
    CHECK("sysinfo", sysinfo(&si) == 0 && si.uptime > 0 && si.totalram > 0 && si.procs >= 1 && si.mem_unit >= 1);
    CHECK("sysinfo bad pointer", syscall(SYS_sysinfo, (void *)0x10));

    // chroot into the work directory; a dirfd from outside still works.
    int outside = open("/tmp", O_PATH | O_DIRECTORY);
    mkdir("inner", 0755);
    CHECK("chroot", chroot("."));
    CHECK("stat /inner after chroot", ({ struct stat st; stat("/inner", &st); }));
    CHECK("stat /tmp after chroot", ({ struct stat st; stat("/tmp", &st); }));
    CHECK("chdir /", chdir("/"));
    CHECK("chdir .. stays", chdir(".."));
    char cwd[64];
    printf("cwd %s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
    CHECK("chroot to file", chroot("v.txt"));
    CHECK("chroot missing", chroot("missing"));
    // Clean up through the fd from outside.
    char rel[64];
    const char *names[] = {"v.txt", "copy.txt", "fifo", "plain2", NULL};
    for (int i = 0; names[i]; i++) {
        snprintf(rel, sizeof rel, "%s/%s", base + 5, names[i]);
        unlinkat(outside, rel, 0);
    }
    snprintf(rel, sizeof rel, "%s/inner", base + 5);
    unlinkat(outside, rel, AT_REMOVEDIR);
    CHECK("cleanup", unlinkat(outside, base + 5, AT_REMOVEDIR));
    // A shared mapping of a file opened read-only can never become writable;
    // a private one can. A futex past the end of a mapped file is EFAULT.
    int ro = open("/etc/passwd", O_RDONLY);
    char *sm = mmap(NULL, 8192, PROT_READ, MAP_SHARED, ro, 0);
    CHECK("mprotect RW of a read-only shared file mapping", mprotect(sm, 4096, PROT_READ | PROT_WRITE));
    char *pm = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, ro, 0);
    CHECK("mprotect RW of a private one", mprotect(pm, 4096, PROT_READ | PROT_WRITE));
    CHECK("futex wake past the end of the file", syscall(SYS_futex, sm + 4096, 1 /* FUTEX_WAKE */, 1, NULL, NULL, 0));
    munmap(sm, 8192);
    munmap(pm, 4096);
    close(ro);
    // posix_fadvise returns the error number itself.
    int pf[2];
    pipe(pf);
    int pw = open("/etc/passwd", O_RDONLY);
    printf("fadvise: normal %d, dontneed %d, bad advice %d, pipe %d, bad fd %d, negative length %d\n",
           posix_fadvise(pw, 0, 0, POSIX_FADV_NORMAL), posix_fadvise(pw, 0, 0, POSIX_FADV_DONTNEED),
           posix_fadvise(pw, 0, 0, 9), posix_fadvise(pf[0], 0, 0, 0), posix_fadvise(99, 0, 0, 0),
           posix_fadvise(pw, 0, -1, 0));
    return 0;
}
