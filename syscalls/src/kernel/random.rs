//! getrandom.

use abi::consts::*;
use abi::Errno;
use sentry::mm::Access;
use sentry::{SyscallResult, Task};

use crate::args::UserBuf;

pub fn getrandom(t: &mut Task, buf: UserBuf, len: usize, flags: u32) -> SyscallResult {
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    let len = (len as u64).min(i32::MAX as u64);
    let blocks = t.mm.blocks(buf.0, len, Access::Write)?;
    let mut tmp = vec![0u8; blocks.len()];
    sentry::kernel::getrandom(&mut tmp);
    Ok(blocks.copy_from(&tmp) as u64)
}
