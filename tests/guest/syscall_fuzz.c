// Random system calls with hostile arguments. Run only under rVisor: natively,
// as root, this could do anything. The application may well kill itself (it
// unmaps its own code, say); the Sentry must never panic, hang or die.
//
//   syscall_fuzz SEED CALLS
//       one process, CALLS random calls from SEED (tests/cli.rs).
//   syscall_fuzz --seconds S --procs P --seed N [--calls C] [--deadline-ms D]
//       P workers for S seconds (scripts/fuzz.sh). Each worker takes seeds
//       N*1000003 + w, + P, + 2P, ... and runs each seed's batch in a fresh
//       child, in a process group of its own, with up to 3 more threads. The
//       batch may also block, fork, vfork, exec, signal its own group and
//       exit, so a seed may end however it likes: the worker kills the group
//       with SIGKILL D ms after the fork. A child that SIGKILL does not end is
//       the Sentry's hang, and the worker says so on stderr (and waits on, so
//       the run hangs and the script sees it). At the end the parent prints
//       how many calls were made and exits 0.
//   syscall_fuzz --exec SEED
//       what the timed batches exec: a shorter batch of the same kind.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static __thread uint64_t state;
static uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static char *buf;
static uint64_t pool[40];
static int npool;

// Timed mode only.
static int timed;
static uint64_t *counter; // shared with the parent (MAP_SHARED), or NULL
static int forks_left;
static uint64_t cur_seed;
#define MAX_THREADS 4
static pid_t tids[MAX_THREADS];
static int ntids;

static void setup(void) {
    buf = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // One fd of each kind, so random calls meet every file type (fds 3..).
    open("/proc/self/maps", O_RDONLY);
    open("/tmp", O_RDONLY | O_DIRECTORY);
    open("/dev/null", O_RDWR);
    open("/etc/passwd", O_RDONLY);
    open("/tmp/fuzz-file", O_RDWR | O_CREAT, 0600);
    syscall(SYS_memfd_create, "fuzz", 0);
    syscall(SYS_eventfd2, 1, O_NONBLOCK);
    syscall(SYS_epoll_create1, 0);
    syscall(SYS_inotify_init1, O_NONBLOCK);
    int p[2];
    // Timed batches may block: their pipe blocks too, so that a read waits
    // for a writer that another thread, or a kill, has to end.
    pipe2(p, timed ? 0 : O_NONBLOCK);
    uint64_t init[] = {
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 24, 64, 4095, 4096, 65536, 1 << 20, (uint64_t)-1, (uint64_t)-4096,
        0x7fffffff, 0x80000000, 0xffffffff, 0x7ffffffff000, 0x800000000000, 0xffffffffff600000,
        (uint64_t)buf, (uint64_t)buf + 4096, (uint64_t)buf + 65535, (uint64_t)buf - 4096, 0x10, 0x400000,
    };
    npool = sizeof init / sizeof *init;
    memcpy(pool, init, sizeof init);
}

static int is_excluded(long nr) {
    return nr == SYS_nanosleep || nr == SYS_clock_nanosleep || nr == SYS_pause || nr == SYS_poll || nr == SYS_ppoll ||
           nr == SYS_select || nr == SYS_pselect6 || nr == SYS_futex || nr == SYS_epoll_wait || nr == SYS_epoll_pwait ||
           nr == SYS_epoll_pwait2 || nr == SYS_rt_sigsuspend || nr == SYS_rt_sigtimedwait || nr == SYS_wait4 ||
           nr == SYS_waitid || nr == SYS_exit || nr == SYS_exit_group || nr == SYS_kill || nr == SYS_tkill ||
           nr == SYS_tgkill || nr == SYS_rt_sigreturn || nr == SYS_munmap || nr == SYS_mremap || nr == SYS_fork ||
           nr == SYS_vfork || nr == SYS_clone || nr == SYS_clone3;
}

static void count(void) {
    if (counter) __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static pid_t some_tid(void) {
    int n = ntids;
    return n ? tids[next() % n] : getpid();
}

static void exec_self(void) {
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)next());
    char *argv[] = {"syscall_fuzz", "--exec", seed, NULL};
    execve("/proc/self/exe", argv, environ);
}

// What a vfork child does before its parent may go on. (It signals its
// parent by the pid it had: if the parent dies meanwhile, getppid() would
// name the sandbox's first process.)
static void vfork_child(pid_t parent) {
    switch (next() % 4) {
    case 0:
        _exit((int)(next() % 256));
    case 1:
        exec_self();
        _exit(127);
    case 2:
        execve("/nonexistent", (char *[]){"x", NULL}, environ);
        _exit(127);
    default:
        kill(parent, (int)(next() % 65));
        _exit(0);
    }
}

// Timed mode: the calls that make processes, wait, signal or exit are made
// too, at a lower rate, and pointed at this batch's own processes. Returns 1
// when the call was made here (or is to be skipped), 0 to make it as drawn.
static int special(long nr, uint64_t *a) {
    int rare = next() % 8 == 0;
    switch (nr) {
    // Calls that wait: the worker's kill ends a wait that nothing else does.
    case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_pause: case SYS_poll: case SYS_ppoll: case SYS_select:
    case SYS_pselect6: case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_epoll_pwait2: case SYS_rt_sigsuspend:
    case SYS_rt_sigtimedwait: case SYS_wait4: case SYS_waitid:
        return !rare;
    case SYS_futex:
        // Futex words in the scratch buffer, shared by the batch's threads.
        if (next() % 2) a[0] = (uint64_t)buf + (next() % 8) * 4;
        return !rare;
    case SYS_exit: case SYS_exit_group: case SYS_rt_sigreturn:
        return next() % 16 != 0;
    // Signals stay within the batch: its group, its processes, its threads.
    case SYS_kill:
        a[0] = next() % 2 ? 0 : (uint64_t)getpid();
        return 0;
    case SYS_tkill:
        a[0] = (uint64_t)some_tid();
        return 0;
    case SYS_tgkill:
        a[0] = (uint64_t)getpid();
        a[1] = (uint64_t)some_tid();
        return 0;
    case SYS_munmap: case SYS_mremap:
        a[0] = (uint64_t)buf + (next() % 16) * 4096;
        a[4] = (uint64_t)buf + (next() % 16) * 4096;
        return 0;
    case SYS_fork: case SYS_clone: case SYS_clone3:
        if (forks_left <= 0 || !rare) return 1;
        forks_left--;
        {
            // A process copy (never a shared stack), sharing what the drawn
            // flags ask of files and fs; any exit signal.
            // (A CLONE_PARENT child signals the worker: SIGCHLD, as Linux
            // gives it the exit signal of its creator's group leader.)
            uint64_t flags = a[0] & (CLONE_FILES | CLONE_FS | CLONE_SYSVSEM | CLONE_PARENT);
            flags |= next() % 4 == 0 && !(flags & CLONE_PARENT) ? next() % 65 : SIGCHLD;
            count();
            long r = syscall(SYS_clone, flags, 0, 0, 0, 0);
            if (r == 0) {
                state ^= (uint64_t)getpid() * 0x9e3779b97f4a7c15u;
                ntids = 0;
            }
        }
        return 1;
    case SYS_vfork:
        if (!rare) return 1;
        count();
        {
            pid_t me = getpid();
            if (vfork() == 0) vfork_child(me);
        }
        return 1;
    case SYS_execve: case SYS_execveat:
        if (next() % 8 == 0) {
            count();
            exec_self();
        }
        return 0;
    case SYS_rt_sigqueueinfo: case SYS_pidfd_open: case SYS_prlimit64: case SYS_process_vm_writev: case SYS_ptrace:
        a[nr == SYS_ptrace ? 1 : 0] = (uint64_t)getpid();
        return 0;
    case SYS_rt_tgsigqueueinfo:
        a[0] = (uint64_t)getpid();
        a[1] = (uint64_t)some_tid();
        return 0;
    // Leaving the process group would escape the worker's kill.
    case SYS_setsid: case SYS_setpgid:
        return 1;
    }
    return 0;
}

static void fuzz(int calls) {
    for (int i = 0; i < calls; i++) {
        long nr = next() % 470;
        uint64_t a[6];
        if (!timed) {
            // Leave the process alive long enough to matter, and awake: calls
            // that wait (a random pointer makes a fine timespec for a sleep of
            // years, and nothing can wake a one-thread process) block on Linux
            // too. Calls that make processes are left out as well: every child
            // fuzzes on.
            if (is_excluded(nr)) continue;
        }
        for (int j = 0; j < 6; j++) {
            uint64_t r = next();
            a[j] = (r & 3) == 0 ? next() : pool[r % npool];
        }
        // Calls that change memory only ever touch the scratch buffer, so the
        // run goes on; their other arguments stay hostile.
        if (nr == SYS_mprotect || nr == SYS_madvise) a[0] = (uint64_t)buf + (next() % 16) * 4096;
        if (nr == SYS_mmap && (a[3] & 0x10)) a[0] = (uint64_t)buf + (next() % 16) * 4096;
        if (nr == SYS_brk) a[0] = 0;
        // No FIFOs: opening one for writing waits for a reader, forever.
        if (nr == SYS_mknod) a[1] &= ~(uint64_t)0170000;
        if (nr == SYS_mknodat) a[2] &= ~(uint64_t)0170000;
        if (timed && special(nr, a)) continue;
        count();
        long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        // A new fd (a pipe, an eventfd, an inotify fd) is made non-blocking:
        // a read of an empty one would wait forever, on Linux too.
        if (r >= 3 && r < 4096 && !timed) fcntl((int)r, F_SETFL, O_NONBLOCK);
        // Keep stdout and stderr usable.
        if (nr == SYS_close || nr == SYS_dup2 || nr == SYS_dup3 || nr == SYS_fcntl || nr == SYS_ioctl) {
            mprotect(buf, 1 << 16, PROT_READ | PROT_WRITE);
        }
    }
}

struct thread_arg {
    uint64_t seed;
    int calls;
    int index;
};

static void *thread_main(void *p) {
    struct thread_arg *t = p;
    tids[t->index] = gettid();
    state = t->seed;
    fuzz(t->calls);
    return NULL;
}

// One timed batch: the body of a worker's child (or of an exec'd image).
static void batch(uint64_t seed, int calls) {
    state = seed * 2654435761u + 1;
    timed = 1;
    forks_left = 2;
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
    setup();
    tids[ntids++] = getpid();
    int threads = (int)(next() % MAX_THREADS);
    static struct thread_arg args[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        args[i].seed = next() | 1;
        args[i].calls = calls;
        args[i].index = ntids;
        tids[ntids] = getpid(); // until the thread says its own
        pthread_t t;
        if (pthread_create(&t, NULL, thread_main, &args[i]) == 0) ntids++;
    }
    fuzz(calls);
    syscall(SYS_exit_group, 0);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Waits for `pid` until `deadline` (or for ever when 0); reaps any other child
// met on the way (CLONE_PARENT children are the worker's). 1 when pid ended.
static int wait_until(pid_t pid, double deadline) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        pid_t r;
        int st;
        while ((r = waitpid(-1, &st, WNOHANG | __WALL)) > 0)
            if (r == pid) return 1;
        if (r < 0 && errno == ECHILD) return 1;
        double left = deadline - now();
        if (deadline && left <= 0) return 0;
        if (!deadline) left = 1;
        struct timespec ts = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
        sigtimedwait(&chld, NULL, &ts);
    }
}

struct shared {
    uint64_t calls;
    uint64_t seeds;
    uint64_t killed;
    // Signals that reached the harness (the parent, a worker): by number,
    // with the last sender and si_code.
    uint64_t stray[65];
    int32_t stray_pid[65];
    int32_t stray_code[65];
};

static struct shared *harness;

static void stray(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    __atomic_fetch_add(&harness->stray[sig], 1, __ATOMIC_RELAXED);
    harness->stray_pid[sig] = si->si_pid;
    harness->stray_code[sig] = si->si_code;
}

// The harness survives any signal but SIGKILL and SIGSTOP (a batch's signals
// stay within its own group, but the harness notes any that get out); a
// batch starts with the default actions.
static void harness_signals(int on) {
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD || sig == 32 || sig == 33) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        if (on) {
            sa.sa_sigaction = stray;
            sa.sa_flags = SA_SIGINFO | SA_RESTART;
        } else {
            sa.sa_handler = SIG_DFL;
        }
        sigaction(sig, &sa, NULL);
    }
}

static void worker(struct shared *sh, int w, int procs, uint64_t base, double end, int calls, int deadline_ms) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    for (uint64_t seed = base + w; now() < end; seed += procs) {
        pid_t pid = fork();
        if (pid < 0) {
            usleep(10000);
            continue;
        }
        if (pid == 0) {
            harness_signals(0);
            sigprocmask(SIG_UNBLOCK, &chld, NULL);
            setpgid(0, 0);
            counter = &sh->calls;
            cur_seed = seed;
            batch(seed, calls);
        }
        setpgid(pid, pid); // either side may get there first
        __atomic_fetch_add(&sh->seeds, 1, __ATOMIC_RELAXED);
        if (wait_until(pid, now() + deadline_ms / 1000.0)) {
            // What the batch left behind (a process that outlived it) goes too.
            kill(-pid, SIGKILL);
            continue;
        }
        __atomic_fetch_add(&sh->killed, 1, __ATOMIC_RELAXED);
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        if (wait_until(pid, now() + 10)) continue;
        fprintf(stderr, "syscall_fuzz: worker %d: seed %llu: pid %d still there 10 s after SIGKILL\n", w,
                (unsigned long long)seed, pid);
        wait_until(pid, 0);
        fprintf(stderr, "syscall_fuzz: worker %d: seed %llu: pid %d ended at last\n", w, (unsigned long long)seed, pid);
    }
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "--exec")) {
        // An exec'd batch: shorter, and it forks no more.
        batch(strtoull(argv[2], 0, 10), 500);
    }
    if (argc > 1 && argv[1][0] == '-') {
        double seconds = 10;
        int procs = 4, calls = 2000, deadline_ms = 1000;
        uint64_t base = 1;
        for (int i = 1; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
            else if (!strcmp(argv[i], "--procs")) procs = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--seed")) base = strtoull(argv[i + 1], 0, 10);
            else if (!strcmp(argv[i], "--calls")) calls = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--deadline-ms")) deadline_ms = atoi(argv[i + 1]);
            else {
                fprintf(stderr, "syscall_fuzz: unknown option %s\n", argv[i]);
                return 2;
            }
        }
        if (getpid() != 1 && !getenv("SYSCALL_FUZZ_ANYWHERE")) {
            // Natively, as root, random calls could do anything.
            fprintf(stderr, "syscall_fuzz: runs only as pid 1 of a sandbox\n");
            return 2;
        }
        // The counters live far below the batches' scratch buffers, out of
        // reach of the fixed mappings and the stray writes made there.
        struct shared *sh = mmap((void *)0x200000000, 4096, PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (sh == MAP_FAILED) {
            perror("syscall_fuzz: mmap");
            return 2;
        }
        harness = sh;
        harness_signals(1);
        double start = now(), end = start + seconds;
        pid_t workers[64];
        if (procs > 64) procs = 64;
        int running = 0;
        for (int w = 0; w < procs; w++) {
            workers[w] = fork();
            if (workers[w] == 0) worker(sh, w, procs, base * 1000003, end, calls, deadline_ms);
            running += workers[w] > 0;
        }
        // Workers, and the orphans of batches, are reaped here.
        while (running > 0) {
            int st;
            pid_t r = waitpid(-1, &st, __WALL);
            if (r < 0) {
                if (errno == ECHILD) break;
                continue;
            }
            for (int w = 0; w < procs; w++) running -= workers[w] == r;
        }
        // Whatever is left (an orphan still waiting) dies now, and must.
        kill(-1, SIGKILL);
        while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR) {
        }
        for (int sig = 1; sig <= 64; sig++)
            if (sh->stray[sig])
                fprintf(stderr, "syscall_fuzz: the harness got signal %d %llu times (last from pid %d, code %d)\n", sig,
                        (unsigned long long)sh->stray[sig], sh->stray_pid[sig], sh->stray_code[sig]);
        printf("syscall_fuzz: %llu syscalls, %llu seeds, %llu killed at the deadline, %.1f s\n",
               (unsigned long long)sh->calls, (unsigned long long)sh->seeds, (unsigned long long)sh->killed,
               now() - start);
        return 0;
    }
    state = argc > 1 ? strtoull(argv[1], 0, 10) * 2654435761u + 1 : 1;
    int calls = argc > 2 ? atoi(argv[2]) : 3000;
    setup();
    fuzz(calls);
    write(1, "survived\n", 9);
    return 0;
}
