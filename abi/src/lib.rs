//! The Linux x86-64 ABI as the application sees it: system call numbers, errno
//! values, flag words, signal numbers and kernel-layout structs. No logic lives
//! here beyond naming and layout.

#![forbid(unsafe_code)]

pub mod consts;
mod errno;
pub mod signal;
pub mod structs;
pub mod sysno;

pub use errno::Errno;
