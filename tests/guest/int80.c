// A 32-bit syscall (int 0x80: eax 20 is getpid there, write here) from 64-bit
// code. rVisor does not offer the 32-bit ABI: it must answer ENOSYS rather than
// serve the call under its 64-bit number.
#include <stdio.h>
int main(void) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "rcx", "r11", "memory");
    printf("int 0x80 getpid = %ld\n", r);
    return 0;
}
