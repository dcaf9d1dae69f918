//! The gofer-backed filesystem (client side): inodes are gofer handles; files
//! opened for I/O are fds the gofer donates, read directly by the Sentry.
//!
//! Read-only today: every change is EROFS. It serves as the lower layer of
//! the sandbox's root; writable volumes and the overlay come next.

use std::any::Any;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;
use gofer::protocol::{decode_reply, Handle, Reply, Request};
use gofer::transport::{recv, send, MAX_MESSAGE};

use crate::file::{FileDescription, FileOps};
use crate::host::{host_fstat, transfer};
use crate::inode::{DirEntry, FileType, Inode, InodeRef, NewAttrs, NewNode, SetAttr};
use crate::safemem::BlockSeq;

/// The Sentry's end of the gofer socket. One request is in flight at a time.
pub struct GoferClient {
    sock: OwnedFd,
    buf: Mutex<Vec<u8>>,
}

impl GoferClient {
    pub fn new(sock: OwnedFd) -> Arc<GoferClient> {
        Arc::new(GoferClient { sock, buf: Mutex::new(vec![0; MAX_MESSAGE]) })
    }

    /// Sends `req` and waits for the answer. A broken or malformed exchange
    /// is EIO: the gofer is gone or misbehaving.
    fn call(&self, req: Request) -> Result<(Reply, Option<OwnedFd>), Errno> {
        let mut buf = self.buf.lock().unwrap();
        send(&self.sock, &req.encode(), None).map_err(|_| Errno::EIO)?;
        let (n, fd) = recv(&self.sock, &mut buf).map_err(|_| Errno::EIO)?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        match decode_reply(&req, &buf[..n]) {
            Ok(Ok(reply)) => Ok((reply, fd)),
            Ok(Err(errno)) => Err(Errno(errno)),
            Err(_) => Err(Errno::EIO),
        }
    }

    /// The root of export `index` as an inode on device `dev`.
    pub fn attach(self: &Arc<Self>, index: u32, dev: u64) -> Result<InodeRef, Errno> {
        match self.call(Request::Attach { index })? {
            (Reply::Node { handle, stat }, _) => Ok(self.node(handle, stat, dev)),
            _ => Err(Errno::EIO),
        }
    }

    fn node(self: &Arc<Self>, handle: Handle, stat: Stat, dev: u64) -> InodeRef {
        Arc::new(GoferNode { client: self.clone(), handle, stat: Stat { st_dev: dev, ..stat } })
    }
}

pub struct GoferNode {
    client: Arc<GoferClient>,
    handle: Handle,
    /// Attributes as of the walk; the lower layer is read-only, so they hold.
    stat: Stat,
}

impl Drop for GoferNode {
    fn drop(&mut self) {
        let _ = self.client.call(Request::Close { handle: self.handle });
    }
}

impl Inode for GoferNode {
    fn stat(&self) -> Stat {
        self.stat
    }

    fn setattr(&self, _attr: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, Errno> {
        if self.stat.st_mode & S_IFMT != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        match self.client.call(Request::Walk { dir: self.handle, name: name.to_vec() })? {
            (Reply::Node { handle, stat }, _) => Ok(self.client.node(handle, stat, self.stat.st_dev)),
            _ => Err(Errno::EIO),
        }
    }

    fn create(&self, _name: &[u8], _node: NewNode<'_>, _attrs: NewAttrs) -> Result<InodeRef, Errno> {
        Err(Errno::EROFS)
    }

    fn link(&self, _name: &[u8], _target: &InodeRef) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn unlink(&self, _name: &[u8], _dir: bool) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn rename(&self, _old: &[u8], _new_dir: &InodeRef, _new: &[u8]) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn setxattr(&self, _name: &[u8], _value: &[u8], _flags: u32) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn removexattr(&self, _name: &[u8]) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        if self.stat.st_mode & S_IFMT != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        let mut out = Vec::new();
        let mut cookie = 0;
        loop {
            match self.client.call(Request::ReadDir { handle: self.handle, cookie })? {
                (Reply::Entries { next, entries }, _) => {
                    out.extend(entries.into_iter().map(|e| DirEntry {
                        name: e.name,
                        ino: e.stat.st_ino,
                        kind: FileType::from_mode(e.stat.st_mode).unwrap_or(FileType::Regular),
                    }));
                    if next == 0 {
                        return Ok(out);
                    }
                    cookie = next;
                }
                _ => return Err(Errno::EIO),
            }
        }
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        if self.stat.st_mode & S_IFMT != S_IFLNK {
            return Err(Errno::EINVAL);
        }
        match self.client.call(Request::ReadLink { handle: self.handle })? {
            (Reply::Link(t), _) => Ok(t),
            _ => Err(Errno::EIO),
        }
    }

    fn open(self: Arc<Self>, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        if flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0 {
            return Err(Errno::EROFS);
        }
        match self.stat.st_mode & S_IFMT {
            S_IFREG => {}
            S_IFDIR => return Err(Errno::EISDIR),
            // Host FIFOs, sockets and device nodes are never opened.
            _ => return Err(Errno::ENXIO),
        }
        let (_, fd) = self.client.call(Request::Open { handle: self.handle, flags })?;
        let fd = fd.ok_or(Errno::EIO)?;
        Ok(Box::new(DonatedFile { fd, dev: self.stat.st_dev }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// A host file the gofer donated: read at the description's position with
/// pread, so the host fd's own position never matters.
struct DonatedFile {
    fd: OwnedFd,
    dev: u64,
}

impl FileOps for DonatedFile {
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        match offset {
            Some(off) => transfer(self.fd.as_raw_fd(), dst, Some(off), false),
            None => {
                let mut pos = file.pos();
                let n = transfer(self.fd.as_raw_fd(), dst, Some(*pos), false)?;
                *pos += n as i64;
                Ok(n)
            }
        }
    }

    fn write(&self, _file: &FileDescription, _src: &BlockSeq, _offset: Option<i64>) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat { st_dev: self.dev, ..host_fstat(self.fd.as_raw_fd())? })
    }

    fn seekable(&self) -> bool {
        true
    }

    fn seek(&self, file: &FileDescription, off: i64, whence: i32) -> Result<i64, Errno> {
        let mut pos = file.pos();
        let new = match whence {
            SEEK_SET => off,
            SEEK_CUR => pos.checked_add(off).ok_or(Errno::EOVERFLOW)?,
            SEEK_END => host_fstat(self.fd.as_raw_fd())?.st_size.checked_add(off).ok_or(Errno::EOVERFLOW)?,
            SEEK_DATA | SEEK_HOLE => {
                // SAFETY: lseek on our own donated fd; only its offset changes,
                // which this file never uses.
                let r = unsafe { libc::lseek(self.fd.as_raw_fd(), off, whence) };
                if r < 0 {
                    return Err(crate::host::last_errno());
                }
                r
            }
            _ => return Err(Errno::EINVAL),
        };
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        *pos = new;
        Ok(new)
    }
}
