//! poll and ppoll.
//!
//! Files in the sandbox's own filesystems are always ready. The stdio host fds
//! are asked on the host; when a call must wait and every fd it waits for is
//! such a host fd, the wait is a host poll on them. Pipes, sockets and event
//! fds (files that become ready inside the sandbox) need wait queues, which
//! arrive with them.

use abi::structs::Timespec;
use abi::Errno;
use sentry::{SyscallResult, Task};
use vfs::file::{POLLHUP, POLLNVAL};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::args::UserPtr;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

/// POLLERR and POLLHUP are reported whether asked for or not.
const ALWAYS: u32 = 0x008 | POLLHUP;

fn do_poll(t: &mut Task, addr: u64, nfds: u32, timeout_ms: Option<i64>) -> SyscallResult {
    if nfds as u64 > t.nofile_limit() {
        return Err(Errno::EINVAL);
    }
    let mut fds = vec![PollFd::default(); nfds as usize];
    t.mm.copy_in(addr, fds.as_mut_bytes())?;
    let files: Vec<_> = fds.iter().map(|p| if p.fd < 0 { None } else { Some(t.fds.file(p.fd)) }).collect();
    let scan = |fds: &mut [PollFd]| -> usize {
        let mut ready = 0;
        for (p, f) in fds.iter_mut().zip(&files) {
            let events = p.events as u16 as u32 | ALWAYS;
            p.revents = match f {
                None => 0,
                Some(Err(_)) => POLLNVAL as i16,
                Some(Ok(file)) => (file.ops().readiness(events) & events) as i16,
            };
            ready += (p.revents != 0) as usize;
        }
        ready
    };
    let mut ready = scan(&mut fds);
    if ready == 0 && timeout_ms != Some(0) {
        // Wait on the host for the host fds; anything else is ready already.
        let mut host: Vec<libc::pollfd> = fds
            .iter()
            .zip(&files)
            .filter_map(|(p, f)| match f {
                Some(Ok(file)) => file.ops().host_fd().map(|fd| libc::pollfd { fd, events: p.events, revents: 0 }),
                _ => None,
            })
            .collect();
        let ms = timeout_ms.map_or(-1, |m| m.clamp(0, i32::MAX as i64) as i32);
        if host.is_empty() {
            if ms > 0 {
                std::thread::sleep(std::time::Duration::from_millis(ms as u64));
            } else if ms < 0 {
                // Nothing can ever become ready: a wait forever, as in Linux.
                loop {
                    std::thread::park();
                }
            }
        } else {
            // SAFETY: `host` is a valid array of pollfds for the call.
            unsafe { libc::poll(host.as_mut_ptr(), host.len() as libc::nfds_t, ms) };
        }
        ready = scan(&mut fds);
    }
    t.mm.copy_out(addr, fds.as_bytes())?;
    Ok(ready as u64)
}

pub fn poll(t: &mut Task, fds: u64, nfds: u32, timeout: i32) -> SyscallResult {
    do_poll(t, fds, nfds, (timeout >= 0).then_some(timeout as i64))
}

/// ppoll: the signal mask it would install only matters to signal delivery,
/// which does not run handlers yet; its size is checked as Linux does.
pub fn ppoll(
    t: &mut Task,
    fds: u64,
    nfds: u32,
    tsp: UserPtr<Timespec>,
    sigmask: u64,
    sigsetsize: usize,
) -> SyscallResult {
    if sigmask != 0 && sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    let timeout = match tsp.read_opt(t)? {
        None => None,
        Some(ts) if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) => return Err(Errno::EINVAL),
        Some(ts) => Some(ts.tv_sec.saturating_mul(1000).saturating_add((ts.tv_nsec + 999_999) / 1_000_000)),
    };
    do_poll(t, fds, nfds, timeout)
}
