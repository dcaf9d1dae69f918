// Child state changes and the signals around them: SIGCHLD siginfo for exit,
// kill, stop and continue; SA_NOCLDSTOP; waitpid WUNTRACED/WCONTINUED;
// waitid; SA_NOCLDWAIT and SIG_IGN auto-reaping; SIGPIPE; signals to process
// groups; PR_SET_PDEATHSIG with a child subreaper; kill on a zombie.
#include "common.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

static volatile int n_chld;
static siginfo_t chld[16];

static void chld_handler(int sig, siginfo_t *si, void *uc) {
    if (n_chld < 16) chld[n_chld] = *si;
    n_chld++;
}

static void empty_handler(int sig) {}

static int cont_fd = -1;
static void cont_handler(int sig) { write(cont_fd, "c", 1); }

static int is_pending(int sig) {
    sigset_t s;
    sigpending(&s);
    return sigismember(&s, sig);
}

static void show(const char *what, const siginfo_t *si, pid_t pid) {
    printf("%s: signo %d code %d status %d pid right %d uid right %d\n", what, si->si_signo, si->si_code,
           si->si_status, si->si_pid == pid, si->si_uid == getuid());
}

// Waits (at most 5 s) for the blocked SIGCHLD.
static siginfo_t wait_chld(void) {
    sigset_t w;
    sigemptyset(&w);
    sigaddset(&w, SIGCHLD);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    struct timespec ts = {5, 0};
    if (sigtimedwait(&w, &si, &ts) < 0) printf("no SIGCHLD: %s\n", errname(errno));
    return si;
}

// A child that says "r" once ready, then "c" each time its SIGCONT handler
// runs.
static pid_t sleeper(int p[2]) {
    pipe(p);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        cont_fd = p[1];
        set_handler(SIGCONT, cont_handler, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        write(p[1], "r", 1);
        for (;;) pause();
    }
    close(p[1]);
    char ch = 0;
    read(p[0], &ch, 1);
    if (ch != 'r') printf("sleeper not ready\n");
    return c;
}

static void expect_byte(int fd, char want) {
    char ch = 0;
    if (read(fd, &ch, 1) != 1 || ch != want) printf("expected %c, got %c\n", want, ch);
}

static void exits_and_kills(void) {
    printf("-- SIGCHLD for exits and kills\n");
    set_handler(SIGCHLD, chld_handler, SA_SIGINFO);
    mask_signal(SIGCHLD, SIG_BLOCK);
    n_chld = 0;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) _exit(7);
    sigset_t empty;
    sigemptyset(&empty);
    while (n_chld == 0) sigsuspend(&empty);
    show("exit 7, handler", &chld[0], c);
    printf("handler ran %d\n", n_chld);
    int st;
    CHECK("waitpid", waitpid(c, &st, 0) == c);
    show_exit("status", st);

    int p[2];
    c = sleeper(p);
    kill(c, SIGTERM);
    siginfo_t si = wait_chld();
    show("SIGTERM", &si, c);
    waitpid(c, &st, 0);
    show_exit("status", st);
    close(p[0]);

    c = sleeper(p);
    kill(c, SIGSEGV);
    si = wait_chld();
    show("SIGSEGV", &si, c);
    waitpid(c, &st, 0);
    show_exit("status", st);
    printf("core %d\n", WCOREDUMP(st) ? 1 : 0);
    close(p[0]);

    fflush(stdout);
    c = fork();
    if (c == 0) {
        struct timespec t = {0, 20000000};
        nanosleep(&t, NULL);
        exit(0);
    }
    si = wait_chld();
    show("exit 0", &si, c);
    waitpid(c, &st, 0);
    show_exit("status", st);
    CHECK("waitpid again", waitpid(c, &st, 0));
    CHECK("waitpid no children WNOHANG", waitpid(-1, &st, WNOHANG));
    CHECK("waitpid bad options", waitpid(-1, &st, 0x10000000));
}

static void stop_continue(void) {
    printf("-- stop and continue\n");
    set_handler(SIGCHLD, chld_handler, SA_SIGINFO);
    int p[2], st;
    pid_t c = sleeper(p);
    CHECK("WNOHANG while running", waitpid(c, &st, WNOHANG | WUNTRACED | WCONTINUED));
    CHECK("kill STOP", kill(c, SIGSTOP));
    siginfo_t si = wait_chld();
    show("stopped", &si, c);
    CHECK("waitpid WUNTRACED", waitpid(c, &st, WUNTRACED) == c);
    show_exit("status", st);
    CHECK("reported once", waitpid(c, &st, WUNTRACED | WNOHANG));
    CHECK("kill STOP again", kill(c, SIGSTOP));
    CHECK("no new stop report", waitpid(c, &st, WUNTRACED | WNOHANG));
    printf("SIGCHLD pending %d\n", is_pending(SIGCHLD));
    CHECK("kill CONT", kill(c, SIGCONT));
    si = wait_chld();
    show("continued", &si, c);
    CHECK("waitpid WCONTINUED", waitpid(c, &st, WCONTINUED) == c);
    show_exit("status", st);
    printf("raw status %#x\n", st);
    expect_byte(p[0], 'c');
    CHECK("kill CONT while running", kill(c, SIGCONT));
    expect_byte(p[0], 'c');
    CHECK("no continue report", waitpid(c, &st, WCONTINUED | WNOHANG));
    printf("SIGCHLD pending %d\n", is_pending(SIGCHLD));
    // Killed while stopped.
    kill(c, SIGSTOP);
    si = wait_chld();
    show("stopped", &si, c);
    kill(c, SIGKILL);
    si = wait_chld();
    show("killed while stopped", &si, c);
    waitpid(c, &st, WUNTRACED);
    show_exit("status", st);
    close(p[0]);

    printf("-- SA_NOCLDSTOP\n");
    set_handler(SIGCHLD, chld_handler, SA_SIGINFO | SA_NOCLDSTOP);
    c = sleeper(p);
    kill(c, SIGSTOP);
    CHECK("waitpid WUNTRACED", waitpid(c, &st, WUNTRACED) == c);
    show_exit("status", st);
    printf("SIGCHLD pending after stop %d\n", is_pending(SIGCHLD));
    kill(c, SIGCONT);
    expect_byte(p[0], 'c');
    printf("SIGCHLD pending after continue %d\n", is_pending(SIGCHLD));
    CHECK("waitpid WCONTINUED", waitpid(c, &st, WCONTINUED) == c);
    show_exit("status", st);
    kill(c, SIGKILL);
    si = wait_chld();
    show("killed", &si, c);
    waitpid(c, &st, 0);
    close(p[0]);

    printf("-- SIGTSTP in the child's own process group\n");
    set_handler(SIGCHLD, SIG_DFL, 0);
    fflush(stdout);
    pipe(p);
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        write(p[1], "r", 1);
        for (;;) pause();
    }
    setpgid(c, c);
    expect_byte(p[0], 'r');
    CHECK("kill TSTP", kill(c, SIGTSTP));
    CHECK("waitpid WUNTRACED", waitpid(c, &st, WUNTRACED) == c);
    show_exit("status", st);
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    show_exit("status", st);
    close(p[0]);
    close(p[1]);
    // SIGCHLD is blocked: even at SIG_DFL (ignore) it is queued.
    printf("SIGCHLD pending %d\n", is_pending(SIGCHLD));
}

static void waitid_tests(void) {
    printf("-- waitid\n");
    mask_signal(SIGCHLD, SIG_UNBLOCK);
    set_handler(SIGCHLD, SIG_DFL, 0);
    int p[2];
    siginfo_t wi;
    pid_t c = sleeper(p);
    memset(&wi, 0xff, sizeof wi);
    CHECK("WNOHANG, nothing to report", waitid(P_PID, c, &wi, WEXITED | WSTOPPED | WNOHANG));
    printf("si_pid 0 %d, si_signo 0 %d\n", wi.si_pid == 0, wi.si_signo == 0);
    kill(c, SIGSTOP);
    memset(&wi, 0, sizeof wi);
    CHECK("WSTOPPED", waitid(P_PID, c, &wi, WSTOPPED));
    show("waitid", &wi, c);
    kill(c, SIGCONT);
    expect_byte(p[0], 'c');
    memset(&wi, 0, sizeof wi);
    CHECK("WCONTINUED|WNOWAIT", waitid(P_PID, c, &wi, WCONTINUED | WNOWAIT));
    show("waitid", &wi, c);
    memset(&wi, 0, sizeof wi);
    CHECK("WCONTINUED", waitid(P_PID, c, &wi, WCONTINUED));
    show("waitid", &wi, c);
    memset(&wi, 0xff, sizeof wi);
    CHECK("WCONTINUED again, WNOHANG", waitid(P_PID, c, &wi, WCONTINUED | WNOHANG));
    printf("si_pid 0 %d\n", wi.si_pid == 0);
    kill(c, SIGKILL);
    memset(&wi, 0, sizeof wi);
    CHECK("WEXITED|WNOWAIT", waitid(P_ALL, 0, &wi, WEXITED | WNOWAIT));
    show("waitid", &wi, c);
    // A zombie can still be signalled.
    CHECK("kill zombie 0", kill(c, 0));
    CHECK("kill zombie TERM", kill(c, SIGTERM));
    memset(&wi, 0, sizeof wi);
    CHECK("WEXITED", waitid(P_PID, c, &wi, WEXITED));
    show("waitid", &wi, c);
    CHECK("reaped: kill", kill(c, 0));
    CHECK("reaped: waitid", waitid(P_PID, c, &wi, WEXITED));
    close(p[0]);
    CHECK("no options", waitid(P_ALL, 0, &wi, 0));
    CHECK("bad options", waitid(P_ALL, 0, &wi, WEXITED | 0x10000));
    CHECK("bad idtype", waitid((idtype_t)7, 0, &wi, WEXITED));
    CHECK("no children", waitid(P_ALL, 0, &wi, WEXITED));

    fflush(stdout);
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        _exit(5);
    }
    setpgid(c, c);
    memset(&wi, 0, sizeof wi);
    CHECK("P_PGID", waitid(P_PGID, c, &wi, WEXITED));
    show("waitid", &wi, c);
    fflush(stdout);
    c = fork();
    if (c == 0) _exit(6);
    int st;
    CHECK("waitpid(0) (own group)", waitpid(0, &st, 0) == c);
    show_exit("status", st);
}

// Three children that sleep 10, 20 and 30 ms and exit with 0, 1 and 2.
static void spawn_sleepers(pid_t kids[3]) {
    for (int i = 0; i < 3; i++) {
        fflush(stdout);
        kids[i] = fork();
        if (kids[i] == 0) {
            struct timespec t = {0, (i + 1) * 10000000L};
            nanosleep(&t, NULL);
            _exit(i);
        }
    }
}
static void autoreap(void) {
    printf("-- SA_NOCLDWAIT and SIG_IGN\n");
    mask_signal(SIGCHLD, SIG_UNBLOCK);
    set_handler(SIGCHLD, chld_handler, SA_SIGINFO | SA_NOCLDWAIT | SA_RESTART);
    n_chld = 0;
    pid_t kids[3];
    spawn_sleepers(kids);
    CHECK("wait with SA_NOCLDWAIT", wait(NULL));
    printf("SIGCHLD still sent %d, code %d\n", n_chld >= 1 && n_chld <= 3, chld[0].si_code);
    CHECK("waitpid an auto-reaped child", waitpid(kids[0], NULL, 0));
    CHECK("kill an auto-reaped child", kill(kids[1], 0));

    set_handler(SIGCHLD, SIG_IGN, 0);
    n_chld = 0;
    spawn_sleepers(kids);
    CHECK("wait with SIGCHLD ignored", wait(NULL));
    printf("handler ran %d\n", n_chld);
    siginfo_t wi;
    CHECK("waitid with SIGCHLD ignored", waitid(P_ALL, 0, &wi, WEXITED));
    set_handler(SIGCHLD, SIG_DFL, 0);
    // Setting SIG_IGN after the child died does not reap the zombie.
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) _exit(4);
    memset(&wi, 0, sizeof wi);
    waitid(P_PID, c, &wi, WEXITED | WNOWAIT);
    set_handler(SIGCHLD, SIG_IGN, 0);
    int st = 0;
    CHECK("zombie from before SIG_IGN", waitpid(c, &st, 0) == c);
    show_exit("status", st);
    set_handler(SIGCHLD, SIG_DFL, 0);
}

static volatile int pipe_hits, pipe_code, pipe_pid_ok;
static void pipe_handler(int sig, siginfo_t *si, void *uc) {
    pipe_hits++;
    pipe_code = si->si_code;
    pipe_pid_ok = si->si_pid == getpid();
}

static void sigpipe(void) {
    printf("-- SIGPIPE\n");
    int p[2], st;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        set_handler(SIGPIPE, SIG_DFL, 0);
        pipe(p);
        close(p[0]);
        write(p[1], "x", 1);
        _exit(0);
    }
    waitpid(c, &st, 0);
    show_exit("write to a pipe with no reader", st);

    set_handler(SIGPIPE, SIG_IGN, 0);
    pipe(p);
    close(p[0]);
    CHECK("write with SIGPIPE ignored", write(p[1], "x", 1));
    set_handler(SIGPIPE, pipe_handler, SA_SIGINFO);
    CHECK("write with a SIGPIPE handler", write(p[1], "x", 1));
    printf("handler ran %d, code %d, pid is mine %d\n", pipe_hits, pipe_code, pipe_pid_ok);
    set_handler(SIGPIPE, SIG_DFL, 0);
    mask_signal(SIGPIPE, SIG_BLOCK);
    CHECK("write with SIGPIPE blocked", write(p[1], "x", 1));
    printf("SIGPIPE pending %d\n", is_pending(SIGPIPE));
    set_handler(SIGPIPE, SIG_IGN, 0);
    printf("SIGPIPE pending after SIG_IGN %d\n", is_pending(SIGPIPE));
    mask_signal(SIGPIPE, SIG_UNBLOCK);
    set_handler(SIGPIPE, SIG_DFL, 0);
    close(p[1]);
}

static volatile int term_hits;
static void term_handler(int sig) { term_hits++; }

static void groups(void) {
    printf("-- process groups\n");
    int ready[2];
    pipe(ready);
    int report[2];
    pipe(report);
    pid_t kids[3], pgid = 0;
    for (int i = 0; i < 3; i++) {
        fflush(stdout);
        kids[i] = fork();
        if (kids[i] == 0) {
            setpgid(0, pgid);
            if (i == 1) set_handler(SIGTERM, empty_handler, 0);
            if (i == 2) set_handler(SIGTERM, SIG_IGN, 0);
            // Blocked until the wait below: a SIGTERM that comes early is
            // not lost before the child waits for it.
            sigset_t term, old;
            sigemptyset(&term);
            sigaddset(&term, SIGTERM);
            sigprocmask(SIG_BLOCK, &term, &old);
            write(ready[1], "r", 1);
            sigsuspend(&old);
            if (i == 1) {
                write(report[1], "B", 1);
                _exit(20);
            }
            _exit(30 + i);
        }
        if (i == 0) pgid = kids[0];
        CHECK("parent setpgid", setpgid(kids[i], pgid));
    }
    for (int i = 0; i < 3; i++) expect_byte(ready[0], 'r');
    printf("same group %d %d %d\n", getpgid(kids[0]) == pgid, getpgid(kids[1]) == pgid, getpgid(kids[2]) == pgid);
    printf("group differs from mine %d\n", getpgid(kids[0]) != getpgrp());
    CHECK("kill(-pgid, 0)", kill(-pgid, 0));
    CHECK("kill(-pgid, TERM)", kill(-pgid, SIGTERM));
    int st;
    waitpid(kids[0], &st, 0);
    show_exit("default TERM", st);
    waitpid(kids[1], &st, 0);
    show_exit("TERM handler", st);
    expect_byte(report[0], 'B');
    CHECK("ignoring one still running", waitpid(kids[2], &st, WNOHANG));
    CHECK("killpg KILL", killpg(pgid, SIGKILL));
    waitpid(kids[2], &st, 0);
    show_exit("ignoring one", st);
    CHECK("kill empty group", kill(-pgid, 0));
    CHECK("killpg bad group", killpg(-5, 0));
    close(ready[0]);
    close(ready[1]);
    close(report[0]);
    close(report[1]);

    // kill(0, sig) from a group leader reaches itself and its own child:
    // it exits 10 (its handler ran) + 5 (the child died of SIGTERM).
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        setpgid(0, 0);
        pid_t g = fork();
        if (g == 0) {
            for (;;) pause();
        }
        term_hits = 0;
        set_handler(SIGTERM, term_handler, 0);
        kill(0, SIGTERM);
        int gs;
        waitpid(g, &gs, 0);
        _exit((term_hits == 1 ? 10 : 0) + (WIFSIGNALED(gs) && WTERMSIG(gs) == SIGTERM ? 5 : 0));
    }
    waitpid(c, &st, 0);
    show_exit("kill(0, TERM) from a group leader", st);
}

static void pdeathsig(void) {
    printf("-- PR_SET_PDEATHSIG with a subreaper\n");
    CHECK("PR_SET_CHILD_SUBREAPER", prctl(PR_SET_CHILD_SUBREAPER, 1));
    int p[2];
    pipe(p);
    pid_t me = getpid();
    fflush(stdout);
    pid_t mid = fork();
    if (mid == 0) {
        pid_t g = fork();
        if (g == 0) {
            prctl(PR_SET_PDEATHSIG, SIGUSR1);
            int sig = 0;
            prctl(PR_GET_PDEATHSIG, &sig);
            write(p[1], &sig, sizeof sig);
            // USR1 kills it once the middle process exits; its new parent
            // is the subreaper.
            for (;;) pause();
        }
        int sig;
        read(p[0], &sig, sizeof sig);
        _exit(sig == SIGUSR1 ? 0 : 1);
    }
    int st;
    waitpid(mid, &st, 0);
    show_exit("middle process", st);
    siginfo_t wi;
    memset(&wi, 0, sizeof wi);
    CHECK("waitid the orphan", waitid(P_ALL, 0, &wi, WEXITED));
    printf("orphan: code %d status %d\n", wi.si_code, wi.si_status);
    CHECK("no more children", wait(NULL));
    close(p[0]);
    close(p[1]);
    (void)me;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    alarm(20);
    struct rlimit rl;
    getrlimit(RLIMIT_CORE, &rl);
    rl.rlim_cur = 0;
    setrlimit(RLIMIT_CORE, &rl);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    set_handler(SIGCHLD, SIG_DFL, 0);
    exits_and_kills();
    stop_continue();
    waitid_tests();
    autoreap();
    sigpipe();
    groups();
    pdeathsig();
    printf("done\n");
    return 0;
}
