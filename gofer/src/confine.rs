//! Confining the gofer process: its own mount namespace, chroot into the
//! exported root, no new privileges, and a seccomp allow-list.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule};

fn check(r: libc::c_int, what: &str) -> io::Result<()> {
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

/// Opens `dir` as an export: an O_PATH directory fd.
pub fn open_export(dir: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: open with a NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    check(fd, &format!("open {}", dir.display()))?;
    // SAFETY: a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn write_proc(path: &str, data: &str) -> io::Result<()> {
    std::fs::write(path, data).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

/// A mount namespace of our own (in a user namespace of our own when we are
/// not root), then chroot into `root`. Exports opened before stay usable.
pub fn enter_jail(root: &Path) -> io::Result<()> {
    // SAFETY: unshare only changes this process's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } < 0 {
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        // SAFETY: as above.
        check(unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) }, "unshare(user, mount)")?;
        write_proc("/proc/self/setgroups", "deny")?;
        write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
        write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))?;
    }
    let c = CString::new(root.as_os_str().as_encoded_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: chdir/chroot with NUL-terminated paths.
    unsafe {
        check(libc::chdir(c.as_ptr()), "chdir to the root")?;
        check(libc::chroot(c".".as_ptr()), "chroot")?;
        check(libc::chdir(c"/".as_ptr()), "chdir /")?;
    }
    Ok(())
}

/// Installs the allow-list below on the calling process.
pub fn install_seccomp() -> io::Result<()> {
    let prog = seccomp_filter().map_err(|e| io::Error::other(e.to_string()))?;
    seccompiler::apply_filter(&prog).map_err(|e| io::Error::other(e.to_string()))
}

/// The gofer's allow-list: socket messages, the *at calls it serves with
/// (lookups, and changes on writable volumes), memory for itself, and exit.
/// Everything else kills it.
fn seccomp_filter() -> Result<BpfProgram, seccompiler::Error> {
    use libc::*;
    let allowed = [
        SYS_recvmsg,
        SYS_sendmsg,
        SYS_openat,
        SYS_close,
        SYS_fstat,
        SYS_fstatfs,
        SYS_newfstatat,
        SYS_getdents64,
        SYS_readlinkat,
        // Changes on writable volumes, all relative to directory fds.
        SYS_mkdirat,
        SYS_unlinkat,
        SYS_symlinkat,
        SYS_linkat,
        SYS_renameat,
        SYS_renameat2,
        SYS_fchmodat,
        SYS_fchownat,
        SYS_utimensat,
        SYS_ftruncate,
        SYS_fcntl,
        SYS_pread64,
        SYS_write,
        SYS_mmap,
        SYS_munmap,
        SYS_mremap,
        SYS_madvise,
        SYS_brk,
        SYS_futex,
        SYS_getrandom,
        SYS_rt_sigreturn,
        SYS_rt_sigprocmask,
        SYS_sigaltstack,
        SYS_exit,
        SYS_exit_group,
    ];
    let rules: BTreeMap<i64, Vec<SeccompRule>> = allowed.iter().map(|&nr| (nr, Vec::new())).collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        std::env::consts::ARCH.try_into()?,
    )?;
    Ok(filter.try_into()?)
}
