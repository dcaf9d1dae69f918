// inotify: the events of creating, writing, reading, renaming, changing
// attributes and removing files and directories, one-shot and masked
// watches, rm_watch, FIONREAD, poll, short buffers, and the error paths.
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static int in;
static unsigned last_cookie;

// Prints every queued event; cookies show as a pair marker.
static void drain(const char *what) {
    char buf[4096] __attribute__((aligned(8)));
    printf("-- %s\n", what);
    for (;;) {
        long n = read(in, buf, sizeof buf);
        if (n <= 0) {
            if (errno != EAGAIN) printf("read %ld %s\n", n, errname(errno));
            return;
        }
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            const char *c = "";
            if (e->cookie) {
                c = e->cookie == last_cookie ? " cookie=same" : " cookie=new";
                last_cookie = e->cookie;
            }
            printf("wd %d mask %#x len %u name [%s]%s\n", e->wd, e->mask, e->len, e->len ? e->name : "", c);
            p += sizeof *e + e->len;
        }
    }
}

int main(void) {
    const char *d = "/dev/shm/inotify-test";
    mkdir(d, 0755);
    CHECK("chdir", chdir(d));
    in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    CHECK("inotify_init1", in >= 0);
    CHECK("F_GETFD", fcntl(in, F_GETFD));
    CHECK("F_GETFL", fcntl(in, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
    int wdir = inotify_add_watch(in, ".", IN_ALL_EVENTS);
    CHECK("watch dir", wdir);
    CHECK("watch dir again", inotify_add_watch(in, d, IN_CREATE | IN_DELETE | IN_MASK_ADD));
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    drain("create");
    CHECK("write", write(fd, "hello", 5));
    CHECK("write", write(fd, "hello", 5));
    CHECK("pread", pread(fd, (char[8]){0}, 5, 0));
    drain("write twice (merged), read");
    int wfile = inotify_add_watch(in, "f", IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF);
    CHECK("watch file", wfile);
    CHECK("ftruncate", ftruncate(fd, 2));
    CHECK("fchmod", fchmod(fd, 0600));
    CHECK("utimensat", utimensat(AT_FDCWD, "f", NULL, 0));
    CHECK("setxattr", setxattr("f", "user.k", "v", 1, 0));
    close(fd);
    drain("truncate, chmod, utimes, setxattr, close");
    int n = -1;
    CHECK("open O_RDONLY", (fd = open("f", O_RDONLY)) >= 0);
    CHECK("FIONREAD", ioctl(in, FIONREAD, &n));
    printf("queued %d\n", n);
    struct pollfd pf = {in, POLLIN, 0};
    CHECK("poll", poll(&pf, 1, 0));
    char small[8];
    CHECK("read into a short buffer", read(in, small, sizeof small));
    close(fd);
    drain("open, close read-only");
    CHECK("mkdir", mkdir("sub", 0755));
    CHECK("symlink", symlink("f", "ln"));
    CHECK("link", link("f", "hard"));
    CHECK("rename", rename("f", "g"));
    CHECK("rename dir", rename("sub", "sub2"));
    drain("mkdir, symlink, link, rename");
    CHECK("rename over", rename("hard", "ln"));
    drain("rename over a name");
    CHECK("unlink", unlink("g"));
    drain("unlink one of two links");
    CHECK("unlink", unlink("ln"));
    drain("unlink the last link");
    CHECK("rmdir", rmdir("sub2"));
    drain("rmdir");
    // One-shot and rm_watch.
    int once = open("o", O_CREAT | O_WRONLY, 0644);
    int wo = inotify_add_watch(in, "o", IN_MODIFY | IN_ONESHOT);
    CHECK("oneshot", wo);
    write(once, "a", 1);
    write(once, "b", 1);
    close(once);
    drain("one-shot");
    CHECK("rm_watch the dir", inotify_rm_watch(in, wdir));
    drain("rm_watch");
    CHECK("rm_watch again", inotify_rm_watch(in, wdir));
    CHECK("rm_watch bad wd", inotify_rm_watch(in, 999));
    unlink("o");
    drain("after rm_watch, nothing");
    // Errors.
    CHECK("mask with no events", inotify_add_watch(in, ".", 0));
    CHECK("MASK_ADD and MASK_CREATE", inotify_add_watch(in, ".", IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE));
    int w = inotify_add_watch(in, ".", IN_MODIFY | IN_MASK_CREATE);
    CHECK("MASK_CREATE new", w > 0);
    CHECK("MASK_CREATE existing", inotify_add_watch(in, ".", IN_MODIFY | IN_MASK_CREATE));
    CHECK("missing path", inotify_add_watch(in, "nope", IN_MODIFY));
    close(open("plain", O_CREAT | O_WRONLY, 0644));
    CHECK("ONLYDIR on a file", inotify_add_watch(in, "plain", IN_MODIFY | IN_ONLYDIR));
    unlink("plain");
    CHECK("not an inotify fd", inotify_add_watch(0, ".", IN_MODIFY));
    CHECK("bad fd", inotify_add_watch(99, ".", IN_MODIFY));
    CHECK("rm_watch on a bad fd", inotify_rm_watch(99, 1));
    CHECK("bad flags", inotify_init1(1));
    CHECK("inotify_init", syscall(SYS_inotify_init) >= 0);
    CHECK("read from an empty queue", read(in, small, sizeof small));
    chdir("/");
    rmdir(d);
    return 0;
}
