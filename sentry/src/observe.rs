//! Observing what the application asks of the kernel: one interface for
//! every watcher (`--strace` today, the profiler next). An `Observer` makes
//! a `TaskObserver` for each task; the task loop calls it on the task's own
//! host thread, around each syscall and each fault, so a watcher keeps its
//! state (lines, counters, histograms) per thread, with no lock on the
//! syscall path.

use std::time::Duration;

use crate::mm::{FaultError, MemoryManager};

/// The task a watcher is told about: its ids and its memory (to read what
/// its syscall arguments point to).
pub struct Watched<'a> {
    pub tid: i32,
    pub tgid: i32,
    pub mm: &'a MemoryManager,
}

/// Watches every task of a sandbox.
pub trait Observer: Send + Sync {
    /// The watcher of a task that is about to run (its thread's own).
    fn task_started(&self) -> Box<dyn TaskObserver>;
}

/// One task's watcher. Every call comes from the task's own host thread.
pub trait TaskObserver: Send {
    /// A syscall `nr` is about to be served.
    fn syscall_enter(&mut self, _task: &Watched<'_>, _nr: u64, _args: &[u64; 6]) {}

    /// Syscall `nr` was served: `ret` is what the application gets in rax
    /// (a negative errno on failure, or a restart code the signal code
    /// turns into EINTR or a restart), `elapsed` how long the Sentry took.
    fn syscall_exit(&mut self, _task: &Watched<'_>, _nr: u64, _args: &[u64; 6], _ret: u64, _elapsed: Duration) {}

    /// A fault at `addr` (SEGV_MAPERR/ACCERR `code`) was handled.
    fn fault(
        &mut self,
        _task: &Watched<'_>,
        _addr: u64,
        _code: i32,
        _result: &Result<(), FaultError>,
        _elapsed: Duration,
    ) {
    }
}
