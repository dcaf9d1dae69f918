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
        // FIONREAD on a regular file: the bytes left after the position.
        FIONREAD if file.ops().stat()?.st_mode & S_IFMT == S_IFREG && file.ops().host_fd().is_none() => {
            let left = (file.ops().stat()?.st_size - *file.pos()).max(0) as i32;
            t.mm.write_obj(arg, &left).map(|_| 0)
        }
        _ => file.ops().ioctl(&file, t.user_io(), cmd, arg),
    }
}
