// PI futexes: LOCK_PI, LOCK_PI2, TRYLOCK_PI and UNLOCK_PI on the word's
// protocol (owner tid, FUTEX_WAITERS, FUTEX_OWNER_DIED), hand-over to a
// waiter at unlock and at the owner's exit, timeouts on both clocks, a signal
// during the wait, a lock shared between processes, the error cases, and
// glibc's PTHREAD_PRIO_INHERIT mutexes (plain and robust).
#include "common.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

static long fx(_Atomic uint32_t *w, int op, const struct timespec *ts) {
    return syscall(SYS_futex, w, op, 0, ts, NULL, 0);
}

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static _Atomic uint32_t word;

// The word, with the owner's tid shown as who it is.
static void show_word(const char *label, pid_t a, pid_t b) {
    uint32_t v = atomic_load(&word);
    uint32_t tid = v & FUTEX_TID_MASK;
    printf("%s: owner %s, waiters %d, owner died %d\n", label,
           tid == 0 ? "none" : tid == (uint32_t)a ? "A" : tid == (uint32_t)b ? "B" : "other",
           !!(v & FUTEX_WAITERS), !!(v & FUTEX_OWNER_DIED));
}

static void wait_for_waiters(void) {
    for (int i = 0; i < 2000 && !(atomic_load(&word) & FUTEX_WAITERS); i++) usleep(1000);
    usleep(20000);  // and for the waiter to be asleep in the kernel
}

struct locker {
    int op;
    long ret;
    int err;
    pid_t tid;
    int unlock_after;
    long unlocked;
};

static void *lock_thread(void *arg) {
    struct locker *l = arg;
    l->tid = gettid_();
    errno = 0;
    l->ret = fx(&word, l->op, NULL);
    l->err = errno;
    if (l->ret == 0 && l->unlock_after) {
        errno = 0;
        l->unlocked = fx(&word, FUTEX_UNLOCK_PI, NULL);
        l->err = errno;
    }
    return NULL;
}

static void basics(void) {
    pid_t me = gettid_();
    CHECK("TRYLOCK_PI free", fx(&word, FUTEX_TRYLOCK_PI, NULL));
    show_word("after TRYLOCK_PI", me, 0);
    CHECK("TRYLOCK_PI own", fx(&word, FUTEX_TRYLOCK_PI, NULL));
    CHECK("LOCK_PI own", fx(&word, FUTEX_LOCK_PI_PRIVATE, NULL));
    CHECK("UNLOCK_PI", fx(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL));
    show_word("after UNLOCK_PI", me, 0);
    CHECK("UNLOCK_PI not held", fx(&word, FUTEX_UNLOCK_PI, NULL));
    CHECK("LOCK_PI free", fx(&word, FUTEX_LOCK_PI, NULL));
    CHECK("UNLOCK_PI", fx(&word, FUTEX_UNLOCK_PI, NULL));

    // A free word with FUTEX_OWNER_DIED: taken, the bit kept.
    atomic_store(&word, FUTEX_OWNER_DIED);
    CHECK("LOCK_PI owner died", fx(&word, FUTEX_LOCK_PI, NULL));
    show_word("taken over", me, 0);
    CHECK("UNLOCK_PI", fx(&word, FUTEX_UNLOCK_PI, NULL));
    show_word("released", me, 0);

    // A word naming a thread that does not exist.
    atomic_store(&word, 0x3ffffff0);
    CHECK("LOCK_PI dead owner", fx(&word, FUTEX_LOCK_PI, NULL));
    printf("word has waiters %d\n", !!(atomic_load(&word) & FUTEX_WAITERS));
    CHECK("UNLOCK_PI of another's", fx(&word, FUTEX_UNLOCK_PI, NULL));
    atomic_store(&word, 0);

    CHECK("LOCK_PI CLOCK_REALTIME", fx(&word, FUTEX_LOCK_PI | FUTEX_CLOCK_REALTIME, NULL));
    CHECK("UNLOCK_PI2 CLOCK_REALTIME", fx(&word, FUTEX_UNLOCK_PI | FUTEX_CLOCK_REALTIME, NULL));
    CHECK("TRYLOCK_PI unaligned", syscall(SYS_futex, (char *)&word + 1, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0));
    CHECK("LOCK_PI NULL", syscall(SYS_futex, NULL, FUTEX_LOCK_PI, 0, NULL, NULL, 0));
    CHECK("UNLOCK_PI NULL", syscall(SYS_futex, NULL, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0));
    void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("LOCK_PI read-only", syscall(SYS_futex, ro, FUTEX_LOCK_PI, 0, NULL, NULL, 0));
    struct timespec bad = {0, 2000000000L};
    atomic_store(&word, 0);
    CHECK("LOCK_PI bad timeout", fx(&word, FUTEX_LOCK_PI, &bad));
    printf("word untouched %d\n", atomic_load(&word) == 0);
}

struct timed_lock {
    int op;
    struct timespec deadline;
    long ret;
    int err;
};

static void *timed_lock_thread(void *arg) {
    struct timed_lock *t = arg;
    errno = 0;
    t->ret = fx(&word, t->op, &t->deadline);
    t->err = errno;
    return NULL;
}

static void contention(void) {
    pid_t me = gettid_();
    CHECK("LOCK_PI (A)", fx(&word, FUTEX_LOCK_PI, NULL));
    struct locker b = {.op = FUTEX_LOCK_PI};
    pthread_t th;
    pthread_create(&th, NULL, lock_thread, &b);
    wait_for_waiters();
    show_word("B waits", me, b.tid);
    // The others: TRYLOCK_PI fails without waiting; timed locks time out.
    struct locker c = {.op = FUTEX_TRYLOCK_PI};
    pthread_t tc;
    pthread_create(&tc, NULL, lock_thread, &c);
    pthread_join(tc, NULL);
    printf("TRYLOCK_PI held by A: %ld %s\n", c.ret, errname(c.err));
    CHECK("UNLOCK_PI (A)", fx(&word, FUTEX_UNLOCK_PI, NULL));
    pthread_join(th, NULL);
    printf("B's LOCK_PI: %ld %s\n", b.ret, errname(b.err));
    show_word("handed to B", me, b.tid);
    // B has exited holding the lock, with no one waiting: the word stays.
    atomic_store(&word, 0);

    // Timeouts: LOCK_PI's absolute on CLOCK_REALTIME, LOCK_PI2's on
    // CLOCK_MONOTONIC, or CLOCK_REALTIME with the flag.
    atomic_store(&word, 0x3ffffff0);
    CHECK("LOCK_PI dead owner again", fx(&word, FUTEX_LOCK_PI, NULL));
    atomic_store(&word, 0);
    CHECK("LOCK_PI (A)", fx(&word, FUTEX_LOCK_PI, NULL));
    struct {
        int op;
        clockid_t clock;
        const char *what;
    } timed[] = {{FUTEX_LOCK_PI, CLOCK_REALTIME, "LOCK_PI realtime deadline"},
                 {FUTEX_LOCK_PI2, CLOCK_MONOTONIC, "LOCK_PI2 monotonic deadline"},
                 {FUTEX_LOCK_PI2 | FUTEX_CLOCK_REALTIME, CLOCK_REALTIME, "LOCK_PI2 realtime deadline"}};
    for (int i = 0; i < 3; i++) {
        struct timespec now;
        clock_gettime(timed[i].clock, &now);
        long long ns = now.tv_sec * 1000000000LL + now.tv_nsec + 30000000LL;
        struct timed_lock tl = {timed[i].op, {ns / 1000000000LL, ns % 1000000000LL}, 0, 0};
        // From another thread: A itself would get EDEADLK.
        pthread_t tt;
        pthread_create(&tt, NULL, timed_lock_thread, &tl);
        pthread_join(tt, NULL);
        struct timespec after;
        clock_gettime(timed[i].clock, &after);
        printf("%s: %ld %s, after it %d\n", timed[i].what, tl.ret, errname(tl.err),
               after.tv_sec * 1000000000LL + after.tv_nsec >= ns);
    }
    CHECK("UNLOCK_PI (A)", fx(&word, FUTEX_UNLOCK_PI, NULL));
    show_word("after the timeouts", me, 0);
}

// The owner exits holding the lock: the waiter gets it.
static void owner_exits(void) {
    atomic_store(&word, 0);
    struct locker a = {.op = FUTEX_LOCK_PI};  // exits holding it
    pthread_t ta;
    pthread_create(&ta, NULL, lock_thread, &a);
    pthread_join(ta, NULL);
    // A (gone now) holds it.
    printf("A locked: %ld\n", a.ret);
    struct locker b = {.op = FUTEX_TRYLOCK_PI};
    pthread_t tb;
    pthread_create(&tb, NULL, lock_thread, &b);
    pthread_join(tb, NULL);
    printf("TRYLOCK_PI of an exited owner's lock: %ld %s\n", b.ret, errname(b.err));
    atomic_store(&word, 0);
}

static void *exit_holding(void *arg) {
    struct locker *l = arg;
    l->tid = gettid_();
    l->ret = fx(&word, FUTEX_LOCK_PI, NULL);
    wait_for_waiters();  // B waits in the kernel
    return NULL;         // exit holding the lock
}

static void owner_exits_with_waiter(void) {
    atomic_store(&word, 0);
    struct locker a = {0}, b = {.op = FUTEX_LOCK_PI};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, exit_holding, &a);
    while (!a.tid || !(atomic_load(&word) & FUTEX_TID_MASK)) usleep(1000);
    pthread_create(&tb, NULL, lock_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("waiter after the owner's exit: %ld %s\n", b.ret, errname(b.err));
    show_word("handed at exit", a.tid, b.tid);
    atomic_store(&word, 0);
}

static volatile sig_atomic_t handled;
static void on_usr1(int s) {
    (void)s;
    handled++;
}

static void signal_during_wait(void) {
    set_handler(SIGUSR1, on_usr1, 0);
    atomic_store(&word, 0);
    CHECK("LOCK_PI (A)", fx(&word, FUTEX_LOCK_PI, NULL));
    struct locker b = {.op = FUTEX_LOCK_PI, .unlock_after = 1};
    pthread_t tb;
    pthread_create(&tb, NULL, lock_thread, &b);
    wait_for_waiters();
    pthread_kill(tb, SIGUSR1);
    usleep(50000);
    CHECK("UNLOCK_PI (A)", fx(&word, FUTEX_UNLOCK_PI, NULL));
    pthread_join(tb, NULL);
    printf("interrupted LOCK_PI: handler ran %d, then %ld, unlock %ld %s\n", (int)handled, b.ret, b.unlocked,
           errname(b.err));
    show_word("after B's unlock", 0, b.tid);
}

// The lock in shared memory: a child process waits for the parent's unlock.
static void between_processes(void) {
    _Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK("LOCK_PI shared (parent)", syscall(SYS_futex, w, FUTEX_LOCK_PI, 0, NULL, NULL, 0));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        long r = syscall(SYS_futex, w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
        uint32_t v = atomic_load(w);
        printf("child: LOCK_PI %ld, owner is me %d, waiters %d\n", r, (v & FUTEX_TID_MASK) == (uint32_t)getpid(),
               !!(v & FUTEX_WAITERS));
        r = syscall(SYS_futex, w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
        printf("child: UNLOCK_PI %ld, word %#x\n", r, atomic_load(w));
        fflush(stdout);
        _exit(0);
    }
    for (int i = 0; i < 2000 && !(atomic_load(w) & FUTEX_WAITERS); i++) usleep(1000);
    usleep(20000);
    long r = syscall(SYS_futex, w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
    int st;
    waitpid(pid, &st, 0);
    printf("UNLOCK_PI shared (parent) %ld\n", r);
    show_exit("child", st);
}

static pthread_mutex_t pm;
static long counter;

static void *hammer(void *arg) {
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&pm);
        counter++;
        pthread_mutex_unlock(&pm);
    }
    return arg;
}

static void *die_holding(void *arg) {
    pthread_mutex_lock(&pm);
    return arg;
}

static void glibc_mutexes(void) {
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_setprotocol(&at, PTHREAD_PRIO_INHERIT);
    printf("PRIO_INHERIT mutex init %d\n", pthread_mutex_init(&pm, &at));
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    printf("4 threads x 20000 increments: %ld\n", counter);
    pthread_mutex_destroy(&pm);

    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&pm, &at);
    pthread_t d;
    pthread_create(&d, NULL, die_holding, NULL);
    pthread_join(d, NULL);
    int r = pthread_mutex_lock(&pm);
    printf("robust PI mutex after its owner died: %s\n", errname(r));
    int c = pthread_mutex_consistent(&pm);
    int u = pthread_mutex_unlock(&pm);
    int l = pthread_mutex_lock(&pm);
    printf("consistent %d, unlock %d, lock again %d, unlock %d\n", c, u, l, pthread_mutex_unlock(&pm));
    pthread_t e;
    pthread_create(&e, NULL, die_holding, NULL);
    pthread_join(e, NULL);
    r = pthread_mutex_trylock(&pm);
    printf("trylock after the next owner died: %s\n", errname(r));
}

int main(void) {
    basics();
    contention();
    owner_exits();
    owner_exits_with_waiter();
    signal_during_wait();
    between_processes();
    glibc_mutexes();
    return 0;
}
