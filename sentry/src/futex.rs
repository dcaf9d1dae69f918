//! Futex wait queues. A futex is named as Linux names it: by address space
//! and address for private memory, by the backing page (memory-file offset)
//! for MAP_SHARED memory, so processes sharing a mapping meet on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use abi::Errno;
use vfs::waiter::{Waiter, Wake};

use crate::mm::MemoryManager;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Key {
    /// An address in one address space (identified by its manager).
    Private(usize, u64),
    /// A byte of the memory file.
    Shared(u64),
}

impl Key {
    /// The key of the futex word at `addr`; `private` (FUTEX_PRIVATE_FLAG)
    /// skips the lookup of shared memory. EFAULT if nothing is mapped there.
    pub fn of(mm: &MemoryManager, addr: u64, private: bool) -> Result<Key, Errno> {
        let private_key = Key::Private(mm as *const MemoryManager as usize, addr);
        if private {
            return Ok(private_key);
        }
        Ok(match mm.shared_offset(addr)? {
            Some(off) => Key::Shared(off),
            None => private_key,
        })
    }
}

struct FutexWaiter {
    waiter: Arc<Waiter>,
    bitset: u32,
    woken: AtomicBool,
}

#[derive(Default)]
pub struct Futexes {
    queues: Mutex<HashMap<Key, Vec<Arc<FutexWaiter>>>>,
}

impl Futexes {
    /// FUTEX_WAIT: sleeps if the word at `addr` still holds `val` (checked
    /// under the queue lock, so a wake after the change cannot be missed).
    /// EAGAIN if it does not, ETIMEDOUT, or ERESTARTSYS for a signal.
    pub fn wait(
        &self,
        mm: &MemoryManager,
        key: Key,
        addr: u64,
        val: u32,
        bitset: u32,
        deadline: Option<Instant>,
    ) -> Result<(), Errno> {
        let me = Arc::new(FutexWaiter { waiter: Waiter::current(), bitset, woken: AtomicBool::new(false) });
        {
            let mut q = self.queues.lock().unwrap();
            let cur: u32 = mm.read_obj(addr)?;
            if cur != val {
                return Err(Errno::EAGAIN);
            }
            q.entry(key).or_default().push(me.clone());
        }
        loop {
            if me.woken.load(Ordering::SeqCst) {
                return Ok(());
            }
            let why = me.waiter.block(&mut [], deadline);
            if why == Wake::Event {
                continue;
            }
            // Leave the queue, unless a wake got there first.
            let mut q = self.queues.lock().unwrap();
            if me.woken.load(Ordering::SeqCst) {
                return Ok(());
            }
            for list in q.values_mut() {
                list.retain(|w| !Arc::ptr_eq(w, &me));
            }
            q.retain(|_, l| !l.is_empty());
            return Err(if why == Wake::TimedOut { Errno::ETIMEDOUT } else { Errno::ERESTARTSYS });
        }
    }

    /// FUTEX_WAKE: wakes up to `n` waiters whose bitset meets `bitset`.
    pub fn wake(&self, key: Key, n: u32, bitset: u32) -> u32 {
        let mut q = self.queues.lock().unwrap();
        let Some(list) = q.get_mut(&key) else { return 0 };
        let mut woken = 0;
        list.retain(|w| {
            if woken < n && w.bitset & bitset != 0 {
                woken += 1;
                w.woken.store(true, Ordering::SeqCst);
                w.waiter.notify();
                false
            } else {
                true
            }
        });
        if list.is_empty() {
            q.remove(&key);
        }
        woken
    }

    /// FUTEX_REQUEUE: wakes up to `wake` waiters of `from` and moves up to
    /// `requeue` of the rest to `to`. Returns how many were woken and moved.
    pub fn requeue(&self, from: Key, to: Key, wake: u32, requeue: u32) -> u32 {
        let woken = self.wake(from, wake, u32::MAX);
        let mut q = self.queues.lock().unwrap();
        let Some(list) = q.get_mut(&from) else { return woken };
        let n = (requeue as usize).min(list.len());
        let moved: Vec<_> = list.drain(..n).collect();
        if list.is_empty() {
            q.remove(&from);
        }
        q.entry(to).or_default().extend(moved);
        woken + n as u32
    }
}
