// argv, envp and the auxiliary vector as the program receives them.
#include "common.h"
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>

extern char **environ;
extern char _start[];
extern const ElfW(Ehdr) __ehdr_start;

int main(int argc, char **argv) {
    printf("argc = %d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d] = \"%s\"\n", i, argv[i]);
    printf("argv[argc] = %p\n", (void *)argv[argc]);
    int n = 0;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "GUEST_", 6) == 0) printf("env %s\n", *e);
        n++;
    }
    printf("environ entries = %d\n", n);
    // The stack pointer at entry is 16-byte aligned: argv follows argc there.
    printf("argv 8 mod 16 = %d\n", (int)(((uintptr_t)argv) % 16 == 8));
    printf("AT_PAGESZ = %lu\n", getauxval(AT_PAGESZ));
    printf("AT_PHENT = %lu\n", getauxval(AT_PHENT));
    printf("AT_PHNUM = %lu (ehdr says %u)\n", getauxval(AT_PHNUM), __ehdr_start.e_phnum);
    printf("AT_PHDR matches = %d\n", getauxval(AT_PHDR) == (unsigned long)&__ehdr_start + __ehdr_start.e_phoff);
    printf("AT_ENTRY matches _start = %d\n", getauxval(AT_ENTRY) == (unsigned long)_start);
    printf("AT_BASE = %lu\n", getauxval(AT_BASE));
    printf("AT_UID = %lu AT_EUID = %lu AT_GID = %lu AT_EGID = %lu\n", getauxval(AT_UID), getauxval(AT_EUID),
           getauxval(AT_GID), getauxval(AT_EGID));
    printf("uid = %d euid = %d gid = %d egid = %d\n", getuid(), geteuid(), getgid(), getegid());
    printf("AT_SECURE = %lu\n", getauxval(AT_SECURE));
    printf("AT_CLKTCK = %lu\n", getauxval(AT_CLKTCK));
    printf("AT_HWCAP = %#lx\n", getauxval(AT_HWCAP));
    printf("AT_HWCAP2 = %#lx\n", getauxval(AT_HWCAP2));
    printf("AT_PLATFORM = %s\n", (const char *)getauxval(AT_PLATFORM));
    printf("AT_EXECFN = %s\n", (const char *)getauxval(AT_EXECFN));
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    int nonzero = 0;
    for (int i = 0; i < 16; i++) nonzero |= r[i];
    printf("AT_RANDOM readable, nonzero = %d\n", nonzero != 0);
    // Strings live above the pointers, in the order Linux puts them.
    printf("argv strings ascend = %d\n", argc < 2 || argv[1] > argv[0]);
    printf("env above argv = %d\n", environ[0] == NULL || environ[0] > argv[argc - 1]);
    printf("execfn above env = %d\n", (char *)getauxval(AT_EXECFN) > argv[argc - 1]);
    return 0;
}
