// What a program learns about its terminal: isatty, the termios settings, the
// window size and the foreground process group, and the ioctl errors.
#include "common.h"
#include <sys/ioctl.h>
#include <termios.h>

int main(void) {
    printf("isatty 0=%d 1=%d 2=%d\n", isatty(0), isatty(1), isatty(2));
    struct termios t;
    CHECK("tcgetattr", tcgetattr(0, &t));
    printf("ICANON=%d ECHO=%d ONLCR=%d VINTR=%d VEOF=%d\n", !!(t.c_lflag & ICANON), !!(t.c_lflag & ECHO),
           !!(t.c_oflag & ONLCR), t.c_cc[VINTR], t.c_cc[VEOF]);
    struct winsize ws;
    CHECK("TIOCGWINSZ", ioctl(1, TIOCGWINSZ, &ws));
    printf("rows=%d cols=%d\n", ws.ws_row, ws.ws_col);
    pid_t pg = 0;
    CHECK("TIOCGPGRP", ioctl(0, TIOCGPGRP, &pg) == 0 && pg > 0);
    CHECK("TIOCGPGRP is own group", pg == getpgrp());
    CHECK("getpgid(0) == getpgrp()", getpgid(0) == getpgrp());
    CHECK("getsid(0) == getpgrp()", getsid(0) == getpgrp());
    CHECK("getpgid no such pid", getpgid(999999));
    CHECK("TCGETS bad ptr", ioctl(0, TCGETS, (void *)0x10));
    CHECK("TIOCGWINSZ bad ptr", ioctl(0, TIOCGWINSZ, (void *)0x10));
    return 0;
}
