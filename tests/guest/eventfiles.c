// signalfd and pidfds: signals read as records, pidfds polled for a child's
// exit, signalled, waited for with P_PIDFD, and fds taken from a child.
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    alarm(20);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    sigaddset(&m, SIGCHLD);
    sigprocmask(SIG_BLOCK, &m, NULL);
    int sfd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
    CHECK_OK("signalfd", sfd);
    struct signalfd_siginfo si;
    CHECK("read with nothing pending", read(sfd, &si, sizeof si));
    CHECK("read too small", read(sfd, &si, 10));
    kill(getpid(), SIGUSR1);
    struct pollfd p = {sfd, POLLIN, 0};
    CHECK("poll", poll(&p, 1, 1000));
    CHECK("read", read(sfd, &si, sizeof si));
    printf("signo %u code %d pid is mine %d\n", si.ssi_signo, si.ssi_code, si.ssi_pid == (unsigned)getpid());
    sigset_t bad;
    sigemptyset(&bad);
    CHECK("signalfd bad size", syscall(SYS_signalfd4, -1, &bad, 4, 0));
    CHECK("signalfd bad flags", syscall(SYS_signalfd4, -1, &bad, 8, 1));
    CHECK("signalfd on a non-signalfd", signalfd(0, &m, 0));

    int pipefd[2];
    pipe(pipefd);
    pid_t c = fork();
    if (c == 0) {
        char b;
        read(pipefd[0], &b, 1);
        _exit(b);
    }
    int pfd = syscall(SYS_pidfd_open, c, 0);
    CHECK_OK("pidfd_open", pfd);
    CHECK("pidfd_open bad flags", syscall(SYS_pidfd_open, c, 1));
    CHECK("pidfd_open no such pid", syscall(SYS_pidfd_open, 999999, 0));
    CHECK("cloexec", fcntl(pfd, F_GETFD));
    struct pollfd pp = {pfd, POLLIN, 0};
    CHECK("poll before exit", poll(&pp, 1, 0));
    int got = syscall(SYS_pidfd_getfd, pfd, pipefd[1], 0);
    CHECK_OK("pidfd_getfd", got);
    CHECK("pidfd_getfd bad fd", syscall(SYS_pidfd_getfd, pfd, 999, 0));
    write(got, "\x05", 1);
    CHECK("poll after exit", poll(&pp, 1, 2000));
    siginfo_t info = {0};
    CHECK("waitid P_PIDFD", waitid(P_PIDFD, pfd, &info, WEXITED));
    printf("code %d status %d pid matches %d\n", info.si_code, info.si_status, info.si_pid == c);
    CHECK("signalfd read of SIGCHLD", read(sfd, &si, sizeof si));
    printf("signo %u code %d status %d\n", si.ssi_signo, si.ssi_code, si.ssi_status);
    CHECK("send to exited", syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0));
    c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    int pfd2 = syscall(SYS_pidfd_open, c, 0);
    CHECK("pidfd_send_signal bad flags", syscall(SYS_pidfd_send_signal, pfd2, SIGTERM, NULL, 1));
    CHECK("pidfd_send_signal", syscall(SYS_pidfd_send_signal, pfd2, SIGTERM, NULL, 0));
    int st;
    waitpid(c, &st, 0);
    printf("killed by %d\n", WTERMSIG(st));
    CHECK("pidfd_send_signal not a pidfd", syscall(SYS_pidfd_send_signal, 0, SIGTERM, NULL, 0));
    return 0;
}
