// Enforced resource limits: RLIMIT_FSIZE (short write, then EFBIG and
// SIGXFSZ), RLIMIT_AS (mmap and brk fail), RLIMIT_NPROC (fork fails for a
// non-root user), RLIMIT_NOFILE.
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

static volatile int xfsz;
static void on_xfsz(int s) { (void)s; xfsz++; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    alarm(20);
    char path[64];
    snprintf(path, sizeof path, "/tmp/rvisor-rlim-%d", getpid());
    signal(SIGXFSZ, on_xfsz);
    struct rlimit r = {1000, 1000};
    CHECK("setrlimit FSIZE", setrlimit(RLIMIT_FSIZE, &r));
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    static char buf[4096];
    CHECK("write 600", write(fd, buf, 600));
    CHECK("write 600 more (stops at the limit)", write(fd, buf, 600));
    CHECK("write at the limit", write(fd, buf, 10));
    printf("SIGXFSZ %d\n", xfsz);
    CHECK("pwrite past the limit", pwrite(fd, buf, 10, 5000));
    CHECK("pwrite below", pwrite(fd, buf, 10, 0));
    close(fd);
    unlink(path);
    pid_t c = fork();
    if (c == 0) {
        signal(SIGXFSZ, SIG_DFL);
        int f = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
        lseek(f, 2000, SEEK_SET);
        write(f, "x", 1);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("default SIGXFSZ: signaled %d sig %d\n", WIFSIGNALED(st), WTERMSIG(st));
    unlink(path);
    r.rlim_cur = r.rlim_max = RLIM_INFINITY;
    setrlimit(RLIMIT_FSIZE, &r);

    c = fork();
    if (c == 0) {
        struct rlimit as = {256 << 20, 256 << 20};
        setrlimit(RLIMIT_AS, &as);
        void *p = mmap(NULL, 512 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("mmap over RLIMIT_AS: %s\n", p == MAP_FAILED ? errname(errno) : "mapped");
        p = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("small mmap: %s\n", p == MAP_FAILED ? errname(errno) : "mapped");
        void *b = sbrk(0);
        printf("sbrk 512M: %s\n", sbrk(512 << 20) == (void *)-1 ? errname(errno) : "grew");
        printf("break unchanged %d\n", sbrk(0) == b);
        _exit(0);
    }
    waitpid(c, &st, 0);

    c = fork();
    if (c == 0) {
        if (setresuid(4321, 4321, 4321) != 0) {
            printf("setresuid failed\n");
            _exit(1);
        }
        struct rlimit np = {1, 1};
        setrlimit(RLIMIT_NPROC, &np);
        pid_t g = fork();
        if (g == 0) _exit(0);
        printf("fork over RLIMIT_NPROC: %s\n", g < 0 ? errname(errno) : "forked");
        if (g > 0) waitpid(g, NULL, 0);
        _exit(0);
    }
    waitpid(c, &st, 0);

    // Another process's limits, through prlimit.
    int go[2];
    pipe(go);
    c = fork();
    if (c == 0) {
        char b;
        read(go[0], &b, 1);
        struct rlimit got;
        getrlimit(RLIMIT_NOFILE, &got);
        _exit(got.rlim_cur == 33 ? 0 : 1);
    }
    struct rlimit set = {33, 40}, old;
    CHECK("prlimit on a child", prlimit(c, RLIMIT_NOFILE, &set, &old));
    CHECK("prlimit read back", ({ struct rlimit g; prlimit(c, RLIMIT_NOFILE, NULL, &g); (long)(g.rlim_cur * 1000 + g.rlim_max); }));
    CHECK("prlimit no such pid", prlimit(999999, RLIMIT_NOFILE, NULL, &old));
    CHECK("prlimit bad resource", prlimit(c, 99, NULL, &old));
    write(go[1], "g", 1);
    waitpid(c, &st, 0);
    printf("the child saw its new limit: %d\n", WEXITSTATUS(st) == 0);

    struct rlimit nf = {10, 10};
    setrlimit(RLIMIT_NOFILE, &nf);
    int last = -1, n = 0;
    for (;;) {
        int f = dup(0);
        if (f < 0) {
            printf("dup until %s after %d\n", errname(errno), n);
            break;
        }
        last = f;
        n++;
    }
    printf("highest fd %d\n", last);
    return 0;
}
