//! The Sentry: rVisor's kernel. It owns the sandbox's processes and threads,
//! memory, signals and files, serves every system call the application makes,
//! and reaches the host only through its platform, the memory file, the fds it
//! was given at start and (later) the Gofer.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod creds;
pub mod eventfiles;
pub mod exec;
pub mod fdtable;
pub mod futex;
pub mod host;
pub mod kernel;
pub mod limits;
pub mod loader;
pub mod log;

pub mod mm;
pub mod observe;
pub mod oom;
pub mod platform;
pub mod process;
pub mod procfs;
pub mod seccomp;
pub mod sigframe;
pub mod signal;
pub mod task;
pub mod task_clone;
pub mod task_start;
pub mod task_wait;
pub mod timer;
pub mod vdso;

pub use kernel::Kernel;
pub use process::ExitStatus;
pub use task::{SyscallResult, SyscallTable, Task};
pub use task_start::{InitError, InitProcess};
