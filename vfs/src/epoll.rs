//! epoll: an instance watches (fd, file) pairs and reports which are ready.
//!
//! Readiness is asked of each watched file when the instance is waited on,
//! not pushed by wakeups. Level-triggered watches report while the file is
//! ready; edge-triggered ones when the file made a wakeup for their events
//! since the last report (files that count their wakeups, see
//! `FileOps::wake_count`) or, for files that cannot tell, when a readiness
//! bit rose. Reported level-triggered watches move to the back, so a small
//! `maxevents` does not starve the others, as Linux's ready list does.

use std::sync::{Arc, Mutex, Weak};

use abi::structs::Stat;
use abi::Errno;

use crate::file::{FileDescription, FileOps, POLLERR, POLLHUP, POLLIN, POLLRDNORM};

pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
/// The bits that are modes of the watch, not events.
const MODE_BITS: u32 = EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET;
/// How deep epoll instances may watch one another.
const MAX_NESTS: usize = 4;

struct Watch {
    fd: i32,
    file: Weak<FileDescription>,
    events: u32,
    data: u64,
    /// Ready when added or modified: reported once even if edge-triggered.
    pending: bool,
    /// The file's wake count at the last look (edge-triggered).
    seen: Option<u64>,
    /// The readiness at the last look (edge-triggered, for files that do not
    /// count wakeups).
    last: u32,
}

impl Watch {
    fn is(&self, fd: i32, file: &Arc<FileDescription>) -> bool {
        self.fd == fd && std::ptr::eq(self.file.as_ptr(), Arc::as_ptr(file))
    }

    /// The events the file is ready for that this watch asks about
    /// (errors and hangups always), and whether they are to be reported.
    /// Updates the edge state when `consume`.
    fn check(&mut self, file: &FileDescription, consume: bool) -> (u32, bool) {
        let mask = self.events & !MODE_BITS;
        if mask == 0 {
            // Disabled (a one-shot watch that fired).
            return (0, false);
        }
        let mask = mask | POLLERR | POLLHUP;
        let ready = file.ops().readiness(mask) & mask;
        if self.events & EPOLLET == 0 {
            return (ready, ready != 0);
        }
        let count = file.ops().wake_count(mask);
        let edge = match count {
            Some(c) => Some(c) != self.seen,
            None => ready & !self.last != 0,
        };
        let report = ready != 0 && (self.pending || edge);
        if consume {
            self.seen = count;
            self.last = ready;
            self.pending = false;
        }
        (ready, report)
    }
}

#[derive(Default)]
pub struct EventPoll {
    watches: Mutex<Vec<Watch>>,
}

impl EventPoll {
    pub fn new() -> EventPoll {
        EventPoll::default()
    }

    /// EPOLL_CTL_ADD.
    pub fn add(&self, fd: i32, file: &Arc<FileDescription>, events: u32, data: u64) -> Result<(), Errno> {
        if let Some(inner) = EventPoll::of(file) {
            if events & EPOLLEXCLUSIVE != 0 {
                return Err(Errno::EINVAL);
            }
            if std::ptr::eq(inner, self) || inner.reaches(self, MAX_NESTS) {
                return Err(Errno::ELOOP);
            }
        }
        let mut w = self.watches.lock().unwrap();
        w.retain(|x| x.file.strong_count() > 0);
        if w.iter().any(|x| x.is(fd, file)) {
            return Err(Errno::EEXIST);
        }
        let mut watch = Watch { fd, file: Arc::downgrade(file), events, data, pending: false, seen: None, last: 0 };
        Self::arm(&mut watch, file);
        w.push(watch);
        Ok(())
    }

    /// EPOLL_CTL_MOD.
    pub fn modify(&self, fd: i32, file: &Arc<FileDescription>, events: u32, data: u64) -> Result<(), Errno> {
        let mut w = self.watches.lock().unwrap();
        let watch = w.iter_mut().find(|x| x.is(fd, file)).ok_or(Errno::ENOENT)?;
        if watch.events & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        watch.events = events;
        watch.data = data;
        Self::arm(watch, file);
        Ok(())
    }

    /// EPOLL_CTL_DEL.
    pub fn delete(&self, fd: i32, file: &Arc<FileDescription>) -> Result<(), Errno> {
        let mut w = self.watches.lock().unwrap();
        let i = w.iter().position(|x| x.is(fd, file)).ok_or(Errno::ENOENT)?;
        w.remove(i);
        Ok(())
    }

    /// A watch added or changed reports what is ready now, once.
    fn arm(watch: &mut Watch, file: &FileDescription) {
        watch.seen = None;
        watch.last = 0;
        watch.pending = false;
        let (ready, _) = watch.check(file, true);
        watch.pending = ready != 0;
    }

    /// Takes up to `max` events: (events, data) pairs.
    pub fn collect(&self, max: usize) -> Vec<(u32, u64)> {
        let mut w = self.watches.lock().unwrap();
        w.retain(|x| x.file.strong_count() > 0);
        let mut out = Vec::new();
        let mut requeue = Vec::new();
        for (i, watch) in w.iter_mut().enumerate() {
            if out.len() == max {
                break;
            }
            let Some(file) = watch.file.upgrade() else { continue };
            let (ready, report) = watch.check(&file, true);
            if !report {
                continue;
            }
            out.push((ready, watch.data));
            if watch.events & EPOLLONESHOT != 0 {
                watch.events &= MODE_BITS;
            } else if watch.events & EPOLLET == 0 {
                requeue.push(i);
            }
        }
        // Reported level-triggered watches go to the back, in order.
        for (k, i) in requeue.into_iter().enumerate() {
            let x = w.remove(i - k);
            w.push(x);
        }
        out
    }

    /// The host fds among the watched files, with the events asked of them,
    /// for a wait on the host.
    pub fn host_fds(&self) -> Vec<(std::os::fd::RawFd, u32)> {
        let w = self.watches.lock().unwrap();
        w.iter()
            .filter_map(|x| {
                let f = x.file.upgrade()?;
                let fd = f.ops().host_fd()?;
                Some((fd, x.events & !MODE_BITS))
            })
            .collect()
    }

    /// Whether `target` is this instance or one it watches, within `depth`
    /// levels.
    fn reaches(&self, target: &EventPoll, depth: usize) -> bool {
        if depth == 0 {
            return true;
        }
        let w = self.watches.lock().unwrap();
        w.iter().filter_map(|x| x.file.upgrade()).any(|f| match EventPoll::of(&f) {
            Some(inner) => std::ptr::eq(inner, target) || inner.reaches(target, depth - 1),
            None => false,
        })
    }
}

impl EventPoll {
    /// The epoll instance behind `file`, if it is an epoll fd.
    pub fn of(file: &FileDescription) -> Option<&EventPoll> {
        file.ops().as_any()?.downcast_ref::<EventPoll>()
    }
}

impl FileOps for EventPoll {
    /// The queues of every watched file (an epoll fd is ready when they are).
    fn wait_queues(&self) -> Vec<Arc<crate::waiter::WaitQueue>> {
        let w = self.watches.lock().unwrap();
        w.iter().filter_map(|x| x.file.upgrade()).flat_map(|f| f.ops().wait_queues()).collect()
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(crate::file::anon_inode_stat())
    }

    /// Readable when a wait would report something.
    fn readiness(&self, events: u32) -> u32 {
        let mut w = self.watches.lock().unwrap();
        let any = w.iter_mut().any(|x| x.file.upgrade().is_some_and(|f| x.check(&f, false).1));
        if any {
            events & (POLLIN | POLLRDNORM)
        } else {
            0
        }
    }

    fn pollable(&self) -> bool {
        true
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("anon_inode:[eventpoll]")
    }
}
