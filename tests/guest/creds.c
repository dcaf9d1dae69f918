// Credentials (run as root): getres[ug]id, set[res][ug]id rules for
// privileged and unprivileged callers, supplementary groups, setfsuid and the
// fs uid in permission checks, access() using the real uid, capget/capset and
// the version handshake, PR_SET_KEEPCAPS, and the capability bounding set.
// Anything that drops privileges runs in a forked child. Only comparisons and
// the fixed ids set here are printed, never the ids the program started with.
#include "common.h"
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

typedef struct __user_cap_header_struct cap_hdr;
typedef struct __user_cap_data_struct cap_data;

static char dir[64], secret[96], open_file[96], mine[96];

static long capget_raw(cap_hdr *h, cap_data *d) { return syscall(SYS_capget, h, d); }
static long capset_raw(cap_hdr *h, const cap_data *d) { return syscall(SYS_capset, h, d); }

// The current sets of this process (version 3, two 32-bit words each).
struct caps {
    uint64_t eff, prm, inh;
};

static struct caps get_caps(pid_t pid) {
    cap_hdr h = {_LINUX_CAPABILITY_VERSION_3, pid};
    cap_data d[2];
    memset(d, 0, sizeof d);
    struct caps c = {0, 0, 0};
    if (capget_raw(&h, d) != 0)
        return c;
    c.eff = d[0].effective | (uint64_t)d[1].effective << 32;
    c.prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
    c.inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
    return c;
}

static long set_caps(uint64_t eff, uint64_t prm, uint64_t inh) {
    cap_hdr h = {_LINUX_CAPABILITY_VERSION_3, 0};
    cap_data d[2];
    d[0].effective = (uint32_t)eff;
    d[1].effective = (uint32_t)(eff >> 32);
    d[0].permitted = (uint32_t)prm;
    d[1].permitted = (uint32_t)(prm >> 32);
    d[0].inheritable = (uint32_t)inh;
    d[1].inheritable = (uint32_t)(inh >> 32);
    return capset_raw(&h, d);
}

#define BIT(c) ((uint64_t)1 << (c))

static void show_caps(const char *label, struct caps c) {
    printf("%s: eff setuid %d setgid %d kill %d dac_override %d chown %d; prm setuid %d kill %d; eff empty %d prm "
           "empty %d inh empty %d\n",
           label, !!(c.eff & BIT(CAP_SETUID)), !!(c.eff & BIT(CAP_SETGID)), !!(c.eff & BIT(CAP_KILL)),
           !!(c.eff & BIT(CAP_DAC_OVERRIDE)), !!(c.eff & BIT(CAP_CHOWN)), !!(c.prm & BIT(CAP_SETUID)),
           !!(c.prm & BIT(CAP_KILL)), c.eff == 0, c.prm == 0, c.inh == 0);
}

static void show_resuid(const char *label) {
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    printf("%s: ruid %u euid %u suid %u\n", label, r, e, s);
}

static void show_resgid(const char *label) {
    gid_t r, e, s;
    getresgid(&r, &e, &s);
    printf("%s: rgid %u egid %u sgid %u\n", label, r, e, s);
}


// Runs fn in a forked child and reports how it ended.
static void in_child(const char *label, void (*fn)(void)) {
    printf("-- child: %s\n", label);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        fn();
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    show_exit(label, st);
}

// ---------------------------------------------------------------- children
static void drop_all(void) {
    CHECK("setresuid(1000,1000,1000)", setresuid(1000, 1000, 1000));
    show_resuid("after");
    CHECK("setuid(0)", setuid(0));
    CHECK("seteuid(0)", seteuid(0));
    CHECK("setreuid(-1, 0)", setreuid(-1, 0));
    CHECK("setresuid(1000, 0, -1)", setresuid(1000, 0, -1));
    CHECK("setresuid(-1,-1,-1)", setresuid(-1, -1, -1));
    CHECK("setuid(1000)", setuid(1000));
    CHECK("setresuid(1000,1000,1000) again", setresuid(1000, 1000, 1000));
    show_caps("caps", get_caps(0));
    CHECK("setgroups", setgroups(0, NULL));
    CHECK("setgid(0)", setgid(0));
    CHECK("PR_CAPBSET_READ CAP_SETUID", prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0));
    CHECK("PR_CAPBSET_DROP without CAP_SETPCAP", prctl(PR_CAPBSET_DROP, CAP_SETUID, 0, 0, 0));
    CHECK("capset raise effective", set_caps(BIT(CAP_KILL), 0, 0));
    CHECK("capset raise permitted", set_caps(0, BIT(CAP_KILL), 0));
    CHECK("capset all empty", set_caps(0, 0, 0));
    CHECK("kill(parent, 0) (root-owned)", kill(getppid(), 0));
    CHECK("kill(self, 0)", kill(getpid(), 0));
    // Unprivileged setfsuid: only to one of the real/effective/saved uids,
    // but always returns the previous fsuid.
    CHECK("setfsuid(0) unprivileged returns old", setfsuid(0));
    CHECK("setfsuid(-1) query", setfsuid(-1));
    CHECK("setfsuid(1000)", setfsuid(1000));
}

static void setreuid_child(void) {
    CHECK("setreuid(-1, 1000)", setreuid(-1, 1000));
    show_resuid("after");
    show_caps("caps", get_caps(0));
    CHECK("seteuid(0) (real uid is 0)", seteuid(0));
    show_resuid("after");
    show_caps("caps", get_caps(0));
    CHECK("setreuid(1000, -1)", setreuid(1000, -1));
    show_resuid("after");
    CHECK("setreuid(2000, 3000) as root", setreuid(2000, 3000));
    show_resuid("after");
    show_caps("caps", get_caps(0));
    CHECK("setreuid(3000, 2000) unprivileged swap", setreuid(3000, 2000));
    show_resuid("after");
    CHECK("setreuid(4000, -1) unprivileged", setreuid(4000, -1));
    CHECK("setreuid(-1, 3000)", setreuid(-1, 3000));
    show_resuid("after");
}

static void seteuid_child(void) {
    CHECK("seteuid(1000)", seteuid(1000));
    show_resuid("after");
    show_caps("caps", get_caps(0));
    CHECK("seteuid(0) (saved uid is 0)", seteuid(0));
    show_resuid("after");
    show_caps("caps", get_caps(0));
    CHECK("setuid(1000) as root", setuid(1000));
    show_resuid("after");
    CHECK("seteuid(0) now", seteuid(0));
}

static void gid_child(void) {
    CHECK("setresgid(100,200,300)", setresgid(100, 200, 300));
    show_resgid("after");
    CHECK("setgid(500) as root", setgid(500));
    show_resgid("after");
    CHECK("setresgid(100,200,300)", setresgid(100, 200, 300));
    CHECK("setresuid(1000,1000,1000)", setresuid(1000, 1000, 1000));
    CHECK("setegid(300) (saved)", setegid(300));
    show_resgid("after");
    CHECK("setegid(400)", setegid(400));
    CHECK("setgid(200)", setgid(200));
    CHECK("setgid(100) (real)", setgid(100));
    show_resgid("after");
    CHECK("setregid(300, -1)", setregid(300, -1));
    CHECK("setregid(-1, 300)", setregid(-1, 300));
    show_resgid("after");
    CHECK("setregid(300, -1)", setregid(300, -1));
    show_resgid("after");
    CHECK("setresgid(-1, 100, -1)", setresgid(-1, 100, -1));
    CHECK("setfsgid(300) returns old fsgid", setfsgid(300));
    CHECK("setfsgid(-1) query", setfsgid(-1));
}

static void invalid_child(void) {
    CHECK("setuid(-1)", syscall(SYS_setuid, -1));
    CHECK("setgid(-1)", syscall(SYS_setgid, -1));
    CHECK("setresuid(-1,-1,-1)", setresuid(-1, -1, -1));
    CHECK("setresgid(-1,-1,-1)", setresgid(-1, -1, -1));
    CHECK("setreuid(-1,-1)", setreuid(-1, -1));
    CHECK("seteuid(-1) (glibc)", seteuid(-1));
    CHECK("setfsuid(-1) returns current (0)", setfsuid(-1));
    show_resuid("unchanged");
    CHECK("getresuid(NULL,..)", syscall(SYS_getresuid, NULL, NULL, NULL));
    CHECK("getresgid(NULL,..)", syscall(SYS_getresgid, NULL, NULL, NULL));
}

static void keepcaps_child(void) {
    CHECK("PR_GET_KEEPCAPS", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    CHECK("PR_SET_KEEPCAPS 2", prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
    CHECK("PR_SET_KEEPCAPS 1", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    CHECK("PR_GET_KEEPCAPS", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    struct caps before = get_caps(0);
    CHECK("setresuid(1000,1000,1000)", setresuid(1000, 1000, 1000));
    struct caps c = get_caps(0);
    show_caps("caps", c);
    printf("permitted kept %d\n", c.prm == before.prm);
    CHECK("PR_GET_KEEPCAPS", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    uint64_t prm = c.prm & ~BIT(CAP_KILL);
    CHECK("capset eff SETUID, prm without KILL", set_caps(BIT(CAP_SETUID), prm, 0));
    show_caps("caps", get_caps(0));
    CHECK("capset raise KILL into permitted", set_caps(BIT(CAP_SETUID), prm | BIT(CAP_KILL), 0));
    CHECK("capset eff KILL not permitted", set_caps(BIT(CAP_SETUID) | BIT(CAP_KILL), prm, 0));
    CHECK("capset inh KILL not permitted", set_caps(BIT(CAP_SETUID), prm, BIT(CAP_KILL)));
    CHECK("capset inh SETUID (permitted)", set_caps(BIT(CAP_SETUID), prm, BIT(CAP_SETUID)));
    cap_hdr h = {0x12345678, 0};
    cap_data d[2] = {{0}};
    CHECK("capset bad version", capset_raw(&h, d));
    printf("version rewritten %d\n", h.version == _LINUX_CAPABILITY_VERSION_3);
    cap_hdr hp = {_LINUX_CAPABILITY_VERSION_3, getppid()};
    d[0].effective = d[0].permitted = BIT(CAP_SETUID);
    CHECK("capset another pid", capset_raw(&hp, d));
    CHECK("setresuid(0,0,0) with CAP_SETUID", setresuid(0, 0, 0));
    show_resuid("after");
    show_caps("caps", get_caps(0));
}

static void bounding_child(void) {
    CHECK("PR_CAPBSET_READ CAP_SETUID", prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0));
    CHECK("PR_CAPBSET_DROP CAP_SETUID", prctl(PR_CAPBSET_DROP, CAP_SETUID, 0, 0, 0));
    CHECK("PR_CAPBSET_READ CAP_SETUID", prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0));
    CHECK("PR_CAPBSET_DROP again", prctl(PR_CAPBSET_DROP, CAP_SETUID, 0, 0, 0));
    show_caps("caps (bounding drop leaves eff/prm)", get_caps(0));
    CHECK("setresuid(1000,1000,1000) still allowed", setresuid(1000, 1000, 1000));
}

static void fs_perm_euid_child(void) {
    CHECK("setresuid(-1, 1000, -1)", setresuid(-1, 1000, -1));
    CHECK("open 0600 root file", open(secret, O_RDONLY));
    CHECK("access R_OK (real uid 0)", access(secret, R_OK));
    CHECK("faccessat AT_EACCESS", faccessat(AT_FDCWD, secret, R_OK, AT_EACCESS));
    CHECK_OK("open 0644 root file", open(open_file, O_RDONLY));
    CHECK("open 0644 root file for writing", open(open_file, O_WRONLY));
    CHECK("create in root 0755 dir", open(mine, O_CREAT | O_WRONLY, 0600));
    CHECK("seteuid(0)", seteuid(0));
    CHECK_OK("open 0600 root file as root again", open(secret, O_RDONLY));
}

static void fs_perm_fsuid_child(void) {
    CHECK("setfsuid(1000) returns old", setfsuid(1000));
    show_resuid("unchanged");
    show_caps("caps (fs caps dropped)", get_caps(0));
    CHECK("open 0600 root file", open(secret, O_RDONLY));
    CHECK("access R_OK (real uid 0)", access(secret, R_OK));
    CHECK("setfsuid(0) returns old", setfsuid(0));
    CHECK_OK("open 0600 root file", open(secret, O_RDONLY));
    show_caps("caps (fs caps back)", get_caps(0));
    CHECK("setfsuid(1000)", setfsuid(1000));
    CHECK("setfsgid(1000) returns old", setfsgid(1000));
    CHECK("chmod root-owned dir with fsuid 1000", chmod(dir, 0777));
}

static void fs_perm_all_child(void) {
    CHECK("setresuid(1000,1000,1000)", setresuid(1000, 1000, 1000));
    CHECK("open 0600 root file", open(secret, O_RDONLY));
    CHECK("access R_OK", access(secret, R_OK));
    CHECK("access F_OK", access(secret, F_OK));
    struct stat sb;
    CHECK("stat", stat(secret, &sb));
    CHECK("chmod root file", chmod(secret, 0644));
    CHECK("unlink in root dir", unlink(secret));
    CHECK_OK("open file owned by 1000", open(mine, O_RDONLY));
    CHECK("chmod own file 0000", chmod(mine, 0));
    CHECK("open own file mode 0000", open(mine, O_RDONLY));
    CHECK("access own file mode 0000", access(mine, R_OK));
    CHECK("chmod own file 0600", chmod(mine, 0600));
    CHECK("chown own file to 2000", chown(mine, 2000, -1));
    CHECK("chown own file to self", chown(mine, 1000, -1));
}

static int cmp_gid(const void *a, const void *b) {
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return (x > y) - (x < y);
}

int main(void) {
    alarm(20);
    setvbuf(stdout, NULL, _IONBF, 0);
    umask(022);

    printf("-- identity\n");
    uid_t r, e, s;
    gid_t rg, eg, sg;
    CHECK("getresuid", getresuid(&r, &e, &s));
    CHECK("getresgid", getresgid(&rg, &eg, &sg));
    printf("root: ruid %d euid %d suid %d rgid %d egid %d sgid %d getuid %d geteuid %d\n", r == 0, e == 0, s == 0,
           rg == 0, eg == 0, sg == 0, getuid() == 0, geteuid() == 0);
    CHECK("setfsuid(-1) is the euid", setfsuid(-1) == (int)geteuid());

    printf("-- groups\n");
    int ng0 = getgroups(0, NULL);
    gid_t saved[256];
    int nsaved = getgroups(256, saved);
    printf("getgroups(0) agrees with the list %d\n", ng0 == nsaved);
    gid_t g[3] = {30, 10, 20};
    CHECK("setgroups {30,10,20}", setgroups(3, g));
    CHECK("getgroups(0, NULL)", getgroups(0, NULL));
    gid_t out[8] = {0};
    CHECK("getgroups(1) too small", getgroups(1, out));
    CHECK("getgroups(3)", getgroups(3, out));
    printf("groups %u %u %u\n", out[0], out[1], out[2]);
    CHECK("getgroups(8)", getgroups(8, out));
    CHECK("getgroups(-1)", syscall(SYS_getgroups, -1, out));
    CHECK("getgroups bad pointer", syscall(SYS_getgroups, 3, (void *)8));
    CHECK("setgroups(-1)", syscall(SYS_setgroups, -1, g));
    CHECK("setgroups(NGROUPS_MAX + 1)", syscall(SYS_setgroups, 65537, g));
    CHECK("setgroups bad pointer", syscall(SYS_setgroups, 2, (void *)8));
    gid_t dup[4] = {5, 5, 7, 5};
    CHECK("setgroups with duplicates", setgroups(4, dup));
    CHECK("getgroups(0)", getgroups(0, NULL));
    CHECK("setgroups(0)", setgroups(0, NULL));
    CHECK("getgroups(0) after clearing", getgroups(0, NULL));
    CHECK("getgroups(0, bad pointer)", syscall(SYS_getgroups, 0, (void *)8));

    printf("-- setfsuid\n");
    CHECK("setfsuid(1000) returns old (0)", setfsuid(1000));
    CHECK("setfsuid(-1) query", setfsuid(-1));
    CHECK("setfsuid(0) returns 1000", setfsuid(0));
    CHECK("setfsuid(-1) query", setfsuid(-1));
    CHECK("setfsgid(1000) returns old (0)", setfsgid(1000));
    CHECK("setfsgid(0) returns 1000", setfsgid(0));
    show_caps("caps after fsuid round trip", get_caps(0));

    printf("-- capget\n");
    cap_hdr h = {_LINUX_CAPABILITY_VERSION_3, 0};
    cap_data d[2];
    CHECK("capget v3 self", capget_raw(&h, d));
    show_caps("self", get_caps(0));
    h.pid = getpid();
    CHECK("capget v3 own pid", capget_raw(&h, d));
    h = (cap_hdr){0x12345678, 0};
    CHECK("capget bad version", capget_raw(&h, d));
    printf("version rewritten to 0x%x\n", h.version);
    h = (cap_hdr){0x12345678, 0};
    CHECK("capget bad version, NULL data", capget_raw(&h, NULL));
    printf("version rewritten to 0x%x\n", h.version);
    h = (cap_hdr){_LINUX_CAPABILITY_VERSION_3, 0};
    CHECK("capget v3 NULL data", capget_raw(&h, NULL));
    h = (cap_hdr){_LINUX_CAPABILITY_VERSION_1, 0};
    memset(d, 0xff, sizeof d);
    CHECK("capget v1", capget_raw(&h, d));
    printf("v1: setuid %d, second word untouched %d\n", !!(d[0].effective & BIT(CAP_SETUID)),
           d[1].effective == 0xffffffffu);
    h = (cap_hdr){_LINUX_CAPABILITY_VERSION_2, 0};
    CHECK("capget v2", capget_raw(&h, d));
    h = (cap_hdr){_LINUX_CAPABILITY_VERSION_3, INT_MAX};
    CHECK("capget nonexistent pid", capget_raw(&h, d));
    h = (cap_hdr){_LINUX_CAPABILITY_VERSION_3, -1};
    CHECK("capget pid -1", capget_raw(&h, d));
    CHECK("capget NULL header", capget_raw(NULL, d));
    h = (cap_hdr){_LINUX_CAPABILITY_VERSION_3, 0};
    CHECK("capget bad data pointer", capget_raw(&h, (void *)8));
    struct caps mine_c = get_caps(0);
    CHECK("capset to the same sets", set_caps(mine_c.eff, mine_c.prm, mine_c.inh));
    CHECK("PR_CAPBSET_READ CAP_SETUID", prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0));
    CHECK("PR_CAPBSET_READ 200", prctl(PR_CAPBSET_READ, 200, 0, 0, 0));
    CHECK("PR_CAPBSET_READ -1", prctl(PR_CAPBSET_READ, -1, 0, 0, 0));

    // capget of another process: a child that dropped root.
    int p1[2], p2[2];
    pipe(p1);
    pipe(p2);
    pid_t c = fork();
    if (c == 0) {
        char b;
        setresuid(1000, 1000, 1000);
        write(p1[1], "x", 1);
        read(p2[0], &b, 1);
        _exit(0);
    }
    char b;
    read(p1[0], &b, 1);
    show_caps("child after dropping root, seen by the parent", get_caps(c));
    CHECK("kill(child, 0) as root", kill(c, 0));
    write(p2[1], "x", 1);
    int st;
    waitpid(c, &st, 0);
    close(p1[0]);
    close(p1[1]);
    close(p2[0]);
    close(p2[1]);

    in_child("setresuid to 1000", drop_all);
    in_child("setreuid", setreuid_child);
    in_child("seteuid", seteuid_child);
    in_child("gid rules", gid_child);
    in_child("invalid ids", invalid_child);
    in_child("keepcaps", keepcaps_child);
    in_child("bounding set", bounding_child);

    printf("-- file permissions\n");
    snprintf(dir, sizeof dir, "/tmp/rvisor-creds-%d", getpid());
    snprintf(secret, sizeof secret, "%s/secret", dir);
    snprintf(open_file, sizeof open_file, "%s/open", dir);
    snprintf(mine, sizeof mine, "%s/mine", dir);
    CHECK("mkdir 0755", mkdir(dir, 0755));
    int fd = open(secret, O_CREAT | O_WRONLY | O_EXCL, 0600);
    CHECK("create 0600 file", fd >= 0);
    close(fd);
    fd = open(open_file, O_CREAT | O_WRONLY | O_EXCL, 0644);
    CHECK("create 0644 file", fd >= 0);
    close(fd);
    in_child("euid 1000, real uid 0", fs_perm_euid_child);
    in_child("fsuid 1000", fs_perm_fsuid_child);
    fd = open(mine, O_CREAT | O_WRONLY | O_EXCL, 0600);
    CHECK("create file for 1000", fd >= 0);
    close(fd);
    CHECK("chown it to 1000:1000", chown(mine, 1000, 1000));
    in_child("all uids 1000", fs_perm_all_child);
    struct stat sb;
    CHECK("stat secret", stat(secret, &sb));
    printf("secret: mode %o owner root %d\n", sb.st_mode & 07777, sb.st_uid == 0);
    CHECK("stat mine", stat(mine, &sb));
    printf("mine: mode %o uid %u gid %u\n", sb.st_mode & 07777, sb.st_uid, sb.st_gid);
    CHECK("stat dir", stat(dir, &sb));
    printf("dir: mode %o\n", sb.st_mode & 07777);

    // Files created under a changed fsuid/fsgid belong to them.
    CHECK("chmod dir 0777", chmod(dir, 0777));
    char made[128];
    snprintf(made, sizeof made, "%s/made", dir);
    setfsuid(1000);
    setfsgid(2000);
    fd = open(made, O_CREAT | O_WRONLY | O_EXCL, 0640);
    setfsuid(0);
    setfsgid(0);
    CHECK("create with fsuid 1000 fsgid 2000", fd >= 0);
    close(fd);
    CHECK("stat made", stat(made, &sb));
    printf("made: mode %o uid %u gid %u\n", sb.st_mode & 07777, sb.st_uid, sb.st_gid);
    char made_dir[128];
    snprintf(made_dir, sizeof made_dir, "%s/made.d", dir);
    setfsuid(1000);
    int mk = mkdir(made_dir, 0700);
    setfsuid(0);
    CHECK("mkdir with fsuid 1000", mk);
    CHECK("stat made.d", stat(made_dir, &sb));
    printf("made.d: mode %o uid %u gid %u\n", sb.st_mode & 07777, sb.st_uid, sb.st_gid);

    rmdir(made_dir);
    unlink(made);
    unlink(mine);
    unlink(secret);
    unlink(open_file);
    CHECK("rmdir", rmdir(dir));

    qsort(saved, nsaved > 0 ? nsaved : 0, sizeof *saved, cmp_gid);
    CHECK("restore groups", setgroups(nsaved > 0 ? nsaved : 0, saved));
    printf("done\n");
    return 0;
}
