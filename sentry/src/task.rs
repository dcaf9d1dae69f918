//! A task: one application thread, driven by one host thread for its lifetime.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use abi::signal::*;
use abi::Errno;

use crate::creds::{Credentials, FsContext};
use crate::fdtable::FdTable;
use crate::kernel::{Kernel, TaskView};
use crate::limits::Limits;
use crate::mm::{FaultError, MemoryManager};
use crate::observe::TaskObserver;
use crate::platform::{Context, Exit, Registers};
use crate::process::{ExitStatus, Life, TaskHandle, TaskIds, Tasks, Thread};
use crate::signal::{default_action, DefaultAction, SignalHandlers};

/// What a restarted syscall resumes (restart_syscall after
/// ERESTART_RESTARTBLOCK): a sleep until this deadline.
#[derive(Clone, Copy, Debug)]
pub enum RestartBlock {
    Sleep { clock: i32, deadline_ns: i64, rem: u64 },
}

/// Released when a vfork child execs or exits.
#[derive(Default)]
pub struct VforkDone {
    pub done: Mutex<bool>,
    pub queue: vfs::waiter::WaitQueue,
}

impl VforkDone {
    pub fn release(&self) {
        *self.done.lock().unwrap() = true;
        self.queue.notify_all();
    }
}

pub struct Task {
    pub kernel: Arc<Kernel>,
    pub tid: i32,
    pub tgid: i32,
    pub handle: Arc<TaskHandle>,
    pub regs: Registers,
    pub mm: Arc<MemoryManager>,
    pub fds: Arc<FdTable>,
    pub fs: Arc<FsContext>,
    pub creds: Credentials,
    pub handlers: Arc<Mutex<SignalHandlers>>,
    /// sigaltstack.
    pub altstack: StackT,
    pub clear_child_tid: u64,
    pub robust_list: u64,
    pub limits: Limits,
    /// The executable, for /proc/[pid]/exe.
    pub exe: vfs::Path,
    /// Set when the task must end; the run loop then stops.
    pub exiting: Option<ExitStatus>,
    /// The syscall just served returned a restart code, still in rax: a
    /// signal handler decides between EINTR and running it again.
    pub restart_pending: bool,
    pub restart_block: Option<RestartBlock>,
    /// The mask to restore once a signal handler has been set up (sigsuspend,
    /// ppoll and pselect wait with a temporary mask).
    pub saved_mask: Option<SigSet>,
    /// A vfork parent waiting for this task to exec or exit.
    pub vfork_done: Option<Arc<VforkDone>>,
    /// The task's name (PR_SET_NAME; the program's name after exec).
    pub comm: [u8; 16],
    /// PR_SET_NO_NEW_PRIVS: kept across fork and exec, never cleared.
    pub no_new_privs: bool,
    /// PR_SET_KEEPCAPS.
    pub keepcaps: bool,
    /// The capability bounding set (PR_CAPBSET_DROP).
    pub cap_bset: u64,
    pub context: Box<dyn Context>,
    /// The watchers of this task's syscalls and faults, one per observer.
    pub observers: Vec<Box<dyn TaskObserver>>,
    /// What serves its syscalls, and what watches them: the sandbox's,
    /// handed from the first task to every task it makes.
    pub syscalls: Arc<dyn SyscallTable>,
    pub watchers: Arc<[Arc<dyn crate::observe::Observer>]>,
}

/// Serves a task's system call; implemented by the syscalls crate.
pub trait SyscallTable: Send + Sync {
    /// Runs the syscall in `task.regs` and stores its result there.
    fn dispatch(&self, task: &mut Task);
    /// Answers a 32-bit (`int 0x80`) syscall, which is not offered: ENOSYS.
    fn refuse_syscall32(&self, task: &mut Task);
}

/// Every capability Linux defines (CAP_LAST_CAP is 40).
pub const ALL_CAPS: u64 = (1 << 41) - 1;
/// The capabilities that follow the fs uid to and from 0 (CAP_FS_MASK).
pub const CAP_FS_MASK: u64 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 9) | (1 << 27) | (1 << 32);

/// The name exec gives a task: the last component of the path, at most 15 bytes.
pub fn comm_of(path: &[u8]) -> [u8; 16] {
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let mut c = [0u8; 16];
    let n = base.len().min(15);
    c[..n].copy_from_slice(&base[..n]);
    c
}

/// The restart_syscall number.
const SYS_RESTART_SYSCALL: u64 = 219;
const SYS_RT_SIGRETURN: u64 = 15;

fn is_restart_code(rax: u64) -> bool {
    let e = (rax as i64).wrapping_neg();
    [Errno::ERESTARTSYS, Errno::ERESTARTNOINTR, Errno::ERESTARTNOHAND, Errno::ERESTART_RESTARTBLOCK]
        .iter()
        .any(|r| r.0 as i64 == e)
}

impl TaskIds for Task {
    fn tid(&self) -> i32 {
        self.tid
    }
    fn tgid(&self) -> i32 {
        self.tgid
    }
}

/// A syscall as it entered, for its observers' exit call.
struct EnteredSyscall {
    nr: u64,
    args: [u64; 6],
    start: std::time::Instant,
}

impl Task {
    /// The task loop: deliver signals, run application code, serve what
    /// stopped it, repeat. Returns when the task exits.
    pub fn run(&mut self) {
        CURRENT.with(|c| c.set((self.tid, self.tgid)));
        loop {
            if self.handle.attention.load(Ordering::SeqCst) || self.restart_pending {
                self.check_signals();
            }
            if self.exiting.is_some() {
                return;
            }
            match self.context.switch(self.mm.address_space(), &mut self.regs) {
                Ok(Exit::Syscall) => {
                    let table = self.syscalls.clone();
                    let refusals = self.kernel.memfile.refusals();
                    let watched = self.observe_syscall_enter();
                    table.dispatch(self);
                    if let Some(entered) = watched {
                        self.observe_syscall_exit(entered);
                    }
                    if self.regs.rax == Errno::ENOMEM.as_return() && self.kernel.memfile.refusals() != refusals {
                        // The memory cap refused the call's memory: as in
                        // Linux, a process is killed to make room and the
                        // call runs again (unless this task was chosen, or
                        // there was nothing to kill: then it fails).
                        if self.wait_for_memory() {
                            self.regs.rax = Errno::ERESTARTNOINTR.as_return();
                        }
                    }
                    self.restart_pending = self.regs.orig_rax != SYS_RT_SIGRETURN && is_restart_code(self.regs.rax);
                }
                Ok(Exit::Fault { addr, code }) => {
                    let start = (!self.observers.is_empty()).then(std::time::Instant::now);
                    let result = self.mm.handle_fault(addr, code, self.regs.rip);
                    if let Some(start) = start {
                        let mut observers = std::mem::take(&mut self.observers);
                        for o in &mut observers {
                            o.fault(&self.watched(), addr, code, &result, start.elapsed());
                        }
                        self.observers = observers;
                    }
                    match result {
                        Ok(()) => {}
                        Err(FaultError::Signal { signo, code }) => self.force_signal(SigInfo::fault(signo, code, addr)),
                        // Once a process is killed to make room, the access
                        // runs again (or this task dies, if it was chosen).
                        // With nothing to kill, the access fails.
                        Err(FaultError::OutOfMemory) => {
                            if !self.wait_for_memory() {
                                self.force_signal(SigInfo::fault(SIGBUS, BUS_ADRERR, addr));
                            }
                        }
                    }
                }
                Ok(Exit::Syscall32) => self.syscalls.clone().refuse_syscall32(self),
                Ok(Exit::Vsyscall { addr }) => self.emulate_vsyscall(addr),
                Ok(Exit::Signal { signo, code, addr }) => self.force_signal(SigInfo::fault(signo, code, addr)),
                Ok(Exit::Interrupted) => {}
                Err(e) => {
                    crate::warn_limited!("task {}: {e}", self.tid);
                    self.exit_group(ExitStatus::Signaled { sig: SIGKILL, core: false });
                }
            }
        }
    }

    /// Tells the observers a syscall is about to be served; returns the
    /// call as it entered (None when nothing watches).
    fn observe_syscall_enter(&mut self) -> Option<EnteredSyscall> {
        if self.observers.is_empty() {
            return None;
        }
        let (nr, args) = (self.regs.orig_rax, self.regs.syscall_args());
        let mut observers = std::mem::take(&mut self.observers);
        for o in &mut observers {
            o.syscall_enter(&self.watched(), nr, &args);
        }
        self.observers = observers;
        Some(EnteredSyscall { nr, args, start: std::time::Instant::now() })
    }

    /// Tells the observers the syscall `entered` was served (its arguments
    /// as they were: an execve has replaced the registers).
    fn observe_syscall_exit(&mut self, entered: EnteredSyscall) {
        let elapsed = entered.start.elapsed();
        let EnteredSyscall { nr, args, .. } = entered;
        let ret = self.regs.rax;
        let mut observers = std::mem::take(&mut self.observers);
        for o in &mut observers {
            o.syscall_exit(&self.watched(), nr, &args, ret, elapsed);
        }
        self.observers = observers;
    }

    /// What the task's watchers see of it.
    fn watched(&self) -> crate::observe::Watched<'_> {
        crate::observe::Watched { tid: self.tid, tgid: self.tgid, mm: &self.mm }
    }

    /// The parts of the task a signal frame is built from and restored to.
    fn frame_task(&mut self) -> crate::sigframe::FrameTask<'_> {
        crate::sigframe::FrameTask {
            regs: &mut self.regs,
            mm: &self.mm,
            altstack: &mut self.altstack,
            context: &mut *self.context,
        }
    }

    /// rt_sigreturn: the registers, altstack, FP state and mask the
    /// handler's frame saved. Err means the frame is bad.
    pub fn sigreturn(&mut self) -> Result<(), Errno> {
        let mask = crate::sigframe::sigreturn(self.frame_task())?;
        self.set_mask(mask);
        Ok(())
    }

    /// Waits for the OOM killer to make room (or to choose this task);
    /// false if it could not.
    fn wait_for_memory(&self) -> bool {
        let killed = || {
            self.handle.zapped.load(Ordering::SeqCst)
                || self.kernel.tasks.lock().unwrap().process(self.tgid).is_none_or(|p| !p.alive())
        };
        self.kernel.oom.wait_round(&killed)
    }

    /// A call into the legacy vsyscall page: the host emulated the call's
    /// return and refused the call itself (the stub's filter), so the Sentry
    /// serves it as the syscall it stands for.
    fn emulate_vsyscall(&mut self, addr: u64) {
        let nr = match addr.wrapping_sub(abi::consts::VSYSCALL_ADDR) / 0x400 {
            0 => 96,  // gettimeofday
            1 => 201, // time
            _ => 309, // getcpu
        };
        self.regs.orig_rax = nr;
        let table = self.syscalls.clone();
        table.dispatch(self);
        self.regs.orig_rax = u64::MAX;
    }

    pub fn tasks(&self) -> MutexGuard<'_, Tasks> {
        self.kernel.tasks.lock().unwrap()
    }

    /// Ends every thread of the process with `status` (unless an exit began
    /// already, whose status then wins).
    pub fn exit_group(&mut self, status: ExitStatus) {
        let kernel = self.kernel.clone();
        let mut ts = kernel.tasks.lock().unwrap();
        ts.start_group_exit(self.tgid, status);
        self.exiting = Some(match ts.process(self.tgid).map(|p| p.life) {
            Some(Life::Exiting(s)) => s,
            _ => status,
        });
    }

    /// A synchronous signal caused by the application's own instruction (a
    /// fault, a trap). Linux forces these: blocked or ignored, the handler is
    /// reset to the default first.
    pub fn force_signal(&mut self, info: SigInfo) {
        let sig = info.signo;
        let mut ts = self.tasks();
        let t = ts.current_thread_mut(self);
        let blocked = t.mask.contains(sig);
        t.mask.0 &= !SigSet::bit(sig);
        {
            let mut h = self.handlers.lock().unwrap();
            let mut act = h.get(sig);
            if blocked || act.handler == SIG_IGN {
                act.handler = SIG_DFL;
                h.set(sig, act);
            }
        }
        t.pending.push(info);
        self.handle.attention.store(true, Ordering::SeqCst);
    }

    /// Sends `sig` to this task's own process (SIGPIPE from a broken pipe).
    pub fn signal_self(&mut self, sig: i32, code: i32) {
        let info = SigInfo::from_process(sig, code, self.tgid, self.creds.uid);
        let _ = self.tasks().send(crate::process::Target::Thread(self.tid), info);
    }

    /// The signal mask.
    pub fn mask(&self) -> SigSet {
        self.tasks().current_thread(self).mask
    }

    /// Sets the signal mask (SIGKILL and SIGSTOP stay unblocked).
    pub fn set_mask(&mut self, mask: SigSet) {
        let mut ts = self.tasks();
        ts.current_thread_mut(self).mask = SigSet(mask.0 & !SigSet::UNBLOCKABLE.0);
        ts.recalc_pending(self.tid);
    }

    /// Looks at what needs the task before it runs application code again: a
    /// group exit or stop, then pending signals. Sets up at most one handler
    /// frame; carries out default actions.
    fn check_signals(&mut self) {
        let kernel = self.kernel.clone();
        let mut ts = kernel.tasks.lock().unwrap();
        loop {
            let p = ts.current_process(self);
            if let Life::Exiting(status) = p.life {
                self.exiting = Some(status);
                return;
            }
            if self.handle.zapped.load(Ordering::SeqCst) {
                // Another thread's execve: this thread just goes.
                self.exiting = Some(ExitStatus::Exited(0));
                return;
            }
            if p.stopped.is_some() {
                // Group stop: wait for SIGCONT or SIGKILL.
                let resumed = p.resumed.clone();
                self.handle.waiter.clear_interrupt();
                ts = match resumed.sleep(&kernel.tasks, ts) {
                    Ok(g) => g,
                    Err(_) => kernel.tasks.lock().unwrap(),
                };
                continue;
            }
            let blocked = ts.current_thread(self).mask.0 & !SigSet::UNBLOCKABLE.0;
            let info = match ts.current_thread_mut(self).pending.take(blocked) {
                Some(i) => Some(i),
                None => ts.current_process_mut(self).pending.take(blocked),
            };
            let Some(mut info) = info else {
                self.handle.attention.store(false, Ordering::SeqCst);
                self.handle.waiter.clear_interrupt();
                drop(ts);
                self.finish_restart(None);
                if let Some(m) = self.saved_mask.take() {
                    self.set_mask(m);
                }
                return;
            };
            ts.timer_signal_delivered(self.tgid, &mut info);
            let sig = info.signo;
            let act = self.handlers.lock().unwrap().get(sig);
            if act.handler == SIG_IGN && sig != SIGKILL {
                continue;
            }
            if act.handler == SIG_DFL || sig == SIGKILL || sig == SIGSTOP {
                match default_action(sig) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Stop => {
                        // The terminal's stop signals do nothing to an
                        // orphaned process group (nobody would continue it).
                        let pgid = ts.current_process(self).pgid;
                        if sig == SIGSTOP || !ts.orphaned_pgrp(pgid) {
                            ts.stop_process(self.tgid, sig);
                        }
                        continue;
                    }
                    action => {
                        // A process that is not dumpable dumps no core.
                        let core = action == DefaultAction::CoreDump
                            && self.limits.get(abi::consts::RLIMIT_CORE).rlim_cur > 0
                            && ts.current_process(self).dumpable;
                        let status = ExitStatus::Signaled { sig, core };
                        ts.start_group_exit(self.tgid, status);
                        continue;
                    }
                }
            }
            // A handler: build its frame.
            let old_mask = self.saved_mask.take().unwrap_or(ts.current_thread(self).mask);
            drop(ts);
            self.finish_restart(Some(&act));
            if crate::sigframe::setup(self.frame_task(), &info, &act, old_mask).is_err() {
                // No room for the frame: Linux's force_sigsegv.
                self.handlers.lock().unwrap().set(SIGSEGV, KernelSigaction::default());
                self.exit_group(ExitStatus::Signaled { sig: SIGSEGV, core: false });
                return;
            }
            // Like Linux, a frame is set up for every signal deliverable now,
            // before the application runs: the last one set up runs first.
            ts = kernel.tasks.lock().unwrap();
            let t = ts.current_thread_mut(self);
            let mut mask = old_mask.0 | act.mask;
            if act.flags & SA_NODEFER == 0 {
                mask |= SigSet::bit(sig);
            }
            t.mask = SigSet(mask & !SigSet::UNBLOCKABLE.0);
            if act.flags & SA_RESETHAND != 0 {
                // SA_RESETHAND resets the handler only; the flags stay.
                self.handlers.lock().unwrap().set(sig, KernelSigaction { handler: SIG_DFL, ..act });
            }
        }
    }

    /// Decides what a syscall that returned a restart code does, now that it
    /// is known whether a handler runs (`act`): run again, or fail with EINTR.
    fn finish_restart(&mut self, act: Option<&KernelSigaction>) {
        if !std::mem::take(&mut self.restart_pending) {
            return;
        }
        let code = (self.regs.rax as i64).wrapping_neg() as i32;
        let restart = match act {
            None => true,
            Some(a) => code == Errno::ERESTARTNOINTR.0 || (code == Errno::ERESTARTSYS.0 && a.flags & SA_RESTART != 0),
        };
        if restart {
            self.regs.rax =
                if code == Errno::ERESTART_RESTARTBLOCK.0 { SYS_RESTART_SYSCALL } else { self.regs.orig_rax };
            // Back onto the `syscall` instruction.
            self.regs.rip -= 2;
        } else {
            self.regs.rax = Errno::EINTR.as_return();
        }
    }

    /// Leaves: releases what the task held and tells its process (and, for
    /// the last thread, its parent). Returns the process's status when this
    /// was its last thread.
    pub fn exit(&mut self) -> Option<ExitStatus> {
        let status = self.exiting.unwrap_or(ExitStatus::Exited(0));
        self.release_robust_futexes();
        if self.clear_child_tid != 0 {
            // CLONE_CHILD_CLEARTID: zero the tid word and wake its waiters.
            if self.mm.write_obj(self.clear_child_tid, &0u32).is_ok() {
                if let Ok(key) = crate::futex::Key::of(&self.mm, self.clear_child_tid, false) {
                    self.kernel.futexes.wake(key, 1, u32::MAX);
                }
            }
        }
        if let Some(v) = self.vfork_done.take() {
            v.release();
        }
        self.exit_files();
        // With the last thread, the process's record locks go.
        let kernel = self.kernel.clone();
        let mut ts = kernel.tasks.lock().unwrap();
        if ts.process(self.tgid).is_some_and(|p| p.threads.len() == 1) {
            vfs::lock::release_all(vfs::lock::LockOwner::Process(self.tgid));
        }
        ts.exit_thread(self.tid, status)
    }

    /// Linux's exit_files: the task lets go of its fd table, and the files
    /// only it held close, before its parent hears of the exit (a pipe's
    /// other end sees EOF or EPIPE by then).
    ///
    /// Both references to the table, the task's own and its entry's in the
    /// task set (`TaskView::fds`, for procfs), go here, and the last is
    /// dropped with `Kernel::tasks` let go. The race this closes (issue 7):
    /// only the task's own reference went here, so the entry's was the last,
    /// and `Tasks::exit_thread` dropped it under `Kernel::tasks`. Closing a
    /// file runs filesystem code: with an inotify watch anywhere in the
    /// sandbox it stats the file (the IN_CLOSE event), and a /proc file's
    /// stat looks up its task's owner under `Kernel::tasks`. The exiting
    /// thread took the lock it held, and waited for itself for ever; every
    /// other task, the timer thread and the sandbox's end then waited for
    /// that lock. A batch that opened /proc/self/maps and exited while any
    /// process watched anything was enough.
    fn exit_files(&mut self) {
        let entry_fds = std::mem::take(&mut self.tasks().current_thread_mut(self).view.fds);
        let own_fds = std::mem::take(&mut self.fds);
        // No lock is held here: closing may take any.
        drop(entry_fds);
        drop(own_fds);
    }

    /// What procfs shows of the task.
    pub fn view(&self) -> TaskView {
        TaskView {
            tid: self.tid,
            tgid: self.tgid,
            creds: self.creds.clone(),
            fds: self.fds.clone(),
            fs: self.fs.clone(),
            mm: self.mm.clone(),
            exe: self.exe.clone(),
        }
    }

    /// Linux's commit_creds: the task takes credentials `new`, and other
    /// tasks see them (procfs, capget, ptrace checks). When its effective
    /// or filesystem ids change, or it gains permitted capabilities, its
    /// process stops being dumpable (fs.suid_dumpable is 0) and its parent
    /// death signal is cleared, as in Linux.
    pub fn commit_creds(&mut self, new: Credentials) {
        let old = std::mem::replace(&mut self.creds, new);
        let new = &self.creds;
        let changed = old.euid != new.euid
            || old.egid != new.egid
            || old.fsuid != new.fsuid
            || old.fsgid != new.fsgid
            || new.cap_permitted & !old.cap_permitted != 0;
        let mut ts = self.tasks();
        ts.current_thread_mut(self).view.creds = self.creds.clone();
        if changed {
            let p = ts.current_process_mut(self);
            p.dumpable = false;
            p.pdeathsig = 0;
        }
    }

    /// The task's entry in the task set, with signal mask `mask`.
    pub fn thread_entry(&self, mask: SigSet) -> Thread {
        Thread {
            tgid: self.tgid,
            handle: self.handle.clone(),
            mask,
            pending: Default::default(),
            waiting_for: 0,
            view: self.view(),
        }
    }

    /// Linux's exit_robust_list and exit_pi_state_list: every robust futex
    /// the dying thread holds gets FUTEX_OWNER_DIED, and one waiter is woken;
    /// then every PI futex it holds with waiters goes to the first of them.
    pub fn release_robust_futexes(&mut self) {
        let head = std::mem::take(&mut self.robust_list);
        if head != 0 {
            self.walk_robust_list(head);
        }
        self.kernel.futexes.pi_owner_exited(self.tid as u32);
    }

    fn walk_robust_list(&self, head: u64) {
        use crate::futex::{FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS};
        /// Linux's ROBUST_LIST_LIMIT: a bound against cycles.
        const LIMIT: usize = 2048;
        // struct robust_list_head { next, futex_offset, list_op_pending }.
        let Ok([mut entry, offset, pending]) = self.mm.read_obj::<[u64; 3]>(head) else { return };
        let release = |t: &Task, e: u64| {
            // The low bit of an entry marks a PI futex; the address is the rest.
            let word = (e & !1).wrapping_add(offset);
            let tid = t.tid as u32;
            let old = t
                .mm
                .update_u32(word, |v| (v & FUTEX_TID_MASK == tid).then_some((v & FUTEX_WAITERS) | FUTEX_OWNER_DIED));
            let Ok(v) = old else { return };
            // A PI futex's waiters get the lock from pi_owner_exited instead.
            if v & FUTEX_TID_MASK == tid && v & FUTEX_WAITERS != 0 && e & 1 == 0 {
                if let Ok(key) = crate::futex::Key::of(&t.mm, word, false) {
                    t.kernel.futexes.wake(key, 1, u32::MAX);
                }
            }
        };
        for _ in 0..LIMIT {
            if entry == head || entry == 0 {
                break;
            }
            let next = self.mm.read_obj::<u64>(entry & !1);
            if entry != pending {
                release(self, entry);
            }
            match next {
                Ok(n) => entry = n,
                Err(_) => break,
            }
        }
        if pending != 0 {
            release(self, pending);
        }
    }

    /// The memory manager as the `UserIo` that file operations take.
    pub fn user_io(&self) -> &dyn vfs::UserIo {
        &*self.mm
    }

    /// The identity file permission checks use (fsuid/fsgid follow the
    /// effective ids).
    pub fn fs_creds(&self) -> vfs::FsCreds {
        vfs::FsCreds { uid: self.creds.fsuid, gid: self.creds.fsgid, groups: self.creds.groups.to_vec() }
    }

    /// A resolver for paths as this task sees them (`root` is its root).
    pub fn resolver<'a>(&'a self, root: &'a vfs::Path, creds: &'a vfs::FsCreds) -> vfs::resolve::Resolver<'a> {
        vfs::resolve::Resolver { ns: &self.kernel.mounts, root, creds, restrict: 0 }
    }

    /// RLIMIT_NOFILE, the bound for new fd numbers.
    pub fn nofile_limit(&self) -> u64 {
        self.limits.get(abi::consts::RLIMIT_NOFILE).rlim_cur
    }

    /// Runs a wait with the signal mask at `mask` (ppoll, pselect6,
    /// epoll_pwait). If a signal ends the wait, the old mask is kept in
    /// `saved_mask`: check_signals delivers under the wait's mask and the
    /// handler's frame carries the old one, as in Linux; otherwise the old
    /// mask comes back at once.
    pub fn with_wait_mask(
        &mut self,
        mask: Option<SigSet>,
        wait: impl FnOnce(&mut Task) -> SyscallResult,
    ) -> SyscallResult {
        let Some(mask) = mask else { return wait(self) };
        let old = self.mask();
        self.set_mask(mask);
        let r = wait(self);
        let interrupted = matches!(r, Err(e) if e == Errno::EINTR || e == Errno::ERESTARTNOHAND);
        if interrupted {
            self.saved_mask = Some(old);
        } else {
            self.set_mask(old);
        }
        r
    }

    /// A killable wait (vfork's, execve's) was interrupted by a signal:
    /// whether it must end, because the process is exiting or another
    /// thread's execve ends this one. Otherwise the signal waits for the
    /// task's next return to the application, and the wait goes on.
    pub fn interrupted_killably(&self, ts: &Tasks) -> bool {
        let leave = self.handle.zapped.load(Ordering::SeqCst) || ts.process(self.tgid).is_none_or(|p| !p.alive());
        if !leave {
            self.handle.waiter.clear_interrupt();
            self.handle.attention.store(true, Ordering::SeqCst);
        }
        leave
    }

    /// execve's de_thread: ends every other thread of the process and waits
    /// for them; the caller then carries the process's id. Err if the
    /// process is exiting meanwhile (the exec is abandoned).
    pub fn end_other_threads(&mut self) -> Result<(), Errno> {
        let kernel = self.kernel.clone();
        let mut ts = kernel.tasks.lock().unwrap();
        let p = ts.current_process(self);
        if self.handle.zapped.load(Ordering::SeqCst) {
            return Err(Errno::EINTR);
        }
        let gone = p.thread_exits.clone();
        for o in p.threads.iter().filter(|&&t| t != self.tid) {
            if let Some(h) = ts.threads.get(o).map(|th| &th.handle) {
                h.zapped.store(true, Ordering::SeqCst);
                h.kick();
            }
        }
        loop {
            let p = ts.current_process(self);
            // Another thread's execve (or an exit) won: this one gives way.
            if !p.alive() || self.handle.zapped.load(Ordering::SeqCst) {
                return Err(Errno::EINTR);
            }
            if p.threads.len() == 1 {
                break;
            }
            ts = match gone.sleep(&kernel.tasks, ts) {
                Ok(g) => g,
                Err(_) => {
                    let ts = kernel.tasks.lock().unwrap();
                    self.interrupted_killably(&ts);
                    ts
                }
            };
        }
        if self.tid != self.tgid {
            // The survivor takes the leader's thread id.
            ts.take_leader_tid(self);
            self.tid = self.tgid;
            CURRENT.with(|c| c.set((self.tid, self.tgid)));
        }
        Ok(())
    }
}

/// A syscall result: the value for rax, or an errno.
pub type SyscallResult = Result<u64, Errno>;

thread_local! {
    /// The task this host thread runs (Linux's `current`): (tid, tgid).
    static CURRENT: Cell<(i32, i32)> = const { Cell::new((0, 0)) };
}

/// The thread id of the task running on this host thread (0 if none).
pub fn current_tid() -> i32 {
    CURRENT.with(|c| c.get().0)
}

/// The process id of the task running on this host thread (0 if none).
pub fn current_tgid() -> i32 {
    CURRENT.with(|c| c.get().1)
}
