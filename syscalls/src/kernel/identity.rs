//! getpid, gettid, getppid, get[e]uid, get[e]gid, uname.

use abi::structs::Utsname;
use abi::Errno;
use sentry::{SyscallResult, Task};

use crate::args::UserPtr;

pub fn getpid(t: &mut Task) -> SyscallResult {
    Ok(t.tgid as u64)
}
pub fn gettid(t: &mut Task) -> SyscallResult {
    Ok(t.tid as u64)
}
pub fn getppid(t: &mut Task) -> SyscallResult {
    Ok(t.tasks().current_process(t).parent as u64)
}
pub fn getpgrp(t: &mut Task) -> SyscallResult {
    Ok(t.tasks().current_process(t).pgid as u64)
}

/// The process `pid` names (0: the caller), alive or a zombie.
fn lookup(t: &Task, ts: &sentry::process::Tasks, pid: i32) -> Result<(i32, i32), Errno> {
    let pid = if pid == 0 { t.tgid } else { pid };
    let p = ts.process_of(pid).ok_or(Errno::ESRCH)?;
    Ok((p.pgid, p.sid))
}

pub fn getpgid(t: &mut Task, pid: i32) -> SyscallResult {
    let ts = t.tasks();
    lookup(t, &ts, pid).map(|(pgid, _)| pgid as u64)
}

pub fn getsid(t: &mut Task, pid: i32) -> SyscallResult {
    let ts = t.tasks();
    lookup(t, &ts, pid).map(|(_, sid)| sid as u64)
}

/// setpgid, with Linux's checks: the target is the caller or a child of it
/// that has not exec'd, in the caller's session and not a session leader;
/// the group joined exists in that session (or is the target's own pid).
pub fn setpgid(t: &mut Task, pid: i32, pgid: i32) -> SyscallResult {
    let mut ts = t.tasks();
    let me = t.tgid;
    let pid = if pid == 0 { me } else { pid };
    let pgid = if pgid == 0 { pid } else { pgid };
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let target = ts.process_of(pid).filter(|p| p.tgid == pid).ok_or(Errno::ESRCH)?;
    let my_sid = ts.current_process(t).sid;
    if target.tgid != me {
        if target.parent != me {
            return Err(Errno::ESRCH);
        }
        if target.did_exec {
            return Err(Errno::EACCES);
        }
        if target.sid != my_sid {
            return Err(Errno::EPERM);
        }
    }
    if target.sid == target.tgid {
        return Err(Errno::EPERM);
    }
    if pgid != pid && !ts.processes.values().any(|p| p.pgid == pgid && p.sid == my_sid && !p.threads.is_empty()) {
        return Err(Errno::EPERM);
    }
    ts.process_mut(pid).ok_or(Errno::ESRCH)?.pgid = pgid;
    Ok(0)
}

/// setsid: a new session and group led by the caller, unless it leads a
/// group already.
pub fn setsid(t: &mut Task) -> SyscallResult {
    let mut ts = t.tasks();
    let me = t.tgid;
    if ts.processes.values().any(|p| p.pgid == me) {
        return Err(Errno::EPERM);
    }
    let p = ts.current_process_mut(t);
    p.pgid = me;
    p.sid = me;
    Ok(me as u64)
}

pub fn getuid(t: &mut Task) -> SyscallResult {
    Ok(t.creds.uid as u64)
}
pub fn geteuid(t: &mut Task) -> SyscallResult {
    Ok(t.creds.euid as u64)
}
pub fn getgid(t: &mut Task) -> SyscallResult {
    Ok(t.creds.gid as u64)
}
pub fn getegid(t: &mut Task) -> SyscallResult {
    Ok(t.creds.egid as u64)
}

/// The kernel release the sandbox reports, whatever the host runs.
pub const RELEASE: &str = "6.1.0-rvisor";
pub const VERSION: &str = "#1 SMP rVisor";

fn field(s: &str) -> [u8; 65] {
    let mut f = [0u8; 65];
    let n = s.len().min(64);
    f[..n].copy_from_slice(&s.as_bytes()[..n]);
    f
}

pub fn uname(t: &mut Task, buf: UserPtr<Utsname>) -> SyscallResult {
    let u = Utsname {
        sysname: field("Linux"),
        nodename: field(&t.kernel.hostname),
        release: field(RELEASE),
        version: field(VERSION),
        machine: field("x86_64"),
        domainname: field("(none)"),
    };
    buf.write(t, &u).map(|_| 0)
}
