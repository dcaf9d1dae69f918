//! sysinfo.

use sentry::{SyscallResult, Task};

/// `struct sysinfo` (112 bytes): uptime from the boot clock, no load, the
/// sandbox's memory (its cap, or the host's memory if less, and what of it
/// the sandbox has not used), and the sandbox's task count.
pub fn sysinfo(t: &mut Task, buf: u64) -> SyscallResult {
    let ts = sentry::host::clock_gettime(abi::consts::CLOCK_BOOTTIME)?;
    let host = &t.kernel.host;
    let procs = t.kernel.tasks.lock().unwrap().threads.len() as u16;
    let mut b = [0u8; 112];
    b[0..8].copy_from_slice(&ts.tv_sec.to_le_bytes());
    let total = host.totalram.min(t.kernel.memfile.limit());
    let free = total.saturating_sub(t.kernel.memfile.used()).min(host.freeram);
    b[32..40].copy_from_slice(&total.to_le_bytes());
    b[40..48].copy_from_slice(&free.to_le_bytes());
    b[80..82].copy_from_slice(&procs.to_le_bytes());
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    t.mm.copy_out(buf, &b).map(|_| 0)
}
