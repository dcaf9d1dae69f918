//! fstat, newfstatat.

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;
use sentry::{SyscallResult, Task};

use crate::args::{Fd, UserCStr, UserPtr};

pub fn fstat(t: &mut Task, fd: Fd, buf: UserPtr<Stat>) -> SyscallResult {
    let st = t.fds.file(fd.0)?.ops().stat()?;
    buf.write(t, &st).map(|_| 0)
}

/// newfstatat: with AT_EMPTY_PATH and "" it is fstat. The sandbox has no
/// filesystem until the filesystem issue, so every path is missing (ENOENT).
pub fn newfstatat(t: &mut Task, dirfd: Fd, path: UserCStr, buf: UserPtr<Stat>, flags: u32) -> SyscallResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = path.read_path(t)?;
    if !p.is_empty() {
        if dirfd.0 != AT_FDCWD && !p.starts_with(b"/") {
            t.fds.get(dirfd.0)?;
        }
        return Err(Errno::ENOENT);
    }
    if flags & AT_EMPTY_PATH == 0 || dirfd.0 == AT_FDCWD {
        return Err(Errno::ENOENT);
    }
    fstat(t, dirfd, buf)
}
