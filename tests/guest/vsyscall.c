// Calls into the legacy vsyscall page (gettimeofday, time), which old static
// binaries use; the host emulates it, or (vsyscall=none) faults, and the
// sandbox must do the same.
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
typedef long (*tod_t)(struct timeval *, void *);
typedef long (*time_fn)(long *);
int main(void) {
    struct timeval tv = {0};
    long r = ((tod_t)0xffffffffff600000)(&tv, 0);
    printf("vsyscall gettimeofday %ld sane %d\n", r, tv.tv_sec > 1000000000);
    long t = ((time_fn)0xffffffffff600400)(0);
    printf("vsyscall time sane %d\n", t > 1000000000);
    return 0;
}
