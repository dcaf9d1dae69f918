//! exit, exit_group.

use sentry::{ExitStatus, SyscallResult, Task};

/// exit: ends the calling thread; the only thread today, so the process.
pub fn exit(t: &mut Task, code: i32) -> SyscallResult {
    t.exit_group(ExitStatus::Exited(code & 0xff));
    Ok(0)
}

pub fn exit_group(t: &mut Task, code: i32) -> SyscallResult {
    t.exit_group(ExitStatus::Exited(code & 0xff));
    Ok(0)
}
