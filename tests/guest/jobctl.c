// Job control between parent and child: SIGSTOP and SIGCONT, waitpid with
// WUNTRACED and WCONTINUED, waitid with WSTOPPED and WCONTINUED, the SIGCHLD
// a stop and a continue send (and SA_NOCLDSTOP), and signals sent to a
// stopped process. Only SIGSTOP stops: SIGTSTP/SIGTTIN/SIGTTOU depend on
// whether the process group is orphaned, which depends on who started us.
#include "common.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

static void show_info(const char *label, const siginfo_t *si, pid_t want) {
    printf("%s: signo %d code %s status %d pid matches %d\n", label, si->si_signo, cld_code_name(si->si_code),
           si->si_status, si->si_pid == want);
}

static pid_t pauser(void) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        for (;;) pause();
    }
    return c;
}

static void on_term(int sig) {
    (void)sig;
    _exit(7);
}

static void on_cont(int sig) {
    (void)sig;
    _exit(8);
}

static void drain_sigchld(void) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&s, NULL, &zero) > 0) {
    }
}

int main(void) {
    alarm(10);
    setvbuf(stdout, NULL, _IONBF, 0);
    int st;
    siginfo_t si;

    printf("-- stop and continue with waitpid\n");
    pid_t c = pauser();
    CHECK("kill SIGSTOP", kill(c, SIGSTOP));
    CHECK("waitpid WUNTRACED", waitpid(c, &st, WUNTRACED) == c);
    show_exit("stopped", st);
    CHECK("reported once: WUNTRACED|WNOHANG", waitpid(c, &st, WUNTRACED | WNOHANG));
    CHECK("without WUNTRACED, WNOHANG", waitpid(c, &st, WNOHANG));
    CHECK("kill SIGSTOP again", kill(c, SIGSTOP));
    CHECK("already stopped: nothing new", waitpid(c, &st, WUNTRACED | WNOHANG));
    CHECK("kill SIGCONT", kill(c, SIGCONT));
    CHECK("waitpid WCONTINUED", waitpid(c, &st, WCONTINUED) == c);
    show_exit("continued", st);
    CHECK("reported once: WCONTINUED|WNOHANG", waitpid(c, &st, WCONTINUED | WNOHANG));
    CHECK("kill SIGCONT to a running child", kill(c, SIGCONT));
    CHECK("nothing to report", waitpid(c, &st, WCONTINUED | WUNTRACED | WNOHANG));
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    show_exit("killed", st);

    printf("-- stop and continue with waitid\n");
    c = pauser();
    kill(c, SIGSTOP);
    CHECK("waitid WSTOPPED|WNOWAIT", waitid(P_PID, c, &si, WSTOPPED | WNOWAIT));
    show_info("stop", &si, c);
    CHECK("waitid WSTOPPED", waitid(P_PID, c, &si, WSTOPPED));
    show_info("stop again", &si, c);
    memset(&si, 0xff, sizeof si);
    CHECK("waitid WSTOPPED|WNOHANG, consumed", waitid(P_PID, c, &si, WSTOPPED | WNOHANG));
    printf("si_pid %d\n", si.si_pid);
    CHECK("waitid WEXITED|WNOHANG, stopped", waitid(P_PID, c, &si, WEXITED | WNOHANG));
    kill(c, SIGCONT);
    CHECK("waitid WCONTINUED", waitid(P_PID, c, &si, WCONTINUED));
    show_info("continue", &si, c);
    kill(c, SIGSTOP);
    CHECK("waitpid WUNTRACED", waitpid(c, &st, WUNTRACED) == c);
    show_exit("stopped", st);

    printf("-- signals to a stopped child\n");
    CHECK("kill SIGKILL while stopped", kill(c, SIGKILL));
    waitpid(c, &st, 0);
    show_exit("SIGKILL", st);
    c = pauser();
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    // A fatal signal other than SIGKILL waits for the continue too.
    CHECK("kill SIGTERM (default action) while stopped", kill(c, SIGTERM));
    CHECK("still stopped", waitpid(c, &st, WNOHANG));
    CHECK("kill SIGCONT", kill(c, SIGCONT));
    waitpid(c, &st, 0);
    show_exit("SIGTERM after continue", st);
    // A handled signal waits for the continue.
    signal(SIGTERM, on_term);
    c = pauser();
    signal(SIGTERM, SIG_DFL);
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    CHECK("kill SIGTERM (handled) while stopped", kill(c, SIGTERM));
    CHECK("still stopped", waitpid(c, &st, WNOHANG));
    CHECK("kill SIGCONT", kill(c, SIGCONT));
    waitpid(c, &st, 0);
    show_exit("handled SIGTERM after continue", st);
    // A SIGCONT handler runs when the stopped process continues.
    signal(SIGCONT, on_cont);
    c = pauser();
    signal(SIGCONT, SIG_DFL);
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    CHECK("kill SIGCONT (handled)", kill(c, SIGCONT));
    waitpid(c, &st, 0);
    show_exit("SIGCONT handler", st);
    // SIGCONT with SIG_IGN still continues.
    signal(SIGCONT, SIG_IGN);
    c = pauser();
    signal(SIGCONT, SIG_DFL);
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    kill(c, SIGCONT);
    CHECK("ignored SIGCONT continues", waitpid(c, &st, WCONTINUED) == c);
    show_exit("continued", st);
    kill(c, SIGKILL);
    waitpid(c, &st, 0);

    printf("-- SIGCHLD for stop and continue\n");
    sigset_t blk, old;
    sigemptyset(&blk);
    sigaddset(&blk, SIGCHLD);
    sigprocmask(SIG_BLOCK, &blk, &old);
    drain_sigchld();
    c = pauser();
    kill(c, SIGSTOP);
    struct timespec two = {2, 0};
    CHECK("sigtimedwait stop", sigtimedwait(&blk, &si, &two));
    show_info("SIGCHLD", &si, c);
    waitpid(c, &st, WUNTRACED);
    kill(c, SIGCONT);
    CHECK("sigtimedwait continue", sigtimedwait(&blk, &si, &two));
    show_info("SIGCHLD", &si, c);
    waitpid(c, &st, WCONTINUED);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    sigset_t pend;
    sigpending(&pend);
    printf("SA_NOCLDSTOP: SIGCHLD pending after stop %d\n", sigismember(&pend, SIGCHLD));
    kill(c, SIGCONT);
    waitpid(c, &st, WCONTINUED);
    sigpending(&pend);
    printf("SA_NOCLDSTOP: SIGCHLD pending after continue %d\n", sigismember(&pend, SIGCHLD));
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    sigpending(&pend);
    printf("SA_NOCLDSTOP: SIGCHLD pending after death %d\n", sigismember(&pend, SIGCHLD));
    drain_sigchld();
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);

    printf("-- a stopped group\n");
    pid_t leader = 0, kids[3];
    for (int i = 0; i < 3; i++) {
        fflush(stdout);
        kids[i] = fork();
        if (kids[i] == 0) {
            setpgid(0, leader);
            for (;;) pause();
        }
        setpgid(kids[i], leader ? leader : kids[i]);
        if (!leader) leader = kids[i];
    }
    CHECK("kill(-pgid, SIGSTOP)", kill(-leader, SIGSTOP));
    int stopped = 0;
    for (int i = 0; i < 3; i++)
        if (waitpid(-leader, &st, WUNTRACED) > 0 && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP) stopped++;
    printf("stopped %d\n", stopped);
    CHECK("kill(-pgid, SIGCONT)", kill(-leader, SIGCONT));
    int cont = 0;
    for (int i = 0; i < 3; i++)
        if (waitpid(-leader, &st, WCONTINUED) > 0 && WIFCONTINUED(st)) cont++;
    printf("continued %d\n", cont);
    CHECK("kill(-pgid, SIGKILL)", kill(-leader, SIGKILL));
    int killed = 0;
    for (int i = 0; i < 3; i++)
        if (waitpid(-leader, &st, 0) > 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) killed++;
    printf("killed %d\n", killed);
    CHECK("none left", wait(&st));

    printf("-- SIGTSTP and orphaned process groups\n");
    fflush(stdout);
    pid_t o = fork();
    if (o == 0) {
        // A session of its own: its group is orphaned, and SIGTSTP is dropped.
        setsid();
        raise(SIGTSTP);
        _exit(3);
    }
    waitpid(o, &st, WUNTRACED);
    printf("orphaned group: stopped %d exited %d code %d\n", WIFSTOPPED(st), WIFEXITED(st), WEXITSTATUS(st));
    o = fork();
    if (o == 0) {
        // A group of its own, its parent in another group of the session.
        setpgid(0, 0);
        raise(SIGTSTP);
        _exit(4);
    }
    waitpid(o, &st, WUNTRACED);
    printf("group with a parent outside: stopped %d sig %d\n", WIFSTOPPED(st), WSTOPSIG(st));
    kill(o, SIGKILL);
    waitpid(o, &st, 0);
    return 0;
}
