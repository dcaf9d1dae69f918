//! The Sentry's host seccomp policy: the host syscalls the Sentry and its
//! platform need, each with its reason; any other kills the Sentry.

use confine::seccomp::{ArgCmp, ArgCond, Policy, Refusal, Rule};

use crate::platform::PlatformSeccomp;

/// The clone flags glibc's pthread_create uses.
const THREAD_CLONE_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM
    | libc::CLONE_SETTLS
    | libc::CLONE_PARENT_SETTID
    | libc::CLONE_CHILD_CLEARTID) as u64;

/// The Sentry's own needs: I/O on the fds it holds, memory for itself,
/// threads, waits, time, randomness, the memory file and exit.
fn sentry_rules() -> Vec<Rule> {
    use libc::*;
    let io = "I/O on fds the Sentry holds: stdio, donated files, pipes, the memory file";
    let mem = "the Sentry's own memory (allocator, thread stacks, mappings of the memory file)";
    let sig = "the Sentry's own signal handling (host signals forwarded to the sandbox, thread setup)";
    let time = "time, when the host's vDSO falls back to the system call";
    let no_exec = vec![ArgCond { arg: 2, cmp: ArgCmp::MaskedEq { mask: PROT_EXEC as u64, value: 0 } }];
    vec![
        Rule::any(SYS_read, io),
        Rule::any(SYS_write, io),
        Rule::any(SYS_readv, io),
        Rule::any(SYS_writev, io),
        Rule::any(SYS_preadv, io),
        Rule::any(SYS_pwritev, io),
        Rule::any(SYS_close, io),
        Rule::any(SYS_fstat, "attributes of donated files and stdio"),
        Rule::any(SYS_lseek, "SEEK_DATA/SEEK_HOLE and positions of donated files and stdio"),
        Rule::one_of(
            SYS_ioctl,
            1,
            &[TCGETS, TIOCGWINSZ, FIONREAD],
            "only the queries a program may make about its stdio",
        ),
        Rule::one_of(SYS_fcntl, 1, &[F_GETFL as u64, F_GETFD as u64], "the status flags of stdio"),
        // Never executable: the Sentry makes no code after it is sealed (the
        // stub page is mapped before; stubs map application code themselves).
        Rule::when(SYS_mmap, vec![no_exec.clone()], mem),
        Rule::any(SYS_munmap, mem),
        Rule::when(SYS_mprotect, vec![no_exec], mem),
        Rule::any(SYS_madvise, mem),
        Rule::any(SYS_mremap, mem),
        Rule::any(SYS_brk, mem),
        Rule::any(SYS_rt_sigaction, sig),
        Rule::any(SYS_rt_sigprocmask, sig),
        Rule::any(SYS_rt_sigreturn, sig),
        Rule::any(SYS_sigaltstack, "the stack-overflow guard of each new Sentry thread"),
        Rule::any(SYS_futex, "locks and condition variables between Sentry threads"),
        Rule::one_of(SYS_clone, 0, &[THREAD_CLONE_FLAGS], "a host thread per task: glibc's pthread_create"),
        Rule::any(SYS_set_robust_list, "set up by glibc in each new thread"),
        // Registration only: glibc must register each new thread once the
        // main thread has (it aborts otherwise).
        Rule::one_of(SYS_rseq, 2, &[0], "registered by glibc in each new thread"),
        Rule::any(SYS_eventfd2, "each task thread's waiter: an eventfd that wakes its waits"),
        Rule::any(SYS_ppoll, "waits on host fds and the waiter's eventfd"),
        Rule::any(SYS_sched_yield, "spinning briefly for a lock or a stub"),
        Rule::any(SYS_getpid, "abort() on a Sentry panic names this process"),
        Rule::any(SYS_gettid, "the task thread's own id (stub ownership)"),
        Rule::one_of(SYS_tgkill, 2, &[SIGABRT as u64], "abort() on a Sentry panic"),
        Rule::any(SYS_clock_gettime, time),
        Rule::any(SYS_clock_nanosleep, "sleeps of the timer and timekeeper threads"),
        // A host stop (SIGSTOP and SIGCONT, a debugger attaching, a cgroup
        // freeze) interrupts a sleep or a timed futex wait, and the host
        // resumes it with restart_syscall: without it the Sentry dies of
        // SIGSYS when it is continued.
        Rule::any(SYS_restart_syscall, "host sleeps and timed waits resumed after a host stop"),
        Rule::any(SYS_getrandom, "AT_RANDOM, /dev/urandom and getrandom for the sandbox"),
        Rule::one_of(
            SYS_fallocate,
            1,
            &[0, FALLOC_FL_KEEP_SIZE as u64, (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) as u64],
            "releasing memory-file pages; fallocate on donated volume files",
        ),
        Rule::one_of(SYS_sendmsg, 2, &[MSG_NOSIGNAL as u64], "requests to the gofer"),
        Rule::one_of(SYS_recvmsg, 2, &[MSG_CMSG_CLOEXEC as u64], "replies (and donated fds) from the gofer"),
        Rule::any(SYS_ftruncate, "truncating donated files on writable volumes"),
        Rule::any(SYS_exit, "a Sentry thread ends"),
        Rule::any(SYS_exit_group, "the Sentry ends"),
    ]
}

/// The Sentry's whole policy: its own rules and its platform's.
pub fn policy(platform: &PlatformSeccomp) -> Policy {
    let mut allow = sentry_rules();
    allow.extend(platform.rules.iter().cloned());
    let refuse = vec![
        Refusal {
            nr: libc::SYS_clone3,
            errno: libc::ENOSYS,
            why: "its flags sit in memory, out of a filter's reach; glibc then falls back to clone",
        },
        Refusal {
            nr: libc::SYS_sched_getaffinity,
            errno: libc::ENOSYS,
            why: "glibc's pthread_getattr_np (Rust asks it in each new thread, for the stack guard) reads \
                  the thread's CPU set and leaves it out on ENOSYS; the Sentry reads its CPUs at boot",
        },
    ];
    Policy { allow, refuse }
}
