//! The Platform trait: how the Sentry runs application code and shapes its host
//! address space. The Sentry core never sees ptrace or KVM types; the binary
//! picks a platform and hands it to the Kernel at boot.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use abi::consts::Prot;

/// Errors a platform reports. Any of them ends the task that hit it.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("host call {call} failed: {err}")]
    Host { call: &'static str, err: std::io::Error },
    #[error("the stub process died unexpectedly ({0})")]
    StubDied(String),
    #[error("{0}")]
    Unsupported(&'static str),
}

impl PlatformError {
    pub fn host(call: &'static str) -> PlatformError {
        PlatformError::Host { call, err: std::io::Error::last_os_error() }
    }
}

pub type Result<T> = std::result::Result<T, PlatformError>;

/// The application's registers: the x86-64 `user_regs_struct` layout, general
/// registers plus FS/GS base.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

/// 64-bit user code and data segment selectors.
pub const USER_CS: u64 = 0x33;
pub const USER_DS: u64 = 0x2b;

impl Registers {
    /// Registers for a freshly exec'd program: everything zero but the entry
    /// point, the stack pointer and the user segments.
    pub fn for_exec(entry: u64, sp: u64) -> Registers {
        Registers { rip: entry, rsp: sp, cs: USER_CS, ss: USER_DS, eflags: 0x202, ..Default::default() }
    }

    /// The six syscall arguments, in ABI order.
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

/// Where the pages of a host mapping come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// An offset in the memory file.
    MemoryFile { offset: u64 },
}

/// Why the application stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It made a system call; the number and arguments are in the registers.
    Syscall,
    /// It made a system call through `int 0x80`, the 32-bit ABI, whose
    /// numbers and argument registers differ: never served as a 64-bit one.
    Syscall32,
    /// It called into the legacy vsyscall page (`abi::consts::VSYSCALL_ADDR`)
    /// at `addr`: the Sentry serves the call that address stands for, and
    /// the application returns to its caller.
    Vsyscall { addr: u64 },
    /// It touched `addr` where the host has no mapping (`code` SEGV_MAPERR) or a
    /// mapping without the needed access (SEGV_ACCERR).
    Fault { addr: u64, code: i32 },
    /// A synchronous host signal other than a page fault (SIGFPE, SIGILL, SIGTRAP,
    /// a general-protection SIGSEGV, ...), with its siginfo code and address.
    Signal { signo: i32, code: i32, addr: u64 },
    /// Another thread asked this task to stop running application code.
    Interrupted,
}

/// Stops a task's application code from another thread (see `Context`).
pub type Interrupter = Arc<dyn Fn() + Send + Sync>;

/// Reads the CPU time a task's application code has used, from any thread.
pub type CpuClock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// An application address space as the host sees it.
pub trait AddressSpace: Send + Sync {
    /// Maps `len` bytes at `addr` with `prot`, replacing what was there.
    fn map(&self, addr: u64, len: u64, prot: Prot, backing: Backing) -> Result<()>;
    /// Removes any host mapping in `[addr, addr+len)`.
    fn unmap(&self, addr: u64, len: u64) -> Result<()>;
    /// Readies a way into this address space for another task thread (a
    /// thread, a vfork child); called by a task thread that uses it. The
    /// token goes to `adopt_thread`.
    fn clone_thread(&self) -> Result<u64>;
    /// On the new task's own host thread: takes what `clone_thread` readied.
    fn adopt_thread(&self, token: u64) -> Result<()>;
    /// The calling task thread is done with this address space (its task
    /// exits or execs). It may wait for the other users to be done too.
    fn release_thread(&self);
    fn as_any(&self) -> &dyn Any;
}

/// Runs application code on behalf of one task; owned by that task's host thread.
pub trait Context: Send {
    /// Runs the application with `regs` until it stops, then stores its
    /// registers back into `regs`.
    fn switch(&mut self, aspace: &dyn AddressSpace, regs: &mut Registers) -> Result<Exit>;
    /// A handle other threads may call to make `switch` return `Interrupted`.
    fn interrupter(&self) -> Interrupter;
    /// The CPU time the application code of this task has used.
    fn cpu_clock(&self) -> CpuClock;
    /// The application's extended FP state, laid out as XSAVE does (the
    /// software-reserved bytes hold the host's feature mask).
    fn fp_state(&mut self) -> Result<Vec<u8>>;
    /// Replaces the FP state (from `fp_state`, possibly changed); it is in
    /// force when the application next runs.
    fn set_fp_state(&mut self, state: &[u8]) -> Result<()>;
}

pub use confine::seccomp::{ArgCmp, ArgCond, ArgFilter, Rule};

/// Host syscalls a platform needs on top of the Sentry's own, for the filter.
#[derive(Clone, Debug, Default)]
pub struct PlatformSeccomp {
    pub rules: Vec<Rule>,
}

pub trait Platform: Send + Sync {
    /// Creates an empty address space; its host resources belong to the calling
    /// thread's task (the ptrace platform's stub is traced by that thread).
    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>>;
    /// Creates the execution context for the calling host thread.
    fn new_context(&self) -> Result<Box<dyn Context>>;
    /// One past the highest address the application may map.
    fn max_user_address(&self) -> u64;
    fn seccomp_rules(&self) -> PlatformSeccomp;
}
