//! ioctl: the fd-level requests here, the rest by the file.

use abi::consts::*;
use abi::Errno;
use sentry::{SyscallResult, Task};

use crate::args::Fd;

pub fn ioctl(t: &mut Task, fd: Fd, cmd: u32, arg: u64) -> SyscallResult {
    let file = t.fds.file(fd.0)?;
    match cmd {
        FIOCLEX | FIONCLEX => t.fds.set_cloexec(fd.0, cmd == FIOCLEX).map(|_| 0),
        FIONBIO => {
            let on: i32 = t.mm.read_obj(arg)?;
            let fl = file.flags();
            file.set_status_flags(if on != 0 { fl | O_NONBLOCK } else { fl & !O_NONBLOCK });
            Ok(0)
        }
        _ if file.flags() & O_PATH != 0 => Err(Errno::EBADF),
        _ => file.ops().ioctl(&file, t.user_io(), cmd, arg),
    }
}
