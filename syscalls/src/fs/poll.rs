//! poll, ppoll, select and pselect6.
//!
//! Each file says which events it is ready for (regular files and
//! directories always are; pipes and eventfds by their state). A wait sits on
//! the wait queues of the files (`FileOps::wait_queues`) and polls the host
//! fds among them (the stdio the sandbox was given) on the host, until one is
//! ready, the timeout passes, or a signal interrupts it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::signal::SigSet;
use abi::structs::Timespec;
use abi::Errno;
use sentry::{SyscallResult, Task};
use vfs::file::{POLLHUP, POLLNVAL};
use vfs::waiter::{WaitQueue, Waiter, Wake};
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

/// Fills in `revents` of `fds`, waiting up to `timeout_ms` (None: forever)
/// for one to be ready; returns how many are, or ERESTARTNOHAND when a
/// signal interrupts the wait.
fn wait_ready(t: &Task, fds: &mut [PollFd], timeout_ms: Option<i64>) -> Result<usize, Errno> {
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
    // Ready already (the common case), or not to wait: no queues to gather.
    let ready = scan(fds);
    if ready > 0 || timeout_ms == Some(0) {
        return Ok(ready);
    }
    let deadline = deadline_after(timeout_ms);
    let queues: Vec<_> = files.iter().flatten().flatten().flat_map(|f| f.ops().wait_queues()).collect();
    let mut host: Vec<libc::pollfd> = fds
        .iter()
        .zip(&files)
        .filter_map(|(p, f)| match f {
            Some(Ok(file)) => file.ops().host_fd().map(|fd| libc::pollfd { fd, events: p.events, revents: 0 }),
            _ => None,
        })
        .collect();
    block_until(&queues, &mut host, deadline, || {
        let ready = scan(fds);
        (ready > 0).then_some(ready)
    })
    .map(|r| r.unwrap_or(0))
}

/// The instant `timeout_ms` from now (None: never).
pub(crate) fn deadline_after(timeout_ms: Option<i64>) -> Option<Instant> {
    // A timeout too far ahead to represent is none.
    timeout_ms.and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms.max(0) as u64)))
}

/// Waits until `ready` says something, on `queues` and `host` fds, up to
/// `deadline`: Ok(None) when it passes, ERESTARTNOHAND when a signal comes.
pub(crate) fn block_until<T>(
    queues: &[Arc<WaitQueue>],
    host: &mut [libc::pollfd],
    deadline: Option<Instant>,
    mut ready: impl FnMut() -> Option<T>,
) -> Result<Option<T>, Errno> {
    let w = Waiter::current();
    for q in queues {
        q.register(&w);
    }
    let r = loop {
        // Registered first, then looked: a change after the look notifies.
        if let Some(v) = ready() {
            break Ok(Some(v));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Ok(None);
        }
        match w.block(host, deadline) {
            Wake::Interrupted => break Err(Errno::ERESTARTNOHAND),
            Wake::Event | Wake::TimedOut => {}
        }
    };
    for q in queues {
        q.unregister(&w);
    }
    r
}

fn do_poll(t: &mut Task, addr: u64, nfds: u32, timeout_ms: Option<i64>) -> SyscallResult {
    if nfds as u64 > t.nofile_limit() {
        return Err(Errno::EINVAL);
    }
    let mut fds = vec![PollFd::default(); nfds as usize];
    t.mm.copy_in(addr, fds.as_mut_bytes())?;
    let ready = wait_ready(t, &mut fds, timeout_ms)?;
    t.mm.copy_out(addr, fds.as_bytes())?;
    Ok(ready as u64)
}

pub fn poll(t: &mut Task, fds: u64, nfds: u32, timeout: i32) -> SyscallResult {
    do_poll(t, fds, nfds, (timeout >= 0).then_some(timeout as i64))
}

/// The timeout of ppoll, pselect6 and epoll_pwait2 in milliseconds, rounded
/// up (None: no timeout); EINVAL for a negative or unnormalized timespec.
pub(crate) fn timeout_ms(t: &Task, tsp: UserPtr<Timespec>) -> Result<Option<i64>, Errno> {
    match tsp.read_opt(t)? {
        None => Ok(None),
        Some(ts) if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) => Err(Errno::EINVAL),
        Some(ts) => Ok(Some(ts.tv_sec.saturating_mul(1000).saturating_add((ts.tv_nsec + 999_999) / 1_000_000))),
    }
}

/// The temporary mask of a p-variant wait (None: the mask stays); EINVAL
/// for a sigset size other than 8.
pub(crate) fn wait_mask(t: &Task, sigmask: u64, sigsetsize: usize) -> Result<Option<SigSet>, Errno> {
    if sigmask == 0 {
        return Ok(None);
    }
    if sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(SigSet(t.mm.read_obj(sigmask)?)))
}

/// ppoll: poll with a timespec timeout and a temporary signal mask.
pub fn ppoll(
    t: &mut Task,
    fds: u64,
    nfds: u32,
    tsp: UserPtr<Timespec>,
    sigmask: u64,
    sigsetsize: usize,
) -> SyscallResult {
    // Linux checks the timeout before the mask.
    let timeout = timeout_ms(t, tsp)?;
    let mask = wait_mask(t, sigmask, sigsetsize)?;
    t.with_wait_mask(mask, |t| do_poll(t, fds, nfds, timeout))
}

const POLLIN_SET: i16 = 0x001 | 0x040 | 0x008 | POLLHUP as i16;
const POLLOUT_SET: i16 = 0x004 | 0x100 | 0x008;
const POLLEX_SET: i16 = 0x002;

/// select's three fd sets: read, write, except (each NULL or `nfds` bits).
fn do_select(t: &mut Task, nfds: i32, sets: [u64; 3], timeout_ms: Option<i64>) -> SyscallResult {
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let n = (nfds as u64).min(t.nofile_limit()) as usize;
    let words = n.div_ceil(64);
    let mut bits = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    for (set, addr) in bits.iter_mut().zip(sets) {
        if addr != 0 && words > 0 {
            t.mm.copy_in(addr, set.as_mut_bytes())?;
        }
    }
    let mut fds = Vec::new();
    for fd in 0..n {
        let bit = |k: usize| bits[k][fd / 64] >> (fd % 64) & 1 == 1;
        let events =
            (if bit(0) { 0x001 } else { 0 }) | (if bit(1) { 0x004 } else { 0 }) | (if bit(2) { 0x002 } else { 0 });
        if events != 0 {
            t.fds.get(fd as i32)?;
            fds.push(PollFd { fd: fd as i32, events, revents: 0 });
        }
    }
    wait_ready(t, &mut fds, timeout_ms)?;
    let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    let mut count = 0;
    for p in &fds {
        let fd = p.fd as usize;
        for (k, mask, asked) in [(0, POLLIN_SET, 0x001), (1, POLLOUT_SET, 0x004), (2, POLLEX_SET, 0x002)] {
            if p.events & asked != 0 && p.revents & mask != 0 {
                out[k][fd / 64] |= 1 << (fd % 64);
                count += 1;
            }
        }
    }
    for (set, addr) in out.iter().zip(sets) {
        if addr != 0 && words > 0 {
            t.mm.copy_out(addr, set.as_bytes())?;
        }
    }
    Ok(count)
}

pub fn select(
    t: &mut Task,
    nfds: i32,
    r: u64,
    w: u64,
    e: u64,
    timeout: UserPtr<abi::structs::Timeval>,
) -> SyscallResult {
    let ms = match timeout.read_opt(t)? {
        None => None,
        Some(tv) if tv.tv_sec < 0 || tv.tv_usec < 0 => return Err(Errno::EINVAL),
        Some(tv) => Some(tv.tv_sec.saturating_mul(1000).saturating_add(tv.tv_usec.saturating_add(999) / 1000)),
    };
    let n = do_select(t, nfds, [r, w, e], ms)?;
    // Linux leaves the time not slept in the timeval; no wait is cut short
    // here, so what is left is nothing.
    if !timeout.is_null() {
        timeout.write(t, &abi::structs::Timeval::default())?;
    }
    Ok(n)
}

/// pselect6: the sixth argument points at {sigset pointer, sigset size}.
pub fn pselect6(t: &mut Task, nfds: i32, r: u64, w: u64, e: u64, tsp: UserPtr<Timespec>, sig: u64) -> SyscallResult {
    let [ss, size]: [u64; 2] = if sig == 0 { [0, 0] } else { t.mm.read_obj(sig)? };
    let ms = timeout_ms(t, tsp)?;
    let mask = wait_mask(t, ss, size as usize)?;
    t.with_wait_mask(mask, |t| do_select(t, nfds, [r, w, e], ms))
}
