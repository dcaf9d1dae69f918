//! Open file descriptions: the object an fd points at, with its status flags
//! and the operations of the file behind it.

use std::sync::atomic::{AtomicU32, Ordering};

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;

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
}

/// Status flags that F_SETFL may change.
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;

/// An open file description (Linux `struct file`).
pub struct FileDescription {
    flags: AtomicU32,
    ops: Box<dyn FileOps>,
}

impl FileDescription {
    pub fn new(flags: u32, ops: Box<dyn FileOps>) -> FileDescription {
        FileDescription { flags: AtomicU32::new(flags & !O_CLOEXEC), ops }
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
}
