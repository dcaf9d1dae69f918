//! The host's clocks and CPU number, as the Sentry reads them. The syscall
//! handlers reach the host only through here (the syscalls crate forbids
//! unsafe code); each call is one the Sentry's seccomp filter allows.

use std::time::Duration;

use abi::structs::Timespec;
use abi::Errno;

/// The host's clock `id` now (clock_gettime). EINVAL for a clock the host
/// does not have.
pub fn clock_gettime(id: i32) -> Result<Timespec, Errno> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the pointer, which
    // points at `ts`; it touches nothing else.
    if unsafe { libc::clock_gettime(id, &mut ts) } < 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    Ok(Timespec { tv_sec: ts.tv_sec, tv_nsec: ts.tv_nsec })
}

/// The resolution of the host's clock `id` (clock_getres), read at boot
/// (`HostInfo::clock_res`): the Sentry's filter does not allow the call.
pub fn clock_getres(id: i32) -> Result<Timespec, Errno> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_getres writes one timespec through the pointer, which
    // points at `ts`; it touches nothing else.
    if unsafe { libc::clock_getres(id, &mut ts) } < 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    Ok(Timespec { tv_sec: ts.tv_sec, tv_nsec: ts.tv_nsec })
}

/// The CPU time host thread `tid` (of the Sentry) has used: its
/// CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD clock. Zero once the thread is gone.
pub fn thread_cpu_time(tid: i32) -> Duration {
    let clock = ((!tid) << 3) | 6;
    match clock_gettime(clock) {
        Ok(ts) => Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32),
        Err(_) => Duration::ZERO,
    }
}

/// The CPU the calling host thread runs on (0 if the host cannot say).
pub fn current_cpu() -> u32 {
    // SAFETY: sched_getcpu takes no arguments and only reads the CPU number.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).unwrap_or(0)
}
