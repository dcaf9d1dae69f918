//! statfs, fstatfs, close_range, memfd_create, mknod, mknodat, renameat2,
//! chroot.

use std::sync::Arc;

use abi::consts::*;
use abi::structs::StatFs;
use abi::Errno;
use sentry::fdtable::FdEntry;
use sentry::{SyscallResult, Task};
use vfs::inode::{file_type, FileType, NewAttrs, NewNode, MAY_EXEC, MAY_WRITE};
use vfs::{FileDescription, Path};

use crate::args::{Fd, UserCStr, UserPtr};
use crate::fs::path::{is_plain_name, lookup, lookup_parent, LookupFlags};

pub fn statfs(t: &mut Task, path: UserCStr, buf: UserPtr<StatFs>) -> SyscallResult {
    let p = lookup(t, Fd(AT_FDCWD), path, LookupFlags { follow: true, empty_path: false })?;
    buf.write(t, &p.inode().statfs()).map(|_| 0)
}

pub fn fstatfs(t: &mut Task, fd: Fd, buf: UserPtr<StatFs>) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    let st = match file.path() {
        Some(p) => p.inode().statfs(),
        // A pipe or terminal given at start: pipefs and devpts in Linux.
        None => vfs::inode::memory_statfs(0x5049_5045),
    };
    buf.write(t, &st).map(|_| 0)
}

const CLOSE_RANGE_UNSHARE: u32 = 2;
const CLOSE_RANGE_CLOEXEC: u32 = 4;

pub fn close_range(t: &mut Task, first: u32, last: u32, flags: u32) -> SyscallResult {
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    // The fd table is not shared with anyone yet, so UNSHARE has nothing to do.
    for (fd, _) in t.fds.fds() {
        let n = fd as u32;
        if n < first || n > last {
            continue;
        }
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            t.fds.set_cloexec(fd, true)?;
        } else if let Ok(entry) = t.fds.remove(fd) {
            crate::fs::lock::on_close(t, &entry);
        }
    }
    Ok(0)
}

const MFD_CLOEXEC: u32 = 1;
const MFD_ALLOW_SEALING: u32 = 2;
const MFD_HUGETLB: u32 = 4;
const MFD_NOEXEC_SEAL: u32 = 8;
const MFD_EXEC: u32 = 0x10;
/// The longest memfd name (NAME_MAX minus the "memfd:" prefix).
const MFD_NAME_MAX: usize = 249;

/// memfd_create: an anonymous tmpfs file, sealable with MFD_ALLOW_SEALING.
/// There is no huge page pool.
pub fn memfd_create(t: &mut Task, name: UserCStr, flags: u32) -> SyscallResult {
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC) != 0
        || flags & (MFD_NOEXEC_SEAL | MFD_EXEC) == (MFD_NOEXEC_SEAL | MFD_EXEC)
        || flags & MFD_HUGETLB != 0
    {
        return Err(Errno::EINVAL);
    }
    let n =
        t.mm.read_cstring(name.0, MFD_NAME_MAX)
            .map_err(|e| if e == Errno::ENAMETOOLONG { Errno::EINVAL } else { e })?;
    // Made and unlinked at once, so the name is free for the next one.
    let unique = [b"memfd:".as_slice(), &n].concat();
    let root = t.kernel.memfd_root.clone();
    let creds = t.fs_creds();
    let mode = if flags & MFD_NOEXEC_SEAL != 0 { 0o666 } else { 0o777 };
    let attrs = NewAttrs { mode: S_IFREG | mode, uid: creds.uid, gid: creds.gid };
    let d = root.dentry.create(&unique, NewNode::Regular, attrs)?;
    root.dentry.unlink(&unique, false)?;
    let path = Path { mount: root.mount.clone(), dentry: d };
    // Without MFD_ALLOW_SEALING the file is sealed against seals;
    // MFD_NOEXEC_SEAL also seals its execute bits.
    let mut seals = if flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL) != 0 { 0 } else { F_SEAL_SEAL };
    if flags & MFD_NOEXEC_SEAL != 0 {
        seals |= F_SEAL_EXEC;
    }
    vfs::tmpfs::set_initial_seals(path.inode(), seals)?;
    let ops = path.inode().clone().open(O_RDWR)?;
    let file = FileDescription::new(O_RDWR | O_LARGEFILE, ops, Some(path));
    let limit = t.nofile_limit();
    t.fds.install(0, FdEntry { file: Arc::new(file), cloexec: flags & MFD_CLOEXEC != 0 }, limit).map(|fd| fd as u64)
}

fn mknod_at(t: &mut Task, dirfd: Fd, path: UserCStr, mode: u32, _dev: u64) -> SyscallResult {
    let node = match mode & S_IFMT {
        0 | S_IFREG => NewNode::Regular,
        S_IFIFO => NewNode::Fifo,
        // Device nodes and sockets cannot be made in the sandbox.
        S_IFCHR | S_IFBLK | S_IFSOCK => return Err(Errno::EPERM),
        S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let parent = lookup_parent(t, dirfd, path)?;
    if !is_plain_name(&parent.name) || parent.dir.dentry.lookup(&parent.name).is_ok() {
        return Err(Errno::EEXIST);
    }
    let creds = t.fs_creds();
    if !parent.dir.inode().permission(&creds, MAY_WRITE | MAY_EXEC) {
        return Err(Errno::EACCES);
    }
    let ty = if matches!(node, NewNode::Fifo) { S_IFIFO } else { S_IFREG };
    let attrs = NewAttrs { mode: ty | (mode & 0o7777 & !t.fs.umask()), uid: creds.uid, gid: creds.gid };
    parent.dir.dentry.create(&parent.name, node, attrs)?;
    vfs::inotify::notify_child(&parent.dir, &parent.name, abi::consts::IN_CREATE, 0, false);
    Ok(0)
}

pub fn mknod(t: &mut Task, path: UserCStr, mode: u32, dev: u64) -> SyscallResult {
    mknod_at(t, Fd(AT_FDCWD), path, mode, dev)
}

pub fn mknodat(t: &mut Task, dirfd: Fd, path: UserCStr, mode: u32, dev: u64) -> SyscallResult {
    mknod_at(t, dirfd, path, mode, dev)
}

const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;
const RENAME_WHITEOUT: u32 = 4;

/// renameat2: RENAME_NOREPLACE and RENAME_EXCHANGE; whiteouts are not
/// offered (EINVAL).
pub fn renameat2(t: &mut Task, olddir: Fd, old: UserCStr, newdir: Fd, new: UserCStr, flags: u32) -> SyscallResult {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || flags & (RENAME_NOREPLACE | RENAME_EXCHANGE) == (RENAME_NOREPLACE | RENAME_EXCHANGE)
        || flags & RENAME_WHITEOUT != 0
    {
        return Err(Errno::EINVAL);
    }
    if flags & RENAME_EXCHANGE != 0 {
        return crate::fs::names::exchange_at(t, olddir, old, newdir, new);
    }
    if flags & RENAME_NOREPLACE != 0 {
        let to = lookup_parent(t, newdir, new)?;
        if is_plain_name(&to.name) && to.dir.dentry.lookup(&to.name).is_ok() {
            // The source must exist for EEXIST to be the answer.
            lookup(t, olddir, old, LookupFlags { follow: false, empty_path: false })?;
            return Err(Errno::EEXIST);
        }
    }
    crate::fs::names::renameat(t, olddir, old, newdir, new)
}

pub fn chroot(t: &mut Task, path: UserCStr) -> SyscallResult {
    let p = lookup(t, Fd(AT_FDCWD), path, LookupFlags { follow: true, empty_path: false })?;
    if file_type(&**p.inode()) != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    if !p.inode().permission(&t.fs_creds(), MAY_EXEC) {
        return Err(Errno::EACCES);
    }
    if !t.creds.capable(abi::consts::CAP_SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    t.fs.set_root(p);
    Ok(0)
}
