//! Advisory file locks: POSIX record locks (owned by a process), OFD locks
//! (owned by an open file description), and flock (whole-file, owned by a
//! description, in a table of its own as in Linux).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use abi::Errno;

use crate::waiter::WaitQueue;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockOwner {
    /// POSIX record locks: the thread group id.
    Process(i32),
    /// OFD locks and flock: the open file description.
    Description(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockType {
    Read,
    Write,
}

/// Which table a lock lives in: fcntl locks and flock never conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockKind {
    Record,
    Flock,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lock {
    pub owner: LockOwner,
    pub ty: LockType,
    pub start: u64,
    /// Exclusive; u64::MAX means "to the end of the file, however far".
    pub end: u64,
}

type Key = (usize, LockKind);

static LOCKS: LazyLock<Mutex<HashMap<Key, Vec<Lock>>>> = LazyLock::new(Mutex::default);
/// Notified whenever locks are released or changed: blocked lockers look again.
static RELEASED: LazyLock<WaitQueue> = LazyLock::new(WaitQueue::default);

fn conflicts(a: &Lock, owner: LockOwner, ty: LockType, start: u64, end: u64) -> bool {
    a.owner != owner && a.start < end && start < a.end && (a.ty == LockType::Write || ty == LockType::Write)
}

/// The first lock of another owner that a lock of `ty` on `[start, end)`
/// would conflict with (F_GETLK).
pub fn test(file: usize, kind: LockKind, owner: LockOwner, ty: LockType, start: u64, end: u64) -> Option<Lock> {
    let t = LOCKS.lock().unwrap();
    t.get(&(file, kind))?.iter().find(|l| conflicts(l, owner, ty, start, end)).copied()
}

/// Takes (`ty` Some) or releases (None) `[start, end)` for `owner`; EAGAIN if
/// another owner holds a conflicting lock, or with `wait`, waits for it to
/// go (ERESTARTSYS if a signal comes first). The owner's own locks in the
/// range are replaced, split where the range cuts them.
pub fn set(
    file: usize,
    kind: LockKind,
    owner: LockOwner,
    ty: Option<LockType>,
    start: u64,
    end: u64,
    wait: bool,
) -> Result<(), Errno> {
    let mut t = LOCKS.lock().unwrap();
    loop {
        match set_locked(&mut t, file, kind, owner, ty, start, end) {
            Err(Errno::EAGAIN) if wait => t = RELEASED.sleep(&LOCKS, t)?,
            r => {
                drop(t);
                RELEASED.notify_all();
                return r;
            }
        }
    }
}

fn set_locked(
    t: &mut HashMap<Key, Vec<Lock>>,
    file: usize,
    kind: LockKind,
    owner: LockOwner,
    ty: Option<LockType>,
    start: u64,
    end: u64,
) -> Result<(), Errno> {
    let locks = t.entry((file, kind)).or_default();
    if let Some(ty) = ty {
        if locks.iter().any(|l| conflicts(l, owner, ty, start, end)) {
            return Err(Errno::EAGAIN);
        }
    }
    let mut kept = Vec::with_capacity(locks.len() + 2);
    for l in locks.drain(..) {
        if l.owner != owner || l.end <= start || end <= l.start {
            kept.push(l);
            continue;
        }
        if l.start < start {
            kept.push(Lock { end: start, ..l });
        }
        if end < l.end {
            kept.push(Lock { start: end, ..l });
        }
    }
    if let Some(ty) = ty {
        kept.push(Lock { owner, ty, start, end });
    }
    *locks = kept;
    if locks.is_empty() {
        t.remove(&(file, kind));
    }
    Ok(())
}

/// Drops every lock `owner` holds on `file` (a close, an exit).
pub fn release(file: usize, owner: LockOwner) {
    let mut t = LOCKS.lock().unwrap();
    for kind in [LockKind::Record, LockKind::Flock] {
        if let Some(locks) = t.get_mut(&(file, kind)) {
            locks.retain(|l| l.owner != owner);
            if locks.is_empty() {
                t.remove(&(file, kind));
            }
        }
    }
    drop(t);
    RELEASED.notify_all();
}

/// Drops every lock `owner` holds on any file (a process's exit).
pub fn release_all(owner: LockOwner) {
    let mut t = LOCKS.lock().unwrap();
    for locks in t.values_mut() {
        locks.retain(|l| l.owner != owner);
    }
    t.retain(|_, l| !l.is_empty());
    drop(t);
    RELEASED.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use LockOwner::*;
    use LockType::*;

    #[test]
    fn conflicts_splits_and_releases() {
        let f = 0xf00d;
        let k = LockKind::Record;
        set(f, k, Process(1), Some(Write), 0, 100, false).unwrap();
        // The same process never conflicts with itself; another owner does.
        assert!(test(f, k, Process(1), Write, 50, 60).is_none());
        assert_eq!(set(f, k, Description(7), Some(Read), 10, 20, false), Err(Errno::EAGAIN));
        // Unlocking the middle splits the lock in two.
        set(f, k, Process(1), None, 40, 60, false).unwrap();
        assert!(set(f, k, Description(7), Some(Write), 45, 55, false).is_ok());
        assert_eq!(test(f, k, Description(8), Read, 0, u64::MAX).map(|l| (l.start, l.end)), Some((0, 40)));
        // Shared locks coexist; flock is a table of its own.
        assert!(set(f, LockKind::Flock, Description(9), Some(Write), 0, u64::MAX, false).is_ok());
        release(f, Process(1));
        release(f, Description(7));
        release(f, Description(9));
        assert!(test(f, k, Description(8), Write, 0, u64::MAX).is_none());
    }
}
