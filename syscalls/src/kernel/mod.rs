//! Process-level syscalls: identity, exit, thread setup, limits, time,
//! scheduling, randomness and signal state.

pub mod exit;
pub mod futex;
pub mod identity;
pub mod limits;
pub mod random;
pub mod sched;
pub mod signal;
pub mod sysinfo;
pub mod thread;
pub mod time;
