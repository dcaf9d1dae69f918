//! Processes: clone, clone3, fork, vfork, execve, execveat, wait4, waitid,
//! exit, pidfds. The handlers read and check their arguments; the
//! mechanisms are the kernel's (`sentry::task_clone`, `sentry::exec`,
//! `sentry::task_wait`).

use abi::consts::*;
use abi::signal::*;
use abi::Errno;
use sentry::eventfiles::PidFd;
use sentry::process::{ExitStatus, PtraceMode};
use sentry::{SyscallResult, Task};

use crate::args::{Fd, UserCStr, UserPtr};
use crate::fs::path::{lookup, LookupFlags};
use crate::kernel::rusage::{ticks, Rusage};

pub fn clone(t: &mut Task, flags: u64, stack: u64, parent_tid: u64, child_tid: u64, tls: u64) -> SyscallResult {
    let args = sentry::task_clone::CloneArgs {
        flags: flags & !0xff & 0xffff_ffff,
        exit_signal: flags & 0xff,
        stack,
        parent_tid,
        child_tid,
        tls,
        // clone reports a pidfd where the parent tid would go.
        pidfd: parent_tid,
    };
    if args.flags & CLONE_PIDFD != 0 && args.flags & CLONE_PARENT_SETTID != 0 {
        return Err(Errno::EINVAL);
    }
    sentry::task_clone::clone(t, args)
}

/// struct clone_args, as far as version 2 (88 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
struct CloneArgs3 {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

pub fn clone3(t: &mut Task, uargs: u64, size: usize) -> SyscallResult {
    const VER0: usize = 64;
    if !(VER0..=PAGE_SIZE as usize).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; size];
    t.mm.copy_in(uargs, &mut buf)?;
    let known = std::mem::size_of::<CloneArgs3>();
    if buf.len() > known && buf[known..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    buf.resize(known, 0);
    let a: CloneArgs3 = zerocopy::FromBytes::read_from_bytes(&buf[..]).map_err(|_| Errno::EINVAL)?;
    if a.exit_signal > SIGRTMAX as u64 || a.set_tid != 0 || a.set_tid_size != 0 {
        return Err(Errno::EINVAL);
    }
    if (a.stack == 0) != (a.stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    if a.flags & (CLONE_DETACHED | CLONE_INTO_CGROUP) != 0 {
        return Err(Errno::EINVAL);
    }
    let args = sentry::task_clone::CloneArgs {
        flags: a.flags,
        pidfd: a.pidfd,
        child_tid: a.child_tid,
        parent_tid: a.parent_tid,
        exit_signal: a.exit_signal,
        stack: if a.stack == 0 { 0 } else { a.stack + a.stack_size },
        tls: a.tls,
    };
    sentry::task_clone::clone(t, args)
}

pub fn fork(t: &mut Task) -> SyscallResult {
    sentry::task_clone::clone(t, sentry::task_clone::CloneArgs { exit_signal: SIGCHLD as u64, ..Default::default() })
}

pub fn vfork(t: &mut Task) -> SyscallResult {
    sentry::task_clone::clone(
        t,
        sentry::task_clone::CloneArgs {
            flags: CLONE_VM | CLONE_VFORK,
            exit_signal: SIGCHLD as u64,
            ..Default::default()
        },
    )
}

// ---- exec ----

/// Linux's MAX_ARG_STRLEN: one argument or environment string.
const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;
/// Linux's MAX_ARG_STRINGS.
const MAX_ARG_STRINGS: usize = 0x7fff_ffff;

/// Reads a NULL-terminated array of string pointers (argv, envp).
fn read_strings(t: &Task, mut addr: u64) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    let mut total = 0usize;
    let limit = t.limits.get(RLIMIT_STACK).rlim_cur as usize / 4;
    loop {
        let p: u64 = t.mm.read_obj(addr)?;
        if p == 0 {
            return Ok(out);
        }
        let s = t.mm.read_cstring(p, MAX_ARG_STRLEN - 1).map_err(|e| {
            if e == Errno::ENAMETOOLONG {
                Errno::E2BIG
            } else {
                e
            }
        })?;
        total += s.len() + 1 + 8;
        if total > limit.max(128 * 1024) || out.len() >= MAX_ARG_STRINGS {
            return Err(Errno::E2BIG);
        }
        out.push(s);
        addr += 8;
    }
}

pub fn execve(t: &mut Task, path: UserCStr, argv: u64, envp: u64) -> SyscallResult {
    do_execveat(t, Fd(AT_FDCWD), path, argv, envp, 0)
}

pub fn execveat(t: &mut Task, dirfd: Fd, path: UserCStr, argv: u64, envp: u64, flags: u32) -> SyscallResult {
    do_execveat(t, dirfd, path, argv, envp, flags)
}

fn do_execveat(t: &mut Task, dirfd: Fd, path: UserCStr, argv: u64, envp: u64, flags: u32) -> SyscallResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = path.read_path(t)?;
    let how = LookupFlags { follow: flags & AT_SYMLINK_NOFOLLOW == 0, empty_path: flags & AT_EMPTY_PATH != 0 };
    let target = lookup(t, dirfd, path, how)?;
    if !how.follow && vfs::inode::file_type(&**target.inode()) == vfs::inode::FileType::Symlink {
        return Err(Errno::ELOOP);
    }
    let mut argv = read_strings(t, argv)?;
    let envp = read_strings(t, envp)?;
    if argv.is_empty() {
        // Linux gives a program started without arguments an empty argv[0].
        argv.push(Vec::new());
    }
    // AT_EXECFN: the path as given, or /dev/fd/N[/name] for one relative to an fd.
    let execfn = if dirfd.0 == AT_FDCWD || name.first() == Some(&b'/') {
        name.clone()
    } else if name.is_empty() {
        format!("/dev/fd/{}", dirfd.0).into_bytes()
    } else {
        [format!("/dev/fd/{}/", dirfd.0).as_bytes(), &name].concat()
    };
    let relative_to_fd = dirfd.0 != AT_FDCWD && name.first() != Some(&b'/');
    let path_inaccessible = relative_to_fd && t.fds.get(dirfd.0).is_ok_and(|e| e.cloexec);
    let args = sentry::exec::ExecveArgs { target, name, execfn, argv, envp, path_inaccessible };
    sentry::exec::execve(t, args).map(|()| 0)
}

// ---- wait ----

pub fn wait4(t: &mut Task, pid: i32, status: UserPtr<i32>, options: i32, rusage: UserPtr<Rusage>) -> SyscallResult {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WCLONE | WALL) != 0 {
        return Err(Errno::EINVAL);
    }
    let which = match pid {
        i32::MIN => return Err(Errno::ESRCH),
        -1 => sentry::task_wait::Which::Any,
        0 => sentry::task_wait::Which::Pgid(t.tasks().current_process(t).pgid),
        p if p < 0 => sentry::task_wait::Which::Pgid(-p),
        p => sentry::task_wait::Which::Pid(p),
    };
    let Some(ev) = sentry::task_wait::wait_child(t, which, options | WEXITED)? else { return Ok(0) };
    status.write_opt(t, &ev.status)?;
    rusage.write_opt(t, &Rusage::of(&ev.usage))?;
    Ok(ev.pid as u64)
}

const P_ALL: i32 = 0;
const P_PID: i32 = 1;
const P_PGID: i32 = 2;
const P_PIDFD: i32 = 3;

pub fn waitid(
    t: &mut Task,
    idtype: i32,
    id: i32,
    infop: UserPtr<SigInfo>,
    options: i32,
    rusage: UserPtr<Rusage>,
) -> SyscallResult {
    let allowed = WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WCLONE | WALL;
    if options & !allowed != 0 || options & (WEXITED | WUNTRACED | WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    let which = match idtype {
        P_ALL => sentry::task_wait::Which::Any,
        P_PID if id > 0 => sentry::task_wait::Which::Pid(id),
        P_PGID if id == 0 => sentry::task_wait::Which::Pgid(t.tasks().current_process(t).pgid),
        P_PGID if id > 0 => sentry::task_wait::Which::Pgid(id),
        P_PIDFD => sentry::task_wait::Which::Pid(pidfd_pid(t, id)?),
        _ => return Err(Errno::EINVAL),
    };
    let ev = sentry::task_wait::wait_child(t, which, options)?;
    let info = match &ev {
        Some(ev) => {
            let (u, s) = (ticks(ev.usage.user), ticks(ev.usage.system));
            SigInfo::child(ev.code, ev.pid, t.creds.uid, ev.si_status, u, s)
        }
        None => SigInfo::new(0, 0),
    };
    infop.write_opt(t, &info)?;
    if let Some(ev) = &ev {
        rusage.write_opt(t, &Rusage::of(&ev.usage))?;
    }
    Ok(0)
}

// ---- exit ----

/// exit: ends the calling thread (the process, when it is the last).
pub fn exit(t: &mut Task, code: i32) -> SyscallResult {
    t.exiting = Some(ExitStatus::Exited(code & 0xff));
    Ok(0)
}

pub fn exit_group(t: &mut Task, code: i32) -> SyscallResult {
    t.exit_group(ExitStatus::Exited(code & 0xff));
    Ok(0)
}

// ---- pidfds ----

/// The process a pidfd names (EBADF if `fd` is not a pidfd).
pub fn pidfd_pid(t: &Task, fd: i32) -> Result<i32, Errno> {
    let file = t.fds.file(fd)?;
    let p = file.ops().as_any().and_then(|a| a.downcast_ref::<PidFd>()).ok_or(Errno::EBADF)?;
    Ok(p.pid)
}

pub fn pidfd_open(t: &mut Task, pid: i32, flags: u32) -> SyscallResult {
    if flags & !PIDFD_NONBLOCK != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    sentry::task_clone::install_pidfd(t, pid, flags).map(|fd| fd as u64)
}

/// pidfd_getfd: a copy of fd `target` of the pidfd's process (close-on-exec),
/// if the caller may ptrace-attach to it (EPERM otherwise).
pub fn pidfd_getfd(t: &mut Task, pidfd: i32, target: i32, flags: u32) -> SyscallResult {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let pid = pidfd_pid(t, pidfd)?;
    let fds = {
        // The task the pid names: the process's leader, while it lives.
        let ts = t.tasks();
        let leader = ts.threads.get(&pid).ok_or(Errno::ESRCH)?;
        ts.ptrace_may_access(&t.creds, t.tgid, pid, PtraceMode::AttachRealCreds)?;
        leader.view.fds.clone()
    };
    let file = fds.file(target)?;
    let entry = sentry::fdtable::FdEntry { file, cloexec: true };
    t.fds.install(0, entry, t.nofile_limit()).map(|fd| fd as u64)
}
