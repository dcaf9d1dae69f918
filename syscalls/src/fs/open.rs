//! open, openat, openat2, creat, lseek.

use std::sync::Arc;

use abi::consts::*;
use abi::consts::{IN_CREATE, IN_MODIFY, IN_OPEN};
use abi::Errno;
use sentry::fdtable::FdEntry;
use sentry::{SyscallResult, Task};
use vfs::file::DirectoryFile;
use vfs::inode::{file_type, FileType, NewAttrs, NewNode, SetAttr, MAY_EXEC, MAY_READ, MAY_WRITE};
use vfs::inotify::{notify_child, notify_file};
use vfs::resolve::{
    Resolver, RESOLVE_BENEATH, RESOLVE_CACHED, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
};
use vfs::{FileDescription, FileOps, Path};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::args::{Fd, UserCStr};
use crate::fs::path::{is_plain_name, start_dir};

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
    let mut flags = flags & VALID_OPEN_FLAGS;
    if flags & O_PATH != 0 {
        // open(2) drops what O_PATH does not go with (openat2 refuses it).
        flags &= O_PATH_FLAGS as u32;
    }
    open_resolving(t, dirfd, path, flags, mode, 0)
}

/// open with openat2's RESOLVE_* restrictions (`restrict`, 0 for none).
fn open_resolving(t: &mut Task, dirfd: Fd, path: UserCStr, flags: u32, mode: u32, restrict: u64) -> SyscallResult {
    if flags & (O_DIRECTORY | O_CREAT) == O_DIRECTORY | O_CREAT {
        return Err(Errno::EINVAL);
    }
    // O_TMPFILE is __O_TMPFILE | O_DIRECTORY: both or neither, no O_CREAT,
    // and it must be opened for writing.
    let tmpfile = flags & O_TMPFILE & !O_DIRECTORY != 0;
    if tmpfile && (flags & (O_TMPFILE | O_CREAT) != O_TMPFILE || flags & O_ACCMODE == O_RDONLY) {
        return Err(Errno::EINVAL);
    }
    let path_only = flags & O_PATH != 0;
    let acc = flags & O_ACCMODE;
    let (want_read, want_write) = (acc == O_RDONLY || acc == O_RDWR, acc == O_WRONLY || acc == O_RDWR);
    let creds = t.fs_creds();
    let p = path.read_path(t)?;
    if p.is_empty() {
        return Err(Errno::ENOENT);
    }
    if p.first() == Some(&b'/') && restrict & RESOLVE_BENEATH != 0 {
        return Err(Errno::EXDEV);
    }
    let scoped = restrict & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) != 0;
    let start = if p.first() == Some(&b'/') && !scoped { t.fs.cwd() } else { start_dir(t, dirfd)? };
    // A scoped resolution treats its starting directory as the root.
    let root = if scoped { start.clone() } else { t.fs.root() };
    let resolver = Resolver { ns: &t.kernel.mounts, root: &root, creds: &creds, restrict };
    let follow = flags & O_NOFOLLOW == 0;
    let mut created = false;
    let target: Path = if tmpfile {
        let dir = resolver.resolve(&start, &p, true)?;
        if file_type(&**dir.inode()) != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if !dir.inode().permission(&creds, MAY_WRITE | MAY_EXEC) {
            return Err(Errno::EACCES);
        }
        let attrs = NewAttrs { mode: S_IFREG | (mode & 0o7777 & !t.fs.umask()), uid: creds.uid, gid: creds.gid };
        let d = dir.dentry.create_tmpfile(attrs, flags & O_EXCL == 0)?;
        created = true;
        Path { mount: dir.mount, dentry: d }
    } else if flags & O_CREAT != 0 && !path_only {
        let parent = resolver.resolve_parent(&start, &p)?;
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
                    resolver.resolve(&start, &p, true)?
                } else {
                    t.kernel.mounts.mounted_on(&found).map_or(found, |m| Path { dentry: m.root.clone(), mount: m })
                }
            }
            Err(Errno::ENOENT) => {
                if !parent.dir.inode().permission(&creds, MAY_WRITE | MAY_EXEC) {
                    return Err(Errno::EACCES);
                }
                let attrs =
                    NewAttrs { mode: S_IFREG | (mode & 0o7777 & !t.fs.umask()), uid: creds.uid, gid: creds.gid };
                let d = parent.dir.dentry.create(&parent.name, NewNode::Regular, attrs)?;
                created = true;
                notify_child(&parent.dir, &parent.name, IN_CREATE, 0, false);
                Path { mount: parent.dir.mount, dentry: d }
            }
            Err(e) => return Err(e),
        }
    } else {
        resolver.resolve(&start, &p, follow)?
    };
    let kind = file_type(&**target.inode());
    if flags & O_DIRECTORY != 0 && kind != FileType::Directory && !tmpfile {
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
        if !created && !target.inode().permission(&creds, need) {
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
            notify_file(&target, IN_MODIFY);
        }
        FileDescription::new(flags | O_LARGEFILE, ops, Some(target))
    };
    let file = Arc::new(file);
    if !path_only {
        if let Some(p) = file.path() {
            notify_file(p, IN_OPEN);
        }
    }
    let limit = t.nofile_limit();
    let entry = FdEntry { file, cloexec: flags & O_CLOEXEC != 0 };
    t.fds.install(0, entry, limit).map(|fd| fd as u64)
}

pub fn open(t: &mut Task, path: UserCStr, flags: u32, mode: u32) -> SyscallResult {
    do_open(t, Fd(AT_FDCWD), path, flags, mode)
}

pub fn openat(t: &mut Task, dirfd: Fd, path: UserCStr, flags: u32, mode: u32) -> SyscallResult {
    do_open(t, dirfd, path, flags, mode)
}

/// struct open_how.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// The size of the first struct open_how (OPEN_HOW_SIZE_VER0).
const OPEN_HOW_SIZE_VER0: usize = 24;
/// The flags O_PATH may come with in openat2.
const O_PATH_FLAGS: u64 = (O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC) as u64;
const VALID_RESOLVE_FLAGS: u64 =
    RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED;

/// openat2: open with every argument checked, and RESOLVE_* restrictions.
/// RESOLVE_CACHED lookups are always done (Linux may say EAGAIN instead).
pub fn openat2(t: &mut Task, dirfd: Fd, path: UserCStr, how: u64, size: usize) -> SyscallResult {
    if size < OPEN_HOW_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > PAGE_SIZE as usize {
        return Err(Errno::E2BIG);
    }
    // A larger struct from a newer caller is fine if the rest is zeros.
    let mut raw = vec![0u8; size];
    t.mm.copy_in(how, &mut raw)?;
    if raw[OPEN_HOW_SIZE_VER0..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let how = OpenHow::read_from_bytes(&raw[..OPEN_HOW_SIZE_VER0]).map_err(|_| Errno::EINVAL)?;
    let flags = how.flags & !(O_CLOEXEC as u64);
    if flags & !(VALID_OPEN_FLAGS as u64) != 0 || how.resolve & !VALID_RESOLVE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if how.resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) == RESOLVE_BENEATH | RESOLVE_IN_ROOT {
        return Err(Errno::EINVAL);
    }
    let creates = flags & O_CREAT as u64 != 0 || flags & O_TMPFILE as u64 == O_TMPFILE as u64;
    if (creates && how.mode & !0o7777 != 0) || (!creates && how.mode != 0) {
        return Err(Errno::EINVAL);
    }
    let flags = how.flags as u32;
    if flags & (O_DIRECTORY | O_CREAT) == O_DIRECTORY | O_CREAT {
        return Err(Errno::EINVAL);
    }
    if flags & O_TMPFILE & !O_DIRECTORY != 0 && (flags & O_DIRECTORY == 0 || flags & O_ACCMODE == O_RDONLY) {
        return Err(Errno::EINVAL);
    }
    if flags & O_PATH != 0 && how.flags & !O_PATH_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if how.resolve & RESOLVE_CACHED != 0 && flags & (O_TRUNC | O_CREAT | (O_TMPFILE & !O_DIRECTORY)) != 0 {
        return Err(Errno::EAGAIN);
    }
    let flags = if flags & O_PATH == 0 { flags | O_LARGEFILE } else { flags };
    open_resolving(t, dirfd, path, flags, how.mode as u32, how.resolve)
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
