//! A task's credentials and filesystem context: who it is (ids, groups,
//! capabilities) and where its paths start (root, working directory, umask).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use abi::consts::CAP_FOWNER;

/// A task's identity: real, effective, saved and filesystem ids, groups,
/// and capabilities (bit n for capability n).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub groups: Arc<[u32]>,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
}

impl Credentials {
    /// The credentials of the user who started the sandbox, with the
    /// capabilities it has on the host (a root without some, as in a
    /// container, stays without them inside).
    pub fn of_host_user() -> Credentials {
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        // capget, version 3: two 32-bit words of each set.
        let mut hdr = [0x2008_0522u32, 0];
        let mut data = [[0u32; 3]; 2];
        // SAFETY: capget reads the header and writes two data structs.
        let r = unsafe { libc::syscall(libc::SYS_capget, hdr.as_mut_ptr(), data.as_mut_ptr()) };
        let set = |i: usize| if r == 0 { data[0][i] as u64 | (data[1][i] as u64) << 32 } else { 0 };
        Credentials {
            uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            groups: Arc::from(Vec::new()),
            cap_effective: set(0),
            cap_permitted: set(1),
            cap_inheritable: set(2),
        }
    }

    /// Whether capability `cap` is in the effective set.
    pub fn capable(&self, cap: u32) -> bool {
        self.cap_effective & (1 << cap) != 0
    }

    /// inode_owner_or_capable: the fs uid owns `st`, or CAP_FOWNER.
    pub fn owns(&self, st: &abi::structs::Stat) -> bool {
        st.st_uid == self.fsuid || self.capable(CAP_FOWNER)
    }
}

/// Where a task's paths start: its root (chroot), working directory and umask.
/// Shared by threads (and CLONE_FS), so it locks internally.
pub struct FsContext {
    root: Mutex<vfs::Path>,
    cwd: Mutex<vfs::Path>,
    umask: AtomicU32,
}

impl FsContext {
    pub fn new(root: vfs::Path, cwd: vfs::Path, umask: u32) -> FsContext {
        FsContext { cwd: Mutex::new(cwd), root: Mutex::new(root), umask: AtomicU32::new(umask) }
    }
    /// A copy, for a child that does not share it (fork without CLONE_FS).
    pub fn copy(&self) -> FsContext {
        FsContext::new(self.root(), self.cwd(), self.umask())
    }
    pub fn root(&self) -> vfs::Path {
        self.root.lock().unwrap().clone()
    }
    pub fn cwd(&self) -> vfs::Path {
        self.cwd.lock().unwrap().clone()
    }
    pub fn set_cwd(&self, p: vfs::Path) {
        *self.cwd.lock().unwrap() = p;
    }
    pub fn set_root(&self, p: vfs::Path) {
        *self.root.lock().unwrap() = p;
    }
    pub fn umask(&self) -> u32 {
        self.umask.load(Ordering::Relaxed)
    }
    /// Sets the umask; returns the old one.
    pub fn swap_umask(&self, mask: u32) -> u32 {
        self.umask.swap(mask, Ordering::Relaxed)
    }
}
