//! fcntl record locks (F_GETLK, F_SETLK, F_SETLKW and the OFD forms), flock,
//! and the sync family.

use abi::consts::*;
use abi::Errno;
use sentry::fdtable::FdEntry;
use sentry::{SyscallResult, Task};
use vfs::lock::{self, LockKind, LockOwner, LockType};
use vfs::FileDescription;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::args::Fd;

/// The kernel's `struct flock` (32 bytes on x86-64).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Flock {
    l_type: i16,
    l_whence: i16,
    _pad0: u32,
    l_start: i64,
    l_len: i64,
    l_pid: i32,
    _pad1: u32,
}

const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = 2;

/// The byte range `[start, end)` a `struct flock` names.
fn range(file: &FileDescription, fl: &Flock) -> Result<(u64, u64), Errno> {
    let base = match fl.l_whence as i32 {
        SEEK_SET => 0,
        SEEK_CUR => *file.pos(),
        SEEK_END => file.ops().stat()?.st_size,
        _ => return Err(Errno::EINVAL),
    };
    let start = base.checked_add(fl.l_start).ok_or(Errno::EOVERFLOW)?;
    let (start, end) = match fl.l_len {
        0 => (start, u64::MAX as i128),
        n if n > 0 => (start, start as i128 + n as i128),
        n => (start.checked_add(n).ok_or(Errno::EINVAL)?, start as i128),
    };
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    Ok((start as u64, end.min(u64::MAX as i128) as u64))
}

/// fcntl's lock commands; `ofd` for the F_OFD_* forms.
pub fn record_lock(t: &mut Task, entry: &FdEntry, cmd: i32, arg: u64) -> SyscallResult {
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    let mut fl: Flock = t.mm.read_obj(arg)?;
    let file = &entry.file;
    if ofd && fl.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let owner = if ofd { file.lock_owner() } else { LockOwner::Process(t.tgid) };
    let ty = match fl.l_type {
        F_RDLCK => Some(LockType::Read),
        F_WRLCK => Some(LockType::Write),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    let (start, end) = range(file, &fl)?;
    if matches!(cmd, F_GETLK | F_OFD_GETLK) {
        let ty = ty.ok_or(Errno::EINVAL)?;
        match lock::test(file.lock_key(), LockKind::Record, owner, ty, start, end) {
            None => fl.l_type = F_UNLCK,
            Some(l) => {
                fl.l_type = if l.ty == LockType::Write { F_WRLCK } else { F_RDLCK };
                fl.l_whence = SEEK_SET as i16;
                fl.l_start = l.start as i64;
                fl.l_len = if l.end == u64::MAX { 0 } else { (l.end - l.start) as i64 };
                fl.l_pid = match l.owner {
                    LockOwner::Process(p) => p,
                    LockOwner::Description(_) => -1,
                };
            }
        }
        return t.mm.write_obj(arg, &fl).map(|_| 0);
    }
    match ty {
        Some(LockType::Read) if !file.readable() => return Err(Errno::EBADF),
        Some(LockType::Write) if !file.writable() => return Err(Errno::EBADF),
        _ => {}
    }
    let wait = matches!(cmd, F_SETLKW | F_OFD_SETLKW);
    lock::set(file.lock_key(), LockKind::Record, owner, ty, start, end, wait).map(|_| 0)
}

const LOCK_SH: u32 = 1;
const LOCK_EX: u32 = 2;
const LOCK_NB: u32 = 4;
const LOCK_UN: u32 = 8;

pub fn flock(t: &mut Task, fd: Fd, op: u32) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    let ty = match op & !LOCK_NB {
        LOCK_SH => Some(LockType::Read),
        LOCK_EX => Some(LockType::Write),
        LOCK_UN => None,
        _ => return Err(Errno::EINVAL),
    };
    let wait = op & LOCK_NB == 0;
    lock::set(file.lock_key(), LockKind::Flock, file.lock_owner(), ty, 0, u64::MAX, wait).map(|_| 0)
}

/// Releases the POSIX locks a process holds on a file when it closes any fd
/// of that file, as Linux does.
pub fn on_close(t: &Task, entry: &FdEntry) {
    lock::release(entry.file.lock_key(), LockOwner::Process(t.tgid));
}

/// fsync and fdatasync: the sandbox's files are in memory (tmpfs) or
/// read-only (the host layer), so there is nothing to write back; files that
/// cannot be synced (pipes, terminals) get EINVAL as in Linux.
pub fn fsync(t: &mut Task, fd: Fd) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    let st = file.ops().stat()?;
    match st.st_mode & S_IFMT {
        S_IFREG | S_IFDIR | S_IFLNK => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

pub fn fdatasync(t: &mut Task, fd: Fd) -> SyscallResult {
    fsync(t, fd)
}

pub fn sync(_t: &mut Task) -> SyscallResult {
    Ok(0)
}

pub fn syncfs(t: &mut Task, fd: Fd) -> SyscallResult {
    t.fds.file(fd.0).map(|_| 0)
}

/// fadvise64: advice about a file's access pattern. The sandbox keeps no
/// read-ahead to tune, so valid advice changes nothing, as on a file system
/// without a page cache; the checks are Linux's.
pub fn fadvise64(t: &mut Task, fd: Fd, _off: i64, len: i64, advice: i32) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    let st = file.ops().stat()?;
    if st.st_mode & S_IFMT == S_IFIFO {
        return Err(Errno::ESPIPE);
    }
    // POSIX_FADV_NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTNEED, NOREUSE.
    if !(0..=5).contains(&advice) || len < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}
