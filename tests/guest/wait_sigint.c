// Waits (up to 10 s) for SIGINT, handled, then prints it: the launcher's test
// sends SIGINT to the Sentry, which passes it on to the sandbox.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void on_int(int s) { got = s; }

int main(void) {
    signal(SIGINT, on_int);
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < 1000 && !got; i++) usleep(10000);
    printf("got %d\n", got);
    return 0;
}
