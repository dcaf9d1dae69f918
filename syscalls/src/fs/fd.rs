//! close, dup, dup2, dup3, fcntl.

use abi::consts::*;
use abi::Errno;
use sentry::fdtable::FdEntry;
use sentry::{SyscallResult, Task};

use crate::args::Fd;

pub fn close(t: &mut Task, fd: Fd) -> SyscallResult {
    let entry = t.fds.remove(fd.0)?;
    crate::fs::lock::on_close(t, &entry);
    Ok(0)
}

pub fn dup(t: &mut Task, fd: Fd) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    let limit = t.nofile_limit();
    t.fds.install(0, FdEntry { file, cloexec: false }, limit).map(|n| n as u64)
}

fn dup_to(t: &mut Task, old: Fd, new: Fd, cloexec: bool) -> SyscallResult {
    if new.0 < 0 || new.0 as u64 >= t.nofile_limit() {
        return Err(Errno::EBADF);
    }
    let file = t.fds.file(old.0)?;
    if let Some(replaced) = t.fds.install_at(new.0, FdEntry { file, cloexec }) {
        crate::fs::lock::on_close(t, &replaced);
    }
    Ok(new.0 as u64)
}

pub fn dup2(t: &mut Task, old: Fd, new: Fd) -> SyscallResult {
    if old == new {
        return t.fds.get(old.0).map(|_| new.0 as u64);
    }
    dup_to(t, old, new, false)
}

pub fn dup3(t: &mut Task, old: Fd, new: Fd, flags: u32) -> SyscallResult {
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    dup_to(t, old, new, flags & O_CLOEXEC != 0)
}

/// fcntl: the fd and status-flag commands and record locks. Leases, owners,
/// pipe sizes and seals are still to come.
pub fn fcntl(t: &mut Task, fd: Fd, cmd: i32, arg: u64) -> SyscallResult {
    let entry = t.fds.get(fd.0)?.clone();
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            // The kernel takes the argument as an int, then as unsigned.
            let from = arg as u32;
            let limit = t.nofile_limit();
            if from as u64 >= limit || from > i32::MAX as u32 {
                return Err(Errno::EINVAL);
            }
            let e = FdEntry { file: entry.file, cloexec: cmd == F_DUPFD_CLOEXEC };
            t.fds.install(from as i32, e, limit).map(|n| n as u64)
        }
        F_GETFD => Ok(entry.cloexec as u64),
        F_SETFD => t.fds.set_cloexec(fd.0, arg & FD_CLOEXEC != 0).map(|_| 0),
        F_GETFL => Ok(entry.file.flags() as u64),
        F_SETFL => {
            entry.file.set_status_flags(arg as u32);
            Ok(0)
        }
        F_GET_SEALS => entry.file.ops().seals().map(u64::from),
        F_ADD_SEALS => {
            let known = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;
            if !entry.file.writable() {
                return Err(Errno::EPERM);
            }
            if arg as u32 & !known != 0 {
                return Err(Errno::EINVAL);
            }
            entry.file.ops().add_seals(arg as u32).map(|_| 0)
        }
        F_GETPIPE_SZ => entry.file.ops().pipe_size(None).map(|n| n as u64),
        F_SETPIPE_SZ => entry.file.ops().pipe_size(Some((arg as u32).max(1) as usize)).map(|n| n as u64),
        F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => {
            crate::fs::lock::record_lock(t, &entry, cmd, arg)
        }
        _ => Err(Errno::EINVAL),
    }
}
