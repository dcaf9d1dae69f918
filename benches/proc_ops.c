// Process, thread and signal costs: prints microseconds per fork+exit+wait,
// fork+exec+wait of /bin/true, thread create+join, futex ping-pong between
// two threads, pipe ping-pong between two processes, and a signal delivery
// round trip (raise to a handler and back), and clock_gettime through the
// C library (the vDSO, no trap) and as a system call. Usage: proc_ops N
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void *nothing(void *a) { return a; }

static _Atomic int word;
static long rounds;

static void futex_wait(int val) { syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0); }
static void futex_wake(void) { syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

/// The partner thread: waits for odd values and answers with the next even one.
static void *ponger(void *a) {
    for (long i = 0; i < rounds; i++) {
        while (atomic_load(&word) != 2 * i + 1) futex_wait(2 * (int)i);
        atomic_store(&word, 2 * i + 2);
        futex_wake();
    }
    return a;
}

static volatile sig_atomic_t hits;
static void on_usr1(int s) { (void)s; hits++; }

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200;
    double t = now();
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) _exit(0);
        waitpid(p, NULL, 0);
    }
    printf("fork+exit+wait %.1f\n", (now() - t) / n);

    t = now();
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        waitpid(p, NULL, 0);
    }
    printf("fork+exec+wait %.1f\n", (now() - t) / n);

    t = now();
    for (long i = 0; i < n; i++) {
        pthread_t th;
        pthread_create(&th, NULL, nothing, NULL);
        pthread_join(th, NULL);
    }
    printf("thread_create+join %.1f\n", (now() - t) / n);

    rounds = n * 10;
    pthread_t th;
    pthread_create(&th, NULL, ponger, NULL);
    t = now();
    for (long i = 0; i < rounds; i++) {
        atomic_store(&word, 2 * i + 1);
        futex_wake();
        while (atomic_load(&word) != 2 * i + 2) futex_wait(2 * (int)i + 1);
    }
    printf("futex_pingpong %.1f\n", (now() - t) / rounds);
    pthread_join(th, NULL);

    int ab[2], ba[2];
    pipe(ab);
    pipe(ba);
    char c = 'x';
    long m = n * 10;
    pid_t p = fork();
    if (p == 0) {
        for (long i = 0; i < m; i++) {
            read(ab[0], &c, 1);
            write(ba[1], &c, 1);
        }
        _exit(0);
    }
    t = now();
    for (long i = 0; i < m; i++) {
        write(ab[1], &c, 1);
        read(ba[0], &c, 1);
    }
    printf("pipe_pingpong %.1f\n", (now() - t) / m);
    waitpid(p, NULL, 0);

    struct timespec ts;
    long k = n * 100;
    t = now();
    for (long i = 0; i < k; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("clock_gettime %.3f\n", (now() - t) / k);
    t = now();
    for (long i = 0; i < m * 10; i++) syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    printf("clock_gettime_syscall %.3f\n", (now() - t) / (m * 10));

    signal(SIGUSR1, on_usr1);
    t = now();
    for (long i = 0; i < m; i++) raise(SIGUSR1);
    printf("signal_roundtrip %.1f\n", (now() - t) / m);
    return hits == m ? 0 : 1;
}
