// Random system calls with hostile arguments. Run only under rVisor: natively,
// as root, this could do anything. The application may well kill itself (it
// unmaps its own code, say); the Sentry must never panic, hang or die.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sys/syscall.h>

static uint64_t state;
static uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int main(int argc, char **argv) {
    state = argc > 1 ? strtoull(argv[1], 0, 10) * 2654435761u + 1 : 1;
    int calls = argc > 2 ? atoi(argv[2]) : 3000;
    char *buf = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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
    pipe2(p, O_NONBLOCK);
    uint64_t pool[] = {
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 24, 64, 4095, 4096, 65536, 1 << 20, (uint64_t)-1, (uint64_t)-4096,
        0x7fffffff, 0x80000000, 0xffffffff, 0x7ffffffff000, 0x800000000000, 0xffffffffff600000,
        (uint64_t)buf, (uint64_t)buf + 4096, (uint64_t)buf + 65535, (uint64_t)buf - 4096, 0x10, 0x400000,
    };
    int npool = sizeof pool / sizeof *pool;
    for (int i = 0; i < calls; i++) {
        long nr = next() % 470;
        // Leave the process alive long enough to matter, and awake: calls that
        // wait (a random pointer makes a fine timespec for a sleep of years,
        // and nothing can wake a one-thread process) block on Linux too. Calls
        // that make processes are left out as well: every child fuzzes on.
        if (nr == SYS_nanosleep || nr == SYS_clock_nanosleep || nr == SYS_pause || nr == SYS_poll || nr == SYS_ppoll ||
            nr == SYS_select || nr == SYS_pselect6 || nr == SYS_futex || nr == SYS_epoll_wait || nr == SYS_epoll_pwait ||
            nr == SYS_epoll_pwait2 || nr == SYS_rt_sigsuspend || nr == SYS_rt_sigtimedwait || nr == SYS_wait4 ||
            nr == SYS_waitid || nr == SYS_exit || nr == SYS_exit_group || nr == SYS_kill || nr == SYS_tkill || nr == SYS_tgkill ||
            nr == SYS_rt_sigreturn || nr == SYS_munmap || nr == SYS_mremap || nr == SYS_fork || nr == SYS_vfork ||
            nr == SYS_clone || nr == SYS_clone3)
            continue;
        uint64_t a[6];
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
        long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        // A new fd (a pipe, an eventfd, an inotify fd) is made non-blocking:
        // a read of an empty one would wait forever, on Linux too.
        if (r >= 3 && r < 4096) fcntl((int)r, F_SETFL, O_NONBLOCK);
        // Keep stdout and stderr usable.
        if (nr == SYS_close || nr == SYS_dup2 || nr == SYS_dup3 || nr == SYS_fcntl || nr == SYS_ioctl) {
            mprotect(buf, 1 << 16, PROT_READ | PROT_WRITE);
        }
    }
    write(1, "survived\n", 9);
    return 0;
}
