// Stress, not timed: 500 fork/exit/wait cycles, a storm of signals sent at a
// busy multithreaded process, 200 threads on one mutex, and exec from a
// multithreaded process. It must end, and print the same as natively.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_long handled;
static atomic_int stop;
static void on_usr1(int s) { (void)s; atomic_fetch_add(&handled, 1); }

static void *spin(void *a) {
    volatile unsigned long x = 0;
    while (!atomic_load(&stop)) x++;
    return a;
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static void *bump(void *a) {
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&m);
        counter++;
        pthread_mutex_unlock(&m);
    }
    return a;
}

static void *execer(void *a) {
    char *argv[] = {(char *)a, "exec-child", NULL};
    execv(argv[0], argv);
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
        printf("exec from a thread: now one thread\n");
        return 0;
    }
    alarm(60);
    long sum = 0;
    for (int i = 0; i < 500; i++) {
        pid_t c = fork();
        if (c == 0) _exit(i % 7);
        int st;
        waitpid(c, &st, 0);
        sum += WEXITSTATUS(st);
    }
    printf("500 forks, exit codes sum %ld\n", sum);

    signal(SIGUSR1, on_usr1);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, spin, NULL);
    pid_t me = getpid();
    pid_t c = fork();
    if (c == 0) {
        for (int i = 0; i < 2000; i++) kill(me, SIGUSR1);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    // Let the last signals land, then stop the spinners.
    while (atomic_load(&handled) == 0) usleep(1000);
    usleep(20000);
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    printf("signal storm: handled some %d, at most 2000 %d\n", atomic_load(&handled) > 0, atomic_load(&handled) <= 2000);

    pthread_t many[200];
    for (int i = 0; i < 200; i++) pthread_create(&many[i], NULL, bump, NULL);
    for (int i = 0; i < 200; i++) pthread_join(many[i], NULL);
    printf("200 threads: counter %ld\n", counter);

    c = fork();
    if (c == 0) {
        pthread_t e;
        for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, spin, NULL);
        pthread_create(&e, NULL, execer, argv[0]);
        pthread_join(e, NULL);
        _exit(99);
    }
    int st;
    waitpid(c, &st, 0);
    printf("exec child exited %d\n", WEXITSTATUS(st));
    return 0;
}
