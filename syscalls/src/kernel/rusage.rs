//! getrusage and times: the application's CPU time is user time, the
//! Sentry's work on its behalf is system time.

use std::time::Duration;

use abi::structs::Timeval;
use abi::Errno;
use sentry::process::Usage;
use sentry::{SyscallResult, Task};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::args::UserPtr;

/// struct rusage.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
pub struct Rusage {
    utime: Timeval,
    stime: Timeval,
    maxrss: i64,
    rest: [i64; 13],
}

impl Rusage {
    pub fn of(u: &Usage) -> Rusage {
        let tv = |d: Duration| Timeval { tv_sec: d.as_secs() as i64, tv_usec: d.subsec_micros() as i64 };
        Rusage { utime: tv(u.user), stime: tv(u.system), maxrss: u.maxrss_kb as i64, rest: [0; 13] }
    }
}

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;

pub fn getrusage(t: &mut Task, who: i32, out: UserPtr<Rusage>) -> SyscallResult {
    let u = {
        let ts = t.tasks();
        match who {
            RUSAGE_SELF => ts.process_usage(t.tgid),
            RUSAGE_CHILDREN => ts.current_process(t).children_usage,
            RUSAGE_THREAD => Usage {
                user: t.handle.cpu_time(false),
                system: sentry::host::thread_cpu_time(t.handle.host_tid),
                maxrss_kb: t.mm.resident_bytes() / 1024,
            },
            _ => return Err(Errno::EINVAL),
        }
    };
    out.write(t, &Rusage::of(&u)).map(|_| 0)
}

/// Clock ticks per second (USER_HZ), as times and AT_CLKTCK count.
pub const USER_HZ: u64 = 100;

pub fn ticks(d: Duration) -> u64 {
    (d.as_nanos() / (1_000_000_000 / USER_HZ as u128)) as u64
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
pub struct Tms {
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

/// times: the process's and its reaped children's times in ticks; returns
/// the ticks since an arbitrary point (the host's boot).
pub fn times(t: &mut Task, buf: UserPtr<Tms>) -> SyscallResult {
    let (me, kids) = {
        let ts = t.tasks();
        (ts.process_usage(t.tgid), ts.current_process(t).children_usage)
    };
    let tms =
        Tms { utime: ticks(me.user), stime: ticks(me.system), cutime: ticks(kids.user), cstime: ticks(kids.system) };
    buf.write_opt(t, &tms)?;
    let now = sentry::host::clock_gettime(abi::consts::CLOCK_BOOTTIME)?;
    Ok(ticks(Duration::new(now.tv_sec as u64, now.tv_nsec as u32)))
}
