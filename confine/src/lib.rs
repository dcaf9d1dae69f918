//! Host confinement, one place for every rVisor process that confines itself:
//! the Sentry, the Gofer and (later) the OCI runtime's sandbox processes.
//!
//! - `mounts`: a private mount namespace, pivot_root into a directory or an
//!   empty read-only root, read-only binds.
//! - `ids`: a child in new user, pid, mount, ipc, uts and net namespaces,
//!   mapped to an unprivileged host id; dropping every capability.
//! - `seccomp`: allow-lists kept as data, each rule with its reason, built
//!   with seccompiler, installed, counted and printed.
//!
//! Nothing here knows about the Sentry or the Gofer; both depend on it.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod ids;
pub mod mounts;
pub mod seccomp;

use std::io;

/// A host call's result as an error that names what failed.
pub fn check(r: libc::c_int, what: &str) -> io::Result<()> {
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

/// A nix error as an io::Error that names what failed.
pub(crate) fn nix_err(what: &str) -> impl FnOnce(nix::Error) -> io::Error + '_ {
    move |e| io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"))
}
