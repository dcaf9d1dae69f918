//! The gofer's host seccomp policy: socket messages, the *at calls it serves
//! with, memory for itself, and exit. Everything else kills it. A gofer with
//! no writable export gets no call that changes a file, and opens only
//! without write access, creation or truncation.

use confine::seccomp::{ArgCmp, ArgCond, Policy, Rule};

/// The policy for a gofer whose exports include a writable one (`writable`)
/// or not.
pub fn policy(writable: bool) -> Policy {
    use libc::*;
    let serve = "serving lookups, attributes and listings, relative to export fds";
    let mem = "the gofer's own memory";
    // Clearing the O_NONBLOCK a file was opened with (so that a FIFO swapped
    // in cannot block the open), the check std makes of an fd it closes, and
    // the C library's fdopendir (which reads a directory fd's access mode and
    // sets its close-on-exec flag).
    let fcntl = Rule::one_of(
        SYS_fcntl,
        1,
        &[F_SETFL as u64, F_GETFD as u64, F_GETFL as u64, F_SETFD as u64],
        "clearing O_NONBLOCK on a file opened for the Sentry; std's check of an fd it closes; \
         fdopendir's checks of a directory it lists",
    );
    let mut allow = vec![
        Rule::any(SYS_recvmsg, "requests from the Sentry"),
        Rule::any(SYS_sendmsg, "replies, and fds donated to the Sentry"),
        Rule::any(SYS_close, "handles the Sentry closes"),
        Rule::any(SYS_fstat, serve),
        Rule::any(SYS_fstatfs, serve),
        Rule::any(SYS_newfstatat, serve),
        Rule::any(SYS_getdents64, serve),
        Rule::any(SYS_readlinkat, serve),
        Rule::any(SYS_write, "its error message on stderr"),
        Rule::any(SYS_mmap, mem),
        Rule::any(SYS_munmap, mem),
        Rule::any(SYS_mremap, mem),
        Rule::any(SYS_madvise, mem),
        Rule::any(SYS_brk, mem),
        Rule::any(SYS_futex, "locks of the C library"),
        Rule::any(SYS_rt_sigreturn, "return from a signal handler"),
        Rule::any(SYS_exit_group, "the gofer ends"),
    ];
    if writable {
        let change = "changes on writable volumes, by name relative to a walked parent";
        allow.extend([
            Rule::any(SYS_openat, "opening files for the Sentry, O_NOFOLLOW relative to their parent"),
            Rule::any(SYS_mkdirat, change),
            Rule::any(SYS_unlinkat, change),
            Rule::any(SYS_symlinkat, change),
            Rule::any(SYS_linkat, change),
            Rule::any(SYS_renameat, change),
            Rule::any(SYS_fchmodat, change),
            Rule::any(SYS_fchownat, change),
            Rule::any(SYS_utimensat, change),
            Rule::any(SYS_ftruncate, change),
        ]);
    } else {
        // No write access, creation, truncation or appending: an open of a
        // read-only export cannot change a file even if the gofer's code
        // asked it to. (O_TMPFILE without the O_DIRECTORY it includes.)
        let tmpfile = O_TMPFILE & !O_DIRECTORY;
        let mask = (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | tmpfile) as u64;
        let read_only = vec![ArgCond { arg: 2, cmp: ArgCmp::MaskedEq { mask, value: 0 } }];
        allow.push(Rule::when(SYS_openat, vec![read_only], "opening files for reading only, O_NOFOLLOW"));
    }
    allow.push(fcntl);
    Policy { allow, refuse: Vec::new() }
}
