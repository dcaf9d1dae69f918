// execve and execveat: argv and envp, the pid, close-on-exec, signal state,
// cwd and umask across exec; #! scripts; exec from vfork, from a second
// thread and through posix_spawn; and execve's errors.
//
// The program re-executes itself: argv[1] selects a child mode. Paths under
// the work directory and the program's own path are printed as $DIR and $SELF.
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/close_range.h>

extern char **environ;

static const char *self, *dir;

// Prints s with the work directory and the program's path abbreviated.
static void pr(const char *s) {
    size_t sl = self ? strlen(self) : 0, dl = dir ? strlen(dir) : 0;
    if (!s) {
        printf("(null)");
        return;
    }
    while (*s) {
        if (sl && !strncmp(s, self, sl)) {
            printf("$SELF");
            s += sl;
        } else if (dl && !strncmp(s, dir, dl)) {
            printf("$DIR");
            s += dl;
        } else {
            putchar(*s++);
        }
    }
}


static const char *disp(void *h) {
    return h == (void *)SIG_DFL ? "SIG_DFL" : h == (void *)SIG_IGN ? "SIG_IGN" : "handler";
}

struct ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long mask;
};

static int child_mode(int argc, char **argv) {
    const char *mode = argv[1];
    if (!strcmp(mode, "report") || !strcmp(mode, "scriptmode") || !strcmp(mode, "spaced arg") ||
        (dir && !strncmp(mode, dir, strlen(dir))) || !strncmp(mode, "/dev/fd/", 8)) {
        printf("  argc %d\n", argc);
        for (int i = 0; i < argc; i++) {
            printf("  argv[%d] '", i);
            pr(argv[i]);
            printf("'\n");
        }
        for (char **e = environ; *e; e++) {
            printf("  env '");
            pr(*e);
            printf("'\n");
        }
        printf("  AT_EXECFN '");
        pr((const char *)getauxval(AT_EXECFN));
        printf("'\n");
        char exe[4096] = {0};
        readlink("/proc/self/exe", exe, sizeof exe - 1);
        printf("  /proc/self/exe is $SELF %d\n", self && !strcmp(exe, self));
        return 0;
    }
    if (!strcmp(mode, "pid")) {
        printf("  pid kept %d, ppid kept %d, tid == pid %d\n", getpid() == atoi(argv[2]),
               getppid() == atoi(argv[3]), gettid() == getpid());
        return 0;
    }
    if (!strcmp(mode, "exit")) return atoi(argv[2]);
    if (!strcmp(mode, "raise")) {
        raise(atoi(argv[2]));
        return 99;
    }
    if (!strcmp(mode, "fds")) {
        for (int fd = 10; fd <= 16; fd++) {
            char l[32];
            snprintf(l, sizeof l, "  F_GETFD %d", fd);
            CHECK(l, fcntl(fd, F_GETFD));
        }
        CHECK("  offset of 10", lseek(10, 0, SEEK_CUR));
        CHECK("  O_APPEND on 10", (fcntl(10, F_GETFL) & O_APPEND) != 0);
        CHECK("  write to inherited pipe", write(14, "p", 1));
        return 0;
    }
    if (!strcmp(mode, "signals")) {
        int sigs[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGTERM};
        for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) {
            struct ksigaction ka;
            syscall(SYS_rt_sigaction, sigs[i], NULL, &ka, 8);
            printf("  %s: %s flags %#lx mask %#lx\n", strsignal(sigs[i]), disp(ka.handler), ka.flags, ka.mask);
        }
        sigset_t m, p;
        sigprocmask(SIG_BLOCK, NULL, &m);
        sigpending(&p);
        printf("  blocked: HUP %d USR1 %d USR2 %d TERM %d\n", sigismember(&m, SIGHUP), sigismember(&m, SIGUSR1),
               sigismember(&m, SIGUSR2), sigismember(&m, SIGTERM));
        printf("  pending: HUP %d USR1 %d\n", sigismember(&p, SIGHUP), sigismember(&p, SIGUSR1));
        stack_t ss;
        sigaltstack(NULL, &ss);
        printf("  altstack disabled %d\n", (ss.ss_flags & SS_DISABLE) != 0);
        fflush(stdout);
        // The pending SIGHUP, default again, ends the process.
        sigprocmask(SIG_UNBLOCK, &m, NULL);
        printf("  survived\n");
        return 0;
    }
    if (!strcmp(mode, "cwd")) {
        char cwd[4096];
        printf("  cwd '");
        pr(getcwd(cwd, sizeof cwd));
        printf("'\n");
        mode_t u = umask(0);
        printf("  umask %03o\n", u);
        return 0;
    }
    if (!strcmp(mode, "wait-stdin")) {
        char b;
        while (read(0, &b, 1) > 0) {
        }
        return 5;
    }
    if (!strcmp(mode, "hello")) {
        printf("hello from the spawned child\n");
        return 0;
    }
    printf("  unknown mode '");
    pr(mode);
    printf("'\n");
    return 100;
}

static char **env;

static void run_child(const char *label, char *const *args) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        execve(self, args, env);
        printf("  execve failed: %s\n", errname(errno));
        _exit(127);
    }
    int st;
    waitpid(c, &st, 0);
    show_exit(label, st);
}

static void write_file(const char *name, const char *data, size_t len, mode_t mode) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    write(fd, data, len);
    close(fd);
    chmod(p, mode);
}

static char *path_in(const char *name) {
    static char bufs[8][4200];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, 4200, "%s/%s", dir, name);
    return p;
}

static int ex(const char *path) {
    char *args[] = {(char *)self, "exit", "0", NULL};
    return execve(path, args, env);
}

static void never_called(int sig) {
    (void)sig;
}

static void *exec_from_thread(void *arg) {
    char **args = arg;
    execve(self, args, env);
    _exit(126);
}

int main(int argc, char **argv) {
    alarm(10);
    dir = getenv("RVDIR");
    self = getenv("RVSELF");
    if (argc > 1) return child_mode(argc, argv);

    char selfbuf[4096] = {0};
    if (strchr(argv[0], '/'))
        realpath(argv[0], selfbuf);
    else
        readlink("/proc/self/exe", selfbuf, sizeof selfbuf - 1);
    self = selfbuf;
    static char dirbuf[64];
    snprintf(dirbuf, sizeof dirbuf, "/tmp/rvisor-exec-%d", getpid());
    dir = dirbuf;
    mkdir(dir, 0755);
    static char e1[4200], e2[4200];
    snprintf(e1, sizeof e1, "RVDIR=%s", dir);
    snprintf(e2, sizeof e2, "RVSELF=%s", self);
    char *envv[] = {e1, e2, "FOO=bar", "EMPTY=", "NOEQUALS", NULL};
    env = envv;
    int st;

    printf("-- argv and envp\n");
    run_child("report", (char *[]){"custom-argv0", "report", "one", "two words", "", "--x=y", NULL});
    {
        char *only[] = {e1, e2, NULL};
        char *args[] = {(char *)self, "report", NULL};
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            execve(self, args, only);
            _exit(127);
        }
        waitpid(c, &st, 0);
        show_exit("report with a small env", st);
    }

    printf("-- pid and status\n");
    {
        char pid[16], ppid[16];
        snprintf(ppid, sizeof ppid, "%d", getpid());
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            snprintf(pid, sizeof pid, "%d", getpid());
            execve(self, (char *[]){(char *)self, "pid", pid, ppid, NULL}, env);
            _exit(127);
        }
        waitpid(c, &st, 0);
        show_exit("pid", st);
    }
    run_child("exit 42", (char *[]){(char *)self, "exit", "42", NULL});
    run_child("exit 0", (char *[]){(char *)self, "exit", "0", NULL});
    run_child("raise SIGTERM", (char *[]){(char *)self, "raise", "15", NULL});

    printf("-- close-on-exec\n");
    {
        write_file("data", "abcdefgh", 8, 0644);
        fflush(stdout);
        int p[2];
        pipe(p);
        pid_t c = fork();
        if (c == 0) {
            int fd = open(path_in("data"), O_RDWR);
            dup2(fd, 10);
            close(fd);
            lseek(10, 3, SEEK_SET);
            fcntl(10, F_SETFL, O_APPEND);
            dup2(10, 11);
            fcntl(11, F_SETFD, FD_CLOEXEC);
            fd = open(path_in("data"), O_RDONLY | O_CLOEXEC);
            dup2(fd, 12); // dup2 clears the flag on the copy
            fcntl(12, F_SETFD, FD_CLOEXEC);
            close(fd);
            fcntl(10, F_DUPFD_CLOEXEC, 13);
            dup2(p[1], 14);
            dup2(10, 15);
            syscall(SYS_close_range, 15, 15, CLOSE_RANGE_CLOEXEC);
            dup3(10, 16, O_CLOEXEC);
            close(p[0]);
            close(p[1]);
            execve(self, (char *[]){(char *)self, "fds", NULL}, env);
            _exit(127);
        }
        close(p[1]);
        waitpid(c, &st, 0);
        show_exit("fds", st);
        char b[4] = {0};
        CHECK("parent reads what the exec'd child wrote", read(p[0], b, sizeof b));
        close(p[0]);
    }

    printf("-- signal state\n");
    {
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = never_called;
            sa.sa_flags = SA_RESTART | SA_NODEFER;
            sigaddset(&sa.sa_mask, SIGTERM);
            sigaction(SIGUSR1, &sa, NULL);
            sigaction(SIGHUP, &sa, NULL);
            sa.sa_handler = SIG_IGN;
            sigaction(SIGUSR2, &sa, NULL);
            signal(SIGPIPE, SIG_IGN);
            sigset_t m;
            sigemptyset(&m);
            sigaddset(&m, SIGHUP);
            sigaddset(&m, SIGUSR1);
            sigprocmask(SIG_BLOCK, &m, NULL);
            raise(SIGHUP);
            static char alt[65536];
            stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
            sigaltstack(&ss, NULL);
            execve(self, (char *[]){(char *)self, "signals", NULL}, env);
            _exit(127);
        }
        waitpid(c, &st, 0);
        show_exit("signals", st);
    }

    printf("-- cwd and umask\n");
    {
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            chdir(dir);
            umask(027);
            execve(self, (char *[]){(char *)self, "cwd", NULL}, env);
            _exit(127);
        }
        waitpid(c, &st, 0);
        show_exit("cwd", st);
    }

    printf("-- execve errors\n");
    write_file("plain", "plain text\n", 11, 0644);
    write_file("garbage", "this is not a program\n", 22, 0755);
    write_file("empty", "", 0, 0755);
    write_file("hashbang-only", "#!\n", 3, 0755);
    write_file("hashbang-spaces", "#!   \n", 6, 0755);
    char elf[64] = {0x7f, 'E', 'L', 'F'};
    write_file("badelf", elf, sizeof elf, 0755);
    write_file("short", "\x7f", 1, 0755);
    write_file("badinterp", "#!/nonexistent/interp\n", 22, 0755);
    char line[4300];
    int n = snprintf(line, sizeof line, "#!%s\n", path_in("plain"));
    write_file("plaininterp", line, n, 0755);
    symlink("loop", path_in("loop"));
    CHECK("missing", ex(path_in("missing")));
    CHECK("empty path", ex(""));
    CHECK("missing directory", ex(path_in("nodir/x")));
    CHECK("not executable", ex(path_in("plain")));
    CHECK("directory", ex(dir));
    CHECK("directory with slash", ex(path_in("")));
    CHECK("through a file", ex(path_in("plain/x")));
    CHECK("garbage", ex(path_in("garbage")));
    CHECK("empty file", ex(path_in("empty")));
    CHECK("one byte", ex(path_in("short")));
    CHECK("#! alone", ex(path_in("hashbang-only")));
    CHECK("#! and spaces", ex(path_in("hashbang-spaces")));
    CHECK("bad ELF header", ex(path_in("badelf")));
    CHECK("missing interpreter", ex(path_in("badinterp")));
    CHECK("interpreter not executable", ex(path_in("plaininterp")));
    CHECK("symlink loop", ex(path_in("loop")));
    static char longp[5000];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    CHECK("path too long", ex(longp));
    char longc[400];
    snprintf(longc, sizeof longc, "%s/", dir);
    memset(longc + strlen(longc), 'c', 300);
    longc[strlen(dir) + 301] = 0;
    CHECK("component too long", ex(longc));
    CHECK("bad path pointer", syscall(SYS_execve, (char *)8, (char *[]){NULL}, env));
    CHECK("bad argv pointer", syscall(SYS_execve, self, (char **)8, env));
    CHECK("bad argv element", syscall(SYS_execve, self, (char *[]){(char *)self, (char *)8, NULL}, env));
    CHECK("bad envp pointer", syscall(SYS_execve, self, (char *[]){(char *)self, NULL}, (char **)8));
    CHECK("bad envp element", syscall(SYS_execve, self, (char *[]){(char *)self, NULL}, (char *[]){(char *)8, NULL}));
    static char huge[200000];
    memset(huge, 'h', sizeof huge - 1);
    CHECK("argument longer than 128 KiB", execve(self, (char *[]){(char *)self, huge, NULL}, env));
    {
        int w = open(path_in("garbage"), O_WRONLY);
        CHECK("open for writing", w >= 0);
        CHECK("file open for writing", ex(path_in("garbage")));
        close(w);
    }

    printf("-- execveat errors\n");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    dup2(dfd, 25);
    close(dfd);
    dfd = 25;
    int plainfd = open(path_in("plain"), O_RDONLY);
    char *xargs[] = {(char *)self, "exit", "0", NULL};
    CHECK("bad flags", syscall(SYS_execveat, AT_FDCWD, self, xargs, env, 0x1));
    CHECK("directory fd, AT_EMPTY_PATH", syscall(SYS_execveat, dfd, "", xargs, env, AT_EMPTY_PATH));
    CHECK("empty path without AT_EMPTY_PATH", syscall(SYS_execveat, dfd, "", xargs, env, 0));
    CHECK("non-executable fd", syscall(SYS_execveat, plainfd, "", xargs, env, AT_EMPTY_PATH));
    CHECK("bad fd", syscall(SYS_execveat, 99, "", xargs, env, AT_EMPTY_PATH));
    CHECK("bad dirfd, relative", syscall(SYS_execveat, 99, "x", xargs, env, 0));
    CHECK("file as dirfd, relative", syscall(SYS_execveat, plainfd, "x", xargs, env, 0));
    symlink(self, path_in("link"));
    CHECK("AT_SYMLINK_NOFOLLOW on a symlink", syscall(SYS_execveat, dfd, "link", xargs, env, AT_SYMLINK_NOFOLLOW));
    CHECK("relative missing", syscall(SYS_execveat, dfd, "missing", xargs, env, 0));
    close(plainfd);

    printf("-- execveat\n");
    {
        int fd = open(self, O_RDONLY);
        dup2(fd, 20);
        close(fd);
        fd = open(self, O_PATH);
        dup2(fd, 21);
        close(fd);
        fd = open(self, O_RDONLY | O_CLOEXEC);
        dup3(fd, 22, O_CLOEXEC);
        close(fd);
        struct {
            const char *label;
            int fd;
            const char *path;
            int flags;
        } cases[] = {
            {"O_RDONLY fd, AT_EMPTY_PATH", 20, "", AT_EMPTY_PATH},
            {"O_PATH fd, AT_EMPTY_PATH", 21, "", AT_EMPTY_PATH},
            {"O_CLOEXEC fd, AT_EMPTY_PATH", 22, "", AT_EMPTY_PATH},
            {"dirfd and a relative symlink", dfd, "link", 0},
            {"AT_FDCWD and an absolute path", AT_FDCWD, self, 0},
        };
        for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
            printf("%s:\n", cases[i].label);
            fflush(stdout);
            pid_t c = fork();
            if (c == 0) {
                syscall(SYS_execveat, cases[i].fd, cases[i].path,
                        (char *[]){"execveat-argv0", "report", NULL}, env, cases[i].flags);
                printf("  failed: %s\n", errname(errno));
                _exit(127);
            }
            waitpid(c, &st, 0);
            show_exit("  status", st);
        }
        close(20);
        close(21);
        close(22);
    }
    printf("through a symlink:\n");
    fflush(stdout);
    if (fork() == 0) {
        execve(path_in("link"), (char *[]){"link-argv0", "report", NULL}, env);
        _exit(127);
    }
    wait(&st);
    show_exit("  status", st);

    printf("-- scripts\n");
    {
        n = snprintf(line, sizeof line, "#!%s scriptmode\n", self);
        write_file("s1", line, n, 0755);
        n = snprintf(line, sizeof line, "#! \t%s \t spaced arg \t \nignored\n", self);
        write_file("s2", line, n, 0755);
        n = snprintf(line, sizeof line, "#!%s\n", self);
        write_file("s3", line, n, 0755);
        n = snprintf(line, sizeof line, "#!%s\n", path_in("s1"));
        write_file("s4", line, n, 0755);
        n = snprintf(line, sizeof line, "#!%s scriptmode", self);
        write_file("s5", line, n, 0755);
        n = snprintf(line, sizeof line, "#!%s scriptmode\n", self);
        write_file("s6", line, n, 0644);
        const char *names[] = {"s1", "s2", "s3", "s4", "s5"};
        for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
            printf("%s:\n", names[i]);
            fflush(stdout);
            pid_t c = fork();
            if (c == 0) {
                execve(path_in(names[i]), (char *[]){"script-argv0", "one", "two", NULL}, env);
                printf("  failed: %s\n", errname(errno));
                _exit(127);
            }
            waitpid(c, &st, 0);
            show_exit("  status", st);
        }
        CHECK("script without x bit", execve(path_in("s6"), (char *[]){"x", NULL}, env));
        int sfd = open(path_in("s1"), O_RDONLY);
        dup2(sfd, 23);
        dup3(sfd, 24, O_CLOEXEC);
        close(sfd);
        printf("s1 by fd:\n");
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            syscall(SYS_execveat, 23, "", (char *[]){"fd-argv0", "one", NULL}, env, AT_EMPTY_PATH);
            printf("  failed: %s\n", errname(errno));
            _exit(127);
        }
        waitpid(c, &st, 0);
        show_exit("  status", st);
        CHECK("s1 by O_CLOEXEC fd", syscall(SYS_execveat, 24, "", (char *[]){"x", NULL}, env, AT_EMPTY_PATH));
        close(23);
        close(24);
    }

    printf("-- vfork and exec\n");
    {
        int p[2];
        pipe2(p, O_CLOEXEC);
        fflush(stdout);
        pid_t c = vfork();
        if (c == 0) {
            dup2(p[0], 0);
            execve(self, (char *[]){(char *)self, "wait-stdin", NULL}, env);
            _exit(127);
        }
        close(p[0]);
        // Resumed by the exec: the child is still reading our pipe.
        CHECK("child still running", waitpid(c, &st, WNOHANG));
        close(p[1]);
        waitpid(c, &st, 0);
        show_exit("wait-stdin", st);
        volatile int err = 0;
        fflush(stdout);
        c = vfork();
        if (c == 0) {
            execve(path_in("missing"), (char *[]){"x", NULL}, env);
            err = errno;
            _exit(127);
        }
        waitpid(c, &st, 0);
        show_exit("vfork, failed exec", st);
        printf("errno seen through vfork's shared memory: %s\n", errname(err));
    }

    printf("-- posix_spawn\n");
    {
        pid_t c;
        char *args[] = {(char *)self, "exit", "9", NULL};
        CHECK("posix_spawn", posix_spawn(&c, self, NULL, NULL, args, env));
        waitpid(c, &st, 0);
        show_exit("spawned", st);
        int r = posix_spawn(&c, path_in("missing"), NULL, NULL, args, env);
        printf("posix_spawn missing: %s\n", errname(r));
        if (r == 0) waitpid(c, &st, 0);
        r = posix_spawn(&c, path_in("garbage"), NULL, NULL, args, env);
        printf("posix_spawn garbage: %s\n", errname(r));
        if (r == 0) waitpid(c, &st, 0);
        int p[2];
        pipe(p);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        posix_spawn_file_actions_addclose(&fa, p[0]);
        fflush(stdout);
        CHECK("posix_spawn with dup2",
              posix_spawn(&c, self, &fa, NULL, (char *[]){(char *)self, "hello", NULL}, env));
        close(p[1]);
        char buf[128] = {0};
        long got = 0, k;
        while ((k = read(p[0], buf + got, sizeof buf - 1 - got)) > 0) got += k;
        close(p[0]);
        printf("captured: %s", buf);
        waitpid(c, &st, 0);
        show_exit("hello", st);
        posix_spawn_file_actions_destroy(&fa);
    }

    printf("-- exec from a second thread\n");
    {
        char pid[16], ppid[16];
        snprintf(ppid, sizeof ppid, "%d", getpid());
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            snprintf(pid, sizeof pid, "%d", getpid());
            static char *args[5];
            args[0] = (char *)self;
            args[1] = "pid";
            args[2] = pid;
            args[3] = ppid;
            pthread_t t;
            pthread_create(&t, NULL, exec_from_thread, args);
            for (;;) pause();
        }
        waitpid(c, &st, 0);
        show_exit("exec from thread", st);
    }

    printf("-- cleanup\n");
    const char *files[] = {"data", "plain", "garbage", "empty", "hashbang-only", "hashbang-spaces", "badelf", "short",
                           "badinterp", "plaininterp", "loop", "link", "s1", "s2", "s3", "s4", "s5", "s6"};
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++) unlink(path_in(files[i]));
    close(dfd);
    CHECK("rmdir", rmdir(dir));
    return 0;
}
