//! futex: WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP, the BITSET forms and
//! the PI locks (LOCK_PI, LOCK_PI2, TRYLOCK_PI, UNLOCK_PI), private and
//! shared (sentry::futex names a shared futex by its page, so processes
//! sharing a mapping meet). WAIT_REQUEUE_PI and CMP_REQUEUE_PI are ENOSYS.

use std::time::{Duration, Instant};

use abi::consts::*;
use abi::structs::Timespec;
use abi::Errno;
use sentry::futex::{Key, PiWait};
use sentry::{SyscallResult, Task};

use crate::args::UserPtr;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAKE_OP: u32 = 5;
const FUTEX_LOCK_PI: u32 = 6;
const FUTEX_UNLOCK_PI: u32 = 7;
const FUTEX_TRYLOCK_PI: u32 = 8;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_LOCK_PI2: u32 = 13;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;

fn check_addr(uaddr: u64) -> Result<(), Errno> {
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn valid(ts: &Timespec) -> Result<(), Errno> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The deadline of a wait: FUTEX_WAIT's timeout is relative; WAIT_BITSET's is
/// absolute, on CLOCK_MONOTONIC or (FUTEX_CLOCK_REALTIME) CLOCK_REALTIME.
fn deadline(t: &Task, timeout: UserPtr<Timespec>, absolute: bool, realtime: bool) -> Result<Option<Instant>, Errno> {
    let Some(ts) = timeout.read_opt(t)? else { return Ok(None) };
    valid(&ts)?;
    let want = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    if !absolute {
        return Ok(Instant::now().checked_add(want));
    }
    let now = super::time::host_now(if realtime { CLOCK_REALTIME } else { CLOCK_MONOTONIC })?;
    let now = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
    Ok(Instant::now().checked_add(want.saturating_sub(now)))
}

/// FUTEX_WAKE_OP's operation on the word at uaddr2; returns whether its
/// comparison of the old value holds.
fn wake_op(t: &Task, uaddr2: u64, encoded: u32) -> Result<bool, Errno> {
    let op = (encoded >> 28) & 7;
    let shift = encoded & (8 << 28) != 0;
    let cmp = (encoded >> 24) & 15;
    let mut oparg = ((encoded << 8) as i32 >> 20) as u32;
    let cmparg = ((encoded << 20) as i32 >> 20) as u32;
    if shift {
        if oparg > 31 {
            oparg &= 31;
        }
        oparg = 1u32 << oparg;
    }
    if op > 4 {
        return Err(Errno::ENOSYS);
    }
    // Atomically, as the application may change the word meanwhile; like
    // Linux, the operation is done before the comparison is decoded.
    let old = t.mm.update_u32(uaddr2, |old| {
        Some(match op {
            0 => oparg,
            1 => old.wrapping_add(oparg),
            2 => old | oparg,
            3 => old & !oparg,
            _ => old ^ oparg,
        })
    })?;
    match cmp {
        0 => Ok(old == cmparg),
        1 => Ok(old != cmparg),
        2 => Ok((old as i32) < cmparg as i32),
        3 => Ok((old as i32) <= cmparg as i32),
        4 => Ok((old as i32) > cmparg as i32),
        5 => Ok((old as i32) >= cmparg as i32),
        _ => Err(Errno::ENOSYS),
    }
}

pub fn futex(t: &mut Task, uaddr: u64, op: u32, val: u32, timeout: u64, uaddr2: u64, val3: u32) -> SyscallResult {
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let key = |addr: u64| Key::of(&t.mm, addr, private);
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && ![FUTEX_WAIT_BITSET, FUTEX_WAIT, FUTEX_LOCK_PI2].contains(&cmd) {
        return Err(Errno::ENOSYS);
    }
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            check_addr(uaddr)?;
            if cmd == FUTEX_WAIT_BITSET && val3 == 0 {
                return Err(Errno::EINVAL);
            }
            let timeout = UserPtr::<Timespec>::from_addr(timeout);
            let until = deadline(t, timeout, cmd == FUTEX_WAIT_BITSET, realtime)?;
            let bitset = if cmd == FUTEX_WAIT { u32::MAX } else { val3 };
            t.kernel.futexes.wait(&t.mm, key(uaddr)?, uaddr, val, bitset, until).map(|_| 0)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            check_addr(uaddr)?;
            if cmd == FUTEX_WAKE_BITSET && val3 == 0 {
                return Err(Errno::EINVAL);
            }
            let bitset = if cmd == FUTEX_WAKE { u32::MAX } else { val3 };
            Ok(t.kernel.futexes.wake(key(uaddr)?, val, bitset) as u64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            check_addr(uaddr)?;
            check_addr(uaddr2)?;
            if (val as i32) < 0 || (timeout as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            if cmd == FUTEX_CMP_REQUEUE {
                let cur: u32 = t.mm.read_obj(uaddr)?;
                if cur != val3 {
                    return Err(Errno::EAGAIN);
                }
            }
            // The fourth argument is the count to requeue, not a timeout.
            let (from, to) = (key(uaddr)?, key(uaddr2)?);
            Ok(t.kernel.futexes.requeue(from, to, val, timeout as u32) as u64)
        }
        FUTEX_WAKE_OP => {
            check_addr(uaddr)?;
            check_addr(uaddr2)?;
            let (k1, k2) = (key(uaddr)?, key(uaddr2)?);
            let holds = wake_op(t, uaddr2, val3)?;
            let mut woken = t.kernel.futexes.wake(k1, val, u32::MAX);
            if holds {
                woken += t.kernel.futexes.wake(k2, timeout as u32, u32::MAX);
            }
            Ok(woken as u64)
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI => {
            check_addr(uaddr)?;
            // LOCK_PI's timeout is absolute on CLOCK_REALTIME; LOCK_PI2's
            // on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME says otherwise.
            let wait = if cmd == FUTEX_TRYLOCK_PI {
                PiWait::Never
            } else {
                let on_realtime = cmd == FUTEX_LOCK_PI || realtime;
                PiWait::Until(deadline(t, UserPtr::from_addr(timeout), true, on_realtime)?)
            };
            let key = key(uaddr)?;
            let exists = |tid: u32| t.tasks().threads.contains_key(&(tid as i32));
            t.kernel.futexes.lock_pi(&t.mm, key, uaddr, t.tid as u32, wait, exists).map(|_| 0)
        }
        FUTEX_UNLOCK_PI => {
            check_addr(uaddr)?;
            t.kernel.futexes.unlock_pi(&t.mm, key(uaddr)?, uaddr, t.tid as u32).map(|_| 0)
        }
        // Requeueing onto PI futexes (for condition variables with
        // PTHREAD_PRIO_INHERIT mutexes; glibc's condvars have not used it
        // since 2.25) is not offered.
        _ => Err(Errno::ENOSYS),
    }
}

const _: () = assert!(PAGE_SIZE == 4096);
