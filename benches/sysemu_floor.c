// The floor for the ptrace platform: a bare PTRACE_SYSEMU round trip between a
// tracer and a tracee pinned to one CPU, with and without the GETREGS/SETREGS
// pair a syscall emulator needs. Prints ns per round trip for both.
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_SYSEMU
#define PTRACE_SYSEMU 31
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static double run(long n, int with_regs) {
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        for (;;) syscall(SYS_getppid);
    }
    int st;
    waitpid(pid, &st, 0);
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
    struct user_regs_struct r;
    double t0 = 0;
    for (long i = -1000; i < n; i++) {
        if (i == 0) t0 = now();
        ptrace(PTRACE_SYSEMU, pid, 0, 0);
        waitpid(pid, &st, __WALL);
        if (with_regs) {
            ptrace(PTRACE_GETREGS, pid, 0, &r);
            r.rax = 1;
            ptrace(PTRACE_SETREGS, pid, 0, &r);
        }
    }
    double per = (now() - t0) / n;
    kill(pid, SIGKILL);
    waitpid(pid, &st, __WALL);
    return per;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof(set), &set);
    printf("%.1f %.1f\n", run(n, 0), run(n, 1));
    return 0;
}
