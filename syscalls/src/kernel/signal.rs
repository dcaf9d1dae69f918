//! Signals: rt_sigaction, rt_sigprocmask, rt_sigpending, rt_sigsuspend,
//! rt_sigtimedwait, sigaltstack, rt_sigreturn, pause, and sending: kill,
//! tgkill, tkill, rt_sigqueueinfo, rt_tgsigqueueinfo.

use std::time::{Duration, Instant};

use abi::consts::CAP_KILL;
use abi::signal::*;
use abi::structs::Timespec;
use abi::Errno;
use sentry::eventfiles::SignalFd;
use sentry::process::Target;
use sentry::sigframe::{altstack_report, on_altstack};
use sentry::{SyscallResult, Task};

use crate::args::UserPtr;

const SIGSET_SIZE: usize = 8;

/// The sa_flags bits Linux keeps (UAPI_SA_FLAGS); others read back as clear.
const UAPI_SA_FLAGS: u64 = SA_NOCLDSTOP
    | SA_NOCLDWAIT
    | SA_SIGINFO
    | SA_ONSTACK
    | SA_RESTART
    | SA_NODEFER
    | SA_RESETHAND
    | SA_EXPOSE_TAGBITS
    | SA_RESTORER;

pub fn rt_sigaction(
    t: &mut Task,
    sig: i32,
    act: UserPtr<KernelSigaction>,
    oact: UserPtr<KernelSigaction>,
    sigsetsize: usize,
) -> SyscallResult {
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = act.read_opt(t)?;
    if !(1..=SIGRTMAX).contains(&sig) || (new.is_some() && (sig == SIGKILL || sig == SIGSTOP)) {
        return Err(Errno::EINVAL);
    }
    let mut ts = t.tasks();
    let old = t.handlers.lock().unwrap().get(sig);
    if let Some(mut n) = new {
        n.flags &= UAPI_SA_FLAGS;
        n.mask &= !SigSet::UNBLOCKABLE.0;
        t.handlers.lock().unwrap().set(sig, n);
        // A signal now ignored is dropped from every pending queue of the
        // process, as Linux does.
        let ignores = n.handler == SIG_IGN
            || (n.handler == SIG_DFL && sentry::signal::default_action(sig) == sentry::signal::DefaultAction::Ignore);
        if ignores {
            ts.discard_everywhere(t.tgid, SigSet::bit(sig));
        }
    }
    drop(ts);
    oact.write_opt(t, &old).map(|_| 0)
}

pub fn rt_sigprocmask(
    t: &mut Task,
    how: i32,
    set: UserPtr<u64>,
    oset: UserPtr<u64>,
    sigsetsize: usize,
) -> SyscallResult {
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = t.mask();
    if let Some(s) = set.read_opt(t)? {
        let new = match how {
            SIG_BLOCK => old.0 | s,
            SIG_UNBLOCK => old.0 & !s,
            SIG_SETMASK => s,
            _ => return Err(Errno::EINVAL),
        };
        t.set_mask(SigSet(new));
    }
    oset.write_opt(t, &old.0)?;
    Ok(0)
}

/// Pending signals of the thread and its process.
fn pending(t: &Task) -> u64 {
    let ts = t.tasks();
    ts.current_thread(t).pending.set | ts.current_process(t).pending.set
}

pub fn rt_sigpending(t: &mut Task, set: UserPtr<u64>, sigsetsize: usize) -> SyscallResult {
    if sigsetsize > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let p = pending(t) & t.mask().0;
    t.mm.copy_out(set.addr, &p.to_ne_bytes()[..sigsetsize]).map(|_| 0)
}

/// rt_sigsuspend: waits with a temporary mask until a signal is delivered;
/// the mask comes back once its handler is set up.
pub fn rt_sigsuspend(t: &mut Task, set: UserPtr<u64>, sigsetsize: usize) -> SyscallResult {
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask = set.read(t)?;
    let old = t.mask();
    t.set_mask(SigSet(mask));
    t.saved_mask = Some(old);
    wait_for_signal(t, None);
    Err(Errno::ERESTARTNOHAND)
}

/// pause: waits until a signal is delivered.
pub fn pause(t: &mut Task) -> SyscallResult {
    wait_for_signal(t, None);
    Err(Errno::ERESTARTNOHAND)
}

/// Blocks until a signal interrupts the task or `deadline` passes.
fn wait_for_signal(t: &Task, deadline: Option<Instant>) -> bool {
    loop {
        if t.handle.attention.load(std::sync::atomic::Ordering::SeqCst) {
            return true;
        }
        match t.handle.waiter.block(&mut [], deadline) {
            vfs::waiter::Wake::Interrupted => return true,
            vfs::waiter::Wake::TimedOut => return false,
            vfs::waiter::Wake::Event => {}
        }
    }
}

/// rt_sigtimedwait: takes a pending signal of `set` without running its
/// handler, waiting up to `timeout` for one.
pub fn rt_sigtimedwait(
    t: &mut Task,
    set: UserPtr<u64>,
    info: UserPtr<SigInfo>,
    timeout: UserPtr<Timespec>,
    sigsetsize: usize,
) -> SyscallResult {
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let want = set.read(t)? & !SigSet::UNBLOCKABLE.0;
    let deadline = match timeout.read_opt(t)? {
        Some(ts) => {
            if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
                return Err(Errno::EINVAL);
            }
            // So far ahead it cannot be represented: no deadline.
            Instant::now().checked_add(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
        }
        None => None,
    };
    // While it waits, the thread takes the wanted signals even though it
    // blocks them (Linux's real_blocked).
    t.tasks().current_thread_mut(t).waiting_for = want;
    let r = loop {
        let got = {
            let mut ts = t.tasks();
            let got = match ts.current_thread_mut(t).pending.take(!want) {
                Some(i) => Some(i),
                None => ts.current_process_mut(t).pending.take(!want),
            };
            got.map(|mut i| {
                ts.timer_signal_delivered(t.tgid, &mut i);
                i
            })
        };
        if let Some(i) = got {
            break Ok(i);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Err(Errno::EAGAIN);
        }
        if pending(t) & !t.mask().0 != 0 {
            // Another signal is to be delivered: it interrupts the wait.
            break Err(Errno::EINTR);
        }
        if t.handle.waiter.block(&mut [], deadline) == vfs::waiter::Wake::Interrupted {
            // The process exiting, stopping or exec'ing ends the wait.
            let leaving = t.handle.zapped.load(std::sync::atomic::Ordering::SeqCst)
                || t.tasks().process(t.tgid).is_none_or(|p| !p.alive() || p.stopped.is_some());
            if leaving {
                break Err(Errno::ERESTARTSYS);
            }
            t.handle.waiter.clear_interrupt();
        }
    };
    t.tasks().current_thread_mut(t).waiting_for = 0;
    let i = r?;
    info.write_opt(t, &i)?;
    Ok(i.signo as u64)
}

pub fn sigaltstack(t: &mut Task, ss: UserPtr<StackT>, old: UserPtr<StackT>) -> SyscallResult {
    let sp = t.regs.rsp;
    let report = altstack_report(&t.altstack, sp);
    if let Some(n) = ss.read_opt(t)? {
        if on_altstack(&t.altstack, sp) {
            return Err(Errno::EPERM);
        }
        let mode = n.flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        if mode == SS_DISABLE {
            t.altstack = sentry::sigframe::DISABLED_ALTSTACK;
        } else {
            // Linux's MINSIGSTKSZ, a constant (not AT_MINSIGSTKSZ).
            if n.size < 2048 {
                return Err(Errno::ENOMEM);
            }
            t.altstack = StackT { sp: n.sp, flags: n.flags & SS_AUTODISARM, pad: 0, size: n.size };
        }
    }
    old.write_opt(t, &report).map(|_| 0)
}

/// rt_sigreturn: back from a handler to where the signal interrupted.
pub fn rt_sigreturn(t: &mut Task) -> SyscallResult {
    if t.sigreturn().is_err() {
        t.force_signal(SigInfo::new(SIGSEGV, SI_KERNEL));
        return Ok(t.regs.rax);
    }
    Ok(t.regs.rax)
}

fn valid_signal(sig: i32) -> Result<(), Errno> {
    if (0..=SIGRTMAX).contains(&sig) {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

/// Linux's kill permission: CAP_KILL, or the sender's real or effective uid
/// is the target's real or saved uid (SIGCONT: or the same session).
fn may_signal(t: &Task, ts: &sentry::process::Tasks, tgid: i32, sig: i32) -> bool {
    if t.creds.capable(CAP_KILL) || tgid == t.tgid {
        return true;
    }
    let Some(p) = ts.process(tgid) else { return false };
    if sig == SIGCONT && ts.process(t.tgid).is_some_and(|me| me.sid == p.sid) {
        return true;
    }
    let Some(target) = p.threads.first().and_then(|th| ts.threads.get(th)) else { return true };
    let (c, tc) = (&t.creds, &target.view.creds);
    [c.uid, c.euid].iter().any(|u| *u == tc.uid || *u == tc.suid)
}

/// Sends `info` to every process `pid` names as kill(2) reads it: a process
/// (> 0), the caller's group (0), every process but init and the caller
/// (-1), or group -pid.
fn send_to_pid(t: &mut Task, pid: i32, info: SigInfo) -> SyscallResult {
    let mut ts = t.tasks();
    let targets: Vec<i32> = match pid {
        p if p > 0 => {
            let p = ts.process_of(p).ok_or(Errno::ESRCH)?;
            vec![p.tgid]
        }
        0 => {
            let pgid = ts.current_process(t).pgid;
            ts.group_members(pgid)
        }
        -1 => ts
            .processes
            .values()
            .filter(|p| p.tgid != sentry::kernel::INIT_PID && p.tgid != t.tgid && !p.threads.is_empty())
            .map(|p| p.tgid)
            .collect(),
        p => ts.group_members(p.checked_neg().ok_or(Errno::ESRCH)?),
    };
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    valid_signal(info.signo)?;
    // Succeeds if it reached any; EPERM if it may signal none.
    let (mut sent, mut full) = (false, false);
    for p in targets {
        if may_signal(t, &ts, p, info.signo) {
            // A full real-time queue fails sigqueue; kill's signal is lost.
            full |= ts.send(Target::Process(p), info) == Err(Errno::EAGAIN) && info.code < 0;
            sent = true;
        }
    }
    if full {
        // sigqueue with the real-time queue full (RLIMIT_SIGPENDING).
        return Err(Errno::EAGAIN);
    }
    if sent {
        Ok(0)
    } else {
        Err(Errno::EPERM)
    }
}

pub fn kill(t: &mut Task, pid: i32, sig: i32) -> SyscallResult {
    let info = SigInfo::from_process(sig, SI_USER, t.tgid, t.creds.uid);
    send_to_pid(t, pid, info)
}

/// Sends to thread `tid`, which must belong to `tgid` unless that is None.
fn send_to_thread(t: &mut Task, tgid: Option<i32>, tid: i32, info: SigInfo) -> SyscallResult {
    let mut ts = t.tasks();
    let th = ts.threads.get(&tid).ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != th.tgid) {
        return Err(Errno::ESRCH);
    }
    valid_signal(info.signo)?;
    if !may_signal(t, &ts, th.tgid, info.signo) {
        return Err(Errno::EPERM);
    }
    ts.send(Target::Thread(tid), info).map(|_| 0)
}

pub fn tgkill(t: &mut Task, tgid: i32, tid: i32, sig: i32) -> SyscallResult {
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let info = SigInfo::from_process(sig, SI_TKILL, t.tgid, t.creds.uid);
    send_to_thread(t, Some(tgid), tid, info)
}

pub fn tkill(t: &mut Task, tid: i32, sig: i32) -> SyscallResult {
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let info = SigInfo::from_process(sig, SI_TKILL, t.tgid, t.creds.uid);
    send_to_thread(t, None, tid, info)
}

/// The siginfo a process may queue: its own code must be negative (not
/// pretending to be the kernel or kill), unless it signals itself.
fn queued_info(t: &Task, sig: i32, uinfo: UserPtr<SigInfo>, to_self: bool) -> Result<SigInfo, Errno> {
    let mut info = uinfo.read(t)?;
    if (info.code >= 0 || info.code == SI_TKILL) && !to_self {
        return Err(Errno::EPERM);
    }
    info.signo = sig;
    Ok(info)
}

pub fn rt_sigqueueinfo(t: &mut Task, pid: i32, sig: i32, uinfo: UserPtr<SigInfo>) -> SyscallResult {
    let info = queued_info(t, sig, uinfo, pid == t.tgid)?;
    if pid <= 0 {
        return Err(Errno::ESRCH);
    }
    send_to_pid(t, pid, info)
}

pub fn rt_tgsigqueueinfo(t: &mut Task, tgid: i32, tid: i32, sig: i32, uinfo: UserPtr<SigInfo>) -> SyscallResult {
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let info = queued_info(t, sig, uinfo, tgid == t.tgid)?;
    send_to_thread(t, Some(tgid), tid, info)
}

const SFD_CLOEXEC: u32 = 0o2000000;
const SFD_NONBLOCK: u32 = 0o4000;

/// signalfd4: a new signalfd for `mask` (fd -1), or a new mask for one.
pub fn signalfd4(t: &mut Task, fd: i32, mask: UserPtr<u64>, sizemask: usize, flags: u32) -> SyscallResult {
    if flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 || sizemask != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let m = mask.read(t)?;
    if fd != -1 {
        let file = t.fds.file(fd)?;
        let sfd = file.ops().as_any().and_then(|a| a.downcast_ref::<SignalFd>()).ok_or(Errno::EINVAL)?;
        sfd.set_mask(m);
        return Ok(fd as u64);
    }
    let file = vfs::FileDescription::new(
        abi::consts::O_RDWR | (flags & SFD_NONBLOCK),
        Box::new(SignalFd::new(&t.kernel, m)),
        None,
    );
    let entry = sentry::fdtable::FdEntry { file: std::sync::Arc::new(file), cloexec: flags & SFD_CLOEXEC != 0 };
    t.fds.install(0, entry, t.nofile_limit()).map(|fd| fd as u64)
}

pub fn signalfd(t: &mut Task, fd: i32, mask: UserPtr<u64>, sizemask: usize) -> SyscallResult {
    signalfd4(t, fd, mask, sizemask, 0)
}

const PIDFD_SIGNAL_THREAD: u32 = 1;
const PIDFD_SIGNAL_THREAD_GROUP: u32 = 2;
const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 4;

/// pidfd_send_signal: like kill to the pidfd's process, or (flags) to its
/// thread or its process group.
pub fn pidfd_send_signal(t: &mut Task, pidfd: i32, sig: i32, uinfo: UserPtr<SigInfo>, flags: u32) -> SyscallResult {
    if !matches!(flags, 0 | PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP) {
        return Err(Errno::EINVAL);
    }
    let pid = crate::kernel::process::pidfd_pid(t, pidfd)?;
    let info = match uinfo.read_opt(t)? {
        Some(_) => queued_info(t, sig, uinfo, pid == t.tgid)?,
        None => SigInfo::from_process(sig, SI_USER, t.tgid, t.creds.uid),
    };
    valid_signal(sig)?;
    if flags == PIDFD_SIGNAL_PROCESS_GROUP {
        let pgid = t.tasks().process(pid).map(|p| p.pgid).ok_or(Errno::ESRCH)?;
        return send_to_pid(t, -pgid, info);
    }
    let mut ts = t.tasks();
    // A zombie takes the signal (to no effect); a reaped process is gone.
    if ts.process(pid).is_none() {
        return Err(Errno::ESRCH);
    }
    if ts.process(pid).is_some_and(|p| p.threads.is_empty()) {
        return Ok(0);
    }
    let target = if flags == PIDFD_SIGNAL_THREAD { Target::Thread(pid) } else { Target::Process(pid) };
    ts.send(target, info).map(|_| 0)
}
