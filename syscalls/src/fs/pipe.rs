//! pipe, pipe2.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi::consts::*;
use abi::Errno;
use sentry::fdtable::FdEntry;
use sentry::{SyscallResult, Task};
use vfs::pipe::Pipe;
use vfs::FileDescription;

/// Inode numbers of pipes (pipefs).
static NEXT_INO: AtomicU64 = AtomicU64::new(1);

pub fn pipe2(t: &mut Task, fds: u64, flags: u32) -> SyscallResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let pipe = Pipe::new(NEXT_INO.fetch_add(1, Ordering::Relaxed));
    let status = flags & (O_NONBLOCK | O_DIRECT);
    let read = FileDescription::new(O_RDONLY | status, Box::new(pipe.open_end(true, false)), None);
    let write = FileDescription::new(O_WRONLY | status, Box::new(pipe.open_end(false, true)), None);
    let cloexec = flags & O_CLOEXEC != 0;
    let limit = t.nofile_limit();
    let r = t.fds.install(0, FdEntry { file: Arc::new(read), cloexec }, limit)?;
    let w = match t.fds.install(0, FdEntry { file: Arc::new(write), cloexec }, limit) {
        Ok(w) => w,
        Err(e) => {
            let _ = t.fds.remove(r);
            return Err(e);
        }
    };
    if let Err(e) = t.mm.write_obj(fds, &[r, w]) {
        let _ = t.fds.remove(r);
        let _ = t.fds.remove(w);
        return Err(e);
    }
    Ok(0)
}

pub fn pipe(t: &mut Task, fds: u64) -> SyscallResult {
    pipe2(t, fds, 0)
}
