// Threads: pthread_create/join/detach/cancel/kill, mutexes and condition
// variables, barriers, rwlocks, semaphores, pthread_once, thread-local storage,
// signals aimed at a thread and at the process, raw futex operations (WAIT,
// WAKE, bitsets, REQUEUE, CMP_REQUEUE, WAKE_OP, shared futexes across fork),
// set_tid_address, exit vs exit_group from threads, fork from a thread, robust
// mutexes, and a many-thread stress run. Threads never print: they record what
// they saw and the main thread prints it in a fixed order.
#include "common.h"
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>

// errname from common.h lacks the thread-specific codes.
static const char *ename(int e) {
    switch (e) {
    case ETIMEDOUT: return "ETIMEDOUT";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    case EDEADLK: return "EDEADLK";
    default: return errname(e);
    }
}

// Like CHECK, but knows ETIMEDOUT and friends.
#define FCHECK(label, expr)                                                    \
    do {                                                                       \
        errno = 0;                                                             \
        long _r = (long)(expr);                                                \
        if (_r == -1)                                                          \
            printf("%s = -1 %s\n", label, ename(errno));                       \
        else                                                                   \
            printf("%s = %ld\n", label, _r);                                   \
    } while (0)

// For pthread_* calls that return an error number.
#define PCHECK(label, expr)                                                    \
    do {                                                                       \
        int _e = (expr);                                                       \
        printf("%s = %s\n", label, ename(_e));                                 \
    } while (0)

static long futex(int *uaddr, int op, int val, long val2, int *uaddr2, int val3) {
    return syscall(SYS_futex, uaddr, op, val, val2, uaddr2, val3);
}

static long futex_t(int *uaddr, int op, int val, const struct timespec *ts, int val3) {
    return syscall(SYS_futex, uaddr, op, val, ts, NULL, val3);
}

static pid_t my_gettid(void) { return (pid_t)syscall(SYS_gettid); }


static pid_t fork_flushed(void) {
    fflush(stdout);
    return fork();
}

static int int_cmp(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static double now_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void spin_until(volatile int *flag) {
    for (int i = 0; !__atomic_load_n(flag, __ATOMIC_ACQUIRE) && i < 200000; i++)
        sched_yield();
}

// ---------------------------------------------------------------- create/join
#define NCREATE 50
static pid_t main_pid, main_tid;
static int create_tid[NCREATE], create_pid_same[NCREATE], create_tid_differs[NCREATE];

static void *create_fn(void *arg) {
    long i = (long)arg;
    create_tid[i] = my_gettid();
    create_pid_same[i] = getpid() == main_pid;
    create_tid_differs[i] = my_gettid() != getpid();
    return (void *)(i * 3 + 1);
}

static void test_create_join(void) {
    printf("-- create/join\n");
    pthread_t t[NCREATE];
    int ok = 1;
    for (long i = 0; i < NCREATE; i++)
        ok &= pthread_create(&t[i], NULL, create_fn, (void *)i) == 0;
    printf("created %d: %d\n", NCREATE, ok);
    long sum = 0;
    int joined = 1;
    for (int i = 0; i < NCREATE; i++) {
        void *ret;
        joined &= pthread_join(t[i], &ret) == 0;
        sum += (long)ret;
    }
    printf("joined all %d, sum of returns %ld\n", joined, sum);
    int pid_same = 1, tid_differs = 1, not_main = 1, unique = 1;
    int sorted[NCREATE];
    for (int i = 0; i < NCREATE; i++) {
        pid_same &= create_pid_same[i];
        tid_differs &= create_tid_differs[i];
        not_main &= create_tid[i] != main_tid;
        sorted[i] = create_tid[i];
    }
    qsort(sorted, NCREATE, sizeof *sorted, int_cmp);
    for (int i = 1; i < NCREATE; i++)
        unique &= sorted[i] != sorted[i - 1];
    printf("getpid same in threads %d, gettid != getpid %d, tid != main tid %d, tids unique %d\n",
           pid_same, tid_differs, not_main, unique);
    printf("main: gettid == getpid %d\n", my_gettid() == getpid());
    PCHECK("join self", pthread_join(pthread_self(), NULL));
}

// ---------------------------------------------------------------- producer/consumer
#define ITEMS 10000
#define QCAP 16
static pthread_mutex_t pc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pc_not_empty = PTHREAD_COND_INITIALIZER, pc_not_full = PTHREAD_COND_INITIALIZER;
static int pc_q[QCAP], pc_head, pc_count, pc_taken;
static long pc_sums[4];
static int pc_counts[4];

static void *producer(void *arg) {
    long id = (long)arg;
    for (int v = (int)id + 1; v <= ITEMS; v += 4) {
        pthread_mutex_lock(&pc_mu);
        while (pc_count == QCAP)
            pthread_cond_wait(&pc_not_full, &pc_mu);
        pc_q[(pc_head + pc_count) % QCAP] = v;
        pc_count++;
        pthread_cond_signal(&pc_not_empty);
        pthread_mutex_unlock(&pc_mu);
    }
    return NULL;
}

static void *consumer(void *arg) {
    long id = (long)arg;
    for (;;) {
        pthread_mutex_lock(&pc_mu);
        while (pc_count == 0 && pc_taken < ITEMS)
            pthread_cond_wait(&pc_not_empty, &pc_mu);
        if (pc_taken == ITEMS) {
            pthread_cond_broadcast(&pc_not_empty);
            pthread_mutex_unlock(&pc_mu);
            return NULL;
        }
        int v = pc_q[pc_head];
        pc_head = (pc_head + 1) % QCAP;
        pc_count--;
        pc_taken++;
        if (pc_taken == ITEMS)
            pthread_cond_broadcast(&pc_not_empty);
        pthread_cond_signal(&pc_not_full);
        pthread_mutex_unlock(&pc_mu);
        pc_sums[id] += v;
        pc_counts[id]++;
    }
}

static volatile int cw_woken;
static pthread_mutex_t cw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cw_cv = PTHREAD_COND_INITIALIZER;
static int cw_go, cw_waiting;

static void *bcast_waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&cw_mu);
    cw_waiting++;
    while (!cw_go)
        pthread_cond_wait(&cw_cv, &cw_mu);
    cw_woken++;
    pthread_mutex_unlock(&cw_mu);
    return NULL;
}

static void test_prodcons(void) {
    printf("-- mutex + condvar producer/consumer\n");
    pthread_t p[4], c[4];
    for (long i = 0; i < 4; i++) {
        pthread_create(&c[i], NULL, consumer, (void *)i);
        pthread_create(&p[i], NULL, producer, (void *)i);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(p[i], NULL);
        pthread_join(c[i], NULL);
    }
    long sum = 0;
    int n = 0;
    for (int i = 0; i < 4; i++) {
        sum += pc_sums[i];
        n += pc_counts[i];
    }
    printf("items %d, sum %ld (want %ld), queue left %d\n", n, sum, (long)ITEMS * (ITEMS + 1) / 2, pc_count);

    pthread_t w[5];
    for (int i = 0; i < 5; i++)
        pthread_create(&w[i], NULL, bcast_waiter, NULL);
    for (int i = 0; i < 200000; i++) {
        pthread_mutex_lock(&cw_mu);
        int k = cw_waiting;
        pthread_mutex_unlock(&cw_mu);
        if (k == 5)
            break;
        sched_yield();
    }
    pthread_mutex_lock(&cw_mu);
    cw_go = 1;
    PCHECK("cond_broadcast", pthread_cond_broadcast(&cw_cv));
    pthread_mutex_unlock(&cw_mu);
    for (int i = 0; i < 5; i++)
        pthread_join(w[i], NULL);
    printf("broadcast woke %d of 5\n", cw_woken);

    struct timespec past;
    clock_gettime(CLOCK_REALTIME, &past);
    past.tv_sec -= 1;
    pthread_mutex_lock(&cw_mu);
    PCHECK("cond_timedwait past deadline", pthread_cond_timedwait(&cw_cv, &cw_mu, &past));
    struct timespec soon;
    clock_gettime(CLOCK_REALTIME, &soon);
    soon.tv_nsec += 10 * 1000000;
    if (soon.tv_nsec >= 1000000000) {
        soon.tv_sec++;
        soon.tv_nsec -= 1000000000;
    }
    PCHECK("cond_timedwait 10ms", pthread_cond_timedwait(&cw_cv, &cw_mu, &soon));
    PCHECK("mutex held after timedwait (trylock from owner)", pthread_mutex_trylock(&cw_mu));
    pthread_mutex_unlock(&cw_mu);

    pthread_mutexattr_t a;
    pthread_mutex_t em;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&em, &a);
    PCHECK("errorcheck lock", pthread_mutex_lock(&em));
    PCHECK("errorcheck relock", pthread_mutex_lock(&em));
    PCHECK("errorcheck unlock", pthread_mutex_unlock(&em));
    PCHECK("errorcheck unlock unlocked", pthread_mutex_unlock(&em));
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_t rm;
    pthread_mutex_init(&rm, &a);
    PCHECK("recursive lock", pthread_mutex_lock(&rm));
    PCHECK("recursive lock again", pthread_mutex_lock(&rm));
    PCHECK("recursive unlock", pthread_mutex_unlock(&rm));
    PCHECK("recursive unlock", pthread_mutex_unlock(&rm));
    PCHECK("recursive trylock", pthread_mutex_trylock(&rm));
    pthread_mutex_unlock(&rm);
}

// ---------------------------------------------------------------- barrier, rwlock, sem, once, TLS
#define NBAR 5
#define ROUNDS 3
static pthread_barrier_t bar;
static int bar_arrived, bar_serial[ROUNDS], bar_bad;

static void *bar_fn(void *arg) {
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        __atomic_add_fetch(&bar_arrived, 1, __ATOMIC_SEQ_CST);
        int s = pthread_barrier_wait(&bar);
        if (s == PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_add_fetch(&bar_serial[r], 1, __ATOMIC_SEQ_CST);
        else if (s != 0)
            bar_bad++;
        int a = __atomic_load_n(&bar_arrived, __ATOMIC_SEQ_CST);
        if (a < NBAR * (r + 1) || a >= NBAR * (r + 2))
            __atomic_add_fetch(&bar_bad, 1, __ATOMIC_SEQ_CST);
        sched_yield();
    }
    return NULL;
}

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static int rw_a, rw_b, rw_bad;
static int rw_try_rd, rw_try_wr;

static void *rw_try(void *arg) {
    (void)arg;
    rw_try_rd = pthread_rwlock_tryrdlock(&rw);
    if (rw_try_rd == 0)
        pthread_rwlock_unlock(&rw);
    rw_try_wr = pthread_rwlock_trywrlock(&rw);
    if (rw_try_wr == 0)
        pthread_rwlock_unlock(&rw);
    return NULL;
}

static void *rw_writer(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        pthread_rwlock_wrlock(&rw);
        rw_a++;
        if ((i & 63) == 0)
            sched_yield();
        rw_b++;
        pthread_rwlock_unlock(&rw);
    }
    return NULL;
}

static void *rw_reader(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        pthread_rwlock_rdlock(&rw);
        if (rw_a != rw_b)
            __atomic_add_fetch(&rw_bad, 1, __ATOMIC_SEQ_CST);
        pthread_rwlock_unlock(&rw);
    }
    return NULL;
}

static sem_t sem;
static void *sem_poster(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        sem_post(&sem);
        if ((i & 127) == 0)
            sched_yield();
    }
    return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_count;
static void once_init(void) {
    sleep_ms(5);
    __atomic_add_fetch(&once_count, 1, __ATOMIC_SEQ_CST);
}
static void *once_fn(void *arg) {
    (void)arg;
    pthread_once(&once, once_init);
    return (void *)(long)__atomic_load_n(&once_count, __ATOMIC_SEQ_CST);
}

static __thread int tls_val = 7;
static __thread long tls_arr[8];
static int tls_initial_ok[8], tls_kept[8];
static uintptr_t tls_addr[8];

static void *tls_fn(void *arg) {
    long id = (long)arg;
    tls_initial_ok[id] = tls_val == 7 && tls_arr[3] == 0;
    tls_val = (int)id * 100;
    tls_arr[3] = id;
    tls_addr[id] = (uintptr_t)&tls_val;
    int kept = 1;
    for (int i = 0; i < 20; i++) {
        sched_yield();
        kept &= tls_val == id * 100 && tls_arr[3] == id;
    }
    tls_kept[id] = kept;
    return NULL;
}

static sem_t det_sem;
static volatile int det_ran;
static void *det_fn(void *arg) {
    det_ran += (int)(long)arg;
    sem_post(&det_sem);
    pthread_exit((void *)5);
}

static void test_sync(void) {
    printf("-- barrier\n");
    PCHECK("barrier_init count 0", pthread_barrier_init(&bar, NULL, 0));
    PCHECK("barrier_init", pthread_barrier_init(&bar, NULL, NBAR));
    pthread_t t[16];
    for (int i = 0; i < NBAR; i++)
        pthread_create(&t[i], NULL, bar_fn, NULL);
    for (int i = 0; i < NBAR; i++)
        pthread_join(t[i], NULL);
    printf("serial threads per round:");
    for (int r = 0; r < ROUNDS; r++)
        printf(" %d", bar_serial[r]);
    printf("; phase violations %d\n", bar_bad);
    PCHECK("barrier_destroy", pthread_barrier_destroy(&bar));

    printf("-- rwlock\n");
    pthread_rwlock_rdlock(&rw);
    pthread_create(&t[0], NULL, rw_try, NULL);
    pthread_join(t[0], NULL);
    printf("read-held: other tryrdlock %s, trywrlock %s\n", ename(rw_try_rd), ename(rw_try_wr));
    pthread_rwlock_unlock(&rw);
    pthread_rwlock_wrlock(&rw);
    pthread_create(&t[0], NULL, rw_try, NULL);
    pthread_join(t[0], NULL);
    printf("write-held: other tryrdlock %s, trywrlock %s\n", ename(rw_try_rd), ename(rw_try_wr));
    PCHECK("wrlock relock by owner", pthread_rwlock_trywrlock(&rw));
    pthread_rwlock_unlock(&rw);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, rw_writer, NULL);
    for (int i = 2; i < 5; i++)
        pthread_create(&t[i], NULL, rw_reader, NULL);
    for (int i = 0; i < 5; i++)
        pthread_join(t[i], NULL);
    printf("rwlock: a %d b %d torn reads %d\n", rw_a, rw_b, rw_bad);

    printf("-- semaphore\n");
    CHECK("sem_init", sem_init(&sem, 0, 0));
    CHECK("sem_trywait empty", sem_trywait(&sem));
    struct timespec past;
    clock_gettime(CLOCK_REALTIME, &past);
    past.tv_sec -= 1;
    FCHECK("sem_timedwait past", sem_timedwait(&sem, &past));
    pthread_create(&t[0], NULL, sem_poster, NULL);
    int got = 0;
    for (int i = 0; i < 1000; i++)
        got += sem_wait(&sem) == 0;
    pthread_join(t[0], NULL);
    int v = -1;
    sem_getvalue(&sem, &v);
    printf("sem_wait succeeded %d times, value now %d\n", got, v);
    CHECK("sem_post", sem_post(&sem));
    sem_getvalue(&sem, &v);
    printf("value after post %d\n", v);
    CHECK("sem_destroy", sem_destroy(&sem));
    sem_t big;
    CHECK("sem_init above SEM_VALUE_MAX", sem_init(&big, 0, (unsigned)SEM_VALUE_MAX + 1));
    CHECK("sem_init SEM_VALUE_MAX", sem_init(&big, 0, SEM_VALUE_MAX));
    FCHECK("sem_post at max", sem_post(&big));

    printf("-- once\n");
    int all_saw = 1;
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, once_fn, NULL);
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        all_saw &= (long)r == 1;
    }
    pthread_once(&once, once_init);
    printf("init ran %d time(s), every caller saw it done %d\n", once_count, all_saw);

    printf("-- thread-local storage\n");
    tls_val = 42;
    for (long i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, tls_fn, (void *)i);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    int init_ok = 1, kept = 1, distinct = 1;
    for (int i = 0; i < 8; i++) {
        init_ok &= tls_initial_ok[i];
        kept &= tls_kept[i];
        distinct &= tls_addr[i] != (uintptr_t)&tls_val;
        for (int j = 0; j < i; j++)
            distinct &= tls_addr[i] != tls_addr[j];
    }
    printf("fresh initial values %d, values kept %d, addresses distinct %d, main value %d\n", init_ok, kept,
           distinct, tls_val);

    printf("-- detach\n");
    sem_init(&det_sem, 0, 0);
    pthread_t d;
    pthread_create(&d, NULL, det_fn, (void *)1);
    PCHECK("pthread_detach", pthread_detach(d));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    PCHECK("create detached", pthread_create(&d, &attr, det_fn, (void *)10));
    pthread_attr_destroy(&attr);
    sem_wait(&det_sem);
    sem_wait(&det_sem);
    printf("detached threads ran: %d\n", det_ran);
}

// ---------------------------------------------------------------- cancel
static volatile int cancel_started, cleanup_val;
static pthread_mutex_t cancel_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cancel_cv = PTHREAD_COND_INITIALIZER;

static void cleanup_fn(void *arg) { cleanup_val += (int)(long)arg; }
static void unlock_fn(void *arg) {
    cleanup_val += 100;
    pthread_mutex_unlock(arg);
}

static void *cancel_pause(void *arg) {
    pthread_cleanup_push(cleanup_fn, arg);
    __atomic_store_n(&cancel_started, 1, __ATOMIC_RELEASE);
    for (;;)
        pause();
    pthread_cleanup_pop(0);
    return NULL;
}

static void *cancel_sleep(void *arg) {
    pthread_cleanup_push(cleanup_fn, arg);
    __atomic_store_n(&cancel_started, 1, __ATOMIC_RELEASE);
    sleep(100);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *cancel_condwait(void *arg) {
    (void)arg;
    pthread_mutex_lock(&cancel_mu);
    pthread_cleanup_push(unlock_fn, &cancel_mu);
    __atomic_store_n(&cancel_started, 1, __ATOMIC_RELEASE);
    for (;;)
        pthread_cond_wait(&cancel_cv, &cancel_mu);
    pthread_cleanup_pop(0);
    return NULL;
}

static volatile int cancel_disabled_survived;
static void *cancel_disabled(void *arg) {
    (void)arg;
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    __atomic_store_n(&cancel_started, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&cancel_started, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
    sleep_ms(10); // a cancellation point, but cancellation is disabled
    cancel_disabled_survived = 1;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    pthread_testcancel();
    cancel_disabled_survived = 2;
    return NULL;
}

static void run_cancel(const char *label, void *(*fn)(void *), long arg) {
    pthread_t t;
    cancel_started = 0;
    cleanup_val = 0;
    pthread_create(&t, NULL, fn, (void *)arg);
    spin_until(&cancel_started);
    sleep_ms(5);
    int c = pthread_cancel(t);
    void *ret = NULL;
    int j = pthread_join(t, &ret);
    printf("%s: cancel %s, join %s, canceled %d, cleanup %d\n", label, ename(c), ename(j),
           ret == PTHREAD_CANCELED, cleanup_val);
}

static void test_cancel(void) {
    printf("-- cancel\n");
    run_cancel("blocked in pause", cancel_pause, 1);
    run_cancel("blocked in sleep", cancel_sleep, 2);
    run_cancel("blocked in cond_wait", cancel_condwait, 0);
    PCHECK("mutex free after cancelled cond_wait", pthread_mutex_trylock(&cancel_mu));
    pthread_mutex_unlock(&cancel_mu);

    pthread_t t;
    cancel_started = 0;
    pthread_create(&t, NULL, cancel_disabled, NULL);
    spin_until(&cancel_started);
    PCHECK("cancel while disabled", pthread_cancel(t));
    __atomic_store_n(&cancel_started, 2, __ATOMIC_RELEASE);
    void *ret;
    pthread_join(t, &ret);
    printf("disabled: canceled %d, survived to stage %d\n", ret == PTHREAD_CANCELED, cancel_disabled_survived);
}

// ---------------------------------------------------------------- signals to threads
static volatile pid_t usr1_tid, usr2_tid;
static volatile int usr1_hits, usr2_hits;
static volatile pid_t target_tid;
static volatile int target_ready, sigsuspend_err;

static void on_usr1(int sig) {
    (void)sig;
    usr1_tid = my_gettid();
    usr1_hits++;
}
static void on_usr2(int sig) {
    (void)sig;
    usr2_tid = my_gettid();
    usr2_hits++;
}

// Runs with the signal blocked (inherited), and waits for it in sigsuspend.
static void *sig_target(void *arg) {
    (void)arg;
    target_tid = my_gettid();
    sigset_t empty;
    sigemptyset(&empty);
    __atomic_store_n(&target_ready, 1, __ATOMIC_RELEASE);
    errno = 0;
    sigsuspend(&empty);
    sigsuspend_err = errno;
    return NULL;
}

// Unblocks SIGUSR2 with pthread_sigmask and polls until its handler has run.
static void *sig_unblocked(void *arg) {
    (void)arg;
    target_tid = my_gettid();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    __atomic_store_n(&target_ready, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 5000 && !usr2_hits; i++)
        sleep_ms(1);
    return NULL;
}

static sem_t blockers_sem;
static volatile int blockers_saw_pending;
static void *sig_blocker(void *arg) {
    (void)arg;
    sem_wait(&blockers_sem);
    sigset_t p;
    sigpending(&p);
    if (sigismember(&p, SIGUSR2))
        __atomic_add_fetch(&blockers_saw_pending, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static volatile int pend_seen_in_thread;
static void *pend_checker(void *arg) {
    (void)arg;
    sigset_t p;
    sigpending(&p);
    pend_seen_in_thread = sigismember(&p, SIGUSR2);
    target_tid = my_gettid();
    sigset_t empty;
    sigemptyset(&empty);
    sigsuspend(&empty);
    return NULL;
}

static void test_thread_signals(void) {
    printf("-- signals and threads\n");
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    pthread_t t;
    target_ready = 0;
    pthread_create(&t, NULL, sig_target, NULL);
    spin_until(&target_ready);
    PCHECK("pthread_kill sig 0", pthread_kill(t, 0));
    PCHECK("pthread_kill SIGUSR1", pthread_kill(t, SIGUSR1));
    pthread_join(t, NULL);
    printf("SIGUSR1 handled %d time(s), in the target thread %d, sigsuspend %s\n", usr1_hits,
           usr1_tid == target_tid, ename(sigsuspend_err));
    CHECK("tgkill self sig 0", syscall(SYS_tgkill, getpid(), my_gettid(), 0));
    CHECK("tgkill wrong tgid", syscall(SYS_tgkill, INT_MAX, my_gettid(), 0));
    CHECK("tgkill bad tid", syscall(SYS_tgkill, getpid(), -1, 0));

    // Process-directed: every thread but one blocks SIGUSR2.
    sem_init(&blockers_sem, 0, 0);
    pthread_t b[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&b[i], NULL, sig_blocker, NULL);
    target_ready = 0;
    pthread_create(&t, NULL, sig_unblocked, NULL);
    spin_until(&target_ready);
    CHECK("kill(getpid(), SIGUSR2)", kill(getpid(), SIGUSR2));
    pthread_join(t, NULL);
    for (int i = 0; i < 3; i++)
        sem_post(&blockers_sem);
    for (int i = 0; i < 3; i++)
        pthread_join(b[i], NULL);
    sigset_t p;
    sigpending(&p);
    printf("SIGUSR2 handled %d time(s), by the unblocked thread %d, main not %d, pending after %d, blockers saw "
           "pending %d\n",
           usr2_hits, usr2_tid == target_tid, usr2_tid != main_tid, sigismember(&p, SIGUSR2), blockers_saw_pending);

    // Everybody blocks it: it stays pending for the process, visible from
    // every thread, until some thread unblocks it.
    usr2_hits = 0;
    CHECK("kill(getpid(), SIGUSR2) all blocked", kill(getpid(), SIGUSR2));
    sigpending(&p);
    printf("pending in main %d, handled %d\n", sigismember(&p, SIGUSR2), usr2_hits);
    pthread_create(&t, NULL, pend_checker, NULL);
    pthread_join(t, NULL);
    sigpending(&p);
    printf("pending seen in new thread %d, handled %d by it %d, pending after %d\n", pend_seen_in_thread, usr2_hits,
           usr2_tid == target_tid, sigismember(&p, SIGUSR2));

    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

// ---------------------------------------------------------------- raw futexes
// A futex waiter thread. It loops until a FUTEX_WAIT returns 0, which only a
// wake does: Linux may wake a futex sleeper spuriously, and the kernel then
// re-checks the value at the address the waiter originally passed, going back
// to sleep there (or failing with EAGAIN if the value changed). With "home"
// set, the waiter re-waits for value 0 at *home after an EAGAIN; otherwise it
// re-waits at its own address with the value it now holds.
struct waiter {
    int *addr;
    int op;
    int bitset;
    int *volatile *home;
    volatile int done;
};

static void *waiter_fn(void *arg) {
    struct waiter *w = arg;
    int *a = w->addr;
    int v = w->home ? 0 : __atomic_load_n(a, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 100000; i++) {
        if (futex(a, w->op, v, 0, NULL, w->bitset) == 0)
            break;
        if (w->home) {
            a = __atomic_load_n(w->home, __ATOMIC_SEQ_CST);
            v = 0;
        } else {
            v = __atomic_load_n(a, __ATOMIC_SEQ_CST);
        }
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void start_waiter(pthread_t *t, struct waiter *w, int *addr, int op, int bitset, int *volatile *home) {
    w->addr = addr;
    w->op = op;
    w->bitset = bitset;
    w->home = home;
    w->done = 0;
    pthread_create(t, NULL, waiter_fn, w);
}

// Counts the waiters asleep on a private futex without disturbing them: a
// CMP_REQUEUE onto the same futex returns how many it "moved".
static long nwaiters(int *a) {
    return futex(a, FUTEX_CMP_REQUEUE_PRIVATE, 0, INT_MAX, a, __atomic_load_n(a, __ATOMIC_SEQ_CST));
}

// Waits (bounded) until n waiters are asleep on a; returns the last count.
static long await_waiters(int *a, int n) {
    long k = -1;
    for (int i = 0; i < 200000; i++) {
        k = nwaiters(a);
        if (k == n)
            break;
        sched_yield();
    }
    return k;
}

// Wakes (bounded retries) until n waiters in total were woken on a.
static long wake_total(int *a, int n) {
    long total = 0;
    for (int i = 0; total < n && i < 200000; i++) {
        long r = futex(a, FUTEX_WAKE_PRIVATE, n - (int)total, 0, NULL, 0);
        if (r > 0)
            total += r;
        else
            sched_yield();
    }
    return total;
}

static int fw, fq1, fq2, fq3, fb, wo1, wo2;
static int *volatile fq_home;

static void test_futex(void) {
    printf("-- futex\n");
    int word = 1;
    struct timespec ts = {0, 20 * 1000000};
    FCHECK("WAIT value mismatch", futex(&word, FUTEX_WAIT_PRIVATE, 0, 0, NULL, 0));
    FCHECK("WAIT value mismatch (shared)", futex(&word, FUTEX_WAIT, 0, 0, NULL, 0));
    double t0 = now_mono();
    FCHECK("WAIT 20ms timeout", futex_t(&word, FUTEX_WAIT_PRIVATE, 1, &ts, 0));
    printf("waited at least 20ms: %d\n", now_mono() - t0 >= 0.019);
    FCHECK("WAKE no waiters", futex(&word, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0));
    FCHECK("WAKE no waiters (shared)", futex(&word, FUTEX_WAKE, INT_MAX, 0, NULL, 0));
    struct timespec bad = {0, 1000000000};
    FCHECK("WAIT bad timespec", futex_t(&word, FUTEX_WAIT_PRIVATE, 1, &bad, 0));
    struct timespec neg = {-1, 0};
    FCHECK("WAIT negative timespec", futex_t(&word, FUTEX_WAIT_PRIVATE, 1, &neg, 0));
    FCHECK("unknown op", futex(&word, 99, 0, 0, NULL, 0));

    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_sec -= 1;
    FCHECK("WAIT_BITSET abs monotonic past", futex_t(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, &abs, -1));
    struct timespec zero = {0, 0};
    FCHECK("WAIT_BITSET abs monotonic 0", futex_t(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, &zero, -1));
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_sec -= 1;
    FCHECK("WAIT_BITSET abs realtime past",
           futex_t(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 1, &abs, -1));
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 20 * 1000000;
    if (abs.tv_nsec >= 1000000000) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000;
    }
    t0 = now_mono();
    FCHECK("WAIT_BITSET abs monotonic +20ms", futex_t(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, &abs, -1));
    printf("waited at least 20ms: %d\n", now_mono() - t0 >= 0.019);
    FCHECK("WAIT_BITSET bitset 0", futex_t(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, NULL, 0));
    FCHECK("WAIT_BITSET mismatch", futex_t(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, -1));
    FCHECK("WAKE_BITSET bitset 0", futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, 0, NULL, 0));
    FCHECK("WAKE_BITSET no waiters", futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, 0, NULL, -1));

    char *unaligned = (char *)&word + 1;
    FCHECK("WAIT unaligned", futex((int *)unaligned, FUTEX_WAIT_PRIVATE, 0, 0, NULL, 0));
    FCHECK("WAKE unaligned", futex((int *)unaligned, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0));
    void *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, 4096);
    FCHECK("WAIT unmapped", futex(gone, FUTEX_WAIT_PRIVATE, 0, 0, NULL, 0));
    FCHECK("WAIT unmapped (shared)", futex(gone, FUTEX_WAIT, 0, 0, NULL, 0));
    FCHECK("WAKE unmapped (shared)", futex(gone, FUTEX_WAKE, 1, 0, NULL, 0));
    FCHECK("WAKE unmapped (private)", futex(gone, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0));
    FCHECK("WAIT NULL", futex(NULL, FUTEX_WAIT_PRIVATE, 0, 0, NULL, 0));

    printf("-- futex wait/wake between threads\n");
    pthread_t t[4];
    struct waiter w[4];
    start_waiter(&t[0], &w[0], &fw, FUTEX_WAIT_PRIVATE, 0, NULL);
    printf("waiters asleep %ld\n", await_waiters(&fw, 1));
    printf("count again %ld\n", nwaiters(&fw));
    long r = 0;
    for (int i = 0; r == 0 && i < 100000; i++) {
        r = futex(&fw, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0);
        if (r == 0)
            sched_yield();
    }
    pthread_join(t[0], NULL);
    printf("WAKE woke %ld, waiter done %d\n", r, w[0].done);
    printf("count now %ld\n", nwaiters(&fw));

    printf("-- futex bitsets\n");
    start_waiter(&t[0], &w[0], &fb, FUTEX_WAIT_BITSET_PRIVATE, 0x1, NULL);
    printf("waiters asleep %ld\n", await_waiters(&fb, 1));
    FCHECK("WAKE_BITSET non-matching", futex(&fb, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, 0, NULL, 0x6));
    sleep_ms(10);
    printf("waiter still asleep %d\n", !__atomic_load_n(&w[0].done, __ATOMIC_ACQUIRE));
    FCHECK("WAKE_BITSET matching", futex(&fb, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, 0, NULL, 0x3));
    pthread_join(t[0], NULL);
    start_waiter(&t[0], &w[0], &fb, FUTEX_WAIT_BITSET_PRIVATE, 0x4, NULL);
    printf("waiters asleep %ld\n", await_waiters(&fb, 1));
    FCHECK("plain WAKE wakes a bitset waiter", futex(&fb, FUTEX_WAKE_PRIVATE, INT_MAX, 0, NULL, 0));
    pthread_join(t[0], NULL);
    start_waiter(&t[0], &w[0], &fb, FUTEX_WAIT_PRIVATE, 0, NULL);
    printf("waiters asleep %ld\n", await_waiters(&fb, 1));
    FCHECK("WAKE_BITSET wakes a plain waiter", futex(&fb, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, 0, NULL, 0x80));
    pthread_join(t[0], NULL);

    printf("-- futex requeue\n");
    fq_home = &fq1;
    for (int i = 0; i < 3; i++)
        start_waiter(&t[i], &w[i], &fq1, FUTEX_WAIT_PRIVATE, 0, &fq_home);
    printf("waiters asleep on fq1 %ld\n", await_waiters(&fq1, 3));
    // From here on fq1 holds 1: a waiter sent back there spuriously gets
    // EAGAIN and moves to fq_home instead of sleeping on fq1.
    fq_home = &fq2;
    __atomic_store_n(&fq1, 1, __ATOMIC_SEQ_CST);
    FCHECK("CMP_REQUEUE wrong val3", futex(&fq1, FUTEX_CMP_REQUEUE_PRIVATE, 0, INT_MAX, &fq2, 0));
    FCHECK("CMP_REQUEUE negative nr_requeue", futex(&fq1, FUTEX_CMP_REQUEUE_PRIVATE, 0, -1, &fq2, 1));
    FCHECK("CMP_REQUEUE negative nr_wake", futex(&fq1, FUTEX_CMP_REQUEUE_PRIVATE, -1, 1, &fq2, 1));
    FCHECK("CMP_REQUEUE fq1->fq2 wake 0 move all", futex(&fq1, FUTEX_CMP_REQUEUE_PRIVATE, 0, INT_MAX, &fq2, 1));
    printf("asleep on fq1 %ld, fq2 %ld\n", nwaiters(&fq1), nwaiters(&fq2));
    FCHECK("WAKE fq1", futex(&fq1, FUTEX_WAKE_PRIVATE, INT_MAX, 0, NULL, 0));
    FCHECK("REQUEUE fq2->fq3 wake 1 move 1", futex(&fq2, FUTEX_REQUEUE_PRIVATE, 1, 1, &fq3, 0));
    printf("asleep on fq2 %ld, fq3 %ld\n", nwaiters(&fq2), nwaiters(&fq3));
    FCHECK("CMP_REQUEUE fq2->fq3 wake 0 move 0", futex(&fq2, FUTEX_CMP_REQUEUE_PRIVATE, 0, 0, &fq3, 0));
    FCHECK("CMP_REQUEUE fq2->fq3 wake 1 move 0", futex(&fq2, FUTEX_CMP_REQUEUE_PRIVATE, 1, 0, &fq3, 0));
    printf("asleep on fq2 %ld, fq3 %ld\n", nwaiters(&fq2), nwaiters(&fq3));
    fq_home = &fq3;
    __atomic_store_n(&fq2, 1, __ATOMIC_SEQ_CST);
    printf("woken on fq3 %ld\n", wake_total(&fq3, 1));
    int done = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        done += w[i].done;
    }
    printf("waiters finished %d\n", done);

    printf("-- futex wake_op\n");
    start_waiter(&t[0], &w[0], &wo1, FUTEX_WAIT_PRIVATE, 0, NULL);
    start_waiter(&t[1], &w[1], &wo2, FUTEX_WAIT_PRIVATE, 0, NULL);
    printf("waiters asleep %ld %ld\n", await_waiters(&wo1, 1), await_waiters(&wo2, 1));
    FCHECK("WAKE_OP set 7, cmp old==0",
           futex(&wo1, FUTEX_WAKE_OP_PRIVATE, 1, 1, &wo2, FUTEX_OP(FUTEX_OP_SET, 7, FUTEX_OP_CMP_EQ, 0)));
    printf("wo2 now %d\n", wo2);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    start_waiter(&t[0], &w[0], &wo2, FUTEX_WAIT_PRIVATE, 0, NULL);
    printf("waiters asleep %ld\n", await_waiters(&wo2, 1));
    FCHECK("WAKE_OP add 1, cmp old>100",
           futex(&wo1, FUTEX_WAKE_OP_PRIVATE, 1, 1, &wo2, FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, 100)));
    printf("wo2 now %d, asleep on wo2 %ld\n", wo2, nwaiters(&wo2));
    FCHECK("WAKE_OP wake 0 on wo1, cmp old==8 wakes wo2",
           futex(&wo1, FUTEX_WAKE_OP_PRIVATE, 0, 1, &wo2, FUTEX_OP(FUTEX_OP_ADD, 0, FUTEX_OP_CMP_EQ, 8)));
    pthread_join(t[0], NULL);
    FCHECK("WAKE_OP or 1<<4",
           futex(&wo1, FUTEX_WAKE_OP_PRIVATE, 1, 1, &wo2,
                 FUTEX_OP((FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT), 4, FUTEX_OP_CMP_NE, 0)));
    printf("wo2 now %d\n", wo2);
    FCHECK("WAKE_OP andn 8", futex(&wo1, FUTEX_WAKE_OP_PRIVATE, 1, 1, &wo2,
                                   FUTEX_OP(FUTEX_OP_ANDN, 8, FUTEX_OP_CMP_LT, 0)));
    printf("wo2 now %d\n", wo2);
    FCHECK("WAKE_OP xor 0xff", futex(&wo1, FUTEX_WAKE_OP_PRIVATE, 1, 1, &wo2,
                                     FUTEX_OP(FUTEX_OP_XOR, 0xff, FUTEX_OP_CMP_GE, 0)));
    printf("wo2 now %d\n", wo2);
    FCHECK("WAKE_OP bad op", futex(&wo1, FUTEX_WAKE_OP_PRIVATE, 1, 1, &wo2, FUTEX_OP(7, 1, FUTEX_OP_CMP_EQ, 0)));
    printf("wo2 now %d\n", wo2);
    FCHECK("WAKE_OP bad cmp", futex(&wo1, FUTEX_WAKE_OP_PRIVATE, 1, 1, &wo2, FUTEX_OP(FUTEX_OP_SET, 3, 9, 0)));
    printf("wo2 now %d\n", wo2);
    FCHECK("WAKE_OP unmapped uaddr2",
           futex(&wo1, FUTEX_WAKE_OP_PRIVATE, 1, 1, gone, FUTEX_OP(FUTEX_OP_SET, 3, FUTEX_OP_CMP_EQ, 0)));

    printf("-- shared futex across fork\n");
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shared[0] = 0;
    pid_t c = fork_flushed();
    if (c == 0) {
        long rr = futex(shared, FUTEX_WAIT, 0, 0, NULL, 0);
        _exit(rr == 0 ? 0 : 10 + errno % 100);
    }
    FCHECK("private WAKE does not reach the child", futex(shared, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0));
    r = 0;
    for (int i = 0; r == 0 && i < 100000; i++) {
        r = futex(shared, FUTEX_WAKE, 1, 0, NULL, 0);
        if (r == 0)
            sched_yield();
    }
    printf("shared WAKE woke %ld\n", r);
    int st;
    waitpid(c, &st, 0);
    show_exit("child waiting on the shared futex", st);
    munmap(shared, 4096);
}

// ---------------------------------------------------------------- exits, fork from threads
static void *exit_group_fn(void *arg) {
    syscall(SYS_exit_group, (int)(long)arg);
    return NULL;
}

static pid_t survivor_pid;
static void *survivor_fn(void *arg) {
    sleep_ms(30);
    int same = getpid() == survivor_pid;
    if ((long)arg == 0)
        syscall(SYS_exit_group, same ? 5 : 50);
    syscall(SYS_exit, 9);
    return NULL;
}

static void *fork_fn(void *arg) {
    (void)arg;
    pid_t c = fork();
    if (c == 0) {
        int ok = 1;
        ok &= my_gettid() == getpid();
        ok &= getppid() == main_pid;
        // The fork copied only the calling thread. Counted before the child
        // makes a thread of its own: a joined thread may still be listed in
        // /proc/self/task for a moment, natively too (the CLONE_CHILD_CLEARTID
        // wake that ends pthread_join comes before the thread is unhashed),
        // so a count after the join depends on how the threads are scheduled.
        int threads = -1;
        DIR *d = opendir("/proc/self/task");
        if (d) {
            struct dirent *e;
            threads = 0;
            while ((e = readdir(d)))
                threads += e->d_name[0] != '.';
            closedir(d);
        }
        pthread_t t;
        ok &= pthread_create(&t, NULL, create_fn, (void *)0) == 0;
        ok &= pthread_join(t, NULL) == 0;
        ok &= pthread_mutex_lock(&pc_mu) == 0;
        sleep_ms(20);
        _exit(ok ? 30 + threads : 1);
    }
    return (void *)(long)c;
}

static void test_exits(void) {
    printf("-- set_tid_address\n");
    pid_t c = fork_flushed();
    if (c == 0) {
        static int ctid;
        long r = syscall(SYS_set_tid_address, &ctid);
        _exit(r == my_gettid() ? 0 : 1);
    }
    int st;
    waitpid(c, &st, 0);
    show_exit("set_tid_address returned the tid", st);

    printf("-- exit_group from a thread\n");
    c = fork_flushed();
    if (c == 0) {
        pthread_t t;
        pthread_create(&t, NULL, exit_group_fn, (void *)7);
        for (;;)
            pause();
    }
    waitpid(c, &st, 0);
    show_exit("exit_group(7) in a non-main thread", st);

    printf("-- main thread exits first\n");
    c = fork_flushed();
    if (c == 0) {
        survivor_pid = getpid();
        pthread_t t;
        pthread_create(&t, NULL, survivor_fn, (void *)0);
        syscall(SYS_exit, 0);
    }
    waitpid(c, &st, 0);
    show_exit("SYS_exit(0) in main, then exit_group(5) in thread", st);
    c = fork_flushed();
    if (c == 0) {
        survivor_pid = getpid();
        pthread_t t;
        pthread_create(&t, NULL, survivor_fn, (void *)1);
        syscall(SYS_exit, 3);
    }
    waitpid(c, &st, 0);
    show_exit("SYS_exit(3) in main, then SYS_exit(9) in the last thread", st);
    c = fork_flushed();
    if (c == 0) {
        pthread_t t;
        pthread_create(&t, NULL, create_fn, (void *)0);
        pthread_exit(NULL);
    }
    waitpid(c, &st, 0);
    show_exit("pthread_exit in main, other thread returns", st);

    printf("-- fork from a thread\n");
    pthread_t t;
    pthread_create(&t, NULL, fork_fn, NULL);
    void *ret;
    pthread_join(t, &ret);
    c = (pid_t)(long)ret;
    // The forking thread is gone; its child is still ours to reap.
    CHECK("waitpid child of an exited thread", waitpid(c, &st, 0) == c);
    show_exit("child forked by a thread (30 + threads)", st);
}

// ---------------------------------------------------------------- robust mutexes
static pthread_mutex_t rob1, rob2, rob3;
static void *lock_and_die(void *arg) {
    pthread_mutex_lock(arg);
    return NULL;
}

static sem_t rob_sem, rob_go;
static int rob_res[3];
static void *lock_wait_die(void *arg) {
    pthread_mutex_lock(arg);
    sem_post(&rob_sem);
    sem_wait(&rob_go);
    return NULL;
}

static void *lock_report(void *arg) {
    rob_res[0] = pthread_mutex_lock(arg);
    rob_res[1] = pthread_mutex_consistent(arg);
    rob_res[2] = pthread_mutex_unlock(arg);
    return NULL;
}

static void test_robust(void) {
    printf("-- robust mutexes\n");
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    PCHECK("setrobust", pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST));
    pthread_mutex_init(&rob1, &a);
    pthread_mutex_init(&rob2, &a);
    pthread_mutex_init(&rob3, &a);
    pthread_t t;
    pthread_create(&t, NULL, lock_and_die, &rob1);
    pthread_join(t, NULL);
    PCHECK("lock after owner died", pthread_mutex_lock(&rob1));
    PCHECK("consistent", pthread_mutex_consistent(&rob1));
    PCHECK("unlock", pthread_mutex_unlock(&rob1));
    PCHECK("lock again", pthread_mutex_lock(&rob1));
    PCHECK("unlock", pthread_mutex_unlock(&rob1));
    PCHECK("consistent on a consistent mutex", pthread_mutex_consistent(&rob1));

    pthread_create(&t, NULL, lock_and_die, &rob2);
    pthread_join(t, NULL);
    PCHECK("trylock after owner died", pthread_mutex_trylock(&rob2));
    PCHECK("unlock without consistent", pthread_mutex_unlock(&rob2));
    PCHECK("lock now", pthread_mutex_lock(&rob2));
    PCHECK("trylock now", pthread_mutex_trylock(&rob2));

    // A thread blocked in lock when the owner dies is woken with EOWNERDEAD.
    sem_init(&rob_sem, 0, 0);
    sem_init(&rob_go, 0, 0);
    pthread_t t2;
    pthread_create(&t, NULL, lock_wait_die, &rob3);
    sem_wait(&rob_sem);
    pthread_create(&t2, NULL, lock_report, &rob3);
    sleep_ms(10);
    sem_post(&rob_go);
    pthread_join(t, NULL);
    pthread_join(t2, NULL);
    printf("waiter got %s, then consistent %s, unlock %s\n", ename(rob_res[0]), ename(rob_res[1]),
           ename(rob_res[2]));
    PCHECK("lock after the waiter unlocked", pthread_mutex_lock(&rob3));
    pthread_mutex_unlock(&rob3);

    // Across processes: a pshared robust mutex held by a child that exits.
    pthread_mutex_t *pm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(pm, &a);
    pid_t c = fork_flushed();
    if (c == 0) {
        _exit(pthread_mutex_lock(pm) == 0 ? 0 : 1);
    }
    int st;
    waitpid(c, &st, 0);
    show_exit("child locked and exited", st);
    PCHECK("parent lock after child died", pthread_mutex_lock(pm));
    PCHECK("consistent", pthread_mutex_consistent(pm));
    PCHECK("unlock", pthread_mutex_unlock(pm));
    // A parent thread dies holding it; a child then locks it.
    pthread_create(&t, NULL, lock_and_die, pm);
    pthread_join(t, NULL);
    c = fork_flushed();
    if (c == 0) {
        int r = pthread_mutex_lock(pm);
        _exit(r == EOWNERDEAD ? 40 : r == 0 ? 41 : 42);
    }
    waitpid(c, &st, 0);
    show_exit("child lock after a parent thread died (40 = EOWNERDEAD)", st);
    munmap(pm, 4096);
    pthread_mutexattr_destroy(&a);
}

// ---------------------------------------------------------------- stress
#define NSTRESS 200
static pthread_mutex_t stress_mu = PTHREAD_MUTEX_INITIALIZER;
static long stress_counter;
static void *stress_fn(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&stress_mu);
        stress_counter++;
        pthread_mutex_unlock(&stress_mu);
    }
    return NULL;
}

static void test_stress(void) {
    printf("-- stress\n");
    pthread_t t[NSTRESS];
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    int created = 0;
    for (int i = 0; i < NSTRESS; i++)
        created += pthread_create(&t[i], &a, stress_fn, NULL) == 0;
    for (int i = 0; i < created; i++)
        pthread_join(t[i], NULL);
    printf("threads %d, counter %ld\n", created, stress_counter);
}

int main(void) {
    alarm(20);
    setvbuf(stdout, NULL, _IONBF, 0);
    main_pid = getpid();
    main_tid = my_gettid();
    test_create_join();
    test_prodcons();
    test_sync();
    test_cancel();
    test_thread_signals();
    test_futex();
    test_exits();
    test_robust();
    test_stress();
    printf("done\n");
    return 0;
}
