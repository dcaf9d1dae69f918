//! open, openat, creat, lseek.

use std::sync::Arc;

use abi::consts::*;
use abi::Errno;
use sentry::fdtable::FdEntry;
use sentry::{SyscallResult, Task};
use vfs::file::DirectoryFile;
use vfs::inode::{file_type, FileType, NewAttrs, NewNode, SetAttr, MAY_EXEC, MAY_READ, MAY_WRITE};
use vfs::{FileDescription, FileOps, Path};

use crate::args::{Fd, UserCStr};
use crate::fs::path::{is_plain_name, lookup_parent, start_dir};

/// The open flags Linux knows; others are ignored, as Linux ignores them.
const VALID_OPEN_FLAGS: u32 = O_ACCMODE
    | O_CREAT
    | O_EXCL
    | O_NOCTTY
    | O_TRUNC
    | O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_ASYNC
    | O_DIRECT
    | O_LARGEFILE
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_NOATIME
    | O_CLOEXEC
    | O_SYNC
    | O_PATH
    | O_TMPFILE;

/// An O_PATH description: it names a file but reads, writes and ioctls fail.
struct PathOnly {
    stat: Box<dyn Fn() -> abi::structs::Stat + Send + Sync>,
}

impl FileOps for PathOnly {
    fn read(&self, _: &FileDescription, _: &vfs::BlockSeq, _: Option<i64>) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn write(&self, _: &FileDescription, _: &vfs::BlockSeq, _: Option<i64>) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn stat(&self) -> Result<abi::structs::Stat, Errno> {
        Ok((self.stat)())
    }
    fn ioctl(&self, _: &FileDescription, _: &dyn vfs::UserIo, _: u32, _: u64) -> Result<u64, Errno> {
        Err(Errno::EBADF)
    }
}

/// Opens `path` (relative to `dirfd`) as open(2) does; returns the new fd.
pub fn do_open(t: &mut Task, dirfd: Fd, path: UserCStr, flags: u32, mode: u32) -> SyscallResult {
    let flags = flags & VALID_OPEN_FLAGS;
    if flags & O_TMPFILE == O_TMPFILE {
        // Unnamed temporary files arrive with the rest of the filesystem issue.
        return Err(Errno::EOPNOTSUPP);
    }
    let path_only = flags & O_PATH != 0;
    let acc = flags & O_ACCMODE;
    let (want_read, want_write) = (acc == O_RDONLY || acc == O_RDWR, acc == O_WRONLY || acc == O_RDWR);
    let (creds, root) = (t.fs_creds(), t.fs.root());
    let p = path.read_path(t)?;
    if p.is_empty() {
        return Err(Errno::ENOENT);
    }
    let start = if p[0] == b'/' { t.fs.cwd() } else { start_dir(t, dirfd)? };
    let follow = flags & O_NOFOLLOW == 0;
    let mut created = false;
    let target: Path = if flags & O_CREAT != 0 && !path_only {
        let parent = lookup_parent(t, dirfd, path)?;
        if !is_plain_name(&parent.name) || parent.trailing_slash {
            return Err(Errno::EISDIR);
        }
        match parent.dir.dentry.lookup(&parent.name) {
            Ok(d) => {
                if flags & O_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                let found = Path { mount: parent.dir.mount.clone(), dentry: d };
                if file_type(&**found.inode()) == FileType::Symlink {
                    if !follow {
                        return Err(Errno::ELOOP);
                    }
                    t.resolver(&root, &creds).resolve(&start, &p, true)?
                } else {
                    t.kernel.mounts.mounted_on(&found).map_or(found, |m| Path { dentry: m.root.clone(), mount: m })
                }
            }
            Err(Errno::ENOENT) => {
                if !creds.may(&parent.dir.inode().stat(), MAY_WRITE | MAY_EXEC) {
                    return Err(Errno::EACCES);
                }
                let attrs =
                    NewAttrs { mode: S_IFREG | (mode & 0o7777 & !t.fs.umask()), uid: creds.uid, gid: creds.gid };
                let d = parent.dir.dentry.create(&parent.name, NewNode::Regular, attrs)?;
                created = true;
                Path { mount: parent.dir.mount, dentry: d }
            }
            Err(e) => return Err(e),
        }
    } else {
        t.resolver(&root, &creds).resolve(&start, &p, follow)?
    };
    let kind = file_type(&**target.inode());
    if flags & O_DIRECTORY != 0 && kind != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    if kind == FileType::Symlink && !path_only {
        // O_NOFOLLOW on a symlink.
        return Err(Errno::ELOOP);
    }
    let file = if path_only {
        let inode = target.inode().clone();
        let ops = PathOnly { stat: Box::new(move || inode.stat()) };
        FileDescription::new(O_PATH | (flags & (O_DIRECTORY | O_NOFOLLOW)), Box::new(ops), Some(target))
    } else {
        if kind == FileType::Directory && (want_write || flags & O_CREAT != 0) {
            return Err(Errno::EISDIR);
        }
        let st = target.inode().stat();
        let mut need = 0;
        if want_read {
            need |= MAY_READ;
        }
        if want_write || flags & O_TRUNC != 0 {
            need |= MAY_WRITE;
        }
        if !created && !creds.may(&st, need) {
            return Err(Errno::EACCES);
        }
        let ops: Box<dyn FileOps> = if kind == FileType::Directory {
            let parent_ino = target.dentry.parent().map_or(st.st_ino, |d| d.inode().stat().st_ino);
            Box::new(DirectoryFile::new(target.inode().clone(), parent_ino))
        } else {
            target.inode().clone().open(flags)?
        };
        if flags & O_TRUNC != 0 && kind == FileType::Regular && !created {
            target.inode().setattr(&SetAttr { size: Some(0), ..SetAttr::default() })?;
        }
        FileDescription::new(flags | O_LARGEFILE, ops, Some(target))
    };
    let limit = t.nofile_limit();
    let entry = FdEntry { file: Arc::new(file), cloexec: flags & O_CLOEXEC != 0 };
    t.fds.install(0, entry, limit).map(|fd| fd as u64)
}

pub fn open(t: &mut Task, path: UserCStr, flags: u32, mode: u32) -> SyscallResult {
    do_open(t, Fd(AT_FDCWD), path, flags, mode)
}

pub fn openat(t: &mut Task, dirfd: Fd, path: UserCStr, flags: u32, mode: u32) -> SyscallResult {
    do_open(t, dirfd, path, flags, mode)
}

pub fn creat(t: &mut Task, path: UserCStr, mode: u32) -> SyscallResult {
    do_open(t, Fd(AT_FDCWD), path, O_CREAT | O_WRONLY | O_TRUNC, mode)
}

pub fn lseek(t: &mut Task, fd: Fd, off: i64, whence: u32) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    if whence > SEEK_HOLE as u32 {
        return Err(Errno::EINVAL);
    }
    file.ops().seek(&file, off, whence as i32).map(|p| p as u64)
}
