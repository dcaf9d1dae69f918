//! getxattr, setxattr, listxattr, removexattr, in their path, l and f forms.

use abi::consts::*;
use abi::Errno;
use sentry::mm::Access;
use sentry::{SyscallResult, Task};
use vfs::{InodeRef, Path};

use crate::args::{Fd, UserBuf, UserCStr};
use crate::fs::path::{lookup, LookupFlags};

/// XATTR_NAME_MAX and XATTR_SIZE_MAX.
const NAME_MAX_X: usize = 255;
const SIZE_MAX_X: usize = 65536;

/// Which file: by path (following symlinks or not) or by fd.
#[derive(Clone, Copy)]
pub enum Target {
    Path(UserCStr, bool),
    Fd(Fd),
}

fn path(t: &Task, target: Target) -> Result<Path, Errno> {
    match target {
        Target::Path(p, follow) => lookup(t, Fd(AT_FDCWD), p, LookupFlags { follow, empty_path: false }),
        Target::Fd(fd) => {
            let file = t.fds.file(fd.0)?;
            file.path().cloned().ok_or(Errno::EOPNOTSUPP)
        }
    }
}

fn inode(t: &Task, target: Target) -> Result<InodeRef, Errno> {
    path(t, target).map(|p| p.inode().clone())
}

/// Reads and checks an attribute name: 1..=255 bytes in a known namespace.
fn name(t: &Task, name: UserCStr) -> Result<Vec<u8>, Errno> {
    let n =
        t.mm.read_cstring(name.0, NAME_MAX_X).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::ERANGE } else { e })?;
    if n.is_empty() {
        return Err(Errno::ERANGE);
    }
    if ![&b"user."[..], b"trusted.", b"security.", b"system."].iter().any(|p| n.starts_with(p)) {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(n)
}

/// Copies `data` out as getxattr/listxattr do: size 0 asks for the size.
fn answer(t: &Task, buf: UserBuf, size: usize, data: &[u8]) -> SyscallResult {
    if size == 0 {
        return Ok(data.len() as u64);
    }
    if data.len() > size {
        return Err(Errno::ERANGE);
    }
    if !data.is_empty() {
        let b = t.mm.blocks(buf.0, data.len() as u64, Access::Write)?;
        if b.len() < data.len() {
            return Err(Errno::EFAULT);
        }
        b.copy_from(data);
    }
    Ok(data.len() as u64)
}

fn get(t: &mut Task, target: Target, n: UserCStr, buf: UserBuf, size: usize) -> SyscallResult {
    let node = inode(t, target)?;
    let n = name(t, n)?;
    let v = node.getxattr(&n)?;
    answer(t, buf, size.min(SIZE_MAX_X), &v)
}

fn set(t: &mut Task, target: Target, n: UserCStr, value: UserBuf, size: usize, flags: u32) -> SyscallResult {
    if flags & !(vfs::tmpfs::XATTR_CREATE | vfs::tmpfs::XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = path(t, target)?;
    let node = p.inode();
    let n = name(t, n)?;
    if size > SIZE_MAX_X {
        return Err(Errno::E2BIG);
    }
    let mut v = vec![0u8; size];
    t.mm.copy_in(value.0, &mut v)?;
    let st = node.stat();
    if !t.creds.owns(&st) {
        return Err(Errno::EPERM);
    }
    node.setxattr(&n, &v, flags)?;
    vfs::inotify::notify_file(&p, abi::consts::IN_ATTRIB);
    Ok(0)
}

fn list(t: &mut Task, target: Target, buf: UserBuf, size: usize) -> SyscallResult {
    let node = inode(t, target)?;
    let mut out = Vec::new();
    for n in node.listxattr()? {
        out.extend_from_slice(&n);
        out.push(0);
    }
    answer(t, buf, size.min(SIZE_MAX_X), &out)
}

fn remove(t: &mut Task, target: Target, n: UserCStr) -> SyscallResult {
    let p = path(t, target)?;
    let node = p.inode();
    let n = name(t, n)?;
    if !t.creds.owns(&node.stat()) {
        return Err(Errno::EPERM);
    }
    node.removexattr(&n)?;
    vfs::inotify::notify_file(&p, abi::consts::IN_ATTRIB);
    Ok(0)
}

pub fn getxattr(t: &mut Task, p: UserCStr, n: UserCStr, buf: UserBuf, size: usize) -> SyscallResult {
    get(t, Target::Path(p, true), n, buf, size)
}
pub fn lgetxattr(t: &mut Task, p: UserCStr, n: UserCStr, buf: UserBuf, size: usize) -> SyscallResult {
    get(t, Target::Path(p, false), n, buf, size)
}
pub fn fgetxattr(t: &mut Task, fd: Fd, n: UserCStr, buf: UserBuf, size: usize) -> SyscallResult {
    get(t, Target::Fd(fd), n, buf, size)
}
pub fn setxattr(t: &mut Task, p: UserCStr, n: UserCStr, v: UserBuf, size: usize, flags: u32) -> SyscallResult {
    set(t, Target::Path(p, true), n, v, size, flags)
}
pub fn lsetxattr(t: &mut Task, p: UserCStr, n: UserCStr, v: UserBuf, size: usize, flags: u32) -> SyscallResult {
    set(t, Target::Path(p, false), n, v, size, flags)
}
pub fn fsetxattr(t: &mut Task, fd: Fd, n: UserCStr, v: UserBuf, size: usize, flags: u32) -> SyscallResult {
    set(t, Target::Fd(fd), n, v, size, flags)
}
pub fn listxattr(t: &mut Task, p: UserCStr, buf: UserBuf, size: usize) -> SyscallResult {
    list(t, Target::Path(p, true), buf, size)
}
pub fn llistxattr(t: &mut Task, p: UserCStr, buf: UserBuf, size: usize) -> SyscallResult {
    list(t, Target::Path(p, false), buf, size)
}
pub fn flistxattr(t: &mut Task, fd: Fd, buf: UserBuf, size: usize) -> SyscallResult {
    list(t, Target::Fd(fd), buf, size)
}
pub fn removexattr(t: &mut Task, p: UserCStr, n: UserCStr) -> SyscallResult {
    remove(t, Target::Path(p, true), n)
}
pub fn lremovexattr(t: &mut Task, p: UserCStr, n: UserCStr) -> SyscallResult {
    remove(t, Target::Path(p, false), n)
}
pub fn fremovexattr(t: &mut Task, fd: Fd, n: UserCStr) -> SyscallResult {
    remove(t, Target::Fd(fd), n)
}
