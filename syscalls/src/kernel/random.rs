//! getrandom.

use abi::consts::*;
use abi::Errno;
use sentry::mm::Access;
use sentry::{SyscallResult, Task};

use crate::args::UserBuf;
use crate::fs::rw::MAX_RW_COUNT;

pub fn getrandom(t: &mut Task, buf: UserBuf, len: usize, flags: u32) -> SyscallResult {
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    let len = (len as u64).min(MAX_RW_COUNT);
    let blocks = t.mm.blocks(buf.0, len, Access::Write)?;
    // Fill a page at a time: the request may be up to 2 GiB.
    let mut page = [0u8; 4096];
    let total = blocks.len();
    let mut off = 0;
    while off < total {
        let n = (total - off).min(page.len());
        vfs::dev::getrandom(&mut page[..n]);
        blocks.copy_from_at(off, &page[..n]);
        off += n;
    }
    Ok(total as u64)
}
