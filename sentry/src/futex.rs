//! Futex wait queues. A futex is named as Linux names it: by address space
//! and address for private memory, by the backing page (memory-file offset)
//! for MAP_SHARED memory, so processes sharing a mapping meet on it.
//!
//! PI futexes (LOCK_PI, LOCK_PI2, TRYLOCK_PI, UNLOCK_PI) follow Linux's
//! protocol on the word: the owner's tid, FUTEX_WAITERS once a locker waits
//! in the kernel (so that the owner's unlock comes here), FUTEX_OWNER_DIED
//! after the owner's death. The kernel hands the lock to the first waiter at
//! unlock or when the owner exits. Priorities are not boosted: the sandbox's
//! threads all run at the host's one priority.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
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

pub const FUTEX_WAITERS: u32 = 0x8000_0000;
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// A thread waiting in LOCK_PI, and where it sees the word.
struct PiWaiter {
    waiter: Arc<Waiter>,
    tid: u32,
    mm: Arc<MemoryManager>,
    addr: u64,
    /// PI_WAITING, then (set under the PI lock) PI_GRANTED when the lock is
    /// handed to it or PI_FAULTED if its word could not be written.
    state: AtomicU8,
}

const PI_WAITING: u8 = 0;
const PI_GRANTED: u8 = 1;
const PI_FAULTED: u8 = 2;

/// The kernel's side of a PI futex with waiters: who owns it, who waits.
struct PiState {
    owner: u32,
    waiters: VecDeque<Arc<PiWaiter>>,
}

#[derive(Default)]
pub struct Futexes {
    queues: Mutex<HashMap<Key, Vec<Arc<FutexWaiter>>>>,
    pi: Mutex<HashMap<Key, PiState>>,
}

/// How LOCK_PI waits when the lock is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PiWait {
    /// TRYLOCK_PI: not at all (EAGAIN).
    Never,
    /// Until granted, the deadline (ETIMEDOUT) or a signal (ERESTARTNOINTR).
    Until(Option<Instant>),
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

    /// LOCK_PI and TRYLOCK_PI for thread `tid` on the word at `addr` of `mm`:
    /// takes a free lock (keeping FUTEX_OWNER_DIED), EDEADLK if `tid` owns
    /// it, ESRCH if its owner (for which `thread_exists` is asked) does not
    /// exist; else sets FUTEX_WAITERS and waits as `wait` says.
    pub fn lock_pi(
        &self,
        mm: &Arc<MemoryManager>,
        key: Key,
        addr: u64,
        tid: u32,
        wait: PiWait,
        thread_exists: impl Fn(u32) -> bool,
    ) -> Result<(), Errno> {
        let mut pi = self.pi.lock().unwrap();
        let queued = pi.get(&key).is_some_and(|st| !st.waiters.is_empty());
        let seen = mm.update_u32(addr, |v| match v & FUTEX_TID_MASK {
            0 => Some((v & FUTEX_OWNER_DIED) | tid | if queued { FUTEX_WAITERS } else { 0 }),
            owner if owner == tid => None,
            _ => (v & FUTEX_WAITERS == 0).then_some(v | FUTEX_WAITERS),
        })?;
        let owner = seen & FUTEX_TID_MASK;
        if owner == 0 {
            if let Some(st) = pi.get_mut(&key) {
                st.owner = tid;
            }
            return Ok(());
        }
        if owner == tid {
            return Err(Errno::EDEADLK);
        }
        if !thread_exists(owner) {
            return Err(Errno::ESRCH);
        }
        let PiWait::Until(deadline) = wait else { return Err(Errno::EAGAIN) };
        let me = Arc::new(PiWaiter {
            waiter: Waiter::current(),
            tid,
            mm: mm.clone(),
            addr,
            state: AtomicU8::new(PI_WAITING),
        });
        let st = pi.entry(key).or_insert_with(|| PiState { owner, waiters: VecDeque::new() });
        st.owner = owner;
        st.waiters.push_back(me.clone());
        drop(pi);
        let handed = |me: &PiWaiter| match me.state.load(Ordering::SeqCst) {
            PI_WAITING => None,
            PI_GRANTED => Some(Ok(())),
            _ => Some(Err(Errno::EFAULT)),
        };
        loop {
            if let Some(r) = handed(&me) {
                return r;
            }
            let why = me.waiter.block(&mut [], deadline);
            if why == Wake::Event {
                continue;
            }
            let mut pi = self.pi.lock().unwrap();
            if let Some(r) = handed(&me) {
                return r;
            }
            if let Some(st) = pi.get_mut(&key) {
                st.waiters.retain(|w| !Arc::ptr_eq(w, &me));
                if st.waiters.is_empty() {
                    pi.remove(&key);
                }
            }
            // A signal's handler runs, then the lock is tried again.
            return Err(if why == Wake::TimedOut { Errno::ETIMEDOUT } else { Errno::ERESTARTNOINTR });
        }
    }

    /// UNLOCK_PI by thread `tid`: EPERM unless the word names it as owner.
    /// The first waiter gets the lock (the word becomes its tid with
    /// FUTEX_WAITERS); with none the word becomes 0.
    pub fn unlock_pi(&self, mm: &MemoryManager, key: Key, addr: u64, tid: u32) -> Result<(), Errno> {
        let mut pi = self.pi.lock().unwrap();
        let v = mm.update_u32(addr, |_| None)?;
        if v & FUTEX_TID_MASK != tid {
            return Err(Errno::EPERM);
        }
        if !Self::hand_over(&mut pi, key, false) {
            mm.update_u32(addr, |v| (v & FUTEX_TID_MASK == tid).then_some(0))?;
        }
        Ok(())
    }

    /// Gives a PI lock to its first waiter that can take it; false if none.
    /// `owner_died`: the owner exited holding it, which the new owner sees
    /// as FUTEX_OWNER_DIED (as in Linux, robust list or not).
    fn hand_over(pi: &mut HashMap<Key, PiState>, key: Key, owner_died: bool) -> bool {
        let died = if owner_died { FUTEX_OWNER_DIED } else { 0 };
        while let Some(st) = pi.get_mut(&key) {
            let Some(next) = st.waiters.pop_front() else { break };
            st.owner = next.tid;
            if st.waiters.is_empty() {
                // The new owner's unlock comes to the kernel (FUTEX_WAITERS
                // stays set, as in Linux) and finds no one: the word is freed.
                pi.remove(&key);
            }
            let update =
                next.mm.update_u32(next.addr, |v| Some((v & FUTEX_OWNER_DIED) | died | next.tid | FUTEX_WAITERS));
            let state = if update.is_ok() { PI_GRANTED } else { PI_FAULTED };
            next.state.store(state, Ordering::SeqCst);
            next.waiter.notify();
            if update.is_ok() {
                return true;
            }
        }
        pi.remove(&key);
        false
    }

    /// At a thread's exit: every PI lock it owns that others wait for goes
    /// to the first of them, as Linux's exit_pi_state_list does.
    pub fn pi_owner_exited(&self, tid: u32) {
        let mut pi = self.pi.lock().unwrap();
        let owned: Vec<Key> = pi.iter().filter(|(_, st)| st.owner == tid).map(|(&k, _)| k).collect();
        for key in owned {
            Self::hand_over(&mut pi, key, true);
        }
    }
}
