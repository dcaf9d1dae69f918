//! clock_gettime, clock_getres, gettimeofday, time.

use abi::consts::*;
use abi::structs::{Timespec, Timeval, Timezone};
use abi::Errno;
use sentry::task::RestartBlock;
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

/// The host clock that sandbox clock `id` reads. The alarm clocks read as
/// their base clocks, and the coarse clocks as the precise ones, as the vDSO
/// reads them (`sentry::vdso`; gVisor does the same): a coarse reading is
/// then never behind a precise one, by either path.
fn host_id(id: i32) -> i32 {
    match id {
        CLOCK_REALTIME_ALARM | CLOCK_REALTIME_COARSE => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        CLOCK_MONOTONIC_COARSE => CLOCK_MONOTONIC,
        other => other,
    }
}

/// Sandbox clock `id` (one `host_clock` accepts) now.
pub(crate) fn host_now(id: i32) -> Result<Timespec, Errno> {
    sentry::host::clock_gettime(host_id(id))
}

/// The value of CPU clock `id`: the process's or thread's own clocks, or a
/// clock named by pid (clock_getcpuclockid's ((~pid) << 3) | type, with the
/// per-thread bit 4). EINVAL for other clocks or a pid that is gone.
pub fn cpu_clock_now(t: &Task, id: i32) -> Result<std::time::Duration, Errno> {
    let ts = t.tasks();
    match id {
        CLOCK_PROCESS_CPUTIME_ID => return Ok(ts.process_cpu(t.tgid, true)),
        CLOCK_THREAD_CPUTIME_ID => return Ok(t.handle.cpu_time(true)),
        id if id >= 0 => return Err(Errno::EINVAL),
        _ => {}
    }
    let kind = id & 3;
    if kind == 3 {
        return Err(Errno::EINVAL);
    }
    let pid = !(id >> 3);
    // CPUCLOCK_VIRT counts only the application's time.
    let with_sentry = kind != 1;
    if id & 4 != 0 {
        let tid = if pid == 0 { t.tid } else { pid };
        let th = ts.threads.get(&tid).filter(|th| th.tgid == t.tgid).ok_or(Errno::EINVAL)?;
        return Ok(th.handle.cpu_time(with_sentry));
    }
    let tgid = if pid == 0 { t.tgid } else { pid };
    match ts.process(tgid) {
        Some(p) if !p.threads.is_empty() => Ok(ts.process_cpu(tgid, with_sentry)),
        _ => Err(Errno::EINVAL),
    }
}

pub fn clock_gettime(t: &mut Task, id: i32, tp: UserPtr<Timespec>) -> SyscallResult {
    let now = if host_clock(id) {
        host_now(id)?
    } else {
        let d = cpu_clock_now(t, id)?;
        Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 }
    };
    tp.write(t, &now).map(|_| 0)
}

pub fn clock_getres(t: &mut Task, id: i32, res: UserPtr<Timespec>) -> SyscallResult {
    if !host_clock(id) {
        // CPU clocks have a resolution of 1 ns.
        cpu_clock_now(t, id)?;
        return res.write_opt(t, &Timespec { tv_sec: 0, tv_nsec: 1 }).map(|_| 0);
    }
    let r = t.kernel.host.clock_res.get(id as usize).copied().flatten().ok_or(Errno::EINVAL)?;
    res.write_opt(t, &r).map(|_| 0)
}

pub fn gettimeofday(t: &mut Task, tv: UserPtr<Timeval>, tz: UserPtr<Timezone>) -> SyscallResult {
    let now = host_now(CLOCK_REALTIME)?;
    tv.write_opt(t, &Timeval { tv_sec: now.tv_sec, tv_usec: now.tv_nsec / 1000 })?;
    tz.write_opt(t, &Timezone::default()).map(|_| 0)
}

pub fn time(t: &mut Task, tloc: UserPtr<i64>) -> SyscallResult {
    let now = host_now(CLOCK_REALTIME)?.tv_sec;
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

fn to_ns(ts: Timespec) -> i64 {
    ts.tv_sec.saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec)
}

/// Sleeps until host clock `id` reads `deadline_ns`, or until a signal
/// comes. Then a relative sleep stores what is left in `rem` and is resumed
/// by restart_syscall if no handler runs (ERESTART_RESTARTBLOCK); an
/// absolute one is simply restarted (ERESTARTNOHAND).
fn sleep_until(t: &mut Task, id: i32, deadline_ns: i64, rem: UserPtr<Timespec>, relative: bool) -> SyscallResult {
    loop {
        let left = deadline_ns.saturating_sub(to_ns(host_now(id)?));
        if left <= 0 {
            return Ok(0);
        }
        let until = std::time::Instant::now().checked_add(std::time::Duration::from_nanos(left as u64));
        if t.handle.waiter.block(&mut [], until) != vfs::waiter::Wake::Interrupted {
            continue;
        }
        if !relative {
            return Err(Errno::ERESTARTNOHAND);
        }
        let left = deadline_ns.saturating_sub(to_ns(host_now(id)?)).max(0);
        rem.write_opt(t, &Timespec { tv_sec: left / 1_000_000_000, tv_nsec: left % 1_000_000_000 })?;
        t.restart_block = Some(RestartBlock::Sleep { clock: id, deadline_ns, rem: rem.addr });
        return Err(Errno::ERESTART_RESTARTBLOCK);
    }
}

/// restart_syscall: resumes the call a signal interrupted (a sleep).
pub fn restart_syscall(t: &mut Task) -> SyscallResult {
    match t.restart_block.take() {
        Some(RestartBlock::Sleep { clock, deadline_ns, rem }) => {
            sleep_until(t, clock, deadline_ns, UserPtr::from_addr(rem), true)
        }
        None => Err(Errno::EINTR),
    }
}

pub fn nanosleep(t: &mut Task, req: UserPtr<Timespec>, rem: UserPtr<Timespec>) -> SyscallResult {
    let ts = read_request(t, req)?;
    let deadline = to_ns(host_now(CLOCK_MONOTONIC)?).saturating_add(to_ns(ts));
    sleep_until(t, CLOCK_MONOTONIC, deadline, rem, true)
}

const TIMER_ABSTIME: u32 = 1;

/// clock_nanosleep on the wall and monotonic clocks. Sleeping on a CPU-time
/// clock (which advances only while the application runs) is not served yet.
pub fn clock_nanosleep(
    t: &mut Task,
    id: i32,
    flags: u32,
    req: UserPtr<Timespec>,
    rem: UserPtr<Timespec>,
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
    if flags & TIMER_ABSTIME != 0 {
        sleep_until(t, host_id, to_ns(ts), rem, false)
    } else {
        let deadline = to_ns(host_now(host_id)?).saturating_add(to_ns(ts));
        sleep_until(t, host_id, deadline, rem, true)
    }
}
