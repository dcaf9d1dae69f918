//! Namespaces and host privilege: a child in new user, pid, mount, ipc, uts
//! and net namespaces that runs as an unprivileged host id, and the end of
//! every capability a process holds.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::prctl;
use nix::unistd::{Gid, Pid, Uid};

use crate::{check, nix_err};

/// The namespaces a sandbox process lives in: it sees, signals and traces
/// only processes of its own pid namespace, holds capabilities only over
/// its own user namespace, and has no host network, IPC or hostname.
const NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWNET;

/// The unprivileged host ids a root caller's sandbox runs as: nobody, nogroup.
pub const NOBODY: u32 = 65534;

/// The host user and group a sandbox process runs as. Inside its user
/// namespace it has the same numbers (the map is the identity on one id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostIds {
    pub uid: u32,
    pub gid: u32,
}

/// What `fork_into_namespaces` returns on each side.
pub enum Forked {
    /// In the caller: the child's pid (in the caller's pid namespace). The
    /// child waits, running nothing of the caller's code, until `release`
    /// lets it go on (dropped unreleased, it exits 125); it dies with the
    /// caller.
    Parent { child: Pid, ids: HostIds, release: Release },
    /// In the child: pid 1 of its pid namespace, already running as `ids`,
    /// with every capability over its own user namespace (and none outside).
    Child { ids: HostIds },
}

/// The caller's hold on a child of `fork_into_namespaces`: the write end
/// of the pipe the child waits on.
pub struct Release {
    pipe: OwnedFd,
    ids: HostIds,
}

impl Release {
    /// Moves the pipe to fd `to` (which it closes first if open), so that
    /// a seccomp rule can name it before `release`.
    pub fn move_to(&mut self, to: RawFd) -> io::Result<()> {
        if self.pipe.as_raw_fd() == to {
            return Ok(());
        }
        // SAFETY: dup2 onto `to`, which the caller gives up; the new fd is
        // owned below, and the old one is closed when its OwnedFd drops.
        check(unsafe { libc::dup2(self.pipe.as_raw_fd(), to) }, "dup2 of the release pipe")?;
        // SAFETY: `to` is the fresh duplicate, owned by nothing else.
        self.pipe = unsafe { OwnedFd::from_raw_fd(to) };
        Ok(())
    }

    /// Lets the child go on: one write(2) of its ids to the pipe, and no
    /// other call (not even an allocation's), so it may come after the
    /// caller's seccomp filter. The returned end must stay open while the
    /// caller lives: the child checks it once it has set its parent-death
    /// signal (the caller may have died before).
    pub fn release(self) -> io::Result<OwnedFd> {
        let mut w = std::fs::File::from(self.pipe);
        let mut msg = [0u8; 8];
        msg[..4].copy_from_slice(&self.ids.uid.to_ne_bytes());
        msg[4..].copy_from_slice(&self.ids.gid.to_ne_bytes());
        w.write_all(&msg)?;
        Ok(w.into())
    }
}

impl AsRawFd for Release {
    fn as_raw_fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }
}

/// Whether `id` has a mapping in the caller's user namespace (a map file
/// of /proc/self), so that a child's map may name it.
fn mapped_here(map: &str, id: u32) -> bool {
    std::fs::read_to_string(map).is_ok_and(|s| {
        s.lines().any(|l| {
            let v: Vec<u64> = l.split_whitespace().filter_map(|f| f.parse().ok()).collect();
            v.len() == 3 && (v[0]..v[0] + v[2]).contains(&(id as u64))
        })
    })
}

/// The ids a child of ours runs as: nobody when we are root and nobody
/// exists in our user namespace, else our own (an unprivileged caller may map
/// only itself).
fn choose_ids() -> (HostIds, bool) {
    let (euid, egid) = (Uid::effective().as_raw(), Gid::effective().as_raw());
    let privileged = euid == 0;
    if privileged && mapped_here("/proc/self/uid_map", NOBODY) && mapped_here("/proc/self/gid_map", NOBODY) {
        return (HostIds { uid: NOBODY, gid: NOBODY }, true);
    }
    (HostIds { uid: euid, gid: egid }, privileged)
}

fn write_map(child: Pid, file: &str, data: &str) -> io::Result<()> {
    let path = format!("/proc/{child}/{file}");
    std::fs::write(&path, data).map_err(|e| io::Error::new(e.kind(), format!("write {path}: {e}")))
}

/// Forks a child into new user, pid, mount, ipc, uts and net namespaces,
/// mapped to an unprivileged host id (see `choose_ids`). The caller writes
/// the child's id maps here; once the caller releases it (`Release`), the
/// child takes those ids (dropping the supplementary groups where the map
/// allows) and dies with the caller (PR_SET_PDEATHSIG). Call it before the
/// process starts any thread: the child goes on running the caller's code.
pub fn fork_into_namespaces() -> io::Result<Forked> {
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(nix_err("pipe2"))?;
    // SAFETY: a fork-like clone (no shared memory, no new stack); the
    // child continues as a copy of this single-threaded process.
    let pid = unsafe { libc::syscall(libc::SYS_clone, NAMESPACES | libc::SIGCHLD, 0, 0, 0, 0) };
    if pid < 0 {
        let e = io::Error::last_os_error();
        let why = "make new user, pid, mount, ipc, uts and net namespaces (user namespaces may be \
                   turned off: user.max_user_namespaces)";
        return Err(io::Error::new(e.kind(), format!("{why}: {e}")));
    }
    if pid == 0 {
        drop(ready_w);
        return child_side(ready_r).map(|ids| Forked::Child { ids });
    }
    drop(ready_r);
    let child = Pid::from_raw(pid as i32);
    let (ids, privileged) = choose_ids();
    let mapped = (|| {
        if !privileged {
            // An unprivileged map needs setgroups refused first.
            write_map(child, "setgroups", "deny")?;
        }
        write_map(child, "uid_map", &format!("{0} {0} 1", ids.uid))?;
        write_map(child, "gid_map", &format!("{0} {0} 1", ids.gid))
    })();
    if let Err(e) = mapped {
        // The child sees the pipe close before any byte and exits.
        drop(ready_w);
        let _ = nix::sys::wait::waitpid(child, None);
        return Err(e);
    }
    Ok(Forked::Parent { child, ids, release: Release { pipe: ready_w, ids } })
}

/// The child's side: wait for the maps, take the ids, die with the parent.
fn child_side(ready: OwnedFd) -> io::Result<HostIds> {
    let mut f = std::fs::File::from(ready);
    let mut msg = [0u8; 8];
    if f.read_exact(&mut msg).is_err() {
        // The parent could not map us (it reports why) or died.
        std::process::exit(125);
    }
    let word = |i: usize| u32::from_ne_bytes([msg[i], msg[i + 1], msg[i + 2], msg[i + 3]]);
    let ids = HostIds { uid: word(0), gid: word(4) };
    become_ids(ids)?;
    // A change of credentials cleared the parent-death signal; set it again,
    // then make sure the parent did not die before it was set: its end of the
    // pipe stays open while it lives.
    prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(nix_err("PR_SET_PDEATHSIG"))?;
    let mut pfd = libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: poll reads and writes one pollfd.
    check(unsafe { libc::poll(&mut pfd, 1, 0) }, "poll the parent")?;
    if pfd.revents & libc::POLLHUP != 0 {
        std::process::exit(125);
    }
    Ok(ids)
}

/// Takes `ids` as real, effective and saved ids, with no supplementary
/// groups when the user namespace lets us drop them.
fn become_ids(ids: HostIds) -> io::Result<()> {
    let (uid, gid) = (Uid::from_raw(ids.uid), Gid::from_raw(ids.gid));
    nix::unistd::setresgid(gid, gid, gid).map_err(nix_err("setresgid"))?;
    match nix::unistd::setgroups(&[]) {
        // Refused where an unprivileged map had to deny setgroups: the
        // groups then show as the overflow group and grant nothing here.
        Ok(()) | Err(nix::Error::EPERM) => {}
        Err(e) => return Err(nix_err("setgroups")(e)),
    }
    nix::unistd::setresuid(uid, uid, uid).map_err(nix_err("setresuid"))
}

/// Whether capability `cap` is in the calling thread's effective set.
fn effective_capability(cap: u32) -> bool {
    let hdr = [0x2008_0522u32, 0];
    let mut data = [[0u32; 3]; 2];
    // SAFETY: capget reads the header and writes two data structs.
    let r = unsafe { libc::syscall(libc::SYS_capget, hdr.as_ptr(), data.as_mut_ptr()) };
    r == 0 && data[(cap / 32) as usize][0] & 1 << (cap % 32) != 0
}

/// Makes the calling process (outside the namespaces, e.g. a child's
/// supervisor) as unprivileged as its child: `ids`, no capabilities, still
/// dying with its own parent.
pub fn become_unprivileged(ids: HostIds) -> io::Result<()> {
    let parent = nix::unistd::getppid();
    // The bounding set first: dropping from it takes CAP_SETPCAP, which the
    // change of ids below takes away from a root caller.
    drop_bounding_set(&[])?;
    become_ids(ids)?;
    // The change of credentials cleared the parent-death signal.
    prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(nix_err("PR_SET_PDEATHSIG"))?;
    if nix::unistd::getppid() != parent {
        std::process::exit(125);
    }
    drop_capabilities(&[])
}

/// Drops every capability but `keep` from the bounding, ambient, inheritable,
/// permitted and effective sets, sets no_new_privs, and makes the process
/// non-dumpable (so a host process with the same uid cannot ptrace it or
/// read its memory through /proc).
pub fn drop_capabilities(keep: &[u32]) -> io::Result<()> {
    let kept = drop_bounding_set(keep)?;
    // capset, version 3: two 32-bit words of each set (effective,
    // permitted, inheritable).
    let hdr = [0x2008_0522u32, 0];
    let lo = kept as u32;
    let hi = (kept >> 32) as u32;
    let data = [[lo, lo, 0u32], [hi, hi, 0]];
    // SAFETY: capset reads the header and two data structs.
    let r = unsafe { libc::syscall(libc::SYS_capset, hdr.as_ptr(), data.as_ptr()) };
    check(r as libc::c_int, "capset")?;
    prctl::set_no_new_privs().map_err(nix_err("PR_SET_NO_NEW_PRIVS"))?;
    prctl::set_dumpable(false).map_err(nix_err("PR_SET_DUMPABLE"))
}

/// Drops every capability but `keep` from the bounding and ambient sets, so
/// that none can come back (by exec or otherwise); returns `keep` as a mask.
/// A process without CAP_SETPCAP (an unprivileged caller) cannot change its
/// bounding set, and leaves it: with nothing permitted and no_new_privs it
/// gains nothing from it.
fn drop_bounding_set(keep: &[u32]) -> io::Result<u64> {
    let kept: u64 = keep.iter().fold(0, |m, &c| m | 1 << c);
    if !effective_capability(abi::consts::CAP_SETPCAP) {
        return Ok(kept);
    }
    for c in 0..64 {
        // SAFETY: prctl with integer arguments.
        let bounded = unsafe { libc::prctl(libc::PR_CAPBSET_READ, c as libc::c_ulong, 0, 0, 0) };
        // 0: already dropped; EINVAL: past the kernel's last capability.
        if kept & 1 << c != 0 || bounded <= 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) };
        check(r, "PR_CAPBSET_DROP")?;
    }
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
    check(r, "clear the ambient capabilities")?;
    Ok(kept)
}
