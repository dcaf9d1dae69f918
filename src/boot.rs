//! The Sentry process: reads the host facts it needs, forks itself into
//! namespaces of its own as an unprivileged host id, builds the kernel, seals
//! itself (empty root, no capabilities, seccomp), and runs the application's
//! first process. The process the launcher started stays outside as the
//! Sentry's supervisor: it forwards host signals and reports how it ended.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use confine::ids::{Forked, HostIds, Release};
use nix::sys::signal::{kill, sigaction, signal, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;
use platform_ptrace::PtracePlatform;
use sentry::creds::Credentials;
use sentry::kernel::HostInfo;
use sentry::limits::Limits;
use sentry::platform::Platform;
use sentry::{ExitStatus, InitError, InitProcess, Kernel};
use vfs::memfile::MemoryFile;

#[derive(clap::Args, Debug)]
pub struct BootArgs {
    #[arg(long)]
    hostname: String,
    #[arg(long, value_enum)]
    platform: crate::PlatformKind,
    #[arg(long)]
    strace: bool,
    #[arg(long)]
    strace_fd: Option<RawFd>,
    #[arg(long)]
    debug_fd: Option<RawFd>,
    /// The Sentry's end of the gofer socket.
    #[arg(long)]
    gofer_fd: Option<RawFd>,
    /// Where each gofer volume (exports 1, 2, ...) is mounted: SANDBOX[:ro].
    #[arg(long = "volume")]
    volumes: Vec<String>,
    /// The cap on the sandbox's application memory, in bytes.
    #[arg(long)]
    memory: Option<u64>,
    /// The cap on the sandbox's tasks.
    #[arg(long)]
    pids: Option<usize>,
    /// The working directory in the sandbox (`rvisor do --cwd`); without it,
    /// the caller's own working directory's path.
    #[arg(long)]
    cwd: Option<std::path::PathBuf>,
    #[arg(long)]
    selftest_forbidden_syscall: bool,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    argv: Vec<std::ffi::OsString>,
}

/// The device number of memfd_create's files.
const MEMFD_DEV: u64 = 0x2e;

/// The device number the root filesystem (the gofer's) reports.
const GOFER_DEV: u64 = 0x30;

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

/// The debug log, as tracing's writer: each event is one write of the
/// shared file, so lines of different threads never mix.
struct LogFile(std::sync::Arc<File>);

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    run(args).unwrap_or_else(|e| crate::launch::fail(&e))
}

/// Boots the Sentry and runs the sandbox: the exit code of its first
/// process, or 126/127 when that cannot be executed; an error is rvisor's
/// own failure (125).
fn run(args: BootArgs) -> anyhow::Result<i32> {
    let prog = args.argv.first().cloned().context("boot: no program")?;
    let shown = prog.to_string_lossy().into_owned();
    // Host facts, read while the Sentry may still ask the host for them.
    let host = HostInfo::read();
    let creds = Credentials::of_host_user();
    let limits = Limits::from_host();
    // The working directory, a path in the sandbox: --cwd, or the path of
    // the caller's own (as runc and runsc take the spec's cwd). Whether the
    // sandbox has it is the Sentry's to say, in its own tree.
    let cwd_given = args.cwd.is_some();
    let cwd = match args.cwd.map_or_else(std::env::current_dir, Ok) {
        Ok(d) => d.into_os_string().into_vec(),
        Err(e) => bail!("cannot read the working directory ({e}); give --cwd DIR"),
    };
    match confine::ids::fork_into_namespaces().context("cannot confine the sentry")? {
        Forked::Parent { child, ids, release } => supervise(child, ids, release),
        Forked::Child { .. } => {}
    }
    // From here on: pid 1 of a pid namespace of our own, as an unprivileged
    // host id. A session of our own: the terminal's signals reach the
    // supervisor, which passes each on once.
    let _ = nix::unistd::setsid();
    let stdio = (0..3).map(dup_stdio).collect();
    // A write to a closed pipe is the application's SIGPIPE, never the Sentry's.
    // SAFETY: changes only this process's disposition of SIGPIPE, to ignore.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }?;

    let memfile = Arc::new(MemoryFile::new().context("cannot create the memory file")?);
    // --strace writes to its log, or to a copy of our stderr.
    let strace = args.strace.then(|| args.strace_fd.and_then(take_fd).or_else(|| dup_stdio(2))).flatten();
    let observers: Vec<Arc<dyn sentry::observe::Observer>> =
        strace.map(|fd| Arc::new(syscalls::strace::Strace::new(File::from(fd))) as _).into_iter().collect();
    if let Some(log) = args.debug_fd.and_then(take_fd) {
        // The Sentry's log lines, to --debug-log (one write each).
        let log = std::sync::Arc::new(File::from(log));
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || LogFile(log.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
    let table = Arc::new(syscalls::SyscallTable::new());

    confine::mounts::empty_root().context("cannot seal the sentry")?;
    // malloc reads host files on its own: it counts CPUs in /sys the first
    // time a thread needs an arena, and reads /proc/sys/vm/overcommit_memory
    // before it shrinks a thread's heap. With a fixed arena count and a trim
    // threshold never reached, it does neither.
    // SAFETY: mallopt only sets allocator parameters.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 8);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
    let forwarded = HostSignals::catch().context("cannot catch the host's signals")?;
    confine::ids::drop_capabilities(&[]).context("cannot drop the sentry's capabilities")?;
    // The platform's helper processes (the stub factory) are forked now:
    // without capabilities, and before the Sentry's filter.
    let platform: Arc<dyn Platform> = match args.platform {
        crate::PlatformKind::Ptrace => {
            Arc::new(PtracePlatform::new(memfile.fd()).context("cannot start the ptrace platform")?)
        }
    };
    let trap = std::env::var_os("RVISOR_SECCOMP_TRAP").is_some();
    sentry::seccomp::policy(&platform.seccomp_rules())
        .install(trap)
        .context("cannot install the sentry's seccomp filter")?;
    if args.selftest_forbidden_syscall {
        // socket(2) is not on the allow-list: this must kill the Sentry.
        // SAFETY: a plain syscall with no memory arguments.
        unsafe { libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0) };
        bail!("a forbidden host syscall was allowed");
    }

    // The root filesystem: the gofer's export, attached before the seal.
    let mut root = None;
    let mut volumes = Vec::new();
    if let Some(sock) = args.gofer_fd.and_then(take_fd) {
        let client = vfs::gofer::GoferClient::new(sock);
        root = Some(client.attach(0, GOFER_DEV, false).context("the gofer did not serve the root filesystem")?);
        for (i, v) in args.volumes.iter().enumerate() {
            let (at, writable) = match v.strip_suffix(":ro") {
                Some(p) => (p, false),
                None => (v.as_str(), true),
            };
            let inode = client
                .attach(i as u32 + 1, GOFER_DEV + 1 + i as u64, writable)
                .with_context(|| format!("the gofer did not serve the volume for {at}"))?;
            volumes.push((at.as_bytes().to_vec(), inode, vfs::mount::MountFlags { readonly: !writable }));
        }
    }
    let mounts = sentry::kernel::initial_mounts(&memfile, root, volumes)
        .map_err(|e| anyhow!("cannot set up the sandbox's mounts: {e}"))?;
    let memfd_fs = vfs::tmpfs::Tmpfs::new_root(
        memfile.clone(),
        MEMFD_DEV,
        vfs::inode::NewAttrs { mode: abi::consts::S_IFDIR | 0o1777, uid: 0, gid: 0 },
    );
    let vdso = sentry::vdso::Vdso::new(memfile.clone()).context("cannot set up the vDSO")?;
    let oom = Arc::new(sentry::oom::OomKiller::default());
    let memory_max = args.memory.unwrap_or_else(|| host.default_memory_max());
    let pids_max = args.pids.unwrap_or_else(|| host.default_pids_max());
    let to_oom = oom.clone();
    memfile.set_limit(memory_max, Box::new(move || to_oom.request()));
    let kernel = Arc::new(Kernel {
        memfd_root: vfs::Path::detached(memfd_fs.inode().clone()),
        platform,
        memfile,
        mounts,
        tasks: Default::default(),
        futexes: Default::default(),
        timers: Default::default(),
        vdso,
        init_status: Default::default(),
        init_exited: Default::default(),
        oom,
        hostname: args.hostname,
        host,
    });
    if let Err(e) = sentry::procfs::mount(&kernel) {
        eprintln!("rvisor: /proc is not mounted: the root has no /proc directory ({e})");
    }
    forwarded.forward_to(&kernel);
    kernel.tasks.lock().unwrap().pids_max = Some(pids_max);
    let weak = Arc::downgrade(&kernel);
    let round = move || weak.upgrade().map(|k| sentry::oom::kill_one(&k.memfile, &k.tasks));
    kernel.oom.start(round).context("cannot start the OOM killer")?;
    let shown_cwd = String::from_utf8_lossy(&cwd).into_owned();
    let init = InitProcess {
        prog: prog.into_vec(),
        cwd,
        argv: args.argv.into_iter().map(|a| a.into_vec()).collect(),
        envp: std::env::vars_os().map(|(k, v)| [k.into_vec(), b"=".to_vec(), v.into_vec()].concat()).collect(),
        stdio,
        creds,
        limits,
        syscalls: table,
        observers: observers.into(),
    };
    match kernel.run_init(init) {
        Ok(ExitStatus::Exited(code)) => Ok(code),
        Ok(ExitStatus::Signaled { sig, .. }) => Ok(128 + sig),
        Err(InitError::Cwd(errno)) => Err(anyhow!(cwd_message(&shown_cwd, cwd_given, errno))),
        // The program cannot be run: the shell's codes, not rvisor's own.
        Err(InitError::Exec(e)) => {
            eprintln!("rvisor: {shown}: {} ({})", e.msg, e.errno);
            Ok(if e.errno == abi::Errno::ENOENT { 127 } else { 126 })
        }
    }
}

/// Why the sandbox cannot start in `cwd`, as runc says it ("chdir to cwd
/// ... no such file or directory"), with what to do about it.
fn cwd_message(cwd: &str, given: bool, errno: abi::Errno) -> String {
    let why = format!("{} ({})", errno.message(), errno.name().unwrap_or("?"));
    if given {
        return format!("--cwd {cwd}: cannot chdir to it in the sandbox: {why}");
    }
    // The host paths the sandbox has mounts of its own over.
    let own = ["/tmp", "/dev", "/proc"]
        .into_iter()
        .find(|m| cwd.strip_prefix(m).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')));
    let hint = match own {
        Some(m) => format!(" The sandbox's {m} is its own, not the host's."),
        None => String::new(),
    };
    format!(
        "cannot chdir to the working directory {cwd} in the sandbox: {why}.{hint} \
         Give --cwd DIR to start in another directory."
    )
}

/// The signals someone sends the sandbox from outside (a terminal's Ctrl-C,
/// `kill` of rvisor): they go to the sandbox's first process, as runsc does,
/// instead of ending the Sentry.
const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Installs `handler` for every forwarded signal (SA_RESTART, nothing
/// blocked).
///
/// # Safety
/// `handler` must be async-signal-safe.
unsafe fn catch_forwarded(handler: extern "C" fn(i32)) -> nix::Result<()> {
    let action = SigAction::new(SigHandler::Handler(handler), SaFlags::SA_RESTART, SigSet::empty());
    for sig in FORWARDED {
        // SAFETY: as the caller promises.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

/// The write end of the pipe the signal handler reports on.
static SIGNAL_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_host_signal(sig: i32) {
    let b = sig as u8;
    // SAFETY: write is async-signal-safe; the pipe outlives the handler.
    unsafe { libc::write(SIGNAL_PIPE.load(std::sync::atomic::Ordering::Relaxed), (&b as *const u8).cast(), 1) };
}

struct HostSignals {
    read_end: OwnedFd,
}

impl HostSignals {
    /// Installs the handlers (before the seccomp filter: sigaction and pipe2
    /// are set up here, reads and writes are all that remain).
    fn catch() -> nix::Result<HostSignals> {
        let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        SIGNAL_PIPE.store(std::os::fd::IntoRawFd::into_raw_fd(write_end), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the handler only writes to a pipe.
        unsafe { catch_forwarded(on_host_signal) }?;
        Ok(HostSignals { read_end })
    }

    /// A thread that passes each caught signal on to the first process.
    fn forward_to(self, kernel: &Arc<Kernel>) {
        let kernel = Arc::downgrade(kernel);
        let spawned = std::thread::Builder::new().spawn(move || {
            let mut f = File::from(self.read_end);
            let mut b = [0u8; 1];
            while std::io::Read::read_exact(&mut f, &mut b).is_ok() {
                let Some(k) = kernel.upgrade() else { return };
                let info = abi::signal::SigInfo::from_process(b[0] as i32, abi::signal::SI_USER, 0, 0);
                let _ = k.tasks.lock().unwrap().send(sentry::process::Target::Process(sentry::kernel::INIT_PID), info);
            }
        });
        if let Err(e) = spawned {
            eprintln!("rvisor: host signals will not reach the sandbox: {e}");
        }
    }
}

/// The Sentry's pid, for the supervisor's signal handler.
static SENTRY_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn pass_to_sentry(sig: i32) {
    // SAFETY: kill is async-signal-safe.
    unsafe { libc::kill(SENTRY_PID.load(std::sync::atomic::Ordering::Relaxed), sig) };
}

/// Where the supervisor keeps the pipe its Sentry waits on, so that its
/// filter can name the one fd it may write to.
const RELEASE_FD: RawFd = 3;

/// The supervisor: the process the launcher started, outside the Sentry's
/// namespaces. It keeps nothing of the sandbox's (the gofer socket and the
/// logs are the Sentry's alone), takes the Sentry's unprivileged ids, passes
/// the host's signals on to the Sentry, and ends as the Sentry ended.
///
/// It confines itself before it lets the Sentry go on (`Release`). The race
/// this closes: the Sentry was let go as soon as its id maps were written,
/// and the supervisor then dropped its ids and capabilities and installed
/// its filter while the Sentry booted; a supervisor the host scheduler kept
/// waiting (under load) was still root, with every capability and no
/// filter, while the application already ran (the_sentry_holds_no_host_
/// privilege then reads uid 0 on it).
fn supervise(sentry: Pid, ids: HostIds, mut release: Release) -> ! {
    let moved = release.move_to(RELEASE_FD);
    if moved.is_ok() {
        // SAFETY: closes fds this process no longer uses; the pipe (fd 3) stays.
        unsafe { libc::syscall(libc::SYS_close_range, RELEASE_FD + 1, u32::MAX, 0) };
    }
    SENTRY_PID.store(sentry.as_raw(), std::sync::atomic::Ordering::Relaxed);
    // Its own pid, for ending as the Sentry ended, asked before the filter.
    let me = nix::unistd::getpid();
    // SAFETY: the handler only calls kill. (It cannot fail: valid signals.)
    let _ = unsafe { catch_forwarded(pass_to_sentry) };
    let confined =
        moved.and_then(|()| confine::ids::become_unprivileged(ids)).and_then(|()| supervisor_policy().install(false));
    // The pipe stays open while the supervisor lives (see `Release::release`).
    let _alive = match confined {
        // A write that fails finds the Sentry gone; wait4 says how it ended.
        Ok(()) => release.release().ok(),
        Err(e) => {
            eprintln!("rvisor: cannot confine the sentry's supervisor: {e}");
            // Never released, the Sentry exits 125 when the pipe closes.
            drop(release);
            let _ = kill(sentry, Signal::SIGKILL);
            None
        }
    };
    // A raw wait: nix's WaitStatus cannot name a real-time signal, and the
    // Sentry may be killed by one from outside.
    let code = loop {
        let mut status = 0;
        // SAFETY: waitpid writes one int.
        let r = unsafe { libc::waitpid(sentry.as_raw(), &mut status, 0) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break 125;
        }
        if libc::WIFEXITED(status) {
            break libc::WEXITSTATUS(status);
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            // End the same way, so the launcher sees how the Sentry died:
            // the default disposition, then the signal to ourselves (kill
            // of our pid, read before the filter: raise would be tgkill,
            // which the filter refuses).
            // SAFETY: the default disposition, then a signal to this process.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::kill(me.as_raw(), sig);
            }
            break 128 + sig;
        }
    };
    // Straight to exit_group: the filter allows nothing of what the
    // runtime's cleanup would do.
    // SAFETY: _exit ends the process.
    unsafe { libc::_exit(code) }
}

/// What the supervisor does once confined: wait for the Sentry, pass
/// signals on, and end.
pub fn supervisor_policy() -> confine::seccomp::Policy {
    use confine::seccomp::Rule;
    use libc::*;
    let allow = vec![
        Rule::any(SYS_wait4, "waiting for the Sentry"),
        Rule::any(SYS_kill, "passing host signals on to the Sentry; ending as it ended"),
        Rule::any(SYS_rt_sigaction, "the default action of the signal the Sentry died of"),
        Rule::any(SYS_rt_sigreturn, "return from the handler that passes signals on"),
        Rule::any(SYS_exit_group, "the supervisor ends"),
        Rule::one_of(SYS_write, 0, &[RELEASE_FD as u64], "letting the Sentry go on, once confined"),
    ];
    confine::seccomp::Policy { allow, refuse: Vec::new() }
}
