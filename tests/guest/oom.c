// The sandbox's memory cap and OOM killer (run under `rvisor do --memory
// 64m`; not compared with native, whose memory is not capped). A process
// that allocates without end is killed; oom_score_adj steers the choice;
// -1000 exempts a process, and when nothing can be killed the allocation
// fails (SIGBUS). Prints what it sees.
#include "common.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/sysinfo.h>

static void set_adj(const char *v) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);
    if (fd < 0 || write(fd, v, strlen(v)) < 0) {
        printf("set oom_score_adj %s: %s\n", v, errname(errno));
    }
    if (fd >= 0) close(fd);
}

static void show_adj(const char *who) {
    char buf[32] = {0};
    int fd = open("/proc/self/oom_score_adj", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("%s oom_score_adj = %.*s", who, (int)(n > 0 ? n : 0), buf);
}

// Allocates and touches memory, a MiB at a time, without end.
static void hog(const char *adj) {
    set_adj(adj);
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p) {
            printf("malloc failed\n");
            exit(3);
        }
        memset(p, 1, 1 << 20);
    }
}

static const char *fate(int st) {
    static char buf[64];
    if (WIFSIGNALED(st)) snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(st));
    else snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
    return buf;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sysinfo si;
    sysinfo(&si);
    printf("totalram = %lu MiB\n", (unsigned long)(si.totalram * si.mem_unit >> 20));
    show_adj("init");
    // Bad values are EINVAL, whatever the caller may.
    set_adj("1001");
    set_adj("-1001");
    set_adj("ten");
    char buf[16] = {0};
    int fd = open("/proc/self/oom_score", O_RDONLY);
    printf("oom_score readable = %d\n", read(fd, buf, sizeof buf) > 0);
    close(fd);

    // One hog: it is the one killed.
    pid_t h = fork();
    if (h == 0) hog("0");
    int st;
    waitpid(h, &st, 0);
    printf("hog: %s\n", fate(st));

    // A small process asking to go first (adj 1000) goes before a big one.
    int ready[2];
    pipe(ready);
    pid_t small = fork();
    if (small == 0) {
        set_adj("1000");
        write(ready[1], "x", 1);
        for (;;) pause();
    }
    read(ready[0], buf, 1);
    pid_t big = fork();
    if (big == 0) hog("0");
    pid_t first = waitpid(-1, &st, 0);
    printf("first to go: %s, %s\n", first == small ? "the small one" : "the big one", fate(st));
    pid_t second = waitpid(-1, &st, 0);
    printf("then: %s, %s\n", second == big ? "the big one" : "the small one", fate(st));

    // With CAP_SYS_RESOURCE (which not every host's root has), a process
    // may exempt itself. A hog that is exempt, with only exempt processes
    // left: its allocation fails.
    fd = open("/proc/self/oom_score_adj", O_WRONLY);
    if (write(fd, "-1000", 5) == 5) {
        pid_t exempt = fork();
        if (exempt == 0) hog("-1000");
        waitpid(exempt, &st, 0);
        printf("exempt hog: %s\n", fate(st));
    } else {
        printf("exempt hog: skipped (%s)\n", errname(errno));
    }
    close(fd);

    // Without CAP_SYS_RESOURCE, oom_score_adj may not go below the last
    // value a capable writer set (0 at first here).
    pid_t u = fork();
    if (u == 0) {
        set_adj("0");
        if (setresuid(65534, 65534, 65534) < 0) printf("setresuid: %s\n", errname(errno));
        // The uid change made the process non-dumpable (root then owns its
        // /proc files); make it dumpable again to write its own.
        prctl(PR_SET_DUMPABLE, 1);
        set_adj("500");
        set_adj("100");
        show_adj("unprivileged");
        set_adj("-1");
        show_adj("unprivileged");
        exit(0);
    }
    waitpid(u, &st, 0);
    printf("done\n");
    return 0;
}
