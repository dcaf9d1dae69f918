//! Signal numbers, sets and the kernel's `struct sigaction`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGABRT: i32 = 6;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGSEGV: i32 = 11;
pub const SIGUSR2: i32 = 12;
pub const SIGPIPE: i32 = 13;
pub const SIGALRM: i32 = 14;
pub const SIGTERM: i32 = 15;
pub const SIGSTKFLT: i32 = 16;
pub const SIGCHLD: i32 = 17;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;
pub const SIGTSTP: i32 = 20;
pub const SIGTTIN: i32 = 21;
pub const SIGTTOU: i32 = 22;
pub const SIGURG: i32 = 23;
pub const SIGXCPU: i32 = 24;
pub const SIGXFSZ: i32 = 25;
pub const SIGVTALRM: i32 = 26;
pub const SIGPROF: i32 = 27;
pub const SIGWINCH: i32 = 28;
pub const SIGIO: i32 = 29;
pub const SIGPWR: i32 = 30;
pub const SIGSYS: i32 = 31;
/// Highest signal number (real-time signals run up to here).
pub const SIGRTMAX: i32 = 64;

static NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// The name of a standard signal (`SIGSEGV`), or `SIGRT_n` / `SIG_n`.
pub fn name(sig: i32) -> String {
    match sig {
        1..=31 => NAMES[(sig - 1) as usize].to_string(),
        32..=64 => format!("SIGRT_{}", sig - 32),
        _ => format!("SIG_{sig}"),
    }
}

/// A set of signals, bit `n-1` for signal `n` (the kernel's `sigset_t`, 8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigSet(pub u64);

impl SigSet {
    /// SIGKILL and SIGSTOP can never be blocked, caught or ignored.
    pub const UNBLOCKABLE: SigSet = SigSet((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1)));

    pub fn contains(self, sig: i32) -> bool {
        (1..=SIGRTMAX).contains(&sig) && self.0 & (1 << (sig - 1)) != 0
    }
}

pub const SIG_BLOCK: i32 = 0;
pub const SIG_UNBLOCK: i32 = 1;
pub const SIG_SETMASK: i32 = 2;

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

pub const SA_NOCLDSTOP: u64 = 0x1;
pub const SA_NOCLDWAIT: u64 = 0x2;
pub const SA_SIGINFO: u64 = 0x4;
pub const SA_UNSUPPORTED: u64 = 0x400;
pub const SA_EXPOSE_TAGBITS: u64 = 0x800;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// The kernel's x86-64 `struct sigaction` (not the C library's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct KernelSigaction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

impl SigSet {
    pub fn bit(sig: i32) -> u64 {
        1 << (sig - 1)
    }
}

// si_code values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_QUEUE: i32 = -1;
pub const SI_TIMER: i32 = -2;
pub const SI_TKILL: i32 = -6;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRERR: i32 = 2;

/// The kernel's `siginfo_t`: 128 bytes, a common head and a union whose
/// layout depends on the signal and code (kept here as 8-byte words).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub pad: i32,
    pub fields: [u64; 14],
}

impl SigInfo {
    pub fn new(signo: i32, code: i32) -> SigInfo {
        SigInfo { signo, errno: 0, code, pad: 0, fields: [0; 14] }
    }

    /// From a process: kill, tkill, sigqueue (`si_pid`, `si_uid`).
    pub fn from_process(signo: i32, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut i = SigInfo::new(signo, code);
        i.fields[0] = pid as u32 as u64 | (uid as u64) << 32;
        i
    }

    /// A fault at `addr` (`si_addr`).
    pub fn fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        let mut i = SigInfo::new(signo, code);
        i.fields[0] = addr;
        i
    }

    /// SIGCHLD for a child's state change: `si_status` is the exit code or
    /// the signal; `si_utime`/`si_stime` in clock ticks.
    pub fn child(code: i32, pid: i32, uid: u32, status: i32, utime: u64, stime: u64) -> SigInfo {
        let mut i = SigInfo::from_process(SIGCHLD, code, pid, uid);
        i.fields[1] = status as u32 as u64;
        i.fields[2] = utime;
        i.fields[3] = stime;
        i
    }

    pub fn pid(&self) -> i32 {
        self.fields[0] as u32 as i32
    }
}

/// `stack_t`, for sigaltstack.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StackT {
    pub sp: u64,
    pub flags: i32,
    pub pad: i32,
    pub size: u64,
}

pub const SS_ONSTACK: i32 = 1;
pub const SS_DISABLE: i32 = 2;
pub const SS_AUTODISARM: i32 = 1 << 31;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_names() {
        assert_eq!(std::mem::size_of::<KernelSigaction>(), 32);
        assert_eq!(std::mem::size_of::<SigInfo>(), 128);
        assert_eq!(std::mem::size_of::<StackT>(), 24);
        assert_eq!(name(SIGSEGV), "SIGSEGV");
        assert_eq!(name(34), "SIGRT_2");
        assert!(SigSet::UNBLOCKABLE.contains(SIGKILL));
        assert!(!SigSet::UNBLOCKABLE.contains(SIGINT));
        assert!(!SigSet(u64::MAX).contains(0));
    }
}
