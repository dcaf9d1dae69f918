//! A task: one application thread, driven by one host thread for its lifetime.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use abi::signal::*;
use abi::Errno;

use crate::fdtable::FdTable;
use crate::kernel::Kernel;
use crate::limits::Limits;
use crate::mm::MemoryManager;
use crate::platform::{Context, Exit, Registers};
use crate::signal::{default_action, DefaultAction, SignalHandlers};

/// How a process ended, as wait(2) would report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
}

impl Credentials {
    /// The credentials of the user who started the sandbox.
    pub fn of_host_user() -> Credentials {
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Credentials { uid, euid: uid, suid: uid, gid, egid: gid, sgid: gid }
    }
}

/// Where a task's paths start: its root (chroot), working directory and umask.
/// Shared by threads (and CLONE_FS), so it locks internally.
pub struct FsContext {
    root: Mutex<vfs::Path>,
    cwd: Mutex<vfs::Path>,
    umask: AtomicU32,
}

impl FsContext {
    pub fn new(root: vfs::Path, cwd: vfs::Path, umask: u32) -> FsContext {
        FsContext { cwd: Mutex::new(cwd), root: Mutex::new(root), umask: AtomicU32::new(umask) }
    }
    pub fn root(&self) -> vfs::Path {
        self.root.lock().unwrap().clone()
    }
    pub fn cwd(&self) -> vfs::Path {
        self.cwd.lock().unwrap().clone()
    }
    pub fn set_cwd(&self, p: vfs::Path) {
        *self.cwd.lock().unwrap() = p;
    }
    pub fn set_root(&self, p: vfs::Path) {
        *self.root.lock().unwrap() = p;
    }
    pub fn umask(&self) -> u32 {
        self.umask.load(Ordering::Relaxed)
    }
    /// Sets the umask; returns the old one.
    pub fn swap_umask(&self, mask: u32) -> u32 {
        self.umask.swap(mask, Ordering::Relaxed)
    }
}

pub struct Task {
    pub kernel: Arc<Kernel>,
    pub tid: i32,
    pub tgid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub regs: Registers,
    pub mm: Arc<MemoryManager>,
    pub fds: Arc<FdTable>,
    pub creds: Credentials,
    pub signal_mask: SigSet,
    /// Signals generated but not yet delivered (handlers do not run yet).
    pub pending: SigSet,
    pub handlers: SignalHandlers,
    pub clear_child_tid: u64,
    pub robust_list: u64,
    pub limits: Limits,
    pub fs: Arc<FsContext>,
    /// Set when the task has exited; the run loop then stops.
    pub exit_status: Option<ExitStatus>,
    pub context: Box<dyn Context>,
}

impl Task {
    /// The task loop: run application code, serve what stopped it, repeat.
    pub fn run(&mut self) -> ExitStatus {
        CURRENT_TID.with(|c| c.set(self.tid));
        loop {
            if let Some(status) = self.exit_status {
                return status;
            }
            match self.context.switch(self.mm.address_space(), &mut self.regs) {
                Ok(Exit::Syscall) => {
                    let table = self.kernel.syscalls.clone();
                    table.dispatch(self);
                }
                Ok(Exit::Fault { addr, code }) => {
                    if let Err(sig) = self.mm.handle_fault(addr, code) {
                        self.force_signal(sig.signo);
                    }
                }
                Ok(Exit::Signal { signo, .. }) => self.force_signal(signo),
                Ok(Exit::Interrupted) => {}
                Err(e) => {
                    eprintln!("rvisor: task {}: {e}", self.tid);
                    self.exit_status = Some(ExitStatus::Signaled(SIGKILL));
                }
            }
        }
    }

    /// Ends the thread group with `status`.
    pub fn exit_group(&mut self, status: ExitStatus) {
        self.exit_status = Some(status);
    }

    /// A synchronous signal caused by the application's own instruction (a fault,
    /// a trap). Linux forces these: blocked or ignored, they still act. Running a
    /// handler needs signal frames, which arrive with the signals issue, so for
    /// now the process ends as if it had no handler.
    pub fn force_signal(&mut self, sig: i32) {
        self.exit_group(ExitStatus::Signaled(sig));
    }

    /// Whether a signal with the current disposition is discarded when sent
    /// (SIG_IGN, or SIG_DFL whose default is to ignore), unless blocked.
    fn ignored(&self, sig: i32) -> bool {
        let h = self.handlers.get(sig).handler;
        !self.signal_mask.contains(sig)
            && sig != SIGKILL
            && sig != SIGSTOP
            && (h == SIG_IGN || (h == SIG_DFL && default_action(sig) == DefaultAction::Ignore))
    }

    /// Sends `sig` to this process (kill to itself, SIGPIPE from a broken pipe).
    pub fn send_signal(&mut self, sig: i32) {
        if sig == 0 || self.ignored(sig) {
            return;
        }
        self.pending.0 |= 1 << (sig - 1);
        self.deliver_pending();
    }

    /// Acts on pending signals that are not blocked: default actions and
    /// SIG_IGN are carried out now. Signals with a handler stay pending: building
    /// signal frames arrives with the signals issue.
    pub fn deliver_pending(&mut self) {
        let ready = self.pending.0 & (!self.signal_mask.0 | SigSet::UNBLOCKABLE.0);
        for sig in 1..=SIGRTMAX {
            if ready & (1 << (sig - 1)) == 0 {
                continue;
            }
            let h = self.handlers.get(sig).handler;
            if h != SIG_DFL && h != SIG_IGN && sig != SIGKILL && sig != SIGSTOP {
                continue;
            }
            self.pending.0 &= !(1 << (sig - 1));
            if h == SIG_IGN && sig != SIGKILL && sig != SIGSTOP {
                continue;
            }
            match default_action(sig) {
                DefaultAction::Terminate | DefaultAction::CoreDump => {
                    self.exit_group(ExitStatus::Signaled(sig));
                    return;
                }
                // Job control (stop/continue) arrives with the processes issue.
                DefaultAction::Ignore | DefaultAction::Continue | DefaultAction::Stop => {}
            }
        }
    }

    /// Drops pending signals that the disposition now ignores (as sigaction does).
    pub fn discard_ignored_pending(&mut self) {
        for sig in 1..=SIGRTMAX {
            let h = self.handlers.get(sig).handler;
            let ignores = h == SIG_IGN || (h == SIG_DFL && default_action(sig) == DefaultAction::Ignore);
            if ignores && sig != SIGKILL && sig != SIGSTOP {
                self.pending.0 &= !(1 << (sig - 1));
            }
        }
    }

    /// The memory manager as the `UserIo` that file operations take.
    pub fn user_io(&self) -> &dyn vfs::UserIo {
        &*self.mm
    }

    /// The identity file permission checks use (fsuid/fsgid follow the
    /// effective ids).
    pub fn fs_creds(&self) -> vfs::FsCreds {
        vfs::FsCreds { uid: self.creds.euid, gid: self.creds.egid, groups: Vec::new() }
    }

    /// A resolver for paths as this task sees them (`root` is its root).
    pub fn resolver<'a>(&'a self, root: &'a vfs::Path, creds: &'a vfs::FsCreds) -> vfs::resolve::Resolver<'a> {
        vfs::resolve::Resolver { ns: &self.kernel.mounts, root, creds, restrict: 0 }
    }

    /// RLIMIT_NOFILE, the bound for new fd numbers.
    pub fn nofile_limit(&self) -> u64 {
        self.limits.get(abi::consts::RLIMIT_NOFILE).rlim_cur
    }
}

/// A syscall result: the value for rax, or an errno.
pub type SyscallResult = Result<u64, Errno>;

thread_local! {
    /// The task this host thread runs (Linux's `current`), for /proc/self.
    static CURRENT_TID: Cell<i32> = const { Cell::new(0) };
}

/// The thread id of the task running on this host thread (0 if none).
pub fn current_tid() -> i32 {
    CURRENT_TID.with(|c| c.get())
}
