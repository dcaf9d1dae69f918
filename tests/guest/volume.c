// Changes in a directory (argv[1]) that is a volume under rVisor: they must
// reach the host exactly as they do natively. argv[2], if given, is a path
// to rename a file to across a mount boundary.
#define _GNU_SOURCE
#include "common.h"
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/statfs.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 2 || chdir(argv[1]) < 0) return 2;
    char b[64] = {0};
    int fd = open("existing.txt", O_RDONLY);
    CHECK("read existing", read(fd, b, sizeof b - 1));
    printf("existing: %s", b);
    close(fd);
    fd = open("new.txt", O_CREAT | O_EXCL | O_WRONLY, 0640);
    CHECK("create", fd >= 0);
    CHECK("write", write(fd, "made in the sandbox\n", 20));
    close(fd);
    fd = open("existing.txt", O_WRONLY | O_APPEND);
    CHECK("append", write(fd, "appended\n", 9));
    close(fd);
    CHECK("size", ({ struct stat st; stat("existing.txt", &st); (long)st.st_size; }));
    CHECK("mkdir", mkdir("dir", 0750));
    CHECK("mkdir again", mkdir("dir", 0750));
    CHECK("symlink", symlink("new.txt", "dir/link"));
    CHECK("link", link("new.txt", "dir/hard"));
    CHECK("rename", rename("dir/hard", "renamed.txt"));
    CHECK("chmod", chmod("renamed.txt", 0600));
    CHECK("mode", ({ struct stat st; stat("renamed.txt", &st); (long)(st.st_mode & 0777); }));
    CHECK("truncate", truncate("renamed.txt", 4));
    int af = open("alloc.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK("fallocate", fallocate(af, 0, 0, 10000));
    CHECK("fallocate keep size", fallocate(af, FALLOC_FL_KEEP_SIZE, 10000, 10000));
    CHECK("punch hole", fallocate(af, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, 4096));
    CHECK("allocated size", ({ struct stat st; fstat(af, &st); (long)st.st_size; }));
    close(af);
    struct statfs sf;
    CHECK("statfs", statfs(".", &sf));
    printf("blocks %llu bsize %ld\n", (unsigned long long)sf.f_blocks, (long)sf.f_bsize);
    CHECK("unlink", unlink("gone.txt"));
    CHECK("unlink missing", unlink("gone.txt"));
    CHECK("rmdir non-empty", rmdir("dir"));
    CHECK("nlink of new.txt", ({ struct stat st; stat("new.txt", &st); (long)st.st_nlink; }));
    if (argc > 2) CHECK("rename across a mount", rename("existing.txt", argv[2]));
    return 0;
}
