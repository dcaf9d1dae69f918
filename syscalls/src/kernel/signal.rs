//! rt_sigaction, rt_sigprocmask, kill, tgkill, tkill. Dispositions and the
//! mask are kept and default actions carried out; running handlers arrives
//! with the signals issue.

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
        t.discard_ignored_pending();
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
    oset.write_opt(t, &old.0)?;
    t.deliver_pending();
    Ok(0)
}

fn valid_signal(sig: i32) -> Result<(), Errno> {
    if (0..=SIGRTMAX).contains(&sig) {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

/// kill: the sandbox has one process today, so only it (by pid, process group
/// or 0) can be signalled; anything else does not exist (ESRCH).
pub fn kill(t: &mut Task, pid: i32, sig: i32) -> SyscallResult {
    let me = match pid {
        0 => true,
        -1 => false,
        p if p > 0 => p == t.tgid,
        p => p.checked_neg() == Some(t.pgid),
    };
    // Linux finds the target (ESRCH) before checking the signal (EINVAL).
    if !me {
        return Err(Errno::ESRCH);
    }
    valid_signal(sig)?;
    t.send_signal(sig);
    Ok(0)
}

pub fn tgkill(t: &mut Task, tgid: i32, tid: i32, sig: i32) -> SyscallResult {
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    if tgid != t.tgid || tid != t.tid {
        return Err(Errno::ESRCH);
    }
    valid_signal(sig)?;
    t.send_signal(sig);
    Ok(0)
}

pub fn tkill(t: &mut Task, tid: i32, sig: i32) -> SyscallResult {
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    if tid != t.tid {
        return Err(Errno::ESRCH);
    }
    valid_signal(sig)?;
    t.send_signal(sig);
    Ok(0)
}
