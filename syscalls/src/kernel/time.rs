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
