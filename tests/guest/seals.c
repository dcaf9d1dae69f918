// memfd seals: F_GET_SEALS and F_ADD_SEALS, what each seal refuses, and
// files that cannot be sealed.
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 8U
#endif

int main(void) {
    int plain = memfd_create("plain", 0);
    CHECK("seals without MFD_ALLOW_SEALING", fcntl(plain, F_GET_SEALS));
    CHECK("add to it", fcntl(plain, F_ADD_SEALS, F_SEAL_WRITE));

    int fd = memfd_create("sealed", MFD_ALLOW_SEALING);
    CHECK("seals", fcntl(fd, F_GET_SEALS));
    CHECK("write", write(fd, "0123456789", 10));
    CHECK("add unknown", fcntl(fd, F_ADD_SEALS, 0x100));
    CHECK("add shrink", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
    CHECK("seals", fcntl(fd, F_GET_SEALS));
    CHECK("shrink", ftruncate(fd, 5));
    CHECK("grow", ftruncate(fd, 20));
    CHECK("add grow", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
    CHECK("grow", ftruncate(fd, 30));
    CHECK("same size", ftruncate(fd, 20));
    CHECK("write inside", pwrite(fd, "ab", 2, 0));
    CHECK("write past the end", pwrite(fd, "ab", 2, 19));
    CHECK("fallocate past the end", fallocate(fd, 0, 0, 100));
    CHECK("fallocate keep size", fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 100));
    CHECK("add write", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    CHECK("write", pwrite(fd, "ab", 2, 0));
    CHECK("punch hole", fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, 4096));
    CHECK("read still", pread(fd, (char[8]){0}, 8, 0));
    CHECK("mmap shared writable", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0);
    CHECK("mmap private writable", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -1 : 0);
    CHECK("add seal", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
    CHECK("seals", fcntl(fd, F_GET_SEALS));
    CHECK("add after F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
    CHECK("add nothing after F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, 0));

    int fw = memfd_create("future", MFD_ALLOW_SEALING);
    CHECK("add future write", fcntl(fw, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
    CHECK("write", write(fw, "x", 1));
    CHECK("grow", ftruncate(fw, 100));

    int ex = memfd_create("exec", MFD_ALLOW_SEALING);
    CHECK("add exec (mode 777)", fcntl(ex, F_ADD_SEALS, F_SEAL_EXEC));
    CHECK("seals", fcntl(ex, F_GET_SEALS));
    CHECK("fchmod -x", fchmod(ex, 0666));
    int ne = memfd_create("noexec", MFD_NOEXEC_SEAL);
    CHECK("MFD_NOEXEC_SEAL seals", fcntl(ne, F_GET_SEALS));
    struct stat st;
    fstat(ne, &st);
    printf("mode %o\n", st.st_mode & 0777);
    CHECK("fchmod +x", fchmod(ne, 0777));
    CHECK("fchmod other bits", fchmod(ne, 0600));
    CHECK("write still", write(ne, "x", 1));

    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY);
    CHECK("reopened read-only", ro >= 0);
    CHECK("seals through it", fcntl(ro, F_GET_SEALS));
    CHECK("add through a read-only fd", fcntl(ro, F_ADD_SEALS, F_SEAL_SEAL));
    int shm = open("/dev/shm/seal-test", O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK("tmpfs file seals", fcntl(shm, F_GET_SEALS));
    CHECK("tmpfs file add", fcntl(shm, F_ADD_SEALS, F_SEAL_WRITE));
    unlink("/dev/shm/seal-test");
    int p[2];
    pipe(p);
    CHECK("pipe seals", fcntl(p[0], F_GET_SEALS));
    CHECK("pipe add", fcntl(p[1], F_ADD_SEALS, F_SEAL_WRITE));
    CHECK("pipe add read end", fcntl(p[0], F_ADD_SEALS, F_SEAL_WRITE));
    CHECK("bad fd", fcntl(99, F_GET_SEALS));
    return 0;
}
