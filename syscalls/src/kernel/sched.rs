//! sched_getaffinity, sched_yield.

use abi::Errno;
use sentry::mm::Access;
use sentry::{SyscallResult, Task};

use crate::args::UserBuf;

/// Reports the CPUs the sandbox may use (the task threads' own pinning is the
/// platform's business and is not shown).
pub fn sched_getaffinity(t: &mut Task, pid: i32, len: usize, mask: UserBuf) -> SyscallResult {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && pid != t.tid {
        return Err(Errno::ESRCH);
    }
    let host = &t.kernel.host;
    if len * 8 < host.nr_cpu_ids || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let size = host.nr_cpu_ids.div_ceil(64) * 8;
    let mut bytes = host.cpu_mask.clone();
    bytes.resize(size, 0);
    let n = size.min(len);
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
