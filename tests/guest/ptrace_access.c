// Who may look into another process: pidfd_getfd (PTRACE_MODE_ATTACH with
// real ids), /proc/PID/environ and mem (READ and ATTACH with fs ids), the
// links /proc/PID/fd/N and exe (READ), and the listing of /proc/PID/fd
// (its owner: the process's effective ids, root while it is not dumpable).
//
// Each case forks an asker, which forks its target (so the asker is the
// target's ancestor, as Yama would want). The target opens /dev/null as fd
// 10, takes its case's ids and dumpable flag, and waits; the asker takes
// its own ids (dropping capabilities with them) and tries everything.
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>

struct spec {
    const char *name;
    int asker_id;     // uid and gid the asker takes (0: stays root)
    int asker_nocaps; // the asker stays uid 0 but drops every capability
    int target_uid, target_gid;
    int target_dumpable;
};

static const struct spec cases[] = {
    {"root asks root", 0, 0, 0, 0, 1},
    {"root asks nobody (not dumpable)", 0, 0, 65534, 65534, 0},
    {"nobody asks nobody", 65534, 0, 65534, 65534, 1},
    {"nobody asks nobody (not dumpable)", 65534, 0, 65534, 65534, 0},
    {"nobody asks another user", 65534, 0, 65533, 65533, 1},
    {"nobody asks same uid, other gid", 65534, 0, 65534, 65533, 1},
    {"root without capabilities asks root", 0, 1, 0, 0, 1},
};

// Set in the target after the fork: read back through /proc/PID/mem.
static volatile int marker = 1;

// The first process's /proc/self/environ, read before any id changes.
static char own_env[65536];
static ssize_t own_env_len = -1;

static ssize_t read_all(int fd, char *buf, size_t size) {
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0)
            return -1;
        if (n == 0 || got + n == size)
            return got + n;
        got += n;
    }
}

static void probe(pid_t t) {
    char path[64], buf[65536];

    int pidfd = syscall(SYS_pidfd_open, t, 0);
    errno = 0;
    int fd = syscall(SYS_pidfd_getfd, pidfd, 10, 0);
    if (fd < 0) {
        printf("  pidfd_getfd fd 10 = %s\n", errname(errno));
    } else {
        struct stat st;
        fstat(fd, &st);
        printf("  pidfd_getfd fd 10 = OK (character device %d)\n", S_ISCHR(st.st_mode));
        close(fd);
    }
    close(pidfd);

    snprintf(path, sizeof path, "/proc/%d/environ", t);
    errno = 0;
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("  open environ = %s\n", errname(errno));
    } else {
        ssize_t n = read_all(fd, buf, sizeof buf);
        printf("  open environ = OK (same as the first process's: %d)\n",
               n == own_env_len && memcmp(buf, own_env, n) == 0);
        close(fd);
    }

    snprintf(path, sizeof path, "/proc/%d/mem", t);
    errno = 0;
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("  open mem = %s\n", errname(errno));
    } else {
        int v = 0;
        ssize_t n = pread(fd, &v, sizeof v, (off_t)(unsigned long)&marker);
        printf("  open mem = OK (read %zd bytes: marker %d)\n", n, v);
        close(fd);
    }

    snprintf(path, sizeof path, "/proc/%d/fd", t);
    errno = 0;
    DIR *d = opendir(path);
    if (!d) {
        printf("  list fd = %s\n", errname(errno));
    } else {
        int seen = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            seen |= strcmp(e->d_name, "10") == 0;
        printf("  list fd = OK (fd 10 listed: %d)\n", seen);
        closedir(d);
    }

    snprintf(path, sizeof path, "/proc/%d/fd/10", t);
    errno = 0;
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) {
        printf("  readlink fd/10 = %s\n", errname(errno));
    } else {
        buf[n] = 0;
        printf("  readlink fd/10 = %s\n", buf);
    }
    struct stat st;
    CHECK_OK("  stat fd/10 (follows)", stat(path, &st));
    CHECK_OK("  lstat fd/10", lstat(path, &st));

    snprintf(path, sizeof path, "/proc/%d/exe", t);
    CHECK_OK("  readlink exe", readlink(path, buf, sizeof buf));

    // Its own process is always open to a task.
    pidfd = syscall(SYS_pidfd_open, getpid(), 0);
    fd = syscall(SYS_pidfd_getfd, pidfd, 1, 0);
    CHECK_OK("  pidfd_getfd on itself", fd);
    close(fd);
    close(pidfd);
    errno = 0;
    d = opendir("/proc/self/fd");
    printf("  list own fd = %s\n", d ? "OK" : errname(errno));
    if (d)
        closedir(d);
    CHECK_OK("  readlink own fd/1", readlink("/proc/self/fd/1", buf, sizeof buf));
    errno = 0;
    fd = open("/proc/self/environ", O_RDONLY);
    printf("  open own environ = %s\n", fd >= 0 ? "OK" : errname(errno));
    if (fd >= 0)
        close(fd);
    fflush(stdout);
}

static void run_case(const struct spec *c) {
    int ready[2], go[2];
    pipe(ready);
    pipe(go);
    pid_t t = fork();
    if (t == 0) {
        close(ready[0]);
        close(go[1]);
        marker = 42;
        int n = open("/dev/null", O_RDONLY);
        dup2(n, 10);
        close(n);
        int ok = 1;
        if (c->target_gid)
            ok &= setresgid(c->target_gid, c->target_gid, c->target_gid) == 0;
        if (c->target_uid)
            ok &= setresuid(c->target_uid, c->target_uid, c->target_uid) == 0;
        ok &= prctl(PR_SET_DUMPABLE, c->target_dumpable) == 0;
        write(ready[1], ok ? "y" : "n", 1);
        char b;
        while (read(go[0], &b, 1) > 0) {
        }
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    char b = 'n';
    read(ready[0], &b, 1);
    printf("%s: target set up %s\n", c->name, b == 'y' ? "OK" : "FAILED");
    if (c->asker_id) {
        CHECK_OK("  asker setresgid", setresgid(c->asker_id, c->asker_id, c->asker_id));
        CHECK_OK("  asker setresuid", setresuid(c->asker_id, c->asker_id, c->asker_id));
    }
    if (c->asker_nocaps) {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        memset(d, 0, sizeof d);
        CHECK_OK("  asker drops its capabilities", syscall(SYS_capset, &h, d));
    }
    // Changing effective ids leaves a process not dumpable.
    printf("  asker dumpable = %d\n", prctl(PR_GET_DUMPABLE));
    fflush(stdout);
    probe(t);
    close(go[1]);
    int st;
    waitpid(t, &st, 0);
    show_exit("  target", st);
}

int main(void) {
    int fd = open("/proc/self/environ", O_RDONLY);
    own_env_len = read_all(fd, own_env, sizeof own_env);
    close(fd);
    printf("own environ read: %d\n", own_env_len > 0);
    fflush(stdout);
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pid_t a = fork();
        if (a == 0) {
            run_case(&cases[i]);
            fflush(stdout);
            _exit(0);
        }
        int st;
        waitpid(a, &st, 0);
        show_exit("asker", st);
        fflush(stdout);
    }
    // Writing through /proc/PID/mem reaches a read-only private mapping.
    int *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fd = open("/proc/self/mem", O_RDWR);
    int v = 7;
    CHECK("pwrite own mem, read-only page", pwrite(fd, &v, sizeof v, (off_t)(unsigned long)ro));
    printf("read-only page now holds %d\n", *ro);
    CHECK("pread own mem, unmapped page", pread(fd, &v, sizeof v, 0));
    // But not a shared mapping of a file opened only for reading.
    int f = open("/tmp/ptrace_access.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(f, "abcd", 4);
    close(f);
    f = open("/tmp/ptrace_access.txt", O_RDONLY);
    char *shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED, f, 0);
    CHECK("pwrite own mem, read-only shared file mapping", pwrite(fd, "XY", 2, (off_t)(unsigned long)shared));
    printf("file mapping holds %.4s\n", shared);
    close(f);
    unlink("/tmp/ptrace_access.txt");
    close(fd);
    return 0;
}
