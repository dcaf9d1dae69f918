//! eventfd, eventfd2.

use std::sync::Arc;

use abi::consts::*;
use abi::Errno;
use sentry::fdtable::FdEntry;
use sentry::{SyscallResult, Task};
use vfs::eventfd::EventFd;
use vfs::FileDescription;

const EFD_SEMAPHORE: u32 = 1;

pub fn eventfd2(t: &mut Task, initval: u32, flags: u32) -> SyscallResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK | EFD_SEMAPHORE) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = EventFd::new(initval as u64, flags & EFD_SEMAPHORE != 0);
    let file = FileDescription::new(O_RDWR | (flags & O_NONBLOCK), Box::new(ops), None);
    let limit = t.nofile_limit();
    t.fds.install(0, FdEntry { file: Arc::new(file), cloexec: flags & O_CLOEXEC != 0 }, limit).map(|fd| fd as u64)
}

pub fn eventfd(t: &mut Task, initval: u32) -> SyscallResult {
    eventfd2(t, initval, 0)
}
