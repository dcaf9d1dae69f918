//! eventfd: a 64-bit counter that writes add to and reads take. A read of a
//! zero counter waits, as does a write that would push it past
//! `u64::MAX - 1`; O_NONBLOCK makes either EAGAIN. In semaphore mode a read
//! takes one.

use std::sync::Mutex;

use crate::waiter::WaitQueue;

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;

use crate::file::{FileDescription, FileOps, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::safemem::BlockSeq;

/// The largest value the counter may hold.
const MAX: u64 = u64::MAX - 1;

struct State {
    count: u64,
    /// Wakeups of readers (each write) and writers (each read).
    read_wakes: u64,
    write_wakes: u64,
}

pub struct EventFd {
    state: Mutex<State>,
    queue: std::sync::Arc<WaitQueue>,
    semaphore: bool,
}

impl EventFd {
    pub fn new(initial: u64, semaphore: bool) -> EventFd {
        EventFd {
            state: Mutex::new(State { count: initial, read_wakes: 0, write_wakes: 0 }),
            queue: Default::default(),
            semaphore,
        }
    }
}

impl FileOps for EventFd {
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        if dst.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let mut s = self.state.lock().unwrap();
        while s.count == 0 {
            if file.flags() & O_NONBLOCK != 0 {
                return Err(Errno::EAGAIN);
            }
            s = self.queue.sleep(&self.state, s)?;
        }
        let v = if self.semaphore { 1 } else { s.count };
        dst.copy_from_at(0, &v.to_ne_bytes());
        s.count -= v;
        s.write_wakes += 1;
        drop(s);
        self.queue.notify_all();
        Ok(8)
    }

    fn write(&self, file: &FileDescription, src: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        if src.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; 8];
        src.copy_to_at(0, &mut b);
        let v = u64::from_ne_bytes(b);
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        let mut s = self.state.lock().unwrap();
        while MAX - s.count < v {
            if file.flags() & O_NONBLOCK != 0 {
                return Err(Errno::EAGAIN);
            }
            s = self.queue.sleep(&self.state, s)?;
        }
        s.count += v;
        s.read_wakes += 1;
        drop(s);
        self.queue.notify_all();
        Ok(8)
    }

    fn wait_queues(&self) -> Vec<std::sync::Arc<WaitQueue>> {
        vec![self.queue.clone()]
    }

    /// Linux's noop_llseek: the position stays 0.
    fn seek(&self, _file: &FileDescription, _off: i64, _whence: i32) -> Result<i64, Errno> {
        Ok(0)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(crate::file::anon_inode_stat())
    }

    fn readiness(&self, events: u32) -> u32 {
        let c = self.state.lock().unwrap().count;
        let mut r = 0;
        if c > 0 {
            r |= POLLIN | POLLRDNORM;
        }
        if c < MAX {
            r |= POLLOUT | POLLWRNORM;
        }
        r & events
    }

    fn pollable(&self) -> bool {
        true
    }

    fn wake_count(&self, events: u32) -> Option<u64> {
        let s = self.state.lock().unwrap();
        Some(crate::pipe::wakes(events, s.read_wakes, s.write_wakes))
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("anon_inode:[eventfd]")
    }
}
