//! statx.

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;
use sentry::{SyscallResult, Task};

use crate::args::{Fd, UserCStr};
use crate::fs::path::{lookup, lookup_flags};

const STATX_BASIC_STATS: u32 = 0x7ff;
const STATX_MNT_ID: u32 = 0x1000;
const STATX_RESERVED: u32 = 0x8000_0000;
const AT_STATX_FORCE_SYNC: u32 = 0x2000;
const AT_STATX_DONT_SYNC: u32 = 0x4000;

fn major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

fn minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

/// The 256-byte `struct statx` for `st`.
fn encode(st: &Stat, mnt_id: u64) -> [u8; 256] {
    let mut b = [0u8; 256];
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    put(0, &(STATX_BASIC_STATS | STATX_MNT_ID).to_le_bytes());
    put(4, &(st.st_blksize as u32).to_le_bytes());
    put(16, &(st.st_nlink as u32).to_le_bytes());
    put(20, &st.st_uid.to_le_bytes());
    put(24, &st.st_gid.to_le_bytes());
    put(28, &(st.st_mode as u16).to_le_bytes());
    put(32, &st.st_ino.to_le_bytes());
    put(40, &(st.st_size as u64).to_le_bytes());
    put(48, &(st.st_blocks as u64).to_le_bytes());
    for (off, sec, nsec) in
        [(64, st.st_atime, st.st_atime_nsec), (96, st.st_ctime, st.st_ctime_nsec), (112, st.st_mtime, st.st_mtime_nsec)]
    {
        put(off, &sec.to_le_bytes());
        put(off + 8, &(nsec as u32).to_le_bytes());
    }
    put(128, &major(st.st_rdev).to_le_bytes());
    put(132, &minor(st.st_rdev).to_le_bytes());
    put(136, &major(st.st_dev).to_le_bytes());
    put(140, &minor(st.st_dev).to_le_bytes());
    put(144, &mnt_id.to_le_bytes());
    b
}

pub fn statx(t: &mut Task, dirfd: Fd, path: UserCStr, flags: u32, mask: u32, buf: u64) -> SyscallResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC
        || mask & STATX_RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let p = path.read_path(t)?;
    let (st, mnt) = if p.is_empty() && flags & AT_EMPTY_PATH != 0 && dirfd.0 != AT_FDCWD {
        let file = t.fds.file(dirfd.0)?;
        (file.stat()?, file.path().map_or(0, |p| p.mount.id))
    } else {
        let found = lookup(t, dirfd, path, lookup_flags(flags))?;
        (found.inode().stat(), found.mount.id)
    };
    t.mm.copy_out(buf, &encode(&st, mnt)).map(|_| 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn device_numbers_split_as_linux_does() {
        let dev = vfs::dev::makedev(259, 70000);
        assert_eq!((super::major(dev), super::minor(dev)), (259, 70000));
    }
}
