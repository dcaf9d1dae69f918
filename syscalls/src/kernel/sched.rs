//! sched_getaffinity, sched_yield, the scheduling policy and priority calls,
//! getpriority/setpriority and getcpu. Policies and nice values are kept
//! and reported; the host schedules the sandbox's threads as it sees fit.

use abi::Errno;
use sentry::mm::Access;
use sentry::process::{Process, Tasks};
use sentry::{SyscallResult, Task};

use crate::args::{UserBuf, UserPtr};

/// Reports the CPUs the sandbox may use (the task threads' own pinning is the
/// platform's business and is not shown).
pub fn sched_getaffinity(t: &mut Task, pid: i32, len: u32, mask: UserBuf) -> SyscallResult {
    let host = &t.kernel.host;
    if (len.wrapping_mul(8) as usize) < host.nr_cpu_ids || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && !t.tasks().threads.contains_key(&pid) {
        return Err(Errno::ESRCH);
    }
    let bytes = &host.cpu_mask;
    let n = bytes.len().min(len as usize);
    let b = t.mm.blocks(mask.0, n as u64, Access::Write)?;
    if b.len() < n {
        return Err(Errno::EFAULT);
    }
    b.copy_from(&bytes[..n]);
    Ok(n as u64)
}

pub fn sched_yield(_t: &mut Task) -> SyscallResult {
    std::thread::yield_now();
    Ok(0)
}

const SCHED_OTHER: i32 = 0;
const SCHED_FIFO: i32 = 1;
const SCHED_RR: i32 = 2;
const SCHED_BATCH: i32 = 3;
const SCHED_IDLE: i32 = 5;
const SCHED_DEADLINE: i32 = 6;
/// sched_setscheduler's flag that children go back to SCHED_OTHER.
const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;

/// The priority range of `policy`: (min, max).
fn priority_range(policy: i32) -> Result<(i32, i32), Errno> {
    match policy {
        SCHED_FIFO | SCHED_RR => Ok((1, 99)),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok((0, 0)),
        _ => Err(Errno::EINVAL),
    }
}

pub fn sched_get_priority_max(_t: &mut Task, policy: i32) -> SyscallResult {
    priority_range(policy).map(|r| r.1 as u64)
}

pub fn sched_get_priority_min(_t: &mut Task, policy: i32) -> SyscallResult {
    priority_range(policy).map(|r| r.0 as u64)
}

/// The live process that thread or process `pid` (0: the caller) belongs
/// to. The caller keeps `ts` locked for as long as it uses the answer: a
/// process found here may be reaped as soon as the lock is let go.
fn target<'a>(t: &Task, ts: &'a Tasks, pid: i32) -> Result<&'a Process, Errno> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let pid = if pid == 0 { t.tgid } else { pid };
    ts.process_of(pid).filter(|p| !p.threads.is_empty()).ok_or(Errno::ESRCH)
}

pub fn sched_getscheduler(t: &mut Task, pid: i32) -> SyscallResult {
    let ts = t.tasks();
    Ok(target(t, &ts, pid)?.sched_policy as u64)
}

pub fn sched_getparam(t: &mut Task, pid: i32, param: UserPtr<i32>) -> SyscallResult {
    if param.is_null() {
        return Err(Errno::EINVAL);
    }
    let prio = target(t, &t.tasks(), pid)?.sched_priority;
    param.write(t, &prio).map(|_| 0)
}

fn set_scheduler(t: &mut Task, pid: i32, policy: Option<i32>, param: UserPtr<i32>) -> SyscallResult {
    if param.is_null() || pid < 0 {
        return Err(Errno::EINVAL);
    }
    let prio = param.read(t)?;
    let mut ts = t.tasks();
    let p = target(t, &ts, pid)?;
    let policy = match policy {
        Some(p) => p & !SCHED_RESET_ON_FORK,
        None => p.sched_policy,
    };
    let (min, max) = priority_range(policy)?;
    if policy == SCHED_DEADLINE || prio < min || prio > max {
        return Err(Errno::EINVAL);
    }
    if (policy == SCHED_FIFO || policy == SCHED_RR) && t.creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    let tgid = p.tgid;
    let p = ts.process_mut(tgid).ok_or(Errno::ESRCH)?;
    (p.sched_policy, p.sched_priority) = (policy, prio);
    Ok(0)
}

pub fn sched_setscheduler(t: &mut Task, pid: i32, policy: i32, param: UserPtr<i32>) -> SyscallResult {
    set_scheduler(t, pid, Some(policy), param)
}

pub fn sched_setparam(t: &mut Task, pid: i32, param: UserPtr<i32>) -> SyscallResult {
    set_scheduler(t, pid, None, param)
}

/// The round-robin quantum Linux reports (its default sched_rr_timeslice, 100 ms).
pub fn sched_rr_get_interval(t: &mut Task, pid: i32, ts: UserPtr<abi::structs::Timespec>) -> SyscallResult {
    let rr = target(t, &t.tasks(), pid)?.sched_policy == SCHED_RR;
    let v = abi::structs::Timespec { tv_sec: 0, tv_nsec: if rr { 100_000_000 } else { 0 } };
    ts.write(t, &v).map(|_| 0)
}

const PRIO_PROCESS: i32 = 0;
const PRIO_PGRP: i32 = 1;
const PRIO_USER: i32 = 2;

/// The processes `which` and `who` name for get/setpriority; the caller
/// keeps `ts` locked while it uses them.
fn priority_targets(t: &Task, ts: &Tasks, which: i32, who: i32) -> Result<Vec<i32>, Errno> {
    let live = |p: &&Process| !p.threads.is_empty();
    let v: Vec<i32> = match which {
        PRIO_PROCESS => {
            let pid = if who == 0 { t.tgid } else { who };
            ts.process_of(pid).filter(live).map(|p| p.tgid).into_iter().collect()
        }
        PRIO_PGRP => {
            let pgid = if who == 0 { ts.current_process(t).pgid } else { who };
            ts.group_members(pgid)
        }
        // Every process of the sandbox runs as the same user, unless it
        // changed its ids; those are checked by their view's uid.
        PRIO_USER => {
            let uid = if who == 0 { t.creds.uid } else { who as u32 };
            let tgids: Vec<i32> = ts.processes.values().filter(live).map(|p| p.tgid).collect();
            tgids.into_iter().filter(|p| ts.threads.get(p).is_some_and(|th| th.view.creds.uid == uid)).collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    if v.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(v)
}

/// getpriority: the best (lowest) nice value among the targets, as 20 - nice.
pub fn getpriority(t: &mut Task, which: i32, who: i32) -> SyscallResult {
    let ts = t.tasks();
    let targets = priority_targets(t, &ts, which, who)?;
    let nice = targets.iter().filter_map(|p| ts.process(*p)).map(|p| p.nice).min().unwrap_or(0);
    Ok((20 - nice) as u64)
}

pub fn setpriority(t: &mut Task, which: i32, who: i32, prio: i32) -> SyscallResult {
    let nice = prio.clamp(-20, 19);
    let mut ts = t.tasks();
    for p in priority_targets(t, &ts, which, who)? {
        let Some(p) = ts.process_mut(p) else { continue };
        // Lowering the nice value takes CAP_SYS_NICE.
        if nice < p.nice && t.creds.euid != 0 {
            return Err(Errno::EACCES);
        }
        p.nice = nice;
    }
    Ok(0)
}

/// getcpu: the CPU the task's host thread runs on (it stays on one), node 0.
pub fn getcpu(t: &mut Task, cpu: UserPtr<u32>, node: UserPtr<u32>, _cache: u64) -> SyscallResult {
    let c = sentry::host::current_cpu();
    cpu.write_opt(t, &c)?;
    node.write_opt(t, &0).map(|_| 0)
}
