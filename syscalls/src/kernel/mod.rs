//! Process-level syscalls: identity, exit, thread setup, limits, time,
//! scheduling, randomness and signal state.

pub mod creds;
pub mod futex;
pub mod identity;
pub mod limits;
pub mod prctl;
pub mod process;
pub mod random;
pub mod rusage;
pub mod sched;
pub mod signal;
pub mod sysinfo;
pub mod thread;
pub mod time;
pub mod timer;
