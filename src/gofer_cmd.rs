//! `rvisor gofer`: the gofer process of a sandbox (started by the launcher).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use gofer::confine::{enter_jail, install_seccomp, open_export};
use gofer::server::Server;

#[derive(clap::Args, Debug)]
pub struct GoferArgs {
    /// The directory exported as the sandbox's root filesystem.
    #[arg(long)]
    root: PathBuf,
    /// The gofer's end of the socket to the Sentry.
    #[arg(long)]
    sock_fd: RawFd,
}

pub fn gofer(args: GoferArgs) -> i32 {
    // SAFETY: the launcher passed this fd to us and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(args.sock_fd) };
    let run = || -> std::io::Result<()> {
        let root = open_export(&args.root)?;
        enter_jail(&args.root)?;
        // The server (and the hash keys it needs) exists before the filter.
        let mut server = Server::new(vec![root]);
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
