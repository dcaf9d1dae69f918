//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait and
//! epoll_pwait2.

use std::sync::Arc;

use abi::consts::*;
use abi::structs::Timespec;
use abi::Errno;
use sentry::fdtable::FdEntry;
use sentry::{SyscallResult, Task};
use vfs::epoll::{EventPoll, EPOLLET, EPOLLEXCLUSIVE, EPOLLWAKEUP};
use vfs::FileDescription;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::args::{Fd, UserPtr};
use crate::fs::poll::{block_until, deadline_after, timeout_ms, wait_mask};

const EPOLL_CTL_ADD: i32 = 1;
const EPOLL_CTL_DEL: i32 = 2;
const EPOLL_CTL_MOD: i32 = 3;

/// struct epoll_event: packed on x86-64, 12 bytes.
#[repr(C, packed)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EpollEvent {
    events: u32,
    data: u64,
}

/// The most events one wait may ask for (INT_MAX / sizeof(epoll_event)).
const MAX_EVENTS: i32 = i32::MAX / 12;
/// The events EPOLLEXCLUSIVE may come with.
const EXCLUSIVE_OK: u32 =
    0x001 | 0x004 | 0x040 | 0x080 | 0x100 | 0x200 | 0x008 | 0x010 | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

pub fn epoll_create1(t: &mut Task, flags: u32) -> SyscallResult {
    if flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let file = FileDescription::new(O_RDWR, Box::new(EventPoll::new()), None);
    let limit = t.nofile_limit();
    t.fds.install(0, FdEntry { file: Arc::new(file), cloexec: flags & O_CLOEXEC != 0 }, limit).map(|fd| fd as u64)
}

pub fn epoll_create(t: &mut Task, size: i32) -> SyscallResult {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    epoll_create1(t, 0)
}

pub fn epoll_ctl(t: &mut Task, epfd: Fd, op: i32, fd: Fd, event: UserPtr<EpollEvent>) -> SyscallResult {
    let ev = if op != EPOLL_CTL_DEL { event.read(t)? } else { EpollEvent::default() };
    let ep_file = t.fds.file(epfd.0)?;
    let target = t.fds.file(fd.0)?;
    if !target.ops().pollable() {
        return Err(Errno::EPERM);
    }
    let ep = match vfs::epoll::EventPoll::of(&ep_file) {
        Some(ep) if !Arc::ptr_eq(&ep_file, &target) => ep,
        _ => return Err(Errno::EINVAL),
    };
    // EPOLLWAKEUP needs CAP_BLOCK_SUSPEND, which the sandbox never grants;
    // Linux then drops the flag silently.
    let events = ev.events & !EPOLLWAKEUP;
    if op != EPOLL_CTL_DEL && events & EPOLLEXCLUSIVE != 0 {
        if op == EPOLL_CTL_MOD {
            return Err(Errno::EINVAL);
        }
        if op == EPOLL_CTL_ADD && (vfs::epoll::EventPoll::of(&target).is_some() || events & !EXCLUSIVE_OK != 0) {
            return Err(Errno::EINVAL);
        }
    }
    match op {
        EPOLL_CTL_ADD => ep.add(fd.0, &target, events, ev.data),
        EPOLL_CTL_MOD => ep.modify(fd.0, &target, events, ev.data),
        EPOLL_CTL_DEL => ep.delete(fd.0, &target),
        _ => Err(Errno::EINVAL),
    }
    .map(|_| 0)
}

/// The common wait: checks as Linux does, then waits up to `timeout_ms`
/// (None: forever) for events and copies them out.
fn wait(t: &mut Task, epfd: Fd, events: u64, maxevents: i32, timeout_ms: Option<i64>) -> SyscallResult {
    if maxevents <= 0 || maxevents > MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    match events.checked_add(maxevents as u64 * 12) {
        Some(end) if end <= TASK_SIZE => {}
        _ => return Err(Errno::EFAULT),
    }
    let file = t.fds.file(epfd.0)?;
    let ep = vfs::epoll::EventPoll::of(&file).ok_or(Errno::EINVAL)?;
    let mut ready = ep.collect(maxevents as usize);
    if ready.is_empty() && timeout_ms != Some(0) {
        ready = wait_for_events(ep, &file, maxevents, timeout_ms)?;
    }
    let out: Vec<EpollEvent> = ready.iter().map(|&(events, data)| EpollEvent { events, data }).collect();
    t.mm.copy_out(events, out.as_bytes())?;
    Ok(out.len() as u64)
}

/// Waits on the watched files' queues (and host fds) for events.
fn wait_for_events(
    ep: &vfs::epoll::EventPoll,
    file: &vfs::FileDescription,
    maxevents: i32,
    timeout_ms: Option<i64>,
) -> Result<Vec<(u32, u64)>, Errno> {
    let deadline = deadline_after(timeout_ms);
    let queues = file.ops().wait_queues();
    let mut host: Vec<libc::pollfd> =
        ep.host_fds().into_iter().map(|(fd, ev)| libc::pollfd { fd, events: ev as i16, revents: 0 }).collect();
    let ready = block_until(&queues, &mut host, deadline, || {
        let r = ep.collect(maxevents as usize);
        (!r.is_empty()).then_some(r)
    })
    // epoll_wait is never restarted: a signal ends it with EINTR.
    .map_err(|_| Errno::EINTR)?
    .unwrap_or_default();
    Ok(ready)
}

pub fn epoll_wait(t: &mut Task, epfd: Fd, events: u64, maxevents: i32, timeout: i32) -> SyscallResult {
    wait(t, epfd, events, maxevents, (timeout >= 0).then_some(timeout as i64))
}

/// epoll_pwait: epoll_wait with a temporary signal mask.
pub fn epoll_pwait(
    t: &mut Task,
    epfd: Fd,
    events: u64,
    maxevents: i32,
    timeout: i32,
    sigmask: u64,
    sigsetsize: usize,
) -> SyscallResult {
    let mask = wait_mask(t, sigmask, sigsetsize)?;
    t.with_wait_mask(mask, |t| epoll_wait(t, epfd, events, maxevents, timeout))
}

/// epoll_pwait2: as epoll_pwait, with a timespec timeout.
pub fn epoll_pwait2(
    t: &mut Task,
    epfd: Fd,
    events: u64,
    maxevents: i32,
    timeout: UserPtr<Timespec>,
    sigmask: u64,
    sigsetsize: usize,
) -> SyscallResult {
    let timeout = timeout_ms(t, timeout)?;
    let mask = wait_mask(t, sigmask, sigsetsize)?;
    t.with_wait_mask(mask, |t| wait(t, epfd, events, maxevents, timeout))
}
