//! Seccomp allow-lists as data: each rule names a host syscall, the
//! arguments it may take and why the process needs it (as Firecracker keeps
//! its filters). A policy is built into BPF with seccompiler, installed,
//! counted and printed (`rvisor do --print-seccomp`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

/// A comparison of one syscall argument, in the filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgCmp {
    Eq(u64),
    /// Unsigned greater-than.
    Gt(u64),
    /// Unsigned less-or-equal.
    Le(u64),
    /// `arg & mask == value`.
    MaskedEq {
        mask: u64,
        value: u64,
    },
}

/// A condition on argument `arg` (0-based). Values that fit 32 bits compare the
/// argument's low 32 bits (the kernel's `int` arguments), others all 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgCond {
    pub arg: u8,
    pub cmp: ArgCmp,
}

/// Which calls of one host syscall a filter lets through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgFilter {
    /// Any arguments.
    Any,
    /// Calls for which every condition of at least one alternative holds.
    AnyOf(Vec<Vec<ArgCond>>),
}

impl ArgFilter {
    /// Argument `arg` equals one of `values`.
    pub fn one_of(arg: u8, values: &[u64]) -> ArgFilter {
        ArgFilter::AnyOf(values.iter().map(|&v| vec![ArgCond { arg, cmp: ArgCmp::Eq(v) }]).collect())
    }

    /// Argument `arg` is a positive `int` (a pid: never 0, -1 or a group).
    pub fn positive_int(arg: u8) -> [ArgCond; 2] {
        [ArgCond { arg, cmp: ArgCmp::Gt(0) }, ArgCond { arg, cmp: ArgCmp::Le(i32::MAX as u64) }]
    }
}

/// One allowed host syscall (several rules for one syscall add up).
#[derive(Clone, Debug)]
pub struct Rule {
    pub nr: i64,
    pub args: ArgFilter,
    pub why: &'static str,
}

impl Rule {
    pub fn any(nr: i64, why: &'static str) -> Rule {
        Rule { nr, args: ArgFilter::Any, why }
    }

    pub fn one_of(nr: i64, arg: u8, values: &[u64], why: &'static str) -> Rule {
        Rule { nr, args: ArgFilter::one_of(arg, values), why }
    }

    pub fn when(nr: i64, alternatives: Vec<Vec<ArgCond>>, why: &'static str) -> Rule {
        Rule { nr, args: ArgFilter::AnyOf(alternatives), why }
    }
}

/// A host syscall that fails with `errno` instead of running (glibc then
/// takes another way), never killing the process.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub nr: i64,
    pub errno: i32,
    pub why: &'static str,
}

/// A process's whole filter: what it may call; everything else kills it.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub allow: Vec<Rule>,
    pub refuse: Vec<Refusal>,
}

/// A syscall's name, for printing.
pub fn syscall_name(nr: i64) -> String {
    usize::try_from(nr).ok().and_then(abi::sysno::name).map_or_else(|| format!("syscall {nr}"), str::to_string)
}

fn condition(c: &ArgCond) -> Result<SeccompCondition, seccompiler::Error> {
    let (op, v) = match c.cmp {
        ArgCmp::Eq(v) => (SeccompCmpOp::Eq, v),
        ArgCmp::Gt(v) => (SeccompCmpOp::Gt, v),
        ArgCmp::Le(v) => (SeccompCmpOp::Le, v),
        ArgCmp::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(mask), value),
    };
    let wide = match c.cmp {
        ArgCmp::MaskedEq { mask, .. } => mask > u32::MAX as u64,
        _ => v > u32::MAX as u64,
    };
    let len = if wide { SeccompCmpArgLen::Qword } else { SeccompCmpArgLen::Dword };
    Ok(SeccompCondition::new(c.arg, len, op, v)?)
}

fn arch() -> Result<seccompiler::TargetArch, seccompiler::Error> {
    Ok(std::env::consts::ARCH.try_into()?)
}

impl Policy {
    /// The host syscalls that can run, whatever their arguments.
    pub fn allowed(&self) -> BTreeSet<i64> {
        let refused: BTreeSet<i64> = self.refuse.iter().map(|r| r.nr).collect();
        self.allow.iter().map(|r| r.nr).filter(|nr| !refused.contains(nr)).collect()
    }

    /// The allow-list in BPF. With `trap`, a forbidden call raises SIGSYS
    /// (reported on stderr by `install`) instead of killing the process.
    fn allow_filter(&self, trap: bool) -> Result<BpfProgram, seccompiler::Error> {
        // An empty rule list matches any arguments; a syscall allowed
        // outright by one rule stays so whatever the others add.
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        let mut unconditional = BTreeSet::new();
        for rule in &self.allow {
            let entry = rules.entry(rule.nr).or_default();
            match &rule.args {
                _ if unconditional.contains(&rule.nr) => {}
                ArgFilter::Any => {
                    entry.clear();
                    unconditional.insert(rule.nr);
                }
                ArgFilter::AnyOf(alternatives) => {
                    for conds in alternatives {
                        let conds = conds.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
                        entry.push(SeccompRule::new(conds)?);
                    }
                }
            }
        }
        // A refused call must get past this filter to meet its refusal.
        for r in &self.refuse {
            rules.insert(r.nr, Vec::new());
        }
        let mismatch = if trap { SeccompAction::Trap } else { SeccompAction::KillProcess };
        Ok(SeccompFilter::new(rules, mismatch, SeccompAction::Allow, arch()?)?.try_into()?)
    }

    /// The refusals, one filter each errno (the strictest verdict of all
    /// installed filters wins, so a refusal beats the allow-list's allow).
    fn refusal_filters(&self) -> Result<Vec<BpfProgram>, seccompiler::Error> {
        let mut by_errno: BTreeMap<i32, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
        for r in &self.refuse {
            by_errno.entry(r.errno).or_default().insert(r.nr, Vec::new());
        }
        by_errno
            .into_iter()
            .map(|(errno, rules)| {
                let filter =
                    SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno as u32), arch()?)?;
                Ok(filter.try_into()?)
            })
            .collect()
    }

    /// The policy in BPF, ready to install: the refusals first, the
    /// allow-list last, so the allow-list need not allow the calls that
    /// install filters. With `trap`, a forbidden call raises SIGSYS instead
    /// of killing the process.
    pub fn compile(&self, trap: bool) -> io::Result<Compiled> {
        let err = |e: seccompiler::Error| io::Error::other(e.to_string());
        let mut progs = self.refusal_filters().map_err(err)?;
        progs.push(self.allow_filter(trap).map_err(err)?);
        Ok(Compiled(progs))
    }

    /// Installs the policy on the calling thread (and every thread it later
    /// creates), with no_new_privs. With `trap`, forbidden calls are
    /// reported on stderr and the process exits.
    pub fn install(&self, trap: bool) -> io::Result<()> {
        let compiled = self.compile(trap)?;
        if trap {
            // SAFETY: installs a handler that only uses async-signal-safe calls.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = report_sigsys as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO;
                libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut());
            }
        }
        compiled.install().map_err(|e| io::Error::new(e.kind(), format!("install the seccomp filter: {e}")))
    }

    /// Prints the policy: one line per allowed syscall with its argument
    /// conditions and reasons, then the refusals, then the count.
    pub fn print(&self, title: &str, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "# {title}: {} host syscalls allowed; any other kills the process", self.allowed().len())?;
        let mut by_nr: BTreeMap<String, Vec<&Rule>> = BTreeMap::new();
        for r in &self.allow {
            by_nr.entry(syscall_name(r.nr)).or_default().push(r);
        }
        for (name, rules) in by_nr {
            let args = if rules.iter().any(|r| r.args == ArgFilter::Any) {
                "any arguments".to_string()
            } else {
                rules
                    .iter()
                    .flat_map(|r| match &r.args {
                        ArgFilter::AnyOf(alts) => alts.clone(),
                        ArgFilter::Any => Vec::new(),
                    })
                    .map(|conds| conds.iter().map(show_cond).collect::<Vec<_>>().join(" && "))
                    .collect::<Vec<_>>()
                    .join(" || ")
            };
            let mut whys: Vec<&str> = rules.iter().map(|r| r.why).collect();
            whys.dedup();
            writeln!(out, "allow {name:<18} {args}\n      {:<18} why: {}", "", whys.join("; "))?;
        }
        for r in &self.refuse {
            writeln!(out, "fail  {:<18} with errno {}: {}", syscall_name(r.nr), r.errno, r.why)?;
        }
        Ok(())
    }
}

/// A compiled policy: the BPF programs to install, in order.
#[derive(Clone, Debug)]
pub struct Compiled(Vec<BpfProgram>);

impl Compiled {
    /// Sets no_new_privs and installs the programs on the calling thread,
    /// with raw system calls and no allocation, so that the child of a fork
    /// of a multi-threaded process may call it too.
    pub fn install(&self) -> io::Result<()> {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        for prog in &self.0 {
            let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut libc::sock_filter };
            // SAFETY: seccompiler's sock_filter has the kernel's layout, and
            // `fprog` points at `prog`, which outlives the call.
            let r = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &fprog) };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

fn show_cond(c: &ArgCond) -> String {
    match c.cmp {
        ArgCmp::Eq(v) => format!("arg{} == {v:#x}", c.arg),
        ArgCmp::Gt(v) => format!("arg{} > {v:#x}", c.arg),
        ArgCmp::Le(v) => format!("arg{} <= {v:#x}", c.arg),
        ArgCmp::MaskedEq { mask, value } => format!("arg{} & {mask:#x} == {value:#x}", c.arg),
    }
}

extern "C" fn report_sigsys(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // siginfo for SIGSYS: si_syscall is the int at byte offset 24.
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let nr = unsafe { *(info as *const u8).add(24).cast::<i32>() };
    let mut msg = *b"rvisor: seccomp: forbidden host syscall      \n";
    let mut n = nr.max(0) as u32;
    let mut i = msg.len() - 2;
    loop {
        msg[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
        i -= 1;
    }
    // SAFETY: write and _exit are async-signal-safe.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(128 + libc::SIGSYS);
    }
}
