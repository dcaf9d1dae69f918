/*
 * The sandbox's vDSO: clock_gettime, gettimeofday and time without a trap.
 *
 * The Sentry maps this image into every address space, one page after its
 * parameter page (the "[vvar]" mapping), and names it in AT_SYSINFO_EHDR. The
 * clocks are the TSC scaled by the parameters, which a Sentry thread keeps in
 * step with the host's clocks (sentry/src/vdso.rs). Everything else, and every
 * clock while the parameters are not ready, is the real system call, which the
 * platform traps as it traps any other.
 *
 * Built freestanding: no libc, no relocations, no writable data.
 */
#include <stdint.h>
#include <stddef.h>

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7
#define CLOCK_TAI 11

#define SYS_gettimeofday 96
#define SYS_time 201
#define SYS_clock_gettime 228
#define SYS_clock_getres 229
#define SYS_getcpu 309

#define NSEC_PER_SEC 1000000000LL

struct timespec {
    int64_t tv_sec;
    int64_t tv_nsec;
};

struct timeval {
    int64_t tv_sec;
    int64_t tv_usec;
};

/* The parameter page. Its layout is sentry::vdso::Params. */
struct params {
    /* Odd while the Sentry rewrites the fields below. */
    uint64_t seq;
    /* Zero: the clocks are not calibrated (or the TSC is not trusted). */
    uint64_t ready;
    /* CLOCK_MONOTONIC is base_ns + ((tsc - base_tsc) * mult) >> 32. */
    uint64_t base_tsc;
    int64_t base_ns;
    uint64_t mult;
    /* Past this many cycles from base_tsc the line is stale (the Sentry has
       not updated it for a second): make the system call. */
    uint64_t max_delta;
    /* The other clocks, as offsets from CLOCK_MONOTONIC. */
    int64_t realtime_offset;
    int64_t boottime_offset;
    int64_t tai_offset;
};

/* Defined by the linker script: the page before the image. */
extern const volatile struct params vdso_params __attribute__((visibility("hidden")));

static long syscall2(long nr, long a, long b)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return ret;
}

static long syscall3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

static inline uint64_t rdtsc_ordered(void)
{
    uint32_t lo, hi;
    /* lfence: the TSC is read after the loads before it, not speculatively early. */
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

/*
 * The time on CLOCK_MONOTONIC plus the offset selected by `which`, in
 * nanoseconds; 0 when the parameters are not ready. x86 does not reorder
 * loads with loads, so compiler barriers (the volatile accesses and the
 * "memory" clobbers) are enough for the sequence count.
 */
static int64_t clock_ns(int which)
{
    const volatile struct params *p = &vdso_params;
    uint64_t seq, tsc, base_tsc, mult, max_delta;
    int64_t base_ns, offset;
    for (;;) {
        seq = p->seq;
        if (seq & 1) {
            __asm__ volatile("pause" ::: "memory");
            continue;
        }
        if (!p->ready)
            return 0;
        base_tsc = p->base_tsc;
        base_ns = p->base_ns;
        mult = p->mult;
        max_delta = p->max_delta;
        offset = which == CLOCK_REALTIME ? p->realtime_offset
                 : which == CLOCK_BOOTTIME ? p->boottime_offset
                 : which == CLOCK_TAI ? p->tai_offset
                                      : 0;
        tsc = rdtsc_ordered();
        if (p->seq == seq)
            break;
    }
    /* A CPU whose TSC lags the one the base was read on reads the base. */
    uint64_t delta = (int64_t)(tsc - base_tsc) > 0 ? tsc - base_tsc : 0;
    if (delta > max_delta)
        return 0;
    return base_ns + (int64_t)(((unsigned __int128)delta * mult) >> 32) + offset;
}

/* Which base a clock id reads, or -1 for the ones left to the system call. */
static int clock_base(long clk)
{
    switch (clk) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
        return CLOCK_REALTIME;
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_COARSE:
        return CLOCK_MONOTONIC;
    case CLOCK_BOOTTIME:
        return CLOCK_BOOTTIME;
    case CLOCK_TAI:
        return CLOCK_TAI;
    default:
        return -1;
    }
}

int __vdso_clock_gettime(long clk, struct timespec *ts)
{
    int base = clock_base(clk);
    int64_t ns = base < 0 ? 0 : clock_ns(base);
    if (ns <= 0)
        return syscall2(SYS_clock_gettime, clk, (long)ts);
    ts->tv_sec = ns / NSEC_PER_SEC;
    ts->tv_nsec = ns % NSEC_PER_SEC;
    return 0;
}

int __vdso_gettimeofday(struct timeval *tv, void *tz)
{
    if (tz)
        return syscall2(SYS_gettimeofday, (long)tv, (long)tz);
    if (!tv)
        return 0;
    int64_t ns = clock_ns(CLOCK_REALTIME);
    if (ns <= 0)
        return syscall2(SYS_gettimeofday, (long)tv, 0);
    tv->tv_sec = ns / NSEC_PER_SEC;
    tv->tv_usec = ns % NSEC_PER_SEC / 1000;
    return 0;
}

long __vdso_time(long *t)
{
    int64_t ns = clock_ns(CLOCK_REALTIME);
    if (ns <= 0)
        return syscall2(SYS_time, (long)t, 0);
    long secs = ns / NSEC_PER_SEC;
    if (t)
        *t = secs;
    return secs;
}

int __vdso_clock_getres(long clk, struct timespec *res)
{
    return syscall2(SYS_clock_getres, clk, (long)res);
}

int __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
    return syscall3(SYS_getcpu, (long)cpu, (long)node, (long)cache);
}

/* The names without the prefix, as Linux's vDSO also exports them. */
int clock_gettime(long, struct timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(long, struct timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
int getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
