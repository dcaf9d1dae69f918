//! mkdir, rmdir, unlink, symlink, readlink, rename, link, truncate and their
//! *at forms.

use abi::consts::*;
use abi::consts::{IN_ATTRIB, IN_CREATE, IN_DELETE, IN_MODIFY, IN_MOVED_FROM, IN_MOVED_TO, IN_MOVE_SELF};
use abi::structs::Stat;
use abi::Errno;
use sentry::mm::Access;
use sentry::{SyscallResult, Task};
use vfs::inode::{file_type, FileType, NewAttrs, NewNode, SetAttr, MAY_EXEC, MAY_WRITE};
use vfs::inotify::{next_cookie, notify_child, notify_file, notify_gone, notify_inode};
use vfs::resolve::Parent;
use vfs::{FsCreds, Path};

use crate::args::{Fd, UserBuf, UserCStr};
use crate::fs::path::{is_plain_name, lookup, lookup_parent, LookupFlags};

/// What every rename checks: one mount, and the right to change both
/// directories.
fn may_rename(t: &Task, from: &Parent, to: &Parent) -> Result<FsCreds, Errno> {
    if !std::sync::Arc::ptr_eq(&from.dir.mount, &to.dir.mount) {
        return Err(Errno::EXDEV);
    }
    let creds = t.fs_creds();
    may_change(&creds, &from.dir)?;
    may_change(&creds, &to.dir)?;
    Ok(creds)
}

/// May the caller add or remove names in `dir`?
fn may_change(creds: &FsCreds, dir: &Path) -> Result<(), Errno> {
    if dir.inode().permission(creds, MAY_WRITE | MAY_EXEC) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// The sticky bit: in a sticky directory only the owner of the entry or of
/// the directory (or root) may remove or rename it.
fn sticky_ok(creds: &FsCreds, dir: &Stat, victim: &Stat) -> Result<(), Errno> {
    if dir.st_mode & S_ISVTX != 0 && creds.uid != 0 && creds.uid != victim.st_uid && creds.uid != dir.st_uid {
        return Err(Errno::EPERM);
    }
    Ok(())
}

fn new_attrs(t: &Task, creds: &FsCreds, ty: u32, mode: u32) -> NewAttrs {
    NewAttrs { mode: ty | (mode & 0o7777 & !t.fs.umask()), uid: creds.uid, gid: creds.gid }
}

fn mkdir_at(t: &mut Task, dirfd: Fd, path: UserCStr, mode: u32) -> SyscallResult {
    let parent = lookup_parent(t, dirfd, path)?;
    if !is_plain_name(&parent.name) {
        return Err(Errno::EEXIST);
    }
    if parent.dir.dentry.lookup(&parent.name).is_ok() {
        return Err(Errno::EEXIST);
    }
    let creds = t.fs_creds();
    may_change(&creds, &parent.dir)?;
    let attrs = new_attrs(t, &creds, S_IFDIR, mode);
    parent.dir.dentry.create(&parent.name, NewNode::Directory, attrs)?;
    notify_child(&parent.dir, &parent.name, IN_CREATE, 0, true);
    Ok(0)
}

pub fn mkdir(t: &mut Task, path: UserCStr, mode: u32) -> SyscallResult {
    mkdir_at(t, Fd(AT_FDCWD), path, mode)
}

pub fn mkdirat(t: &mut Task, dirfd: Fd, path: UserCStr, mode: u32) -> SyscallResult {
    mkdir_at(t, dirfd, path, mode)
}

/// Removes a name: a directory if `dir` (rmdir), any other kind else (unlink).
fn remove(t: &mut Task, dirfd: Fd, path: UserCStr, dir: bool) -> SyscallResult {
    let parent: Parent = lookup_parent(t, dirfd, path)?;
    match &parent.name[..] {
        b"." if dir => return Err(Errno::EINVAL),
        b".." if dir => return Err(Errno::ENOTEMPTY),
        b"" if dir => return Err(Errno::EBUSY),
        b"" | b"." | b".." => return Err(Errno::EISDIR),
        _ => {}
    }
    let victim = parent.dir.dentry.lookup(&parent.name)?;
    let vpath = Path { mount: parent.dir.mount.clone(), dentry: victim.clone() };
    let kind = file_type(&**victim.inode());
    if !dir && parent.trailing_slash {
        return Err(if kind == FileType::Directory { Errno::EISDIR } else { Errno::ENOTDIR });
    }
    let creds = t.fs_creds();
    may_change(&creds, &parent.dir)?;
    sticky_ok(&creds, &parent.dir.inode().stat(), &victim.inode().stat())?;
    if dir && kind == FileType::Directory && t.kernel.mounts.is_mount_point(&vpath) {
        return Err(Errno::EBUSY);
    }
    parent.dir.dentry.unlink(&parent.name, dir)?;
    let st = victim.inode().stat();
    if kind != FileType::Directory {
        notify_inode(&st, IN_ATTRIB);
    }
    if st.st_nlink == 0 || kind == FileType::Directory {
        notify_gone(&st);
    }
    notify_child(&parent.dir, &parent.name, IN_DELETE, 0, kind == FileType::Directory);
    Ok(0)
}

pub fn rmdir(t: &mut Task, path: UserCStr) -> SyscallResult {
    remove(t, Fd(AT_FDCWD), path, true)
}

pub fn unlink(t: &mut Task, path: UserCStr) -> SyscallResult {
    remove(t, Fd(AT_FDCWD), path, false)
}

pub fn unlinkat(t: &mut Task, dirfd: Fd, path: UserCStr, flags: u32) -> SyscallResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    remove(t, dirfd, path, flags & AT_REMOVEDIR != 0)
}

fn symlink_at(t: &mut Task, target: UserCStr, dirfd: Fd, path: UserCStr) -> SyscallResult {
    let target = target.read_path(t)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let parent = lookup_parent(t, dirfd, path)?;
    if !is_plain_name(&parent.name) || parent.dir.dentry.lookup(&parent.name).is_ok() {
        return Err(Errno::EEXIST);
    }
    let creds = t.fs_creds();
    may_change(&creds, &parent.dir)?;
    let attrs = NewAttrs { mode: S_IFLNK | 0o777, uid: creds.uid, gid: creds.gid };
    parent.dir.dentry.create(&parent.name, NewNode::Symlink(&target), attrs)?;
    notify_child(&parent.dir, &parent.name, IN_CREATE, 0, false);
    Ok(0)
}

pub fn symlink(t: &mut Task, target: UserCStr, path: UserCStr) -> SyscallResult {
    symlink_at(t, target, Fd(AT_FDCWD), path)
}

pub fn symlinkat(t: &mut Task, target: UserCStr, dirfd: Fd, path: UserCStr) -> SyscallResult {
    symlink_at(t, target, dirfd, path)
}

fn readlink_at(t: &mut Task, dirfd: Fd, path: UserCStr, buf: UserBuf, size: i32) -> SyscallResult {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let link = lookup(t, dirfd, path, LookupFlags { follow: false, empty_path: false })?;
    let target = link.inode().readlink()?;
    let n = target.len().min(size as usize);
    let blocks = t.mm.blocks(buf.0, n as u64, Access::Write)?;
    if blocks.len() < n {
        return Err(Errno::EFAULT);
    }
    blocks.copy_from(&target[..n]);
    Ok(n as u64)
}

pub fn readlink(t: &mut Task, path: UserCStr, buf: UserBuf, size: i32) -> SyscallResult {
    readlink_at(t, Fd(AT_FDCWD), path, buf, size)
}

pub fn readlinkat(t: &mut Task, dirfd: Fd, path: UserCStr, buf: UserBuf, size: i32) -> SyscallResult {
    readlink_at(t, dirfd, path, buf, size)
}

fn rename_at(t: &mut Task, olddir: Fd, old: UserCStr, newdir: Fd, new: UserCStr) -> SyscallResult {
    let from = lookup_parent(t, olddir, old)?;
    let to = lookup_parent(t, newdir, new)?;
    if !is_plain_name(&from.name) || !is_plain_name(&to.name) {
        return Err(Errno::EBUSY);
    }
    let moving = from.dir.dentry.lookup(&from.name)?;
    let kind = file_type(&**moving.inode());
    if (from.trailing_slash || to.trailing_slash) && kind != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    let creds = may_rename(t, &from, &to)?;
    sticky_ok(&creds, &from.dir.inode().stat(), &moving.inode().stat())?;
    if let Ok(existing) = to.dir.dentry.lookup(&to.name) {
        sticky_ok(&creds, &to.dir.inode().stat(), &existing.inode().stat())?;
        let epath = Path { mount: to.dir.mount.clone(), dentry: existing };
        if t.kernel.mounts.is_mount_point(&epath) {
            return Err(Errno::EBUSY);
        }
    }
    // A directory cannot move below itself.
    if kind == FileType::Directory && to.dir.dentry.is_descendant_of(&moving) {
        return Err(Errno::EINVAL);
    }
    let replaced = to.dir.dentry.lookup(&to.name).ok();
    from.dir.dentry.rename(&from.name, &to.dir.dentry, &to.name)?;
    let (cookie, is_dir) = (next_cookie(), kind == FileType::Directory);
    notify_child(&from.dir, &from.name, IN_MOVED_FROM, cookie, is_dir);
    notify_child(&to.dir, &to.name, IN_MOVED_TO, cookie, is_dir);
    let replaced = replaced.filter(|r| !std::sync::Arc::ptr_eq(r.inode(), moving.inode())).map(|r| r.inode().stat());
    if let Some(st) = &replaced {
        if st.st_mode & S_IFMT != S_IFDIR {
            notify_inode(st, IN_ATTRIB);
        }
    }
    notify_inode(&moving.inode().stat(), IN_MOVE_SELF);
    if let Some(st) = replaced {
        if st.st_nlink == 0 || st.st_mode & S_IFMT == S_IFDIR {
            notify_gone(&st);
        }
    }
    Ok(0)
}

/// renameat2 with RENAME_EXCHANGE: both names must exist; they swap.
pub fn exchange_at(t: &mut Task, olddir: Fd, old: UserCStr, newdir: Fd, new: UserCStr) -> SyscallResult {
    let from = lookup_parent(t, olddir, old)?;
    let to = lookup_parent(t, newdir, new)?;
    if !is_plain_name(&from.name) || !is_plain_name(&to.name) {
        return Err(Errno::EBUSY);
    }
    let a = from.dir.dentry.lookup(&from.name)?;
    let b = to.dir.dentry.lookup(&to.name)?;
    let (a_dir, b_dir) =
        (file_type(&**a.inode()) == FileType::Directory, file_type(&**b.inode()) == FileType::Directory);
    if (from.trailing_slash && !a_dir) || (to.trailing_slash && !b_dir) {
        return Err(Errno::ENOTDIR);
    }
    let creds = may_rename(t, &from, &to)?;
    sticky_ok(&creds, &from.dir.inode().stat(), &a.inode().stat())?;
    sticky_ok(&creds, &to.dir.inode().stat(), &b.inode().stat())?;
    for d in [&a, &b] {
        if t.kernel.mounts.is_mount_point(&Path { mount: from.dir.mount.clone(), dentry: d.clone() }) {
            return Err(Errno::EBUSY);
        }
    }
    // Neither may end up below itself.
    if (a_dir && to.dir.dentry.is_descendant_of(&a)) || (b_dir && from.dir.dentry.is_descendant_of(&b)) {
        return Err(Errno::EINVAL);
    }
    if std::sync::Arc::ptr_eq(a.inode(), b.inode()) {
        return Ok(0);
    }
    from.dir.dentry.exchange(&from.name, &to.dir.dentry, &to.name)?;
    for (src, src_name, dst, dst_name, node, is_dir) in
        [(&from.dir, &from.name, &to.dir, &to.name, &a, a_dir), (&to.dir, &to.name, &from.dir, &from.name, &b, b_dir)]
    {
        let cookie = next_cookie();
        notify_child(src, src_name, IN_MOVED_FROM, cookie, is_dir);
        notify_child(dst, dst_name, IN_MOVED_TO, cookie, is_dir);
        notify_inode(&node.inode().stat(), IN_MOVE_SELF);
    }
    Ok(0)
}

pub fn rename(t: &mut Task, old: UserCStr, new: UserCStr) -> SyscallResult {
    rename_at(t, Fd(AT_FDCWD), old, Fd(AT_FDCWD), new)
}

pub fn renameat(t: &mut Task, olddir: Fd, old: UserCStr, newdir: Fd, new: UserCStr) -> SyscallResult {
    rename_at(t, olddir, old, newdir, new)
}

fn link_at(t: &mut Task, olddir: Fd, old: UserCStr, newdir: Fd, new: UserCStr, flags: u32) -> SyscallResult {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let how = LookupFlags { follow: flags & AT_SYMLINK_FOLLOW != 0, empty_path: flags & AT_EMPTY_PATH != 0 };
    let source = lookup(t, olddir, old, how)?;
    if file_type(&**source.inode()) == FileType::Directory {
        return Err(Errno::EPERM);
    }
    // A file with no links stays unnamed, O_TMPFILE files aside.
    if source.inode().stat().st_nlink == 0 && !source.dentry.is_linkable() {
        return Err(Errno::ENOENT);
    }
    let to = lookup_parent(t, newdir, new)?;
    if !is_plain_name(&to.name) || to.dir.dentry.lookup(&to.name).is_ok() {
        return Err(Errno::EEXIST);
    }
    if to.trailing_slash {
        return Err(Errno::ENOENT);
    }
    if !std::sync::Arc::ptr_eq(&source.mount, &to.dir.mount) {
        return Err(Errno::EXDEV);
    }
    may_change(&t.fs_creds(), &to.dir)?;
    to.dir.dentry.link(&to.name, source.inode())?;
    source.dentry.clear_linkable();
    notify_inode(&source.inode().stat(), IN_ATTRIB);
    notify_child(&to.dir, &to.name, IN_CREATE, 0, false);
    Ok(0)
}

pub fn link(t: &mut Task, old: UserCStr, new: UserCStr) -> SyscallResult {
    link_at(t, Fd(AT_FDCWD), old, Fd(AT_FDCWD), new, 0)
}

pub fn linkat(t: &mut Task, olddir: Fd, old: UserCStr, newdir: Fd, new: UserCStr, flags: u32) -> SyscallResult {
    link_at(t, olddir, old, newdir, new, flags)
}

pub fn truncate(t: &mut Task, path: UserCStr, len: i64) -> SyscallResult {
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let target = lookup(t, Fd(AT_FDCWD), path, LookupFlags { follow: true, empty_path: false })?;
    match file_type(&**target.inode()) {
        FileType::Directory => return Err(Errno::EISDIR),
        FileType::Regular => {}
        _ => return Err(Errno::EINVAL),
    }
    if !target.inode().permission(&t.fs_creds(), MAY_WRITE) {
        return Err(Errno::EACCES);
    }
    target.inode().setattr(&SetAttr { size: Some(len as u64), ..SetAttr::default() })?;
    notify_file(&target, IN_MODIFY);
    Ok(0)
}

pub fn ftruncate(t: &mut Task, fd: Fd, len: i64) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    if file.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    if !file.writable() {
        return Err(Errno::EINVAL);
    }
    file.ops().truncate(len as u64)?;
    if let Some(p) = file.path() {
        notify_file(p, IN_MODIFY);
    }
    Ok(0)
}

/// fallocate: the checks of Linux's vfs_fallocate, in its order, then the
/// filesystem's own (tmpfs: allocation and hole punching only).
pub fn fallocate(t: &mut Task, fd: Fd, mode: u32, offset: i64, len: i64) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    if file.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    // One mode at most, as Linux 6.10 and later check it.
    const MODES: u32 = FALLOC_FL_PUNCH_HOLE
        | FALLOC_FL_COLLAPSE_RANGE
        | FALLOC_FL_ZERO_RANGE
        | FALLOC_FL_INSERT_RANGE
        | FALLOC_FL_UNSHARE_RANGE;
    if mode & !(MODES | FALLOC_FL_KEEP_SIZE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let keep = mode & FALLOC_FL_KEEP_SIZE != 0;
    match mode & MODES {
        0 | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_ZERO_RANGE => {}
        FALLOC_FL_PUNCH_HOLE if keep => {}
        FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE if !keep => {}
        _ => return Err(Errno::EOPNOTSUPP),
    }
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    match file.ops().stat()?.st_mode & S_IFMT {
        S_IFIFO => return Err(Errno::ESPIPE),
        S_IFDIR => return Err(Errno::EISDIR),
        S_IFREG => {}
        _ => return Err(Errno::ENODEV),
    }
    if offset.checked_add(len).is_none() {
        return Err(Errno::EFBIG);
    }
    // Memory-backed files hold at most what Linux gives a tmpfs by default,
    // half the RAM; a larger allocation is ENOSPC at once rather than a
    // long walk that ends there.
    let in_memory = file
        .path()
        .is_some_and(|p| matches!(p.inode().statfs().f_type, vfs::inode::TMPFS_MAGIC | vfs::inode::OVERLAYFS_MAGIC));
    if in_memory && len as u64 > t.kernel.host.totalram / 2 {
        return Err(Errno::ENOSPC);
    }
    file.ops().fallocate(mode, offset as u64, len as u64)?;
    if let Some(p) = file.path() {
        notify_file(p, IN_MODIFY);
    }
    Ok(0)
}
