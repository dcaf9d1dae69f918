//! Where *at() calls start, and path lookups as a task makes them.

use abi::consts::*;
use abi::Errno;
use sentry::Task;
use vfs::inode::{file_type, FileType};
use vfs::resolve::Parent;
use vfs::Path;

use crate::args::{Fd, UserCStr};

/// The directory a relative path starts from: the cwd for AT_FDCWD, else the
/// directory open on `dirfd`.
pub fn start_dir(t: &Task, dirfd: Fd) -> Result<Path, Errno> {
    if dirfd.0 == AT_FDCWD {
        return Ok(t.fs.cwd());
    }
    let file = t.fds.file(dirfd.0)?;
    let p = file.path().cloned().ok_or(Errno::ENOTDIR)?;
    if file_type(&**p.inode()) != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    Ok(p)
}

/// How a lookup treats the final component and an empty path.
#[derive(Clone, Copy, Debug)]
pub struct LookupFlags {
    pub follow: bool,
    /// AT_EMPTY_PATH: an empty path names `dirfd` itself.
    pub empty_path: bool,
}

/// The *at() flags of lookups that take AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH.
pub fn lookup_flags(flags: u32) -> LookupFlags {
    LookupFlags { follow: flags & AT_SYMLINK_NOFOLLOW == 0, empty_path: flags & AT_EMPTY_PATH != 0 }
}

/// The file `dirfd` itself (AT_EMPTY_PATH): any open fd with a path.
fn fd_path(t: &Task, dirfd: Fd) -> Result<Path, Errno> {
    if dirfd.0 == AT_FDCWD {
        return Ok(t.fs.cwd());
    }
    t.fds.file(dirfd.0)?.path().cloned().ok_or(Errno::EBADF)
}

/// Resolves a user path relative to `dirfd`.
pub fn lookup(t: &Task, dirfd: Fd, path: UserCStr, how: LookupFlags) -> Result<Path, Errno> {
    let p = path.read_path(t)?;
    if p.is_empty() {
        return if how.empty_path { fd_path(t, dirfd) } else { Err(Errno::ENOENT) };
    }
    let start = if p.first() == Some(&b'/') { t.fs.cwd() } else { start_dir(t, dirfd)? };
    let (creds, root) = (t.fs_creds(), t.fs.root());
    t.resolver(&root, &creds).resolve(&start, &p, how.follow)
}

/// Resolves all but the last component of a user path.
pub fn lookup_parent(t: &Task, dirfd: Fd, path: UserCStr) -> Result<Parent, Errno> {
    let p = path.read_path(t)?;
    if p.is_empty() {
        return Err(Errno::ENOENT);
    }
    let start = if p.first() == Some(&b'/') { t.fs.cwd() } else { start_dir(t, dirfd)? };
    let (creds, root) = (t.fs_creds(), t.fs.root());
    t.resolver(&root, &creds).resolve_parent(&start, &p)
}

/// Whether `name` is a real entry name (not "", "." or "..").
pub fn is_plain_name(name: &[u8]) -> bool {
    !matches!(name, b"" | b"." | b"..")
}
