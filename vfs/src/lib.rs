//! The VFS core. Today it holds what the Foundation needs: open file descriptions
//! with their `FileOps`, the memory-block sequences that file I/O reads into and
//! writes from, and files backed by host fds (the stdio the sandbox is given).
//! Mounts, dentries, path resolution, tmpfs, overlay, pipes, epoll and the
//! gofer-backed filesystem arrive with the filesystem issue.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod file;
pub mod host;
pub mod safemem;

pub use file::{FileDescription, FileOps, UserIo};
pub use safemem::{Block, BlockSeq};
