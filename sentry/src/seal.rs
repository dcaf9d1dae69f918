//! Sealing the Sentry before it serves the application: a mount namespace of
//! its own whose root is an empty tmpfs, so no host path is left to open.

use std::ffi::CStr;
use std::io;

fn check(r: libc::c_int, what: &str) -> io::Result<()> {
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn write_proc(path: &str, data: &str) -> io::Result<()> {
    std::fs::write(path, data).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

/// Enters a new mount namespace (inside a new user namespace when we are not
/// root), mounts an empty, read-only tmpfs and pivots into it. The Sentry's
/// open fds (stdio, the memory file, the gofer socket) are unaffected.
pub fn seal() -> io::Result<()> {
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
    let none: &CStr = c"none";
    let null = std::ptr::null::<libc::c_void>();
    // SAFETY: mount, chdir, pivot_root and umount2 with static NUL-terminated
    // strings; they change only this process's (private) mount namespace.
    unsafe {
        check(
            libc::mount(none.as_ptr(), c"/".as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, null),
            "make mounts private",
        )?;
        // Any existing directory serves as the mount point; /tmp always exists.
        check(
            libc::mount(
                none.as_ptr(),
                c"/tmp".as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"size=4k,mode=0555".as_ptr().cast(),
            ),
            "mount the empty root",
        )?;
        check(libc::chdir(c"/tmp".as_ptr()), "chdir")?;
        check(libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int, "pivot_root")?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH), "detach the old root")?;
        check(libc::chdir(c"/".as_ptr()), "chdir /")?;
        check(
            libc::mount(
                none.as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                null,
            ),
            "make the root read-only",
        )?;
    }
    Ok(())
}
