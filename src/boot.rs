//! The Sentry process: builds the kernel, seals itself with seccomp, and runs
//! the application's first process.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::Arc;

use platform_ptrace::PtracePlatform;
use sentry::kernel::HostInfo;
use sentry::limits::Limits;
use sentry::loader::ExecSource;
use sentry::platform::Platform;
use sentry::task::Credentials;
use sentry::{ExitStatus, InitProcess, Kernel};
use vfs::memfile::MemoryFile;

use crate::launch::EXE_FD;

#[derive(clap::Args, Debug)]
pub struct BootArgs {
    /// The executable's path as exec'd (AT_EXECFN); the file itself is fd 3.
    #[arg(long)]
    execfn: PathBuf,
    #[arg(long)]
    hostname: String,
    #[arg(long)]
    strace: bool,
    #[arg(long)]
    strace_fd: Option<RawFd>,
    #[arg(long)]
    debug_fd: Option<RawFd>,
    /// The Sentry's end of the gofer socket.
    #[arg(long)]
    gofer_fd: Option<RawFd>,
    #[arg(long)]
    selftest_forbidden_syscall: bool,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    argv: Vec<std::ffi::OsString>,
}

/// The device number the root filesystem (the gofer's) reports.
const GOFER_DEV: u64 = 0x30;

/// The executable, read through the fd the launcher opened.
struct HostExe(File);

impl ExecSource for HostExe {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, off)
    }
    fn size(&self) -> std::io::Result<u64> {
        // The raw fstat syscall: File::metadata (statx) and glibc's fstat
        // (newfstatat) are refused by the seccomp filter.
        let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: fstat fills one struct stat.
        if unsafe { libc::syscall(libc::SYS_fstat, self.0.as_raw_fd(), st.as_mut_ptr()) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fstat succeeded.
        Ok(unsafe { st.assume_init() }.st_size as u64)
    }
}

/// Takes ownership of an fd the launcher passed, if it is open.
fn take_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only checks that the fd is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the fd is open and nothing else in this process owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A copy of one of our stdio fds for the application (None if closed), so the
/// Sentry keeps its own stderr for its messages.
fn dup_stdio(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC makes a new fd or fails.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    // SAFETY: `n` is a fresh fd we own.
    (n >= 0).then(|| unsafe { OwnedFd::from_raw_fd(n) })
}

fn writer(fd: Option<RawFd>) -> Option<Box<dyn Write + Send>> {
    fd.and_then(take_fd).map(|f| Box::new(File::from(f)) as Box<dyn Write + Send>)
}

pub fn boot(args: BootArgs) -> i32 {
    // A panic is a Sentry bug: report it and abort, so the launcher says the
    // Sentry died (SIGABRT) instead of passing on an exit code the application
    // could also have chosen.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
    let execfn = args.execfn.as_os_str().as_bytes().to_vec();
    let shown = args.execfn.display().to_string();
    let Some(exe) = take_fd(EXE_FD) else {
        eprintln!("rvisor boot: no executable on fd {EXE_FD}");
        return 125;
    };
    // Host facts, read while the Sentry may still ask the host for them.
    let host = HostInfo::read();
    let creds = Credentials::of_host_user();
    let limits = Limits::from_host();
    let stdio = (0..3).map(dup_stdio).collect();
    // A write to a closed pipe is the application's SIGPIPE, never the Sentry's.
    // SAFETY: changes only this process's disposition of SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };

    let memfile = match MemoryFile::new() {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("rvisor: cannot create the memory file: {e}");
            return 125;
        }
    };
    let platform = match PtracePlatform::new(memfile.fd()) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("rvisor: cannot start the ptrace platform: {e}");
            return 125;
        }
    };
    let strace = if args.strace { writer(args.strace_fd).or_else(|| Some(Box::new(std::io::stderr()))) } else { None };
    let table = Arc::new(syscalls::SyscallTable::new(strace, writer(args.debug_fd)));

    let trap = std::env::var_os("RVISOR_SECCOMP_TRAP").is_some();
    let installed =
        sentry::seccomp::build(&platform.seccomp_rules(), trap).and_then(|p| sentry::seccomp::install(&p, trap));
    if let Err(e) = installed {
        eprintln!("rvisor: cannot install the sentry's seccomp filter: {e}");
        return 125;
    }
    if args.selftest_forbidden_syscall {
        // socket(2) is not on the allow-list: this must kill the Sentry.
        // SAFETY: a plain syscall with no memory arguments.
        unsafe { libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0) };
        eprintln!("rvisor: a forbidden host syscall was allowed");
        return 125;
    }

    // The root filesystem: the gofer's export, attached before the seal.
    let root = match args.gofer_fd.and_then(take_fd) {
        Some(sock) => match vfs::gofer::GoferClient::new(sock).attach(0, GOFER_DEV) {
            Ok(root) => Some(root),
            Err(e) => {
                eprintln!("rvisor: the gofer did not serve the root filesystem: {e}");
                return 125;
            }
        },
        None => None,
    };
    let mounts = sentry::kernel::initial_mounts(&memfile, root);
    let kernel = Arc::new(Kernel {
        platform,
        memfile,
        mounts,
        tasks: Default::default(),
        syscalls: table,
        hostname: args.hostname,
        host,
    });
    if let Err(e) = sentry::procfs::mount(&kernel) {
        eprintln!("rvisor: /proc is not mounted: the root has no /proc directory ({e})");
    }
    let init = InitProcess {
        exe: Box::new(HostExe(File::from(exe))),
        execfn,
        argv: args.argv.into_iter().map(|a| a.into_vec()).collect(),
        envp: std::env::vars_os().map(|(k, v)| [k.into_vec(), b"=".to_vec(), v.into_vec()].concat()).collect(),
        stdio,
        creds,
        limits,
    };
    match kernel.run_init(init) {
        Ok(ExitStatus::Exited(code)) => code,
        Ok(ExitStatus::Signaled(sig)) => 128 + sig,
        Err(e) => {
            eprintln!("rvisor: {shown}: {} ({})", e.msg, e.errno);
            if e.errno == abi::Errno::ENOENT {
                127
            } else {
                126
            }
        }
    }
}
