// Ends the way argv[1] says: an exit code, or death by a signal.
#include "common.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

// A handler that spoils the FP state its frame will restore: sigreturn
// cannot load it, and the signal is SIGSEGV.
static const char *spoil;
static void spoil_fp(int sig, siginfo_t *si, void *p) {
    ucontext_t *uc = p;
    if (!strcmp(spoil, "mxcsr")) uc->uc_mcontext.fpregs->mxcsr = 0xffffffff;
    if (!strcmp(spoil, "mxcsr-bit")) uc->uc_mcontext.fpregs->mxcsr = 0x1f80 | 1u << 20;
    // The XSAVE header's feature bitmap, right after the legacy area.
    if (!strcmp(spoil, "xstate-bv")) *(unsigned long long *)((char *)uc->uc_mcontext.fpregs + 512) = ~0ULL;
}

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "0";
    printf("ending by %s\n", how);
    fflush(stdout);
    if (!strcmp(how, "null")) return *(volatile int *)0;
    if (!strcmp(how, "kernel-addr")) return *(volatile int *)0xffff800000000000UL;
    if (!strcmp(how, "noncanonical")) return *(volatile int *)0x800000000000UL;
    if (!strcmp(how, "prot-none")) {
        volatile int *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return *p;
    }
    if (!strcmp(how, "ro-write")) {
        volatile int *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        *p = 1;
        return 0;
    }
    if (!strcmp(how, "unmapped")) {
        volatile int *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        munmap((void *)p, 4096);
        return *p;
    }
    if (!strcmp(how, "stack-overflow")) {
        volatile char big[1 << 16];
        big[0] = 1;
        return main(argc, argv) + big[0];
    }
    if (!strcmp(how, "munmap-everything")) {
        // Unmaps all of user space, code and stack included: the return faults.
        syscall(SYS_munmap, 0x10000UL, 0x7ffffffff000UL - 0x10000UL);
        return 1;
    }
    if (!strncmp(how, "sigreturn-bad-", 14)) {
        spoil = how + 14;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = spoil_fp;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGUSR1, &sa, NULL);
        raise(SIGUSR1);
        printf("survived a bad FP state\n");
        return 5;
    }
    if (!strcmp(how, "abort")) abort();
    if (!strcmp(how, "raise-term")) raise(SIGTERM);
    if (!strcmp(how, "kill-self")) kill(getpid(), SIGKILL);
    if (!strcmp(how, "ignored-term")) {
        signal(SIGTERM, SIG_IGN);
        raise(SIGTERM);
        printf("survived ignored SIGTERM\n");
        return 4;
    }
    if (!strcmp(how, "blocked-then-unblocked")) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigprocmask(SIG_BLOCK, &s, NULL);
        raise(SIGUSR1);
        printf("still alive while blocked\n");
        fflush(stdout);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        printf("not reached\n");
        return 5;
    }
    if (!strcmp(how, "sigchld-default")) {
        raise(SIGCHLD);
        printf("SIGCHLD ignored by default\n");
        return 6;
    }
    if (!strcmp(how, "divide")) {
        volatile int z = 0, one = 1;
        return one / z;
    }
    if (!strcmp(how, "ud2")) __asm__ volatile("ud2");
    if (!strcmp(how, "int3")) __asm__ volatile("int3");
    if (!strcmp(how, "hlt")) __asm__ volatile("hlt");
    if (!strcmp(how, "exit-thread")) syscall(SYS_exit, 9);
    return atoi(how);
}
