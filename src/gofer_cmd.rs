//! `rvisor gofer`: the gofer process of a sandbox (started by the launcher).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use abi::consts::{CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID};
use anyhow::Context;
use confine::ids::drop_capabilities;
use confine::mounts::{enter_jail, open_export, private_mount_namespace};
use gofer::server::{Export, Server};

#[derive(clap::Args, Debug)]
pub struct GoferArgs {
    /// The directory exported as the sandbox's root filesystem.
    #[arg(long)]
    root: PathBuf,
    /// The gofer's end of the socket to the Sentry.
    #[arg(long)]
    sock_fd: RawFd,
    /// Volumes to export after the root, as HOST or HOST:ro.
    #[arg(long = "volume")]
    volumes: Vec<String>,
}

/// The capabilities the gofer keeps: reading any file the sandbox's root may
/// read and, with a writable volume, changing files the way root may.
fn kept_capabilities(writable: bool) -> Vec<u32> {
    let mut keep = vec![CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH];
    if writable {
        keep.extend([CAP_CHOWN, CAP_FOWNER, CAP_FSETID]);
    }
    keep
}

pub fn gofer(args: GoferArgs) -> ! {
    // SAFETY: the launcher passed this fd to us and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(args.sock_fd) };
    let code = match serve(&args, &sock) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rvisor gofer: {e:#}");
            crate::launch::EXIT_RVISOR
        }
    };
    // Straight to exit_group: the filter allows nothing of what the runtime's
    // cleanup would do.
    // SAFETY: _exit ends the process; nothing is left to flush (stderr is
    // unbuffered).
    unsafe { libc::_exit(code) }
}

/// Confines the gofer and serves the Sentry until it goes away.
fn serve(args: &GoferArgs, sock: &OwnedFd) -> anyhow::Result<()> {
    private_mount_namespace().context("cannot make a mount namespace of its own")?;
    // Volumes are opened before the jail: afterwards only their fds reach
    // them. A read-only one is a read-only copy of its mounts.
    let mut volumes = Vec::new();
    for v in &args.volumes {
        let (path, writable) = match v.strip_suffix(":ro") {
            Some(p) => (p, false),
            None => (v.as_str(), true),
        };
        let fd = open_export(Path::new(path), !writable).with_context(|| format!("cannot export the volume {path}"))?;
        volumes.push(Export { fd, writable });
    }
    // The root export is read-only: every mount of it, in our namespace.
    enter_jail(&args.root).with_context(|| format!("cannot confine itself to {}", args.root.display()))?;
    let root = open_export(Path::new("/"), false).context("cannot export the root filesystem")?;
    let mut exports = vec![Export { fd: root, writable: false }];
    exports.extend(volumes);
    let writable = exports.iter().any(|e| e.writable);
    drop_capabilities(&kept_capabilities(writable)).context("cannot drop its capabilities")?;
    let mut server = Server::new(exports);
    let trap = std::env::var_os("RVISOR_SECCOMP_TRAP").is_some();
    gofer::seccomp::policy(writable).install(trap).context("cannot install its seccomp filter")?;
    server.serve(sock).context("the socket to the sentry failed")
}
