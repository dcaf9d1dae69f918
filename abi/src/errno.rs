//! Linux errno values, including the kernel-internal restart codes.

use std::fmt;

/// A Linux errno value (positive), as a syscall returns it negated.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

include!("errno_table.rs");

impl Errno {
    /// The syscall is restarted after a signal if the handler has SA_RESTART.
    pub const ERESTARTSYS: Errno = Errno(512);
    /// The syscall is always restarted after a signal.
    pub const ERESTARTNOINTR: Errno = Errno(513);
    /// The syscall is restarted only if no handler ran.
    pub const ERESTARTNOHAND: Errno = Errno(514);
    /// The syscall is restarted through restart_syscall(2).
    pub const ERESTART_RESTARTBLOCK: Errno = Errno(516);

    /// The symbolic name, e.g. `EFAULT`.
    pub fn name(self) -> Option<&'static str> {
        match self.0 {
            512 => Some("ERESTARTSYS"),
            513 => Some("ERESTARTNOINTR"),
            514 => Some("ERESTARTNOHAND"),
            516 => Some("ERESTART_RESTARTBLOCK"),
            n => lookup(n).map(|e| e.1),
        }
    }

    /// The message strerror gives, e.g. `Bad address`.
    pub fn message(self) -> &'static str {
        match self.0 {
            512..=516 => "To be restarted",
            n => lookup(n).map_or("Unknown error", |e| e.2),
        }
    }

    /// The value a syscall returns in rax for this error.
    pub fn as_return(self) -> u64 {
        (-(self.0 as i64)) as u64
    }

    /// Converts a host `std::io::Error` into the errno it carries (EIO if none).
    pub fn from_io(e: &std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(5))
    }
}

fn lookup(n: i32) -> Option<&'static (i32, &'static str, &'static str)> {
    ERRNO_NAMES.binary_search_by_key(&n, |e| e.0).ok().map(|i| &ERRNO_NAMES[i])
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self, self.message())
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages() {
        assert_eq!(Errno::EFAULT.name(), Some("EFAULT"));
        assert_eq!(Errno::EFAULT.message(), "Bad address");
        assert_eq!(Errno::EAGAIN, Errno::EWOULDBLOCK);
        assert_eq!(Errno::EOPNOTSUPP.name(), Some("EOPNOTSUPP"));
        assert_eq!(Errno::ERESTARTSYS.name(), Some("ERESTARTSYS"));
        assert_eq!(Errno(9999).name(), None);
        assert_eq!(Errno::ENOSYS.as_return(), (-38i64) as u64);
        assert_eq!(format!("{}", Errno::ENOENT), "ENOENT (No such file or directory)");
    }
}
