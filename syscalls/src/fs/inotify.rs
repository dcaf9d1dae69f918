//! inotify_init, inotify_init1, inotify_add_watch, inotify_rm_watch. The
//! events themselves are reported by the calls that make the changes.

use std::sync::Arc;

use abi::consts::*;
use abi::consts::{IN_DONT_FOLLOW, IN_MASK_ADD, IN_MASK_CREATE, IN_ONLYDIR, IN_VALID};
use abi::Errno;
use sentry::fdtable::FdEntry;
use sentry::{SyscallResult, Task};
use vfs::inode::{file_type, FileType, MAY_READ};
use vfs::inotify::Inotify;
use vfs::FileDescription;

use crate::args::{Fd, UserCStr};
use crate::fs::path::{lookup, LookupFlags};

pub fn inotify_init1(t: &mut Task, flags: u32) -> SyscallResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = FileDescription::new(O_RDONLY | (flags & O_NONBLOCK), Box::new(Inotify::new()), None);
    let limit = t.nofile_limit();
    t.fds.install(0, FdEntry { file: Arc::new(file), cloexec: flags & O_CLOEXEC != 0 }, limit).map(|fd| fd as u64)
}

pub fn inotify_init(t: &mut Task) -> SyscallResult {
    inotify_init1(t, 0)
}

fn instance(file: &FileDescription) -> Result<&Inotify, Errno> {
    vfs::inotify::Inotify::of(file).ok_or(Errno::EINVAL)
}

pub fn inotify_add_watch(t: &mut Task, fd: Fd, path: UserCStr, mask: u32) -> SyscallResult {
    // Some bit inotify knows must be there (Linux's ALL_INOTIFY_BITS).
    if mask & (IN_VALID | 0x0000_e000 | 0x4000_0000) == 0 {
        return Err(Errno::EINVAL);
    }
    if mask & (IN_MASK_ADD | IN_MASK_CREATE) == IN_MASK_ADD | IN_MASK_CREATE {
        return Err(Errno::EINVAL);
    }
    let file = t.fds.file(fd.0)?;
    let group = instance(&file)?;
    let p = lookup(t, Fd(AT_FDCWD), path, LookupFlags { follow: mask & IN_DONT_FOLLOW == 0, empty_path: false })?;
    if mask & IN_ONLYDIR != 0 && file_type(&**p.inode()) != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    let st = p.inode().stat();
    if !p.inode().permission(&t.fs_creds(), MAY_READ) {
        return Err(Errno::EACCES);
    }
    group.add_watch(&st, mask).map(|wd| wd as u64)
}

pub fn inotify_rm_watch(t: &mut Task, fd: Fd, wd: i32) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    instance(&file)?.rm_watch(wd).map(|_| 0)
}
