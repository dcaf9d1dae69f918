//! Open file descriptions: the object an fd points at, with its status flags
//! and the operations of the file behind it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;

use crate::inode::{DirEntry, FileType, InodeRef};
use crate::mount::Path;
use crate::safemem::BlockSeq;

/// Access to the calling task's memory, for operations (ioctl) whose arguments
/// are pointers of a shape only the file knows.
pub trait UserIo {
    fn copy_out(&self, addr: u64, src: &[u8]) -> Result<(), Errno>;
    fn copy_in(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno>;
}

/// What a kind of file does. Every method has the errno Linux gives a file that
/// does not support the operation.
pub trait FileOps: Send + Sync {
    /// Reads into `dst`; `offset` is None for a read at the file position.
    fn read(&self, _file: &FileDescription, _dst: &BlockSeq, _offset: Option<i64>) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// Writes from `src`; `offset` is None for a write at the file position.
    fn write(&self, _file: &FileDescription, _src: &BlockSeq, _offset: Option<i64>) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    fn stat(&self) -> Result<Stat, Errno>;
    fn ioctl(&self, _file: &FileDescription, _io: &dyn UserIo, _cmd: u32, _arg: u64) -> Result<u64, Errno> {
        Err(Errno::ENOTTY)
    }
    /// Whether pread/pwrite make sense (false for pipes, ttys and sockets: ESPIPE).
    fn seekable(&self) -> bool {
        false
    }
    /// lseek: the new position.
    fn seek(&self, _file: &FileDescription, _off: i64, _whence: i32) -> Result<i64, Errno> {
        Err(Errno::ESPIPE)
    }
    /// fallocate on a regular file, its mode word already checked for
    /// consistency; filesystems without it are EOPNOTSUPP.
    fn fallocate(&self, _mode: u32, _off: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// F_GET_SEALS: tmpfs files only (EINVAL elsewhere, as Linux).
    fn seals(&self) -> Result<u32, Errno> {
        Err(Errno::EINVAL)
    }
    /// F_ADD_SEALS, the seal word and write access already checked.
    fn add_seals(&self, _seals: u32) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    /// ftruncate.
    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    /// Which of the poll `events` the file is ready for now. Regular files,
    /// directories and devices are always ready.
    fn readiness(&self, events: u32) -> u32 {
        events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)
    }
    /// Whether epoll may watch the file (Linux: the file has a poll
    /// operation; regular files and directories do not: EPERM).
    fn pollable(&self) -> bool {
        false
    }
    /// How many wakeups whose events meet `events` the file has made, for
    /// edge-triggered epoll; None when the file cannot tell (then an edge is
    /// a readiness bit that was clear and now is set).
    fn wake_count(&self, _events: u32) -> Option<u64> {
        None
    }
    /// F_GETPIPE_SZ (None) and F_SETPIPE_SZ (Some): pipes only.
    fn pipe_size(&self, _new: Option<usize>) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    /// The host fd behind this file, for the few that are one (stdio), so a
    /// wait on them can be a host poll.
    /// The queues notified when the file's readiness may have changed, for
    /// poll, select and epoll to wait on (none: its readiness never changes
    /// by the sandbox's doing, or it is a host fd, see `host_fd`).
    fn wait_queues(&self) -> Vec<std::sync::Arc<crate::waiter::WaitQueue>> {
        Vec::new()
    }

    /// The file's pages in the memory file, for MAP_SHARED mappings that
    /// share them (None: a shared mapping can only be a copy).
    fn mappable(&self) -> Option<std::sync::Arc<dyn Mappable>> {
        None
    }

    /// The file as `Any`, for the kinds that callers look for by type (a
    /// pipe end, an epoll or inotify instance, a timerfd): each kind's
    /// module offers the lookup (`pipe::pipe_of`, `EventPoll::of`, ...), so
    /// this trait names none of them.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }

    fn host_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
    /// What /proc/PID/fd shows for a file with no place in the tree that is
    /// not a pipe or socket, e.g. "anon_inode:[eventfd]".
    fn anon_name(&self) -> Option<&'static str> {
        None
    }
    /// The entries of a directory from position `pos` on, "." and ".." first.
    fn dir_entries(&self, _file: &FileDescription) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }
}

/// lseek for files with no end to seek from (directories, generated /proc
/// files): SEEK_SET and SEEK_CUR only; a position below 0, or one that
/// overflows, is EINVAL.
pub fn seek_set_or_cur(pos: i64, off: i64, whence: i32) -> Result<i64, Errno> {
    let new = match whence {
        SEEK_SET => off,
        SEEK_CUR => pos.checked_add(off).ok_or(Errno::EINVAL)?,
        _ => return Err(Errno::EINVAL),
    };
    if new < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(new)
}

/// The device number of anonymous inodes (anon_inodefs).
pub const ANON_INODE_DEV: u64 = 0x0d;

/// What fstat says of an eventfd, epoll or inotify fd: Linux's one anonymous
/// inode, mode 0600 and no file type.
pub fn anon_inode_stat() -> Stat {
    Stat {
        st_dev: ANON_INODE_DEV,
        st_ino: 1,
        st_nlink: 1,
        st_mode: 0o600,
        st_blksize: PAGE_SIZE as i64,
        ..Stat::default()
    }
}

// poll(2) event bits.
pub const POLLIN: u32 = 0x001;
pub const POLLPRI: u32 = 0x002;
pub const POLLOUT: u32 = 0x004;
pub const POLLERR: u32 = 0x008;
pub const POLLHUP: u32 = 0x010;
pub const POLLNVAL: u32 = 0x020;
pub const POLLRDNORM: u32 = 0x040;
pub const POLLWRNORM: u32 = 0x100;

/// Status flags that F_SETFL may change.
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;

/// An open file description (Linux `struct file`).
pub struct FileDescription {
    flags: AtomicU32,
    ops: Box<dyn FileOps>,
    pos: Mutex<i64>,
    /// Where in the tree it was opened (None for stdio given at start).
    path: Option<Path>,
    /// The regular file this description may write, counted in WRITERS.
    writer_of: Option<(u64, u64)>,
}

/// A file whose pages live in the memory file, so that shared mappings map
/// the file's own pages.
pub trait Mappable: Send + Sync {
    /// The memory-file offset of page `index` of the file, allocated if it is
    /// a hole, with one more owner (the mapping's; `MemoryFile::free` drops
    /// it). EFAULT past the end of the file (SIGBUS for the application).
    fn map_page(&self, index: u64) -> Result<u64, Errno>;
}

/// How many open descriptions may write each regular file, by (dev, ino):
/// exec refuses a file being written (ETXTBSY).
static WRITERS: std::sync::LazyLock<Mutex<std::collections::HashMap<(u64, u64), usize>>> =
    std::sync::LazyLock::new(Mutex::default);

/// Whether an open description may write the file whose stat is `st`.
pub fn open_for_writing(st: &Stat) -> bool {
    WRITERS.lock().unwrap().contains_key(&(st.st_dev, st.st_ino))
}

impl FileDescription {
    pub fn new(flags: u32, ops: Box<dyn FileOps>, path: Option<Path>) -> FileDescription {
        let acc = flags & O_ACCMODE;
        let writer_of = path
            .as_ref()
            .filter(|_| (acc == O_WRONLY || acc == O_RDWR) && flags & O_PATH == 0)
            .map(|p| p.inode().stat())
            .filter(|st| st.st_mode & S_IFMT == S_IFREG)
            .map(|st| (st.st_dev, st.st_ino));
        if let Some(k) = writer_of {
            *WRITERS.lock().unwrap().entry(k).or_default() += 1;
        }
        FileDescription {
            flags: AtomicU32::new(flags & !(O_CLOEXEC | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)),
            ops,
            pos: Mutex::new(0),
            path,
            writer_of,
        }
    }

    /// The file position, locked for a read-modify-write.
    pub fn pos(&self) -> MutexGuard<'_, i64> {
        self.pos.lock().unwrap()
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_ref()
    }

    /// Access mode and status flags, as F_GETFL reports them.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// F_SETFL: only the changeable status flags are taken from `flags`.
    pub fn set_status_flags(&self, flags: u32) {
        let old = self.flags();
        self.flags.store((old & !SETFL_MASK) | (flags & SETFL_MASK), Ordering::Relaxed);
    }

    pub fn readable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_RDONLY | O_RDWR) && self.flags() & O_PATH == 0
    }

    pub fn writable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_WRONLY | O_RDWR) && self.flags() & O_PATH == 0
    }

    pub fn ops(&self) -> &dyn FileOps {
        &*self.ops
    }

    /// fstat: the inode the description was opened through, when it has
    /// one (an overlay file, not the layer file serving its I/O; a FIFO, not
    /// its pipe), else what the file itself says.
    pub fn stat(&self) -> Result<Stat, Errno> {
        match &self.path {
            Some(p) => Ok(p.inode().stat()),
            None => self.ops.stat(),
        }
    }
}

impl FileDescription {
    /// What file locks are keyed by: the inode, or the description itself
    /// for a file with no place in the tree.
    pub fn lock_key(&self) -> usize {
        match &self.path {
            Some(p) => std::sync::Arc::as_ptr(p.inode()) as *const u8 as usize,
            None => self as *const FileDescription as usize,
        }
    }

    /// The owner OFD locks and flock locks of this description have.
    pub fn lock_owner(&self) -> crate::lock::LockOwner {
        crate::lock::LockOwner::Description(self as *const FileDescription as usize)
    }

    /// Reads into a Sentry buffer at `off` (pread), for the kernel's own use
    /// (the ELF loader, private file mappings).
    pub fn read_at(&self, buf: &mut [u8], off: u64) -> Result<usize, Errno> {
        self.read_buf(buf, Some(off as i64))
    }

    /// Reads into a Sentry buffer, at `off` or at the file position.
    pub fn read_buf(&self, buf: &mut [u8], off: Option<i64>) -> Result<usize, Errno> {
        let Some(ptr) = std::ptr::NonNull::new(buf.as_mut_ptr()) else { return Ok(0) };
        // SAFETY: `buf` stays borrowed, and so valid, for the whole call; the
        // sequence does not outlive it.
        let seq = BlockSeq::new(vec![unsafe { crate::safemem::Block::new(ptr, buf.len()) }]);
        self.ops.read(self, &seq, off)
    }

    /// Writes a Sentry buffer, at `off` or at the file position.
    pub fn write_buf(&self, buf: &[u8], off: Option<i64>) -> Result<usize, Errno> {
        let Some(ptr) = std::ptr::NonNull::new(buf.as_ptr() as *mut u8) else { return Ok(0) };
        // SAFETY: as in read_buf; the file only reads from the block.
        let seq = BlockSeq::new(vec![unsafe { crate::safemem::Block::new(ptr, buf.len()) }]);
        if seq.is_empty() {
            return Ok(0);
        }
        self.ops.write(self, &seq, off)
    }
}

impl Drop for FileDescription {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            if self.flags() & O_PATH == 0 {
                let event = if self.writable() { IN_CLOSE_WRITE } else { IN_CLOSE_NOWRITE };
                crate::inotify::notify_file(p, event);
            }
        }
        // OFD locks and flock locks go with their description.
        crate::lock::release(self.lock_key(), self.lock_owner());
        if let Some(k) = self.writer_of {
            let mut w = WRITERS.lock().unwrap();
            if let Some(n) = w.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    w.remove(&k);
                }
            }
        }
    }
}

/// An open directory, on any filesystem: its listing is taken when it is read
/// from position 0 and served from there, as getdents needs a stable order.
pub struct DirectoryFile {
    inode: InodeRef,
    parent_ino: u64,
    snapshot: Mutex<Option<Vec<DirEntry>>>,
}

impl DirectoryFile {
    pub fn new(inode: InodeRef, parent_ino: u64) -> DirectoryFile {
        DirectoryFile { inode, parent_ino, snapshot: Mutex::default() }
    }
}

impl FileOps for DirectoryFile {
    fn read(&self, _file: &FileDescription, _dst: &BlockSeq, _offset: Option<i64>) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.inode.stat())
    }
    fn seekable(&self) -> bool {
        true
    }
    fn seek(&self, file: &FileDescription, off: i64, whence: i32) -> Result<i64, Errno> {
        let mut pos = file.pos();
        let new = seek_set_or_cur(*pos, off, whence)?;
        if new == 0 {
            *self.snapshot.lock().unwrap() = None;
        }
        *pos = new;
        Ok(new)
    }
    fn dir_entries(&self, file: &FileDescription) -> Result<Vec<DirEntry>, Errno> {
        let mut snap = self.snapshot.lock().unwrap();
        if snap.is_none() || *file.pos() == 0 {
            let own = self.inode.stat().st_ino;
            let mut v = vec![
                DirEntry { name: b".".to_vec(), ino: own, kind: FileType::Directory },
                DirEntry { name: b"..".to_vec(), ino: self.parent_ino, kind: FileType::Directory },
            ];
            v.extend(self.inode.readdir()?);
            *snap = Some(v);
        }
        Ok(snap.clone().unwrap_or_default())
    }
}
