//! File syscalls: opening, I/O, fd management, stat, names, directories, ioctl.

pub mod attr;
pub mod dir;
pub mod epoll;
pub mod eventfd;
pub mod fd;
pub mod inotify;
pub mod ioctl;
pub mod lock;
pub mod misc;
pub mod names;
pub mod open;
pub mod path;
pub mod pipe;
pub mod poll;
pub mod rw;
pub mod splice;
pub mod stat;
pub mod statx;
pub mod xattr;
