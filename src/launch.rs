//! The launcher: starts the gofer and the Sentry process (`rvisor boot`) with
//! the fds they need, and reports how the application ended. The program is
//! found and read by the Sentry, in the sandbox's own filesystem.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::prctl;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::unistd::dup2_raw;

use crate::SandboxOpts;

/// Fixed fd numbers in the Sentry process.
pub const STRACE_FD: RawFd = 4;
pub const DEBUG_FD: RawFd = 5;
pub const GOFER_FD: RawFd = 6;

/// rvisor's own failures (before or around the sandbox, not the
/// application's) exit with this, as runc's and runsc's do.
pub const EXIT_RVISOR: i32 = 125;

/// Reports an error of rvisor's own ("rvisor: what: why") and gives the
/// exit code for it.
pub fn fail(e: &anyhow::Error) -> i32 {
    eprintln!("rvisor: {e:#}");
    EXIT_RVISOR
}

fn open_log(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("cannot open {}", path.display()))
}

pub fn run_do(opts: &SandboxOpts, argv: &[OsString]) -> i32 {
    launch(opts, argv).unwrap_or_else(|e| fail(&e))
}

/// Runs the sandbox; its exit code (the application's, or 128 + the
/// signal that ended the Sentry).
fn launch(opts: &SandboxOpts, argv: &[OsString]) -> Result<i32> {
    let strace_log = opts.strace_log.as_deref().map(open_log).transpose()?;
    let debug_log = opts.debug_log.as_deref().map(open_log).transpose()?;

    let self_exe = std::env::current_exe().context("cannot find own executable")?;
    let rootfs = &opts.rootfs;
    if !rootfs.is_dir() {
        bail!("--rootfs {}: not a directory", rootfs.display());
    }
    let volumes = parse_volumes(&opts.volumes)?;
    if let Some(cwd) = &opts.cwd {
        if !cwd.is_absolute() {
            bail!("--cwd {}: must be an absolute path in the sandbox", cwd.display());
        }
    }
    let (sentry_end, gofer_end) = gofer_protocol::transport::socketpair().context("cannot create the gofer socket")?;
    let mut gofer = spawn_gofer(&self_exe, rootfs, &volumes, gofer_end)?;
    let mut cmd = Command::new(self_exe);
    cmd.arg("boot").arg("--hostname").arg(&opts.hostname);
    cmd.arg("--gofer-fd").arg(GOFER_FD.to_string());
    cmd.arg("--platform").arg(opts.platform.name());
    for v in &volumes {
        let mut arg = v.sandbox.clone().into_os_string();
        if v.readonly {
            arg.push(":ro");
        }
        cmd.arg("--volume").arg(arg);
    }
    if opts.strace || strace_log.is_some() {
        cmd.arg("--strace");
    }
    if strace_log.is_some() {
        cmd.arg("--strace-fd").arg(STRACE_FD.to_string());
    }
    if debug_log.is_some() {
        cmd.arg("--debug-fd").arg(DEBUG_FD.to_string());
    }
    if let Some(bytes) = opts.memory {
        cmd.arg("--memory").arg(bytes.to_string());
    }
    if let Some(n) = opts.pids {
        cmd.arg("--pids").arg(n.to_string());
    }
    if let Some(cwd) = &opts.cwd {
        cmd.arg("--cwd").arg(cwd);
    }
    if opts.selftest_forbidden_syscall {
        cmd.arg("--selftest-forbidden-syscall");
    }
    cmd.arg("--").args(argv);
    let pass: Vec<(RawFd, RawFd)> = [
        strace_log.as_ref().map(|f| f.as_raw_fd()),
        debug_log.as_ref().map(|f| f.as_raw_fd()),
        Some(sentry_end.as_raw_fd()),
    ]
    .iter()
    .zip([STRACE_FD, DEBUG_FD, GOFER_FD])
    .filter_map(|(f, to)| f.map(|f| (f, to)))
    .collect();
    // The Sentry gets stdio and exactly these fds, at fixed numbers; nothing
    // else the launcher inherited crosses over.
    // SAFETY: the closure allocates nothing and only calls prctl, fcntl,
    // dup2, close and close_range, which are async-signal-safe; the fds it
    // borrows are the launcher's own, open in the forked child.
    unsafe {
        cmd.pre_exec(move || {
            // The Sentry does not outlive its launcher.
            prctl::set_pdeathsig(Signal::SIGKILL)?;
            // Move the sources above the targets first, so that a source equal
            // to a later target is not clobbered.
            let mut moved = [(-1, -1); 3];
            for (slot, &(from, to)) in moved.iter_mut().zip(&pass) {
                *slot = (fcntl(BorrowedFd::borrow_raw(from), FcntlArg::F_DUPFD(64))?, to);
            }
            for &(tmp, to) in &moved[..pass.len()] {
                // `to` stays open across exec (dup2 clears close-on-exec):
                // the Sentry owns it, not this closure.
                let _ = dup2_raw(BorrowedFd::borrow_raw(tmp), to)?.into_raw_fd();
            }
            for fd in [STRACE_FD, DEBUG_FD, GOFER_FD] {
                if !pass.iter().any(|&(_, to)| to == fd) {
                    let _ = nix::unistd::close(fd);
                }
            }
            libc::syscall(libc::SYS_close_range, GOFER_FD + 1, u32::MAX, 0);
            Ok(())
        });
    }
    // Like a shell waiting for its foreground job: terminal signals go to the
    // Sentry (same process group), not to the launcher.
    // SAFETY: changes only this process's dispositions, to ignore.
    unsafe {
        signal(Signal::SIGINT, SigHandler::SigIgn)?;
        signal(Signal::SIGQUIT, SigHandler::SigIgn)?;
    }
    let status = cmd.status().context("cannot start the sentry");
    drop(sentry_end);
    // The gofer ends when the Sentry's end of the socket closes.
    let _ = gofer.wait();
    let status = status?;
    if let Some(code) = status.code() {
        return Ok(code);
    }
    let sig = status.signal().unwrap_or(libc::SIGKILL);
    if !matches!(sig, libc::SIGINT | libc::SIGTERM | libc::SIGHUP | libc::SIGPIPE) {
        // Not someone stopping the sandbox on purpose (that is reported as
        // a shell would, by the code alone): say what happened.
        let why = if sig == libc::SIGSYS { " (a host syscall its seccomp filter forbids)" } else { "" };
        eprintln!("rvisor: the sentry was killed by {}{why}", abi::signal::name(sig));
    }
    Ok(128 + sig)
}

/// `rvisor do --print-seccomp`: every host seccomp policy of a sandbox with
/// these options, as data with its reasons.
pub fn print_seccomp(opts: &SandboxOpts) -> i32 {
    let volumes = match parse_volumes(&opts.volumes) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    let writable = volumes.iter().any(|v| !v.readonly);
    let out = &mut std::io::stdout().lock();
    let platform_rules = match opts.platform {
        crate::PlatformKind::Ptrace => platform_ptrace::seccomp_rules(),
    };
    let sentry = sentry::seccomp::policy(&platform_rules);
    let printed = sentry
        .print("Sentry (every thread)", out)
        .and_then(|()| crate::boot::supervisor_policy().print("the Sentry's supervisor", out))
        .and_then(|()| platform_ptrace::factory_policy().print("stub factory and every stub", out))
        .and_then(|()| {
            use std::io::Write;
            writeln!(out, "# each stub, under the factory's policy too: {}", platform_ptrace::STUB_FILTER)
        })
        .and_then(|()| {
            let title = if writable { "gofer (with a writable volume)" } else { "gofer (read-only exports)" };
            gofer::seccomp::policy(writable).print(title, out)
        });
    match printed {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rvisor: {e}");
            1
        }
    }
}

/// A `--volume HOST:SANDBOX[:ro]`.
struct Volume {
    host: std::path::PathBuf,
    /// The target, normalized: absolute, no empty, `.` or `..` components.
    sandbox: std::path::PathBuf,
    readonly: bool,
}

impl Volume {
    fn components(&self) -> Vec<&std::ffi::OsStr> {
        self.sandbox.iter().skip(1).collect()
    }
}

/// The files the Sentry makes in the sandbox's /dev (`initial_mounts`): the
/// memory devices, tty and the /proc/self/fd links. (/dev/shm, a tmpfs
/// mount of its own, may be replaced by a volume, as /tmp may.)
fn sandbox_dev_entry(name: &std::ffi::OsStr) -> bool {
    let name = name.as_encoded_bytes();
    vfs::dev::MEM_DEVICES.iter().any(|(n, _)| *n == name)
        || [&b"tty"[..], b"fd", b"stdin", b"stdout", b"stderr"].contains(&name)
}

/// Every `--volume`, checked against the way the Sentry mounts: first the
/// root, then its own /tmp, /dev and /dev/shm, then the volumes in the
/// order given (each over whatever its target then is), and /proc last. A
/// mount hides everything at and below its target that was mounted before.
/// So a volume may not be the root, may not lie at or below /proc, may not
/// replace /dev or sit on a file the Sentry makes there, and no later
/// volume may have the same target or one above it.
fn parse_volumes(specs: &[String]) -> Result<Vec<Volume>> {
    let volumes = specs.iter().map(|v| parse_volume(v)).collect::<Result<Vec<_>>>()?;
    for (v, spec) in volumes.iter().zip(specs) {
        let bad = |why: String| Err(anyhow::anyhow!("--volume {spec}: {why}"));
        match v.components().as_slice() {
            [] => return bad("a volume cannot be the sandbox's root (that is --rootfs)".into()),
            [top, ..] if *top == "proc" => {
                return bad("the sandbox's /proc is mounted over it (after the volumes)".into());
            }
            [top] if *top == "dev" => {
                return bad("it would hide the sandbox's /dev (its devices and /dev/shm)".into());
            }
            [top, name, ..] if *top == "dev" && sandbox_dev_entry(name) => {
                return bad(format!("the sandbox makes /dev/{} itself", name.to_string_lossy()));
            }
            _ => {}
        }
    }
    for (i, (v, spec)) in volumes.iter().zip(specs).enumerate() {
        let bad = |why: String| Err(anyhow::anyhow!("--volume {spec}: {why}"));
        let c = v.components();
        for (later, later_spec) in volumes.iter().zip(specs).skip(i + 1) {
            let lc = later.components();
            if lc == c {
                return bad(format!("--volume {later_spec} has the same target and would hide it"));
            }
            if c.starts_with(&lc) {
                return bad(format!(
                    "the later --volume {later_spec} is mounted above it and would hide it; give the outer volume first"
                ));
            }
        }
    }
    Ok(volumes)
}

fn parse_volume(spec: &str) -> Result<Volume> {
    let bad = |why: &str| anyhow::anyhow!("--volume {spec}: {why}");
    let mut parts = spec.split(':');
    let (Some(host), Some(sandbox)) = (parts.next(), parts.next()) else {
        return Err(bad("expected HOST:SANDBOX[:ro]"));
    };
    let readonly = match parts.next() {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(_) => return Err(bad("the option after SANDBOX is ro or rw")),
    };
    if parts.next().is_some() || host.is_empty() || !sandbox.starts_with('/') {
        return Err(bad("expected HOST:SANDBOX[:ro] with an absolute SANDBOX path"));
    }
    let comps: Vec<&str> = sandbox.split('/').filter(|c| !c.is_empty()).collect();
    if comps.iter().any(|c| *c == "." || *c == "..") {
        return Err(bad("SANDBOX may not contain . or .. components"));
    }
    let host = Path::new(host);
    if !host.is_dir() {
        return Err(bad("the host path is missing or not a directory"));
    }
    let sandbox = format!("/{}", comps.join("/"));
    Ok(Volume { host: host.to_path_buf(), sandbox: sandbox.into(), readonly })
}

/// Starts `rvisor gofer` serving `rootfs` and the volumes on `sock` (as its fd 3).
fn spawn_gofer(
    self_exe: &Path,
    rootfs: &Path,
    volumes: &[Volume],
    sock: std::os::fd::OwnedFd,
) -> Result<std::process::Child> {
    let mut cmd = Command::new(self_exe);
    cmd.arg("gofer").arg("--root").arg(rootfs).arg("--sock-fd").arg("3");
    for v in volumes {
        let mut arg = v.host.clone().into_os_string();
        if v.readonly {
            arg.push(":ro");
        }
        cmd.arg("--volume").arg(arg);
    }
    let raw = sock.as_raw_fd();
    // SAFETY: the closure allocates nothing and only calls prctl, fcntl,
    // dup2 and close_range, which are async-signal-safe; `raw` is open until
    // the spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            prctl::set_pdeathsig(Signal::SIGKILL)?;
            let tmp = fcntl(BorrowedFd::borrow_raw(raw), FcntlArg::F_DUPFD(64))?;
            // Fd 3 stays open across exec (dup2 clears close-on-exec): the
            // gofer owns it, not this closure.
            let _ = dup2_raw(BorrowedFd::borrow_raw(tmp), 3)?.into_raw_fd();
            libc::syscall(libc::SYS_close_range, 4, u32::MAX, 0);
            Ok(())
        });
    }
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    let child = cmd.spawn().context("cannot start the gofer")?;
    drop(sock);
    Ok(child)
}
