// The smallest real program: a line on stdout and an exit status.
#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello from %s\n", argc > 1 ? argv[1] : "the sandbox");
    return argc > 2 ? 7 : 0;
}
