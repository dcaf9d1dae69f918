//! Pipes and FIFOs: a byte buffer with a reader count and a writer count.
//! Readers wait for data (or for the last writer to go), writers for room
//! (or for the last reader to go: EPIPE); writes of up to PIPE_BUF bytes are
//! atomic. A condition variable wakes waiters.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::waiter::WaitQueue;

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;

use crate::file::{FileDescription, FileOps, UserIo, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::safemem::BlockSeq;

/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;
/// The default capacity, and the bounds F_SETPIPE_SZ accepts.
pub const PIPE_DEFAULT: usize = 16 * 4096;
pub const PIPE_MAX: usize = 1 << 20;
/// The device number pipes report (pipefs).
const PIPEFS_DEV: u64 = 0x0c;

struct State {
    buf: VecDeque<u8>,
    capacity: usize,
    readers: usize,
    writers: usize,
    /// Whether a writer was ever there (a FIFO read before any writer opened
    /// must not see end of file).
    had_writer: bool,
    /// Wakeups of readers (each write, each open or close of an end) and of
    /// writers (a read from a full pipe, each open or close), as Linux makes
    /// them, for edge-triggered epoll.
    read_wakes: u64,
    write_wakes: u64,
}

pub struct Pipe {
    state: Mutex<State>,
    queue: Arc<WaitQueue>,
    ino: u64,
}

impl Pipe {
    pub fn new(ino: u64) -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(State {
                buf: VecDeque::new(),
                capacity: PIPE_DEFAULT,
                readers: 0,
                writers: 0,
                had_writer: false,
                read_wakes: 0,
                write_wakes: 0,
            }),
            queue: Arc::default(),
            ino,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Opens an end: `read`/`write` say which sides the new description has.
    pub fn open_end(self: &Arc<Self>, read: bool, write: bool) -> PipeEnd {
        let mut s = self.lock();
        if read {
            s.readers += 1;
        }
        if write {
            s.writers += 1;
            s.had_writer = true;
        }
        s.read_wakes += 1;
        s.write_wakes += 1;
        drop(s);
        self.queue.notify_all();
        PipeEnd { pipe: self.clone(), read, write }
    }

    /// How many readers and writers are there now.
    pub fn ends(&self) -> (usize, usize) {
        let s = self.lock();
        (s.readers, s.writers)
    }

    /// Waits for data to read: how many bytes there are, 0 at end of file,
    /// EAGAIN if there are none and `nonblock` (splice and tee).
    pub fn wait_data(&self, nonblock: bool) -> Result<usize, Errno> {
        let mut s = self.lock();
        loop {
            if !s.buf.is_empty() {
                return Ok(s.buf.len());
            }
            if s.writers == 0 && (s.had_writer || nonblock) {
                return Ok(0);
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            s = self.queue.sleep(&self.state, s)?;
        }
    }

    /// Waits for room to write: how many bytes fit, EPIPE with no reader,
    /// EAGAIN if the pipe is full and `nonblock` (splice and tee).
    pub fn wait_room(&self, nonblock: bool) -> Result<usize, Errno> {
        let mut s = self.lock();
        loop {
            if s.readers == 0 {
                return Err(Errno::EPIPE);
            }
            if s.buf.len() < s.capacity {
                return Ok(s.capacity - s.buf.len());
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            s = self.queue.sleep(&self.state, s)?;
        }
    }

    /// Up to `max` bytes from the front of the buffer, left in place (tee).
    pub fn peek(&self, max: usize) -> Vec<u8> {
        let s = self.lock();
        s.buf.iter().take(max).copied().collect()
    }

    /// Blocks until `ready` holds (FIFO opens wait for the other side).
    pub fn wait_for(&self, ready: impl Fn(usize, usize) -> bool) -> Result<(), Errno> {
        let mut s = self.lock();
        while !ready(s.readers, s.writers) {
            s = self.queue.sleep(&self.state, s)?;
        }
        Ok(())
    }
}

/// One open end (or both, for a FIFO opened O_RDWR).
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    read: bool,
    write: bool,
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut s = self.pipe.lock();
        if self.read {
            s.readers -= 1;
        }
        if self.write {
            s.writers -= 1;
        }
        s.read_wakes += 1;
        s.write_wakes += 1;
        drop(s);
        self.pipe.queue.notify_all();
    }
}

/// The pipe behind a pipe end or an open FIFO (splice and tee).
pub fn pipe_of(file: &FileDescription) -> Option<&Arc<Pipe>> {
    file.ops().as_any()?.downcast_ref::<PipeEnd>().map(|end| &end.pipe)
}

impl FileOps for PipeEnd {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn pollable(&self) -> bool {
        true
    }

    fn wait_queues(&self) -> Vec<Arc<WaitQueue>> {
        vec![self.pipe.queue.clone()]
    }

    fn wake_count(&self, events: u32) -> Option<u64> {
        let s = self.pipe.lock();
        Some(wakes(events, s.read_wakes, s.write_wakes))
    }

    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        if dst.is_empty() {
            return Ok(0);
        }
        let mut s = self.pipe.lock();
        loop {
            if !s.buf.is_empty() {
                let n = dst.len().min(s.buf.len());
                let (a, b) = s.buf.as_slices();
                let first = a.len().min(n);
                dst.copy_from_at(0, &a[..first]);
                dst.copy_from_at(first, &b[..n - first]);
                if s.buf.len() >= s.capacity {
                    s.write_wakes += 1;
                }
                s.buf.drain(..n);
                drop(s);
                self.pipe.queue.notify_all();
                return Ok(n);
            }
            if s.writers == 0 && (s.had_writer || file.flags() & O_NONBLOCK != 0) {
                return Ok(0);
            }
            if file.flags() & O_NONBLOCK != 0 {
                return Err(Errno::EAGAIN);
            }
            s = self.pipe.queue.sleep(&self.pipe.state, s)?;
        }
    }

    fn write(&self, file: &FileDescription, src: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        let total = src.len();
        let mut done = 0;
        let mut s = self.pipe.lock();
        while done < total {
            if s.readers == 0 {
                return if done > 0 { Ok(done) } else { Err(Errno::EPIPE) };
            }
            let room = s.capacity.saturating_sub(s.buf.len());
            // A write of up to PIPE_BUF bytes goes in whole or not at all.
            let need = if total <= PIPE_BUF { total } else { 1 };
            if room >= need {
                let n = room.min(total - done);
                let mut chunk = vec![0u8; n];
                src.copy_to_at(done, &mut chunk);
                s.buf.extend(chunk);
                s.read_wakes += 1;
                done += n;
                self.pipe.queue.notify_all();
                continue;
            }
            if file.flags() & O_NONBLOCK != 0 {
                return if done > 0 { Ok(done) } else { Err(Errno::EAGAIN) };
            }
            s = match self.pipe.queue.sleep(&self.pipe.state, s) {
                Ok(s) => s,
                Err(e) if done == 0 => return Err(e),
                Err(_) => return Ok(done),
            };
        }
        Ok(done)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            st_dev: PIPEFS_DEV,
            st_ino: self.pipe.ino,
            st_nlink: 1,
            st_mode: S_IFIFO | 0o600,
            st_blksize: PAGE_SIZE as i64,
            ..Stat::default()
        })
    }

    fn readiness(&self, events: u32) -> u32 {
        let s = self.pipe.lock();
        let mut r = 0;
        if self.read {
            if !s.buf.is_empty() {
                r |= POLLIN | POLLRDNORM;
            }
            if s.writers == 0 && s.had_writer {
                r |= POLLHUP;
            }
        }
        if self.write {
            // Linux counts page slots: a pipe is full when its data spans them all.
            if s.buf.len().div_ceil(PAGE_SIZE as usize) < s.capacity / PAGE_SIZE as usize {
                r |= POLLOUT | POLLWRNORM;
            }
            if s.readers == 0 {
                r |= POLLERR;
            }
        }
        r & (events | POLLHUP | POLLERR)
    }

    fn ioctl(&self, _file: &FileDescription, io: &dyn UserIo, cmd: u32, arg: u64) -> Result<u64, Errno> {
        if cmd != FIONREAD {
            return Err(Errno::ENOTTY);
        }
        let n = self.pipe.lock().buf.len() as i32;
        io.copy_out(arg, &n.to_le_bytes())?;
        Ok(0)
    }

    fn pipe_size(&self, new: Option<usize>) -> Result<usize, Errno> {
        let mut s = self.pipe.lock();
        if let Some(n) = new {
            let n = n.max(PAGE_SIZE as usize).next_power_of_two();
            if n > PIPE_MAX {
                return Err(Errno::EPERM);
            }
            if n < s.buf.len() {
                return Err(Errno::EBUSY);
            }
            s.capacity = n;
        }
        Ok(s.capacity)
    }
}

/// The wakeups an edge-triggered watch for `events` sees, of a file that
/// counts reader and writer wakeups apart.
pub(crate) fn wakes(events: u32, read_wakes: u64, write_wakes: u64) -> u64 {
    let mut n = 0;
    if events & (POLLIN | POLLRDNORM) != 0 {
        n += read_wakes;
    }
    if events & (POLLOUT | POLLWRNORM) != 0 {
        n += write_wakes;
    }
    n
}
