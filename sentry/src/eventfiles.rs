//! Files that report process events: signalfd (pending signals, read as
//! `signalfd_siginfo`) and pidfd (a process, readable once it has exited).
//! Both read the task set, so they live in the Sentry.

use std::sync::{Arc, Mutex, Weak};

use abi::signal::*;
use abi::structs::Stat;
use abi::Errno;
use vfs::file::{anon_inode_stat, POLLIN};
use vfs::waiter::WaitQueue;
use vfs::{BlockSeq, FileDescription, FileOps};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes};

use crate::kernel::Kernel;
use crate::process::Life;
use crate::task::{current_tgid, current_tid};

/// struct signalfd_siginfo (128 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, zerocopy::KnownLayout)]
struct SignalfdSiginfo {
    signo: u32,
    errno: i32,
    code: i32,
    pid: u32,
    uid: u32,
    fd: i32,
    tid: u32,
    band: u32,
    overrun: u32,
    trapno: u32,
    status: i32,
    int: i32,
    ptr: u64,
    utime: u64,
    stime: u64,
    addr: u64,
    addr_lsb: u16,
    pad: [u8; 46],
}

impl SignalfdSiginfo {
    fn of(i: &SigInfo) -> SignalfdSiginfo {
        let mut s = SignalfdSiginfo::new_zeroed();
        s.signo = i.signo as u32;
        s.errno = i.errno;
        s.code = i.code;
        let (lo, hi) = (i.fields[0] as u32, (i.fields[0] >> 32) as u32);
        match (i.signo, i.code) {
            (SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP, c) if c > 0 => s.addr = i.fields[0],
            (_, SI_TIMER) => {
                s.tid = lo;
                s.overrun = hi;
                s.ptr = i.fields[1];
                s.int = i.fields[1] as i32;
            }
            (SIGCHLD, c) if c > 0 => {
                (s.pid, s.uid) = (lo, hi);
                s.status = i.fields[1] as i32;
                s.utime = i.fields[2];
                s.stime = i.fields[3];
            }
            _ => {
                (s.pid, s.uid) = (lo, hi);
                s.ptr = i.fields[1];
                s.int = i.fields[1] as i32;
            }
        }
        s
    }
}

/// A signalfd: the reading task's pending signals of `mask`.
pub struct SignalFd {
    kernel: Weak<Kernel>,
    mask: Mutex<u64>,
}

impl SignalFd {
    pub fn new(kernel: &Arc<Kernel>, mask: u64) -> SignalFd {
        SignalFd { kernel: Arc::downgrade(kernel), mask: Mutex::new(mask) }
    }

    pub fn set_mask(&self, mask: u64) {
        *self.mask.lock().unwrap() = mask;
    }

    fn mask(&self) -> u64 {
        *self.mask.lock().unwrap() & !SigSet::UNBLOCKABLE.0
    }
}

impl FileOps for SignalFd {
    /// As many whole signalfd_siginfo records as fit (EINVAL if none fits),
    /// each a pending signal of the mask taken from the reader.
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        const REC: usize = std::mem::size_of::<SignalfdSiginfo>();
        if dst.len() < REC {
            return Err(Errno::EINVAL);
        }
        let kernel = self.kernel.upgrade().ok_or(Errno::EBADF)?;
        let (tid, tgid) = (current_tid(), current_tgid());
        let blocked = !self.mask();
        let mut ts = kernel.tasks.lock().unwrap();
        let mut done = 0;
        loop {
            while done + REC <= dst.len() {
                let got = match ts.threads.get_mut(&tid).and_then(|t| t.pending.take(blocked)) {
                    Some(i) => Some(i),
                    None => ts.process_mut(tgid).and_then(|p| p.pending.take(blocked)),
                };
                let Some(mut info) = got else { break };
                ts.timer_signal_delivered(tgid, &mut info);
                dst.copy_from_at(done, SignalfdSiginfo::of(&info).as_bytes());
                done += REC;
            }
            if done > 0 {
                return Ok(done);
            }
            if file.flags() & abi::consts::O_NONBLOCK != 0 {
                return Err(Errno::EAGAIN);
            }
            let q = ts.process(tgid).ok_or(Errno::ESRCH)?.signal_arrivals.clone();
            ts = q.sleep(&kernel.tasks, ts)?;
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_inode_stat())
    }

    fn readiness(&self, events: u32) -> u32 {
        let Some(kernel) = self.kernel.upgrade() else { return 0 };
        let ts = kernel.tasks.lock().unwrap();
        let thread = ts.threads.get(&current_tid()).map_or(0, |t| t.pending.set);
        let process = ts.process(current_tgid()).map_or(0, |p| p.pending.set);
        if (thread | process) & self.mask() != 0 {
            events & POLLIN
        } else {
            0
        }
    }

    fn pollable(&self) -> bool {
        true
    }

    fn wait_queues(&self) -> Vec<Arc<WaitQueue>> {
        let Some(kernel) = self.kernel.upgrade() else { return Vec::new() };
        let ts = kernel.tasks.lock().unwrap();
        ts.process(current_tgid()).map(|p| vec![p.signal_arrivals.clone()]).unwrap_or_default()
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("anon_inode:[signalfd]")
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A pidfd: one process, readable once it has exited.
pub struct PidFd {
    kernel: Weak<Kernel>,
    pub pid: i32,
    exited: Arc<WaitQueue>,
}

impl PidFd {
    /// A pidfd for live process `pid` (ESRCH if there is none).
    pub fn new(kernel: &Arc<Kernel>, pid: i32) -> Result<PidFd, Errno> {
        let ts = kernel.tasks.lock().unwrap();
        let p = ts.process(pid).filter(|p| p.tgid == pid && !p.threads.is_empty()).ok_or(Errno::ESRCH)?;
        Ok(PidFd { kernel: Arc::downgrade(kernel), pid, exited: p.exited.clone() })
    }

    /// Whether the process has exited (a zombie, or reaped).
    pub fn exited(&self) -> bool {
        let Some(kernel) = self.kernel.upgrade() else { return true };
        let ts = kernel.tasks.lock().unwrap();
        ts.process(self.pid).is_none_or(|p| matches!(p.life, Life::Zombie(_)))
    }
}

impl FileOps for PidFd {
    fn read(&self, _: &FileDescription, _: &BlockSeq, _: Option<i64>) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_inode_stat())
    }

    fn readiness(&self, events: u32) -> u32 {
        if self.exited() {
            events & POLLIN
        } else {
            0
        }
    }

    fn pollable(&self) -> bool {
        true
    }

    fn wait_queues(&self) -> Vec<Arc<WaitQueue>> {
        vec![self.exited.clone()]
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("anon_inode:[pidfd]")
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
