//! File syscalls: I/O, fd management, stat, ioctl.

pub mod fd;
pub mod ioctl;
pub mod rw;
pub mod stat;
