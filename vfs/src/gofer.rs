//! The gofer-backed filesystem (client side): inodes are gofer handles; files
//! opened for I/O are fds the gofer donates, read directly by the Sentry.
//!
//! The root's lower layer is read-only (every change is EROFS); volumes may
//! be writable, and then changes go to the host through the gofer.

use std::any::Any;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;
use gofer_protocol::transport::{recv, send, MAX_MESSAGE};
use gofer_protocol::{decode_reply, Handle, Reply, Request};

use crate::file::{FileDescription, FileOps};
use crate::host::{host_fstat, transfer};
use crate::inode::{DirEntry, FileType, Inode, InodeRef, NewAttrs, NewNode, SetAttr};
use crate::safemem::BlockSeq;

/// The Sentry's end of the gofer socket. One request is in flight at a time.
pub struct GoferClient {
    sock: OwnedFd,
    buf: Mutex<Vec<u8>>,
    /// How many donated fds nodes keep for reuse (bounded by DONATED_CACHE).
    cached_fds: AtomicUsize,
}

/// The most donated fds kept open for reuse across opens.
const DONATED_CACHE: usize = 256;

impl GoferClient {
    pub fn new(sock: OwnedFd) -> Arc<GoferClient> {
        Arc::new(GoferClient { sock, buf: Mutex::new(vec![0; MAX_MESSAGE]), cached_fds: AtomicUsize::new(0) })
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
            Ok(Err(errno)) => Err(errno),
            Err(_) => Err(Errno::EIO),
        }
    }

    /// The root of export `index` as an inode on device `dev`; `writable`
    /// for a volume the sandbox may change.
    pub fn attach(self: &Arc<Self>, index: u32, dev: u64, writable: bool) -> Result<InodeRef, Errno> {
        match self.call(Request::Attach { index })? {
            (Reply::Node { handle, stat }, _) => Ok(self.node(handle, stat, dev, writable)),
            _ => Err(Errno::EIO),
        }
    }

    fn node(self: &Arc<Self>, handle: Handle, stat: Stat, dev: u64, writable: bool) -> InodeRef {
        Arc::new_cyclic(|me| GoferNode {
            me: me.clone(),
            writable,
            client: self.clone(),
            handle: Mutex::new(Some(handle)),
            origin: None,
            stat: Stat { st_dev: dev, ..stat },
            listed: Mutex::default(),
            donated: Mutex::default(),
        })
    }
}

/// A file of the gofer's tree. A node made from a directory listing knows its
/// attributes but has no gofer handle until one is needed (to open, list or
/// read it): `ls -l` of a large directory costs one listing, not a walk per
/// entry.
pub struct GoferNode {
    /// This node itself: nodes made from its listing hold it.
    me: Weak<GoferNode>,
    /// A node of a writable volume: changes go to the host, and attributes
    /// are asked for fresh (the host may change them too).
    writable: bool,
    client: Arc<GoferClient>,
    handle: Mutex<Option<Handle>>,
    /// The directory and name to walk for the handle, for listed nodes.
    origin: Option<(Arc<GoferNode>, Vec<u8>)>,
    /// Attributes as of the walk or listing; the lower layer is read-only.
    stat: Stat,
    /// For directories: the attributes of the entries of the last listing.
    listed: Mutex<HashMap<Vec<u8>, Stat>>,
    /// For regular files: the donated fd, shared by every open (all reads are
    /// preads at the description's own position).
    donated: Mutex<Option<Arc<OwnedFd>>>,
}

impl GoferNode {
    /// The gofer handle, walking to it now if this node came from a listing.
    fn handle(&self) -> Result<Handle, Errno> {
        let mut h = self.handle.lock().unwrap();
        if let Some(h) = *h {
            return Ok(h);
        }
        let (dir, name) = self.origin.as_ref().ok_or(Errno::EIO)?;
        let walked = match self.client.call(Request::Walk { dir: dir.handle()?, name: name.clone() })? {
            (Reply::Node { handle, stat }, _) => {
                // The file was replaced since the listing: it is not this node.
                if (stat.st_ino, stat.st_mode) != (self.stat.st_ino, self.stat.st_mode) {
                    let _ = self.client.call(Request::Close { handle });
                    return Err(Errno::ESTALE);
                }
                handle
            }
            _ => return Err(Errno::EIO),
        };
        *h = Some(walked);
        Ok(walked)
    }

    /// The handle, for a change: EROFS unless the node is on a writable volume.
    fn writable_handle(&self) -> Result<Handle, Errno> {
        if !self.writable {
            return Err(Errno::EROFS);
        }
        self.handle()
    }

    fn me(&self) -> Result<Arc<GoferNode>, Errno> {
        self.me.upgrade().ok_or(Errno::EIO)
    }
}

impl Drop for GoferNode {
    fn drop(&mut self) {
        if self.donated.lock().unwrap().take().is_some() {
            self.client.cached_fds.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(handle) = *self.handle.lock().unwrap() {
            let _ = self.client.call(Request::Close { handle });
        }
    }
}

impl Inode for GoferNode {
    fn stat(&self) -> Stat {
        if self.writable {
            if let Ok((Reply::Stat(st), _)) =
                self.handle().and_then(|handle| self.client.call(Request::Stat { handle }))
            {
                return Stat { st_dev: self.stat.st_dev, ..st };
            }
        }
        self.stat
    }

    fn setattr(&self, a: &SetAttr) -> Result<(), Errno> {
        use gofer_protocol::*;
        let handle = self.writable_handle()?;
        let mut valid = 0;
        let mut bit = |set: bool, b: u32| {
            if set {
                valid |= b;
            }
        };
        bit(a.mode.is_some(), SETATTR_MODE);
        bit(a.uid.is_some(), SETATTR_UID);
        bit(a.gid.is_some(), SETATTR_GID);
        bit(a.size.is_some(), SETATTR_SIZE);
        bit(a.atime.is_some(), SETATTR_ATIME);
        bit(a.mtime.is_some(), SETATTR_MTIME);
        let ts = |t: Option<abi::structs::Timespec>| t.map_or([0, 0], |t| [t.tv_sec, t.tv_nsec]);
        let req = Request::SetAttr {
            handle,
            valid,
            mode: a.mode.unwrap_or(0),
            uid: a.uid.unwrap_or(0),
            gid: a.gid.unwrap_or(0),
            size: a.size.unwrap_or(0),
            atime: ts(a.atime),
            mtime: ts(a.mtime),
        };
        self.client.call(req).map(|_| ())
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, Errno> {
        if self.stat.st_mode & S_IFMT != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        let listed = if self.writable { None } else { self.listed.lock().unwrap().get(name).copied() };
        if let Some(stat) = listed {
            let parent = self.me()?;
            return Ok(Arc::new_cyclic(|me| GoferNode {
                me: me.clone(),
                writable: self.writable,
                client: self.client.clone(),
                handle: Mutex::new(None),
                origin: Some((parent, name.to_vec())),
                stat: Stat { st_dev: self.stat.st_dev, ..stat },
                listed: Mutex::default(),
                donated: Mutex::default(),
            }));
        }
        match self.client.call(Request::Walk { dir: self.handle()?, name: name.to_vec() })? {
            (Reply::Node { handle, stat }, _) => Ok(self.client.node(handle, stat, self.stat.st_dev, self.writable)),
            _ => Err(Errno::EIO),
        }
    }

    fn create(&self, name: &[u8], node: NewNode<'_>, attrs: NewAttrs) -> Result<InodeRef, Errno> {
        let dir = self.writable_handle()?;
        let name = name.to_vec();
        let mode = attrs.mode & 0o7777;
        let req = match node {
            NewNode::Regular => Request::Create { dir, name, mode, flags: O_RDWR },
            NewNode::Directory => Request::Mkdir { dir, name, mode },
            NewNode::Symlink(target) => Request::Symlink { dir, name, target: target.to_vec() },
            // FIFOs and devices are not made on the host.
            NewNode::Fifo | NewNode::CharDev(_) => return Err(Errno::EPERM),
        };
        self.listed.lock().unwrap().clear();
        match self.client.call(req)? {
            (Reply::Node { handle, stat }, _) => Ok(self.client.node(handle, stat, self.stat.st_dev, true)),
            _ => Err(Errno::EIO),
        }
    }

    fn link(&self, name: &[u8], target: &InodeRef) -> Result<(), Errno> {
        let dir = self.writable_handle()?;
        let target = target.as_any().downcast_ref::<GoferNode>().ok_or(Errno::EXDEV)?.handle()?;
        self.listed.lock().unwrap().clear();
        self.client.call(Request::Link { dir, name: name.to_vec(), target }).map(|_| ())
    }

    fn unlink(&self, name: &[u8], dir: bool) -> Result<(), Errno> {
        let handle = self.writable_handle()?;
        self.listed.lock().unwrap().clear();
        self.client.call(Request::Unlink { dir: handle, name: name.to_vec(), is_dir: dir }).map(|_| ())
    }

    fn rename(&self, old: &[u8], new_dir: &InodeRef, new: &[u8]) -> Result<(), Errno> {
        let dir = self.writable_handle()?;
        let to = new_dir.as_any().downcast_ref::<GoferNode>().ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&self.client, &to.client) {
            return Err(Errno::EXDEV);
        }
        let new_dir = to.writable_handle()?;
        self.listed.lock().unwrap().clear();
        to.listed.lock().unwrap().clear();
        let req = Request::Rename { dir, name: old.to_vec(), new_dir, new_name: new.to_vec() };
        self.client.call(req).map(|_| ())
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
        let handle = self.handle()?;
        let mut out = Vec::new();
        let mut listed = HashMap::new();
        let mut cookie = 0;
        loop {
            match self.client.call(Request::ReadDir { handle, cookie })? {
                (Reply::Entries { next, entries }, _) => {
                    for e in entries {
                        out.push(DirEntry {
                            name: e.name.clone(),
                            ino: e.stat.st_ino,
                            kind: FileType::from_mode(e.stat.st_mode).unwrap_or(FileType::Regular),
                        });
                        listed.insert(e.name, e.stat);
                    }
                    if next == 0 {
                        *self.listed.lock().unwrap() = listed;
                        return Ok(out);
                    }
                    cookie = next;
                }
                _ => return Err(Errno::EIO),
            }
        }
    }

    /// The host filesystem's figures, under the 9p magic.
    fn statfs(&self) -> abi::structs::StatFs {
        let host = self.handle().and_then(|handle| match self.client.call(Request::StatFs { handle })? {
            (Reply::StatFs(st), _) => Ok(st),
            _ => Err(Errno::EIO),
        });
        let st = host.unwrap_or(abi::structs::StatFs { f_namelen: NAME_MAX as i64, ..Default::default() });
        abi::structs::StatFs { f_type: crate::inode::V9FS_MAGIC, f_fsid: [0, 0], ..st }
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        if self.stat.st_mode & S_IFMT != S_IFLNK {
            return Err(Errno::EINVAL);
        }
        match self.client.call(Request::ReadLink { handle: self.handle()? })? {
            (Reply::Link(t), _) => Ok(t),
            _ => Err(Errno::EIO),
        }
    }

    fn open(self: Arc<Self>, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        let writes = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0;
        if writes && !self.writable {
            return Err(Errno::EROFS);
        }
        match self.stat.st_mode & S_IFMT {
            S_IFREG => {}
            S_IFDIR => return Err(Errno::EISDIR),
            // Host FIFOs, sockets and device nodes are never opened.
            _ => return Err(Errno::ENXIO),
        }
        if writes {
            // A file opened for writing gets an fd of its own, with its flags.
            let (_, fd) = self.client.call(Request::Open { handle: self.handle()?, flags })?;
            let fd = Arc::new(fd.ok_or(Errno::EIO)?);
            return Ok(Box::new(DonatedFile { fd, dev: self.stat.st_dev }));
        }
        let mut cached = self.donated.lock().unwrap();
        let fd = match &*cached {
            Some(fd) => fd.clone(),
            None => {
                let (_, fd) = self.client.call(Request::Open { handle: self.handle()?, flags })?;
                let fd = Arc::new(fd.ok_or(Errno::EIO)?);
                if self.client.cached_fds.fetch_add(1, Ordering::Relaxed) < DONATED_CACHE {
                    *cached = Some(fd.clone());
                } else {
                    self.client.cached_fds.fetch_sub(1, Ordering::Relaxed);
                }
                fd
            }
        };
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
    fd: Arc<OwnedFd>,
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

    fn write(&self, file: &FileDescription, src: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        let fd = self.fd.as_raw_fd();
        match offset {
            Some(off) => transfer(fd, src, Some(off), true),
            None => {
                let mut pos = file.pos();
                let at = if file.flags() & O_APPEND != 0 { host_fstat(fd)?.st_size } else { *pos };
                let n = transfer(fd, src, Some(at), true)?;
                *pos = at + n as i64;
                Ok(n)
            }
        }
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        // SAFETY: ftruncate on our own donated fd.
        if unsafe { libc::ftruncate(self.fd.as_raw_fd(), size as i64) } < 0 {
            return Err(crate::host::last_errno());
        }
        Ok(())
    }

    fn fallocate(&self, mode: u32, off: u64, len: u64) -> Result<(), Errno> {
        // Volumes pass allocation and hole punching to the host file.
        if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        // SAFETY: fallocate on our own donated fd.
        if unsafe { libc::fallocate(self.fd.as_raw_fd(), mode as i32, off as i64, len as i64) } < 0 {
            return Err(crate::host::last_errno());
        }
        Ok(())
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
