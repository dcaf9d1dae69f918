//! The Sentry's host seccomp filter: an allow-list of the host syscalls the
//! Sentry and its platform need, default action kill-process.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

use crate::platform::{ArgCmp, ArgCond, ArgFilter, PlatformSeccomp};

/// The Sentry's own needs: I/O on the fds it holds, memory for itself, signals,
/// time, randomness, the memory file and exit.
fn sentry_rules() -> Vec<(i64, ArgFilter)> {
    use libc::*;
    let any = |nr: c_long| (nr, ArgFilter::Any);
    let one_of = |nr: c_long, arg: u8, values: &[u64]| (nr, ArgFilter::one_of(arg, values));
    vec![
        any(SYS_read),
        any(SYS_write),
        any(SYS_readv),
        any(SYS_writev),
        any(SYS_pread64),
        any(SYS_pwrite64),
        any(SYS_preadv),
        any(SYS_pwritev),
        any(SYS_close),
        any(SYS_fstat),
        any(SYS_poll),
        any(SYS_lseek),
        // Only the queries a program may make about its stdio.
        one_of(SYS_ioctl, 1, &[TCGETS, TIOCGWINSZ, TIOCGPGRP, FIONREAD]),
        one_of(SYS_fcntl, 1, &[F_GETFL as u64, F_GETFD as u64]),
        any(SYS_mmap),
        any(SYS_munmap),
        any(SYS_mprotect),
        any(SYS_madvise),
        any(SYS_mremap),
        any(SYS_brk),
        any(SYS_rt_sigaction),
        any(SYS_rt_sigprocmask),
        any(SYS_rt_sigreturn),
        any(SYS_sigaltstack),
        any(SYS_futex),
        // Task threads: glibc's pthread_create (clone3 is answered ENOSYS by
        // a filter of its own, so glibc falls back to this clone), and what
        // a new thread sets up for itself.
        one_of(SYS_clone, 0, &[THREAD_CLONE_FLAGS]),
        // Passed here, always refused by the second filter (the strictest
        // verdict of all filters wins).
        any(SYS_clone3),
        any(SYS_set_robust_list),
        // malloc counts CPUs to size its arenas for a new thread.
        any(SYS_sched_getaffinity),
        any(SYS_rseq),
        // Waiters: an eventfd each, polled with the host fds a wait covers.
        any(SYS_eventfd2),
        any(SYS_ppoll),
        any(SYS_sched_yield),
        any(SYS_getpid),
        any(SYS_gettid),
        // abort() on a Sentry panic.
        one_of(SYS_tgkill, 2, &[SIGABRT as u64]),
        any(SYS_clock_gettime),
        any(SYS_clock_getres),
        any(SYS_clock_nanosleep),
        any(SYS_nanosleep),
        any(SYS_gettimeofday),
        any(SYS_getrandom),
        // Releasing memory-file pages; fallocate on donated volume files.
        one_of(SYS_fallocate, 1, &[0, FALLOC_FL_KEEP_SIZE as u64, (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) as u64]),
        // The gofer socket (the flags its transport uses).
        one_of(SYS_sendmsg, 2, &[MSG_NOSIGNAL as u64]),
        one_of(SYS_recvmsg, 2, &[MSG_CMSG_CLOEXEC as u64]),
        // ftruncate of donated files on writable volumes.
        any(SYS_ftruncate),
        any(SYS_exit),
        any(SYS_exit_group),
    ]
}

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

fn condition(c: &ArgCond) -> Result<SeccompCondition, seccompiler::Error> {
    let (op, v) = match c.cmp {
        ArgCmp::Eq(v) => (SeccompCmpOp::Eq, v),
        ArgCmp::Gt(v) => (SeccompCmpOp::Gt, v),
        ArgCmp::Le(v) => (SeccompCmpOp::Le, v),
    };
    let len = if v > u32::MAX as u64 { SeccompCmpArgLen::Qword } else { SeccompCmpArgLen::Dword };
    Ok(SeccompCondition::new(c.arg, len, op, v)?)
}

/// Builds the filter. With `trap`, a forbidden call raises SIGSYS (which
/// `install` reports) instead of killing the process.
pub fn build(platform: &PlatformSeccomp, trap: bool) -> Result<BpfProgram, seccompiler::Error> {
    // An empty rule list matches any arguments; a syscall allowed outright
    // by one side stays so whatever the other adds.
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut unconditional = std::collections::BTreeSet::new();
    for (nr, filter) in sentry_rules().into_iter().chain(platform.rules.iter().cloned()) {
        let entry = rules.entry(nr).or_default();
        match filter {
            _ if unconditional.contains(&nr) => {}
            ArgFilter::Any => {
                entry.clear();
                unconditional.insert(nr);
            }
            ArgFilter::AnyOf(alternatives) => {
                for conds in alternatives {
                    let conds = conds.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
                    entry.push(SeccompRule::new(conds)?);
                }
            }
        }
    }
    let mismatch = if trap { SeccompAction::Trap } else { SeccompAction::KillProcess };
    let filter = SeccompFilter::new(rules, mismatch, SeccompAction::Allow, std::env::consts::ARCH.try_into()?)?;
    Ok(filter.try_into()?)
}

/// A second filter: clone3 fails with ENOSYS (its flags sit in memory, out of
/// a filter's reach), so that thread creation falls back to clone.
pub fn build_clone3_refusal() -> Result<BpfProgram, seccompiler::Error> {
    let rules = BTreeMap::from([(libc::SYS_clone3, vec![])]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        std::env::consts::ARCH.try_into()?,
    )?;
    Ok(filter.try_into()?)
}

/// Installs `prog` on the calling thread (and every thread it later creates).
/// With `trap`, forbidden calls are reported on stderr and the Sentry aborts.
pub fn install(prog: &BpfProgram, trap: bool) -> Result<(), seccompiler::Error> {
    if trap {
        // SAFETY: installs a handler that only uses async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = report_sigsys as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut());
        }
    }
    seccompiler::apply_filter(prog)?;
    seccompiler::apply_filter(&build_clone3_refusal()?)
}

extern "C" fn report_sigsys(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // siginfo for SIGSYS: si_syscall is the int at byte offset 24.
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let nr = unsafe { *(info as *const u8).add(24).cast::<i32>() };
    let mut msg = *b"rvisor: sentry seccomp: forbidden host syscall      \n";
    let mut n = nr.max(0) as u32;
    let mut i = msg.len() - 2;
    loop {
        msg[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
        i -= 1;
    }
    // SAFETY: write and _exit are async-signal-safe.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(128 + libc::SIGSYS);
    }
}
