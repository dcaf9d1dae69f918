//! The VFS core: open file descriptions and their `FileOps`, inodes, dentries,
//! mounts and path resolution, the memory file and the memory-block sequences
//! that file I/O reads into and writes from; tmpfs; and files backed by host
//! fds (the stdio the sandbox is given); the gofer client and the overlay;
//! pipes, eventfds, epoll and inotify.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod dev;
pub mod epoll;
pub mod eventfd;
pub mod file;
pub mod filecache;
pub mod gofer;
pub mod host;
pub mod inode;
pub mod inotify;
pub mod lock;
pub mod memfile;
pub mod mount;
pub mod overlay;
pub mod pipe;
pub mod resolve;
pub mod safemem;
#[cfg(test)]
mod testutil;
pub mod tmpfs;
pub mod waiter;

pub use file::{FileDescription, FileOps, UserIo};
pub use inode::{FsCreds, Inode, InodeRef};
pub use mount::{Dentry, MountNamespace, Path};
pub use safemem::{Block, BlockSeq};
