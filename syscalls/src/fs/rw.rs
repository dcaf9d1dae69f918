//! read, write, readv, writev, pread64, pwrite64.

use abi::consts::PAGE_SIZE;
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
    }
    let want = total.min(MAX_RW_COUNT);
    let mut left = want;
    let mut blocks = Vec::new();
    for io in v.iter().filter(|io| io.len > 0) {
        let want = io.len.min(left);
        if want == 0 {
            break;
        }
        match t.mm.blocks(io.base, want, dir.access()) {
            Ok(b) => {
                let got = b.len() as u64;
                blocks.extend_from_slice(b.blocks());
                left -= got;
                if got < want {
                    break;
                }
            }
            Err(e) if blocks.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    let b = BlockSeq::new(blocks);
    match dir {
        Dir::Write => short_write(b, want),
        Dir::Read => Ok(b),
    }
}

fn do_io(t: &mut Task, fd: Fd, blocks: Result<BlockSeq, Errno>, offset: Option<i64>, dir: Dir) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    let ok = match dir {
        Dir::Read => file.readable(),
        Dir::Write => file.writable(),
    };
    if !ok {
        return Err(Errno::EBADF);
    }
    if offset.is_some() && !file.ops().seekable() {
        return Err(Errno::ESPIPE);
    }
    if offset.is_some_and(|o| o < 0) {
        return Err(Errno::EINVAL);
    }
    let blocks = blocks?;
    let r = match dir {
        Dir::Read => file.ops().read(&file, &blocks, offset),
        Dir::Write if blocks.is_empty() => return Ok(0),
        Dir::Write => file.ops().write(&file, &blocks, offset),
    };
    if dir == Dir::Write && r == Err(Errno::EPIPE) {
        t.send_signal(SIGPIPE);
    }
    r.map(|n| n as u64)
}

fn buf_blocks(t: &Task, buf: UserBuf, count: usize, dir: Dir) -> Result<BlockSeq, Errno> {
    let want = (count as u64).min(MAX_RW_COUNT);
    let b = t.mm.blocks(buf.0, want, dir.access())?;
    Ok(match dir {
        Dir::Write => short_write(b, want)?,
        Dir::Read => b,
    })
}

/// What a write from a buffer that faults part-way sends: Linux copies the
/// data in page-sized chunks and fails with EFAULT unless a whole chunk was
/// copied before the fault.
fn short_write(b: BlockSeq, want: u64) -> Result<BlockSeq, Errno> {
    let got = b.len() as u64;
    if got >= want {
        return Ok(b);
    }
    let whole = got - got % PAGE_SIZE;
    if whole == 0 {
        return Err(Errno::EFAULT);
    }
    Ok(b.take(whole as usize))
}

pub fn read(t: &mut Task, fd: Fd, buf: UserBuf, count: usize) -> SyscallResult {
    let b = buf_blocks(t, buf, count, Dir::Read);
    do_io(t, fd, b, None, Dir::Read)
}

pub fn write(t: &mut Task, fd: Fd, buf: UserBuf, count: usize) -> SyscallResult {
    let b = buf_blocks(t, buf, count, Dir::Write);
    do_io(t, fd, b, None, Dir::Write)
}

pub fn pread64(t: &mut Task, fd: Fd, buf: UserBuf, count: usize, off: i64) -> SyscallResult {
    let b = buf_blocks(t, buf, count, Dir::Read);
    do_io(t, fd, b, Some(off), Dir::Read)
}

pub fn pwrite64(t: &mut Task, fd: Fd, buf: UserBuf, count: usize, off: i64) -> SyscallResult {
    let b = buf_blocks(t, buf, count, Dir::Write);
    do_io(t, fd, b, Some(off), Dir::Write)
}

pub fn readv(t: &mut Task, fd: Fd, iov: u64, cnt: i32) -> SyscallResult {
    t.fds.get(fd.0)?;
    let b = iov_blocks(t, iov, cnt, Dir::Read);
    do_io(t, fd, b, None, Dir::Read)
}

pub fn writev(t: &mut Task, fd: Fd, iov: u64, cnt: i32) -> SyscallResult {
    t.fds.get(fd.0)?;
    let b = iov_blocks(t, iov, cnt, Dir::Write);
    do_io(t, fd, b, None, Dir::Write)
}
