// Changes under a directory that exists on the host (argv[1]), printing what
// is observed. Under rVisor the host directory must not change.
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        printf("list %s: %s\n", path, errname(errno));
        return;
    }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("list %s:", path);
    for (int i = 0; i < n; i++) printf(" %s", names[i]);
    printf("\n");
}

static void cat(const char *path) {
    char b[128] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("cat %s: %s\n", path, errname(errno));
        return;
    }
    read(fd, b, sizeof b - 1);
    close(fd);
    printf("cat %s: %s", path, b);
}

int main(int argc, char **argv) {
    if (argc < 2 || chdir(argv[1]) < 0) return 2;
    list(".");
    cat("keep.txt");
    // Append to a lower file: copied up, then changed.
    int fd = open("keep.txt", O_WRONLY | O_APPEND);
    CHECK("append to lower file", write(fd, "more\n", 5));
    close(fd);
    cat("keep.txt");
    CHECK("size after append", ({ struct stat st; stat("keep.txt", &st); (long)st.st_size; }));
    CHECK("truncate lower file", truncate("trunc.txt", 3));
    cat("trunc.txt");
    CHECK("chmod lower file", chmod("trunc.txt", 0600));
    CHECK("mode", ({ struct stat st; stat("trunc.txt", &st); (long)(st.st_mode & 0777); }));
    CHECK("unlink lower file", unlink("gone.txt"));
    cat("gone.txt");
    CHECK("recreate removed name", ({ int f = open("gone.txt", O_CREAT | O_WRONLY, 0644); write(f, "again\n", 6); close(f); }));
    cat("gone.txt");
    CHECK("new file", ({ int f = creat("new.txt", 0644); write(f, "fresh\n", 6); close(f); }));
    CHECK("rename lower file", rename("move.txt", "moved.txt"));
    cat("moved.txt");
    cat("move.txt");
    CHECK("mkdir in lower dir", mkdir("sub/made", 0755));
    list("sub");
    CHECK("rmdir non-empty merged dir", rmdir("sub"));
    CHECK("unlink in lower subdir", unlink("sub/inner.txt"));
    CHECK("rmdir made", rmdir("sub/made"));
    CHECK("rmdir now-empty merged dir", rmdir("sub"));
    list("sub");
    CHECK("mkdir where a dir was removed", mkdir("sub", 0700));
    list("sub");
    CHECK("symlink", symlink("keep.txt", "link"));
    cat("link");
    CHECK("hard link to lower file", link("moved.txt", "hard.txt"));
    cat("hard.txt");
    list(".");
    return 0;
}
