//! Confining the gofer process: its own mount namespace, pivot_root into the
//! exported root, no new privileges, and a seccomp allow-list. The namespace
//! and pivot_root steps are shared with the Sentry's seal.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule};

/// A host call's result as an error that names what failed.
pub fn check(r: libc::c_int, what: &str) -> io::Result<()> {
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

/// A mount namespace of our own (inside a user namespace of our own when we
/// are not root, which an unprivileged unshare needs), with every mount
/// private so nothing done here reaches the host's namespace.
pub fn private_mount_namespace() -> io::Result<()> {
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
    let flags = libc::MS_REC | libc::MS_PRIVATE;
    // SAFETY: a static NUL-terminated path; changes only our own namespace.
    let r = unsafe { libc::mount(c"none".as_ptr(), c"/".as_ptr(), std::ptr::null(), flags, std::ptr::null()) };
    check(r, "make mounts private")
}

/// pivot_root into `dir`, which must be a mount point, and detach the old
/// root, so no path leads back to it. Fds opened before stay usable.
pub fn pivot_into(dir: &CStr) -> io::Result<()> {
    // SAFETY: chdir, pivot_root and umount2 with NUL-terminated paths, in
    // our own mount namespace.
    unsafe {
        check(libc::chdir(dir.as_ptr()), "chdir to the new root")?;
        check(libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int, "pivot_root")?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH), "detach the old root")?;
        check(libc::chdir(c"/".as_ptr()), "chdir /")
    }
}

/// A private mount namespace whose root is `root` (bound onto itself, with
/// what is mounted below it, so it is a mount point), by pivot_root.
pub fn enter_jail(root: &Path) -> io::Result<()> {
    let c = CString::new(root.as_os_str().as_encoded_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    private_mount_namespace()?;
    let flags = libc::MS_BIND | libc::MS_REC;
    // SAFETY: a bind mount of a NUL-terminated path onto itself, in our own
    // mount namespace.
    let r = unsafe { libc::mount(c.as_ptr(), c.as_ptr(), std::ptr::null(), flags, std::ptr::null()) };
    check(r, "bind the root onto itself")?;
    // A walk to "/" stops at the root it starts from, under the new mount;
    // "/.." steps onto what is mounted there.
    let at: &CStr = if root == Path::new("/") { c"/.." } else { &c };
    pivot_into(at)
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
