// Processes: fork, vfork, clone and clone3 as fork, wait4/waitpid/waitid and
// exit statuses, copy-on-write and shared memory, pipes and inherited fds,
// SIGCHLD, and many children at once.
#include "common.h"
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void show_info(const char *label, const siginfo_t *si, pid_t want) {
    printf("%s: signo %d code %s status %d pid matches %d uid matches %d\n", label, si->si_signo,
           cld_code_name(si->si_code), si->si_status, si->si_pid == want, si->si_uid == getuid());
}

static pid_t fork_flushed(void) {
    fflush(stdout);
    return fork();
}

// A child that waits until the gate's write end is closed, then exits with code.
static pid_t gated_child(int gate[2], int code) {
    pid_t c = fork_flushed();
    if (c == 0) {
        char b;
        close(gate[1]);
        while (read(gate[0], &b, 1) > 0) {
        }
        _exit(code);
    }
    return c;
}

static int int_cmp(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

int global_var = 100;
static volatile int vfork_var;
static volatile int chld_code, chld_status, chld_count, chld_pid_ok;
static volatile pid_t chld_expect;

static void on_chld(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    chld_code = si->si_code;
    chld_status = si->si_status;
    chld_pid_ok = si->si_pid == chld_expect;
    chld_count++;
}

int main(void) {
    alarm(10);
    setvbuf(stdout, NULL, _IONBF, 0);
    int st;
    siginfo_t si;

    printf("-- no children\n");
    CHECK("wait", wait(&st));
    CHECK("waitpid -1 WNOHANG", waitpid(-1, &st, WNOHANG));
    CHECK("waitid P_ALL WNOHANG", waitid(P_ALL, 0, &si, WEXITED | WNOHANG));
    CHECK("waitpid INT_MAX", waitpid(INT_MAX, &st, 0));
    CHECK("wait4 INT_MIN", wait4(INT_MIN, &st, 0, NULL));
    CHECK("wait4 bad options", wait4(-1, &st, 0x10, NULL));
    CHECK("wait4 WEXITED is not a wait4 option", wait4(-1, &st, WEXITED, NULL));
    CHECK("wait4 WNOWAIT is not a wait4 option", wait4(-1, &st, WNOWAIT, NULL));
    CHECK("waitid no event options", waitid(P_ALL, 0, &si, 0));
    CHECK("waitid bad options", waitid(P_ALL, 0, &si, WEXITED | 0x10));
    CHECK("waitid bad idtype", waitid((idtype_t)7, 0, &si, WEXITED));
    CHECK("waitid P_PID 0", waitid(P_PID, 0, &si, WEXITED));
    CHECK("waitid P_PID negative", waitid(P_PID, (id_t)-5, &si, WEXITED));
    CHECK("waitid P_PGID negative", waitid(P_PGID, (id_t)-5, &si, WEXITED));
    CHECK("waitid P_PIDFD bad fd", waitid((idtype_t)3, 999, &si, WEXITED));

    printf("-- identity\n");
    pid_t me = getpid();
    pid_t c = fork_flushed();
    if (c == 0)
        _exit((getppid() == me) | (getpid() != me) << 1 | (getpid() == gettid()) << 2 | (getpgrp() == getpgid(me)) << 3);
    CHECK("fork returned a pid", c > 0 && c != me);
    CHECK("waitpid returns the child", waitpid(c, &st, 0) == c);
    printf("getppid==parent %d, getpid!=parent %d, pid==tid %d, same pgrp %d\n", WEXITSTATUS(st) & 1,
           WEXITSTATUS(st) >> 1 & 1, WEXITSTATUS(st) >> 2 & 1, WEXITSTATUS(st) >> 3 & 1);
    CHECK("reaped: waitpid again", waitpid(c, &st, 0));

    printf("-- exit codes\n");
    int codes[] = {0, 1, 42, 255, 256, 257, -1};
    for (unsigned i = 0; i < sizeof codes / sizeof *codes; i++) {
        c = fork_flushed();
        if (c == 0) _exit(codes[i]);
        char l[32];
        snprintf(l, sizeof l, "_exit(%d)", codes[i]);
        waitpid(c, &st, 0);
        show_exit(l, st);
    }
    c = fork_flushed();
    if (c == 0) exit(77);
    waitpid(c, &st, 0);
    show_exit("exit(77)", st);
    c = fork_flushed();
    if (c == 0) syscall(SYS_exit, 78);
    waitpid(c, &st, 0);
    show_exit("SYS_exit(78) of the only thread", st);

    printf("-- deaths by signal\n");
    c = fork_flushed();
    if (c == 0) {
        for (;;) pause();
    }
    CHECK("kill SIGKILL", kill(c, SIGKILL));
    waitpid(c, &st, 0);
    show_exit("SIGKILL", st);
    c = fork_flushed();
    if (c == 0) {
        for (;;) pause();
    }
    CHECK("kill SIGTERM", kill(c, SIGTERM));
    CHECK("waitid SIGTERM child", waitid(P_PID, c, &si, WEXITED));
    show_info("SIGTERM siginfo", &si, c);
    c = fork_flushed();
    if (c == 0) raise(SIGTERM);
    waitpid(c, &st, 0);
    show_exit("raise(SIGTERM)", st);
    // A process that is not dumpable never dumps core: no 0x80, CLD_KILLED.
    c = fork_flushed();
    if (c == 0) {
        prctl(PR_SET_DUMPABLE, 0);
        abort();
    }
    CHECK("waitid abort WNOWAIT", waitid(P_PID, c, &si, WEXITED | WNOWAIT));
    show_info("abort (not dumpable) siginfo", &si, c);
    CHECK("waitpid after WNOWAIT", waitpid(c, &st, 0) == c);
    show_exit("abort (not dumpable)", st);
    c = fork_flushed();
    if (c == 0) {
        prctl(PR_SET_DUMPABLE, 0);
        *(volatile int *)8 = 1;
        _exit(1);
    }
    waitpid(c, &st, 0);
    show_exit("SIGSEGV (not dumpable)", st);
    // Whether a core is written depends on the host (core_pattern, limits);
    // the status bit and the siginfo code must agree either way.
    c = fork_flushed();
    if (c == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        abort();
    }
    waitid(P_PID, c, &si, WEXITED | WNOWAIT);
    waitpid(c, &st, 0);
    printf("abort: signaled %d sig %d, si_status %d, WCOREDUMP agrees with si_code %d\n", WIFSIGNALED(st),
           WTERMSIG(st), si.si_status, (WCOREDUMP(st) != 0) == (si.si_code == CLD_DUMPED));

    printf("-- waitid siginfo\n");
    c = fork_flushed();
    if (c == 0) _exit(7);
    memset(&si, 0xff, sizeof si);
    CHECK("waitid P_PID", waitid(P_PID, c, &si, WEXITED));
    show_info("exit 7", &si, c);
    c = fork_flushed();
    if (c == 0) _exit(300);
    CHECK("waitid P_ALL", waitid(P_ALL, 12345, &si, WEXITED));
    show_info("exit 300", &si, c);

    printf("-- WNOHANG and WNOWAIT\n");
    int gate[2];
    pipe(gate);
    c = gated_child(gate, 3);
    CHECK("waitpid WNOHANG, running", waitpid(c, &st, WNOHANG));
    CHECK("wait4 WNOHANG, running", wait4(-1, &st, WNOHANG, NULL));
    memset(&si, 0xff, sizeof si);
    CHECK("waitid WNOHANG, running", waitid(P_PID, c, &si, WEXITED | WNOHANG));
    printf("si_pid %d si_signo %d\n", si.si_pid, si.si_signo);
    CHECK("waitid WSTOPPED only, running, WNOHANG", waitid(P_PID, c, &si, WSTOPPED | WNOHANG));
    close(gate[0]);
    close(gate[1]);
    CHECK("waitid WEXITED|WNOWAIT", waitid(P_PID, c, &si, WEXITED | WNOWAIT));
    show_info("first look", &si, c);
    CHECK("waitid WEXITED|WNOWAIT again", waitid(P_ALL, 0, &si, WEXITED | WNOWAIT));
    show_info("second look", &si, c);
    CHECK("waitpid WNOHANG, exited", waitpid(c, &st, WNOHANG) == c);
    show_exit("reaped", st);
    CHECK("waitpid WNOHANG, gone", waitpid(c, &st, WNOHANG));

    printf("-- bad pointers\n");
    c = fork_flushed();
    if (c == 0) _exit(4);
    CHECK("wait4 bad status pointer", wait4(c, (int *)8, 0, NULL));
    CHECK("reaped despite EFAULT", waitpid(c, &st, WNOHANG));
    c = fork_flushed();
    if (c == 0) _exit(4);
    CHECK("waitid bad siginfo pointer", waitid(P_PID, c, (siginfo_t *)8, WEXITED));
    CHECK("reaped despite EFAULT", waitpid(c, &st, WNOHANG));
    c = fork_flushed();
    if (c == 0) _exit(5);
    struct rusage ru;
    CHECK("wait4 with rusage", wait4(c, &st, 0, &ru) == c);
    c = fork_flushed();
    if (c == 0) _exit(5);
    CHECK("wait4 NULL status", wait4(c, NULL, 0, NULL) == c);

    printf("-- process groups\n");
    pipe(gate);
    pid_t c1 = gated_child(gate, 11);
    CHECK("setpgid leader", setpgid(c1, c1));
    fflush(stdout);
    pid_t c2 = fork();
    if (c2 == 0) {
        char b;
        setpgid(0, c1);
        close(gate[1]);
        while (read(gate[0], &b, 1) > 0) {
        }
        _exit(12);
    }
    CHECK("setpgid member", setpgid(c2, c1));
    pid_t c3 = fork_flushed();
    if (c3 == 0) _exit(9);
    CHECK("getpgid member == leader", getpgid(c2) == c1);
    memset(&si, 0xff, sizeof si);
    CHECK("waitid P_PGID WNOHANG, running", waitid(P_PGID, c1, &si, WEXITED | WNOHANG));
    printf("si_pid %d\n", si.si_pid);
    CHECK("waitpid -pgid WNOHANG, running", waitpid(-c1, &st, WNOHANG));
    close(gate[0]);
    close(gate[1]);
    int got[2];
    CHECK("waitpid -pgid", ({ pid_t r = waitpid(-c1, &st, 0); got[0] = WEXITSTATUS(st); r == c1 || r == c2; }));
    CHECK("waitid P_PGID", ({ int r = waitid(P_PGID, c1, &si, WEXITED); got[1] = si.si_status; r; }));
    qsort(got, 2, sizeof *got, int_cmp);
    printf("group exit codes %d %d\n", got[0], got[1]);
    CHECK("waitid P_PGID, group empty", waitid(P_PGID, c1, &si, WEXITED));
    CHECK("waitpid -pgid, group empty", waitpid(-c1, &st, 0));
    CHECK("waitid P_ALL takes the other child", waitid(P_ALL, 0, &si, WEXITED));
    show_info("other child", &si, c3);
    c = fork_flushed();
    if (c == 0) _exit(13);
    CHECK("waitpid 0 (own group)", waitpid(0, &st, 0) == c);
    show_exit("own group", st);
    c = fork_flushed();
    if (c == 0) _exit(14);
    CHECK("waitid P_PGID 0 (own group)", waitid(P_PGID, 0, &si, WEXITED));
    show_info("own group", &si, c);
    CHECK("all reaped", wait(&st));

    printf("-- not my child\n");
    int gp[2];
    pipe(gp);
    pipe(gate);
    c = fork_flushed();
    if (c == 0) {
        pid_t g = gated_child(gate, 0);
        close(gate[1]);
        write(gp[1], &g, sizeof g);
        waitpid(g, &st, 0);
        _exit(WEXITSTATUS(st) + 20);
    }
    pid_t grandchild;
    read(gp[0], &grandchild, sizeof grandchild);
    CHECK("waitpid grandchild", waitpid(grandchild, &st, WNOHANG));
    CHECK("waitid grandchild", waitid(P_PID, grandchild, &si, WEXITED | WNOHANG));
    CHECK("kill 0 grandchild", kill(grandchild, 0));
    close(gate[0]);
    close(gate[1]);
    waitpid(c, &st, 0);
    show_exit("middle child", st);
    close(gp[0]);
    close(gp[1]);

    printf("-- clone and clone3 as fork\n");
    fflush(stdout);
    long r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(getppid() == me ? 33 : 1);
    CHECK("clone(SIGCHLD) waitpid", waitpid((pid_t)r, &st, 0) == r);
    show_exit("clone(SIGCHLD)", st);
    pipe(gate);
    fflush(stdout);
    r = syscall(SYS_clone, 0, 0, 0, 0, 0);
    if (r == 0) {
        char b;
        close(gate[1]);
        while (read(gate[0], &b, 1) > 0) {
        }
        _exit(34);
    }
    CHECK("clone(0) waitpid without __WCLONE", waitpid((pid_t)r, &st, 0));
    CHECK("clone(0) wait without __WCLONE", wait(&st));
    CHECK("clone(0) waitpid __WCLONE WNOHANG", waitpid((pid_t)r, &st, __WCLONE | WNOHANG));
    close(gate[0]);
    close(gate[1]);
    CHECK("clone(0) waitpid __WALL", waitpid((pid_t)r, &st, __WALL) == r);
    show_exit("clone(0)", st);
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    fflush(stdout);
    r = syscall(SYS_clone3, &ca, sizeof ca);
    if (r == 0) _exit(getppid() == me ? 35 : 1);
    CHECK("clone3 waitpid", waitpid((pid_t)r, &st, 0) == r);
    show_exit("clone3", st);
    CHECK("clone3 size too small", syscall(SYS_clone3, &ca, 32));
    ca.exit_signal = 100;
    CHECK("clone3 bad exit_signal", syscall(SYS_clone3, &ca, sizeof ca));
    ca.exit_signal = SIGCHLD;
    ca.flags = CLONE_THREAD;
    CHECK("clone3 CLONE_THREAD without CLONE_SIGHAND", syscall(SYS_clone3, &ca, sizeof ca));
    CHECK("clone CLONE_SIGHAND without CLONE_VM", syscall(SYS_clone, CLONE_SIGHAND | SIGCHLD, 0, 0, 0, 0));
    CHECK("clone3 bad pointer", syscall(SYS_clone3, (void *)8, sizeof ca));
    CHECK("clone CLONE_SETTLS beyond user space", syscall(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, 0, 0, 0x800000000000UL));

    printf("-- a CLONE_PARENT child signals the parent as its creator does\n");
    fflush(stdout);
    {
        // The creator ends with SIGUSR2 for its parent; so does its sibling.
        sigset_t usr2;
        sigemptyset(&usr2);
        sigaddset(&usr2, SIGUSR2);
        sigprocmask(SIG_BLOCK, &usr2, NULL);
        int sib[2];
        pipe(sib);
        r = syscall(SYS_clone, SIGUSR2, 0, 0, 0, 0);
        if (r == 0) {
            long s2 = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
            if (s2 == 0) _exit(7);
            write(sib[1], &s2, sizeof s2);
            _exit(0);
        }
        long s2 = 0;
        read(sib[0], &s2, sizeof s2);
        CHECK("creator waitpid __WCLONE", waitpid((pid_t)r, &st, __WCLONE) == r);
        CHECK("sibling waitpid without __WCLONE", waitpid((pid_t)s2, &st, 0));
        CHECK("sibling waitpid __WCLONE", waitpid((pid_t)s2, &st, __WCLONE) == s2);
        show_exit("sibling", st);
        signal(SIGUSR2, SIG_IGN);
        sigprocmask(SIG_UNBLOCK, &usr2, NULL);
        signal(SIGUSR2, SIG_DFL);
        close(sib[0]);
        close(sib[1]);
    }

    printf("-- copy-on-write\n");
    int *heap = malloc(sizeof(int));
    *heap = 200;
    volatile int stack_var = 300;
    pipe(gate);
    int back[2];
    pipe(back);
    c = fork_flushed();
    if (c == 0) {
        int seen = global_var == 100 && *heap == 200 && stack_var == 300;
        global_var = 101;
        *heap = 201;
        stack_var = 301;
        write(back[1], "w", 1);
        char b;
        close(gate[1]);
        while (read(gate[0], &b, 1) > 0) {
        }
        // The parent has changed its copies by now: ours are still ours.
        int kept = global_var == 101 && *heap == 201 && stack_var == 301;
        _exit(seen | kept << 1);
    }
    char b;
    read(back[0], &b, 1);
    printf("parent after child writes: global %d heap %d stack %d\n", global_var, *heap, stack_var);
    global_var = 102;
    *heap = 202;
    stack_var = 302;
    close(gate[0]);
    close(gate[1]);
    waitpid(c, &st, 0);
    printf("child saw the originals %d, kept its own %d\n", WEXITSTATUS(st) & 1, WEXITSTATUS(st) >> 1 & 1);
    printf("parent keeps: global %d heap %d stack %d\n", global_var, *heap, stack_var);
    close(back[0]);
    close(back[1]);

    printf("-- shared and private mappings\n");
    volatile int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    volatile int *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    shared[0] = 1;
    priv[0] = 1;
    pipe(gate);
    pipe(back);
    c = fork_flushed();
    if (c == 0) {
        shared[1] = 2;
        priv[1] = 2;
        write(back[1], "w", 1);
        close(gate[1]);
        while (read(gate[0], &b, 1) > 0) {
        }
        _exit((shared[0] == 1) | (shared[2] == 3) << 1 | (priv[2] == 3) << 2 | (priv[0] == 1) << 3);
    }
    read(back[0], &b, 1);
    printf("parent sees child's shared write %d, private write %d\n", shared[1] == 2, priv[1] == 2);
    shared[2] = 3;
    priv[2] = 3;
    close(gate[0]);
    close(gate[1]);
    waitpid(c, &st, 0);
    printf("child saw shared %d, parent's shared write %d, parent's private write %d, private %d\n",
           WEXITSTATUS(st) & 1, WEXITSTATUS(st) >> 1 & 1, WEXITSTATUS(st) >> 2 & 1, WEXITSTATUS(st) >> 3 & 1);
    close(back[0]);
    close(back[1]);
    // The child's mprotect and munmap are its own.
    c = fork_flushed();
    if (c == 0) {
        mprotect((void *)priv, 4096, PROT_NONE);
        munmap((void *)shared, 4096);
        _exit(0);
    }
    waitpid(c, &st, 0);
    printf("after child's mprotect/munmap: private %d shared %d\n", priv[0], shared[2]);
    // A shared file mapping is shared too.
    char path[64];
    snprintf(path, sizeof path, "/tmp/rvisor-fork-%d", getpid());
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    ftruncate(fd, 4096);
    char *fmap = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    c = fork_flushed();
    if (c == 0) {
        memcpy(fmap, "from child", 10);
        _exit(0);
    }
    waitpid(c, &st, 0);
    printf("shared file mapping: %.10s\n", fmap);
    munmap(fmap, 4096);

    printf("-- vfork\n");
    vfork_var = 0;
    volatile int vpid_ok = 0, vppid_ok = 0;
    fflush(stdout);
    c = vfork();
    if (c == 0) {
        // The parent is suspended: it cannot see 0 after vfork returns.
        struct timespec ts = {0, 50 * 1000 * 1000};
        syscall(SYS_nanosleep, &ts, NULL);
        vpid_ok = syscall(SYS_getpid) != me;
        vppid_ok = syscall(SYS_getppid) == me;
        vfork_var = 42;
        _exit(6);
    }
    printf("parent sees the child's write %d, child pid differs %d, child's ppid is parent %d\n", vfork_var,
           vpid_ok, vppid_ok);
    waitpid(c, &st, 0);
    show_exit("vfork child", st);

    printf("-- pipes between processes\n");
    int p[2];
    pipe(p);
    c = fork_flushed();
    if (c == 0) {
        close(p[0]);
        for (int i = 0; i < 3; i++) {
            char line[32];
            int n = snprintf(line, sizeof line, "line %d from child\n", i);
            write(p[1], line, n);
        }
        static char big[100000];
        memset(big, 'z', sizeof big);
        write(p[1], big, sizeof big);
        _exit(0);
    }
    close(p[1]);
    static char in[200000];
    long total = 0;
    while ((r = read(p[0], in + total, sizeof in - total)) > 0) total += r;
    CHECK("read at EOF", r);
    printf("read %ld bytes, starts: %.17s\n", total, in);
    long zs = 0;
    for (long i = 0; i < total; i++) zs += in[i] == 'z';
    printf("z count %ld\n", zs);
    close(p[0]);
    waitpid(c, &st, 0);
    show_exit("writer", st);
    // EPIPE when the reading child is gone.
    signal(SIGPIPE, SIG_IGN);
    pipe(p);
    c = fork_flushed();
    if (c == 0) _exit(0);
    close(p[0]);
    waitpid(c, &st, 0);
    CHECK("write after the only reader exited", write(p[1], "x", 1));
    close(p[1]);
    signal(SIGPIPE, SIG_DFL);
    // A child killed by SIGPIPE.
    pipe(p);
    close(p[0]);
    c = fork_flushed();
    if (c == 0) {
        write(p[1], "x", 1);
        _exit(0);
    }
    close(p[1]);
    waitpid(c, &st, 0);
    show_exit("writer to a closed pipe", st);

    printf("-- inherited fds\n");
    lseek(fd, 0, SEEK_SET);
    write(fd, "0123456789", 10);
    lseek(fd, 2, SEEK_SET);
    int probe = dup(fd);
    close(probe);
    c = fork_flushed();
    if (c == 0) {
        char buf[4];
        int ok = lseek(fd, 0, SEEK_CUR) == 2;
        ok |= (read(fd, buf, 3) == 3 && memcmp(buf, "234", 3) == 0) << 1;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, O_APPEND);
        int d = dup(fd);
        close(fd);
        (void)d;
        _exit(ok);
    }
    waitpid(c, &st, 0);
    printf("child saw offset 2 %d, read 234 %d\n", WEXITSTATUS(st) & 1, WEXITSTATUS(st) >> 1 & 1);
    CHECK("parent offset moved by child", lseek(fd, 0, SEEK_CUR));
    CHECK("FD_CLOEXEC is per descriptor", fcntl(fd, F_GETFD));
    CHECK("O_APPEND is shared", (fcntl(fd, F_GETFL) & O_APPEND) != 0);
    CHECK("child's close is its own", fcntl(fd, F_GETFD));
    CHECK("child's dup is its own", fcntl(probe, F_GETFD));
    lseek(fd, 4, SEEK_SET);
    c = fork_flushed();
    if (c == 0) {
        char buf[2];
        write(fd, "ab", 2);
        _exit(pread(fd, buf, 2, 4) == 2 && memcmp(buf, "45", 2) == 0);
    }
    waitpid(c, &st, 0);
    printf("child's O_APPEND write went to the end %d\n", WEXITSTATUS(st));
    CHECK("parent's offset after child's append", lseek(fd, 0, SEEK_CUR));
    close(fd);
    unlink(path);

    printf("-- SIGCHLD\n");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t blk, old;
    sigemptyset(&blk);
    sigaddset(&blk, SIGCHLD);
    sigprocmask(SIG_BLOCK, &blk, &old);
    c = fork_flushed();
    if (c == 0) _exit(6);
    chld_expect = c;
    waitid(P_PID, c, &si, WEXITED | WNOWAIT);
    sigset_t pend;
    sigpending(&pend);
    printf("SIGCHLD pending %d\n", sigismember(&pend, SIGCHLD));
    sigsuspend(&old);
    printf("handler: count %d code %s status %d pid matches %d\n", chld_count, cld_code_name(chld_code), chld_status,
           chld_pid_ok);
    waitpid(c, &st, 0);
    c = fork_flushed();
    if (c == 0) {
        for (;;) pause();
    }
    chld_expect = c;
    kill(c, SIGKILL);
    sigsuspend(&old);
    printf("handler: count %d code %s status %d pid matches %d\n", chld_count, cld_code_name(chld_code), chld_status,
           chld_pid_ok);
    waitpid(c, &st, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGCHLD, SIG_DFL);
    // Ignored SIGCHLD: children are reaped by the kernel, and wait blocks
    // until the last one is gone, then fails.
    signal(SIGCHLD, SIG_IGN);
    for (int i = 0; i < 3; i++) {
        c = fork_flushed();
        if (c == 0) _exit(i);
    }
    CHECK("wait with SIGCHLD ignored", wait(&st));
    CHECK("waitpid of an auto-reaped child", waitpid(c, &st, WNOHANG));
    signal(SIGCHLD, SIG_DFL);
    // SA_NOCLDWAIT does the same.
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDWAIT;
    sigaction(SIGCHLD, &sa, NULL);
    c = fork_flushed();
    if (c == 0) _exit(1);
    CHECK("wait with SA_NOCLDWAIT", wait(&st));
    signal(SIGCHLD, SIG_DFL);
    c = fork_flushed();
    if (c == 0) _exit(2);
    CHECK("default again: wait", wait(&st) == c);
    show_exit("default again", st);

    printf("-- 50 sequential children\n");
    long sum = 0;
    int ok = 1;
    for (int i = 0; i < 50; i++) {
        c = fork_flushed();
        if (c == 0) _exit(i);
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st)) ok = 0;
        sum += WEXITSTATUS(st);
    }
    printf("all reaped %d, sum %ld\n", ok, sum);

    printf("-- 20 children at once\n");
    pipe(gate);
    for (int i = 0; i < 20; i++) gated_child(gate, i * 7 + 1);
    close(gate[0]);
    close(gate[1]);
    int all[20], n = 0;
    while (n < 20 && wait(&st) > 0) all[n++] = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    qsort(all, n, sizeof *all, int_cmp);
    printf("reaped %d:", n);
    for (int i = 0; i < n; i++) printf(" %d", all[i]);
    printf("\n");
    CHECK("then none left", wait(&st));
    // Forked in a chain: each waits for the one it made.
    c = fork_flushed();
    if (c == 0) {
        int depth = 0;
        while (depth < 10) {
            pid_t k = fork();
            if (k != 0) {
                int s;
                waitpid(k, &s, 0);
                _exit(WEXITSTATUS(s) + 1);
            }
            depth++;
        }
        _exit(0);
    }
    waitpid(c, &st, 0);
    show_exit("chain of 11", st);
    // An exit signal out of range is not sent; __WALL still waits for it.
    fflush(stdout);
    pid_t odd = syscall(SYS_clone, 0x41, 0, 0, 0, 0);
    if (odd == 0) _exit(3);
    CHECK("wait for a child with exit signal 65", waitpid(odd, &st, __WALL) == odd);
    show_exit("exit signal 65", st);
    return 0;
}
