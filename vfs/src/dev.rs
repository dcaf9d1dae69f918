//! Character devices: the device number of a device node picks the driver on
//! open, as in Linux. Today: the memory devices of major 1.

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;

use crate::file::{FileDescription, FileOps};
use crate::safemem::BlockSeq;

/// Linux's device number encoding (new_encode_dev), as st_rdev shows it.
pub const fn makedev(major: u32, minor: u32) -> u64 {
    ((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)) as u64
}

pub const NULL: u64 = makedev(1, 3);
pub const ZERO: u64 = makedev(1, 5);
pub const FULL: u64 = makedev(1, 7);
pub const RANDOM: u64 = makedev(1, 8);
pub const URANDOM: u64 = makedev(1, 9);
/// The controlling terminal. The sandbox's processes have none, so opening
/// it fails with ENXIO, as Linux's does for a process without one.
pub const TTY: u64 = makedev(5, 0);

/// The sandbox's memory devices, with their names under /dev.
pub const MEM_DEVICES: [(&[u8], u64); 5] =
    [(b"null", NULL), (b"zero", ZERO), (b"full", FULL), (b"random", RANDOM), (b"urandom", URANDOM)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mem {
    Null,
    Zero,
    Full,
    Random,
}

/// A memory device open on a node whose stat comes from `stat`.
struct MemDevice {
    kind: Mem,
    stat: Box<dyn Fn() -> Stat + Send + Sync>,
}

/// Opens the character device `rdev`; ENXIO when no driver has it.
pub fn open_char_device(rdev: u64, stat: Box<dyn Fn() -> Stat + Send + Sync>) -> Result<Box<dyn FileOps>, Errno> {
    let kind = match rdev {
        NULL => Mem::Null,
        ZERO => Mem::Zero,
        FULL => Mem::Full,
        RANDOM | URANDOM => Mem::Random,
        _ => return Err(Errno::ENXIO),
    };
    Ok(Box::new(MemDevice { kind, stat }))
}

fn fill_random(dst: &BlockSeq) {
    let mut page = [0u8; 4096];
    let mut off = 0;
    while off < dst.len() {
        let n = (dst.len() - off).min(page.len());
        getrandom(&mut page[..n]);
        dst.copy_from_at(off, &page[..n]);
        off += n;
    }
}

/// Fills `buf` from the host's CSPRNG.
pub fn getrandom(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: writes at most the remaining length into `buf`.
        let r = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if r > 0 {
            done += r as usize;
        }
    }
}

impl FileOps for MemDevice {
    fn read(&self, _file: &FileDescription, dst: &BlockSeq, _offset: Option<i64>) -> Result<usize, Errno> {
        match self.kind {
            Mem::Null => Ok(0),
            Mem::Zero | Mem::Full => {
                dst.zero_at(0, dst.len());
                Ok(dst.len())
            }
            Mem::Random => {
                fill_random(dst);
                Ok(dst.len())
            }
        }
    }

    fn write(&self, _file: &FileDescription, src: &BlockSeq, _offset: Option<i64>) -> Result<usize, Errno> {
        match self.kind {
            Mem::Full => Err(Errno::ENOSPC),
            // Writes to /dev/random mix into the pool; the sandbox keeps none.
            _ => Ok(src.len()),
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok((self.stat)())
    }

    fn seekable(&self) -> bool {
        true
    }

    /// Of these, only /dev/random has a poll operation in Linux.
    fn pollable(&self) -> bool {
        (self.stat)().st_rdev == RANDOM
    }

    /// The memory devices ignore seeks and stay at position 0.
    fn seek(&self, _file: &FileDescription, _off: i64, whence: i32) -> Result<i64, Errno> {
        if !(SEEK_SET..=SEEK_END).contains(&whence) && self.kind != Mem::Null {
            return Err(Errno::EINVAL);
        }
        Ok(0)
    }
}
