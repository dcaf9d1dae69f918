//! Sealing the Sentry before it serves the application: a mount namespace of
//! its own whose root is an empty tmpfs, so no host path is left to open.

use std::io;

use gofer::confine::{check, pivot_into, private_mount_namespace};

/// Enters a private mount namespace (inside a new user namespace when we are
/// not root), mounts an empty, read-only tmpfs and pivots into it. The
/// Sentry's open fds (stdio, the memory file, the gofer socket) are
/// unaffected.
pub fn seal() -> io::Result<()> {
    private_mount_namespace()?;
    // Any existing directory serves as the mount point; /tmp always exists.
    let (none, null) = (c"none".as_ptr(), std::ptr::null());
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let size = c"size=4k,mode=0555".as_ptr().cast();
    // SAFETY: mount with static NUL-terminated strings, in our own namespace.
    let r = unsafe { libc::mount(none, c"/tmp".as_ptr(), c"tmpfs".as_ptr(), flags, size) };
    check(r, "mount the empty root")?;
    pivot_into(c"/tmp")?;
    let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY;
    // SAFETY: as above.
    let r = unsafe { libc::mount(none, c"/".as_ptr(), std::ptr::null(), flags, null) };
    check(r, "make the root read-only")
}
