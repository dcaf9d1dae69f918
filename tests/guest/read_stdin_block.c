// Blocks reading stdin until it closes, then reports what it read.
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char b[256];
    long n, total = 0;
    while ((n = read(0, b, sizeof b)) > 0) total += n;
    printf("read %ld bytes\n", total);
    return 0;
}
