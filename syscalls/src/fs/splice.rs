//! sendfile, splice, tee and copy_file_range: copies between files that go
//! through a Sentry buffer, never through the application's memory.

use std::sync::Arc;

use abi::consts::*;
use abi::signal::SIGPIPE;
use abi::Errno;
use sentry::{SyscallResult, Task};
use vfs::FileDescription;

use crate::args::Fd;
use crate::fs::rw::MAX_RW_COUNT;

const SPLICE_F_MOVE: u32 = 1;
const SPLICE_F_NONBLOCK: u32 = 2;
const SPLICE_F_MORE: u32 = 4;
const SPLICE_F_GIFT: u32 = 8;
const SPLICE_F_ALL: u32 = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;

/// The largest chunk one copy step moves.
const CHUNK: usize = 1 << 16;

/// One end of a copy: the file, and the offset to use instead of its position.
struct End {
    file: Arc<FileDescription>,
    pos: Option<i64>,
}

/// Copies up to `count` bytes from `src` to `dst` in chunks of at most
/// `chunk`, stopping at the end of `src`, at a short write, or after the
/// first chunk when `once`. An error counts only when nothing was copied;
/// EPIPE then also sends SIGPIPE, as a write would.
fn copy(t: &mut Task, src: &mut End, dst: &mut End, count: usize, chunk: usize, once: bool) -> Result<usize, Errno> {
    let mut left = count;
    let mut done = 0;
    let mut buf = vec![0u8; left.min(chunk)];
    while left > 0 {
        let want = left.min(buf.len());
        let n = match src.file.read_buf(&mut buf[..want], src.pos) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let w = match dst.file.write_buf(&buf[..n], dst.pos) {
            Ok(w) => w,
            Err(e) => {
                // Give back what was read but not written.
                unread(src, n);
                if done > 0 {
                    break;
                }
                if e == Errno::EPIPE {
                    t.signal_self(SIGPIPE, abi::signal::SI_USER);
                }
                return Err(e);
            }
        };
        if w < n {
            unread(src, n - w);
        }
        for (end, k) in [(&mut *src, w), (&mut *dst, w)] {
            if let Some(p) = end.pos.as_mut() {
                *p += k as i64;
            }
        }
        done += w;
        left -= w;
        if w < n || once {
            break;
        }
    }
    if done > 0 {
        for (end, mask) in [(&*src, abi::consts::IN_ACCESS), (&*dst, abi::consts::IN_MODIFY)] {
            if let Some(p) = end.file.path() {
                vfs::inotify::notify_file(p, mask);
            }
        }
    }
    Ok(done)
}

/// Moves a file's position back over bytes read but not copied.
fn unread(src: &End, n: usize) {
    if src.pos.is_none() && src.file.ops().seekable() {
        let _ = src.file.ops().seek(&src.file, -(n as i64), SEEK_CUR);
    }
}

/// Reads an optional user offset: None for a null pointer.
fn read_offset(t: &Task, addr: u64) -> Result<Option<i64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    t.mm.read_obj::<i64>(addr).map(Some)
}

fn is_dir(f: &FileDescription) -> bool {
    f.ops().stat().is_ok_and(|s| s.st_mode & S_IFMT == S_IFDIR)
}

/// sendfile: `count` bytes from `in_fd` (at `*offset`, or its position) to
/// `out_fd`.
pub fn sendfile(t: &mut Task, out_fd: Fd, in_fd: Fd, offset: u64, count: usize) -> SyscallResult {
    let input = t.fds.file(in_fd.0)?;
    let output = t.fds.file(out_fd.0)?;
    if !input.readable() || !output.writable() {
        return Err(Errno::EBADF);
    }
    if !input.ops().seekable() {
        return Err(Errno::EINVAL);
    }
    let pos = read_offset(t, offset)?;
    if pos.is_some_and(|p| p < 0) {
        return Err(Errno::EINVAL);
    }
    let mut src = End { file: input, pos };
    let mut dst = End { file: output, pos: None };
    let done = copy(t, &mut src, &mut dst, (count as u64).min(MAX_RW_COUNT) as usize, CHUNK, false)?;
    if let Some(p) = src.pos {
        t.mm.write_obj(offset, &p)?;
    }
    Ok(done as u64)
}

/// splice: moves up to `len` bytes between a pipe and a file or another
/// pipe. Each call moves what is there: what a pipe holds, or what fits in it.
pub fn splice(t: &mut Task, fd_in: Fd, off_in: u64, fd_out: Fd, off_out: u64, len: usize, flags: u32) -> SyscallResult {
    if len == 0 {
        return Ok(0);
    }
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let input = t.fds.file(fd_in.0)?;
    let output = t.fds.file(fd_out.0)?;
    if !input.readable() || !output.writable() {
        return Err(Errno::EBADF);
    }
    let (in_pipe, out_pipe) = (vfs::pipe::pipe_of(&input).cloned(), vfs::pipe::pipe_of(&output).cloned());
    if (in_pipe.is_some() && off_in != 0) || (out_pipe.is_some() && off_out != 0) {
        return Err(Errno::ESPIPE);
    }
    if in_pipe.is_none() && out_pipe.is_none() {
        return Err(Errno::EINVAL);
    }
    if let (Some(a), Some(b)) = (&in_pipe, &out_pipe) {
        if Arc::ptr_eq(a, b) {
            return Err(Errno::EINVAL);
        }
    }
    let (pos_in, pos_out) = (read_offset(t, off_in)?, read_offset(t, off_out)?);
    let other = if in_pipe.is_some() { &output } else { &input };
    if vfs::pipe::pipe_of(other).is_none() {
        if is_dir(other) || (pos_in.or(pos_out).is_some() && !other.ops().seekable()) {
            return Err(Errno::EINVAL);
        }
        if in_pipe.is_some() && output.flags() & O_APPEND != 0 {
            return Err(Errno::EINVAL);
        }
        if pos_in.or(pos_out).is_some_and(|p| p < 0) {
            return Err(Errno::EINVAL);
        }
    }
    let nonblock = |f: &FileDescription| flags & SPLICE_F_NONBLOCK != 0 || f.flags() & O_NONBLOCK != 0;
    let mut want = len.min(MAX_RW_COUNT as usize);
    if let Some(p) = &in_pipe {
        want = want.min(p.wait_data(nonblock(&input))?);
        if want == 0 {
            return Ok(0);
        }
    }
    if let Some(p) = &out_pipe {
        match p.wait_room(nonblock(&output)) {
            Ok(room) => want = want.min(room),
            Err(Errno::EPIPE) => {
                t.signal_self(SIGPIPE, abi::signal::SI_USER);
                return Err(Errno::EPIPE);
            }
            Err(e) => return Err(e),
        }
    }
    let mut src = End { file: input, pos: pos_in };
    let mut dst = End { file: output, pos: pos_out };
    let done = copy(t, &mut src, &mut dst, want, want, true)?;
    if let Some(p) = src.pos {
        t.mm.write_obj(off_in, &p)?;
    }
    if let Some(p) = dst.pos {
        t.mm.write_obj(off_out, &p)?;
    }
    Ok(done as u64)
}

/// tee: copies up to `len` bytes from one pipe to another without taking
/// them from the first.
pub fn tee(t: &mut Task, fd_in: Fd, fd_out: Fd, len: usize, flags: u32) -> SyscallResult {
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let input = t.fds.file(fd_in.0)?;
    let output = t.fds.file(fd_out.0)?;
    if !input.readable() || !output.writable() {
        return Err(Errno::EBADF);
    }
    let (Some(a), Some(b)) = (vfs::pipe::pipe_of(&input).cloned(), vfs::pipe::pipe_of(&output).cloned()) else {
        return Err(Errno::EINVAL);
    };
    if Arc::ptr_eq(&a, &b) {
        return Err(Errno::EINVAL);
    }
    let nonblock = |f: &FileDescription| flags & SPLICE_F_NONBLOCK != 0 || f.flags() & O_NONBLOCK != 0;
    let avail = a.wait_data(nonblock(&input))?;
    if avail == 0 {
        return Ok(0);
    }
    let room = match b.wait_room(nonblock(&output)) {
        Ok(room) => room,
        Err(Errno::EPIPE) => {
            t.signal_self(SIGPIPE, abi::signal::SI_USER);
            return Err(Errno::EPIPE);
        }
        Err(e) => return Err(e),
    };
    let data = a.peek(len.min(avail).min(room));
    output.write_buf(&data, None).map(|n| n as u64)
}

/// copy_file_range: up to `len` bytes between two regular files, stopping at
/// the end of the source.
pub fn copy_file_range(
    t: &mut Task,
    fd_in: Fd,
    off_in: u64,
    fd_out: Fd,
    off_out: u64,
    len: usize,
    flags: u32,
) -> SyscallResult {
    let input = t.fds.file(fd_in.0)?;
    let output = t.fds.file(fd_out.0)?;
    let (pos_in, pos_out) = (read_offset(t, off_in)?, read_offset(t, off_out)?);
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (si, so) = (input.stat()?, output.stat()?);
    if si.st_mode & S_IFMT == S_IFDIR || so.st_mode & S_IFMT == S_IFDIR {
        return Err(Errno::EISDIR);
    }
    if si.st_mode & S_IFMT != S_IFREG || so.st_mode & S_IFMT != S_IFREG {
        return Err(Errno::EINVAL);
    }
    if !input.readable() || !output.writable() || output.flags() & O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let start_in = match pos_in {
        Some(p) => p,
        None => input.ops().seek(&input, 0, SEEK_CUR)?,
    };
    let start_out = match pos_out {
        Some(p) => p,
        None => output.ops().seek(&output, 0, SEEK_CUR)?,
    };
    let len = (len as u64).min(MAX_RW_COUNT) as i64;
    // Linux checks for wrapping in unsigned arithmetic, so a negative offset
    // is EOVERFLOW here.
    if (start_in as u64).checked_add(len as u64).is_none() || (start_out as u64).checked_add(len as u64).is_none() {
        return Err(Errno::EOVERFLOW);
    }
    // Shortened to the end of the source.
    let len = if start_in >= si.st_size { 0 } else { len.min(si.st_size - start_in) };
    let overlap = |a: i64, b: i64| (a as i128) + (len as i128) > b as i128;
    if (si.st_dev, si.st_ino) == (so.st_dev, so.st_ino) && overlap(start_out, start_in) && overlap(start_in, start_out)
    {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    if start_in < 0 || start_out < 0 {
        return Err(Errno::EINVAL);
    }
    let mut src = End { file: input, pos: pos_in };
    let mut dst = End { file: output, pos: pos_out };
    let done = copy(t, &mut src, &mut dst, len as usize, CHUNK, false)?;
    if let Some(p) = src.pos {
        t.mm.write_obj(off_in, &p)?;
    }
    if let Some(p) = dst.pos {
        t.mm.write_obj(off_out, &p)?;
    }
    Ok(done as u64)
}
