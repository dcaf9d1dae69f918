//! getdents64, getcwd, chdir, fchdir, umask.

use abi::Errno;
use sentry::mm::Access;
use sentry::{SyscallResult, Task};
use vfs::inode::{file_type, FileType, MAY_EXEC};
use vfs::Path;

use crate::args::{Fd, UserBuf, UserCStr};
use crate::fs::path::{lookup, LookupFlags};

/// getdents64: `struct linux_dirent64` records from the description's
/// position (an index into the listing) on.
pub fn getdents64(t: &mut Task, fd: Fd, buf: UserBuf, count: u32) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    let entries = file.ops().dir_entries(&file)?;
    let mut out = Vec::new();
    let mut pos = file.pos();
    let mut i = *pos as usize;
    while let Some(e) = entries.get(i) {
        let reclen = (19 + e.name.len() + 1).div_ceil(8) * 8;
        if out.len() + reclen > count as usize {
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        out.extend_from_slice(&e.ino.to_le_bytes());
        out.extend_from_slice(&((i + 1) as i64).to_le_bytes());
        out.extend_from_slice(&(reclen as u16).to_le_bytes());
        out.push(e.kind.dirent_type());
        out.extend_from_slice(&e.name);
        out.resize(out.len() + reclen - 19 - e.name.len(), 0);
        i += 1;
    }
    if !out.is_empty() {
        let blocks = t.mm.blocks(buf.0, out.len() as u64, Access::Write)?;
        if blocks.len() < out.len() {
            return Err(Errno::EFAULT);
        }
        blocks.copy_from(&out);
    }
    *pos = i as i64;
    Ok(out.len() as u64)
}

pub fn getcwd(t: &mut Task, buf: UserBuf, size: usize) -> SyscallResult {
    let cwd = t.fs.cwd();
    if cwd.dentry.is_deleted() {
        return Err(Errno::ENOENT);
    }
    let (creds, root) = (t.fs_creds(), t.fs.root());
    let mut path = match t.resolver(&root, &creds).path_of(&cwd) {
        Some(p) => p,
        // A cwd outside the root (after chroot) is reported as unreachable.
        None => b"(unreachable)".to_vec(),
    };
    path.push(0);
    if path.len() > size {
        return Err(Errno::ERANGE);
    }
    t.mm.copy_out(buf.0, &path)?;
    Ok(path.len() as u64)
}

fn set_cwd(t: &mut Task, p: Path) -> SyscallResult {
    if file_type(&**p.inode()) != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    if !p.inode().permission(&t.fs_creds(), MAY_EXEC) {
        return Err(Errno::EACCES);
    }
    t.fs.set_cwd(p);
    Ok(0)
}

pub fn chdir(t: &mut Task, path: UserCStr) -> SyscallResult {
    let p = lookup(t, Fd(abi::consts::AT_FDCWD), path, LookupFlags { follow: true, empty_path: false })?;
    set_cwd(t, p)
}

pub fn fchdir(t: &mut Task, fd: Fd) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    let p = file.path().cloned().ok_or(Errno::ENOTDIR)?;
    set_cwd(t, p)
}

pub fn umask(t: &mut Task, mask: u32) -> SyscallResult {
    Ok(t.fs.swap_umask(mask & 0o777) as u64)
}
