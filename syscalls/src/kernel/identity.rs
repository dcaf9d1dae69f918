//! getpid, gettid, getppid, get[e]uid, get[e]gid, uname.

use abi::structs::Utsname;
use sentry::{SyscallResult, Task};

use crate::args::UserPtr;

pub fn getpid(t: &mut Task) -> SyscallResult {
    Ok(t.tgid as u64)
}
pub fn gettid(t: &mut Task) -> SyscallResult {
    Ok(t.tid as u64)
}
pub fn getppid(t: &mut Task) -> SyscallResult {
    Ok(t.ppid as u64)
}
pub fn getpgrp(t: &mut Task) -> SyscallResult {
    Ok(t.pgid as u64)
}

/// getpgid: the sandbox has one process today; any other pid does not exist.
pub fn getpgid(t: &mut Task, pid: i32) -> SyscallResult {
    if pid != 0 && pid != t.tgid {
        return Err(abi::Errno::ESRCH);
    }
    Ok(t.pgid as u64)
}

/// getsid: the first process leads its session.
pub fn getsid(t: &mut Task, pid: i32) -> SyscallResult {
    if pid != 0 && pid != t.tgid {
        return Err(abi::Errno::ESRCH);
    }
    Ok(t.tgid as u64)
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
