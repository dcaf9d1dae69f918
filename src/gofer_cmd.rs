//! `rvisor gofer`: the gofer process of a sandbox (started by the launcher).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use gofer::confine::{enter_jail, install_seccomp, open_export};
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

pub fn gofer(args: GoferArgs) -> i32 {
    // SAFETY: the launcher passed this fd to us and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(args.sock_fd) };
    let run = || -> std::io::Result<()> {
        // Every export is opened before the jail: afterwards only the fds reach them.
        let mut exports = vec![Export { fd: open_export(&args.root)?, writable: false }];
        for v in &args.volumes {
            let (path, writable) = match v.strip_suffix(":ro") {
                Some(p) => (p, false),
                None => (v.as_str(), true),
            };
            exports.push(Export { fd: open_export(std::path::Path::new(path))?, writable });
        }
        enter_jail(&args.root)?;
        // The server (and the hash keys it needs) exists before the filter.
        let mut server = Server::new(exports);
        install_seccomp()?;
        server.serve(&sock)
    };
    match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rvisor gofer: {e}");
            125
        }
    }
}
