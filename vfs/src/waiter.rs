//! Blocking. Every host thread that runs a task has one `Waiter`, its own
//! (`Waiter::current`); anything a task may wait for (a pipe's data, a child's
//! exit, a futex) keeps a `WaitQueue` and notifies it when its state changes.
//!
//! A waiter blocks on a host eventfd, so that one wait can also cover host fds
//! (the stdio the sandbox was given). A signal for the task interrupts its
//! waiter: the interrupt is sticky until the task has looked at its signals,
//! and every wait ends with ERESTARTSYS while it is set, which the syscall
//! layer turns into EINTR or a restart, as Linux does.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use abi::Errno;

pub struct Waiter {
    efd: OwnedFd,
    /// Set by `notify` until the waiter next drains its eventfd.
    notified: AtomicBool,
    /// Set while a signal waits for the task's attention.
    interrupted: AtomicBool,
}

/// Why `Waiter::block` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Notified, or one of the host fds is ready: look again.
    Event,
    Interrupted,
    TimedOut,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Waiter>>> = const { RefCell::new(None) };
}

impl Waiter {
    fn new() -> Arc<Waiter> {
        // SAFETY: eventfd creates a new fd or fails.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        assert!(fd >= 0, "eventfd for a waiter: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is a fresh fd we own.
        let efd = unsafe { OwnedFd::from_raw_fd(fd) };
        Arc::new(Waiter { efd, notified: AtomicBool::new(false), interrupted: AtomicBool::new(false) })
    }

    /// The calling host thread's waiter, made on first use.
    pub fn current() -> Arc<Waiter> {
        CURRENT.with(|c| c.borrow_mut().get_or_insert_with(Waiter::new).clone())
    }

    /// Wakes the waiter if it blocks (or makes its next block return).
    pub fn notify(&self) {
        if !self.notified.swap(true, Ordering::SeqCst) {
            let one = 1u64;
            // SAFETY: writes 8 bytes from `one` to our eventfd.
            unsafe { libc::write(self.efd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// A signal needs the task: its current and future waits end until
    /// `clear_interrupt`.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.notify();
    }

    pub fn clear_interrupt(&self) {
        self.interrupted.store(false, Ordering::SeqCst);
    }

    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Blocks until notified, interrupted, `deadline` (None: never), or one
    /// of `host` is ready (their `revents` are filled in).
    pub fn block(&self, host: &mut [libc::pollfd], deadline: Option<Instant>) -> Wake {
        if self.is_interrupted() {
            return Wake::Interrupted;
        }
        let mut fds = Vec::with_capacity(host.len() + 1);
        fds.push(libc::pollfd { fd: self.efd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        fds.extend_from_slice(host);
        loop {
            let ts = deadline.map(|d| {
                let left = d.saturating_duration_since(Instant::now());
                libc::timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 }
            });
            let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: `fds` is a valid array for the call; `tsp` is null or valid.
            let n = unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, tsp, std::ptr::null()) };
            if n < 0 {
                // EINTR: a host signal (never expected); just look again.
                continue;
            }
            host.copy_from_slice(&fds[1..]);
            if fds[0].revents != 0 {
                let mut v = 0u64;
                // SAFETY: reads 8 bytes into `v` from our eventfd.
                unsafe { libc::read(self.efd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
                self.notified.store(false, Ordering::SeqCst);
            }
            if self.is_interrupted() {
                return Wake::Interrupted;
            }
            if n > 0 {
                return Wake::Event;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Wake::TimedOut;
            }
        }
    }
}

/// The waiters of one thing that tasks wait for.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Arc<Waiter>>>,
}

impl WaitQueue {
    pub fn notify_all(&self) {
        for w in self.waiters.lock().unwrap().iter() {
            w.notify();
        }
    }

    /// Adds `w` to the waiters notified (poll's many queues).
    pub fn register(&self, w: &Arc<Waiter>) {
        self.waiters.lock().unwrap().push(w.clone());
    }

    pub fn unregister(&self, w: &Arc<Waiter>) {
        let mut ws = self.waiters.lock().unwrap();
        if let Some(i) = ws.iter().position(|x| Arc::ptr_eq(x, w)) {
            ws.swap_remove(i);
        }
    }

    /// Like a condition variable's wait: gives up `guard`, sleeps until the
    /// queue is notified, and locks `m` again. ERESTARTSYS (unlocked) when a
    /// signal interrupts.
    pub fn sleep<'a, S>(&self, m: &'a Mutex<S>, guard: MutexGuard<'a, S>) -> Result<MutexGuard<'a, S>, Errno> {
        let w = Waiter::current();
        // Registered while the state is still locked: whoever changes it
        // next notifies us.
        self.register(&w);
        drop(guard);
        let r = w.block(&mut [], None);
        self.unregister(&w);
        match r {
            Wake::Interrupted => Err(Errno::ERESTARTSYS),
            _ => Ok(m.lock().unwrap()),
        }
    }

    /// Blocks the calling thread until `ready` returns a result: ERESTARTSYS
    /// when a signal interrupts, ETIMEDOUT at `deadline`. `ready` is asked
    /// again after every notification of the queue.
    pub fn wait<T>(
        &self,
        deadline: Option<Instant>,
        ready: impl FnMut() -> Option<Result<T, Errno>>,
    ) -> Result<T, Errno> {
        wait_any(&[self], deadline, ready)
    }
}

/// Like `WaitQueue::wait`, notified by any of `queues`.
pub fn wait_any<T>(
    queues: &[&WaitQueue],
    deadline: Option<Instant>,
    mut ready: impl FnMut() -> Option<Result<T, Errno>>,
) -> Result<T, Errno> {
    if let Some(r) = ready() {
        return r;
    }
    let w = Waiter::current();
    for q in queues {
        q.register(&w);
    }
    let r = loop {
        // Registered first, then asked: a change after this look notifies.
        if let Some(r) = ready() {
            break r;
        }
        match w.block(&mut [], deadline) {
            Wake::Event => {}
            Wake::Interrupted => break Err(Errno::ERESTARTSYS),
            Wake::TimedOut => break Err(Errno::ETIMEDOUT),
        }
    };
    for q in queues {
        q.unregister(&w);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn notify_wakes_and_deadline_times_out() {
        let q = Arc::new(WaitQueue::default());
        let flag = Arc::new(AtomicBool::new(false));
        let (q2, f2) = (q.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            f2.store(true, Ordering::SeqCst);
            q2.notify_all();
        });
        let r = q.wait(None, || flag.load(Ordering::SeqCst).then_some(Ok(7)));
        assert_eq!(r, Ok(7));
        t.join().unwrap();
        let r: Result<(), Errno> = q.wait(Some(Instant::now() + Duration::from_millis(10)), || None);
        assert_eq!(r, Err(Errno::ETIMEDOUT));
    }

    #[test]
    fn interrupt_ends_waits_until_cleared() {
        let w = Waiter::current();
        w.interrupt();
        let q = WaitQueue::default();
        assert_eq!(q.wait::<()>(None, || None), Err(Errno::ERESTARTSYS));
        w.clear_interrupt();
        let r: Result<(), Errno> = q.wait(Some(Instant::now()), || None);
        assert_eq!(r, Err(Errno::ETIMEDOUT));
    }
}
