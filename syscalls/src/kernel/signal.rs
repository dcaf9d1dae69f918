//! rt_sigaction, rt_sigprocmask: the state is kept; delivery to handlers
//! arrives with the signals issue.

use abi::signal::*;
use abi::Errno;
use sentry::{SyscallResult, Task};

use crate::args::UserPtr;

const SIGSET_SIZE: usize = 8;

/// The sa_flags bits Linux keeps (UAPI_SA_FLAGS); others read back as clear.
const UAPI_SA_FLAGS: u64 = SA_NOCLDSTOP
    | SA_NOCLDWAIT
    | SA_SIGINFO
    | SA_ONSTACK
    | SA_RESTART
    | SA_NODEFER
    | SA_RESETHAND
    | SA_EXPOSE_TAGBITS
    | SA_RESTORER;

pub fn rt_sigaction(
    t: &mut Task,
    sig: i32,
    act: UserPtr<KernelSigaction>,
    oact: UserPtr<KernelSigaction>,
    sigsetsize: usize,
) -> SyscallResult {
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = act.read_opt(t)?;
    if !(1..=SIGRTMAX).contains(&sig) || (new.is_some() && (sig == SIGKILL || sig == SIGSTOP)) {
        return Err(Errno::EINVAL);
    }
    let old = t.handlers.get(sig);
    if let Some(mut n) = new {
        n.flags &= UAPI_SA_FLAGS;
        n.mask &= !SigSet::UNBLOCKABLE.0;
        t.handlers.set(sig, n);
    }
    oact.write_opt(t, &old).map(|_| 0)
}

pub fn rt_sigprocmask(
    t: &mut Task,
    how: i32,
    set: UserPtr<u64>,
    oset: UserPtr<u64>,
    sigsetsize: usize,
) -> SyscallResult {
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = t.signal_mask;
    if let Some(s) = set.read_opt(t)? {
        let s = s & !SigSet::UNBLOCKABLE.0;
        t.signal_mask = SigSet(match how {
            SIG_BLOCK => old.0 | s,
            SIG_UNBLOCK => old.0 & !s,
            SIG_SETMASK => s,
            _ => return Err(Errno::EINVAL),
        });
    }
    oset.write_opt(t, &old.0).map(|_| 0)
}
