//! The syscall table and every handler. One declarative table maps each
//! number to its name, handler, argument kinds (for strace) and support level;
//! numbers not in it return ENOSYS and are counted.

#![forbid(unsafe_code)]

pub mod args;
pub mod fs;
pub mod kernel;
pub mod mm;
pub mod strace;
mod table;

use std::collections::BTreeMap;
use std::sync::Mutex;

use abi::Errno;
use sentry::{SyscallResult, Task};

pub use table::TABLE;

/// A handler: typed arguments are converted from the registers by the table.
pub type Handler = fn(&mut Task, &[u64; 6]) -> SyscallResult;

/// How completely rVisor implements a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Full,
    /// Implemented, with the listed limits.
    Partial(&'static str),
    /// Deliberately answered with an error (the handler returns it).
    Refused(&'static str),
}

pub struct Entry {
    pub nr: usize,
    pub name: &'static str,
    pub args: &'static [strace::Arg],
    pub ret: strace::Ret,
    pub handler: Handler,
    pub support: Support,
}

/// The table's entry for syscall `nr`, if rVisor has one.
pub fn entry(nr: u64) -> Option<&'static Entry> {
    static BY_NR: std::sync::OnceLock<Vec<Option<&'static Entry>>> = std::sync::OnceLock::new();
    let by_nr = BY_NR.get_or_init(|| {
        let mut by_nr = vec![None; abi::sysno::COUNT];
        for e in TABLE {
            by_nr[e.nr] = Some(e);
        }
        by_nr
    });
    usize::try_from(nr).ok().and_then(|n| by_nr.get(n).copied().flatten())
}

/// The table as the Sentry uses it, with the counts of unimplemented
/// numbers.
#[derive(Default)]
pub struct SyscallTable {
    unimplemented: Mutex<BTreeMap<u64, u64>>,
}

impl SyscallTable {
    pub fn new() -> SyscallTable {
        SyscallTable::default()
    }

    /// Counts of the unimplemented syscall numbers the application asked for.
    pub fn unimplemented(&self) -> BTreeMap<u64, u64> {
        self.unimplemented.lock().unwrap().clone()
    }

    /// Counts an unimplemented call under its number; numbers past the table
    /// share the key `BEYOND_TABLE`, so an application cannot grow the map or
    /// the log. The first call under each key is logged.
    fn note_unimplemented(&self, nr: u64, int80: bool) {
        let key = if int80 { INT80 } else { nr.min(BEYOND_TABLE) };
        let mut m = self.unimplemented.lock().unwrap();
        let count = m.entry(key).or_insert(0);
        *count += 1;
        if *count > 1 {
            return;
        }
        if int80 {
            tracing::info!("int 0x80 (the 32-bit syscall ABI) is not offered: ENOSYS");
        } else {
            let name =
                usize::try_from(nr).ok().and_then(abi::sysno::name).unwrap_or("beyond the table; not logged again");
            tracing::info!("unimplemented syscall {nr} ({name}): ENOSYS");
        }
    }
}

impl sentry::SyscallTable for SyscallTable {
    fn dispatch(&self, task: &mut Task) {
        let nr = task.regs.orig_rax;
        let args = task.regs.syscall_args();
        let ret = match entry(nr) {
            Some(e) => (e.handler)(task, &args),
            None => {
                self.note_unimplemented(nr, false);
                Err(Errno::ENOSYS)
            }
        };
        task.regs.rax = match ret {
            Ok(v) => v,
            Err(e) => e.as_return(),
        };
    }

    fn refuse_syscall32(&self, task: &mut Task) {
        self.note_unimplemented(task.regs.orig_rax, true);
        task.regs.rax = Errno::ENOSYS.as_return();
    }
}

/// Keys of the unimplemented counts past the syscall numbers: every number
/// beyond the table, and calls through `int 0x80`.
pub const BEYOND_TABLE: u64 = abi::sysno::COUNT as u64;
pub const INT80: u64 = BEYOND_TABLE + 1;

/// The README's table of supported syscalls, generated from TABLE.
pub fn markdown_table() -> String {
    let mut rows: Vec<&Entry> = TABLE.iter().collect();
    rows.sort_by_key(|e| e.nr);
    let mut s = String::from("| nr | syscall | support | notes |\n| --- | --- | --- | --- |\n");
    for e in rows {
        let (level, note) = match e.support {
            Support::Full => ("full", ""),
            Support::Partial(n) => ("partial", n),
            Support::Refused(n) => ("refused", n),
        };
        s.push_str(&format!("| {} | {} | {} | {} |\n", e.nr, e.name, level, note));
    }
    s
}
