//! Files backed by a host fd the sandbox was handed at start (its stdio).
//!
//! Reads and writes go straight between the host fd and application memory. The
//! file's O_NONBLOCK lives in the sandbox's file description, never on the host
//! fd, whose description the caller shares (a terminal, say); a non-blocking read
//! polls the host fd first. Only the terminal ioctls a program needs to learn
//! about its terminal are answered, from the host tty; nothing else is passed on.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use abi::consts::*;
use abi::structs::{Stat, Termios, Winsize};
use abi::Errno;
use zerocopy::IntoBytes;

use crate::file::{FileDescription, FileOps, UserIo};
use crate::safemem::BlockSeq;

/// The most iovecs one host readv/writev takes.
const IOV_MAX: usize = 1024;

/// The device number rVisor reports for files that are host fds.
pub const HOST_FD_DEV: u64 = 0x0d;

pub struct HostFile {
    fd: OwnedFd,
    /// The sandbox's foreground process group, reported by TIOCGPGRP on a tty.
    foreground_pgid: i32,
}

pub(crate) fn last_errno() -> Errno {
    Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(5))
}

impl HostFile {
    pub fn new(fd: OwnedFd, foreground_pgid: i32) -> HostFile {
        HostFile { fd, foreground_pgid }
    }

    /// Waits for nothing: fails with EAGAIN unless the host fd is ready for `events`.
    fn ready_now(&self, events: libc::c_short) -> Result<(), Errno> {
        match self.poll_now(events)? {
            0 => Err(Errno::EAGAIN),
            _ => Ok(()),
        }
    }

    /// The host fd's readiness for `events` now (revents), by a ppoll that
    /// does not wait.
    fn poll_now(&self, events: libc::c_short) -> Result<libc::c_short, Errno> {
        let mut p = libc::pollfd { fd: self.fd.as_raw_fd(), events, revents: 0 };
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: one valid pollfd, a zero timeout, no signal mask.
        let r = unsafe { libc::ppoll(&mut p, 1, &zero, std::ptr::null()) };
        if r < 0 {
            return Err(last_errno());
        }
        Ok(p.revents)
    }

    fn transfer(
        &self,
        file: &FileDescription,
        blocks: &BlockSeq,
        offset: Option<i64>,
        write: bool,
    ) -> Result<usize, Errno> {
        if file.flags() & O_NONBLOCK != 0 {
            self.ready_now(if write { libc::POLLOUT } else { libc::POLLIN })?;
        }
        transfer(self.fd.as_raw_fd(), blocks, offset, write)
    }

    fn host_ioctl<T: IntoBytes + zerocopy::FromBytes>(&self, cmd: u32, out: &mut T) -> Result<(), Errno> {
        // SAFETY: `cmd` is one of the read-only terminal queries whose argument is
        // exactly a `T` (checked by the caller), which the host writes into.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), cmd as libc::c_ulong, out as *mut T) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(())
        }
    }
}

/// readv/writev (or preadv/pwritev at `offset`) between a host fd and
/// Sentry-mapped memory, IOV_MAX iovecs at a time, stopping at a short
/// transfer as one big host call would.
pub fn transfer(fd: RawFd, blocks: &BlockSeq, offset: Option<i64>, write: bool) -> Result<usize, Errno> {
    let iov = blocks.iovecs();
    let mut done = 0usize;
    for chunk in iov.chunks(IOV_MAX) {
        let (v, n) = (chunk.as_ptr(), chunk.len() as i32);
        let off = offset.map(|o| o + done as i64);
        // SAFETY: the iovecs describe Sentry-mapped memory (BlockSeq's contract).
        let r = unsafe {
            match (write, off) {
                (false, None) => libc::readv(fd, v, n),
                (false, Some(off)) => libc::preadv(fd, v, n, off),
                (true, None) => libc::writev(fd, v, n),
                (true, Some(off)) => libc::pwritev(fd, v, n, off),
            }
        };
        if r < 0 {
            return if done > 0 { Ok(done) } else { Err(last_errno()) };
        }
        done += r as usize;
        if (r as usize) < chunk.iter().map(|i| i.iov_len).sum::<usize>() {
            break;
        }
    }
    Ok(done)
}

/// fstat of a host fd, by the raw syscall (glibc's fstat is newfstatat, which
/// the Sentry's filter refuses).
pub fn host_fstat(fd: RawFd) -> Result<Stat, Errno> {
    let mut st = Stat::default();
    // SAFETY: fstat writes one struct stat, which `Stat` is laid out as.
    let r = unsafe { libc::syscall(libc::SYS_fstat, fd, st.as_mut_bytes().as_mut_ptr()) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(st)
}

impl FileOps for HostFile {
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        if dst.is_empty() {
            return Ok(0);
        }
        self.transfer(file, dst, offset, false)
    }

    fn write(&self, file: &FileDescription, src: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        self.transfer(file, src, offset, true)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat { st_dev: HOST_FD_DEV, ..host_fstat(self.fd.as_raw_fd())? })
    }

    fn ioctl(&self, _file: &FileDescription, io: &dyn UserIo, cmd: u32, arg: u64) -> Result<u64, Errno> {
        match cmd {
            TCGETS => {
                let mut t = Termios::default();
                self.host_ioctl(TCGETS, &mut t)?;
                io.copy_out(arg, t.as_bytes())?;
            }
            TIOCGWINSZ => {
                let mut w = Winsize::default();
                self.host_ioctl(TIOCGWINSZ, &mut w)?;
                io.copy_out(arg, w.as_bytes())?;
            }
            FIONREAD => {
                let mut n: i32 = 0;
                self.host_ioctl(FIONREAD, &mut n)?;
                io.copy_out(arg, n.as_bytes())?;
            }
            TIOCGPGRP => {
                // Only a terminal has a foreground process group. The host's
                // is meaningless inside the sandbox (the Sentry is not even in
                // the terminal's session), so the sandbox's is reported.
                let mut t = Termios::default();
                self.host_ioctl(TCGETS, &mut t)?;
                io.copy_out(arg, self.foreground_pgid.as_bytes())?;
            }
            _ => return Err(Errno::ENOTTY),
        }
        Ok(0)
    }

    fn seekable(&self) -> bool {
        host_fstat(self.fd.as_raw_fd()).is_ok_and(|s| s.st_mode & S_IFMT == S_IFREG)
    }

    /// Terminals, pipes and sockets can be polled; regular files cannot.
    fn pollable(&self) -> bool {
        host_fstat(self.fd.as_raw_fd()).is_ok_and(|s| !matches!(s.st_mode & S_IFMT, S_IFREG | S_IFDIR))
    }

    fn readiness(&self, events: u32) -> u32 {
        self.poll_now(events as libc::c_short).map_or(0, |r| r as u16 as u32)
    }

    fn host_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn seek(&self, _file: &FileDescription, off: i64, whence: i32) -> Result<i64, Errno> {
        if !self.seekable() {
            return Err(Errno::ESPIPE);
        }
        // SAFETY: lseek on our own fd.
        let r = unsafe { libc::lseek(self.fd.as_raw_fd(), off, whence) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r)
        }
    }
}
