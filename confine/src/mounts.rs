//! Mount namespaces and roots: what the Gofer and the Sentry see of the host's
//! filesystem after they confine themselves.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::{check, nix_err};

fn write_proc(path: &str, data: &str) -> io::Result<()> {
    std::fs::write(path, data).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

/// A mount namespace of our own (inside a user namespace of our own when we
/// may not make one otherwise, as an unprivileged user), with every mount
/// private so nothing done here reaches the host's namespace.
pub fn private_mount_namespace() -> io::Result<()> {
    if unshare(CloneFlags::CLONE_NEWNS).is_err() {
        let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(nix_err("unshare(user, mount)"))?;
        write_proc("/proc/self/setgroups", "deny")?;
        write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
        write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))?;
    }
    make_mounts_private()
}

/// Every mount of this (new) mount namespace private: nothing mounted or
/// unmounted here propagates to the namespace it was copied from.
fn make_mounts_private() -> io::Result<()> {
    let flags = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).map_err(nix_err("make mounts private"))
}

/// pivot_root into `dir`, which must be a mount point, and detach the old
/// root, so no path leads back to it. Fds opened before stay usable.
fn pivot_into(dir: &CStr) -> io::Result<()> {
    nix::unistd::chdir(dir).map_err(nix_err("chdir to the new root"))?;
    nix::unistd::pivot_root(".", ".").map_err(nix_err("pivot_root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(nix_err("detach the old root"))?;
    nix::unistd::chdir("/").map_err(nix_err("chdir /"))
}

/// Makes `root` the read-only root of our private mount namespace (see
/// `private_mount_namespace`): bound onto itself, with what is mounted below
/// it, so it is a mount point, then pivot_root; then every mount of the new
/// root is made read-only, so nothing in this process can write below it
/// whatever its code does.
pub fn enter_jail(root: &Path) -> io::Result<()> {
    let c = CString::new(root.as_os_str().as_encoded_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(c.as_c_str()), c.as_c_str(), None::<&str>, flags, None::<&str>)
        .map_err(nix_err("bind the root onto itself"))?;
    // A walk to "/" stops at the root it starts from, under the new mount;
    // "/.." steps onto what is mounted there.
    let at: &CStr = if root == Path::new("/") { c"/.." } else { &c };
    pivot_into(at)?;
    set_tree_readonly(&open_path(c"/")?)
}

/// An O_PATH fd of a directory.
fn open_path(dir: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: open with a NUL-terminated path.
    let fd = unsafe { libc::open(dir.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    check(fd, &format!("open {}", dir.to_string_lossy()))?;
    // SAFETY: a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The kernel's struct mount_attr (mount_setattr(2)).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes the mount `tree` names, and every mount below it, read-only.
fn set_tree_readonly(tree: &OwnedFd) -> io::Result<()> {
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let flags = libc::AT_EMPTY_PATH | libc::AT_RECURSIVE;
    // SAFETY: mount_setattr reads `attr` (its size passed) and an empty path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(r as libc::c_int, "make the mount read-only")
}

/// Opens `dir` as an export of the gofer: an O_PATH fd of the directory, or,
/// with `readonly`, of a detached read-only copy of its mounts (open_tree
/// with OPEN_TREE_CLONE), so that no write below it can succeed from this
/// process. Must run inside the private mount namespace, whose copies of the
/// mounts are the ones cloned.
pub fn open_export(dir: &Path, readonly: bool) -> io::Result<OwnedFd> {
    let c = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    if !readonly {
        return open_path(&c);
    }
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_RECURSIVE as libc::c_uint;
    // SAFETY: open_tree with a NUL-terminated path makes a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) } as libc::c_int;
    check(fd, &format!("open_tree {}", dir.display()))?;
    // SAFETY: a fresh fd.
    let tree = unsafe { OwnedFd::from_raw_fd(fd) };
    set_tree_readonly(&tree)?;
    Ok(tree)
}

/// Seals a process that needs no host path any more and already has a mount
/// namespace of its own: its root becomes an empty, read-only tmpfs. Open
/// fds (stdio, the memory file, sockets) are unaffected.
pub fn empty_root() -> io::Result<()> {
    make_mounts_private()?;
    // Any existing directory serves as the mount point; /tmp always exists.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("none"), "/tmp", Some("tmpfs"), flags, Some("size=4k,mode=0555"))
        .map_err(nix_err("mount the empty root"))?;
    pivot_into(c"/tmp")?;
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).map_err(nix_err("make the root read-only"))
}
