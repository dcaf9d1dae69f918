// The files a process still holds when it exits, is killed or execs are
// closed on its way out (Linux's exit_files; close-on-exec): an inotify watch
// has heard each close by the time wait returns. Each child also holds /proc
// files: closing one looks up its task. That once wedged the whole sandbox
// (issue 7): the last reference to an exiting task's fd table was dropped
// under the Sentry's task-set lock, and, with any inotify watch in the
// sandbox, the close of a /proc file took that lock again.
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>

static int in;

static int by_text(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Prints the events queued, sorted: Linux may close a dying task's files in
// any order.
static void drain(const char *what) {
    char buf[4096] __attribute__((aligned(8)));
    char *lines[64];
    int n = 0;
    long len;
    while ((len = read(in, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + len && n < 64;) {
            struct inotify_event *e = (struct inotify_event *)p;
            lines[n] = malloc(300);
            const char *kind = e->mask & IN_CREATE ? "create" : e->mask & IN_CLOSE_WRITE ? "close-write" : "other";
            snprintf(lines[n++], 300, "  %s %s", kind, e->len ? e->name : "");
            p += sizeof *e + e->len;
        }
    }
    qsort(lines, n, sizeof *lines, by_text);
    printf("-- %s: %d events\n", what, n);
    for (int i = 0; i < n; i++) {
        printf("%s\n", lines[i]);
        free(lines[i]);
    }
    fflush(stdout);
}

// What each child holds: /proc files of several kinds and a file of its own
// in the watched directory.
static void hold_files(const char *name, int flags) {
    open("/proc/self/environ", O_RDONLY | flags);
    open("/proc/self/maps", O_RDONLY | flags);
    open("/proc/self/fd", O_RDONLY | O_DIRECTORY | flags);
    open("/proc/self", O_RDONLY | O_DIRECTORY | flags);
    open(name, O_CREAT | O_WRONLY | flags, 0644);
}

static sem_t held;

static void *thread_holds(void *name) {
    hold_files(name, 0);
    sem_post(&held);
    pause();
    return NULL;
}

static void *thread_execs(void *arg) {
    execl("/proc/self/exe", "exit_files", "execd", (char *)NULL);
    _exit(127);
}

static pid_t child(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) close(in);
    return pid;
}

static void reap(const char *what, pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    show_exit(what, st);
    drain(what);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "execd")) {
        for (int fd = 3; fd < 8; fd++) printf("after exec: fd %d %s\n", fd, fcntl(fd, F_GETFD) < 0 ? "closed" : "open");
        return 0;
    }
    const char *d = "/dev/shm/exit-files-test";
    mkdir(d, 0755);
    CHECK("chdir", chdir(d));
    in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    CHECK_OK("watch", inotify_add_watch(in, ".", IN_CREATE | IN_CLOSE_WRITE));

    pid_t pid = child();
    if (pid == 0) {
        hold_files("exits", 0);
        _exit(3);
    }
    reap("exit", pid);

    pid = child();
    if (pid == 0) {
        hold_files("killed", 0);
        raise(SIGSTOP);
        pause();
        _exit(0);
    }
    int st;
    waitpid(pid, &st, WUNTRACED);
    kill(pid, SIGKILL);
    reap("killed", pid);

    // Threads of one process: the table closes with the last of them.
    pid = child();
    if (pid == 0) {
        sem_init(&held, 0, 0);
        char *names[] = {"thread-a", "thread-b"};
        for (int i = 0; i < 2; i++) {
            pthread_t t;
            pthread_create(&t, NULL, thread_holds, names[i]);
            sem_wait(&held);
        }
        hold_files("thread-main", 0);
        exit(4);
    }
    reap("exit_group with threads", pid);

    // The leader leaves first; the last thread closes the table.
    pid = child();
    if (pid == 0) {
        sem_init(&held, 0, 0);
        pthread_t t;
        pthread_create(&t, NULL, thread_holds, "leader-gone");
        sem_wait(&held);
        syscall(SYS_exit, 0);
    }
    usleep(100000);
    kill(pid, SIGTERM);
    reap("leader exits, then the process is killed", pid);

    // exec closes the close-on-exec ones (and keeps the others).
    pid = child();
    if (pid == 0) {
        hold_files("exec-cloexec", O_CLOEXEC);
        execl("/proc/self/exe", "exit_files", "execd", (char *)NULL);
        _exit(127);
    }
    reap("exec", pid);

    // exec from a second thread: de_thread ends the leader, whose files
    // stay with the process, and the exec closes the close-on-exec ones.
    pid = child();
    if (pid == 0) {
        hold_files("exec-thread", O_CLOEXEC);
        open("exec-thread-kept", O_CREAT | O_WRONLY, 0644);
        pthread_t t;
        pthread_create(&t, NULL, thread_execs, NULL);
        pause();
        _exit(0);
    }
    reap("exec from another thread", pid);

    unlink("exits");
    unlink("killed");
    unlink("thread-a");
    unlink("thread-b");
    unlink("thread-main");
    unlink("leader-gone");
    unlink("exec-cloexec");
    unlink("exec-thread");
    unlink("exec-thread-kept");
    printf("done\n");
    return 0;
}
