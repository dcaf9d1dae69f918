//! chmod, chown and utimes in all their forms.

use abi::consts::*;
use abi::consts::{CAP_CHOWN, CAP_FSETID};
use abi::consts::{IN_ACCESS, IN_ATTRIB, IN_MODIFY};
use abi::structs::{Timespec, Timeval};
use abi::Errno;
use sentry::{SyscallResult, Task};
use vfs::inode::{SetAttr, MAY_WRITE};
use vfs::inotify::notify_file;
use vfs::{InodeRef, Path};

use crate::args::{Fd, UserCStr, UserPtr};
use crate::fs::path::{lookup, LookupFlags};

/// The file a path (or, with AT_EMPTY_PATH and "", the fd) names.
fn target(t: &Task, dirfd: Fd, path: UserCStr, how: LookupFlags) -> Result<Path, Errno> {
    lookup(t, dirfd, path, how)
}

fn fd_inode(t: &Task, fd: Fd) -> Result<Path, Errno> {
    let file = t.fds.file(fd.0)?;
    file.path().cloned().ok_or(Errno::EPERM)
}

fn is_owner(t: &Task, node: &InodeRef) -> bool {
    t.creds.owns(&node.stat())
}

fn do_chmod(t: &Task, p: Path, mode: u32) -> SyscallResult {
    let node = p.inode();
    if !is_owner(t, node) {
        return Err(Errno::EPERM);
    }
    let mut mode = mode & 0o7777;
    // Without CAP_FSETID, setgid needs the file's group.
    let gid = node.stat().st_gid;
    if !t.creds.capable(CAP_FSETID) && gid != t.creds.fsgid && !t.creds.groups.contains(&gid) {
        mode &= !S_ISGID;
    }
    node.setattr(&SetAttr { mode: Some(mode), ..SetAttr::default() })?;
    notify_file(&p, IN_ATTRIB);
    Ok(0)
}

pub fn chmod(t: &mut Task, path: UserCStr, mode: u32) -> SyscallResult {
    let node = target(t, Fd(AT_FDCWD), path, LookupFlags { follow: true, empty_path: false })?;
    do_chmod(t, node, mode)
}

pub fn fchmod(t: &mut Task, fd: Fd, mode: u32) -> SyscallResult {
    let node = fd_inode(t, fd)?;
    do_chmod(t, node, mode)
}

pub fn fchmodat(t: &mut Task, dirfd: Fd, path: UserCStr, mode: u32) -> SyscallResult {
    let node = target(t, dirfd, path, LookupFlags { follow: true, empty_path: false })?;
    do_chmod(t, node, mode)
}

/// chown's rules: only root changes the owner; the owner may change the group
/// to one of its own. Set-id bits go on regular files, as Linux clears them.
fn do_chown(t: &Task, p: Path, uid: u32, gid: u32) -> SyscallResult {
    let node = p.inode();
    let st = node.stat();
    let new_uid = (uid != u32::MAX).then_some(uid);
    let new_gid = (gid != u32::MAX).then_some(gid);
    if !t.creds.capable(CAP_CHOWN) {
        let c = &t.creds;
        let uid_ok = new_uid.is_none_or(|u| u == st.st_uid);
        let member = |g: u32| g == c.fsgid || c.groups.contains(&g);
        let gid_ok = new_gid.is_none_or(|g| g == st.st_gid || (st.st_uid == c.fsuid && member(g)));
        if st.st_uid != c.fsuid || !uid_ok || !gid_ok {
            return Err(Errno::EPERM);
        }
    }
    let mut attr = SetAttr { uid: new_uid, gid: new_gid, ..SetAttr::default() };
    if st.st_mode & S_IFMT != S_IFDIR && (new_uid.is_some() || new_gid.is_some()) {
        let mut mode = st.st_mode & !S_ISUID;
        if mode & 0o010 != 0 {
            mode &= !S_ISGID;
        }
        if mode != st.st_mode {
            attr.mode = Some(mode & 0o7777);
        }
    }
    node.setattr(&attr)?;
    if new_uid.is_some() || new_gid.is_some() {
        notify_file(&p, IN_ATTRIB);
    }
    Ok(0)
}

pub fn chown(t: &mut Task, path: UserCStr, uid: u32, gid: u32) -> SyscallResult {
    let node = target(t, Fd(AT_FDCWD), path, LookupFlags { follow: true, empty_path: false })?;
    do_chown(t, node, uid, gid)
}

pub fn lchown(t: &mut Task, path: UserCStr, uid: u32, gid: u32) -> SyscallResult {
    let node = target(t, Fd(AT_FDCWD), path, LookupFlags { follow: false, empty_path: false })?;
    do_chown(t, node, uid, gid)
}

pub fn fchown(t: &mut Task, fd: Fd, uid: u32, gid: u32) -> SyscallResult {
    let node = fd_inode(t, fd)?;
    do_chown(t, node, uid, gid)
}

pub fn fchownat(t: &mut Task, dirfd: Fd, path: UserCStr, uid: u32, gid: u32, flags: u32) -> SyscallResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let how = LookupFlags { follow: flags & AT_SYMLINK_NOFOLLOW == 0, empty_path: flags & AT_EMPTY_PATH != 0 };
    let node = target(t, dirfd, path, how)?;
    do_chown(t, node, uid, gid)
}

const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// Sets access and modification times. `times` None means both now. Setting
/// times other than now needs ownership; now needs ownership or write access.
fn set_times(t: &Task, p: Path, times: Option<[Timespec; 2]>) -> SyscallResult {
    let node = p.inode();
    let now = vfs::tmpfs::now();
    let pick = |ts: Timespec| match ts.tv_nsec {
        UTIME_OMIT => Ok(None),
        UTIME_NOW => Ok(Some(now)),
        n if (0..1_000_000_000).contains(&n) => Ok(Some(ts)),
        _ => Err(Errno::EINVAL),
    };
    let (atime, mtime, explicit) = match times {
        None => (Some(now), Some(now), false),
        Some([a, m]) => {
            let explicit = [a, m].iter().any(|x| x.tv_nsec != UTIME_NOW && x.tv_nsec != UTIME_OMIT);
            (pick(a)?, pick(m)?, explicit)
        }
    };
    if atime.is_none() && mtime.is_none() {
        return Ok(0);
    }
    if !is_owner(t, node) {
        let creds = t.fs_creds();
        if explicit || !node.permission(&creds, MAY_WRITE) {
            return Err(if explicit { Errno::EPERM } else { Errno::EACCES });
        }
    }
    node.setattr(&SetAttr { atime, mtime, ..SetAttr::default() })?;
    // Both times is an attribute change; one alone reads as access or
    // modification, as Linux reports them.
    notify_file(
        &p,
        match (atime.is_some(), mtime.is_some()) {
            (true, true) => IN_ATTRIB,
            (true, false) => IN_ACCESS,
            _ => IN_MODIFY,
        },
    );
    Ok(0)
}

pub fn utimensat(t: &mut Task, dirfd: Fd, path: UserCStr, times: u64, flags: u32) -> SyscallResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let times = UserPtr::<[Timespec; 2]>::from_addr(times).read_opt(t)?;
    // A NULL path names the fd itself (futimens).
    let node = if path.0 == 0 {
        if dirfd.0 == AT_FDCWD {
            return Err(Errno::EFAULT);
        }
        fd_inode(t, dirfd)?
    } else {
        let how = LookupFlags { follow: flags & AT_SYMLINK_NOFOLLOW == 0, empty_path: flags & AT_EMPTY_PATH != 0 };
        target(t, dirfd, path, how)?
    };
    set_times(t, node, times)
}

fn timevals(t: &Task, times: u64) -> Result<Option<[Timespec; 2]>, Errno> {
    let Some(tv) = UserPtr::<[Timeval; 2]>::from_addr(times).read_opt(t)? else { return Ok(None) };
    let conv = |v: Timeval| {
        if !(0..1_000_000).contains(&v.tv_usec) {
            return Err(Errno::EINVAL);
        }
        Ok(Timespec { tv_sec: v.tv_sec, tv_nsec: v.tv_usec * 1000 })
    };
    Ok(Some([conv(tv[0])?, conv(tv[1])?]))
}

pub fn utimes(t: &mut Task, path: UserCStr, times: u64) -> SyscallResult {
    let times = timevals(t, times)?;
    let node = target(t, Fd(AT_FDCWD), path, LookupFlags { follow: true, empty_path: false })?;
    set_times(t, node, times)
}

pub fn futimesat(t: &mut Task, dirfd: Fd, path: UserCStr, times: u64) -> SyscallResult {
    let times = timevals(t, times)?;
    let node = target(t, dirfd, path, LookupFlags { follow: true, empty_path: false })?;
    set_times(t, node, times)
}

/// utime(2): a `struct utimbuf` of two time_t seconds.
pub fn utime(t: &mut Task, path: UserCStr, times: u64) -> SyscallResult {
    let times = UserPtr::<[i64; 2]>::from_addr(times)
        .read_opt(t)?
        .map(|[a, m]| [Timespec { tv_sec: a, tv_nsec: 0 }, Timespec { tv_sec: m, tv_nsec: 0 }]);
    let node = target(t, Fd(AT_FDCWD), path, LookupFlags { follow: true, empty_path: false })?;
    set_times(t, node, times)
}
