//! stat, lstat, fstat, newfstatat, access, faccessat, faccessat2.

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;
use sentry::{SyscallResult, Task};
use vfs::inode::{MAY_EXEC, MAY_READ, MAY_WRITE};
use vfs::FsCreds;

use crate::args::{Fd, UserCStr, UserPtr};
use crate::fs::path::{lookup, lookup_flags, LookupFlags};

pub fn fstat(t: &mut Task, fd: Fd, buf: UserPtr<Stat>) -> SyscallResult {
    let st = t.fds.file(fd.0)?.stat()?;
    buf.write(t, &st).map(|_| 0)
}

fn stat_at(t: &mut Task, dirfd: Fd, path: UserCStr, buf: UserPtr<Stat>, how: LookupFlags) -> SyscallResult {
    let p = path.read_path(t)?;
    if p.is_empty() && how.empty_path && dirfd.0 != AT_FDCWD {
        // fstat on the fd itself, whatever kind of file it is (stdio too).
        return fstat(t, dirfd, buf);
    }
    let st = lookup(t, dirfd, path, how)?.inode().stat();
    buf.write(t, &st).map(|_| 0)
}

pub fn stat(t: &mut Task, path: UserCStr, buf: UserPtr<Stat>) -> SyscallResult {
    stat_at(t, Fd(AT_FDCWD), path, buf, LookupFlags { follow: true, empty_path: false })
}

pub fn lstat(t: &mut Task, path: UserCStr, buf: UserPtr<Stat>) -> SyscallResult {
    stat_at(t, Fd(AT_FDCWD), path, buf, LookupFlags { follow: false, empty_path: false })
}

pub fn newfstatat(t: &mut Task, dirfd: Fd, path: UserCStr, buf: UserPtr<Stat>, flags: u32) -> SyscallResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    stat_at(t, dirfd, path, buf, lookup_flags(flags))
}

const AT_EACCESS: u32 = 0x200;

fn access_at(t: &mut Task, dirfd: Fd, path: UserCStr, mode: u32, flags: u32) -> SyscallResult {
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    // access(2) checks with the real ids unless AT_EACCESS.
    let creds = if flags & AT_EACCESS != 0 {
        t.fs_creds()
    } else {
        FsCreds { uid: t.creds.uid, gid: t.creds.gid, groups: Vec::new() }
    };
    let target = lookup(t, dirfd, path, lookup_flags(flags))?;
    let mut want = 0;
    for (bit, may) in [(4, MAY_READ), (2, MAY_WRITE), (1, MAY_EXEC)] {
        if mode & bit != 0 {
            want |= may;
        }
    }
    if want != 0 && !target.inode().permission(&creds, want) {
        return Err(Errno::EACCES);
    }
    Ok(0)
}

pub fn access(t: &mut Task, path: UserCStr, mode: u32) -> SyscallResult {
    access_at(t, Fd(AT_FDCWD), path, mode, 0)
}

pub fn faccessat(t: &mut Task, dirfd: Fd, path: UserCStr, mode: u32) -> SyscallResult {
    access_at(t, dirfd, path, mode, 0)
}

pub fn faccessat2(t: &mut Task, dirfd: Fd, path: UserCStr, mode: u32, flags: u32) -> SyscallResult {
    access_at(t, dirfd, path, mode, flags)
}
