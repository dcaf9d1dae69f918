//! The Kernel: global state of one sandbox, and the start of its first process.

use std::sync::{Arc, Condvar, Mutex};

use abi::consts::*;
use abi::Errno;
use vfs::inode::{NewAttrs, NewNode};
use vfs::mount::MountFlags;
use vfs::resolve::Resolver;
use vfs::tmpfs::Tmpfs;
use vfs::{InodeRef, MountNamespace, Path};

use crate::futex::Futexes;
use crate::platform::Platform;
use crate::process::{ExitStatus, Tasks};
use vfs::memfile::MemoryFile;

/// Host facts the Sentry reads once at boot, before its seccomp filter is in force.
#[derive(Clone, Debug)]
pub struct HostInfo {
    /// The CPUs the sandbox may use, as the host's sched_getaffinity returned
    /// them: its length is the kernel's cpumask size.
    pub cpu_mask: Vec<u8>,
    /// The kernel's nr_cpu_ids (sched_getaffinity needs a mask at least this wide).
    pub nr_cpu_ids: usize,
    pub hwcap: u64,
    pub hwcap2: u64,
    pub minsigstksz: u64,
    /// Total and free RAM as the host reported them at boot (bytes).
    pub totalram: u64,
    pub freeram: u64,
    /// The resolution of each host clock the sandbox reads (by clock id;
    /// None for ids the host lacks), read once so that clock_getres needs
    /// no host call.
    pub clock_res: [Option<abi::structs::Timespec>; 12],
    /// The host's pid space and thread limit (kernel.pid_max, threads-max).
    pub pid_max: usize,
    pub threads_max: usize,
}

/// A number in a /proc/sys file.
fn read_sysctl(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl HostInfo {
    /// The default cap on a sandbox's tasks: 1024, or less where the host's
    /// pid or thread space is small: each sandbox task costs the host two
    /// (a Sentry thread and a stub's), and a sandbox takes at most a
    /// sixteenth of either.
    pub fn default_pids_max(&self) -> usize {
        1024.min(self.pid_max / 16).min(self.threads_max / 16).max(64)
    }

    /// The default cap on the sandbox's application memory: the host's RAM
    /// minus a reserve of an eighth of it (at least 512 MiB), so that the
    /// Sentry's own OOM killer acts before the host's has to.
    pub fn default_memory_max(&self) -> u64 {
        let reserve = (self.totalram / 8).max(512 << 20);
        self.totalram.saturating_sub(reserve).max(64 << 20)
    }

    pub fn read() -> HostInfo {
        let mut mask = vec![0u8; 1024];
        // SAFETY: the host writes at most `mask.len()` bytes into `mask`.
        let n = unsafe { libc::syscall(libc::SYS_sched_getaffinity, 0, mask.len(), mask.as_mut_ptr()) };
        mask.truncate(if n > 0 { n as usize } else { 8 });
        // SAFETY: sysconf and getauxval only read process state.
        let (nr_cpu_ids, hwcap, hwcap2, minsig) = unsafe {
            (
                libc::sysconf(libc::_SC_NPROCESSORS_CONF).max(1) as usize,
                libc::getauxval(libc::AT_HWCAP),
                libc::getauxval(libc::AT_HWCAP2),
                libc::getauxval(AT_MINSIGSTKSZ),
            )
        };
        // SAFETY: sysinfo fills one struct.
        let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::sysinfo(&mut si) };
        let unit = si.mem_unit.max(1) as u64;
        HostInfo {
            cpu_mask: mask,
            nr_cpu_ids,
            hwcap,
            hwcap2,
            minsigstksz: minsig,
            totalram: si.totalram * unit,
            freeram: si.freeram * unit,
            clock_res: std::array::from_fn(|id| crate::host::clock_getres(id as i32).ok()),
            pid_max: read_sysctl("/proc/sys/kernel/pid_max").unwrap_or(32768),
            threads_max: read_sysctl("/proc/sys/kernel/threads-max").unwrap_or(32768),
        }
    }
}

pub use crate::process::{TaskView, INIT_PID};

pub struct Kernel {
    /// Where memfd_create's files live: a tmpfs mounted nowhere.
    pub memfd_root: vfs::Path,
    pub platform: Arc<dyn Platform>,
    pub memfile: Arc<MemoryFile>,
    pub mounts: Arc<MountNamespace>,
    /// Processes and threads.
    pub tasks: Mutex<Tasks>,
    pub futexes: Futexes,
    pub timers: Arc<crate::timer::TimerService>,
    /// The vDSO every exec maps.
    pub vdso: Arc<crate::vdso::Vdso>,
    /// The first process's status, once it has exited.
    pub init_status: Mutex<Option<ExitStatus>>,
    pub init_exited: Condvar,
    /// Makes room when the application memory reaches its cap.
    pub oom: Arc<crate::oom::OomKiller>,
    pub hostname: String,
    pub host: HostInfo,
}

/// The sandbox's mount tree: an overlay of a tmpfs over `root` (the gofer's
/// read-only export of the rootfs) or, without one, an empty tmpfs; /tmp,
/// /dev and /dev/shm are tmpfs mounts of their own, /dev holding the memory
/// devices. A mount whose mount point the root lacks is left out.
pub fn initial_mounts(
    mf: &Arc<MemoryFile>,
    root: Option<InodeRef>,
    volumes: Vec<(Vec<u8>, InodeRef, MountFlags)>,
) -> Result<Arc<MountNamespace>, String> {
    let attrs = |ty: u32, mode: u32| NewAttrs { mode: ty | mode, uid: 0, gid: 0 };
    let fresh = "a fresh tmpfs has room for these names";
    let mut next_dev = TMPFS_DEV_BASE;
    let mut new_tmpfs = |mode: u32| {
        next_dev += 1;
        Tmpfs::new_root(mf.clone(), next_dev, attrs(S_IFDIR, mode))
    };
    let root = match root {
        // The host's tree below, the sandbox's own writes above.
        Some(lower) => {
            let mode = lower.stat().st_mode & 0o7777;
            let upper = new_tmpfs(mode).inode().clone();
            vfs::Dentry::new_root(vfs::overlay::OverlayNode::root(lower, upper, OVERLAY_DEV))
        }
        None => new_tmpfs(0o755),
    };
    let ns = Arc::new(MountNamespace::new(root.clone()));
    let mount_point = |name: &[u8], mode: u32| {
        let d = root.lookup(name).or_else(|_| root.create(name, NewNode::Directory, attrs(S_IFDIR, mode))).ok()?;
        Some(Path { mount: ns.root().mount, dentry: d })
    };
    if let Some(at) = mount_point(b"tmp", 0o1777) {
        ns.mount(&at, new_tmpfs(0o1777), MountFlags::default());
    }
    // procfs needs the kernel; it is mounted on this by `procfs::mount`.
    let _ = mount_point(b"proc", 0o555);
    // /dev: a tmpfs of its own, as in containers, with the memory devices,
    // the /proc/self/fd links and /dev/shm.
    if let Some(at) = mount_point(b"dev", 0o755) {
        let dev = new_tmpfs(0o755);
        let dev_mount = ns.mount(&at, dev.clone(), MountFlags::default());
        for (name, rdev) in vfs::dev::MEM_DEVICES.into_iter().chain([(&b"tty"[..], vfs::dev::TTY)]) {
            dev.create(name, NewNode::CharDev(rdev), attrs(S_IFCHR, 0o666)).expect(fresh);
        }
        for (name, target) in [
            (&b"fd"[..], &b"/proc/self/fd"[..]),
            (b"stdin", b"/proc/self/fd/0"),
            (b"stdout", b"/proc/self/fd/1"),
            (b"stderr", b"/proc/self/fd/2"),
        ] {
            dev.create(name, NewNode::Symlink(target), attrs(S_IFLNK, 0o777)).expect(fresh);
        }
        let shm_at = dev.create(b"shm", NewNode::Directory, attrs(S_IFDIR, 0o1777)).expect(fresh);
        ns.mount(&Path { mount: dev_mount, dentry: shm_at }, new_tmpfs(0o1777), MountFlags::default());
    }
    for (at, inode, flags) in volumes {
        let point =
            make_dirs(&ns, &at).map_err(|e| format!("volume mount point {}: {e}", String::from_utf8_lossy(&at)))?;
        ns.mount(&point, vfs::Dentry::new_root(inode), flags);
    }
    Ok(ns)
}

/// `mkdir -p`: resolves `path` from the root, making missing directories.
fn make_dirs(ns: &MountNamespace, path: &[u8]) -> Result<Path, Errno> {
    let root = ns.root();
    let creds = vfs::FsCreds::default();
    let r = Resolver { ns, root: &root, creds: &creds, restrict: 0 };
    let mut cur = root.clone();
    for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        cur = match r.resolve(&cur, comp, true) {
            Ok(p) => p,
            Err(Errno::ENOENT) => {
                let attrs = NewAttrs { mode: S_IFDIR | 0o755, uid: 0, gid: 0 };
                let d = cur.dentry.create(comp, NewNode::Directory, attrs)?;
                Path { mount: cur.mount.clone(), dentry: d }
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

/// The device number the overlay root reports.
const OVERLAY_DEV: u64 = 0x2f;

/// Device numbers of the sandbox's tmpfs instances (major 0, as Linux's anonymous devices).
const TMPFS_DEV_BASE: u64 = 0x20;

impl Kernel {
    pub fn task(&self, tid: i32) -> Option<TaskView> {
        self.tasks.lock().unwrap().threads.get(&tid).map(|t| t.view.clone())
    }
}
