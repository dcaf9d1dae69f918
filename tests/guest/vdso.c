// The vDSO: it is announced in the auxiliary vector and mapped where
// /proc/self/maps says, it exports what the C libraries look up, and its
// clocks agree with the system calls' (a vDSO reading before a syscall
// reading is not later than it, and one after is not earlier), never go back,
// and are past an absolute sleep's deadline when it ends. Its writes fault
// where a system call would give EFAULT, as on Linux.
#include "common.h"
#include <elf.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>

static long long ns_of(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static long long libc_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return ns_of(t);
}

static long long sys_ns(clockid_t c) {
    struct timespec t;
    syscall(SYS_clock_gettime, c, &t);
    return ns_of(t);
}

// Whether the vDSO at `base` exports `name` (through its DT_HASH table).
static int exports(uintptr_t base, const char *name) {
    Elf64_Ehdr *eh = (Elf64_Ehdr *)base;
    Elf64_Phdr *ph = (Elf64_Phdr *)(base + eh->e_phoff);
    Elf64_Dyn *dyn = NULL;
    uintptr_t load = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_DYNAMIC) dyn = (Elf64_Dyn *)(base + ph[i].p_offset);
        if (ph[i].p_type == PT_LOAD && !load) load = base + ph[i].p_offset - ph[i].p_vaddr;
    }
    if (!dyn) return 0;
    Elf64_Sym *syms = NULL;
    const char *strs = NULL;
    Elf32_Word *hash = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB) syms = (Elf64_Sym *)(load + dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_STRTAB) strs = (const char *)(load + dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_HASH) hash = (Elf32_Word *)(load + dyn->d_un.d_ptr);
    }
    if (!syms || !strs || !hash) return 0;
    for (Elf32_Word i = 0; i < hash[1]; i++)
        if (syms[i].st_shndx != SHN_UNDEF && strcmp(strs + syms[i].st_name, name) == 0) return 1;
    return 0;
}

static void mapping(void) {
    uintptr_t base = getauxval(AT_SYSINFO_EHDR);
    printf("AT_SYSINFO_EHDR set %d, page aligned %d\n", base != 0, base % 4096 == 0);
    if (!base) return;
    Elf64_Ehdr *eh = (Elf64_Ehdr *)base;
    printf("ELF magic %d, ET_DYN %d, x86-64 %d\n", memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0, eh->e_type == ET_DYN,
           eh->e_machine == EM_X86_64);
    const char *names[] = {"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_clock_getres",
                           "__vdso_getcpu", "clock_gettime", "gettimeofday", "time"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) printf("exports %s %d\n", names[i], exports(base, names[i]));

    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int vdso_at_base = 0, vdso_rx = 0, vvar = 0, vvar_ro = 0;
    uintptr_t vvar_start = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long start, end;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3) continue;
        if (strstr(line, "[vdso]")) {
            vdso_at_base = start == base;
            vdso_rx = strcmp(perms, "r-xp") == 0;
        }
        if (strstr(line, "[vvar]")) {
            vvar = 1;
            vvar_ro = strcmp(perms, "r--p") == 0;
            vvar_start = start;
        }
    }
    if (f) fclose(f);
    printf("[vdso] at AT_SYSINFO_EHDR %d, r-xp %d; [vvar] %d, r--p %d\n", vdso_at_base, vdso_rx, vvar, vvar_ro);
    if (vvar_start) {
        errno = 0;
        int r = mprotect((void *)vvar_start, 4096, PROT_READ | PROT_WRITE);
        printf("mprotect [vvar] writable: %d %s\n", r, errname(r ? errno : 0));
    }
}

static void brackets(void) {
    struct {
        clockid_t id;
        const char *name;
    } clocks[] = {
        {CLOCK_REALTIME, "REALTIME"},
        {CLOCK_MONOTONIC, "MONOTONIC"},
        {CLOCK_BOOTTIME, "BOOTTIME"},
        {CLOCK_TAI, "TAI"},
        {CLOCK_REALTIME_COARSE, "REALTIME_COARSE"},
        {CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE"},
        {CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW"},
    };
    // Spread over 0.6 s, so that the readings span many parameter updates.
    for (unsigned c = 0; c < sizeof clocks / sizeof *clocks; c++) {
        int bad = 0;
        for (int i = 0; i < 300; i++) {
            long long v1 = libc_ns(clocks[c].id), s = sys_ns(clocks[c].id), v2 = libc_ns(clocks[c].id);
            if (!(v1 <= s && s <= v2)) {
                if (bad++ < 3) fprintf(stderr, "%s: %lld %lld %lld\n", clocks[c].name, v1, s, v2);
            }
            if (i % 100 == 0) usleep(1000);
        }
        printf("%s: vDSO and syscall readings in order, failures %d\n", clocks[c].name, bad);
    }
    struct timeval tv;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    gettimeofday(&tv, NULL);
    long long tv_us = tv.tv_sec * 1000000LL + tv.tv_usec;
    printf("gettimeofday not before CLOCK_REALTIME %d\n", tv_us >= ns_of(rt) / 1000);
    time_t t1 = 0, t2 = time(&t1);
    printf("time stores what it returns %d, within a second of gettimeofday %d\n", t1 == t2,
           llabs((long long)t2 - tv.tv_sec) <= 1);
    printf("gettimeofday NULL, NULL: %d\n", gettimeofday(NULL, NULL));
    struct timezone tz = {1, 1};
    printf("gettimeofday with a timezone: %d\n", gettimeofday(&tv, &tz));
}

static void *never_back(void *arg) {
    long long end = libc_ns(CLOCK_MONOTONIC) + 300000000LL, prev = 0;
    long back = 0, reads = 0;
    for (long long now; (now = libc_ns(CLOCK_MONOTONIC)) < end; reads++) {
        if (now < prev) back++;
        prev = now;
    }
    *(long *)arg = back;
    return NULL;
}

static void monotonic(void) {
    // Two threads for 0.3 s each, over several parameter updates.
    pthread_t th[2];
    long back[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, never_back, &back[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    printf("CLOCK_MONOTONIC went back: %ld %ld\n", back[0], back[1]);

    int late = 0;
    for (int i = 0; i < 10; i++) {
        struct timespec d;
        clockid_t c = i % 2 ? CLOCK_REALTIME : CLOCK_MONOTONIC;
        long long deadline = libc_ns(c) + 3000000LL;
        d.tv_sec = deadline / 1000000000LL;
        d.tv_nsec = deadline % 1000000000LL;
        clock_nanosleep(c, TIMER_ABSTIME, &d, NULL);
        if (libc_ns(c) < deadline) late++;
    }
    printf("read before an absolute sleep's deadline after it: %d\n", late);

    long long before = libc_ns(CLOCK_MONOTONIC);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child: clock continues %d, AT_SYSINFO_EHDR set %d\n", libc_ns(CLOCK_MONOTONIC) >= before,
               getauxval(AT_SYSINFO_EHDR) != 0);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
}

// The vDSO writes where the caller says: a bad pointer is a fault, not
// EFAULT; clocks it leaves to the system call still give EFAULT and EINVAL.
static void faults(void) {
    struct {
        const char *what;
        int which;
    } cases[] = {{"clock_gettime MONOTONIC bad pointer", 0}, {"gettimeofday bad pointer", 1}, {"time bad pointer", 2}};
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (cases[i].which == 0) clock_gettime(CLOCK_MONOTONIC, (struct timespec *)8);
            if (cases[i].which == 1) gettimeofday((struct timeval *)8, NULL);
            if (cases[i].which == 2) time((time_t *)8);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        show_exit(cases[i].what, st);
    }
    struct timespec ts;
    errno = 0;
    int r = clock_gettime(CLOCK_PROCESS_CPUTIME_ID, (struct timespec *)8);
    printf("clock_gettime PROCESS_CPUTIME_ID bad pointer: %d %s\n", r, errname(errno));
    errno = 0;
    r = clock_gettime(1000, &ts);
    printf("clock_gettime clock 1000: %d %s\n", r, errname(errno));
    errno = 0;
    r = clock_getres(1000, &ts);
    printf("clock_getres clock 1000: %d %s\n", r, errname(errno));
    r = clock_getres(CLOCK_MONOTONIC, &ts);
    printf("clock_getres MONOTONIC: %d %ld.%09ld\n", r, (long)ts.tv_sec, ts.tv_nsec);
    r = clock_getres(CLOCK_MONOTONIC, NULL);
    printf("clock_getres NULL: %d\n", r);
    printf("sched_getcpu works %d\n", sched_getcpu() >= 0);
}

int main(void) {
    mapping();
    brackets();
    monotonic();
    faults();
    return 0;
}
