// brk, mmap, munmap, mprotect, mremap and madvise, with their error paths.
#include "common.h"
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PG 4096UL
static int is_zero(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

int main(void) {
    // brk: grow, use, shrink; brk(0) reports; requests below the start fail.
    char *b0 = (char *)syscall(SYS_brk, 0);
    printf("brk(0) page aligned = %d\n", ((uintptr_t)b0 % PG) == 0);
    char *b1 = (char *)syscall(SYS_brk, b0 + 3 * PG + 5);
    printf("brk grow returns request = %d\n", b1 == b0 + 3 * PG + 5);
    memset(b0, 'x', 3 * PG + 5);
    printf("brk memory usable = %d\n", b0[3 * PG + 4] == 'x');
    char *b2 = (char *)syscall(SYS_brk, b0 + PG);
    printf("brk shrink = %d\n", b2 == b0 + PG);
    char *b3 = (char *)syscall(SYS_brk, b0 + 2 * PG);
    printf("brk regrow = %d, new page zero = %d\n", b3 == b0 + 2 * PG, is_zero(b0 + PG, PG));
    char *b4 = (char *)syscall(SYS_brk, b0 - 100 * PG);
    printf("brk below start unchanged = %d\n", b4 == b3);
    char *b5 = (char *)syscall(SYS_brk, (void *)-4096L);
    printf("brk to kernel space unchanged = %d\n", b5 == b3);
    void *s = sbrk(0);
    printf("sbrk agrees = %d\n", s == b3);

    // Anonymous private mappings read zero and are writable.
    char *a = mmap(NULL, 10 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap ok = %d, aligned = %d, zero = %d\n", a != MAP_FAILED, ((uintptr_t)a % PG) == 0, is_zero(a, 10 * PG));
    memset(a, 'a', 10 * PG);
    // MAP_FIXED over part of it replaces those pages with zero pages.
    char *f = mmap(a + 2 * PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("MAP_FIXED at addr = %d, zero = %d, neighbours kept = %d\n", f == a + 2 * PG, is_zero(f, PG),
           a[PG] == 'a' && a[3 * PG] == 'a');
    errno = 0;
    void *nr = mmap(a + 4 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("MAP_FIXED_NOREPLACE over mapping = %s\n", nr == MAP_FAILED ? errname(errno) : "mapped");
    char *sh = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    printf("shared+populate ok = %d, zero = %d\n", sh != MAP_FAILED, is_zero(sh, 3 * PG));
    sh[PG] = 7;
    char *nrv = mmap(NULL, 1UL << 32, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    printf("4GiB NORESERVE ok = %d\n", nrv != MAP_FAILED);
    nrv[(1UL << 32) - 1] = 1;
    nrv[0] = 1;
    printf("4GiB ends touched, munmap = %d\n", munmap(nrv, 1UL << 32));
    char *gd = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
    printf("MAP_GROWSDOWN ok = %d\n", gd != MAP_FAILED);
    gd[0] = 1;
    gd[4 * PG - 1] = 1;

    CHECK("MAP_FIXED|MAP_FIXED_NOREPLACE over mapping", (long)mmap(a + 4 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_FIXED_NOREPLACE, -1, 0));
    printf("mapping kept = %d\n", a[4 * PG] == 'a');
    char *low = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    printf("MAP_32BIT below 2GiB = %d, above 1GiB = %d\n", (uintptr_t)low < 0x80000000UL, (uintptr_t)low >= 0x40000000UL);
    low[0] = 1;

    // Errors of mmap.
    CHECK("mmap len 0", (long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    CHECK("mmap no type", (long)mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0));
    CHECK("mmap fixed unaligned", (long)mmap((void *)(a + 1), PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    CHECK("mmap offset unaligned", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 1));
    CHECK("mmap huge", (long)mmap(NULL, 1UL << 47, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    CHECK("mmap len overflow", (long)mmap(NULL, (size_t)-PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    CHECK("mmap file bad fd", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 99, 0));
    CHECK("mmap SHARED_VALIDATE unknown flag", (long)mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x200000, -1, 0));
    CHECK("mmap fixed beyond user space", (long)mmap((void *)0x7ffffffff000UL, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));

    // munmap.
    CHECK("munmap unaligned", munmap(a + 1, PG));
    CHECK("munmap len 0", munmap(a, 0));
    CHECK("munmap unmapped range", munmap((void *)0x100000000000UL, PG));
    CHECK("munmap middle", munmap(a + 5 * PG, PG));
    CHECK("write into hole", write(1, a + 5 * PG, 1));
    CHECK("write before hole", write(1, a + 5 * PG - 1, 1));
    printf("\n");

    // mprotect.
    CHECK("mprotect RO", mprotect(a, PG, PROT_READ));
    CHECK("read into RO buffer", read(0, a, 1));
    CHECK("write from RO buffer", write(1, a, 1));
    printf("\n");
    CHECK("mprotect NONE", mprotect(a + PG, PG, PROT_NONE));
    CHECK("write from PROT_NONE buffer", write(1, a + PG, 1));
    CHECK("mprotect back RW", mprotect(a + PG, PG, PROT_READ | PROT_WRITE));
    printf("data kept across PROT_NONE = %d\n", a[PG] == 'a');
    CHECK("mprotect unaligned", mprotect(a + 1, PG, PROT_READ));
    CHECK("mprotect bad prot", mprotect(a, PG, 0x80));
    CHECK("mprotect over hole", mprotect(a, 10 * PG, PROT_READ));
    CHECK("mprotect unmapped", mprotect((void *)0x100000000000UL, PG, PROT_READ));
    CHECK("mprotect len 0", mprotect(a, 0, PROT_READ));
    CHECK("mprotect len 0 bad prot", mprotect(a, 0, 0x80));
    CHECK("mprotect PROT_SEM", mprotect(a + 3 * PG, PG, PROT_READ | PROT_WRITE | 0x8));
    CHECK("mprotect GROWSDOWN|GROWSUP", mprotect(a, PG, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP));
    CHECK("mprotect overflow", mprotect(a, (size_t)-PG, PROT_READ));
    CHECK("mprotect GROWSDOWN on non-stack", mprotect(a + 3 * PG, PG, PROT_READ | PROT_GROWSDOWN));

    // mremap: shrink, grow in place or by moving, move to a fixed address.
    char *r = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 4; i++) r[i * PG] = 'A' + i;
    char *r2 = mremap(r, 4 * PG, 2 * PG, 0);
    printf("mremap shrink in place = %d, data = %c%c\n", r2 == r, r2[0], r2[PG]);
    CHECK("write from shrunk tail", write(1, r + 3 * PG, 1));
    munmap(r + 2 * PG, 2 * PG);
    char *blocker = mmap(r + 2 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    errno = 0;
    void *r3 = mremap(r, 2 * PG, 8 * PG, 0);
    printf("mremap grow blocked, no MAYMOVE = %s\n", r3 == MAP_FAILED ? errname(errno) : "grew");
    char *r4 = mremap(r, 2 * PG, 8 * PG, MREMAP_MAYMOVE);
    printf("mremap MAYMOVE moved = %d, data = %c%c, new tail zero = %d\n", r4 != r, r4[0], r4[PG], is_zero(r4 + 2 * PG, 6 * PG));
    CHECK("old address gone", write(1, r, 1));
    munmap(blocker, PG);
    char *target = mmap(NULL, 16 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *r5 = mremap(r4, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, target + 4 * PG);
    printf("mremap FIXED at target = %d, data = %c%c, prot kept = %d\n", r5 == target + 4 * PG, r5[0], r5[PG], (r5[7 * PG] = 1));
    CHECK("mremap bad flags", (long)mremap(r5, PG, PG, 0x100));
    CHECK("mremap FIXED without MAYMOVE", (long)mremap(r5, PG, PG, MREMAP_FIXED, target));
    CHECK("mremap unaligned", (long)mremap(r5 + 1, PG, PG, 0));
    CHECK("mremap new len 0", (long)mremap(r5, PG, 0, 0));
    CHECK("mremap unmapped", (long)mremap((void *)0x100000000000UL, PG, 2 * PG, MREMAP_MAYMOVE));
    CHECK("mremap across mappings", (long)mremap(target, 16 * PG, 32 * PG, MREMAP_MAYMOVE));
    CHECK("mremap FIXED overlapping", (long)mremap(r5, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, r5 + PG));

    // madvise(MADV_DONTNEED) zeroes private anonymous memory, keeps shared.
    memset(a + 6 * PG, 'z', 2 * PG);
    CHECK("madvise DONTNEED", madvise(a + 6 * PG, PG, MADV_DONTNEED));
    printf("private zeroed = %d, next page kept = %d\n", is_zero(a + 6 * PG, PG), a[7 * PG] == 'z');
    CHECK("madvise DONTNEED shared", madvise(sh, 3 * PG, MADV_DONTNEED));
    printf("shared kept = %d\n", sh[PG] == 7);
    CHECK("madvise bad advice", madvise(a, PG, 12345));
    CHECK("madvise unaligned", madvise(a + 1, PG, MADV_NORMAL));
    CHECK("madvise unmapped", madvise((void *)0x100000000000UL, PG, MADV_NORMAL));
    CHECK("madvise over hole", madvise(a, 10 * PG, MADV_NORMAL));
    CHECK("madvise WILLNEED", madvise(a, PG, MADV_WILLNEED));
    CHECK("madvise len 0", madvise(a, 0, MADV_DONTNEED));
    CHECK("madvise REMOVE private", madvise(a + 6 * PG, PG, MADV_REMOVE));
    CHECK("madvise FREE shared", madvise(sh, PG, MADV_FREE));

    // Many small mappings, then free them all.
    void *ps[256];
    for (int i = 0; i < 256; i++) {
        ps[i] = mmap(NULL, PG * (1 + i % 3), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memset(ps[i], i, PG);
    }
    int good = 1;
    for (int i = 0; i < 256; i++) {
        good &= ((unsigned char *)ps[i])[PG - 1] == (unsigned char)i;
        munmap(ps[i], PG * (1 + i % 3));
    }
    printf("256 mappings kept their data = %d\n", good);
    // malloc of large blocks uses mmap and mremap (realloc).
    char *big = malloc(64 << 20);
    memset(big, 1, 64 << 20);
    big = realloc(big, 128 << 20);
    printf("realloc kept data = %d, tail usable = %d\n", big[(64 << 20) - 1] == 1, (big[(128 << 20) - 1] = 2) == 2);
    free(big);
    return 0;
}
