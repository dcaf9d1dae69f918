//! Timers: one Sentry thread fires every armed timer of the sandbox (interval
//! timers, POSIX timers, timerfds) at its time. Wall-clock timers wait on the
//! monotonic clock; CPU-time timers (ITIMER_VIRTUAL, ITIMER_PROF, timers on
//! CPU clocks) are checked every tick (4 ms, Linux's HZ=250), as Linux checks
//! them at the scheduler tick.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use abi::structs::Stat;
use abi::Errno;
use vfs::waiter::WaitQueue;
use vfs::{BlockSeq, FileDescription, FileOps};

/// Where a timer's time comes from.
pub enum TimerClock {
    /// Wall time, measured on the host's monotonic clock.
    Wall,
    /// A CPU clock: the CPU time consumed so far.
    Cpu(Box<dyn Fn() -> Duration + Send + Sync>),
}

/// What fires: called with the number of expirations since the last call.
pub type TimerAction = Box<dyn Fn(u64) + Send + Sync>;

struct Armed {
    /// When it next expires, on its clock (None: disarmed). Wall timers
    /// keep the time since the service's epoch.
    next: Option<Duration>,
    interval: Duration,
    /// Bumped at every arm, so that stale queue entries are ignored.
    generation: u64,
    /// Its entry in the wall-clock queue, removed when it is re-armed.
    queued: Option<(Duration, u64)>,
}

pub struct Timer {
    clock: TimerClock,
    armed: Mutex<Armed>,
    action: TimerAction,
}

/// The value of a timer: time left and interval (zero: disarmed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerValue {
    pub left: Duration,
    pub interval: Duration,
}

impl Timer {
    fn now(&self, svc: &TimerService) -> Duration {
        match &self.clock {
            TimerClock::Wall => svc.epoch.elapsed(),
            TimerClock::Cpu(f) => f(),
        }
    }

    /// What is left and the interval.
    pub fn get(&self, svc: &TimerService) -> TimerValue {
        let a = self.armed.lock().unwrap();
        let left = a.next.map_or(Duration::ZERO, |n| n.saturating_sub(self.now(svc)).max(Duration::from_nanos(1)));
        TimerValue { left, interval: if a.next.is_some() { a.interval } else { Duration::ZERO } }
    }
}

#[derive(Default)]
struct Queue {
    /// Wall timers by expiry (time since the epoch, sequence number).
    wall: BTreeMap<(Duration, u64), (Weak<Timer>, u64)>,
    /// Armed CPU timers, looked at every tick.
    cpu: Vec<(Weak<Timer>, u64)>,
    seq: u64,
    running: bool,
}

pub struct TimerService {
    epoch: Instant,
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// How often CPU-time timers are checked.
const TICK: Duration = Duration::from_millis(4);

impl Default for TimerService {
    fn default() -> Self {
        TimerService { epoch: Instant::now(), queue: Mutex::default(), changed: Condvar::new() }
    }
}

impl TimerService {
    pub fn new_timer(&self, clock: TimerClock, action: TimerAction) -> Arc<Timer> {
        Arc::new(Timer {
            clock,
            armed: Mutex::new(Armed { next: None, interval: Duration::ZERO, generation: 0, queued: None }),
            action,
        })
    }

    /// Arms `timer` to expire `value` from now (absolute: at `value` on its
    /// clock; for wall timers the caller converts to time from now) and then
    /// every `interval`; a zero value disarms. Returns the old value.
    pub fn set(self: &Arc<Self>, timer: &Arc<Timer>, value: Duration, interval: Duration) -> TimerValue {
        let old = timer.get(self);
        // Its old queue entry goes (the armed state and the queue are never
        // locked together).
        let stale = timer.armed.lock().unwrap().queued.take();
        if let Some(k) = stale {
            self.queue.lock().unwrap().wall.remove(&k);
        }
        let mut a = timer.armed.lock().unwrap();
        a.generation += 1;
        if value.is_zero() {
            a.next = None;
            a.interval = Duration::ZERO;
            return old;
        }
        let next = timer.now(self) + value;
        a.next = Some(next);
        a.interval = interval;
        let generation = a.generation;
        drop(a);
        self.enqueue(timer, next, generation);
        old
    }

    fn enqueue(self: &Arc<Self>, timer: &Arc<Timer>, next: Duration, generation: u64) {
        let mut queued = None;
        let mut q = self.queue.lock().unwrap();
        match timer.clock {
            TimerClock::Wall => {
                q.seq += 1;
                let seq = q.seq;
                q.wall.insert((next, seq), (Arc::downgrade(timer), generation));
                queued = Some((next, seq));
            }
            TimerClock::Cpu(_) => q.cpu.push((Arc::downgrade(timer), generation)),
        }
        if !q.running {
            q.running = true;
            let svc = self.clone();
            if std::thread::Builder::new().spawn(move || svc.run()).is_err() {
                q.running = false;
                tracing::error!("cannot start the timer thread");
            }
        }
        drop(q);
        if let Some(k) = queued {
            let mut a = timer.armed.lock().unwrap();
            if a.generation == generation {
                a.queued = Some(k);
            }
        }
        self.changed.notify_all();
    }

    /// Fires `timer` if its armed expiry (of `generation`) has come; rearms
    /// a periodic one. Returns whether it is still armed for `generation`.
    fn fire(self: &Arc<Self>, timer: &Arc<Timer>, generation: u64) -> bool {
        let now = timer.now(self);
        let mut a = timer.armed.lock().unwrap();
        if a.generation == generation {
            // Its queue entry was just taken out.
            a.queued = None;
        }
        let Some(next) = a.next.filter(|_| a.generation == generation) else { return false };
        if next > now {
            return true;
        }
        let n = if a.interval.is_zero() {
            a.next = None;
            1
        } else {
            let missed = ((now - next).as_nanos() / a.interval.as_nanos()) as u64;
            a.next = Some(next + a.interval * (missed as u32 + 1));
            missed + 1
        };
        let rearm = a.next.map(|n| (n, a.generation));
        drop(a);
        (timer.action)(n);
        if let (Some((n, g)), TimerClock::Wall) = (rearm, &timer.clock) {
            self.enqueue(timer, n, g);
        }
        rearm.is_some()
    }

    fn run(self: Arc<Self>) {
        let mut q = self.queue.lock().unwrap();
        loop {
            let now = self.epoch.elapsed();
            let due: Vec<(Duration, u64)> = q.wall.range(..=(now, u64::MAX)).map(|(k, _)| *k).collect();
            let mut work: Vec<(Weak<Timer>, u64, bool)> = Vec::new();
            for k in due {
                if let Some((t, g)) = q.wall.remove(&k) {
                    work.push((t, g, false));
                }
            }
            for (t, g) in q.cpu.drain(..) {
                work.push((t, g, true));
            }
            drop(q);
            let mut cpu_kept = Vec::new();
            for (t, g, cpu) in work {
                let Some(timer) = t.upgrade() else { continue };
                if self.fire(&timer, g) && cpu {
                    cpu_kept.push((t, g));
                }
            }
            q = self.queue.lock().unwrap();
            q.cpu.extend(cpu_kept);
            let wait = match q.wall.keys().next() {
                Some((at, _)) => at.saturating_sub(self.epoch.elapsed()),
                None => Duration::from_secs(3600),
            };
            let wait = if q.cpu.is_empty() { wait } else { wait.min(TICK) };
            q = self.changed.wait_timeout(q, wait).unwrap().0;
        }
    }
}

/// A timerfd: counts its timer's expirations until read.
pub struct TimerFd {
    timer: Arc<Timer>,
    clock_id: i32,
    state: Arc<(Mutex<u64>, Arc<WaitQueue>)>,
}

impl TimerFd {
    pub fn new(svc: &TimerService, clock_id: i32) -> TimerFd {
        let state: Arc<(Mutex<u64>, Arc<WaitQueue>)> = Arc::default();
        let st = Arc::downgrade(&state);
        let timer = svc.new_timer(
            TimerClock::Wall,
            Box::new(move |n| {
                if let Some(st) = st.upgrade() {
                    *st.0.lock().unwrap() += n;
                    st.1.notify_all();
                }
            }),
        );
        TimerFd { timer, clock_id, state }
    }

    pub fn clock_id(&self) -> i32 {
        self.clock_id
    }

    pub fn timer(&self) -> &Arc<Timer> {
        &self.timer
    }

    /// timerfd_settime: arming discards the expirations not yet read.
    pub fn set(&self, svc: &Arc<TimerService>, value: Duration, interval: Duration) -> TimerValue {
        *self.state.0.lock().unwrap() = 0;
        svc.set(&self.timer, value, interval)
    }
}

impl FileOps for TimerFd {
    /// The expirations since the last read, as 8 bytes (EINVAL if fewer fit).
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        if dst.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let (count, queue) = (&self.state.0, &self.state.1);
        let mut c = count.lock().unwrap();
        while *c == 0 {
            if file.flags() & abi::consts::O_NONBLOCK != 0 {
                return Err(Errno::EAGAIN);
            }
            c = queue.sleep(count, c)?;
        }
        dst.copy_from_at(0, &c.to_ne_bytes());
        *c = 0;
        Ok(8)
    }

    fn write(&self, _: &FileDescription, _: &BlockSeq, _: Option<i64>) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(vfs::file::anon_inode_stat())
    }

    fn readiness(&self, events: u32) -> u32 {
        if *self.state.0.lock().unwrap() > 0 {
            events & vfs::file::POLLIN
        } else {
            0
        }
    }

    fn pollable(&self) -> bool {
        true
    }

    fn wait_queues(&self) -> Vec<Arc<WaitQueue>> {
        vec![self.state.1.clone()]
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("anon_inode:[timerfd]")
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
