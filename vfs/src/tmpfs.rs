//! tmpfs: an in-memory filesystem. Regular files keep their data in pages of
//! the memory file, so the pages can later be mapped into applications as they
//! are (shared mappings, /dev/shm).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use abi::consts::*;
use abi::structs::{Stat, Timespec};
use abi::Errno;

use crate::file::{FileDescription, FileOps};
use crate::inode::{file_type, DirEntry, Inode, InodeRef, NewAttrs, NewNode, SetAttr};
use crate::memfile::MemoryFile;
use crate::mount::Dentry;
use crate::safemem::BlockSeq;

/// setxattr flags.
pub const XATTR_CREATE: u32 = 1;
pub const XATTR_REPLACE: u32 = 2;

/// The largest tmpfs file (MAX_LFS_FILESIZE).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

pub fn now() -> Timespec {
    let d = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 }
}

/// One tmpfs instance.
pub struct Tmpfs {
    dev: u64,
    next_ino: AtomicU64,
    mf: Arc<MemoryFile>,
}

impl Tmpfs {
    /// A new, empty tmpfs whose root directory has `attrs`; returns its root.
    pub fn new_root(mf: Arc<MemoryFile>, dev: u64, attrs: NewAttrs) -> Arc<Dentry> {
        let fs = Arc::new(Tmpfs { dev, next_ino: AtomicU64::new(1), mf });
        let root = Node::new(&fs, NodeKind::Dir(Mutex::default()), S_IFDIR | (attrs.mode & 0o7777), attrs);
        root.meta.lock().unwrap().nlink = 2;
        Dentry::new_root(root)
    }
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
}

/// Contents of a regular file: page index -> memory-file offset; holes read 0.
struct FileData {
    pages: BTreeMap<u64, u64>,
    size: u64,
    /// F_SEAL_* (a file that is not a sealable memfd has F_SEAL_SEAL).
    seals: u32,
}

impl Default for FileData {
    fn default() -> FileData {
        FileData { pages: BTreeMap::new(), size: 0, seals: F_SEAL_SEAL }
    }
}

/// Which seals forbid changing bytes.
const WRITE_SEALS: u32 = F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

/// A directory's entries, by name.
type Entries = Mutex<BTreeMap<Vec<u8>, Arc<Node>>>;

enum NodeKind {
    Dir(Entries),
    File(Mutex<FileData>),
    Symlink(Vec<u8>),
    Fifo(Arc<crate::pipe::Pipe>),
    CharDev(u64),
}

pub struct Node {
    fs: Arc<Tmpfs>,
    ino: u64,
    meta: Mutex<Meta>,
    kind: NodeKind,
    xattrs: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Node {
    fn new(fs: &Arc<Tmpfs>, kind: NodeKind, mode: u32, attrs: NewAttrs) -> Arc<Node> {
        let t = now();
        Arc::new(Node {
            fs: fs.clone(),
            ino: fs.next_ino.fetch_add(1, Ordering::Relaxed),
            meta: Mutex::new(Meta { mode, uid: attrs.uid, gid: attrs.gid, nlink: 1, atime: t, mtime: t, ctime: t }),
            kind,
            xattrs: Mutex::default(),
        })
    }

    fn entries(&self) -> Result<&Entries, Errno> {
        match &self.kind {
            NodeKind::Dir(e) => Ok(e),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir(_))
    }

    fn touch_dir(&self) {
        let t = now();
        let mut m = self.meta.lock().unwrap();
        m.mtime = t;
        m.ctime = t;
    }

    fn data(&self) -> Result<&Mutex<FileData>, Errno> {
        match &self.kind {
            NodeKind::File(d) => Ok(d),
            NodeKind::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Reads file bytes at `off` into `dst`; returns how many.
    fn read_at(&self, dst: &BlockSeq, off: u64) -> Result<usize, Errno> {
        let d = self.data()?.lock().unwrap();
        if off >= d.size {
            return Ok(0);
        }
        let n = (dst.len() as u64).min(d.size - off) as usize;
        let mut done = 0usize;
        while done < n {
            let pos = off + done as u64;
            let (page, in_page) = (pos / PAGE_SIZE, pos % PAGE_SIZE);
            let chunk = ((PAGE_SIZE - in_page) as usize).min(n - done);
            match d.pages.get(&page) {
                Some(&mo) => {
                    dst.copy_from_block_at(done, &self.fs.mf.block(mo + in_page, chunk as u64));
                }
                None => {
                    dst.zero_at(done, chunk);
                }
            }
            done += chunk;
        }
        Ok(n)
    }

    /// Writes `src` at `off`, growing the file; returns how many bytes.
    fn write_at(&self, src: &BlockSeq, off: u64) -> Result<usize, Errno> {
        let n = src.len() as u64;
        let end = off.checked_add(n).filter(|&e| e <= MAX_FILE_SIZE).ok_or(Errno::EFBIG)?;
        let mut d = self.data()?.lock().unwrap();
        if d.seals & WRITE_SEALS != 0 || (d.seals & F_SEAL_GROW != 0 && end > d.size) {
            return Err(Errno::EPERM);
        }
        let mut done = 0u64;
        while done < n {
            let pos = off + done;
            let (page, in_page) = (pos / PAGE_SIZE, pos % PAGE_SIZE);
            let chunk = (PAGE_SIZE - in_page).min(n - done);
            let mo = match d.pages.get(&page) {
                Some(&mo) => mo,
                None => {
                    let mo = self.fs.mf.allocate(PAGE_SIZE).map_err(|_| Errno::ENOSPC)?;
                    d.pages.insert(page, mo);
                    mo
                }
            };
            src.copy_to_block_at(done as usize, &self.fs.mf.block(mo + in_page, chunk));
            done += chunk;
        }
        d.size = d.size.max(end);
        drop(d);
        let t = now();
        let mut m = self.meta.lock().unwrap();
        m.mtime = t;
        m.ctime = t;
        Ok(n as usize)
    }

    /// fallocate: gives [off, off+len) pages (zeroed), growing the file
    /// unless `keep_size`; nothing is kept if memory runs out part-way.
    fn allocate(&self, off: u64, len: u64, keep_size: bool) -> Result<(), Errno> {
        let end = off.checked_add(len).filter(|&e| e <= MAX_FILE_SIZE).ok_or(Errno::EFBIG)?;
        let mut d = self.data()?.lock().unwrap();
        if d.seals & F_SEAL_GROW != 0 && end > d.size {
            return Err(Errno::EPERM);
        }
        let mut added = Vec::new();
        for page in off / PAGE_SIZE..end.div_ceil(PAGE_SIZE) {
            if d.pages.contains_key(&page) {
                continue;
            }
            match self.fs.mf.allocate(PAGE_SIZE) {
                Ok(mo) => {
                    d.pages.insert(page, mo);
                    added.push(page);
                }
                Err(_) => {
                    for mo in added.iter().filter_map(|p| d.pages.remove(p)) {
                        self.fs.mf.free(mo, PAGE_SIZE);
                    }
                    return Err(Errno::ENOSPC);
                }
            }
        }
        if !keep_size {
            d.size = d.size.max(end);
        }
        drop(d);
        self.meta.lock().unwrap().ctime = now();
        Ok(())
    }

    /// FALLOC_FL_PUNCH_HOLE: [off, off+len) reads as zeros; whole pages go
    /// back to the memory file. The size stays.
    fn punch_hole(&self, off: u64, len: u64) -> Result<(), Errno> {
        let end = off.saturating_add(len);
        let mut d = self.data()?.lock().unwrap();
        if d.seals & WRITE_SEALS != 0 {
            return Err(Errno::EPERM);
        }
        let (first_whole, last_whole) = (off.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
        let gone: Vec<u64> = d.pages.range(first_whole..last_whole.max(first_whole)).map(|(&p, _)| p).collect();
        let freed: Vec<u64> = gone.iter().filter_map(|p| d.pages.remove(p)).collect();
        free_pages(&self.fs.mf, freed.into_iter());
        // The partial pages at either end are zeroed in place.
        for (page, from, to) in [
            (
                off / PAGE_SIZE,
                off % PAGE_SIZE,
                if end / PAGE_SIZE == off / PAGE_SIZE { end % PAGE_SIZE } else { PAGE_SIZE },
            ),
            (end / PAGE_SIZE, 0, end % PAGE_SIZE),
        ] {
            if from < to && (page < first_whole || page >= last_whole) {
                if let Some(&mo) = d.pages.get(&page) {
                    BlockSeq::new(vec![self.fs.mf.block(mo + from, to - from)]).zero_at(0, (to - from) as usize);
                }
            }
        }
        drop(d);
        let t = now();
        let mut m = self.meta.lock().unwrap();
        m.mtime = t;
        m.ctime = t;
        Ok(())
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        if size > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let mut d = self.data()?.lock().unwrap();
        if (size < d.size && d.seals & F_SEAL_SHRINK != 0) || (size > d.size && d.seals & F_SEAL_GROW != 0) {
            return Err(Errno::EPERM);
        }
        if size < d.size {
            // Whole pages past the end go back; the tail of the last page is zeroed.
            let keep = size.div_ceil(PAGE_SIZE);
            free_pages(&self.fs.mf, d.pages.split_off(&keep).into_values());
            if !size.is_multiple_of(PAGE_SIZE) {
                if let Some(&mo) = d.pages.get(&(size / PAGE_SIZE)) {
                    let tail = PAGE_SIZE - size % PAGE_SIZE;
                    BlockSeq::new(vec![self.fs.mf.block(mo + size % PAGE_SIZE, tail)]).zero_at(0, tail as usize);
                }
            }
        }
        d.size = size;
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let NodeKind::File(d) = &self.kind {
            let d = d.lock().unwrap();
            free_pages(&self.fs.mf, d.pages.values().copied());
        }
    }
}

/// Gives back the memory-file pages at offsets `offs`, one call per run of
/// adjacent pages. Page by page, a file of a few GiB cost millions of host
/// calls (each release punches a hole in the memory file): its last close
/// took tens of seconds, during which its task could not die (issue 7).
fn free_pages(mf: &MemoryFile, offs: impl Iterator<Item = u64>) {
    let mut offs: Vec<u64> = offs.collect();
    offs.sort_unstable();
    let mut run: Option<(u64, u64)> = None;
    for mo in offs {
        run = match run {
            Some((start, len)) if start + len == mo => Some((start, len + PAGE_SIZE)),
            Some((start, len)) => {
                mf.free(start, len);
                Some((mo, PAGE_SIZE))
            }
            None => Some((mo, PAGE_SIZE)),
        };
    }
    if let Some((start, len)) = run {
        mf.free(start, len);
    }
}

fn node_of(inode: &InodeRef) -> Result<&Node, Errno> {
    inode.as_any().downcast_ref::<Node>().ok_or(Errno::EXDEV)
}

impl Inode for Node {
    fn stat(&self) -> Stat {
        let m = self.meta.lock().unwrap();
        let size = match &self.kind {
            NodeKind::File(d) => d.lock().unwrap().size,
            NodeKind::Symlink(t) => t.len() as u64,
            // tmpfs reports directories as 20 bytes per entry plus 40 (like Linux's shmem).
            NodeKind::Dir(e) => 40 + 20 * e.lock().unwrap().len() as u64,
            NodeKind::Fifo(_) | NodeKind::CharDev(_) => 0,
        };
        let blocks = match &self.kind {
            NodeKind::File(d) => d.lock().unwrap().pages.len() as i64 * (PAGE_SIZE as i64 / 512),
            _ => 0,
        };
        Stat {
            st_dev: self.fs.dev,
            st_ino: self.ino,
            st_nlink: m.nlink,
            st_mode: m.mode,
            st_uid: m.uid,
            st_gid: m.gid,
            st_rdev: if let NodeKind::CharDev(r) = self.kind { r } else { 0 },
            st_size: size as i64,
            st_blksize: PAGE_SIZE as i64,
            st_blocks: blocks,
            st_atime: m.atime.tv_sec,
            st_atime_nsec: m.atime.tv_nsec,
            st_mtime: m.mtime.tv_sec,
            st_mtime_nsec: m.mtime.tv_nsec,
            st_ctime: m.ctime.tv_sec,
            st_ctime_nsec: m.ctime.tv_nsec,
            ..Stat::default()
        }
    }

    fn setattr(&self, a: &SetAttr) -> Result<(), Errno> {
        if let (Some(mode), NodeKind::File(d)) = (a.mode, &self.kind) {
            // F_SEAL_EXEC: the execute bits stay as they are.
            if d.lock().unwrap().seals & F_SEAL_EXEC != 0 && (self.meta.lock().unwrap().mode ^ mode) & 0o111 != 0 {
                return Err(Errno::EPERM);
            }
        }
        if let Some(size) = a.size {
            self.truncate(size)?;
        }
        let t = now();
        let mut m = self.meta.lock().unwrap();
        if let Some(mode) = a.mode {
            m.mode = (m.mode & S_IFMT) | (mode & 0o7777);
        }
        if let Some(uid) = a.uid {
            m.uid = uid;
        }
        if let Some(gid) = a.gid {
            m.gid = gid;
        }
        if let Some(at) = a.atime {
            m.atime = at;
        }
        if let Some(mt) = a.mtime {
            m.mtime = mt;
        }
        if a.size.is_some() {
            m.mtime = t;
        }
        m.ctime = t;
        Ok(())
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, Errno> {
        let e = self.entries()?.lock().unwrap();
        e.get(name).map(|n| n.clone() as InodeRef).ok_or(Errno::ENOENT)
    }

    fn supports_tmpfile(&self) -> bool {
        self.is_dir()
    }

    fn create(&self, name: &[u8], node: NewNode<'_>, attrs: NewAttrs) -> Result<InodeRef, Errno> {
        let mut e = self.entries()?.lock().unwrap();
        if e.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let perm = attrs.mode & 0o7777;
        let n = match node {
            NewNode::Regular => Node::new(&self.fs, NodeKind::File(Mutex::default()), S_IFREG | perm, attrs),
            NewNode::Directory => {
                let n = Node::new(&self.fs, NodeKind::Dir(Mutex::default()), S_IFDIR | perm, attrs);
                n.meta.lock().unwrap().nlink = 2;
                self.meta.lock().unwrap().nlink += 1;
                n
            }
            NewNode::Symlink(target) => Node::new(&self.fs, NodeKind::Symlink(target.to_vec()), S_IFLNK | 0o777, attrs),
            NewNode::Fifo => {
                let ino = self.fs.next_ino.load(Ordering::Relaxed);
                Node::new(&self.fs, NodeKind::Fifo(crate::pipe::Pipe::new(ino)), S_IFIFO | perm, attrs)
            }
            NewNode::CharDev(rdev) => Node::new(&self.fs, NodeKind::CharDev(rdev), S_IFCHR | perm, attrs),
        };
        e.insert(name.to_vec(), n.clone());
        drop(e);
        self.touch_dir();
        Ok(n)
    }

    fn link(&self, name: &[u8], target: &InodeRef) -> Result<(), Errno> {
        let t = node_of(target)?;
        if t.is_dir() {
            return Err(Errno::EPERM);
        }
        let mut e = self.entries()?.lock().unwrap();
        if e.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let arc = Arc::clone(target).as_any_arc().downcast::<Node>().map_err(|_| Errno::EXDEV)?;
        e.insert(name.to_vec(), arc);
        drop(e);
        let mut m = t.meta.lock().unwrap();
        m.nlink += 1;
        m.ctime = now();
        drop(m);
        self.touch_dir();
        Ok(())
    }

    fn unlink(&self, name: &[u8], dir: bool) -> Result<(), Errno> {
        let mut e = self.entries()?.lock().unwrap();
        let n = e.get(name).ok_or(Errno::ENOENT)?;
        match (dir, n.is_dir()) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !n.entries()?.lock().unwrap().is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        let n = e.remove(name).ok_or(Errno::ENOENT)?;
        drop(e);
        let mut m = n.meta.lock().unwrap();
        m.nlink = if dir { 0 } else { m.nlink.saturating_sub(1) };
        m.ctime = now();
        drop(m);
        if dir {
            self.meta.lock().unwrap().nlink -= 1;
        }
        self.touch_dir();
        Ok(())
    }

    fn rename(&self, old: &[u8], new_dir: &InodeRef, new: &[u8]) -> Result<(), Errno> {
        let target = node_of(new_dir)?;
        let same_dir = std::ptr::eq(self, target);
        // Lock the two maps in address order.
        let (mut src, mut dst_guard);
        if same_dir {
            src = self.entries()?.lock().unwrap();
            dst_guard = None;
        } else if (self as *const Node) < (target as *const Node) {
            src = self.entries()?.lock().unwrap();
            dst_guard = Some(target.entries()?.lock().unwrap());
        } else {
            dst_guard = Some(target.entries()?.lock().unwrap());
            src = self.entries()?.lock().unwrap();
        }
        let moving = src.get(old).cloned().ok_or(Errno::ENOENT)?;
        let dst = dst_guard.as_deref_mut().unwrap_or(&mut *src);
        if let Some(existing) = dst.get(new).cloned() {
            if Arc::ptr_eq(&existing, &moving) {
                return Ok(());
            }
            match (moving.is_dir(), existing.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !existing.entries()?.lock().unwrap().is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
            dst.remove(new);
            let mut m = existing.meta.lock().unwrap();
            m.nlink = if existing.is_dir() { 0 } else { m.nlink.saturating_sub(1) };
            if existing.is_dir() {
                target.meta.lock().unwrap().nlink -= 1;
            }
        }
        dst.insert(new.to_vec(), moving.clone());
        src.remove(old);
        drop(src);
        drop(dst_guard);
        if moving.is_dir() && !same_dir {
            self.meta.lock().unwrap().nlink -= 1;
            target.meta.lock().unwrap().nlink += 1;
        }
        moving.meta.lock().unwrap().ctime = now();
        self.touch_dir();
        target.touch_dir();
        Ok(())
    }

    fn exchange(&self, name: &[u8], other_dir: &InodeRef, other: &[u8]) -> Result<(), Errno> {
        let target = node_of(other_dir)?;
        let same_dir = std::ptr::eq(self, target);
        let (a, b) = if same_dir {
            let mut e = self.entries()?.lock().unwrap();
            let a = e.get(name).cloned().ok_or(Errno::ENOENT)?;
            let b = e.get(other).cloned().ok_or(Errno::ENOENT)?;
            e.insert(name.to_vec(), b.clone());
            e.insert(other.to_vec(), a.clone());
            (a, b)
        } else {
            // Lock the two maps in address order.
            let (mut mine, mut theirs);
            if (self as *const Node) < (target as *const Node) {
                mine = self.entries()?.lock().unwrap();
                theirs = target.entries()?.lock().unwrap();
            } else {
                theirs = target.entries()?.lock().unwrap();
                mine = self.entries()?.lock().unwrap();
            }
            let a = mine.get(name).cloned().ok_or(Errno::ENOENT)?;
            let b = theirs.get(other).cloned().ok_or(Errno::ENOENT)?;
            mine.insert(name.to_vec(), b.clone());
            theirs.insert(other.to_vec(), a.clone());
            (a, b)
        };
        // A directory that changes parent moves its ".." link with it.
        if !same_dir && a.is_dir() != b.is_dir() {
            let (gains, loses) = if a.is_dir() { (target, self) } else { (self, target) };
            gains.meta.lock().unwrap().nlink += 1;
            loses.meta.lock().unwrap().nlink -= 1;
        }
        let t = now();
        a.meta.lock().unwrap().ctime = t;
        b.meta.lock().unwrap().ctime = t;
        self.touch_dir();
        target.touch_dir();
        Ok(())
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let e = self.entries()?.lock().unwrap();
        Ok(e.iter().map(|(name, n)| DirEntry { name: name.clone(), ino: n.ino, kind: file_type(&**n) }).collect())
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        match &self.kind {
            NodeKind::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn getxattr(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        self.xattrs.lock().unwrap().get(name).cloned().ok_or(Errno::ENODATA)
    }

    fn setxattr(&self, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        // user.* attributes live only on regular files and directories.
        if name.starts_with(b"user.") && !matches!(self.kind, NodeKind::File(_) | NodeKind::Dir(_)) {
            return Err(Errno::EPERM);
        }
        let mut x = self.xattrs.lock().unwrap();
        let exists = x.contains_key(name);
        if flags & XATTR_CREATE != 0 && exists {
            return Err(Errno::EEXIST);
        }
        if flags & XATTR_REPLACE != 0 && !exists {
            return Err(Errno::ENODATA);
        }
        x.insert(name.to_vec(), value.to_vec());
        drop(x);
        self.meta.lock().unwrap().ctime = now();
        Ok(())
    }

    fn listxattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        Ok(self.xattrs.lock().unwrap().keys().cloned().collect())
    }

    fn removexattr(&self, name: &[u8]) -> Result<(), Errno> {
        self.xattrs.lock().unwrap().remove(name).map(|_| ()).ok_or(Errno::ENODATA)?;
        self.meta.lock().unwrap().ctime = now();
        Ok(())
    }

    fn open(self: Arc<Self>, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        match &self.kind {
            NodeKind::File(_) => Ok(Box::new(RegularFile { node: self })),
            NodeKind::Fifo(pipe) => {
                let acc = flags & O_ACCMODE;
                let (read, write) = (acc == O_RDONLY || acc == O_RDWR, acc == O_WRONLY || acc == O_RDWR);
                let nonblock = flags & O_NONBLOCK != 0;
                if write && !read && nonblock && pipe.ends().0 == 0 {
                    return Err(Errno::ENXIO);
                }
                let end = pipe.open_end(read, write);
                // A blocking open waits for the other side (O_RDWR does not).
                if !nonblock && read != write {
                    pipe.wait_for(|readers, writers| if read { writers > 0 } else { readers > 0 })?;
                }
                Ok(Box::new(end))
            }
            // Symlinks are never opened (O_PATH aside).
            NodeKind::CharDev(rdev) => {
                let node = self.clone();
                crate::dev::open_char_device(*rdev, Box::new(move || node.stat()))
            }
            NodeKind::Symlink(_) => Err(Errno::ELOOP),
            NodeKind::Dir(_) => Err(Errno::EISDIR),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// An open tmpfs regular file.
struct RegularFile {
    node: Arc<Node>,
}

impl crate::file::Mappable for Node {
    fn map_page(&self, index: u64) -> Result<u64, Errno> {
        let mut d = self.data()?.lock().unwrap();
        if index.checked_mul(PAGE_SIZE).is_none_or(|o| o >= d.size) {
            return Err(Errno::EFAULT);
        }
        let off = match d.pages.get(&index) {
            Some(&off) => off,
            None => {
                let off = self.fs.mf.allocate(PAGE_SIZE)?;
                d.pages.insert(index, off);
                off
            }
        };
        self.fs.mf.share(off, PAGE_SIZE);
        Ok(off)
    }
}

impl FileOps for RegularFile {
    fn mappable(&self) -> Option<Arc<dyn crate::file::Mappable>> {
        Some(self.node.clone())
    }

    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        match offset {
            Some(off) => self.node.read_at(dst, off as u64),
            None => {
                let mut pos = file.pos();
                let n = self.node.read_at(dst, *pos as u64)?;
                *pos += n as i64;
                Ok(n)
            }
        }
    }

    fn write(&self, file: &FileDescription, src: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        match offset {
            // pwrite on an O_APPEND file appends, as Linux does.
            Some(_) if file.flags() & O_APPEND != 0 => {
                let end = self.node.data()?.lock().unwrap().size;
                self.node.write_at(src, end)
            }
            Some(off) => self.node.write_at(src, off as u64),
            None => {
                let mut pos = file.pos();
                if file.flags() & O_APPEND != 0 {
                    *pos = self.node.data()?.lock().unwrap().size as i64;
                }
                let n = self.node.write_at(src, *pos as u64)?;
                *pos += n as i64;
                Ok(n)
            }
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.node.stat())
    }

    /// tmpfs offers allocation and hole punching only, as Linux's shmem.
    fn fallocate(&self, mode: u32, off: u64, len: u64) -> Result<(), Errno> {
        match mode {
            0 => self.node.allocate(off, len, false),
            FALLOC_FL_KEEP_SIZE => self.node.allocate(off, len, true),
            m if m == FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE => self.node.punch_hole(off, len),
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    fn seekable(&self) -> bool {
        true
    }

    fn seek(&self, file: &FileDescription, off: i64, whence: i32) -> Result<i64, Errno> {
        let d = self.node.data()?.lock().unwrap();
        let size = d.size as i64;
        let mut pos = file.pos();
        let new = match whence {
            SEEK_SET => off,
            SEEK_CUR => pos.checked_add(off).ok_or(Errno::EOVERFLOW)?,
            SEEK_END => size.checked_add(off).ok_or(Errno::EOVERFLOW)?,
            SEEK_DATA | SEEK_HOLE => {
                if off < 0 || off >= size {
                    return Err(Errno::ENXIO);
                }
                // The page map is searched, never walked page by page: a
                // sparse file may span 2^51 pages, and a walk through them
                // held this lock (and the task) for ever (issue 7).
                let first = off as u64 / PAGE_SIZE;
                let page = if whence == SEEK_DATA {
                    d.pages.range(first..).next().map(|(&p, _)| p)
                } else {
                    // The first page from `first` on that is not there.
                    let mut p = first;
                    for (&q, _) in d.pages.range(first..) {
                        if q != p {
                            break;
                        }
                        p += 1;
                    }
                    Some(p)
                };
                let start = page.and_then(|p| p.checked_mul(PAGE_SIZE)).map_or(size, |s| s.min(size as u64) as i64);
                match whence {
                    // Past the last page: data ends, the implicit hole at EOF.
                    SEEK_DATA if start >= size => return Err(Errno::ENXIO),
                    _ if start >= size => size,
                    _ => start.max(off),
                }
            }
            _ => return Err(Errno::EINVAL),
        };
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        *pos = new;
        Ok(new)
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        self.node.setattr(&SetAttr { size: Some(size), ..SetAttr::default() })
    }

    fn seals(&self) -> Result<u32, Errno> {
        Ok(self.node.data()?.lock().unwrap().seals)
    }

    fn add_seals(&self, mut seals: u32) -> Result<(), Errno> {
        let mut d = self.node.data()?.lock().unwrap();
        if d.seals & F_SEAL_SEAL != 0 {
            return Err(Errno::EPERM);
        }
        // (F_SEAL_WRITE would be EBUSY with writable shared mappings of the
        // file, which the sandbox does not make yet.)
        // Sealing the execute bits of an executable file also seals its
        // contents (W^X), as Linux 6.3 and later do.
        if seals & F_SEAL_EXEC != 0 && self.node.meta.lock().unwrap().mode & 0o111 != 0 {
            seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
        }
        d.seals |= seals;
        Ok(())
    }
}

/// memfd_create: the seals a new memfd starts with (no F_SEAL_SEAL with
/// MFD_ALLOW_SEALING). `inode` must be a tmpfs regular file.
pub fn set_initial_seals(inode: &crate::inode::InodeRef, seals: u32) -> Result<(), Errno> {
    let node = inode.as_any().downcast_ref::<Node>().ok_or(Errno::EINVAL)?;
    node.data()?.lock().unwrap().seals = seals;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn nlink(i: &InodeRef) -> u64 {
        i.stat().st_nlink
    }

    #[test]
    fn hard_links_name_one_inode_and_count_its_links() {
        let root = tmpfs(1).inode().clone();
        let a = make_file(&root, "a", b"shared");
        assert_eq!(nlink(&a), 1);
        root.link(b"b", &a).unwrap();
        let b = root.lookup(b"b").unwrap();
        assert_eq!(b.stat().st_ino, a.stat().st_ino);
        assert_eq!((nlink(&a), nlink(&b)), (2, 2));
        open(&b, O_WRONLY).unwrap().write_buf(b"SH", Some(0)).unwrap();
        assert_eq!(contents(&a), b"SHared", "one file under two names");

        assert_eq!(root.link(b"a", &a), Err(Errno::EEXIST));
        let d = make_dir(&root, "d");
        assert_eq!(root.link(b"d2", &d), Err(Errno::EPERM), "no links to directories");

        root.unlink(b"a", false).unwrap();
        assert_eq!(root.lookup(b"a").err(), Some(Errno::ENOENT));
        assert_eq!(nlink(&b), 1);
        assert_eq!(contents(&b), b"SHared");
        root.unlink(b"b", false).unwrap();
        assert_eq!(nlink(&a), 0, "the inode lives on while referenced");
    }

    #[test]
    fn directories_count_their_subdirectories_links() {
        let root = tmpfs(1).inode().clone();
        assert_eq!(nlink(&root), 2);
        let d = make_dir(&root, "d");
        assert_eq!((nlink(&root), nlink(&d)), (3, 2), "the child's \"..\"");
        make_file(&root, "f", b"");
        assert_eq!(nlink(&root), 3, "files do not count");
        let e = make_dir(&root, "e");
        // Moving a directory moves its "..".
        root.rename(b"e", &d, b"e").unwrap();
        assert_eq!((nlink(&root), nlink(&d), nlink(&e)), (3, 3, 2));

        assert_eq!(root.unlink(b"d", true), Err(Errno::ENOTEMPTY));
        assert_eq!(root.unlink(b"d", false), Err(Errno::EISDIR));
        assert_eq!(root.unlink(b"f", true), Err(Errno::ENOTDIR));
        d.unlink(b"e", true).unwrap();
        assert_eq!((nlink(&d), nlink(&e)), (2, 0));
        root.unlink(b"d", true).unwrap();
        assert_eq!(nlink(&root), 2);
    }

    #[test]
    fn rename_replaces_by_linuxs_rules() {
        let root = tmpfs(1).inode().clone();
        let f = make_file(&root, "f", b"moving");
        let g = make_file(&root, "g", b"replaced");
        let full = make_dir(&root, "full");
        make_file(&full, "x", b"");
        make_dir(&root, "empty");
        make_dir(&root, "dir");

        assert_eq!(root.rename(b"f", &root, b"empty"), Err(Errno::EISDIR), "a file over a directory");
        assert_eq!(root.rename(b"dir", &root, b"g"), Err(Errno::ENOTDIR), "a directory over a file");
        assert_eq!(root.rename(b"dir", &root, b"full"), Err(Errno::ENOTEMPTY));
        assert_eq!(root.rename(b"nothing", &root, b"x"), Err(Errno::ENOENT));
        assert_eq!(names(&root), ["dir", "empty", "f", "full", "g"], "nothing moved");

        // A file replaces a file, which loses its link.
        root.rename(b"f", &root, b"g").unwrap();
        assert_eq!(names(&root), ["dir", "empty", "full", "g"]);
        assert_eq!(contents(&root.lookup(b"g").unwrap()), b"moving");
        assert_eq!(nlink(&g), 0);
        // A directory replaces an empty directory.
        let links = nlink(&root);
        root.rename(b"dir", &root, b"empty").unwrap();
        assert_eq!(names(&root), ["empty", "full", "g"]);
        assert_eq!(nlink(&root), links - 1, "the replaced directory's \"..\" is gone");
        // Two names of one inode: rename does nothing.
        root.link(b"g2", &f).unwrap();
        root.rename(b"g", &root, b"g2").unwrap();
        assert_eq!(names(&root), ["empty", "full", "g", "g2"]);
        // Across directories.
        root.rename(b"g2", &full, b"y").unwrap();
        assert_eq!(names(&full), ["x", "y"]);
    }

    #[test]
    fn holes_read_as_zero_and_seek_finds_data_and_holes() {
        let root = tmpfs(1).inode().clone();
        let f = make_file(&root, "sparse", b"");
        let fd = open(&f, O_RDWR).unwrap();
        fd.write_buf(b"A", Some(0)).unwrap();
        let far = 3 * PAGE_SIZE + 5;
        fd.write_buf(b"B", Some(far as i64)).unwrap();
        let size = far as i64 + 1;
        assert_eq!(f.stat().st_size, size);
        assert_eq!(f.stat().st_blocks, 2 * (PAGE_SIZE as i64 / 512), "two pages hold data");

        let data = contents(&f);
        assert_eq!(data.len(), size as usize);
        assert_eq!((data[0], data[far as usize]), (b'A', b'B'));
        assert!(data[1..far as usize].iter().all(|&b| b == 0), "the hole reads as zeroes");

        let seek = |off: i64, whence| fd.ops().seek(&fd, off, whence);
        let p = PAGE_SIZE as i64;
        assert_eq!(seek(0, SEEK_DATA), Ok(0));
        assert_eq!(seek(0, SEEK_HOLE), Ok(p));
        assert_eq!(seek(10, SEEK_HOLE), Ok(p));
        assert_eq!(seek(p, SEEK_DATA), Ok(3 * p));
        assert_eq!(seek(far as i64, SEEK_DATA), Ok(far as i64));
        assert_eq!(seek(3 * p, SEEK_HOLE), Ok(size), "the implicit hole at the end");
        assert_eq!(seek(size, SEEK_DATA), Err(Errno::ENXIO));
        assert_eq!(seek(size, SEEK_HOLE), Err(Errno::ENXIO));
        assert_eq!(seek(-1, SEEK_DATA), Err(Errno::ENXIO));

        // Truncation drops pages and zeroes the tail of the last one kept.
        f.setattr(&SetAttr { size: Some(3), ..SetAttr::default() }).unwrap();
        fd.write_buf(b"xyz", Some(0)).unwrap();
        f.setattr(&SetAttr { size: Some(1), ..SetAttr::default() }).unwrap();
        f.setattr(&SetAttr { size: Some(2 * PAGE_SIZE), ..SetAttr::default() }).unwrap();
        let data = contents(&f);
        assert_eq!(&data[..3], b"x\0\0");
        assert!(data.iter().skip(1).all(|&b| b == 0));
        assert_eq!(seek(0, SEEK_HOLE), Ok(p));
        assert_eq!(seek(p, SEEK_DATA), Err(Errno::ENXIO), "no data after the first page");

        // A punched hole reads as zeroes and is a hole again.
        fd.ops().fallocate(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, PAGE_SIZE).unwrap();
        assert!(contents(&f).iter().all(|&b| b == 0));
        assert_eq!(seek(0, SEEK_DATA), Err(Errno::ENXIO));
        assert_eq!(f.stat().st_blocks, 0);
    }
}
