//! clock_gettime, clock_getres, gettimeofday, time.

use abi::consts::*;
use abi::structs::{Timespec, Timeval, Timezone};
use abi::Errno;
use sentry::{SyscallResult, Task};

use crate::args::UserPtr;

/// Clocks the sandbox reads from the host clock of the same id.
fn host_clock(id: i32) -> bool {
    matches!(
        id,
        CLOCK_REALTIME
            | CLOCK_MONOTONIC
            | CLOCK_MONOTONIC_RAW
            | CLOCK_REALTIME_COARSE
            | CLOCK_MONOTONIC_COARSE
            | CLOCK_BOOTTIME
            | CLOCK_REALTIME_ALARM
            | CLOCK_BOOTTIME_ALARM
            | CLOCK_TAI
    )
}

fn host_now(id: i32) -> Timespec {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // The alarm clocks read as their base clocks.
    let id = match id {
        CLOCK_REALTIME_ALARM => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        other => other,
    };
    // SAFETY: clock_gettime writes one timespec; `id` is a valid host clock.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Timespec { tv_sec: ts.tv_sec, tv_nsec: ts.tv_nsec }
}

/// CPU time of the task: its application code plus the Sentry's work for it.
fn task_cpu_time(t: &Task) -> Timespec {
    let sentry_part = host_now_raw(libc::CLOCK_THREAD_CPUTIME_ID);
    let total = t.context.app_cpu_time() + sentry_part;
    Timespec { tv_sec: total.as_secs() as i64, tv_nsec: total.subsec_nanos() as i64 }
}

fn host_now_raw(id: libc::clockid_t) -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Dynamic clocks (per-pid CPU clocks, clock fds) are not served yet: EINVAL,
/// as for an unknown clock.
pub fn clock_gettime(t: &mut Task, id: i32, tp: UserPtr<Timespec>) -> SyscallResult {
    let now = match id {
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => task_cpu_time(t),
        id if host_clock(id) => host_now(id),
        _ => return Err(Errno::EINVAL),
    };
    tp.write(t, &now).map(|_| 0)
}

pub fn clock_getres(t: &mut Task, id: i32, res: UserPtr<Timespec>) -> SyscallResult {
    if !host_clock(id) && id != CLOCK_PROCESS_CPUTIME_ID && id != CLOCK_THREAD_CPUTIME_ID {
        return Err(Errno::EINVAL);
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_getres writes one timespec; `id` is a valid host clock id.
    unsafe { libc::clock_getres(id, &mut ts) };
    res.write_opt(t, &Timespec { tv_sec: ts.tv_sec, tv_nsec: ts.tv_nsec }).map(|_| 0)
}

pub fn gettimeofday(t: &mut Task, tv: UserPtr<Timeval>, tz: UserPtr<Timezone>) -> SyscallResult {
    let now = host_now(CLOCK_REALTIME);
    tv.write_opt(t, &Timeval { tv_sec: now.tv_sec, tv_usec: now.tv_nsec / 1000 })?;
    tz.write_opt(t, &Timezone::default()).map(|_| 0)
}

pub fn time(t: &mut Task, tloc: UserPtr<i64>) -> SyscallResult {
    let now = host_now(CLOCK_REALTIME).tv_sec;
    tloc.write_opt(t, &now)?;
    Ok(now as u64)
}

/// A valid sleep request: Linux's timespec64_valid.
fn read_request(t: &Task, req: UserPtr<Timespec>) -> Result<Timespec, Errno> {
    let ts = req.read(t)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(ts)
}

/// Sleeps on the host clock `id` until `ts` (absolute) or for `ts`.
///
/// The task thread blocks in the host; nothing can interrupt it yet, because
/// signal delivery to a sleeping task arrives with the signals issue.
fn host_sleep(id: i32, abs: bool, ts: Timespec) {
    let req = libc::timespec { tv_sec: ts.tv_sec, tv_nsec: ts.tv_nsec };
    let flags = if abs { libc::TIMER_ABSTIME } else { 0 };
    let mut left = req;
    loop {
        let cur = left;
        // SAFETY: clock_nanosleep reads `cur` and may write the remainder to `left`.
        let r = unsafe { libc::clock_nanosleep(id, flags, &cur, &mut left) };
        if r != libc::EINTR {
            break;
        }
        if abs {
            left = req;
        }
    }
}

pub fn nanosleep(t: &mut Task, req: UserPtr<Timespec>, _rem: UserPtr<Timespec>) -> SyscallResult {
    let ts = read_request(t, req)?;
    host_sleep(CLOCK_MONOTONIC, false, ts);
    Ok(0)
}

const TIMER_ABSTIME: u32 = 1;

/// clock_nanosleep on the wall and monotonic clocks. Sleeping on a CPU-time
/// clock (which advances only while the application runs) is not served yet.
pub fn clock_nanosleep(
    t: &mut Task,
    id: i32,
    flags: u32,
    req: UserPtr<Timespec>,
    _rem: UserPtr<Timespec>,
) -> SyscallResult {
    let host_id = match id {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_TAI => id,
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM if t.creds.euid != 0 => {
            // Linux validates the request before the capability.
            read_request(t, req)?;
            return Err(Errno::EPERM);
        }
        CLOCK_REALTIME_ALARM => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        // Clocks without a sleep operation in Linux.
        CLOCK_THREAD_CPUTIME_ID | CLOCK_MONOTONIC_RAW | CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => {
            return Err(Errno::EOPNOTSUPP)
        }
        // Linux can; rVisor does not yet (see the table).
        CLOCK_PROCESS_CPUTIME_ID => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::EINVAL),
    };
    let ts = read_request(t, req)?;
    host_sleep(host_id, flags & TIMER_ABSTIME != 0, ts);
    Ok(0)
}
