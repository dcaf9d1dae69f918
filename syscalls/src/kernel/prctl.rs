//! prctl: the process and thread attributes Linux keeps there.

use abi::Errno;
use sentry::{SyscallResult, Task};

const PR_SET_PDEATHSIG: i32 = 1;
const PR_GET_PDEATHSIG: i32 = 2;
const PR_GET_DUMPABLE: i32 = 3;
const PR_SET_DUMPABLE: i32 = 4;
const PR_GET_KEEPCAPS: i32 = 7;
const PR_SET_KEEPCAPS: i32 = 8;
const PR_SET_NAME: i32 = 15;
const PR_GET_NAME: i32 = 16;
const PR_CAPBSET_READ: i32 = 23;
const PR_CAPBSET_DROP: i32 = 24;
const PR_SET_CHILD_SUBREAPER: i32 = 36;
const PR_GET_CHILD_SUBREAPER: i32 = 37;
const PR_SET_NO_NEW_PRIVS: i32 = 38;
const PR_GET_NO_NEW_PRIVS: i32 = 39;
/// CAP_LAST_CAP.
const LAST_CAP: u64 = 40;
const CAP_SETPCAP: u64 = 8;

pub fn prctl(t: &mut Task, option: i32, a2: u64, a3: u64, a4: u64, a5: u64) -> SyscallResult {
    let unused_zero = |args: &[u64]| if args.iter().all(|&a| a == 0) { Ok(()) } else { Err(Errno::EINVAL) };
    match option {
        PR_SET_PDEATHSIG => {
            if a2 > abi::signal::SIGRTMAX as u64 {
                return Err(Errno::EINVAL);
            }
            t.tasks().current_process_mut(t).pdeathsig = a2 as i32;
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let sig = t.tasks().current_process(t).pdeathsig;
            t.mm.write_obj(a2, &sig).map(|_| 0)
        }
        PR_GET_DUMPABLE => Ok(t.tasks().current_process(t).dumpable as u64),
        PR_SET_DUMPABLE => {
            if a2 > 1 {
                return Err(Errno::EINVAL);
            }
            t.tasks().current_process_mut(t).dumpable = a2 == 1;
            Ok(0)
        }
        PR_GET_KEEPCAPS => Ok(t.keepcaps as u64),
        PR_SET_KEEPCAPS => {
            if a2 > 1 {
                return Err(Errno::EINVAL);
            }
            t.keepcaps = a2 == 1;
            Ok(0)
        }
        PR_SET_NAME => {
            let mut name = [0u8; 16];
            let mut raw = [0u8; 16];
            t.mm.copy_in(a2, &mut raw[..1])?;
            // Up to 15 bytes, stopping at a NUL; reads stop where memory does.
            for (i, b) in raw.iter_mut().enumerate().take(15) {
                if t.mm.copy_in(a2 + i as u64, std::slice::from_mut(b)).is_err() || *b == 0 {
                    break;
                }
                name[i] = *b;
            }
            t.comm = name;
            Ok(0)
        }
        PR_GET_NAME => t.mm.copy_out(a2, &t.comm).map(|_| 0),
        PR_CAPBSET_READ => {
            if a2 > LAST_CAP {
                return Err(Errno::EINVAL);
            }
            Ok((t.cap_bset >> a2) & 1)
        }
        PR_CAPBSET_DROP => {
            if a2 > LAST_CAP {
                return Err(Errno::EINVAL);
            }
            if t.creds.euid != 0 || t.cap_bset & (1 << CAP_SETPCAP) == 0 {
                return Err(Errno::EPERM);
            }
            t.cap_bset &= !(1 << a2);
            Ok(0)
        }
        PR_SET_CHILD_SUBREAPER => {
            t.tasks().current_process_mut(t).subreaper = a2 != 0;
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            let on = t.tasks().current_process(t).subreaper as i32;
            t.mm.write_obj(a2, &on).map(|_| 0)
        }
        PR_SET_NO_NEW_PRIVS => {
            if a2 != 1 {
                return Err(Errno::EINVAL);
            }
            unused_zero(&[a3, a4, a5])?;
            t.no_new_privs = true;
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS => {
            unused_zero(&[a2, a3, a4, a5])?;
            Ok(t.no_new_privs as u64)
        }
        _ => Err(Errno::EINVAL),
    }
}
