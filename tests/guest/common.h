// Helpers shared by the guest programs: each prints what it observes, so any
// difference between native Linux and rVisor shows up in the comparison.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>

// The name of an errno; one it does not know is printed as its number
// ("E#95"), so two different unknown errnos never look the same. The number
// goes into one of a few per-thread buffers, so a printf may show several.
static const char *errname(int e) {
    static __thread char unknown[4][16];
    static __thread unsigned next;
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ESPIPE: return "ESPIPE";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case ENOEXEC: return "ENOEXEC";
    case ECHILD: return "ECHILD";
    case EBUSY: return "EBUSY";
    case EXDEV: return "EXDEV";
    case EISDIR: return "EISDIR";
    case ENFILE: return "ENFILE";
    case ETXTBSY: return "ETXTBSY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EDOM: return "EDOM";
    case ELOOP: return "ELOOP";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EOVERFLOW: return "EOVERFLOW";
    case ENOTSOCK: return "ENOTSOCK";
    case ENODATA: return "ENODATA";
    case EDEADLK: return "EDEADLK";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EOWNERDEAD: return "EOWNERDEAD";
    default: {
        char *b = unknown[next++ % 4];
        snprintf(b, sizeof unknown[0], "E#%d", e);
        return b;
    }
    }
}

// Prints "label = value" or "label = -1 ENAME" for a raw syscall result.
#define CHECK(label, expr)                                                     \
    do {                                                                       \
        errno = 0;                                                             \
        long _r = (long)(expr);                                                \
        if (_r == -1)                                                          \
            printf("%s = -1 %s\n", label, errname(errno));                     \
        else                                                                   \
            printf("%s = %ld\n", label, _r);                                   \
        fflush(stdout);                                                        \
    } while (0)

// Like CHECK but prints only success/failure, for results that vary by run.
#define CHECK_OK(label, expr)                                                  \
    do {                                                                       \
        errno = 0;                                                             \
        long _r = (long)(expr);                                                \
        printf("%s = %s\n", label, _r == -1 ? errname(errno) : "OK");          \
        fflush(stdout);                                                        \
    } while (0)

// Prints a wait status: how a child ended, or that it stopped or continued.
static inline void show_exit(const char *label, int st) {
    if (WIFEXITED(st))
        printf("%s: raw %#x exited %d\n", label, st, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: raw %#x signaled %d core %d\n", label, st, WTERMSIG(st), WCOREDUMP(st) ? 1 : 0);
    else if (WIFSTOPPED(st))
        printf("%s: raw %#x stopped %d\n", label, st, WSTOPSIG(st));
    else if (WIFCONTINUED(st))
        printf("%s: raw %#x continued\n", label, st);
    else
        printf("%s: raw %#x\n", label, st);
}

// The name of a SIGCHLD si_code.
static inline const char *cld_code_name(int c) {
    switch (c) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_DUMPED: return "CLD_DUMPED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    case CLD_TRAPPED: return "CLD_TRAPPED";
    case 0: return "0";
    default: return "?";
    }
}

// Installs `fn` (a handler, or with SA_SIGINFO an action) for `sig`, with an
// empty mask.
static inline int set_handler(int sig, void *fn, int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (flags & SA_SIGINFO)
        sa.sa_sigaction = fn;
    else
        sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

// sigprocmask `how` (SIG_BLOCK, SIG_UNBLOCK) of the one signal `sig`.
static inline void mask_signal(int sig, int how) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(how, &s, NULL);
}
