//! sched_getaffinity, sched_yield.

use abi::Errno;
use sentry::mm::Access;
use sentry::{SyscallResult, Task};

use crate::args::UserBuf;

/// Reports the CPUs the sandbox may use (the task threads' own pinning is the
/// platform's business and is not shown).
pub fn sched_getaffinity(t: &mut Task, pid: i32, len: u32, mask: UserBuf) -> SyscallResult {
    let host = &t.kernel.host;
    if (len.wrapping_mul(8) as usize) < host.nr_cpu_ids || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && pid != t.tid {
        return Err(Errno::ESRCH);
    }
    let bytes = &host.cpu_mask;
    let n = bytes.len().min(len as usize);
    let b = t.mm.blocks(mask.0, n as u64, Access::Write)?;
    if b.len() < n {
        return Err(Errno::EFAULT);
    }
    b.copy_from(&bytes[..n]);
    Ok(n as u64)
}

pub fn sched_yield(_t: &mut Task) -> SyscallResult {
    std::thread::yield_now();
    Ok(0)
}
