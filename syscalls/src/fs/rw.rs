//! read, write, readv, writev, pread64, pwrite64.

use abi::consts::{PAGE_SIZE, TASK_SIZE};
use abi::signal::SIGPIPE;
use abi::structs::Iovec;
use abi::Errno;
use sentry::mm::Access;
use sentry::{SyscallResult, Task};
use vfs::BlockSeq;
use zerocopy::IntoBytes;

use crate::args::{Fd, UserBuf};

/// Linux caps one read or write at this many bytes.
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// The most iovecs one call takes (UIO_MAXIOV).
const UIO_MAXIOV: i32 = 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

impl Dir {
    /// How the Sentry touches the application's buffer.
    fn access(self) -> Access {
        match self {
            Dir::Read => Access::Write,
            Dir::Write => Access::Read,
        }
    }
}

/// Linux's access_ok: the range must lie in user space (it is not checked to
/// be mapped; that shows when it is copied).
fn access_ok(addr: u64, len: u64) -> Result<(), Errno> {
    match addr.checked_add(len) {
        Some(end) if end <= TASK_SIZE => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// What a write from a buffer that faults part-way sends: Linux copies the
/// data in page-sized chunks and fails with EFAULT unless a whole chunk was
/// copied before the fault. Reads keep the accessible prefix.
fn trim_faulting(b: BlockSeq, want: u64, dir: Dir) -> Result<BlockSeq, Errno> {
    let got = b.len() as u64;
    if dir == Dir::Read || got >= want {
        return Ok(b);
    }
    let whole = got - got % PAGE_SIZE;
    if whole == 0 {
        return Err(Errno::EFAULT);
    }
    Ok(b.take(whole as usize))
}

fn buf_blocks(t: &Task, buf: UserBuf, count: usize, dir: Dir) -> Result<BlockSeq, Errno> {
    access_ok(buf.0, count as u64)?;
    let want = (count as u64).min(MAX_RW_COUNT);
    let b = t.mm.blocks(buf.0, want, dir.access())?;
    trim_faulting(b, want, dir)
}

/// The iovecs' memory as one sequence, up to the first inaccessible byte.
fn iov_blocks(t: &Task, iov: u64, cnt: i32, dir: Dir) -> Result<BlockSeq, Errno> {
    if !(0..=UIO_MAXIOV).contains(&cnt) {
        return Err(Errno::EINVAL);
    }
    let mut v = vec![Iovec::default(); cnt as usize];
    t.mm.copy_in(iov, v.as_mut_bytes())?;
    let mut total: u64 = 0;
    for io in &v {
        if (io.len as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        total = total.checked_add(io.len).filter(|&s| s <= i64::MAX as u64).ok_or(Errno::EINVAL)?;
        access_ok(io.base, io.len)?;
    }
    let want = total.min(MAX_RW_COUNT);
    let mut left = want;
    let mut blocks = Vec::new();
    for io in v.iter().filter(|io| io.len > 0) {
        let part = io.len.min(left);
        if part == 0 {
            break;
        }
        match t.mm.blocks(io.base, part, dir.access()) {
            Ok(b) => {
                let got = b.len() as u64;
                blocks.extend_from_slice(b.blocks());
                left -= got;
                if got < part {
                    break;
                }
            }
            Err(e) if blocks.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    trim_faulting(BlockSeq::new(blocks), want, dir)
}

/// The common path, with Linux's order of checks: the offset, the fd, whether
/// the file can be positioned, the fd's access mode, then the buffer.
fn do_io(
    t: &mut Task,
    fd: Fd,
    offset: Option<i64>,
    dir: Dir,
    buffer: impl FnOnce(&Task) -> Result<BlockSeq, Errno>,
) -> SyscallResult {
    if offset.is_some_and(|o| o < 0) {
        return Err(Errno::EINVAL);
    }
    let file = t.fds.file(fd.0)?;
    if offset.is_some() && !file.ops().seekable() {
        return Err(Errno::ESPIPE);
    }
    let ok = match dir {
        Dir::Read => file.readable(),
        Dir::Write => file.writable(),
    };
    if !ok {
        return Err(Errno::EBADF);
    }
    let mut blocks = buffer(t)?;
    if dir == Dir::Write {
        blocks = fsize_clip(t, &file, offset, blocks)?;
    }
    let r = match dir {
        Dir::Read => file.ops().read(&file, &blocks, offset),
        Dir::Write if blocks.is_empty() => return Ok(0),
        Dir::Write => file.ops().write(&file, &blocks, offset),
    };
    if dir == Dir::Write && r == Err(Errno::EPIPE) {
        t.signal_self(SIGPIPE, abi::signal::SI_USER);
    }
    if let (Ok(n), Some(p)) = (&r, file.path()) {
        if *n > 0 {
            let mask = if dir == Dir::Read { abi::consts::IN_ACCESS } else { abi::consts::IN_MODIFY };
            vfs::inotify::notify_file(p, mask);
        }
    }
    r.map(|n| n as u64)
}

/// RLIMIT_FSIZE: a write to a regular file stops at the limit; one that
/// starts at or past it fails with EFBIG and SIGXFSZ.
fn fsize_clip(
    t: &mut Task,
    file: &vfs::FileDescription,
    offset: Option<i64>,
    blocks: BlockSeq,
) -> Result<BlockSeq, Errno> {
    let limit = t.limits.get(abi::consts::RLIMIT_FSIZE).rlim_cur;
    if limit == abi::consts::RLIM_INFINITY || blocks.is_empty() {
        return Ok(blocks);
    }
    let st = file.ops().stat()?;
    if st.st_mode & abi::consts::S_IFMT != abi::consts::S_IFREG {
        return Ok(blocks);
    }
    let pos = match offset {
        _ if file.flags() & abi::consts::O_APPEND != 0 => st.st_size.max(0) as u64,
        Some(o) => o as u64,
        None => (*file.pos()).max(0) as u64,
    };
    if pos >= limit {
        t.signal_self(abi::signal::SIGXFSZ, abi::signal::SI_USER);
        return Err(Errno::EFBIG);
    }
    Ok(blocks.take((limit - pos).min(usize::MAX as u64) as usize))
}

pub fn read(t: &mut Task, fd: Fd, buf: UserBuf, count: usize) -> SyscallResult {
    do_io(t, fd, None, Dir::Read, |t| buf_blocks(t, buf, count, Dir::Read))
}

pub fn write(t: &mut Task, fd: Fd, buf: UserBuf, count: usize) -> SyscallResult {
    do_io(t, fd, None, Dir::Write, |t| buf_blocks(t, buf, count, Dir::Write))
}

pub fn pread64(t: &mut Task, fd: Fd, buf: UserBuf, count: usize, off: i64) -> SyscallResult {
    do_io(t, fd, Some(off), Dir::Read, |t| buf_blocks(t, buf, count, Dir::Read))
}

pub fn pwrite64(t: &mut Task, fd: Fd, buf: UserBuf, count: usize, off: i64) -> SyscallResult {
    do_io(t, fd, Some(off), Dir::Write, |t| buf_blocks(t, buf, count, Dir::Write))
}

pub fn readv(t: &mut Task, fd: Fd, iov: u64, cnt: i32) -> SyscallResult {
    do_io(t, fd, None, Dir::Read, |t| iov_blocks(t, iov, cnt, Dir::Read))
}

pub fn writev(t: &mut Task, fd: Fd, iov: u64, cnt: i32) -> SyscallResult {
    do_io(t, fd, None, Dir::Write, |t| iov_blocks(t, iov, cnt, Dir::Write))
}

/// preadv/pwritev take the offset as (pos_l, pos_h); on 64-bit, pos_l is all of it.
pub fn preadv(t: &mut Task, fd: Fd, iov: u64, cnt: i32, pos: i64) -> SyscallResult {
    do_io(t, fd, Some(pos), Dir::Read, |t| iov_blocks(t, iov, cnt, Dir::Read))
}

pub fn pwritev(t: &mut Task, fd: Fd, iov: u64, cnt: i32, pos: i64) -> SyscallResult {
    do_io(t, fd, Some(pos), Dir::Write, |t| iov_blocks(t, iov, cnt, Dir::Write))
}

/// The RWF_* flags preadv2/pwritev2 know (HIPRI, DSYNC, SYNC, NOWAIT, APPEND).
const RWF_SUPPORTED: u32 = 0x1f;

/// preadv2/pwritev2: offset -1 means the file position. The flags are hints
/// here (the sandbox's files do not block and are not written back).
pub fn preadv2(t: &mut Task, fd: Fd, iov: u64, cnt: i32, pos: i64, _pos_h: u64, flags: u32) -> SyscallResult {
    if flags & !RWF_SUPPORTED != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let off = (pos != -1).then_some(pos);
    do_io(t, fd, off, Dir::Read, |t| iov_blocks(t, iov, cnt, Dir::Read))
}

pub fn pwritev2(t: &mut Task, fd: Fd, iov: u64, cnt: i32, pos: i64, _pos_h: u64, flags: u32) -> SyscallResult {
    if flags & !RWF_SUPPORTED != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let off = (pos != -1).then_some(pos);
    do_io(t, fd, off, Dir::Write, |t| iov_blocks(t, iov, cnt, Dir::Write))
}
