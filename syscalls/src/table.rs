//! The table: one entry per implemented syscall number.

use abi::sysno;

use crate::args::*;
use crate::strace::{Arg, Ret};
use crate::{fs, kernel, mm, Entry, Handler, Support};

/// Wraps a handler with typed parameters into a `Handler`, converting each
/// register with `FromArg`.
macro_rules! typed {
    ($f:path $(, $t:ty)*) => {{
        #[allow(unused_variables, unused_mut, unused_assignments)]
        fn h(task: &mut sentry::Task, a: &[u64; 6]) -> sentry::SyscallResult {
            let mut i = 0;
            $f(task $(, { let v = <$t as FromArg>::from_arg(a[i]); i += 1; v })*)
        }
        h as Handler
    }};
}

macro_rules! entry {
    ($nr:ident, $name:literal, [$($arg:ident $(($n:literal))?),*], $ret:expr, $handler:expr, $support:expr) => {
        Entry { nr: sysno::$nr, name: $name, args: &[$(Arg::$arg $(($n))?),*], ret: $ret, handler: $handler, support: $support }
    };
}

use Support::{Full, Partial, Refused};

#[rustfmt::skip]
pub static TABLE: &[Entry] = &[
    // I/O and fds
    entry!(READ, "read", [Fd, OutBuf, Uint], Ret::Int, typed!(fs::rw::read, Fd, UserBuf, usize), Full),
    entry!(WRITE, "write", [Fd, InBuf(2), Uint], Ret::Int, typed!(fs::rw::write, Fd, UserBuf, usize), Full),
    entry!(READV, "readv", [Fd, OutIov(2), Int], Ret::Int, typed!(fs::rw::readv, Fd, u64, i32), Full),
    entry!(WRITEV, "writev", [Fd, InIov(2), Int], Ret::Int, typed!(fs::rw::writev, Fd, u64, i32), Full),
    entry!(PREAD64, "pread64", [Fd, OutBuf, Uint, Int], Ret::Int, typed!(fs::rw::pread64, Fd, UserBuf, usize, i64), Full),
    entry!(PWRITE64, "pwrite64", [Fd, InBuf(2), Uint, Int], Ret::Int, typed!(fs::rw::pwrite64, Fd, UserBuf, usize, i64), Full),
    entry!(CLOSE, "close", [Fd], Ret::Int, typed!(fs::fd::close, Fd), Full),
    entry!(DUP, "dup", [Fd], Ret::Int, typed!(fs::fd::dup, Fd), Full),
    entry!(DUP2, "dup2", [Fd, Fd], Ret::Int, typed!(fs::fd::dup2, Fd, Fd), Full),
    entry!(DUP3, "dup3", [Fd, Fd, Hex], Ret::Int, typed!(fs::fd::dup3, Fd, Fd, u32), Full),
    entry!(FCNTL, "fcntl", [Fd, Int, Hex], Ret::Int, typed!(fs::fd::fcntl, Fd, i32, u64), Partial("F_DUPFD*, F_GETFD/SETFD, F_GETFL/SETFL (O_ASYNC is kept but no SIGIO is sent), record locks (F_*LK and F_OFD_*LK; no deadlock detection), F_GETPIPE_SZ/F_SETPIPE_SZ, F_ADD_SEALS/F_GET_SEALS on tmpfs files; leases and owners EINVAL") ),
    entry!(FSTAT, "fstat", [Fd, Ptr], Ret::Int, typed!(fs::stat::fstat, Fd, UserPtr<abi::structs::Stat>), Full),
    entry!(NEWFSTATAT, "newfstatat", [DirFd, Str, Ptr, Hex], Ret::Int, typed!(fs::stat::newfstatat, Fd, UserCStr, UserPtr<abi::structs::Stat>, u32), Full),
    // Paths and names
    entry!(OPEN, "open", [Str, Hex, Oct], Ret::Int, typed!(fs::open::open, UserCStr, u32, u32), Partial("O_TMPFILE on tmpfs and the overlay (elsewhere EOPNOTSUPP); FIFOs, sockets and device nodes of the host layers are ENXIO (never opened on the host)")),
    entry!(OPENAT, "openat", [DirFd, Str, Hex, Oct], Ret::Int, typed!(fs::open::openat, Fd, UserCStr, u32, u32), Partial("O_TMPFILE on tmpfs and the overlay (elsewhere EOPNOTSUPP); FIFOs, sockets and device nodes of the host layers are ENXIO (never opened on the host)")),
    entry!(OPENAT2, "openat2", [DirFd, Str, Ptr, Uint], Ret::Int, typed!(fs::open::openat2, Fd, UserCStr, u64, usize), Partial("as openat; RESOLVE_CACHED lookups are always done")),
    entry!(CREAT, "creat", [Str, Oct], Ret::Int, typed!(fs::open::creat, UserCStr, u32), Full),
    entry!(LSEEK, "lseek", [Fd, Int, Int], Ret::Int, typed!(fs::open::lseek, Fd, i64, u32), Full),
    entry!(STAT, "stat", [Str, Ptr], Ret::Int, typed!(fs::stat::stat, UserCStr, UserPtr<abi::structs::Stat>), Full),
    entry!(LSTAT, "lstat", [Str, Ptr], Ret::Int, typed!(fs::stat::lstat, UserCStr, UserPtr<abi::structs::Stat>), Full),
    entry!(ACCESS, "access", [Str, Oct], Ret::Int, typed!(fs::stat::access, UserCStr, u32), Full),
    entry!(FACCESSAT, "faccessat", [DirFd, Str, Oct], Ret::Int, typed!(fs::stat::faccessat, Fd, UserCStr, u32), Full),
    entry!(FACCESSAT2, "faccessat2", [DirFd, Str, Oct, Hex], Ret::Int, typed!(fs::stat::faccessat2, Fd, UserCStr, u32, u32), Full),
    entry!(MKDIR, "mkdir", [Str, Oct], Ret::Int, typed!(fs::names::mkdir, UserCStr, u32), Full),
    entry!(MKDIRAT, "mkdirat", [DirFd, Str, Oct], Ret::Int, typed!(fs::names::mkdirat, Fd, UserCStr, u32), Full),
    entry!(RMDIR, "rmdir", [Str], Ret::Int, typed!(fs::names::rmdir, UserCStr), Full),
    entry!(UNLINK, "unlink", [Str], Ret::Int, typed!(fs::names::unlink, UserCStr), Full),
    entry!(UNLINKAT, "unlinkat", [DirFd, Str, Hex], Ret::Int, typed!(fs::names::unlinkat, Fd, UserCStr, u32), Full),
    entry!(SYMLINK, "symlink", [Str, Str], Ret::Int, typed!(fs::names::symlink, UserCStr, UserCStr), Full),
    entry!(SYMLINKAT, "symlinkat", [Str, DirFd, Str], Ret::Int, typed!(fs::names::symlinkat, UserCStr, Fd, UserCStr), Full),
    entry!(READLINK, "readlink", [Str, OutBuf, Int], Ret::Int, typed!(fs::names::readlink, UserCStr, UserBuf, i32), Full),
    entry!(READLINKAT, "readlinkat", [DirFd, Str, OutBuf, Int], Ret::Int, typed!(fs::names::readlinkat, Fd, UserCStr, UserBuf, i32), Full),
    entry!(RENAME, "rename", [Str, Str], Ret::Int, typed!(fs::names::rename, UserCStr, UserCStr), Full),
    entry!(RENAMEAT, "renameat", [DirFd, Str, DirFd, Str], Ret::Int, typed!(fs::names::renameat, Fd, UserCStr, Fd, UserCStr), Full),
    entry!(LINK, "link", [Str, Str], Ret::Int, typed!(fs::names::link, UserCStr, UserCStr), Full),
    entry!(LINKAT, "linkat", [DirFd, Str, DirFd, Str, Hex], Ret::Int, typed!(fs::names::linkat, Fd, UserCStr, Fd, UserCStr, u32), Full),
    entry!(TRUNCATE, "truncate", [Str, Int], Ret::Int, typed!(fs::names::truncate, UserCStr, i64), Full),
    entry!(FTRUNCATE, "ftruncate", [Fd, Int], Ret::Int, typed!(fs::names::ftruncate, Fd, i64), Full),
    entry!(FALLOCATE, "fallocate", [Fd, Hex, Int, Int], Ret::Int, typed!(fs::names::fallocate, Fd, u32, i64, i64), Partial("tmpfs and the overlay: allocation (KEEP_SIZE or not) and PUNCH_HOLE; other modes EOPNOTSUPP, as Linux's tmpfs; volumes pass it to the host file")),
    entry!(GETDENTS64, "getdents64", [Fd, Ptr, Uint], Ret::Int, typed!(fs::dir::getdents64, Fd, UserBuf, u32), Full),
    entry!(GETCWD, "getcwd", [OutBuf, Uint], Ret::Int, typed!(fs::dir::getcwd, UserBuf, usize), Full),
    entry!(CHDIR, "chdir", [Str], Ret::Int, typed!(fs::dir::chdir, UserCStr), Full),
    entry!(FCHDIR, "fchdir", [Fd], Ret::Int, typed!(fs::dir::fchdir, Fd), Full),
    entry!(UMASK, "umask", [Oct], Ret::Int, typed!(fs::dir::umask, u32), Full),
    entry!(STATX, "statx", [DirFd, Str, Hex, Hex, Ptr], Ret::Int, typed!(fs::statx::statx, Fd, UserCStr, u32, u32, u64), Partial("basic stats and the mount id; no birth time")),
    entry!(GETXATTR, "getxattr", [Str, Str, Ptr, Uint], Ret::Int, typed!(fs::xattr::getxattr, UserCStr, UserCStr, UserBuf, usize), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(LGETXATTR, "lgetxattr", [Str, Str, Ptr, Uint], Ret::Int, typed!(fs::xattr::lgetxattr, UserCStr, UserCStr, UserBuf, usize), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(FGETXATTR, "fgetxattr", [Fd, Str, Ptr, Uint], Ret::Int, typed!(fs::xattr::fgetxattr, Fd, UserCStr, UserBuf, usize), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(SETXATTR, "setxattr", [Str, Str, Ptr, Uint, Hex], Ret::Int, typed!(fs::xattr::setxattr, UserCStr, UserCStr, UserBuf, usize, u32), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(LSETXATTR, "lsetxattr", [Str, Str, Ptr, Uint, Hex], Ret::Int, typed!(fs::xattr::lsetxattr, UserCStr, UserCStr, UserBuf, usize, u32), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(FSETXATTR, "fsetxattr", [Fd, Str, Ptr, Uint, Hex], Ret::Int, typed!(fs::xattr::fsetxattr, Fd, UserCStr, UserBuf, usize, u32), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(LISTXATTR, "listxattr", [Str, Ptr, Uint], Ret::Int, typed!(fs::xattr::listxattr, UserCStr, UserBuf, usize), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(LLISTXATTR, "llistxattr", [Str, Ptr, Uint], Ret::Int, typed!(fs::xattr::llistxattr, UserCStr, UserBuf, usize), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(FLISTXATTR, "flistxattr", [Fd, Ptr, Uint], Ret::Int, typed!(fs::xattr::flistxattr, Fd, UserBuf, usize), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(REMOVEXATTR, "removexattr", [Str, Str], Ret::Int, typed!(fs::xattr::removexattr, UserCStr, UserCStr), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(LREMOVEXATTR, "lremovexattr", [Str, Str], Ret::Int, typed!(fs::xattr::lremovexattr, UserCStr, UserCStr), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(FREMOVEXATTR, "fremovexattr", [Fd, Str], Ret::Int, typed!(fs::xattr::fremovexattr, Fd, UserCStr), Partial("a store on tmpfs; the read-only host layer reports no attributes")),
    entry!(CHMOD, "chmod", [Str, Oct], Ret::Int, typed!(fs::attr::chmod, UserCStr, u32), Full),
    entry!(FCHMOD, "fchmod", [Fd, Oct], Ret::Int, typed!(fs::attr::fchmod, Fd, u32), Full),
    entry!(FCHMODAT, "fchmodat", [DirFd, Str, Oct], Ret::Int, typed!(fs::attr::fchmodat, Fd, UserCStr, u32), Full),
    entry!(CHOWN, "chown", [Str, Int, Int], Ret::Int, typed!(fs::attr::chown, UserCStr, u32, u32), Full),
    entry!(LCHOWN, "lchown", [Str, Int, Int], Ret::Int, typed!(fs::attr::lchown, UserCStr, u32, u32), Full),
    entry!(FCHOWN, "fchown", [Fd, Int, Int], Ret::Int, typed!(fs::attr::fchown, Fd, u32, u32), Full),
    entry!(FCHOWNAT, "fchownat", [DirFd, Str, Int, Int, Hex], Ret::Int, typed!(fs::attr::fchownat, Fd, UserCStr, u32, u32, u32), Full),
    entry!(UTIMENSAT, "utimensat", [DirFd, Str, Ptr, Hex], Ret::Int, typed!(fs::attr::utimensat, Fd, UserCStr, u64, u32), Full),
    entry!(UTIMES, "utimes", [Str, Ptr], Ret::Int, typed!(fs::attr::utimes, UserCStr, u64), Full),
    entry!(FUTIMESAT, "futimesat", [DirFd, Str, Ptr], Ret::Int, typed!(fs::attr::futimesat, Fd, UserCStr, u64), Full),
    entry!(UTIME, "utime", [Str, Ptr], Ret::Int, typed!(fs::attr::utime, UserCStr, u64), Full),
    entry!(FLOCK, "flock", [Fd, Hex], Ret::Int, typed!(fs::lock::flock, Fd, u32), Partial("no deadlock detection: a wait that can never end waits")),
    entry!(FSYNC, "fsync", [Fd], Ret::Int, typed!(fs::lock::fsync, Fd), Full),
    entry!(FADVISE64, "fadvise64", [Fd, Int, Int, Int], Ret::Int, typed!(fs::lock::fadvise64, Fd, i64, i64, i32), Partial("the advice is checked and has no effect (there is no read-ahead to tune)")),
    entry!(FDATASYNC, "fdatasync", [Fd], Ret::Int, typed!(fs::lock::fdatasync, Fd), Full),
    entry!(SYNC, "sync", [], Ret::Int, typed!(fs::lock::sync), Full),
    entry!(SYNCFS, "syncfs", [Fd], Ret::Int, typed!(fs::lock::syncfs, Fd), Full),
    entry!(POLL, "poll", [Ptr, Uint, Int], Ret::Int, typed!(fs::poll::poll, u64, u32, i32), Full),
    entry!(PPOLL, "ppoll", [Ptr, Uint, Ptr, Ptr, Uint], Ret::Int, typed!(fs::poll::ppoll, u64, u32, UserPtr<abi::structs::Timespec>, u64, usize), Full),
    entry!(SELECT, "select", [Int, Ptr, Ptr, Ptr, Ptr], Ret::Int, typed!(fs::poll::select, i32, u64, u64, u64, UserPtr<abi::structs::Timeval>), Full),
    entry!(PSELECT6, "pselect6", [Int, Ptr, Ptr, Ptr, Ptr, Ptr], Ret::Int, typed!(fs::poll::pselect6, i32, u64, u64, u64, UserPtr<abi::structs::Timespec>, u64), Full),
    entry!(PREADV, "preadv", [Fd, OutIov(2), Int, Int], Ret::Int, typed!(fs::rw::preadv, Fd, u64, i32, i64), Full),
    entry!(PWRITEV, "pwritev", [Fd, InIov(2), Int, Int], Ret::Int, typed!(fs::rw::pwritev, Fd, u64, i32, i64), Full),
    entry!(PREADV2, "preadv2", [Fd, OutIov(2), Int, Int, Hex, Hex], Ret::Int, typed!(fs::rw::preadv2, Fd, u64, i32, i64, u64, u32), Partial("RWF_* flags are accepted as hints")),
    entry!(PWRITEV2, "pwritev2", [Fd, InIov(2), Int, Int, Hex, Hex], Ret::Int, typed!(fs::rw::pwritev2, Fd, u64, i32, i64, u64, u32), Partial("RWF_* flags are accepted as hints")),
    entry!(SENDFILE, "sendfile", [Fd, Fd, Ptr, Uint], Ret::Int, typed!(fs::splice::sendfile, Fd, Fd, u64, usize), Full),
    entry!(SPLICE, "splice", [Fd, Ptr, Fd, Ptr, Uint, Hex], Ret::Int, typed!(fs::splice::splice, Fd, u64, Fd, u64, usize, u32), Full),
    entry!(TEE, "tee", [Fd, Fd, Uint, Hex], Ret::Int, typed!(fs::splice::tee, Fd, Fd, usize, u32), Full),
    entry!(COPY_FILE_RANGE, "copy_file_range", [Fd, Ptr, Fd, Ptr, Uint, Hex], Ret::Int, typed!(fs::splice::copy_file_range, Fd, u64, Fd, u64, usize, u32), Full),
    entry!(STATFS, "statfs", [Str, Ptr], Ret::Int, typed!(fs::misc::statfs, UserCStr, UserPtr<abi::structs::StatFs>), Partial("sizes describe the memory file, not a disk")),
    entry!(FSTATFS, "fstatfs", [Fd, Ptr], Ret::Int, typed!(fs::misc::fstatfs, Fd, UserPtr<abi::structs::StatFs>), Partial("sizes describe the memory file, not a disk")),
    entry!(CLOSE_RANGE, "close_range", [Uint, Uint, Hex], Ret::Int, typed!(fs::misc::close_range, u32, u32, u32), Full),
    entry!(MEMFD_CREATE, "memfd_create", [Str, Hex], Ret::Int, typed!(fs::misc::memfd_create, UserCStr, u32), Partial("MFD_HUGETLB EINVAL (no huge page pool)")),
    entry!(MKNOD, "mknod", [Str, Oct, Hex], Ret::Int, typed!(fs::misc::mknod, UserCStr, u32, u64), Partial("regular files and FIFOs; device and socket nodes EPERM")),
    entry!(MKNODAT, "mknodat", [DirFd, Str, Oct, Hex], Ret::Int, typed!(fs::misc::mknodat, Fd, UserCStr, u32, u64), Partial("regular files and FIFOs; device and socket nodes EPERM")),
    entry!(RENAMEAT2, "renameat2", [DirFd, Str, DirFd, Str, Hex], Ret::Int, typed!(fs::misc::renameat2, Fd, UserCStr, Fd, UserCStr, u32), Partial("RENAME_NOREPLACE; RENAME_EXCHANGE on tmpfs and of non-directories on the overlay (directories EXDEV, volumes EINVAL); RENAME_WHITEOUT EINVAL")),
    entry!(CHROOT, "chroot", [Str], Ret::Int, typed!(fs::misc::chroot, UserCStr), Full),
    entry!(PIPE, "pipe", [Ptr], Ret::Int, typed!(fs::pipe::pipe, u64), Full),
    entry!(PIPE2, "pipe2", [Ptr, Hex], Ret::Int, typed!(fs::pipe::pipe2, u64, u32), Partial("O_DIRECT (packet mode) is accepted but the pipe stays a byte stream")),
    entry!(EVENTFD, "eventfd", [Uint], Ret::Int, typed!(fs::eventfd::eventfd, u32), Full),
    entry!(EVENTFD2, "eventfd2", [Uint, Hex], Ret::Int, typed!(fs::eventfd::eventfd2, u32, u32), Full),
    entry!(EPOLL_CREATE, "epoll_create", [Int], Ret::Int, typed!(fs::epoll::epoll_create, i32), Full),
    entry!(EPOLL_CREATE1, "epoll_create1", [Hex], Ret::Int, typed!(fs::epoll::epoll_create1, u32), Full),
    entry!(EPOLL_CTL, "epoll_ctl", [Fd, Int, Fd, Ptr], Ret::Int, typed!(fs::epoll::epoll_ctl, Fd, i32, Fd, UserPtr<fs::epoll::EpollEvent>), Partial("readiness is asked of the watched files at each wait; EPOLLEXCLUSIVE is checked but wakes no fewer waiters")),
    entry!(EPOLL_WAIT, "epoll_wait", [Fd, Ptr, Int, Int], Ret::Int, typed!(fs::epoll::epoll_wait, Fd, u64, i32, i32), Full),
    entry!(EPOLL_PWAIT, "epoll_pwait", [Fd, Ptr, Int, Int, Ptr, Uint], Ret::Int, typed!(fs::epoll::epoll_pwait, Fd, u64, i32, i32, u64, usize), Full),
    entry!(EPOLL_PWAIT2, "epoll_pwait2", [Fd, Ptr, Int, Ptr, Ptr, Uint], Ret::Int, typed!(fs::epoll::epoll_pwait2, Fd, u64, i32, UserPtr<abi::structs::Timespec>, u64, usize), Full),
    entry!(INOTIFY_INIT, "inotify_init", [], Ret::Int, typed!(fs::inotify::inotify_init), Full),
    entry!(INOTIFY_INIT1, "inotify_init1", [Hex], Ret::Int, typed!(fs::inotify::inotify_init1, u32), Full),
    entry!(INOTIFY_ADD_WATCH, "inotify_add_watch", [Fd, Str, Hex], Ret::Int, typed!(fs::inotify::inotify_add_watch, Fd, UserCStr, u32), Partial("IN_DELETE_SELF comes when the last link goes, even if the file is still open; IN_EXCL_UNLINK and IN_UNMOUNT are accepted but have no effect")),
    entry!(INOTIFY_RM_WATCH, "inotify_rm_watch", [Fd, Int], Ret::Int, typed!(fs::inotify::inotify_rm_watch, Fd, i32), Full),
    entry!(IOCTL, "ioctl", [Fd, Hex, Hex], Ret::Int, typed!(fs::ioctl::ioctl, Fd, u32, u64), Partial("TCGETS, TIOCGWINSZ, TIOCGPGRP on a host tty; FIONREAD; FIOCLEX, FIONCLEX, FIONBIO; other requests (terminal settings included) ENOTTY") ),
    // Memory
    entry!(BRK, "brk", [Ptr], Ret::Hex, typed!(mm::brk, u64), Full),
    entry!(MMAP, "mmap", [Ptr, Uint, Prot, MapFlags, Fd, Hex], Ret::Hex, typed!(mm::mmap, u64, u64, u64, u64, Fd, u64), Partial("files other than tmpfs and memfd are mapped from a page cache that is a snapshot: a shared read-only mapping misses later writes, a writable shared one is ENODEV; a file truncated while mapped is not noticed") ),
    entry!(MUNMAP, "munmap", [Ptr, Uint], Ret::Int, typed!(mm::munmap, u64, u64), Full),
    entry!(MPROTECT, "mprotect", [Ptr, Uint, Prot], Ret::Int, typed!(mm::mprotect, u64, u64, u64), Full),
    entry!(MREMAP, "mremap", [Ptr, Uint, Uint, Hex, Ptr], Ret::Hex, typed!(mm::mremap, u64, u64, u64, u64, u64), Full),
    entry!(MADVISE, "madvise", [Ptr, Uint, Int], Ret::Int, typed!(mm::madvise, u64, u64, i32), Full),
    // Exit
    // Processes
    entry!(EXIT, "exit", [Int], Ret::None, typed!(kernel::process::exit, i32), Full),
    entry!(EXIT_GROUP, "exit_group", [Int], Ret::None, typed!(kernel::process::exit_group, i32), Full),
    entry!(CLONE, "clone", [Hex, Ptr, Ptr, Ptr, Hex], Ret::Int, typed!(kernel::process::clone, u64, u64, u64, u64, u64), Partial("namespaces EPERM")),
    entry!(CLONE3, "clone3", [Ptr, Uint], Ret::Int, typed!(kernel::process::clone3, u64, usize), Partial("as clone; set_tid EINVAL")),
    entry!(FORK, "fork", [], Ret::Int, typed!(kernel::process::fork), Full),
    entry!(VFORK, "vfork", [], Ret::Int, typed!(kernel::process::vfork), Full),
    entry!(EXECVE, "execve", [Str, Ptr, Ptr], Ret::Int, typed!(kernel::process::execve, UserCStr, u64, u64), Full),
    entry!(EXECVEAT, "execveat", [DirFd, Str, Ptr, Ptr, Hex], Ret::Int, typed!(kernel::process::execveat, Fd, UserCStr, u64, u64, u32), Full),
    entry!(WAIT4, "wait4", [Int, Ptr, Hex, Ptr], Ret::Int, typed!(kernel::process::wait4, i32, UserPtr<i32>, i32, UserPtr<kernel::rusage::Rusage>), Partial("rusage: CPU times and peak memory only")),
    entry!(WAITID, "waitid", [Int, Int, Ptr, Hex, Ptr], Ret::Int, typed!(kernel::process::waitid, i32, i32, UserPtr<abi::signal::SigInfo>, i32, UserPtr<kernel::rusage::Rusage>), Partial("rusage: CPU times and peak memory only")),
    entry!(PIDFD_OPEN, "pidfd_open", [Int, Hex], Ret::Int, typed!(kernel::process::pidfd_open, i32, u32), Full),
    entry!(PIDFD_GETFD, "pidfd_getfd", [Fd, Int, Hex], Ret::Int, typed!(kernel::process::pidfd_getfd, i32, i32, u32), Full),
    entry!(PIDFD_SEND_SIGNAL, "pidfd_send_signal", [Fd, Signal, Ptr, Hex], Ret::Int, typed!(kernel::signal::pidfd_send_signal, i32, i32, UserPtr<abi::signal::SigInfo>, u32), Full),
    entry!(SIGNALFD, "signalfd", [Int, Ptr, Uint], Ret::Int, typed!(kernel::signal::signalfd, i32, UserPtr<u64>, usize), Full),
    entry!(SIGNALFD4, "signalfd4", [Int, Ptr, Uint, Hex], Ret::Int, typed!(kernel::signal::signalfd4, i32, UserPtr<u64>, usize, u32), Full),
    entry!(GETRUSAGE, "getrusage", [Int, Ptr], Ret::Int, typed!(kernel::rusage::getrusage, i32, UserPtr<kernel::rusage::Rusage>), Partial("CPU times (the application's as user time, the Sentry's work as system time) and peak memory; the other counters are zero")),
    entry!(TIMES, "times", [Ptr], Ret::Int, typed!(kernel::rusage::times, UserPtr<kernel::rusage::Tms>), Full),
    // Thread setup
    entry!(ARCH_PRCTL, "arch_prctl", [Hex, Ptr], Ret::Int, typed!(kernel::thread::arch_prctl, u64, u64), Partial("ARCH_SET_FS, ARCH_GET_FS, ARCH_SET_GS, ARCH_GET_GS; others EINVAL") ),
    entry!(PRCTL, "prctl", [Int, Hex, Hex, Hex, Hex], Ret::Int, typed!(kernel::prctl::prctl, i32, u64, u64, u64, u64), Partial("PDEATHSIG (fires when the parent process, not thread, exits), DUMPABLE, KEEPCAPS, NAME, CAPBSET_READ/DROP, CHILD_SUBREAPER, NO_NEW_PRIVS; other options EINVAL")),
    entry!(SET_TID_ADDRESS, "set_tid_address", [Ptr], Ret::Int, typed!(kernel::thread::set_tid_address, u64), Full),
    entry!(SET_ROBUST_LIST, "set_robust_list", [Ptr, Uint], Ret::Int, typed!(kernel::thread::set_robust_list, UserPtr<u64>, usize), Full),
    entry!(GET_ROBUST_LIST, "get_robust_list", [Int, Ptr, Ptr], Ret::Int, typed!(kernel::thread::get_robust_list, i32, UserPtr<u64>, UserPtr<usize>), Partial("the caller's own list only; another thread's EPERM")),
    entry!(RSEQ, "rseq", [Ptr, Uint, Hex, Hex], Ret::Int, typed!(kernel::thread::rseq), Refused("ENOSYS: restartable sequences are not offered") ),
    // Identity
    entry!(GETPID, "getpid", [], Ret::Int, typed!(kernel::identity::getpid), Full),
    entry!(GETTID, "gettid", [], Ret::Int, typed!(kernel::identity::gettid), Full),
    entry!(GETPPID, "getppid", [], Ret::Int, typed!(kernel::identity::getppid), Full),
    entry!(GETPGRP, "getpgrp", [], Ret::Int, typed!(kernel::identity::getpgrp), Full),
    entry!(GETPGID, "getpgid", [Int], Ret::Int, typed!(kernel::identity::getpgid, i32), Full),
    entry!(GETSID, "getsid", [Int], Ret::Int, typed!(kernel::identity::getsid, i32), Full),
    entry!(SETPGID, "setpgid", [Int, Int], Ret::Int, typed!(kernel::identity::setpgid, i32, i32), Full),
    entry!(SETSID, "setsid", [], Ret::Int, typed!(kernel::identity::setsid), Full),
    entry!(GETUID, "getuid", [], Ret::Int, typed!(kernel::identity::getuid), Full),
    entry!(GETEUID, "geteuid", [], Ret::Int, typed!(kernel::identity::geteuid), Full),
    entry!(GETGID, "getgid", [], Ret::Int, typed!(kernel::identity::getgid), Full),
    entry!(GETEGID, "getegid", [], Ret::Int, typed!(kernel::identity::getegid), Full),
    entry!(SETUID, "setuid", [Int], Ret::Int, typed!(kernel::creds::setuid, u32), Full),
    entry!(SETGID, "setgid", [Int], Ret::Int, typed!(kernel::creds::setgid, u32), Full),
    entry!(SETREUID, "setreuid", [Int, Int], Ret::Int, typed!(kernel::creds::setreuid, u32, u32), Full),
    entry!(SETREGID, "setregid", [Int, Int], Ret::Int, typed!(kernel::creds::setregid, u32, u32), Full),
    entry!(SETRESUID, "setresuid", [Int, Int, Int], Ret::Int, typed!(kernel::creds::setresuid, u32, u32, u32), Full),
    entry!(SETRESGID, "setresgid", [Int, Int, Int], Ret::Int, typed!(kernel::creds::setresgid, u32, u32, u32), Full),
    entry!(GETRESUID, "getresuid", [Ptr, Ptr, Ptr], Ret::Int, typed!(kernel::creds::getresuid, UserPtr<u32>, UserPtr<u32>, UserPtr<u32>), Full),
    entry!(GETRESGID, "getresgid", [Ptr, Ptr, Ptr], Ret::Int, typed!(kernel::creds::getresgid, UserPtr<u32>, UserPtr<u32>, UserPtr<u32>), Full),
    entry!(SETFSUID, "setfsuid", [Int], Ret::Int, typed!(kernel::creds::setfsuid, u32), Full),
    entry!(SETFSGID, "setfsgid", [Int], Ret::Int, typed!(kernel::creds::setfsgid, u32), Full),
    entry!(GETGROUPS, "getgroups", [Int, Ptr], Ret::Int, typed!(kernel::creds::getgroups, i32, u64), Full),
    entry!(SETGROUPS, "setgroups", [Int, Ptr], Ret::Int, typed!(kernel::creds::setgroups, i32, u64), Full),
    entry!(CAPGET, "capget", [Ptr, Ptr], Ret::Int, typed!(kernel::creds::capget, UserPtr<kernel::creds::CapHeader>, u64), Full),
    entry!(CAPSET, "capset", [Ptr, Ptr], Ret::Int, typed!(kernel::creds::capset, UserPtr<kernel::creds::CapHeader>, u64), Full),
    entry!(UNAME, "uname", [Ptr], Ret::Int, typed!(kernel::identity::uname, UserPtr<abi::structs::Utsname>), Full),
    // Time and limits
    entry!(CLOCK_GETTIME, "clock_gettime", [Int, Ptr], Ret::Int, typed!(kernel::time::clock_gettime, i32, UserPtr<abi::structs::Timespec>), Partial("CLOCK_REALTIME_COARSE and CLOCK_MONOTONIC_COARSE read as the precise clocks, as the vDSO reads them (gVisor does the same)")),
    entry!(CLOCK_GETRES, "clock_getres", [Int, Ptr], Ret::Int, typed!(kernel::time::clock_getres, i32, UserPtr<abi::structs::Timespec>), Full),
    entry!(NANOSLEEP, "nanosleep", [Ptr, Ptr], Ret::Int, typed!(kernel::time::nanosleep, UserPtr<abi::structs::Timespec>, UserPtr<abi::structs::Timespec>), Full),
    entry!(CLOCK_NANOSLEEP, "clock_nanosleep", [Int, Hex, Ptr, Ptr], Ret::Int, typed!(kernel::time::clock_nanosleep, i32, u32, UserPtr<abi::structs::Timespec>, UserPtr<abi::structs::Timespec>), Partial("wall and monotonic clocks; sleeping on CLOCK_PROCESS_CPUTIME_ID is EOPNOTSUPP; an absolute sleep on CLOCK_REALTIME does not notice the clock being set")),
    entry!(ALARM, "alarm", [Uint], Ret::Int, typed!(kernel::timer::alarm, u32), Full),
    entry!(SETITIMER, "setitimer", [Int, Ptr, Ptr], Ret::Int, typed!(kernel::timer::setitimer, i32, UserPtr<kernel::timer::Itimerval>, UserPtr<kernel::timer::Itimerval>), Partial("ITIMER_VIRTUAL and ITIMER_PROF are checked every 4 ms tick")),
    entry!(GETITIMER, "getitimer", [Int, Ptr], Ret::Int, typed!(kernel::timer::getitimer, i32, UserPtr<kernel::timer::Itimerval>), Full),
    entry!(TIMER_CREATE, "timer_create", [Int, Ptr, Ptr], Ret::Int, typed!(kernel::timer::timer_create, i32, UserPtr<kernel::timer::SigEvent>, UserPtr<i32>), Partial("SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID; CPU-clock timers are checked every 4 ms tick")),
    entry!(TIMER_SETTIME, "timer_settime", [Int, Hex, Ptr, Ptr], Ret::Int, typed!(kernel::timer::timer_settime, i32, i32, UserPtr<kernel::timer::Itimerspec>, UserPtr<kernel::timer::Itimerspec>), Partial("an absolute CLOCK_REALTIME time does not follow later changes of the clock")),
    entry!(TIMER_GETTIME, "timer_gettime", [Int, Ptr], Ret::Int, typed!(kernel::timer::timer_gettime, i32, UserPtr<kernel::timer::Itimerspec>), Full),
    entry!(TIMER_GETOVERRUN, "timer_getoverrun", [Int], Ret::Int, typed!(kernel::timer::timer_getoverrun, i32), Full),
    entry!(TIMER_DELETE, "timer_delete", [Int], Ret::Int, typed!(kernel::timer::timer_delete, i32), Full),
    entry!(TIMERFD_CREATE, "timerfd_create", [Int, Hex], Ret::Int, typed!(kernel::timer::timerfd_create, i32, u32), Full),
    entry!(TIMERFD_SETTIME, "timerfd_settime", [Fd, Hex, Ptr, Ptr], Ret::Int, typed!(kernel::timer::timerfd_settime, i32, i32, UserPtr<kernel::timer::Itimerspec>, UserPtr<kernel::timer::Itimerspec>), Partial("TFD_TIMER_CANCEL_ON_SET is accepted; the clock is never set, so it never cancels")),
    entry!(TIMERFD_GETTIME, "timerfd_gettime", [Fd, Ptr], Ret::Int, typed!(kernel::timer::timerfd_gettime, i32, UserPtr<kernel::timer::Itimerspec>), Full),
    entry!(RESTART_SYSCALL, "restart_syscall", [], Ret::Int, typed!(kernel::time::restart_syscall), Full),
    entry!(GETTIMEOFDAY, "gettimeofday", [Ptr, Ptr], Ret::Int, typed!(kernel::time::gettimeofday, UserPtr<abi::structs::Timeval>, UserPtr<abi::structs::Timezone>), Full),
    entry!(TIME, "time", [Ptr], Ret::Int, typed!(kernel::time::time, UserPtr<i64>), Full),
    entry!(GETRANDOM, "getrandom", [OutBuf, Uint, Hex], Ret::Int, typed!(kernel::random::getrandom, UserBuf, usize, u32), Full),
    entry!(PRLIMIT64, "prlimit64", [Int, Int, Ptr, Ptr], Ret::Int, typed!(kernel::limits::prlimit64, i32, u32, UserPtr<abi::structs::Rlimit>, UserPtr<abi::structs::Rlimit>), Partial("enforced: NOFILE, STACK, DATA, AS, NPROC, FSIZE (SIGXFSZ), CORE (the core bit); the rest are recorded") ),
    entry!(GETRLIMIT, "getrlimit", [Int, Ptr], Ret::Int, typed!(kernel::limits::getrlimit, u32, UserPtr<abi::structs::Rlimit>), Full),
    entry!(SETRLIMIT, "setrlimit", [Int, Ptr], Ret::Int, typed!(kernel::limits::setrlimit, u32, UserPtr<abi::structs::Rlimit>), Partial("enforced: NOFILE, STACK, DATA, AS, NPROC, FSIZE (SIGXFSZ), CORE (the core bit); the rest are recorded") ),
    entry!(SCHED_GETAFFINITY, "sched_getaffinity", [Int, Uint, Ptr], Ret::Int, typed!(kernel::sched::sched_getaffinity, i32, u32, UserBuf), Full),
    entry!(SCHED_YIELD, "sched_yield", [], Ret::Int, typed!(kernel::sched::sched_yield), Full),
    entry!(SCHED_GET_PRIORITY_MAX, "sched_get_priority_max", [Int], Ret::Int, typed!(kernel::sched::sched_get_priority_max, i32), Full),
    entry!(SCHED_GET_PRIORITY_MIN, "sched_get_priority_min", [Int], Ret::Int, typed!(kernel::sched::sched_get_priority_min, i32), Full),
    entry!(SCHED_GETSCHEDULER, "sched_getscheduler", [Int], Ret::Int, typed!(kernel::sched::sched_getscheduler, i32), Full),
    entry!(SCHED_SETSCHEDULER, "sched_setscheduler", [Int, Int, Ptr], Ret::Int, typed!(kernel::sched::sched_setscheduler, i32, i32, UserPtr<i32>), Partial("the policy is kept and reported; the host schedules as it will; SCHED_DEADLINE EINVAL")),
    entry!(SCHED_GETPARAM, "sched_getparam", [Int, Ptr], Ret::Int, typed!(kernel::sched::sched_getparam, i32, UserPtr<i32>), Full),
    entry!(SCHED_SETPARAM, "sched_setparam", [Int, Ptr], Ret::Int, typed!(kernel::sched::sched_setparam, i32, UserPtr<i32>), Partial("kept and reported only")),
    entry!(SCHED_RR_GET_INTERVAL, "sched_rr_get_interval", [Int, Ptr], Ret::Int, typed!(kernel::sched::sched_rr_get_interval, i32, UserPtr<abi::structs::Timespec>), Full),
    entry!(GETPRIORITY, "getpriority", [Int, Int], Ret::Int, typed!(kernel::sched::getpriority, i32, i32), Full),
    entry!(SETPRIORITY, "setpriority", [Int, Int, Int], Ret::Int, typed!(kernel::sched::setpriority, i32, i32, i32), Partial("the nice value is kept and reported only")),
    entry!(GETCPU, "getcpu", [Ptr, Ptr, Ptr], Ret::Int, typed!(kernel::sched::getcpu, UserPtr<u32>, UserPtr<u32>, u64), Full),
    entry!(FUTEX, "futex", [Ptr, Hex, Int, Ptr, Ptr, Hex], Ret::Int, typed!(kernel::futex::futex, u64, u32, u32, u64, u64, u32), Partial("WAIT_REQUEUE_PI and CMP_REQUEUE_PI are ENOSYS; PI locks do not boost priorities (all threads run at one host priority)")),
    entry!(SYSINFO, "sysinfo", [Ptr], Ret::Int, typed!(kernel::sysinfo::sysinfo, u64), Partial("no load averages; memory as the host had it at boot")),
    // Signal state
    entry!(RT_SIGACTION, "rt_sigaction", [Signal, Ptr, Ptr, Uint], Ret::Int, typed!(kernel::signal::rt_sigaction, i32, UserPtr<abi::signal::KernelSigaction>, UserPtr<abi::signal::KernelSigaction>, usize ), Full),
    entry!(RT_SIGPROCMASK, "rt_sigprocmask", [Int, Ptr, Ptr, Uint], Ret::Int, typed!(kernel::signal::rt_sigprocmask, i32, UserPtr<u64>, UserPtr<u64>, usize), Full),
    entry!(RT_SIGPENDING, "rt_sigpending", [Ptr, Uint], Ret::Int, typed!(kernel::signal::rt_sigpending, UserPtr<u64>, usize), Full),
    entry!(RT_SIGSUSPEND, "rt_sigsuspend", [Ptr, Uint], Ret::Int, typed!(kernel::signal::rt_sigsuspend, UserPtr<u64>, usize), Full),
    entry!(RT_SIGTIMEDWAIT, "rt_sigtimedwait", [Ptr, Ptr, Ptr, Uint], Ret::Int, typed!(kernel::signal::rt_sigtimedwait, UserPtr<u64>, UserPtr<abi::signal::SigInfo>, UserPtr<abi::structs::Timespec>, usize), Full),
    entry!(RT_SIGRETURN, "rt_sigreturn", [], Ret::Hex, typed!(kernel::signal::rt_sigreturn), Full),
    entry!(SIGALTSTACK, "sigaltstack", [Ptr, Ptr], Ret::Int, typed!(kernel::signal::sigaltstack, UserPtr<abi::signal::StackT>, UserPtr<abi::signal::StackT>), Full),
    entry!(PAUSE, "pause", [], Ret::Int, typed!(kernel::signal::pause), Full),
    entry!(KILL, "kill", [Int, Signal], Ret::Int, typed!(kernel::signal::kill, i32, i32), Full),
    entry!(TGKILL, "tgkill", [Int, Int, Signal], Ret::Int, typed!(kernel::signal::tgkill, i32, i32, i32), Full),
    entry!(TKILL, "tkill", [Int, Signal], Ret::Int, typed!(kernel::signal::tkill, i32, i32), Full),
    entry!(RT_SIGQUEUEINFO, "rt_sigqueueinfo", [Int, Signal, Ptr], Ret::Int, typed!(kernel::signal::rt_sigqueueinfo, i32, i32, UserPtr<abi::signal::SigInfo>), Full),
    entry!(RT_TGSIGQUEUEINFO, "rt_tgsigqueueinfo", [Int, Int, Signal, Ptr], Ret::Int, typed!(kernel::signal::rt_tgsigqueueinfo, i32, i32, i32, UserPtr<abi::signal::SigInfo>), Full),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_numbers_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for e in TABLE {
            assert_eq!(sysno::name(e.nr), Some(e.name), "entry {}", e.name);
            assert!(seen.insert(e.nr), "{} twice", e.name);
            assert!(e.args.len() <= 6);
        }
    }
}
