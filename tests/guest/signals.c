// Signals in one process: handlers with and without SA_SIGINFO, siginfo from
// kill/tgkill/sigqueue, the mask inside and after a handler, SA_NODEFER,
// SA_RESETHAND, sigreturn restoring every register (a handler written in
// assembly clobbers them all), sigaltstack, pending/coalesced/queued signals
// and their delivery order, sigsuspend, sigtimedwait, hardware faults with
// handlers, interrupted system calls, and default actions (in children).
#include "common.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>

#define ALT_SIZE (64 * 1024)
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

// ---------------------------------------------------------------- assembly
// Tables the assembly below loads registers from and checks them against.
union { double d[32]; uint64_t u[32]; } xmm_tbl __attribute__((aligned(16))) = {{
    1.5, -0.125, 3.0, -0.25, 4.5, -0.375, 6.0, -0.5, 7.5, -0.625, 9.0, -0.75,
    10.5, -0.875, 12.0, -1.0, 13.5, -1.125, 15.0, -1.25, 16.5, -1.375, 18.0,
    -1.5, 19.5, -1.625, 21.0, -1.75, 22.5, -1.875, 24.0, -2.0}};
uint64_t gpr_tbl[13] = {
    0x0101010101010101, 0x0202020202020202, 0x0303030303030303,
    0x0404040404040404, 0x0505050505050505, 0x0606060606060606,
    0x0707070707070707, 0x0808080808080808, 0x0909090909090909,
    0x0a0a0a0a0a0a0a0a, 0x0b0b0b0b0b0b0b0b, 0x0c0c0c0c0c0c0c0c,
    0x0d0d0d0d0d0d0d0d};
uint64_t ymm_tbl[64] __attribute__((aligned(32)));
uint64_t zmm_tbl[256] __attribute__((aligned(64)));
uint16_t kmask_tbl[8];
int have_avx, have_avx512;
int clobber_count;

// long regs_syscall(nr, a1, a2, a3, a4, uint64_t *out): loads known values
// into every register the syscall instruction preserves, sets CF and pushes
// pi on the x87 stack, makes the syscall, then stores: out[0] rax, [1] rbx,
// [2] rbp, [3] rdi, [4] rsi, [5] rdx, [6] r8, [7] r9, [8] r10, [9..12]
// r12..r15, [13] rflags, [14] mxcsr, [15] x87 control word, [16..47] xmm0..15,
// [48] st(0) as a double.
//
// long reg_spin(iterations): loads every general register but rax/rdi/rsp and
// every xmm register, then loops checking them (and DF, mxcsr, the x87 control
// word) each iteration; returns 0, or 1 on the first mismatch. An
// asynchronous signal may land anywhere in the loop.
//
// void regs_syscall_ymm(nr, a1, a2, a3, uint64_t *out): ymm0..15 from ymm_tbl,
// syscall, ymm0..15 to out[0..63].
//
// void regs_syscall_zmm(nr, a1, a2, a3, void *out): zmm0..31 from zmm_tbl and
// k1..k7 from kmask_tbl, syscall, zmm0..31 to out[0..2047], k1..k7 as 16-bit
// words at out + 2048 + 2*i.
//
// clobber_handler: a signal handler that counts itself, then destroys every
// general register, every vector register, the x87 state, mxcsr and DF before
// returning.
//
// fault_read/fault_write (rdi = address), fault_div_entry (edi / esi, the
// idiv is at fault_div_insn), fault_ud2 (returns rax), fault_int3.
__asm__(
    ".text\n"
    ".globl regs_syscall\n"
    ".type regs_syscall,@function\n"
    "regs_syscall:\n"
    "  push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
    "  push %r9\n"
    "  mov %rdi, %rax\n"
    "  mov %rsi, %rdi\n"
    "  mov %rdx, %rsi\n"
    "  mov %rcx, %rdx\n"
    "  mov %r8, %r10\n"
    "  mov gpr_tbl+0(%rip), %rbx\n"
    "  mov gpr_tbl+8(%rip), %rbp\n"
    "  mov gpr_tbl+16(%rip), %r8\n"
    "  mov gpr_tbl+24(%rip), %r9\n"
    "  mov gpr_tbl+32(%rip), %r12\n"
    "  mov gpr_tbl+40(%rip), %r13\n"
    "  mov gpr_tbl+48(%rip), %r14\n"
    "  mov gpr_tbl+56(%rip), %r15\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  movdqu xmm_tbl+16*\\i(%rip), %xmm\\i\n"
    "  .endr\n"
    "  fldpi\n"
    "  stc\n"
    "  syscall\n"
    "  pushfq\n"
    "  mov 8(%rsp), %rcx\n"
    "  mov %rax, 0(%rcx)\n"
    "  mov %rbx, 8(%rcx)\n"
    "  mov %rbp, 16(%rcx)\n"
    "  mov %rdi, 24(%rcx)\n"
    "  mov %rsi, 32(%rcx)\n"
    "  mov %rdx, 40(%rcx)\n"
    "  mov %r8, 48(%rcx)\n"
    "  mov %r9, 56(%rcx)\n"
    "  mov %r10, 64(%rcx)\n"
    "  mov %r12, 72(%rcx)\n"
    "  mov %r13, 80(%rcx)\n"
    "  mov %r14, 88(%rcx)\n"
    "  mov %r15, 96(%rcx)\n"
    "  pop %rax\n"
    "  mov %rax, 104(%rcx)\n"
    "  stmxcsr 112(%rcx)\n"
    "  fnstcw 120(%rcx)\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  movdqu %xmm\\i, 128+16*\\i(%rcx)\n"
    "  .endr\n"
    "  fstpl 384(%rcx)\n"
    "  pop %r9\n"
    "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
    "  ret\n"
    ".size regs_syscall, .-regs_syscall\n"

    ".globl reg_spin\n"
    ".type reg_spin,@function\n"
    "reg_spin:\n"
    "  push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
    "  sub $8, %rsp\n"
    "  stmxcsr 0(%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  .set k,0\n"
    "  .irp r,rbx,rbp,rcx,rdx,rsi,r8,r9,r10,r11,r12,r13,r14,r15\n"
    "  .if k < 13\n"
    "  mov gpr_tbl+8*k(%rip), %\\r\n"
    "  .else\n"
    "  mov gpr_tbl(%rip), %\\r\n"
    "  .endif\n"
    "  .set k,k+1\n"
    "  .endr\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  movdqu xmm_tbl+16*\\i(%rip), %xmm\\i\n"
    "  .endr\n"
    "1:\n"
    "  .set k,0\n"
    "  .irp r,rbx,rbp,rcx,rdx,rsi,r8,r9,r10,r11,r12,r13,r14,r15\n"
    "  .if k < 13\n"
    "  cmp gpr_tbl+8*k(%rip), %\\r\n"
    "  .else\n"
    "  cmp gpr_tbl(%rip), %\\r\n"
    "  .endif\n"
    "  jne 9f\n"
    "  .set k,k+1\n"
    "  .endr\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  movq %xmm\\i, %rax\n"
    "  cmp xmm_tbl+16*\\i(%rip), %rax\n"
    "  jne 9f\n"
    "  pextrq $1, %xmm\\i, %rax\n"
    "  cmp xmm_tbl+16*\\i+8(%rip), %rax\n"
    "  jne 9f\n"
    "  .endr\n"
    "  pushfq\n"
    "  pop %rax\n"
    "  test $0x400, %rax\n"
    "  jnz 9f\n"
    "  stmxcsr -8(%rsp)\n"
    "  mov -8(%rsp), %eax\n"
    "  cmp 0(%rsp), %eax\n"
    "  jne 9f\n"
    "  fnstcw -8(%rsp)\n"
    "  movzwl -8(%rsp), %eax\n"
    "  cmpw 4(%rsp), %ax\n"
    "  jne 9f\n"
    "  dec %rdi\n"
    "  jnz 1b\n"
    "  xor %eax, %eax\n"
    "  jmp 8f\n"
    "9:\n"
    "  mov $1, %eax\n"
    "8:\n"
    "  add $8, %rsp\n"
    "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
    "  ret\n"
    ".size reg_spin, .-reg_spin\n"

    ".globl regs_syscall_ymm\n"
    ".type regs_syscall_ymm,@function\n"
    "regs_syscall_ymm:\n"
    "  mov %r8, %r9\n"
    "  mov %rdi, %rax\n"
    "  mov %rsi, %rdi\n"
    "  mov %rdx, %rsi\n"
    "  mov %rcx, %rdx\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  vmovdqu ymm_tbl+32*\\i(%rip), %ymm\\i\n"
    "  .endr\n"
    "  syscall\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  vmovdqu %ymm\\i, 32*\\i(%r9)\n"
    "  .endr\n"
    "  vzeroupper\n"
    "  ret\n"
    ".size regs_syscall_ymm, .-regs_syscall_ymm\n"

    ".globl regs_syscall_zmm\n"
    ".type regs_syscall_zmm,@function\n"
    "regs_syscall_zmm:\n"
    "  mov %r8, %r9\n"
    "  mov %rdi, %rax\n"
    "  mov %rsi, %rdi\n"
    "  mov %rdx, %rsi\n"
    "  mov %rcx, %rdx\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "  vmovdqu64 zmm_tbl+64*\\i(%rip), %zmm\\i\n"
    "  .endr\n"
    "  .irp i,1,2,3,4,5,6,7\n"
    "  kmovw kmask_tbl+2*\\i(%rip), %k\\i\n"
    "  .endr\n"
    "  syscall\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "  vmovdqu64 %zmm\\i, 64*\\i(%r9)\n"
    "  .endr\n"
    "  .irp i,1,2,3,4,5,6,7\n"
    "  kmovw %k\\i, 2048+2*\\i(%r9)\n"
    "  .endr\n"
    "  vzeroupper\n"
    "  ret\n"
    ".size regs_syscall_zmm, .-regs_syscall_zmm\n"

    ".globl clobber_handler\n"
    ".type clobber_handler,@function\n"
    "clobber_handler:\n"
    "  addl $1, clobber_count(%rip)\n"
    "  movabs $0xdeadbeefdeadbeef, %rax\n"
    "  .irp r,rbx,rcx,rdx,rsi,rdi,rbp,r8,r9,r10,r11,r12,r13,r14,r15\n"
    "  mov %rax, %\\r\n"
    "  .endr\n"
    "  cmpl $0, have_avx(%rip)\n"
    "  je 2f\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  vcmpps $15, %ymm\\i, %ymm\\i, %ymm\\i\n"
    "  .endr\n"
    "  cmpl $0, have_avx512(%rip)\n"
    "  je 3f\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "  vpternlogd $0xff, %zmm\\i, %zmm\\i, %zmm\\i\n"
    "  .endr\n"
    "  .irp i,1,2,3,4,5,6,7\n"
    "  kxnorw %k0, %k0, %k\\i\n"
    "  .endr\n"
    "  jmp 3f\n"
    "2:\n"
    "  .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  pcmpeqd %xmm\\i, %xmm\\i\n"
    "  .endr\n"
    "3:\n"
    "  fninit\n"
    "  sub $8, %rsp\n"
    "  movl $0x7f80, (%rsp)\n"
    "  ldmxcsr (%rsp)\n"
    "  movw $0x0c7f, (%rsp)\n"
    "  fldcw (%rsp)\n"
    "  fldz\n fldz\n"
    "  add $8, %rsp\n"
    "  std\n"
    "  ret\n"
    ".size clobber_handler, .-clobber_handler\n"

    ".globl fault_read\n"
    "fault_read:\n"
    "  mov (%rdi), %eax\n"
    "  ret\n"
    ".globl fault_write\n"
    "fault_write:\n"
    "  movl $1, (%rdi)\n"
    "  ret\n"
    ".globl fault_div_entry\n"
    ".globl fault_div_insn\n"
    "fault_div_entry:\n"
    "  mov %edi, %eax\n"
    "  cltd\n"
    "fault_div_insn:\n"
    "  idivl %esi\n"
    "  ret\n"
    ".globl fault_ud2\n"
    "fault_ud2:\n"
    "  xor %eax, %eax\n"
    ".globl fault_ud2_insn\n"
    "fault_ud2_insn:\n"
    "  ud2\n"
    "  ret\n"
    ".globl fault_int3\n"
    "fault_int3:\n"
    "  int3\n"
    ".globl fault_int3_after\n"
    "fault_int3_after:\n"
    "  ret\n");

long regs_syscall(long nr, long a1, long a2, long a3, long a4, uint64_t *out);
long reg_spin(long iterations);
void regs_syscall_ymm(long nr, long a1, long a2, long a3, uint64_t *out);
void regs_syscall_zmm(long nr, long a1, long a2, long a3, void *out);
void clobber_handler(int);
int fault_read(void *addr);
void fault_write(void *addr);
int fault_div_entry(int a, int b);
extern char fault_div_insn[], fault_ud2_insn[], fault_int3_after[];
long fault_ud2(void);
void fault_int3(void);

// ---------------------------------------------------------------- helpers
static volatile sig_atomic_t hits, depth, max_depth;
static volatile int last_sig;
static siginfo_t last_info;
static sigset_t in_mask, in_ucmask;

static int is_blocked(int sig) {
    sigset_t s;
    sigprocmask(SIG_BLOCK, NULL, &s);
    return sigismember(&s, sig);
}

static int is_pending(int sig) {
    sigset_t s;
    sigpending(&s);
    return sigismember(&s, sig);
}

// A handler whose sa_mask is `mask`.
static int handle_masked(int sig, void *fn, int flags, const sigset_t *mask) {
    struct sigaction sa;
    set_handler(sig, fn, flags);
    sigaction(sig, NULL, &sa);
    sa.sa_mask = *mask;
    return sigaction(sig, &sa, NULL);
}

static void arm(long first_ms, long interval_ms) {
    struct itimerval it = {{interval_ms / 1000, interval_ms % 1000 * 1000},
                           {first_ms / 1000, first_ms % 1000 * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm(void) { arm(0, 0); }

static void plain_handler(int sig) {
    hits++;
    last_sig = sig;
    sigprocmask(SIG_BLOCK, NULL, &in_mask);
}

static void info_handler(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    hits++;
    last_sig = sig;
    last_info = *si;
    sigprocmask(SIG_BLOCK, NULL, &in_mask);
    in_ucmask = uc->uc_sigmask;
}

static void show_info(const char *what) {
    printf("%s: ran %d, signo %d, code %d, pid is mine %d, uid is mine %d\n", what, (int)hits,
           last_info.si_signo, last_info.si_code, last_info.si_pid == getpid(),
           last_info.si_uid == getuid());
}

// ---------------------------------------------------------------- sections
static void basics(void) {
    printf("-- handlers and siginfo\n");
    CHECK("sigaction USR1 plain", set_handler(SIGUSR1, plain_handler, 0));
    hits = 0;
    CHECK("raise USR1", raise(SIGUSR1));
    printf("plain handler ran %d with sig %d\n", (int)hits, last_sig);
    hits = 0;
    CHECK("kill self USR1", kill(getpid(), SIGUSR1));
    printf("plain handler ran %d\n", (int)hits);

    CHECK("sigaction USR1 SA_SIGINFO", set_handler(SIGUSR1, info_handler, SA_SIGINFO));
    hits = 0;
    CHECK("kill", kill(getpid(), SIGUSR1));
    show_info("kill");
    hits = 0;
    CHECK("raise", raise(SIGUSR1));
    show_info("raise");
    hits = 0;
    CHECK("tgkill", syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1));
    show_info("tgkill");
    hits = 0;
    CHECK("tkill", syscall(SYS_tkill, gettid(), SIGUSR1));
    show_info("tkill");
    hits = 0;
    CHECK("sigqueue 42", sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 42}));
    show_info("sigqueue");
    printf("sigqueue value = %d\n", last_info.si_value.sival_int);

    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR1;
    si.si_code = SI_QUEUE;
    si.si_pid = 12345;
    si.si_uid = 777;
    si.si_value.sival_int = 99;
    hits = 0;
    CHECK("rt_sigqueueinfo SI_QUEUE", syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si));
    printf("rt_sigqueueinfo: ran %d, code %d, pid %d, uid %d, value %d\n", (int)hits,
           last_info.si_code, last_info.si_pid, last_info.si_uid, last_info.si_value.sival_int);
    si.si_code = SI_USER;
    hits = 0;
    CHECK("rt_sigqueueinfo SI_USER to self", syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si));
    printf("ran %d, code %d\n", (int)hits, last_info.si_code);
    si.si_code = SI_QUEUE;
    hits = 0;
    CHECK("rt_tgsigqueueinfo", syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGUSR1, &si));
    printf("ran %d, code %d, value %d\n", (int)hits, last_info.si_code, last_info.si_value.sival_int);
    CHECK("rt_sigqueueinfo bad signal", syscall(SYS_rt_sigqueueinfo, getpid(), 65, &si));
    CHECK("rt_sigqueueinfo bad ptr", syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, (void *)0x10));

    // Another process may not be sent a forged SI_USER or SI_TKILL.
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        for (;;) pause();
    }
    si.si_code = SI_USER;
    CHECK("rt_sigqueueinfo SI_USER to child", syscall(SYS_rt_sigqueueinfo, c, SIGUSR1, &si));
    si.si_code = SI_TKILL;
    CHECK("rt_sigqueueinfo SI_TKILL to child", syscall(SYS_rt_sigqueueinfo, c, SIGUSR1, &si));
    si.si_code = SI_KERNEL;
    CHECK("rt_sigqueueinfo SI_KERNEL to child", syscall(SYS_rt_sigqueueinfo, c, SIGUSR1, &si));
    kill(c, SIGKILL);
    int st;
    waitpid(c, &st, 0);
    printf("child killed by %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
}

static void sa_mask_handler(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    // Changing uc_sigmask changes the mask sigreturn installs.
    sigaddset(&uc->uc_sigmask, SIGUSR2);
    info_handler(sig, si, ucv);
}

static void nesting_handler(int sig) {
    hits++;
    depth++;
    if (depth > max_depth) max_depth = depth;
    if (hits == 1) kill(getpid(), sig);
    depth--;
}

static void masks(void) {
    printf("-- masks in handlers\n");
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    mask_signal(SIGTERM, SIG_BLOCK);
    handle_masked(SIGUSR1, info_handler, SA_SIGINFO, &m);
    hits = 0;
    kill(getpid(), SIGUSR1);
    printf("in handler: USR1 %d USR2 %d TERM %d INT %d\n", sigismember(&in_mask, SIGUSR1),
           sigismember(&in_mask, SIGUSR2), sigismember(&in_mask, SIGTERM), sigismember(&in_mask, SIGINT));
    printf("uc_sigmask: USR1 %d USR2 %d TERM %d\n", sigismember(&in_ucmask, SIGUSR1),
           sigismember(&in_ucmask, SIGUSR2), sigismember(&in_ucmask, SIGTERM));
    printf("after: USR1 %d USR2 %d TERM %d\n", is_blocked(SIGUSR1), is_blocked(SIGUSR2), is_blocked(SIGTERM));
    mask_signal(SIGTERM, SIG_UNBLOCK);

    handle_masked(SIGUSR1, info_handler, SA_SIGINFO | SA_NODEFER, &m);
    kill(getpid(), SIGUSR1);
    printf("SA_NODEFER in handler: USR1 %d USR2 %d\n", sigismember(&in_mask, SIGUSR1), sigismember(&in_mask, SIGUSR2));

    set_handler(SIGUSR1, sa_mask_handler, SA_SIGINFO);
    kill(getpid(), SIGUSR1);
    printf("handler added USR2 to uc_sigmask: USR2 blocked after = %d, USR1 blocked after = %d\n",
           is_blocked(SIGUSR2), is_blocked(SIGUSR1));
    mask_signal(SIGUSR2, SIG_UNBLOCK);

    // A signal raised in its own handler waits for the handler to return,
    // unless SA_NODEFER.
    set_handler(SIGUSR1, nesting_handler, 0);
    hits = depth = max_depth = 0;
    kill(getpid(), SIGUSR1);
    printf("re-raised in handler: ran %d, max depth %d\n", (int)hits, (int)max_depth);
    set_handler(SIGUSR1, nesting_handler, SA_NODEFER);
    hits = depth = max_depth = 0;
    kill(getpid(), SIGUSR1);
    printf("re-raised with SA_NODEFER: ran %d, max depth %d\n", (int)hits, (int)max_depth);

    printf("-- SA_RESETHAND\n");
    set_handler(SIGURG, info_handler, SA_SIGINFO | SA_RESETHAND);
    hits = 0;
    kill(getpid(), SIGURG);
    printf("ran %d, URG blocked in handler %d\n", (int)hits, sigismember(&in_mask, SIGURG));
    struct sigaction q;
    CHECK("query URG", sigaction(SIGURG, NULL, &q));
    printf("now SIG_DFL = %d, flags SIGINFO %d RESETHAND %d NODEFER %d\n", q.sa_handler == SIG_DFL,
           !!(q.sa_flags & SA_SIGINFO), !!(q.sa_flags & SA_RESETHAND), !!(q.sa_flags & SA_NODEFER));
    kill(getpid(), SIGURG);
    printf("second URG ran the handler = %d\n", hits != 1);
    set_handler(SIGUSR1, info_handler, SA_SIGINFO | SA_RESETHAND);
    hits = 0;
    kill(getpid(), SIGUSR1);
    CHECK("query USR1", sigaction(SIGUSR1, NULL, &q));
    printf("USR1 ran %d, now SIG_DFL = %d\n", (int)hits, q.sa_handler == SIG_DFL);

    printf("-- errors\n");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = plain_handler;
    CHECK("sigaction KILL", sigaction(SIGKILL, &sa, NULL));
    CHECK("sigaction STOP", sigaction(SIGSTOP, &sa, NULL));
    sa.sa_handler = SIG_IGN;
    CHECK("sigaction KILL SIG_IGN", sigaction(SIGKILL, &sa, NULL));
    sa.sa_handler = SIG_DFL;
    CHECK("sigaction STOP SIG_DFL", sigaction(SIGSTOP, &sa, NULL));
    CHECK("sigaction KILL query", sigaction(SIGKILL, NULL, &q));
    CHECK("rt_sigaction 0", syscall(SYS_rt_sigaction, 0, NULL, &q, 8));
    CHECK("rt_sigaction 65", syscall(SYS_rt_sigaction, 65, NULL, &q, 8));
    CHECK("rt_sigaction 64", syscall(SYS_rt_sigaction, 64, NULL, &q, 8));
    CHECK("kill 65", kill(getpid(), 65));
    CHECK("kill -1 signal", kill(getpid(), -1));
    CHECK("tgkill 65", syscall(SYS_tgkill, getpid(), gettid(), 65));
    CHECK("sigqueue 65", sigqueue(getpid(), 65, (union sigval){0}));
    uint64_t all = ~0UL, cur = 0;
    CHECK("rt_sigprocmask block all", syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, 8));
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &cur, 8);
    printf("blocked: KILL %d STOP %d USR1 %d TERM %d RTMAX %d\n", (int)(cur >> (SIGKILL - 1) & 1),
           (int)(cur >> (SIGSTOP - 1) & 1), (int)(cur >> (SIGUSR1 - 1) & 1), (int)(cur >> (SIGTERM - 1) & 1),
           (int)(cur >> 63 & 1));
    all = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
    CHECK("rt_sigpending size 8", syscall(SYS_rt_sigpending, &cur, 8));
    CHECK("rt_sigpending size 4", syscall(SYS_rt_sigpending, &cur, 4));
    CHECK("rt_sigpending size 16", syscall(SYS_rt_sigpending, &cur, 16));
    CHECK("rt_sigpending bad ptr", syscall(SYS_rt_sigpending, (void *)0x10, 8));
    CHECK("rt_sigsuspend bad size", syscall(SYS_rt_sigsuspend, &cur, 16));
    set_handler(SIGUSR1, SIG_DFL, 0);
    set_handler(SIGURG, SIG_DFL, 0);
}

// The same floating point computation with and without a signal whose
// handler changes the rounding mode and computes doubles of its own.
static void fp_handler(int sig) {
    volatile double x = 1.0;
    for (int i = 0; i < 100; i++) x = x / 3.0 + 0.1;
    volatile long double y = 2.0L;
    y = y * y / 7.0L;
    __asm__ volatile("sub $8, %%rsp\n movl $0x7f80, (%%rsp)\n ldmxcsr (%%rsp)\n"
                     "movw $0x0c7f, (%%rsp)\n fldcw (%%rsp)\n add $8, %%rsp" ::: "memory");
    hits++;
}

static double fp_loop(int raise_at) {
    double acc = 0.5;
    long double lacc = 1;
    for (int i = 1; i <= 200; i++) {
        acc = acc * 1.0000001 + 1.0 / i;
        lacc = lacc * 1.01L + (long double)i / 3;
        if (i == raise_at) raise(SIGUSR1);
    }
    return acc + (double)lacc;
}

static void registers(void) {
    printf("-- sigreturn restores registers\n");
    __builtin_cpu_init();
    have_avx = __builtin_cpu_supports("avx");
    have_avx512 = __builtin_cpu_supports("avx512f");
    set_handler(SIGUSR1, clobber_handler, 0);
    uint32_t mxcsr = __builtin_ia32_stmxcsr();
    uint16_t cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    static const char *names[] = {"rax", "rbx", "rbp", "rdi", "rsi", "rdx", "r8", "r9", "r10", "r12", "r13", "r14", "r15"};
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    for (int round = 0; round < 4; round++) {
        uint64_t out[64] = {0}, want[13];
        long nr, a1, a2, a3, a4 = 8;
        const char *how;
        uint64_t empty = 0;
        if (round == 0) {
            how = "tgkill";
            nr = SYS_tgkill, a1 = getpid(), a2 = gettid(), a3 = SIGUSR1;
        } else if (round == 1) {
            how = "kill";
            nr = SYS_kill, a1 = getpid(), a2 = SIGUSR1, a3 = 0;
        } else if (round == 2) {
            // Pending while blocked; delivered on the return from the unblock.
            how = "rt_sigprocmask unblock";
            sigprocmask(SIG_BLOCK, &usr1, NULL);
            kill(getpid(), SIGUSR1);
            nr = SYS_rt_sigprocmask, a1 = SIG_SETMASK, a2 = (long)&empty, a3 = 0;
        } else {
            how = "getpid, no signal";
            nr = SYS_getpid, a1 = 1, a2 = 2, a3 = 3;
        }
        clobber_count = 0;
        long r = regs_syscall(nr, a1, a2, a3, a4, out);
        want[0] = round == 3 ? (uint64_t)getpid() : 0;
        want[1] = gpr_tbl[0], want[2] = gpr_tbl[1], want[3] = a1, want[4] = a2, want[5] = a3;
        want[6] = gpr_tbl[2], want[7] = gpr_tbl[3], want[8] = a4;
        for (int i = 0; i < 4; i++) want[9 + i] = gpr_tbl[4 + i];
        int bad = 0;
        for (int i = 0; i < 13; i++)
            if (out[i] != want[i]) {
                printf("  %s: %s differs\n", how, names[i]);
                bad++;
            }
        for (int i = 0; i < 32; i++)
            if (out[16 + i] != xmm_tbl.u[i]) {
                printf("  %s: xmm%d differs\n", how, i / 2);
                bad++;
            }
        double st0;
        memcpy(&st0, &out[48], 8);
        printf("%s: result right %d, handler ran %d, registers differing %d, CF %d, DF %d, mxcsr kept %d, "
               "x87 cw kept %d, st0 is pi %d\n",
               how, (uint64_t)r == want[0], clobber_count, bad, (int)(out[13] & 1), (int)(out[13] >> 10 & 1),
               (uint32_t)out[14] == mxcsr, (uint16_t)out[15] == cw, st0 > 3.14159 && st0 < 3.1416);
    }
    // The upper halves of the ymm registers.
    for (int i = 0; i < 64; i++) ymm_tbl[i] = 0x0123456789abcdefULL ^ (i * 0x1111111111111111ULL);
    int ymm_ok = 1;
    if (have_avx) {
        uint64_t yout[64];
        clobber_count = 0;
        regs_syscall_ymm(SYS_tgkill, getpid(), gettid(), SIGUSR1, yout);
        ymm_ok = clobber_count == 1 && memcmp(yout, ymm_tbl, sizeof yout) == 0;
    }
    printf("ymm registers survive a handler = %d\n", ymm_ok);
    // AVX-512: all 32 zmm registers and the mask registers.
    for (int i = 0; i < 256; i++) zmm_tbl[i] = 0x0f1e2d3c4b5a6978ULL * (i + 1);
    for (int i = 0; i < 8; i++) kmask_tbl[i] = 0x1234 + i * 0x1111;
    int zmm_ok = 1;
    if (have_avx512) {
        static unsigned char zout[2048 + 16] __attribute__((aligned(64)));
        clobber_count = 0;
        regs_syscall_zmm(SYS_tgkill, getpid(), gettid(), SIGUSR1, zout);
        zmm_ok = clobber_count == 1 && memcmp(zout, zmm_tbl, 2048) == 0 &&
                 memcmp(zout + 2048 + 2, kmask_tbl + 1, 14) == 0;
    }
    printf("zmm and mask registers survive a handler = %d\n", zmm_ok);

    // Asynchronous delivery in the middle of a register-only loop.
    set_handler(SIGALRM, clobber_handler, 0);
    clobber_count = 0;
    arm(2, 2);
    long fails = 0, chunks = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        fails += reg_spin(20000);
        chunks++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (clobber_count >= 20 && chunks >= 50) break;
        if (t1.tv_sec - t0.tv_sec >= 3) break;
    }
    disarm();
    printf("asynchronous: %d interrupts at least = %d, check failures = %ld\n", 20, clobber_count >= 20, fails);
    set_handler(SIGALRM, SIG_DFL, 0);

    set_handler(SIGUSR1, fp_handler, 0);
    double plain = fp_loop(-1);
    // The loop leaves sticky exception flags in mxcsr; they must survive too.
    mxcsr = __builtin_ia32_stmxcsr();
    hits = 0;
    double sig1 = fp_loop(100);
    double sig2 = fp_loop(1);
    printf("fp: handler ran %d, results equal %d %d, mxcsr kept %d\n", (int)hits, plain == sig1, plain == sig2,
           __builtin_ia32_stmxcsr() == mxcsr);
    // A double held in a callee-saved spot across a syscall that delivers.
    volatile double keep = 2.718281828;
    double live = keep * 3;
    raise(SIGUSR1);
    printf("live double kept = %d\n", live == keep * 3);
    set_handler(SIGUSR1, SIG_DFL, 0);
}

static char *alt, *alt2;
static volatile int on_alt, inner_on_alt, inner_below, uc_stack_ok;
static volatile int inside_flags, change_errno, disable_errno;
static char *outer_local;

static int in_alt(void *p) { return (char *)p >= alt && (char *)p < alt + ALT_SIZE; }

static void onstack_handler(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    char local;
    hits++;
    if (sig == SIGUSR2) {
        inner_on_alt = in_alt(&local);
        inner_below = &local < outer_local;
        return;
    }
    on_alt = in_alt(&local);
    outer_local = &local;
    stack_t q;
    sigaltstack(NULL, &q);
    inside_flags = q.ss_flags;
    uc_stack_ok = uc->uc_stack.ss_sp == alt && uc->uc_stack.ss_size == ALT_SIZE;
    stack_t ns = {.ss_sp = alt2, .ss_size = ALT_SIZE, .ss_flags = 0};
    errno = 0;
    sigaltstack(&ns, NULL);
    change_errno = errno;
    ns.ss_flags = SS_DISABLE;
    errno = 0;
    sigaltstack(&ns, NULL);
    disable_errno = errno;
    kill(getpid(), SIGUSR2);
}

static void altstack(void) {
    printf("-- sigaltstack\n");
    alt = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    alt2 = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stack_t ss, q;
    CHECK("query", sigaltstack(NULL, &q));
    printf("initial flags %d, sp NULL %d, size %zu\n", q.ss_flags, q.ss_sp == NULL, q.ss_size);
    ss = (stack_t){.ss_sp = alt, .ss_size = 1024, .ss_flags = 0};
    CHECK("size 1024", sigaltstack(&ss, NULL));
    ss.ss_size = 2047;
    CHECK("size 2047", sigaltstack(&ss, NULL));
    ss.ss_size = 2048;
    CHECK("size 2048", sigaltstack(&ss, NULL));
    ss.ss_size = ALT_SIZE;
    ss.ss_flags = 0x1234;
    CHECK("bad flags", sigaltstack(&ss, NULL));
    ss.ss_flags = SS_ONSTACK;
    CHECK("flags SS_ONSTACK", sigaltstack(&ss, NULL));
    CHECK("query", sigaltstack(NULL, &q));
    printf("flags %d, sp is alt %d, size %zu\n", q.ss_flags, q.ss_sp == alt, q.ss_size);
    ss.ss_flags = SS_DISABLE;
    ss.ss_size = 5;
    CHECK("disable with size 5", sigaltstack(&ss, &q));
    printf("old flags %d, old sp is alt %d\n", q.ss_flags, q.ss_sp == alt);
    CHECK("query", sigaltstack(NULL, &q));
    printf("flags %d, sp NULL %d, size %zu\n", q.ss_flags, q.ss_sp == NULL, q.ss_size);
    CHECK("bad ptr", sigaltstack((void *)0x10, NULL));
    CHECK("bad old ptr", sigaltstack(NULL, (void *)0x10));
    ss = (stack_t){.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0};
    CHECK("set", sigaltstack(&ss, NULL));

    set_handler(SIGUSR1, onstack_handler, SA_SIGINFO | SA_ONSTACK);
    set_handler(SIGUSR2, onstack_handler, SA_SIGINFO | SA_ONSTACK);
    hits = 0;
    kill(getpid(), SIGUSR1);
    printf("SA_ONSTACK: ran %d, local on alt stack %d, query flags %d, uc_stack right %d, change %s, "
           "disable %s\n",
           (int)hits, on_alt, inside_flags, uc_stack_ok, errname(change_errno), errname(disable_errno));
    printf("nested handler on alt stack %d, below the outer one %d\n", inner_on_alt, inner_below);
    CHECK("query after", sigaltstack(NULL, &q));
    printf("flags %d, sp is alt %d\n", q.ss_flags, q.ss_sp == alt);

    set_handler(SIGUSR1, onstack_handler, SA_SIGINFO);
    on_alt = -1;
    kill(getpid(), SIGUSR1);
    printf("without SA_ONSTACK: local on alt stack %d\n", on_alt);

    ss.ss_flags = SS_AUTODISARM;
    CHECK("set SS_AUTODISARM", sigaltstack(&ss, NULL));
    CHECK("query", sigaltstack(NULL, &q));
    printf("flags %#x\n", (unsigned)q.ss_flags);
    set_handler(SIGUSR1, onstack_handler, SA_SIGINFO | SA_ONSTACK);
    kill(getpid(), SIGUSR1);
    printf("SS_AUTODISARM: local on alt stack %d, query flags %#x, change %s\n", on_alt, (unsigned)inside_flags,
           errname(change_errno));
    CHECK("query after", sigaltstack(NULL, &q));
    printf("flags %#x, sp is alt %d, size ok %d\n", (unsigned)q.ss_flags, q.ss_sp == alt, q.ss_size == ALT_SIZE);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    set_handler(SIGUSR1, SIG_DFL, 0);
    set_handler(SIGUSR2, SIG_DFL, 0);
}

static volatile int rt_vals[8], n_rt;
static void rt_handler(int sig, siginfo_t *si, void *uc) {
    if (n_rt < 8) rt_vals[n_rt++] = si->si_value.sival_int;
    hits++;
}

static volatile int order[32], n_order;
static void order_handler(int sig) {
    if (n_order < 32) order[n_order++] = sig;
}

static void delivery_order(int full_mask) {
    int sigs[] = {SIGRTMIN + 1, SIGUSR2, SIGRTMIN, SIGTERM, SIGUSR1, SIGINT, SIGSEGV, SIGCHLD};
    int n = sizeof sigs / sizeof *sigs;
    sigset_t set, old, hm;
    sigemptyset(&set);
    if (full_mask)
        sigfillset(&hm);
    else
        sigemptyset(&hm);
    for (int i = 0; i < n; i++) {
        handle_masked(sigs[i], order_handler, 0, &hm);
        sigaddset(&set, sigs[i]);
    }
    sigprocmask(SIG_BLOCK, &set, &old);
    for (int i = 0; i < n; i++) kill(getpid(), sigs[i]);
    n_order = 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("handler entry order (%s sa_mask):", full_mask ? "full" : "empty");
    for (int i = 0; i < n_order; i++) printf(" %d", order[i]);
    printf("\n");
    for (int i = 0; i < n; i++) set_handler(sigs[i], SIG_DFL, 0);
}

static void pending(void) {
    printf("-- pending, coalescing, queueing\n");
    set_handler(SIGUSR1, info_handler, SA_SIGINFO);
    mask_signal(SIGUSR1, SIG_BLOCK);
    hits = 0;
    kill(getpid(), SIGUSR1);
    printf("pending USR1 %d, USR2 %d, ran %d\n", is_pending(SIGUSR1), is_pending(SIGUSR2), (int)hits);
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 2});
    kill(getpid(), SIGUSR1);
    mask_signal(SIGUSR1, SIG_UNBLOCK);
    printf("kill, sigqueue, kill while blocked: ran %d, code %d\n", (int)hits, last_info.si_code);
    printf("pending after %d\n", is_pending(SIGUSR1));
    mask_signal(SIGUSR1, SIG_BLOCK);
    hits = 0;
    raise(SIGUSR1);
    raise(SIGUSR1);
    mask_signal(SIGUSR1, SIG_UNBLOCK);
    printf("raise twice while blocked: ran %d, code %d\n", (int)hits, last_info.si_code);
    // tgkill queues on the thread, kill on the process: one of each.
    mask_signal(SIGUSR1, SIG_BLOCK);
    hits = 0;
    raise(SIGUSR1);
    kill(getpid(), SIGUSR1);
    printf("pending after raise and kill %d\n", is_pending(SIGUSR1));
    mask_signal(SIGUSR1, SIG_UNBLOCK);
    printf("raise and kill while blocked: ran %d\n", (int)hits);

    mask_signal(SIGUSR1, SIG_BLOCK);
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 7});
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 8});
    hits = 0;
    mask_signal(SIGUSR1, SIG_UNBLOCK);
    printf("two sigqueues coalesced: ran %d, value %d\n", (int)hits, last_info.si_value.sival_int);

    int rt = SIGRTMIN;
    set_handler(rt, rt_handler, SA_SIGINFO);
    mask_signal(rt, SIG_BLOCK);
    hits = n_rt = 0;
    for (int v = 1; v <= 3; v++) sigqueue(getpid(), rt, (union sigval){.sival_int = v});
    printf("RT pending %d\n", is_pending(rt));
    mask_signal(rt, SIG_UNBLOCK);
    printf("RT queued 3: ran %d, values %d %d %d\n", (int)hits, rt_vals[0], rt_vals[1], rt_vals[2]);
    mask_signal(rt, SIG_BLOCK);
    hits = n_rt = 0;
    raise(rt);
    raise(rt);
    mask_signal(rt, SIG_UNBLOCK);
    printf("RT raised twice: ran %d\n", (int)hits);
    set_handler(rt, SIG_DFL, 0);

    // Blocked signals are queued even if ignored; setting SIG_IGN or a
    // default-ignore SIG_DFL discards them.
    set_handler(SIGURG, SIG_DFL, 0);
    mask_signal(SIGURG, SIG_BLOCK);
    raise(SIGURG);
    printf("blocked default-ignored URG pending %d\n", is_pending(SIGURG));
    set_handler(SIGURG, SIG_IGN, 0);
    printf("after SIG_IGN pending %d\n", is_pending(SIGURG));
    raise(SIGURG);
    printf("raised while SIG_IGN and blocked: pending %d\n", is_pending(SIGURG));
    set_handler(SIGURG, SIG_DFL, 0);
    printf("after SIG_DFL pending %d\n", is_pending(SIGURG));
    mask_signal(SIGURG, SIG_UNBLOCK);
    set_handler(SIGUSR2, SIG_IGN, 0);
    raise(SIGUSR2);
    printf("ignored unblocked USR2 pending %d\n", is_pending(SIGUSR2));
    set_handler(SIGUSR2, SIG_DFL, 0);

    delivery_order(1);
    delivery_order(0);

    // fork: the child starts with nothing pending but the same mask and
    // handlers.
    set_handler(SIGUSR1, info_handler, SA_SIGINFO);
    mask_signal(SIGUSR1, SIG_BLOCK);
    raise(SIGUSR1);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        struct sigaction q;
        sigaction(SIGUSR1, NULL, &q);
        printf("child: pending %d, blocked %d, handler kept %d\n", is_pending(SIGUSR1), is_blocked(SIGUSR1),
               q.sa_sigaction == info_handler);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    hits = 0;
    mask_signal(SIGUSR1, SIG_UNBLOCK);
    printf("parent: ran %d after unblocking\n", (int)hits);
    set_handler(SIGUSR1, SIG_DFL, 0);
}

static volatile sig_atomic_t alrm_hits, alrm_write_at;
static int alrm_fd = -1;
static void alrm_handler(int sig) {
    alrm_hits++;
    if (alrm_write_at && alrm_hits == alrm_write_at) write(alrm_fd, "x", 1);
}

static void waiting(void) {
    printf("-- sigsuspend\n");
    set_handler(SIGUSR1, info_handler, SA_SIGINFO);
    mask_signal(SIGUSR1, SIG_BLOCK);
    kill(getpid(), SIGUSR1);
    sigset_t empty;
    sigemptyset(&empty);
    hits = 0;
    CHECK("sigsuspend with USR1 pending", sigsuspend(&empty));
    printf("ran %d, USR1 blocked in handler %d, uc_sigmask has USR1 %d, blocked after %d\n", (int)hits,
           sigismember(&in_mask, SIGUSR1), sigismember(&in_ucmask, SIGUSR1), is_blocked(SIGUSR1));
    set_handler(SIGALRM, alrm_handler, 0);
    mask_signal(SIGALRM, SIG_BLOCK);
    alrm_hits = alrm_write_at = 0;
    arm(20, 20);
    CHECK("sigsuspend until a timer", sigsuspend(&empty));
    disarm();
    printf("alarm ran %d, ALRM blocked after %d\n", alrm_hits >= 1, is_blocked(SIGALRM));
    set_handler(SIGALRM, SIG_IGN, 0);  // discard a late one
    mask_signal(SIGALRM, SIG_UNBLOCK);
    mask_signal(SIGUSR1, SIG_UNBLOCK);

    printf("-- the temporary masks of ppoll, pselect6, epoll_pwait\n");
    {
        struct timespec ten = {0, 10000000};
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        int ep = epoll_create1(0);
        struct epoll_event ev;
        mask_signal(SIGUSR1, SIG_BLOCK);
        for (int i = 0; i < 3; i++) {
            kill(getpid(), SIGUSR1);
            hits = 0;
            const char *what = i == 0 ? "ppoll" : i == 1 ? "pselect" : "epoll_pwait";
            if (i == 0)
                CHECK("ppoll unblocking a pending USR1", ppoll(NULL, 0, &ten, &empty));
            else if (i == 1)
                CHECK("pselect unblocking a pending USR1", pselect(0, NULL, NULL, NULL, &ten, &empty));
            else
                CHECK("epoll_pwait unblocking a pending USR1", epoll_pwait(ep, &ev, 1, 10, &empty));
            printf("%s: ran %d, USR1 blocked in handler %d, uc_sigmask has USR1 %d, blocked after %d\n", what,
                   (int)hits, sigismember(&in_mask, SIGUSR1), sigismember(&in_ucmask, SIGUSR1),
                   is_blocked(SIGUSR1));
        }
        kill(getpid(), SIGUSR1);
        hits = 0;
        CHECK("ppoll with USR1 left blocked", ppoll(NULL, 0, &ten, &usr1));
        printf("ran %d, pending after %d\n", (int)hits, is_pending(SIGUSR1));
        mask_signal(SIGUSR1, SIG_UNBLOCK);
        CHECK("ppoll blocking USR1 while it is unblocked", ppoll(NULL, 0, &ten, &usr1));
        printf("blocked after %d\n", is_blocked(SIGUSR1));
        close(ep);
    }

    printf("-- sigwaitinfo, sigtimedwait\n");
    set_handler(SIGUSR2, info_handler, SA_SIGINFO);
    mask_signal(SIGUSR2, SIG_BLOCK);
    sigset_t w;
    sigemptyset(&w);
    sigaddset(&w, SIGUSR2);
    siginfo_t si;
    hits = 0;
    raise(SIGUSR2);
    CHECK("sigwaitinfo", sigwaitinfo(&w, &si));
    printf("signo %d code %d pid is mine %d, handler ran %d, pending after %d\n", si.si_signo, si.si_code,
           si.si_pid == getpid(), (int)hits, is_pending(SIGUSR2));
    sigqueue(getpid(), SIGUSR2, (union sigval){.sival_int = 9});
    struct timespec one_s = {1, 0}, ten_ms = {0, 10000000}, zero = {0, 0}, bad = {0, 1000000000};
    CHECK("sigtimedwait with one pending", sigtimedwait(&w, &si, &one_s));
    printf("code %d value %d\n", si.si_code, si.si_value.sival_int);
    CHECK("sigtimedwait 10ms, nothing pending", sigtimedwait(&w, &si, &ten_ms));
    CHECK("sigtimedwait zero timeout", sigtimedwait(&w, &si, &zero));
    kill(getpid(), SIGUSR2);
    CHECK("sigtimedwait NULL info", sigtimedwait(&w, NULL, &zero));
    kill(getpid(), SIGUSR2);
    struct timespec forever = {0x7fffffffffffffffL, 0};
    CHECK("sigtimedwait, the longest timeout", sigtimedwait(&w, NULL, &forever));
    CHECK("rt_sigtimedwait size 16", syscall(SYS_rt_sigtimedwait, &w, &si, &zero, 16));
    CHECK("rt_sigtimedwait size 4", syscall(SYS_rt_sigtimedwait, &w, &si, &zero, 4));
    CHECK("sigtimedwait bad nsec", sigtimedwait(&w, &si, &bad));
    CHECK("rt_sigtimedwait bad set ptr", syscall(SYS_rt_sigtimedwait, (void *)0x10, &si, &zero, 8));
    // Waiting for an unblocked signal works too (the kernel blocks it while waiting).
    mask_signal(SIGUSR2, SIG_UNBLOCK);
    hits = 0;
    sigemptyset(&w);
    sigaddset(&w, SIGALRM);
    mask_signal(SIGALRM, SIG_BLOCK);
    set_handler(SIGALRM, alrm_handler, 0);
    alrm_hits = 0;
    arm(20, 0);
    CHECK("sigwaitinfo for a timer's SIGALRM", sigwaitinfo(&w, &si));
    printf("code %d, alarm handler ran %d\n", si.si_code, (int)alrm_hits);
    mask_signal(SIGALRM, SIG_UNBLOCK);
    sigemptyset(&w);
    sigaddset(&w, SIGUSR2);
    arm(20, 20);
    struct timespec two_s = {2, 0};
    CHECK("sigtimedwait interrupted by a handled SIGALRM", sigtimedwait(&w, &si, &two_s));
    disarm();
    printf("alarm ran %d\n", alrm_hits >= 1);
    set_handler(SIGUSR2, SIG_DFL, 0);
    set_handler(SIGUSR1, SIG_DFL, 0);
}

static sigjmp_buf jb;
static volatile int f_signo, f_code;
static void *volatile f_addr;
static void *volatile f_rip;

static void fault_handler(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    f_signo = si->si_signo;
    f_code = si->si_code;
    f_addr = si->si_addr;
    f_rip = (void *)uc->uc_mcontext.gregs[REG_RIP];
    siglongjmp(jb, 1);
}

static void ud2_handler(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    f_signo = si->si_signo;
    f_code = si->si_code;
    f_addr = si->si_addr;
    f_rip = (void *)uc->uc_mcontext.gregs[REG_RIP];
    uc->uc_mcontext.gregs[REG_RIP] += 2;
    uc->uc_mcontext.gregs[REG_RAX] = 77;
}

static void trap_handler(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    f_signo = si->si_signo;
    f_code = si->si_code;
    f_addr = si->si_addr;
    f_rip = (void *)uc->uc_mcontext.gregs[REG_RIP];
}

#define FAULT(label, call, want_addr)                                                                     \
    do {                                                                                                  \
        f_signo = f_code = -1;                                                                            \
        f_addr = (void *)-1;                                                                              \
        if (sigsetjmp(jb, 1) == 0) {                                                                      \
            call;                                                                                         \
            printf("%s: no fault\n", label);                                                              \
        } else {                                                                                          \
            printf("%s: signo %d code %d addr right %d\n", label, f_signo, f_code, f_addr == (void *)(want_addr)); \
        }                                                                                                 \
    } while (0)

static void faults(void) {
    printf("-- hardware faults with handlers\n");
    set_handler(SIGSEGV, fault_handler, SA_SIGINFO);
    set_handler(SIGBUS, fault_handler, SA_SIGINFO);
    set_handler(SIGFPE, fault_handler, SA_SIGINFO);
    FAULT("NULL read", fault_read(NULL), 0);
    printf("SEGV blocked after siglongjmp %d\n", is_blocked(SIGSEGV));
    char *ro = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FAULT("write to PROT_READ", fault_write(ro + 4), ro + 4);
    printf("faulting rip is fault_write %d\n", f_rip == (void *)fault_write);
    mprotect(ro + 4096, 4096, PROT_NONE);
    FAULT("read PROT_NONE", fault_read(ro + 4096 + 12), ro + 4096 + 12);
    munmap(ro, 8192);
    FAULT("read unmapped", fault_read(ro + 100), ro + 100);
    FAULT("read non-canonical", fault_read((void *)0x800000000000UL), 0);
    FAULT("read kernel address", fault_read((void *)0xffff800000001000UL), 0xffff800000001000UL);
    FAULT("divide by zero", fault_div_entry(1, 0), fault_div_insn);
    FAULT("INT_MIN / -1", fault_div_entry(INT_MIN, -1), fault_div_insn);

    char path[64];
    snprintf(path, sizeof path, "/tmp/rvisor-sigbus-%d", getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK("write", write(fd, "0123456789", 10));
    CHECK("ftruncate 100", ftruncate(fd, 100));
    char *m = mmap(NULL, 3 * 4096, PROT_READ, MAP_SHARED, fd, 0);
    printf("read within the file's last page: %d\n", fault_read(m + 200));
    FAULT("read past EOF", fault_read(m + 4096 + 4), m + 4096 + 4);
    FAULT("read two pages past EOF", fault_read(m + 8192), m + 8192);
    munmap(m, 3 * 4096);
    close(fd);
    unlink(path);

    set_handler(SIGILL, ud2_handler, SA_SIGINFO);
    f_signo = -1;
    long r = fault_ud2();
    printf("ud2: signo %d code %d addr right %d rip right %d, returned %ld after skipping it\n", f_signo, f_code,
           f_addr == fault_ud2_insn, f_rip == fault_ud2_insn, r);
    set_handler(SIGTRAP, trap_handler, SA_SIGINFO);
    f_signo = -1;
    fault_int3();
    printf("int3: signo %d code %d addr NULL %d rip after int3 %d\n", f_signo, f_code, f_addr == NULL,
           f_rip == fault_int3_after);
    for (int s = SIGILL; s <= SIGSEGV; s++) set_handler(s, SIG_DFL, 0);
}

static void interrupted(void) {
    printf("-- interrupted system calls\n");
    int p[2];
    pipe(p);
    char buf[16] = {0};
    set_handler(SIGALRM, alrm_handler, 0);
    alrm_hits = alrm_write_at = 0;
    arm(30, 30);
    CHECK("read, no SA_RESTART", read(p[0], buf, sizeof buf));
    disarm();
    printf("alarm ran %d\n", alrm_hits >= 1);

    set_handler(SIGALRM, alrm_handler, SA_RESTART);
    alrm_fd = p[1];
    alrm_hits = 0;
    alrm_write_at = 3;
    arm(20, 20);
    CHECK("read, SA_RESTART, data on the 3rd alarm", read(p[0], buf, sizeof buf));
    disarm();
    printf("got %s, alarm ran 3+ times %d\n", buf, alrm_hits >= 3);
    alrm_write_at = 0;

    struct timespec req = {2, 0}, rem = {0, 0};
    arm(30, 30);
    CHECK("nanosleep 2s, SA_RESTART", nanosleep(&req, &rem));
    disarm();
    printf("remaining between 1s and 2s %d\n", rem.tv_sec == 1);
    rem = (struct timespec){0, 0};
    arm(30, 30);
    CHECK("clock_nanosleep 2s", syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, &rem));
    disarm();
    printf("remaining between 1s and 2s %d\n", rem.tv_sec == 1);

    struct pollfd pf = {p[0], POLLIN, 0};
    arm(30, 30);
    CHECK("poll 2s, SA_RESTART", poll(&pf, 1, 2000));
    disarm();
    arm(30, 30);
    CHECK("pause", pause());
    disarm();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        usleep(150000);
        _exit(3);
    }
    int st = 0;
    arm(30, 30);
    CHECK("wait4, SA_RESTART", waitpid(c, &st, 0) == c);
    disarm();
    printf("status %d\n", WEXITSTATUS(st));
    set_handler(SIGALRM, SIG_IGN, 0);
    set_handler(SIGALRM, SIG_DFL, 0);
    close(p[0]);
    close(p[1]);
}

// ---------------------------------------------------------------- children
static void segv_in_handler(int sig) { fault_read(NULL); }
static void overflow_handler(int sig, siginfo_t *si, void *uc) {
    char local;
    _exit(in_alt(&local) && si->si_code == SEGV_MAPERR ? 42 : 43);
}
static int recurse(int n) {
    volatile char big[65536];
    big[0] = n;
    return recurse(n + 1) + big[0];
}

static void child_body(int how) {
    struct rlimit zero = {0, 0};
    setrlimit(RLIMIT_CORE, &zero);
    sigset_t s;
    switch (how) {
    case 0: kill(getpid(), SIGTERM); break;
    case 1: kill(getpid(), SIGSEGV); break;
    case 2: fault_read(NULL); break;
    case 3:
        set_handler(SIGSEGV, fault_handler, SA_SIGINFO);
        mask_signal(SIGSEGV, SIG_BLOCK);
        fault_read(NULL);
        break;
    case 4:
        set_handler(SIGSEGV, segv_in_handler, 0);
        fault_read(NULL);
        break;
    case 5:
        kill(getpid(), SIGCHLD);
        kill(getpid(), SIGURG);
        kill(getpid(), SIGWINCH);
        kill(getpid(), SIGCONT);
        _exit(7);
    case 6:
        set_handler(SIGTERM, SIG_IGN, 0);
        kill(getpid(), SIGTERM);
        raise(SIGTERM);
        _exit(8);
    case 7: kill(getpid(), SIGKILL); break;
    case 8: abort();
    case 9: kill(getpid(), SIGQUIT); break;
    case 10:
        mask_signal(SIGTERM, SIG_BLOCK);
        kill(getpid(), SIGTERM);
        _exit(9);
    case 11:
        set_handler(SIGUSR1, plain_handler, 0);
        mask_signal(SIGUSR1, SIG_BLOCK);
        raise(SIGUSR1);
        set_handler(SIGUSR1, SIG_DFL, 0);
        mask_signal(SIGUSR1, SIG_UNBLOCK);
        break;
    case 12: raise(SIGRTMIN); break;
    case 13: fault_div_entry(1, 0); break;
    case 14: fault_ud2(); break;
    case 15: fault_int3(); break;
    case 16: {
        stack_t ss = {.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0};
        sigaltstack(&ss, NULL);
        struct rlimit rs = {1 << 20, 1 << 20};
        setrlimit(RLIMIT_STACK, &rs);
        set_handler(SIGSEGV, overflow_handler, SA_SIGINFO | SA_ONSTACK);
        recurse(0);
        break;
    }
    case 17:
        set_handler(SIGTERM, SIG_IGN, 0);
        sigemptyset(&s);
        sigaddset(&s, SIGTERM);
        sigprocmask(SIG_BLOCK, &s, NULL);
        kill(getpid(), SIGTERM);
        set_handler(SIGTERM, SIG_DFL, 0);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        _exit(10);
    }
    _exit(99);
}

static void defaults(void) {
    printf("-- default actions, in children\n");
    static const char *what[] = {
        "kill self TERM", "kill self SEGV", "NULL read, default SEGV", "NULL read, SEGV handled but blocked",
        "fault in the SEGV handler", "CHLD URG WINCH CONT by default", "TERM ignored", "kill self KILL", "abort",
        "kill self QUIT", "blocked TERM at exit", "pending USR1 unblocked after SIG_DFL", "raise RTMIN",
        "divide by zero, default", "ud2, default", "int3, default", "stack overflow caught on the alt stack",
        "TERM sent while ignored and blocked"};
    for (int i = 0; i < (int)(sizeof what / sizeof *what); i++) {
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) child_body(i);
        int st;
        waitpid(c, &st, 0);
        if (WIFEXITED(st))
            printf("%s: exited %d\n", what[i], WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
            printf("%s: killed by %d, core %d\n", what[i], WTERMSIG(st), WCOREDUMP(st) ? 1 : 0);
        else
            printf("%s: status %#x\n", what[i], st);
    }
}

// exec resets handled signals to SIG_DFL but keeps ignored ones, the mask and
// pending signals; the alternate stack is gone.
static void exec_check(void) {
    struct sigaction q1, q2;
    sigaction(SIGUSR1, NULL, &q1);
    sigaction(SIGUSR2, NULL, &q2);
    stack_t ss;
    sigaltstack(NULL, &ss);
    printf("after exec: USR1 default %d, USR2 ignored %d, INT blocked %d, INT pending %d, altstack flags %d\n",
           q1.sa_handler == SIG_DFL, q2.sa_handler == SIG_IGN, is_blocked(SIGINT), is_pending(SIGINT),
           ss.ss_flags);
}

static void exec_test(void) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        set_handler(SIGUSR1, plain_handler, 0);
        set_handler(SIGUSR2, SIG_IGN, 0);
        mask_signal(SIGINT, SIG_BLOCK);
        raise(SIGINT);
        stack_t ss = {.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0};
        sigaltstack(&ss, NULL);
        execl("/proc/self/exe", "signals", "exec-check", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(c, &st, 0);
    printf("exec child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "exec-check")) {
        exec_check();
        return 0;
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    basics();
    masks();
    registers();
    altstack();
    pending();
    waiting();
    faults();
    interrupted();
    defaults();
    exec_test();
    printf("done\n");
    return 0;
}
