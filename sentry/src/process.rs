//! The sandbox's processes and threads: its pid namespace, the process tree,
//! what wait(2) reports, and signal state, all under one lock
//! (`Kernel::tasks`), like Linux's tasklist_lock and siglock together.
//!
//! A task's own host thread owns its `Task`; everything other tasks may
//! touch (its signal mask and pending signals, its process's children and
//! exit state) lives here. A task is reached from other threads through its
//! `TaskHandle`: `kick` makes it look at its signals, waking it from a wait
//! or stopping its application code.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use abi::consts::CAP_SYS_PTRACE;
use abi::signal::*;
use abi::Errno;
use vfs::waiter::{WaitQueue, Waiter};

use std::time::Duration;

use crate::creds::{Credentials, FsContext};
use crate::fdtable::FdTable;
use crate::host::thread_cpu_time;
use crate::mm::MemoryManager;
use crate::platform::{CpuClock, Interrupter};
use crate::signal::{default_action, DefaultAction, SignalHandlers};
use crate::timer::Timer;

/// The pid, in the sandbox's pid namespace, of its first process.
pub const INIT_PID: i32 = 1;

/// What the rest of the kernel (procfs) may see of a running task.
#[derive(Clone)]
pub struct TaskView {
    pub tid: i32,
    pub tgid: i32,
    pub creds: Credentials,
    pub fds: Arc<FdTable>,
    pub fs: Arc<FsContext>,
    pub mm: Arc<MemoryManager>,
    /// The executable.
    pub exe: vfs::Path,
}

/// The ids of the task a call is made for: the task set's accessors of
/// the calling task's own entries take it (the Task implements it).
pub trait TaskIds {
    fn tid(&self) -> i32;
    fn tgid(&self) -> i32;
}

/// How a process ended, as wait(2) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    /// Killed by `sig`; `core` when its default action dumps core (the
    /// status carries the core bit; no core file is ever written).
    Signaled {
        sig: i32,
        core: bool,
    },
}

impl ExitStatus {
    /// The status word wait4 stores.
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => (c & 0xff) << 8,
            ExitStatus::Signaled { sig, core } => sig | if core { 0x80 } else { 0 },
        }
    }

    /// si_code and si_status of the SIGCHLD (and waitid) report.
    pub fn child_code(self) -> (i32, i32) {
        match self {
            ExitStatus::Exited(c) => (CLD_EXITED, c & 0xff),
            ExitStatus::Signaled { sig, core: true } => (CLD_DUMPED, sig),
            ExitStatus::Signaled { sig, core: false } => (CLD_KILLED, sig),
        }
    }
}

/// What other threads hold of a task, to reach it.
pub struct TaskHandle {
    pub waiter: Arc<Waiter>,
    pub interrupter: Interrupter,
    /// The CPU time of the task's application code.
    pub cpu: CpuClock,
    /// The host thread that runs the task (its CPU time is the Sentry's
    /// work for the task).
    pub host_tid: i32,
    /// Set when the task must look at its signals (or its process's exit or
    /// stop) before it next runs application code.
    pub attention: AtomicBool,
    /// Set when another thread's execve ends this thread.
    pub zapped: AtomicBool,
}

impl TaskHandle {
    /// CPU time: the application's, plus (`with_sentry`) the Sentry's work
    /// for it.
    pub fn cpu_time(&self, with_sentry: bool) -> Duration {
        (self.cpu)() + if with_sentry { thread_cpu_time(self.host_tid) } else { Duration::ZERO }
    }

    /// Makes the task look at its signals soon: ends its wait, or stops its
    /// application code.
    pub fn kick(&self) {
        self.attention.store(true, Ordering::SeqCst);
        self.waiter.interrupt();
        (self.interrupter)();
    }
}

/// Signals generated and not yet delivered: standard signals at most once
/// each, real-time signals queued in order.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    pub set: u64,
    queue: Vec<SigInfo>,
}

/// Signals that come from the application's own instructions; Linux
/// delivers them before any other.
const SYNCHRONOUS: u64 = (1 << (SIGSEGV - 1))
    | (1 << (SIGBUS - 1))
    | (1 << (SIGILL - 1))
    | (1 << (SIGTRAP - 1))
    | (1 << (SIGFPE - 1))
    | (1 << (SIGSYS - 1));

impl Pending {
    /// Queues `info`; a standard signal already pending is not queued
    /// twice. Returns whether it was queued.
    pub fn push(&mut self, info: SigInfo) -> bool {
        let bit = SigSet::bit(info.signo);
        if info.signo < 32 && self.set & bit != 0 {
            return false;
        }
        self.set |= bit;
        self.queue.push(info);
        true
    }

    /// The next signal outside `blocked` to deliver, removed.
    pub fn take(&mut self, blocked: u64) -> Option<SigInfo> {
        let ready = self.set & !blocked;
        if ready == 0 {
            return None;
        }
        let pick = if ready & SYNCHRONOUS != 0 { ready & SYNCHRONOUS } else { ready };
        self.take_signal(pick.trailing_zeros() as i32 + 1)
    }

    /// The first queued instance of `sig`, removed.
    pub fn take_signal(&mut self, sig: i32) -> Option<SigInfo> {
        let i = self.queue.iter().position(|i| i.signo == sig)?;
        let info = self.queue.remove(i);
        if !self.queue.iter().any(|i| i.signo == sig) {
            self.set &= !SigSet::bit(sig);
        }
        Some(info)
    }

    /// How many signals are queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops every instance of the signals in `set`.
    pub fn discard(&mut self, set: u64) {
        self.queue.retain(|i| set & SigSet::bit(i.signo) == 0);
        self.set &= !set;
    }
}

pub struct Thread {
    pub tgid: i32,
    pub handle: Arc<TaskHandle>,
    /// The signal mask.
    pub mask: SigSet,
    /// Signals sent to this thread (tkill, faults).
    pub pending: Pending,
    /// Signals it waits for in rt_sigtimedwait: taken though blocked.
    pub waiting_for: u64,
    /// What procfs shows of the thread.
    pub view: TaskView,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    Alive,
    /// A group exit began (exit_group, a fatal signal): threads are leaving.
    Exiting(ExitStatus),
    /// Every thread has left; the parent has not reaped it yet.
    Zombie(ExitStatus),
}

/// A job-control report the parent has not collected yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobReport {
    Stopped(i32),
    Continued,
}

/// A thread group: Linux's process (signal_struct and the task's place in the
/// tree).
pub struct Process {
    pub tgid: i32,
    pub parent: i32,
    pub children: BTreeSet<i32>,
    pub pgid: i32,
    pub sid: i32,
    /// Live threads, the leader first while it lives.
    pub threads: Vec<i32>,
    pub life: Life,
    /// Signals sent to the process as a whole.
    pub pending: Pending,
    pub handlers: Arc<Mutex<SignalHandlers>>,
    /// The signal the parent gets at exit (SIGCHLD, or clone's choice).
    pub exit_signal: i32,
    pub subreaper: bool,
    /// PR_SET_PDEATHSIG: the signal it gets when its parent exits.
    pub pdeathsig: i32,
    /// PR_SET_DUMPABLE.
    pub dumpable: bool,
    /// /proc/PID/oom_score_adj: how the OOM killer weighs this process
    /// (-1000 exempts it), and the least value a caller without
    /// CAP_SYS_RESOURCE may set (the last one a capable caller set). A
    /// fork inherits both.
    pub oom_score_adj: i32,
    pub oom_score_adj_min: i32,
    /// Stopped by this signal (group stop), until SIGCONT or SIGKILL.
    pub stopped: Option<i32>,
    pub job_report: Option<JobReport>,
    /// It has called execve (setpgid on it from the parent is then EACCES).
    pub did_exec: bool,
    /// Notified when a child changes state (wait4 sleeps here).
    pub child_events: Arc<WaitQueue>,
    /// Notified when the process continues or starts exiting.
    pub resumed: Arc<WaitQueue>,
    /// Notified when one of its threads exits (execve waits for them).
    pub thread_exits: Arc<WaitQueue>,
    /// Notified when a signal is queued for it or its threads (signalfd).
    pub signal_arrivals: Arc<WaitQueue>,
    /// Notified when it exits (pidfd).
    pub exited: Arc<WaitQueue>,
    /// setitimer's ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
    pub itimers: [Option<Arc<Timer>>; 3],
    /// timer_create's timers by id.
    pub posix_timers: BTreeMap<i32, PosixTimer>,
    /// Resource use of threads that have exited, and of reaped children.
    pub usage: Usage,
    pub children_usage: Usage,
    /// Resource limits (the threads' own handles share them).
    pub limits: crate::limits::Limits,
    /// setpriority's nice value, -20..=19.
    pub nice: i32,
    /// sched_setscheduler's policy and priority.
    pub sched_policy: i32,
    pub sched_priority: i32,
}

/// CPU time and peak memory, as getrusage reports them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// The application's own time.
    pub user: Duration,
    /// The Sentry's work for it (the system time).
    pub system: Duration,
    /// Peak resident memory, KiB.
    pub maxrss_kb: u64,
}

impl Usage {
    pub fn add(&mut self, o: &Usage) {
        self.user += o.user;
        self.system += o.system;
        self.maxrss_kb = self.maxrss_kb.max(o.maxrss_kb);
    }
}

/// A timer_create timer.
#[derive(Clone)]
pub struct PosixTimer {
    pub timer: Arc<Timer>,
    /// Absolute times are on this clock.
    pub clock_id: i32,
    pub overrun: Arc<Mutex<Overrun>>,
}

/// Expirations a POSIX timer's signal did not report (it was still queued).
#[derive(Default)]
pub struct Overrun {
    /// Its signal is queued, not yet delivered.
    pub queued: bool,
    /// Expirations since the queued signal was sent.
    pub missed: u64,
    /// The overrun of the last delivered signal (timer_getoverrun).
    pub last: u64,
}

impl Process {
    pub fn new(
        tgid: i32,
        parent: i32,
        pgid: i32,
        sid: i32,
        handlers: Arc<Mutex<SignalHandlers>>,
        limits: crate::limits::Limits,
    ) -> Process {
        Process {
            tgid,
            parent,
            children: BTreeSet::new(),
            pgid,
            sid,
            threads: Vec::new(),
            life: Life::Alive,
            pending: Pending::default(),
            handlers,
            exit_signal: SIGCHLD,
            subreaper: false,
            pdeathsig: 0,
            dumpable: true,
            oom_score_adj: 0,
            oom_score_adj_min: 0,
            stopped: None,
            job_report: None,
            did_exec: false,
            child_events: Arc::new(WaitQueue::default()),
            resumed: Arc::new(WaitQueue::default()),
            thread_exits: Arc::new(WaitQueue::default()),
            signal_arrivals: Arc::new(WaitQueue::default()),
            exited: Arc::new(WaitQueue::default()),
            itimers: [None, None, None],
            posix_timers: BTreeMap::new(),
            usage: Usage::default(),
            children_usage: Usage::default(),
            limits,
            nice: 0,
            sched_policy: 0,
            sched_priority: 0,
        }
    }

    pub fn alive(&self) -> bool {
        self.life == Life::Alive
    }
}

/// Where a signal goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Process(i32),
    Thread(i32),
}

/// What a ptrace access check is for, as Linux's PTRACE_MODE_* flags say:
/// which of the caller's ids count (filesystem or real) and whether it
/// inspects (READ) or could change (ATTACH) the target. READ and ATTACH
/// differ only under the Yama security module, which the sandbox lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PtraceMode {
    /// PTRACE_MODE_READ_FSCREDS: /proc/PID/environ, fd/N, cwd, root, exe.
    ReadFsCreds,
    /// PTRACE_MODE_ATTACH_FSCREDS: /proc/PID/mem.
    AttachFsCreds,
    /// PTRACE_MODE_ATTACH_REALCREDS: pidfd_getfd.
    AttachRealCreds,
}

impl PtraceMode {
    fn fs_creds(self) -> bool {
        self != PtraceMode::AttachRealCreds
    }
}

/// The invariant the `Tasks::current_*` accessors rely on.
const CURRENT_REGISTERED: &str = "a running task's thread and process are in the task set until its exit";

/// Linux's PID_MAX_DEFAULT: pids wrap around below it.
pub const PID_MAX: i32 = 1 << 22;

/// The task set. Kept true under its lock: a thread is in `threads` exactly
/// while its tid is in its process's `Process::threads`, and a process with
/// live threads is never a zombie (so never reaped).
#[derive(Default)]
pub struct Tasks {
    last_pid: i32,
    pub threads: BTreeMap<i32, Thread>,
    pub processes: BTreeMap<i32, Process>,
    /// The most tasks the sandbox may hold at once, as a pids cgroup's
    /// pids.max (None: no cap). Each task costs a host thread and a stub
    /// thread, so this keeps a sandbox from using up the host's pid space.
    pub pids_max: Option<usize>,
}

impl Tasks {
    /// The next free pid for a new task, as Linux hands them out
    /// (increasing, wrapping). EAGAIN past `pids_max` (counting threads
    /// and zombies, as a pids cgroup does until a task is reaped).
    pub fn alloc_pid(&mut self) -> Result<i32, Errno> {
        if let Some(max) = self.pids_max {
            let zombies = self.processes.values().filter(|p| p.threads.is_empty()).count();
            if self.threads.len() + zombies >= max {
                return Err(Errno::EAGAIN);
            }
        }
        for _ in 0..PID_MAX {
            self.last_pid = if self.last_pid + 1 >= PID_MAX { 2 } else { self.last_pid + 1 };
            let p = self.last_pid;
            // A pid stays taken while it names a thread, a process (a zombie
            // too), a process group or a session.
            if !self.threads.contains_key(&p)
                && !self.processes.contains_key(&p)
                && !self.processes.values().any(|q| q.pgid == p || q.sid == p)
            {
                return Ok(p);
            }
        }
        Err(Errno::EAGAIN)
    }

    pub fn process(&self, tgid: i32) -> Option<&Process> {
        self.processes.get(&tgid)
    }

    pub fn process_mut(&mut self, tgid: i32) -> Option<&mut Process> {
        self.processes.get_mut(&tgid)
    }

    // The calling task's own thread and process (Linux's `current` and
    // `current->signal`): `t` is the task the calling host thread runs.
    //
    // Both exist while the task runs (a syscall, its signal checks, its
    // exit up to `exit_thread`), so these do not fail:
    // - a thread leaves `threads` only in `exit_thread`, which only its own
    //   host thread calls, after its run loop has ended (`Task::exit`; a
    //   clone child that never ran), and in execve's change of tid
    //   (`Task::end_other_threads`), which the task makes to itself and to
    //   `Task::tid` under this lock;
    // - a process leaves `processes` only in `reap`, which takes zombies
    //   only, and a process is a zombie only once its last thread has left.
    // A miss would be a bug in the task set, not anything the application
    // did; the panic then names the broken invariant.

    /// The calling task's thread entry (see above: it always exists).
    pub fn current_thread(&self, t: &impl TaskIds) -> &Thread {
        self.threads.get(&t.tid()).expect(CURRENT_REGISTERED)
    }

    /// The calling task's thread entry, to change (see `current_thread`).
    pub fn current_thread_mut(&mut self, t: &impl TaskIds) -> &mut Thread {
        self.threads.get_mut(&t.tid()).expect(CURRENT_REGISTERED)
    }

    /// The calling task's process (see `current_thread`: it always exists).
    pub fn current_process(&self, t: &impl TaskIds) -> &Process {
        self.processes.get(&t.tgid()).expect(CURRENT_REGISTERED)
    }

    /// The calling task's process, to change (see `current_thread`).
    pub fn current_process_mut(&mut self, t: &impl TaskIds) -> &mut Process {
        self.processes.get_mut(&t.tgid()).expect(CURRENT_REGISTERED)
    }

    /// Linux's __ptrace_may_access with the capability rule of its commoncap
    /// module: whether a task of process `caller_tgid` with credentials
    /// `caller` may look into (or, ATTACH, act on) thread `target`. Allowed
    /// within a thread group; otherwise the caller's uid and gid (fs or real
    /// ones, as `mode` says) must be each of the target's real, effective
    /// and saved ids, the target's process must be dumpable
    /// (PR_SET_DUMPABLE, cleared by credential changes), and the target's
    /// permitted capabilities must be among the caller's (its effective set
    /// for fs modes, else its permitted set); CAP_SYS_PTRACE stands in for
    /// all three. EPERM when refused, ESRCH when the target is gone.
    pub fn ptrace_may_access(
        &self,
        caller: &Credentials,
        caller_tgid: i32,
        target: i32,
        mode: PtraceMode,
    ) -> Result<(), Errno> {
        let th = self.threads.get(&target).ok_or(Errno::ESRCH)?;
        if th.tgid == caller_tgid {
            return Ok(());
        }
        let tc = &th.view.creds;
        let (uid, gid, caps) = if mode.fs_creds() {
            (caller.fsuid, caller.fsgid, caller.cap_effective)
        } else {
            (caller.uid, caller.gid, caller.cap_permitted)
        };
        let same_ids = [tc.uid, tc.euid, tc.suid].iter().all(|&u| u == uid)
            && [tc.gid, tc.egid, tc.sgid].iter().all(|&g| g == gid);
        let dumpable = self.processes.get(&th.tgid).is_some_and(|p| p.dumpable);
        let caps_covered = tc.cap_permitted & !caps == 0;
        if caller.capable(CAP_SYS_PTRACE) || (same_ids && dumpable && caps_covered) {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// execve's de_thread, in a thread other than the leader, once every
    /// other thread has left: the calling task's entry moves to the
    /// leader's thread id (the caller then sets `Task::tid` to it).
    pub fn take_leader_tid(&mut self, t: &impl TaskIds) {
        let mut entry = self.threads.remove(&t.tid()).expect(CURRENT_REGISTERED);
        entry.view.tid = t.tgid();
        self.threads.insert(t.tgid(), entry);
        self.current_process_mut(t).threads = vec![t.tgid()];
    }

    /// The live process that thread or process id `pid` belongs to.
    pub fn process_of(&self, pid: i32) -> Option<&Process> {
        let tgid = self.threads.get(&pid).map_or(pid, |t| t.tgid);
        self.processes.get(&tgid).filter(|p| !p.threads.is_empty() || matches!(p.life, Life::Zombie(_)))
    }

    /// The members of process group `pgid` that have not exited.
    pub fn group_members(&self, pgid: i32) -> Vec<i32> {
        self.processes
            .values()
            .filter(|p| p.pgid == pgid && !matches!(p.life, Life::Zombie(_)))
            .map(|p| p.tgid)
            .collect()
    }

    /// Whether process group `pgid` is orphaned: no member has a parent in
    /// another group of the same session (job control then leaves it alone).
    pub fn orphaned_pgrp(&self, pgid: i32) -> bool {
        !self
            .processes
            .values()
            .filter(|p| p.pgid == pgid && !p.threads.is_empty())
            .any(|p| self.processes.get(&p.parent).is_some_and(|pp| pp.pgid != pgid && pp.sid == p.sid))
    }

    /// Whether `sig` would be thrown away on arrival: ignored and not blocked
    /// by the thread that would take it.
    fn ignored(&self, p: &Process, tid: i32, sig: i32) -> bool {
        if sig == SIGKILL || sig == SIGSTOP {
            return false;
        }
        if self.threads.get(&tid).is_some_and(|t| t.mask.contains(sig) || t.waiting_for & SigSet::bit(sig) != 0) {
            return false;
        }
        let h = p.handlers.lock().unwrap().get(sig).handler;
        h == SIG_IGN || (h == SIG_DFL && default_action(sig) == DefaultAction::Ignore)
    }

    /// Sends a signal, as Linux's send_signal and complete_signal do: the
    /// side effects of SIGCONT and stop signals, dropping ignored signals,
    /// queueing, and waking a thread that can take it (or, for a fatal
    /// signal, the whole process). ESRCH if the target is gone.
    /// Returns whether the signal was queued; EAGAIN when the real-time
    /// queue is full.
    pub fn send(&mut self, target: Target, info: SigInfo) -> Result<bool, Errno> {
        let sig = info.signo;
        if !(0..=SIGRTMAX).contains(&sig) {
            return Err(Errno::EINVAL);
        }
        let tgid = match target {
            Target::Process(p) => p,
            Target::Thread(t) => self.threads.get(&t).ok_or(Errno::ESRCH)?.tgid,
        };
        let p = self.processes.get(&tgid).ok_or(Errno::ESRCH)?;
        if p.threads.is_empty() {
            // A zombie: the signal goes nowhere, successfully.
            return Ok(false);
        }
        if sig == 0 || !p.alive() {
            return Ok(false);
        }
        let stops = SigSet::bit(SIGSTOP) | SigSet::bit(SIGTSTP) | SigSet::bit(SIGTTIN) | SigSet::bit(SIGTTOU);
        if stops & SigSet::bit(sig) != 0 {
            self.discard_everywhere(tgid, SigSet::bit(SIGCONT));
        } else if sig == SIGCONT {
            self.discard_everywhere(tgid, stops);
            self.continue_process(tgid);
        }
        let p = self.processes.get(&tgid).ok_or(Errno::ESRCH)?;
        let first = match target {
            Target::Thread(t) => t,
            Target::Process(_) => match p.threads.first() {
                Some(&t) => t,
                None => return Ok(false),
            },
        };
        if self.ignored(p, first, sig) {
            return Ok(false);
        }
        // The thread to wake: the target thread, or one that does not block it.
        let takes = |t: &i32| {
            self.threads.get(t).is_some_and(|th| !th.mask.contains(sig) || th.waiting_for & SigSet::bit(sig) != 0)
        };
        let chosen = match target {
            Target::Thread(t) => Some(t).filter(takes),
            Target::Process(_) => p.threads.iter().copied().find(takes),
        };
        // RLIMIT_SIGPENDING bounds the signals queued for a process.
        let queued_now = p.pending.len()
            + p.threads.iter().filter_map(|t| self.threads.get(t)).map(|t| t.pending.len()).sum::<usize>();
        if queued_now as u64 >= p.limits.get(abi::consts::RLIMIT_SIGPENDING).rlim_cur && sig >= 32 {
            return Err(Errno::EAGAIN);
        }
        let pending = match target {
            Target::Thread(t) => self.threads.get_mut(&t).map(|th| &mut th.pending),
            Target::Process(_) => self.processes.get_mut(&tgid).map(|p| &mut p.pending),
        };
        let queued = pending.ok_or(Errno::ESRCH)?.push(info);
        if let Some(p) = self.processes.get(&tgid) {
            p.signal_arrivals.notify_all();
        }
        if sig == SIGKILL {
            self.start_group_exit(tgid, ExitStatus::Signaled { sig, core: false });
        } else if let Some(th) = chosen.and_then(|t| self.threads.get(&t)) {
            th.handle.kick();
        }
        Ok(queued)
    }

    /// Drops the signals in `set` from process `tgid` and its threads.
    pub fn discard_everywhere(&mut self, tgid: i32, set: u64) {
        let Some(p) = self.processes.get_mut(&tgid) else { return };
        p.pending.discard(set);
        for t in p.threads.clone() {
            if let Some(th) = self.threads.get_mut(&t) {
                th.pending.discard(set);
            }
        }
    }

    /// SIGCONT's effect: a stopped process runs again, and its parent hears.
    fn continue_process(&mut self, tgid: i32) {
        let Some(p) = self.processes.get_mut(&tgid) else { return };
        if p.stopped.take().is_none() {
            return;
        }
        p.job_report = Some(JobReport::Continued);
        p.resumed.notify_all();
        let (parent, pid) = (p.parent, p.tgid);
        self.notify_parent_job(parent, pid, CLD_CONTINUED, SIGCONT);
    }

    /// Stops process `tgid` (a stop signal's default action).
    pub fn stop_process(&mut self, tgid: i32, sig: i32) {
        let Some(p) = self.processes.get_mut(&tgid) else { return };
        if p.stopped.is_some() || !p.alive() {
            return;
        }
        p.stopped = Some(sig);
        p.job_report = Some(JobReport::Stopped(sig));
        let (parent, threads) = (p.parent, p.threads.clone());
        self.kick_all(&threads);
        self.notify_parent_job(parent, tgid, CLD_STOPPED, sig);
    }

    /// Tells a parent a child stopped or continued: its wait4 wakes, and it
    /// gets SIGCHLD unless its handler says SA_NOCLDSTOP.
    fn notify_parent_job(&mut self, parent: i32, child: i32, code: i32, sig: i32) {
        let Some(pp) = self.processes.get(&parent) else { return };
        pp.child_events.notify_all();
        let nocldstop = pp.handlers.lock().unwrap().get(SIGCHLD).flags & SA_NOCLDSTOP != 0;
        if !nocldstop {
            let _ = self.send(Target::Process(parent), SigInfo::child(code, child, 0, sig, 0, 0));
        }
    }

    /// Begins the exit of every thread of `tgid` (exit_group, a fatal
    /// signal); the first status wins.
    pub fn start_group_exit(&mut self, tgid: i32, status: ExitStatus) {
        let Some(p) = self.processes.get_mut(&tgid) else { return };
        if !p.alive() {
            return;
        }
        p.life = Life::Exiting(status);
        p.stopped = None;
        p.resumed.notify_all();
        let threads = p.threads.clone();
        self.kick_all(&threads);
    }

    /// Kicks each of `threads`.
    fn kick_all(&self, threads: &[i32]) {
        for th in threads.iter().filter_map(|t| self.threads.get(t)) {
            th.handle.kick();
        }
    }

    /// Removes a thread that has finished. When it was its process's last,
    /// the process becomes a zombie: its children go to a reaper, and its
    /// parent is told (or reaps it at once, if it does not wait for
    /// children). Returns the process's status when it ended.
    pub fn exit_thread(&mut self, tid: i32, status: ExitStatus) -> Option<ExitStatus> {
        let t = self.threads.remove(&tid)?;
        let p = self.processes.get_mut(&t.tgid)?;
        p.threads.retain(|&x| x != tid);
        p.usage.add(&Usage {
            user: t.handle.cpu_time(false),
            system: thread_cpu_time(t.handle.host_tid),
            maxrss_kb: t.view.mm.resident_bytes() / 1024,
        });
        p.thread_exits.notify_all();
        if !p.threads.is_empty() {
            return None;
        }
        let status = match p.life {
            Life::Exiting(s) => s,
            _ => status,
        };
        p.life = Life::Zombie(status);
        p.exited.notify_all();
        p.stopped = None;
        p.job_report = None;
        // Its timers die with it.
        p.itimers = [None, None, None];
        p.posix_timers.clear();
        let (tgid, parent, exit_signal) = (p.tgid, p.parent, p.exit_signal);
        let orphans: Vec<i32> = std::mem::take(&mut p.children).into_iter().collect();
        let reaper = self.reaper_for(parent, tgid);
        for c in orphans {
            self.reparent(c, reaper);
            let sig = self.processes.get(&c).map_or(0, |p| p.pdeathsig);
            if sig != 0 {
                let _ = self.send(Target::Process(c), SigInfo::new(sig, SI_USER));
            }
        }
        let Some(pp) = self.processes.get(&parent) else {
            // The first process: nobody waits for it.
            return Some(status);
        };
        let (chld_handler, chld_flags) = {
            let h = pp.handlers.lock().unwrap().get(SIGCHLD);
            (h.handler, h.flags)
        };
        pp.child_events.notify_all();
        let autoreap = exit_signal == SIGCHLD && (chld_handler == SIG_IGN || chld_flags & SA_NOCLDWAIT != 0);
        // An exit signal clone was given out of range is not sent, as in Linux.
        if (1..=SIGRTMAX).contains(&exit_signal) {
            let (code, st) = status.child_code();
            let u = self.processes.get(&tgid).map(|p| p.usage).unwrap_or_default();
            let ticks = |d: Duration| (d.as_millis() / 10) as u64;
            let info = SigInfo::child(code, tgid, t.view.creds.uid, st, ticks(u.user), ticks(u.system));
            let _ = self.send(Target::Process(parent), SigInfo { signo: exit_signal, ..info });
        }
        if autoreap {
            self.reap(tgid);
        }
        Some(status)
    }

    /// Who adopts the children of `dying`: the nearest subreaper above it,
    /// else the first process.
    fn reaper_for(&self, mut parent: i32, dying: i32) -> i32 {
        while let Some(p) = self.processes.get(&parent) {
            if p.subreaper && p.tgid != dying && p.alive() {
                return p.tgid;
            }
            parent = p.parent;
        }
        INIT_PID
    }

    fn reparent(&mut self, child: i32, to: i32) {
        let zombie = {
            let Some(c) = self.processes.get_mut(&child) else { return };
            c.parent = to;
            // An adopted child's exit signal is SIGCHLD again.
            c.exit_signal = SIGCHLD;
            matches!(c.life, Life::Zombie(_))
        };
        if let Some(r) = self.processes.get_mut(&to) {
            r.children.insert(child);
            if zombie {
                r.child_events.notify_all();
            }
        }
    }

    /// Removes a zombie from the tree (wait4 collected it); its resource use
    /// and its children's count for its parent from now on.
    pub fn reap(&mut self, tgid: i32) {
        if let Some(p) = self.processes.remove(&tgid) {
            if let Some(pp) = self.processes.get_mut(&p.parent) {
                pp.children_usage.add(&p.usage);
                pp.children_usage.add(&p.children_usage);
                pp.children.remove(&tgid);
                pp.child_events.notify_all();
            }
        }
    }

    /// The CPU time of process `tgid`: the application's, plus (`with_sentry`)
    /// the Sentry's work for it.
    pub fn process_cpu(&self, tgid: i32, with_sentry: bool) -> Duration {
        let u = self.process_usage(tgid);
        u.user + if with_sentry { u.system } else { Duration::ZERO }
    }

    /// The resource use of process `tgid`, its live threads and its dead ones.
    pub fn process_usage(&self, tgid: i32) -> Usage {
        let Some(p) = self.processes.get(&tgid) else { return Usage::default() };
        let mut u = p.usage;
        for t in p.threads.iter().filter_map(|t| self.threads.get(t)) {
            u.add(&Usage {
                user: t.handle.cpu_time(false),
                system: thread_cpu_time(t.handle.host_tid),
                maxrss_kb: t.view.mm.resident_bytes() / 1024,
            });
        }
        u
    }

    /// A POSIX timer's signal is being delivered: its siginfo reports the
    /// expirations missed while it was queued.
    pub fn timer_signal_delivered(&self, tgid: i32, info: &mut SigInfo) {
        if info.code != SI_TIMER {
            return;
        }
        let id = info.fields[0] as u32 as i32;
        let Some(t) = self.processes.get(&tgid).and_then(|p| p.posix_timers.get(&id)) else { return };
        let mut o = t.overrun.lock().unwrap();
        o.queued = false;
        o.last = o.missed;
        o.missed = 0;
        let overrun = o.last.min(i32::MAX as u64);
        info.fields[0] = id as u32 as u64 | overrun << 32;
    }

    /// After thread `tid`'s mask changed: if it now has a signal it would
    /// take, its `attention` is set and its waits end (a ppoll or sigsuspend
    /// whose mask unblocks a pending signal returns at once, as in Linux).
    pub fn recalc_pending(&self, tid: i32) {
        let Some(t) = self.threads.get(&tid) else { return };
        let Some(p) = self.processes.get(&t.tgid) else { return };
        let blocked = t.mask.0 & !SigSet::UNBLOCKABLE.0;
        if (t.pending.set | p.pending.set) & !blocked != 0 {
            t.handle.attention.store(true, Ordering::SeqCst);
            t.handle.waiter.interrupt();
        }
    }
}
