// Identity, uname, time, randomness, limits, affinity, signal state and
// thread-setup calls, with their error paths.
#include "common.h"
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <asm/prctl.h>

int main(void) {
    printf("pid > 0 = %d, tid == pid = %d\n", getpid() > 0, gettid() == getpid());
    struct utsname u;
    CHECK("uname", uname(&u));
    printf("sysname = %s, machine = %s\n", u.sysname, u.machine);
    CHECK("uname bad buf", syscall(SYS_uname, (void *)0x10));

    struct timespec t1, t2, res;
    CHECK("clock_gettime MONOTONIC", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t1));
    CHECK("clock_gettime MONOTONIC again", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t2));
    printf("monotonic does not go back = %d\n", t2.tv_sec > t1.tv_sec || (t2.tv_sec == t1.tv_sec && t2.tv_nsec >= t1.tv_nsec));
    CHECK("clock_gettime REALTIME", syscall(SYS_clock_gettime, CLOCK_REALTIME, &t1));
    long now = (long)syscall(SYS_time, NULL);
    printf("realtime agrees with time() = %d\n", now - t1.tv_sec <= 1 && now >= t1.tv_sec);
    int clocks[] = {CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
                    CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CLOCK_TAI};
    for (unsigned i = 0; i < sizeof clocks / sizeof *clocks; i++) {
        char l[64];
        snprintf(l, sizeof l, "clock_gettime %d", clocks[i]);
        CHECK(l, syscall(SYS_clock_gettime, clocks[i], &t1));
        snprintf(l, sizeof l, "clock_getres %d", clocks[i]);
        CHECK(l, syscall(SYS_clock_getres, clocks[i], &res));
    }
    syscall(SYS_clock_getres, CLOCK_MONOTONIC, &res);
    printf("MONOTONIC resolution = %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);
    CHECK("clock_gettime bad clock", syscall(SYS_clock_gettime, 100, &t1));
    CHECK("clock_gettime clock 10", syscall(SYS_clock_gettime, 10, &t1));
    CHECK("clock_gettime bad ptr", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)0x10));
    CHECK("clock_getres NULL", syscall(SYS_clock_getres, CLOCK_MONOTONIC, NULL));
    CHECK("clock_getres bad clock", syscall(SYS_clock_getres, 100, &res));
    struct timeval tv;
    CHECK("gettimeofday", syscall(SYS_gettimeofday, &tv, NULL));
    printf("gettimeofday agrees = %d\n", tv.tv_sec - now <= 1 && tv.tv_sec >= now);
    struct timezone tz = {123, 456};
    CHECK("gettimeofday tz", syscall(SYS_gettimeofday, NULL, &tz));
    printf("tz = %d %d\n", tz.tz_minuteswest, tz.tz_dsttime);
    CHECK("gettimeofday bad ptr", syscall(SYS_gettimeofday, (void *)0x10, NULL));
    CHECK_OK("time with ptr", syscall(SYS_time, &now));
    CHECK("time bad ptr", syscall(SYS_time, (void *)0x10));

    // Sleeping takes at least the time asked for.
    struct timespec before, after, nap = {0, 30 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &before);
    CHECK("nanosleep 30ms", syscall(SYS_nanosleep, &nap, NULL));
    CHECK("clock_nanosleep MONOTONIC 30ms", syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &nap, NULL));
    clock_gettime(CLOCK_MONOTONIC, &after);
    long slept = (after.tv_sec - before.tv_sec) * 1000000000L + (after.tv_nsec - before.tv_nsec);
    printf("slept at least 60ms = %d\n", slept >= 60 * 1000 * 1000);
    struct timespec until = after;
    until.tv_nsec += 20 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    CHECK("clock_nanosleep ABSTIME", syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL));
    clock_gettime(CLOCK_MONOTONIC, &after);
    printf("woke after the deadline = %d\n", after.tv_sec > until.tv_sec || (after.tv_sec == until.tv_sec && after.tv_nsec >= until.tv_nsec));
    CHECK("clock_nanosleep past deadline", syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &before, NULL));
    struct timespec badns = {0, 1000000000L}, negs = {-1, 0};
    CHECK("nanosleep bad nsec", syscall(SYS_nanosleep, &badns, NULL));
    CHECK("nanosleep negative", syscall(SYS_nanosleep, &negs, NULL));
    CHECK("nanosleep bad ptr", syscall(SYS_nanosleep, (void *)0x10, NULL));
    CHECK("clock_nanosleep bad clock", syscall(SYS_clock_nanosleep, 100, 0, &nap, NULL));
    CHECK("clock_nanosleep THREAD_CPUTIME", syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &nap, NULL));
    CHECK("clock_nanosleep MONOTONIC_RAW", syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_RAW, 0, &nap, NULL));
    CHECK("clock_nanosleep bad nsec", syscall(SYS_clock_nanosleep, CLOCK_REALTIME, 0, &badns, NULL));

    static unsigned char big_rnd[3 << 20];
    CHECK("getrandom 3MiB", syscall(SYS_getrandom, big_rnd, sizeof big_rnd, 0));
    unsigned char rnd[300] = {0};
    CHECK("getrandom 300", syscall(SYS_getrandom, rnd, 300, 0));
    int nz = 0;
    for (int i = 0; i < 300; i++) nz += rnd[i] != 0;
    printf("getrandom filled = %d\n", nz > 250);
    CHECK("getrandom NONBLOCK", syscall(SYS_getrandom, rnd, 16, 1));
    CHECK("getrandom 0 bytes", syscall(SYS_getrandom, rnd, 0, 0));
    CHECK("getrandom bad flags", syscall(SYS_getrandom, rnd, 16, 0x80));
    CHECK("getrandom RANDOM|INSECURE", syscall(SYS_getrandom, rnd, 16, 6));
    CHECK("getrandom bad buf", syscall(SYS_getrandom, (void *)0x10, 16, 0));

    struct rlimit rl, old;
    CHECK("getrlimit NOFILE", getrlimit(RLIMIT_NOFILE, &rl));
    printf("NOFILE cur = %ld max = %ld\n", (long)rl.rlim_cur, (long)rl.rlim_max);
    CHECK("getrlimit STACK", getrlimit(RLIMIT_STACK, &rl));
    printf("STACK cur = %ld\n", (long)rl.rlim_cur);
    CHECK("getrlimit bad resource", syscall(SYS_getrlimit, 99, &rl));
    CHECK("getrlimit bad ptr", syscall(SYS_getrlimit, RLIMIT_NOFILE, (void *)0x10));
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit lower = {16, rl.rlim_max};
    CHECK("prlimit64 set NOFILE 16", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &lower, &old));
    printf("old cur = %ld\n", (long)old.rlim_cur);
    int fds = 0;
    while (dup(1) >= 0) fds++;
    printf("dup until EMFILE: %d more fds, errno %s\n", fds, errname(errno));
    CHECK("dup2 beyond limit", dup2(1, 20));
    CHECK("F_DUPFD at limit", fcntl(1, 1030, 16));
    struct rlimit bad = {10, 5};
    CHECK("prlimit64 cur > max", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &bad, NULL));
    CHECK("prlimit64 bad resource", syscall(SYS_prlimit64, 0, 77, NULL, &old));
    CHECK("prlimit64 other pid", syscall(SYS_prlimit64, 999999, RLIMIT_NOFILE, NULL, &old));
    CHECK("prlimit64 bad new ptr", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, (void *)0x10, NULL));
    CHECK("setrlimit CORE 0", setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0}));
    CHECK("getrlimit CORE", getrlimit(RLIMIT_CORE, &rl));
    printf("CORE = %ld %ld\n", (long)rl.rlim_cur, (long)rl.rlim_max);

    cpu_set_t set;
    CHECK_OK("sched_getaffinity", sched_getaffinity(0, sizeof set, &set));
    printf("cpus = %d\n", CPU_COUNT(&set));
    CHECK("sched_getaffinity raw 128", syscall(SYS_sched_getaffinity, 0, 128, &set));
    CHECK("sched_getaffinity len 1", syscall(SYS_sched_getaffinity, 0, 1, &set));
    CHECK("sched_getaffinity len 12", syscall(SYS_sched_getaffinity, 0, 12, &set));
    CHECK("sched_getaffinity bad pid", syscall(SYS_sched_getaffinity, -5, 128, &set));
    CHECK("sched_getaffinity len wraps", syscall(SYS_sched_getaffinity, 0, 0x20000000, &set));
    CHECK("sched_getaffinity bad ptr", syscall(SYS_sched_getaffinity, 0, 128, (void *)0x10));
    CHECK("sched_yield", sched_yield());

    struct sigaction sa = {0}, osa;
    sa.sa_handler = SIG_IGN;
    CHECK("sigaction USR1 ign", sigaction(SIGUSR1, &sa, NULL));
    CHECK("sigaction USR1 query", sigaction(SIGUSR1, NULL, &osa));
    printf("USR1 ignored = %d\n", osa.sa_handler == SIG_IGN);
    CHECK("sigaction KILL", sigaction(SIGKILL, &sa, NULL));
    CHECK("sigaction STOP query", sigaction(SIGSTOP, NULL, &osa));
    CHECK("sigaction 0", syscall(SYS_rt_sigaction, 0, NULL, &osa, 8));
    CHECK("sigaction 65", syscall(SYS_rt_sigaction, 65, NULL, &osa, 8));
    CHECK("sigaction bad sigsetsize", syscall(SYS_rt_sigaction, SIGUSR1, NULL, &osa, 4));
    CHECK("sigaction bad act ptr", syscall(SYS_rt_sigaction, SIGUSR1, (void *)0x10, NULL, 8));
    uint64_t kact[4] = {1, 0xffffffffUL & ~0x04000000UL, 0, ~0UL}, kold[4];
    CHECK("rt_sigaction odd flags", syscall(SYS_rt_sigaction, SIGUSR2, kact, NULL, 8));
    CHECK("rt_sigaction read back", syscall(SYS_rt_sigaction, SIGUSR2, NULL, kold, 8));
    printf("flags kept = %#lx, mask kept = %#lx\n", (unsigned long)kold[1], (unsigned long)kold[3]);
    uint64_t m = ~0UL, om;
    CHECK("sigprocmask block all", syscall(SYS_rt_sigprocmask, SIG_BLOCK, &m, NULL, 8));
    CHECK("sigprocmask query", syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &om, 8));
    printf("mask = %#lx\n", (unsigned long)om);
    CHECK("sigprocmask bad how", syscall(SYS_rt_sigprocmask, 7, &m, NULL, 8));
    CHECK("sigprocmask bad how, no set", syscall(SYS_rt_sigprocmask, 7, NULL, &om, 8));
    CHECK("sigprocmask bad size", syscall(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, 16));
    CHECK("sigprocmask bad ptr", syscall(SYS_rt_sigprocmask, SIG_SETMASK, (void *)0x10, NULL, 8));
    m = 0;
    CHECK("sigprocmask clear", syscall(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, 8));
    CHECK("kill self 0", kill(getpid(), 0));
    CHECK("kill bad signal", kill(getpid(), 65));
    CHECK("kill no such pid", kill(999999, 0));
    CHECK("kill no such pid, bad signal", kill(999999, 65));
    CHECK("tgkill no such thread, bad signal", syscall(SYS_tgkill, 999999, 999999, 65));
    CHECK("tgkill bad tgid", syscall(SYS_tgkill, 0, gettid(), 0));
    CHECK("tgkill self 0", syscall(SYS_tgkill, getpid(), gettid(), 0));
    CHECK("tkill bad tid", syscall(SYS_tkill, -1, 0));
    CHECK("kill self ignored USR1", kill(getpid(), SIGUSR1));

    unsigned long fs;
    CHECK("ARCH_GET_FS", syscall(SYS_arch_prctl, ARCH_GET_FS, &fs));
    char *tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    printf("fs base is the thread pointer = %d\n", fs == (unsigned long)tp);
    CHECK("ARCH_GET_FS bad ptr", syscall(SYS_arch_prctl, ARCH_GET_FS, (void *)0x10));
    CHECK("ARCH_SET_GS", syscall(SYS_arch_prctl, ARCH_SET_GS, 0x12345000UL));
    unsigned long gs;
    CHECK("ARCH_GET_GS", syscall(SYS_arch_prctl, ARCH_GET_GS, &gs));
    printf("gs = %#lx\n", gs);
    CHECK("ARCH_SET_FS kernel address", syscall(SYS_arch_prctl, ARCH_SET_FS, 0xffff800000000000UL));
    CHECK("arch_prctl bad code", syscall(SYS_arch_prctl, 0x9999, 0));
    CHECK("set_robust_list bad len", syscall(SYS_set_robust_list, NULL, 1));
    CHECK("set_tid_address", syscall(SYS_set_tid_address, NULL) == gettid());
    CHECK("unknown syscall 500", syscall(500));
    CHECK("unknown syscall -1", syscall(-1));
    return 0;
}
