//! prlimit64, getrlimit, setrlimit.

use abi::consts::*;
use abi::structs::Rlimit;
use abi::Errno;
use sentry::limits::{Limits, NR_OPEN};
use sentry::{SyscallResult, Task};

use crate::args::UserPtr;

fn do_prlimit(
    t: &mut Task,
    limits: &Limits,
    resource: u32,
    new: Option<Rlimit>,
    old: UserPtr<Rlimit>,
) -> SyscallResult {
    if resource >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    let cur = limits.get(resource);
    if let Some(n) = new {
        if n.rlim_cur > n.rlim_max {
            return Err(Errno::EINVAL);
        }
        if resource == RLIMIT_NOFILE && n.rlim_max > NR_OPEN {
            return Err(Errno::EPERM);
        }
        if n.rlim_max > cur.rlim_max && !t.creds.capable(CAP_SYS_RESOURCE) {
            return Err(Errno::EPERM);
        }
        limits.set(resource, n);
    }
    old.write_opt(t, &cur).map(|_| 0)
}

/// prlimit64: the limits of the caller's process or another's, which the
/// caller may touch when its uids are the target's or with CAP_SYS_RESOURCE.
pub fn prlimit64(t: &mut Task, pid: i32, resource: u32, new: UserPtr<Rlimit>, old: UserPtr<Rlimit>) -> SyscallResult {
    let new = new.read_opt(t)?;
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let limits = if pid == 0 || pid == t.tgid || pid == t.tid {
        t.limits.share()
    } else {
        let ts = t.tasks();
        let p = ts.process_of(pid).filter(|p| !p.threads.is_empty()).ok_or(Errno::ESRCH)?;
        let target = &p.threads.first().and_then(|tid| ts.threads.get(tid)).ok_or(Errno::ESRCH)?.view.creds;
        let c = &t.creds;
        let same = [target.uid, target.euid, target.suid].iter().all(|&u| u == c.uid)
            && [target.gid, target.egid, target.sgid].iter().all(|&g| g == c.gid);
        if !same && !c.capable(CAP_SYS_RESOURCE) {
            return Err(Errno::EPERM);
        }
        p.limits.share()
    };
    do_prlimit(t, &limits, resource, new, old)
}

pub fn getrlimit(t: &mut Task, resource: u32, old: UserPtr<Rlimit>) -> SyscallResult {
    if resource >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    old.write(t, &t.limits.get(resource)).map(|_| 0)
}

pub fn setrlimit(t: &mut Task, resource: u32, new: UserPtr<Rlimit>) -> SyscallResult {
    let n = new.read(t)?;
    let limits = t.limits.share();
    do_prlimit(t, &limits, resource, Some(n), UserPtr::from_null())
}
