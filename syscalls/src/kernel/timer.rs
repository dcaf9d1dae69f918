//! Timers: alarm, setitimer, getitimer; timer_create and its family;
//! timerfd_create, timerfd_settime, timerfd_gettime. They all run on the
//! kernel's timer service (sentry::timer).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use abi::consts::*;
use abi::signal::*;
use abi::structs::{Timespec, Timeval};
use abi::Errno;
use sentry::process::{Overrun, PosixTimer, Target};
use sentry::timer::{Timer, TimerAction, TimerClock, TimerFd, TimerValue};
use sentry::{Kernel, SyscallResult, Task};
use vfs::file::FileDescription;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::args::UserPtr;
use crate::kernel::time::{cpu_clock_now, host_now};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
pub struct Itimerval {
    interval: Timeval,
    value: Timeval,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
pub struct Itimerspec {
    interval: Timespec,
    value: Timespec,
}

fn tv_of(d: Duration) -> Timeval {
    Timeval { tv_sec: d.as_secs() as i64, tv_usec: d.subsec_micros() as i64 }
}

fn ts_of(d: Duration) -> Timespec {
    Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 }
}

fn dur_tv(tv: Timeval) -> Result<Duration, Errno> {
    if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_usec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}

fn dur_ts(ts: Timespec) -> Result<Duration, Errno> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// An action that sends `info` to `target`, reporting whether it was queued.
fn signal_action(kernel: &Arc<Kernel>, target: Target, info: SigInfo) -> impl Fn() -> bool + Send + Sync {
    let k: Weak<Kernel> = Arc::downgrade(kernel);
    move || k.upgrade().is_some_and(|k| k.tasks.lock().unwrap().send(target, info).unwrap_or(false))
}

// ---- interval timers ----

const ITIMER_REAL: i32 = 0;
const ITIMER_VIRTUAL: i32 = 1;
const ITIMER_PROF: i32 = 2;

/// The process's interval timer `which`, made on first use.
fn itimer(t: &Task, which: i32) -> Result<Arc<Timer>, Errno> {
    let mut ts = t.tasks();
    let p = ts.current_process_mut(t);
    let slot = usize::try_from(which).ok().and_then(|w| p.itimers.get_mut(w)).ok_or(Errno::EINVAL)?;
    if let Some(timer) = slot {
        return Ok(timer.clone());
    }
    let (sig, clock) = match which {
        ITIMER_REAL => (SIGALRM, TimerClock::Wall),
        ITIMER_VIRTUAL => (SIGVTALRM, process_cpu_clock(&t.kernel, t.tgid, false)),
        _ => (SIGPROF, process_cpu_clock(&t.kernel, t.tgid, true)),
    };
    let send = signal_action(&t.kernel, Target::Process(t.tgid), SigInfo::new(sig, SI_KERNEL));
    let timer = t.kernel.timers.new_timer(
        clock,
        Box::new(move |_| {
            send();
        }),
    );
    *slot = Some(timer.clone());
    Ok(timer)
}

/// A clock of process `tgid`'s CPU time.
fn process_cpu_clock(kernel: &Arc<Kernel>, tgid: i32, with_sentry: bool) -> TimerClock {
    let k: Weak<Kernel> = Arc::downgrade(kernel);
    TimerClock::Cpu(Box::new(move || {
        k.upgrade().map_or(Duration::ZERO, |k| k.tasks.lock().unwrap().process_cpu(tgid, with_sentry))
    }))
}

fn itimerval(v: TimerValue) -> Itimerval {
    Itimerval { interval: tv_of(v.interval), value: tv_of(v.left) }
}

pub fn setitimer(t: &mut Task, which: i32, new: UserPtr<Itimerval>, old: UserPtr<Itimerval>) -> SyscallResult {
    if !(ITIMER_REAL..=ITIMER_PROF).contains(&which) {
        return Err(Errno::EINVAL);
    }
    // A NULL new value disarms, as Linux (with a warning) does.
    let n = new.read_opt(t)?.unwrap_or_default();
    let (value, interval) = (dur_tv(n.value)?, dur_tv(n.interval)?);
    let timer = itimer(t, which)?;
    let prev = t.kernel.timers.set(&timer, value, interval);
    old.write_opt(t, &itimerval(prev)).map(|_| 0)
}

pub fn getitimer(t: &mut Task, which: i32, cur: UserPtr<Itimerval>) -> SyscallResult {
    if !(ITIMER_REAL..=ITIMER_PROF).contains(&which) {
        return Err(Errno::EINVAL);
    }
    let v = itimer(t, which)?.get(&t.kernel.timers);
    cur.write(t, &itimerval(v)).map(|_| 0)
}

/// alarm: ITIMER_REAL in whole seconds; returns the seconds that were left
/// (rounded to the nearest, at least 1 if any time was left).
pub fn alarm(t: &mut Task, secs: u32) -> SyscallResult {
    let timer = itimer(t, ITIMER_REAL)?;
    let prev = t.kernel.timers.set(&timer, Duration::from_secs(secs as u64), Duration::ZERO);
    if prev.left.is_zero() {
        return Ok(0);
    }
    let mut s = prev.left.as_secs();
    if prev.left.subsec_micros() >= 500_000 || s == 0 {
        s += 1;
    }
    Ok(s)
}

// ---- POSIX timers ----

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;
/// Linux's limit of POSIX timers per process is RLIMIT_SIGPENDING; a fixed bound here.
const MAX_TIMERS: usize = 32768;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
pub struct SigEvent {
    value: u64,
    signo: i32,
    notify: i32,
    tid: i32,
    pad: [u32; 11],
}

/// A timer's clock: wall clocks run on the monotonic clock (absolute times
/// are converted when armed), CPU clocks are sampled.
fn timer_clock(t: &Task, clock_id: i32) -> Result<TimerClock, Errno> {
    match clock_id {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_TAI => Ok(TimerClock::Wall),
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => {
            if t.creds.euid != 0 {
                return Err(Errno::EPERM);
            }
            Ok(TimerClock::Wall)
        }
        CLOCK_PROCESS_CPUTIME_ID => Ok(process_cpu_clock(&t.kernel, t.tgid, true)),
        CLOCK_THREAD_CPUTIME_ID => {
            let h = t.handle.clone();
            Ok(TimerClock::Cpu(Box::new(move || h.cpu_time(true))))
        }
        id if id < 0 => {
            // A process's clock named by pid, sampled like the others.
            cpu_clock_now(t, id)?;
            let kernel = Arc::downgrade(&t.kernel);
            let pid = !(id >> 3);
            let target = if pid == 0 { t.tgid } else { pid };
            let with_sentry = id & 3 != 1;
            Ok(TimerClock::Cpu(Box::new(move || {
                kernel.upgrade().map_or(Duration::ZERO, |k| k.tasks.lock().unwrap().process_cpu(target, with_sentry))
            })))
        }
        _ => Err(Errno::EINVAL),
    }
}

pub fn timer_create(t: &mut Task, clock_id: i32, sevp: UserPtr<SigEvent>, id_out: UserPtr<i32>) -> SyscallResult {
    let clock = timer_clock(t, clock_id)?;
    let ev = sevp.read_opt(t)?;
    let id = {
        let ts = t.tasks();
        let p = ts.current_process(t);
        if p.posix_timers.len() >= MAX_TIMERS {
            return Err(Errno::EAGAIN);
        }
        // Fewer than MAX_TIMERS ids are taken: one of the first MAX_TIMERS is free.
        (0..MAX_TIMERS as i32).find(|i| !p.posix_timers.contains_key(i)).ok_or(Errno::EAGAIN)?
    };
    let ev = ev.unwrap_or(SigEvent { value: id as u64, signo: SIGALRM, notify: SIGEV_SIGNAL, ..Default::default() });
    let target = match ev.notify {
        SIGEV_NONE => None,
        SIGEV_SIGNAL | SIGEV_THREAD_ID => {
            if !(1..=SIGRTMAX).contains(&ev.signo) {
                return Err(Errno::EINVAL);
            }
            if ev.notify == SIGEV_THREAD_ID {
                let ts = t.tasks();
                if ts.threads.get(&ev.tid).is_none_or(|th| th.tgid != t.tgid) {
                    return Err(Errno::EINVAL);
                }
                Some(Target::Thread(ev.tid))
            } else {
                Some(Target::Process(t.tgid))
            }
        }
        _ => return Err(Errno::EINVAL),
    };
    let overrun = Arc::new(Mutex::new(Overrun::default()));
    let action: TimerAction = match target {
        None => Box::new(|_| {}),
        Some(target) => {
            let mut info = SigInfo::new(ev.signo, SI_TIMER);
            info.fields[0] = id as u32 as u64;
            info.fields[1] = ev.value;
            let (k, o): (Weak<Kernel>, _) = (Arc::downgrade(&t.kernel), overrun.clone());
            Box::new(move |n| {
                let Some(k) = k.upgrade() else { return };
                // The task set first, then the overrun: the order of signal
                // delivery, which updates the overrun under the task set.
                let mut ts = k.tasks.lock().unwrap();
                let mut st = o.lock().unwrap();
                if st.queued {
                    // Its signal still waits: count the expiration instead.
                    st.missed += n;
                    return;
                }
                st.missed = n - 1;
                st.queued = ts.send(target, info).unwrap_or(false);
            })
        }
    };
    let timer = t.kernel.timers.new_timer(clock, action);
    id_out.write(t, &id)?;
    let pt = PosixTimer { timer, clock_id, overrun };
    t.tasks().current_process_mut(t).posix_timers.insert(id, pt);
    Ok(0)
}

/// The timer `id` of the caller's process.
fn posix_timer(t: &Task, id: i32) -> Result<PosixTimer, Errno> {
    t.tasks().current_process(t).posix_timers.get(&id).cloned().ok_or(Errno::EINVAL)
}

fn itimerspec(v: TimerValue) -> Itimerspec {
    Itimerspec { interval: ts_of(v.interval), value: ts_of(v.left) }
}

/// How far from now absolute time `at` is on `clock_id` (at least 1 ns:
/// a time passed expires at once).
fn until(t: &Task, clock_id: i32, at: Duration) -> Result<Duration, Errno> {
    let now = match clock_id {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_TAI | CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => {
            let ts = host_now(clock_id)?;
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        }
        id => cpu_clock_now(t, id)?,
    };
    Ok(at.saturating_sub(now).max(Duration::from_nanos(1)))
}

const TIMER_ABSTIME: i32 = 1;

pub fn timer_settime(
    t: &mut Task,
    id: i32,
    flags: i32,
    new: UserPtr<Itimerspec>,
    old: UserPtr<Itimerspec>,
) -> SyscallResult {
    let n = new.read(t)?;
    let pt = posix_timer(t, id)?;
    let (mut value, interval) = (dur_ts(n.value)?, dur_ts(n.interval)?);
    if flags & TIMER_ABSTIME != 0 && !value.is_zero() {
        value = until(t, pt.clock_id, value)?;
    }
    let prev = t.kernel.timers.set(&pt.timer, value, interval);
    old.write_opt(t, &itimerspec(prev)).map(|_| 0)
}

pub fn timer_gettime(t: &mut Task, id: i32, cur: UserPtr<Itimerspec>) -> SyscallResult {
    let v = posix_timer(t, id)?.timer.get(&t.kernel.timers);
    cur.write(t, &itimerspec(v)).map(|_| 0)
}

pub fn timer_getoverrun(t: &mut Task, id: i32) -> SyscallResult {
    let last = posix_timer(t, id)?.overrun.lock().unwrap().last;
    Ok(last.min(i32::MAX as u64))
}

pub fn timer_delete(t: &mut Task, id: i32) -> SyscallResult {
    let pt = t.tasks().current_process_mut(t).posix_timers.remove(&id).ok_or(Errno::EINVAL)?;
    t.kernel.timers.set(&pt.timer, Duration::ZERO, Duration::ZERO);
    Ok(0)
}

// ---- timerfd ----

const TFD_TIMER_ABSTIME: i32 = 1;
const TFD_TIMER_CANCEL_ON_SET: i32 = 2;

pub fn timerfd_create(t: &mut Task, clock_id: i32, flags: u32) -> SyscallResult {
    if flags & !(O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    match clock_id {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME => {}
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM if t.creds.euid == 0 => {}
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    }
    let tfd = TimerFd::new(&t.kernel.timers, clock_id);
    let file = FileDescription::new(O_RDWR | (flags & O_NONBLOCK), Box::new(tfd), None);
    let entry = sentry::fdtable::FdEntry { file: Arc::new(file), cloexec: flags & O_CLOEXEC != 0 };
    t.fds.install(0, entry, t.nofile_limit()).map(|fd| fd as u64)
}

/// The timerfd `file` is (EINVAL for any other file).
fn timerfd(file: &FileDescription) -> Result<&TimerFd, Errno> {
    file.ops().as_any().and_then(|a| a.downcast_ref::<TimerFd>()).ok_or(Errno::EINVAL)
}

pub fn timerfd_settime(
    t: &mut Task,
    fd: i32,
    flags: i32,
    new: UserPtr<Itimerspec>,
    old: UserPtr<Itimerspec>,
) -> SyscallResult {
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let n = new.read(t)?;
    let file = t.fds.file(fd)?;
    let tfd = timerfd(&file)?;
    let (mut value, interval) = (dur_ts(n.value)?, dur_ts(n.interval)?);
    if flags & TFD_TIMER_ABSTIME != 0 && !value.is_zero() {
        value = until(t, tfd.clock_id(), value)?;
    }
    let prev = tfd.set(&t.kernel.timers, value, interval);
    old.write_opt(t, &itimerspec(prev)).map(|_| 0)
}

pub fn timerfd_gettime(t: &mut Task, fd: i32, cur: UserPtr<Itimerspec>) -> SyscallResult {
    let file = t.fds.file(fd)?;
    let tfd = timerfd(&file)?;
    let v = tfd.timer().get(&t.kernel.timers);
    cur.write(t, &itimerspec(v)).map(|_| 0)
}
