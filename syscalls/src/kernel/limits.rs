//! prlimit64, getrlimit, setrlimit.

use abi::consts::*;
use abi::structs::Rlimit;
use abi::Errno;
use sentry::limits::NR_OPEN;
use sentry::{SyscallResult, Task};

use crate::args::UserPtr;

fn do_prlimit(t: &mut Task, resource: u32, new: Option<Rlimit>, old: UserPtr<Rlimit>) -> SyscallResult {
    if resource >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    let cur = t.limits.get(resource);
    if let Some(n) = new {
        if n.rlim_cur > n.rlim_max {
            return Err(Errno::EINVAL);
        }
        if resource == RLIMIT_NOFILE && n.rlim_max > NR_OPEN {
            return Err(Errno::EPERM);
        }
        if n.rlim_max > cur.rlim_max && t.creds.euid != 0 {
            return Err(Errno::EPERM);
        }
        t.limits.set(resource, n);
    }
    old.write_opt(t, &cur).map(|_| 0)
}

pub fn prlimit64(t: &mut Task, pid: i32, resource: u32, new: UserPtr<Rlimit>, old: UserPtr<Rlimit>) -> SyscallResult {
    let new = new.read_opt(t)?;
    if pid != 0 && pid != t.tgid {
        return Err(Errno::ESRCH);
    }
    do_prlimit(t, resource, new, old)
}

pub fn getrlimit(t: &mut Task, resource: u32, old: UserPtr<Rlimit>) -> SyscallResult {
    if resource >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    old.write(t, &t.limits.get(resource)).map(|_| 0)
}

pub fn setrlimit(t: &mut Task, resource: u32, new: UserPtr<Rlimit>) -> SyscallResult {
    let n = new.read(t)?;
    do_prlimit(t, resource, Some(n), UserPtr::from_null())
}
