// Process groups and sessions: setpgid/getpgid/getpgrp/setsid/getsid and
// their errors, kill of a pid, a zombie and a whole group, and orphans
// adopted by a child subreaper (with PR_SET_PDEATHSIG).
//
// The main process's own group and session belong to whoever started it, so
// it only ever compares them; everything that changes groups runs in
// children. kill(-1, ...) is never used, and kill(0, ...) only by children in
// groups of their own.
#include "common.h"
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>


static int int_cmp(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

// A status as one sortable number: exit code, or 1000 + signal.
static int code(int st) {
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

static void wait_all(const char *label, int n) {
    int got[16], k = 0, st;
    while (k < n && wait(&st) > 0) got[k++] = code(st);
    qsort(got, k, sizeof *got, int_cmp);
    printf("%s:", label);
    for (int i = 0; i < k; i++) {
        if (got[i] >= 1000)
            printf(" signaled %d", got[i] - 1000);
        else
            printf(" exited %d", got[i]);
    }
    printf("\n");
}

static pid_t fork_flushed(void) {
    fflush(stdout);
    return fork();
}

// Blocks until every write end of the pipe is closed.
static void wait_gate(int fd) {
    char b;
    while (read(fd, &b, 1) > 0) {
    }
}

// A pid that existed and is gone: a child, reaped.
static pid_t dead_pid(void) {
    pid_t c = fork_flushed();
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
    return c;
}

static void on_usr1(int sig) {
    (void)sig;
    _exit(10);
}

int main(int argc, char **argv) {
    alarm(10);
    if (argc > 2 && !strcmp(argv[1], "exec-wait")) {
        // Exec'd child: say so on the given fd, then wait for stdin's EOF.
        write(atoi(argv[2]), "e", 1);
        wait_gate(0);
        return 0;
    }
    int st;
    pid_t me = getpid();
    pid_t dead = dead_pid();

    printf("-- ids of the main process\n");
    CHECK("getpgid(0) == getpgrp()", getpgid(0) == getpgrp());
    CHECK("getpgid(self) == getpgrp()", getpgid(me) == getpgrp());
    CHECK("getsid(0) == getsid(self)", getsid(0) == getsid(me));
    CHECK("getpgid gone pid", getpgid(dead));
    CHECK("getsid gone pid", getsid(dead));
    CHECK("getpgid -1", getpgid(-1));
    CHECK("getsid -1", getsid(-1));
    CHECK("getpgid INT_MAX", getpgid(INT_MAX));

    printf("-- setpgid errors\n");
    CHECK("setpgid negative pgid", setpgid(0, -1));
    CHECK("setpgid gone pid", setpgid(dead, 0));
    CHECK("setpgid negative pid", setpgid(-5, 0));
    CHECK("setpgid INT_MAX", setpgid(INT_MAX, 0));

    printf("-- in a child\n");
    int gate[2], ready[2];
    pipe2(gate, O_CLOEXEC);
    pipe2(ready, O_CLOEXEC);
    pid_t c = fork_flushed();
    if (c == 0) {
        close(gate[1]);
        CHECK("  child starts in the parent's group", getpgrp() == getpgid(getppid()));
        CHECK("  child starts in the parent's session", getsid(0) == getsid(getppid()));
        CHECK("  setpgid(parent) is not a child", setpgid(getppid(), getppid()));
        CHECK("  setpgid(0, gone pgid)", setpgid(0, dead));
        CHECK("  setpgid(0, 0)", setpgid(0, 0));
        CHECK("  now a group leader", getpgrp() == getpid() && getpgid(0) == getpid());
        CHECK("  setpgid(0, 0) again", setpgid(0, 0));
        CHECK("  setpgid(self, self)", setpgid(getpid(), getpid()));
        CHECK("  setsid as group leader", setsid());
        CHECK("  still in the parent's session", getsid(0) == getsid(getppid()));
        CHECK("  back to the parent's group", setpgid(0, getpgid(getppid())));
        CHECK("  back in the parent's group", getpgrp() == getpgid(getppid()));
        write(ready[1], "r", 1);
        wait_gate(gate[0]);
        _exit(0);
    }
    char b;
    read(ready[0], &b, 1);
    CHECK("getsid(child) == getsid(0)", getsid(c) == getsid(0));
    CHECK("getpgid(child) == getpgrp()", getpgid(c) == getpgrp());
    close(gate[1]);
    waitpid(c, &st, 0);
    show_exit("child", st);
    close(gate[0]);

    printf("-- setsid\n");
    pipe2(gate, O_CLOEXEC);
    c = fork_flushed();
    if (c == 0) {
        close(gate[1]);
        CHECK("  setsid returns the pid", setsid() == getpid());
        CHECK("  session leader", getsid(0) == getpid());
        CHECK("  group leader", getpgrp() == getpid());
        CHECK("  parent's session differs", getsid(getppid()) != getsid(0));
        CHECK("  setsid again", setsid());
        CHECK("  setpgid(0, 0) as session leader", setpgid(0, 0));
        CHECK("  setpgid into the parent's group", setpgid(0, getpgid(getppid())));
        CHECK("  no controlling terminal", open("/dev/tty", O_RDWR));
        // Its own child is in the new session and may make its own group.
        pid_t g = fork();
        if (g == 0) {
            CHECK("  grandchild in the new session", getsid(0) == getppid());
            CHECK("  grandchild in the leader's group", getpgrp() == getppid());
            CHECK("  grandchild's own group", setpgid(0, 0));
            CHECK("  grandchild back to the leader's group", setpgid(0, getppid()));
            CHECK("  grandchild setsid", setsid() == getpid());
            _exit(0);
        }
        waitpid(g, &st, 0);
        write(ready[1], "r", 1);
        wait_gate(gate[0]);
        _exit(0);
    }
    read(ready[0], &b, 1);
    CHECK("getsid(child) == child", getsid(c) == c);
    CHECK("getpgid(child) == child", getpgid(c) == c);
    CHECK("setpgid of a child in another session", setpgid(c, c));
    CHECK("setpgid of a child in another session to ours", setpgid(c, getpgrp()));
    close(gate[1]);
    waitpid(c, &st, 0);
    show_exit("session leader", st);
    close(gate[0]);

    printf("-- setpgid from the parent\n");
    pipe2(gate, O_CLOEXEC);
    c = fork_flushed();
    if (c == 0) {
        close(gate[1]);
        wait_gate(gate[0]);
        _exit(getpgrp() == getpid() ? 1 : 2);
    }
    CHECK("setpgid(child, child)", setpgid(c, c));
    CHECK("getpgid(child) == child", getpgid(c) == c);
    CHECK("setpgid(child, parent's group)", setpgid(c, getpgrp()));
    CHECK("back in our group", getpgid(c) == getpgrp());
    CHECK("setpgid(child, 0)", setpgid(c, 0));
    CHECK("getpgid(child) == child", getpgid(c) == c);
    pid_t c2 = fork_flushed();
    if (c2 == 0) {
        close(gate[1]);
        wait_gate(gate[0]);
        _exit(getpgrp() == c ? 3 : 4);
    }
    CHECK("setpgid(second, first's group)", setpgid(c2, c));
    CHECK("getpgid(second) == first", getpgid(c2) == c);
    CHECK("setpgid(second, gone group)", setpgid(c2, dead));
    close(gate[1]);
    close(gate[0]);
    wait_all("first (own group), second (joined it)", 2);

    printf("-- setpgid after exec\n");
    pipe2(gate, O_CLOEXEC);
    pipe2(ready, O_CLOEXEC);
    c = fork_flushed();
    if (c == 0) {
        dup2(gate[0], 0);
        dup2(ready[1], 9);
        execl(argv[0], argv[0], "exec-wait", "9", (char *)NULL);
        _exit(127);
    }
    CHECK("read exec'd child's note", read(ready[0], &b, 1));
    CHECK("setpgid(child, child) after exec", setpgid(c, c));
    CHECK("setpgid(child, our group) after exec", setpgid(c, getpgrp()));
    close(gate[1]);
    close(gate[0]);
    close(ready[0]);
    close(ready[1]);
    waitpid(c, &st, 0);
    show_exit("exec'd child", st);

    printf("-- kill\n");
    CHECK("kill gone pid", kill(dead, SIGTERM));
    CHECK("kill gone pid, signal 0", kill(dead, 0));
    CHECK("kill gone pid, bad signal", kill(dead, 999));
    CHECK("kill gone group", kill(-dead, 0));
    CHECK("killpg gone group", killpg(dead, SIGTERM));
    CHECK("killpg negative", killpg(-5, SIGTERM));
    CHECK("kill INT_MIN", kill(INT_MIN, 0));
    CHECK("kill self, signal 0", kill(me, 0));
    CHECK("kill self, bad signal", kill(me, 65));
    pipe2(gate, O_CLOEXEC);
    c = fork_flushed();
    if (c == 0) {
        close(gate[1]);
        wait_gate(gate[0]);
        _exit(3);
    }
    CHECK("kill live child, signal 0", kill(c, 0));
    CHECK("kill live child, bad signal", kill(c, 999));
    CHECK("kill live child, signal -1", kill(c, -1));
    close(gate[1]);
    close(gate[0]);
    siginfo_t si;
    CHECK("wait for the zombie (WNOWAIT)", waitid(P_PID, c, &si, WEXITED | WNOWAIT));
    CHECK("kill zombie, signal 0", kill(c, 0));
    CHECK("kill zombie, SIGKILL", kill(c, SIGKILL));
    CHECK("getpgid(zombie) == getpgrp()", getpgid(c) == getpgrp());
    CHECK("getsid(zombie) == getsid(0)", getsid(c) == getsid(0));
    waitpid(c, &st, 0);
    show_exit("zombie keeps its status", st);
    CHECK("kill reaped child", kill(c, 0));

    printf("-- kill a process group\n");
    signal(SIGUSR1, on_usr1);
    pipe2(ready, O_CLOEXEC);
    pid_t leader = 0;
    for (int i = 0; i < 3; i++) {
        c = fork_flushed();
        if (c == 0) {
            setpgid(0, leader);
            write(ready[1], "r", 1);
            for (;;) pause();
        }
        setpgid(c, leader ? leader : c);
        if (!leader) leader = c;
    }
    signal(SIGUSR1, SIG_DFL);
    for (int i = 0; i < 3; i++) read(ready[0], &b, 1);
    CHECK("kill(-pgid, 0)", kill(-leader, 0));
    CHECK("killpg(pgid, 0)", killpg(leader, 0));
    CHECK("kill(-pgid, SIGUSR1)", kill(-leader, SIGUSR1));
    wait_all("handlers ran", 3);
    CHECK("kill(-pgid, 0), all gone", kill(-leader, 0));
    // Default action through killpg.
    leader = 0;
    for (int i = 0; i < 2; i++) {
        c = fork_flushed();
        if (c == 0) {
            setpgid(0, leader);
            write(ready[1], "r", 1);
            for (;;) pause();
        }
        setpgid(c, leader ? leader : c);
        if (!leader) leader = c;
    }
    for (int i = 0; i < 2; i++) read(ready[0], &b, 1);
    CHECK("killpg SIGTERM", killpg(leader, SIGTERM));
    wait_all("terminated", 2);
    // kill(0, ...) from a member reaches every member, the sender included.
    leader = 0;
    pipe2(gate, O_CLOEXEC);
    for (int i = 0; i < 3; i++) {
        c = fork_flushed();
        if (c == 0) {
            setpgid(0, leader);
            close(gate[1]);
            if (i == 2) {
                sigset_t m;
                sigemptyset(&m);
                sigaddset(&m, SIGTERM);
                sigprocmask(SIG_BLOCK, &m, NULL);
                wait_gate(gate[0]);
                int r = kill(0, SIGTERM);
                sigset_t p;
                sigpending(&p);
                _exit(r == 0 && sigismember(&p, SIGTERM) ? 20 : 21);
            }
            write(ready[1], "r", 1);
            for (;;) pause();
        }
        setpgid(c, leader ? leader : c);
        if (!leader) leader = c;
    }
    for (int i = 0; i < 2; i++) read(ready[0], &b, 1);
    close(gate[1]);
    close(gate[0]);
    wait_all("kill(0, SIGTERM) by a member", 3);
    close(ready[0]);
    close(ready[1]);

    printf("-- orphans and a subreaper\n");
    int v = -1;
    CHECK("PR_GET_CHILD_SUBREAPER", prctl(PR_GET_CHILD_SUBREAPER, &v));
    printf("subreaper %d\n", v);
    CHECK("PR_SET_CHILD_SUBREAPER", prctl(PR_SET_CHILD_SUBREAPER, 1));
    CHECK("PR_GET_CHILD_SUBREAPER", prctl(PR_GET_CHILD_SUBREAPER, &v));
    printf("subreaper %d\n", v);
    CHECK("PR_GET_CHILD_SUBREAPER bad pointer", prctl(PR_GET_CHILD_SUBREAPER, (int *)8));
    c = fork_flushed();
    if (c == 0) {
        v = -1;
        prctl(PR_GET_CHILD_SUBREAPER, &v);
        _exit(v);
    }
    waitpid(c, &st, 0);
    show_exit("a child's own subreaper flag", st);
    int tell[2];
    pipe2(gate, O_CLOEXEC);
    pipe(tell);
    c = fork_flushed();
    if (c == 0) {
        int up[2];
        pipe(up);
        pid_t mid = getpid();
        pid_t g = fork();
        if (g == 0) {
            close(gate[1]);
            char before = getppid() == mid;
            write(up[1], &before, 1);
            wait_gate(gate[0]);
            _exit(before && getppid() == me ? 50 : 51);
        }
        // Exit only once the grandchild has seen us as its parent.
        char before;
        read(up[0], &before, 1);
        write(tell[1], &g, sizeof g);
        _exit(4);
    }
    pid_t grandchild = -1;
    read(tell[0], &grandchild, sizeof grandchild);
    waitpid(c, &st, 0);
    show_exit("middle child", st);
    close(gate[1]);
    close(gate[0]);
    pid_t w = wait(&st);
    CHECK("wait() returns the adopted grandchild", w == grandchild);
    show_exit("grandchild (getppid was the middle child, then us)", st);
    CHECK("nothing left", wait(&st));
    // A parent death signal arrives when the parent dies.
    c = fork_flushed();
    if (c == 0) {
        pid_t g = fork();
        if (g == 0) {
            int s = -1;
            prctl(PR_SET_PDEATHSIG, SIGUSR2);
            prctl(PR_GET_PDEATHSIG, &s);
            write(tell[1], &s, sizeof s);
            for (;;) pause();
        }
        int s;
        read(tell[0], &s, sizeof s);
        _exit(s);
    }
    waitpid(c, &st, 0);
    show_exit("middle child (exit code = PR_GET_PDEATHSIG)", st);
    wait(&st);
    show_exit("grandchild with PR_SET_PDEATHSIG", st);
    CHECK("PR_SET_PDEATHSIG bad signal", prctl(PR_SET_PDEATHSIG, 99));
    CHECK("PR_SET_CHILD_SUBREAPER 0", prctl(PR_SET_CHILD_SUBREAPER, 0));
    CHECK("PR_GET_CHILD_SUBREAPER", prctl(PR_GET_CHILD_SUBREAPER, &v));
    printf("subreaper %d\n", v);
    close(tell[0]);
    close(tell[1]);
    CHECK("no children left", wait(&st));
    return 0;
}
