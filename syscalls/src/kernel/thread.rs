//! arch_prctl, set_tid_address, set_robust_list.

use abi::consts::*;
use abi::Errno;
use sentry::{SyscallResult, Task};

use crate::args::UserPtr;

pub fn arch_prctl(t: &mut Task, code: u64, addr: u64) -> SyscallResult {
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= TASK_SIZE {
                return Err(Errno::EPERM);
            }
            if code == ARCH_SET_FS {
                t.regs.fs_base = addr;
            } else {
                t.regs.gs_base = addr;
            }
            Ok(0)
        }
        ARCH_GET_FS | ARCH_GET_GS => {
            let v = if code == ARCH_GET_FS { t.regs.fs_base } else { t.regs.gs_base };
            t.mm.write_obj(addr, &v).map(|_| 0)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub fn set_tid_address(t: &mut Task, tidptr: u64) -> SyscallResult {
    t.clear_child_tid = tidptr;
    Ok(t.tid as u64)
}

/// sizeof(struct robust_list_head)
const ROBUST_LIST_HEAD_SIZE: usize = 24;

pub fn set_robust_list(t: &mut Task, head: UserPtr<u64>, len: usize) -> SyscallResult {
    if len != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    t.robust_list = head.addr;
    Ok(0)
}

/// get_robust_list: the head registered by thread `pid` (0: the caller).
pub fn get_robust_list(t: &mut Task, pid: i32, head: UserPtr<u64>, len: UserPtr<usize>) -> SyscallResult {
    if pid != 0 && pid != t.tid {
        // Another thread's list is not kept where this thread can read it.
        return if t.tasks().threads.contains_key(&pid) { Err(Errno::EPERM) } else { Err(Errno::ESRCH) };
    }
    head.write(t, &t.robust_list)?;
    len.write(t, &ROBUST_LIST_HEAD_SIZE).map(|_| 0)
}

/// rseq: refused with ENOSYS; the C library then goes on without it.
pub fn rseq(_t: &mut Task) -> SyscallResult {
    Err(Errno::ENOSYS)
}
