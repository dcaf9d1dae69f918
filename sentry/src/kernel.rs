//! The Kernel: global state of one sandbox, and the start of its first process.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::Mutex;

use abi::consts::*;
use abi::Errno;
use vfs::dev::getrandom;
use vfs::host::HostFile;
use vfs::inode::{NewAttrs, NewNode};
use vfs::mount::MountFlags;
use vfs::resolve::Resolver;
use vfs::tmpfs::Tmpfs;
use vfs::{FileDescription, InodeRef, MountNamespace, Path};

use crate::exec::{
    find_executable, open_interpreter, script_interpreter, ScriptLine, VfsExec, MAX_SCRIPT_DEPTH, SCRIPT_HEAD,
};
use crate::fdtable::{FdEntry, FdTable};
use crate::limits::Limits;
use crate::loader::{self, AuxInfo, ExecError, Placement};
use crate::mm::{Layout, MemoryManager, MMAP_MIN_ADDR};
use crate::platform::{Platform, Registers};
use crate::signal::SignalHandlers;
use crate::task::{Credentials, ExitStatus, FsContext, Task};
use vfs::memfile::MemoryFile;

/// Serves a task's system call; implemented by the syscalls crate.
pub trait SyscallTable: Send + Sync {
    /// Runs the syscall in `task.regs` and stores its result there.
    fn dispatch(&self, task: &mut Task);
}

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
}

impl HostInfo {
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
        }
    }
}

/// What the rest of the kernel (procfs) may see of a running task.
#[derive(Clone)]
pub struct TaskView {
    pub tid: i32,
    pub tgid: i32,
    pub uid: u32,
    pub gid: u32,
    pub fds: Arc<FdTable>,
    pub fs: Arc<FsContext>,
    pub mm: Arc<MemoryManager>,
    /// The executable.
    pub exe: Path,
}

pub struct Kernel {
    /// Where memfd_create's files live: a tmpfs mounted nowhere.
    pub memfd_root: vfs::Path,
    pub platform: Arc<dyn Platform>,
    pub memfile: Arc<MemoryFile>,
    pub mounts: Arc<MountNamespace>,
    /// Running tasks by thread id.
    pub tasks: Mutex<BTreeMap<i32, TaskView>>,
    pub syscalls: Arc<dyn SyscallTable>,
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
        for (name, rdev) in vfs::dev::MEM_DEVICES {
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

/// What the sandbox's first process runs.
pub struct InitProcess {
    /// The program, found as execvp finds it (PATH from `envp`).
    pub prog: Vec<u8>,
    /// The working directory to start in; the root if the sandbox lacks it.
    pub cwd: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// Host fds that become the process's fds 0, 1, 2 (None: closed).
    pub stdio: Vec<Option<OwnedFd>>,
    pub creds: Credentials,
    pub limits: Limits,
}

/// The pid, in the sandbox's pid namespace, of its first process.
pub const INIT_PID: i32 = 1;

/// A random page-aligned offset below `max`.
fn random_pages(max: u64) -> u64 {
    let mut b = [0u8; 8];
    getrandom(&mut b);
    (u64::from_le_bytes(b) % max) & !(PAGE_SIZE - 1)
}

impl Kernel {
    /// Creates the first process on the calling thread, which becomes its task
    /// thread, and runs it to the end.
    pub fn run_init(self: &Arc<Self>, init: InitProcess) -> Result<ExitStatus, ExecError> {
        let boot =
            |what: &str, e: &dyn std::fmt::Display| ExecError { errno: Errno::ENOMEM, msg: format!("{what}: {e}") };
        let context = self.platform.new_context().map_err(|e| boot("cannot create a task context", &e))?;
        let aspace = self.platform.new_address_space().map_err(|e| boot("cannot create an address space", &e))?;

        let stack_limit = init.limits.get(RLIMIT_STACK).rlim_cur;
        let max_addr = self.platform.max_user_address() & !(PAGE_SIZE - 1);
        let stack_top = max_addr - PAGE_SIZE - random_pages(1 << 30);
        let gap = stack_limit.clamp(128 << 20, max_addr / 6 * 5) + crate::mm::STACK_GUARD_GAP;
        let mmap_base = stack_top - gap - random_pages(1 << 36);
        let layout = Layout { min_addr: MMAP_MIN_ADDR, max_addr, mmap_base };
        let mm = Arc::new(MemoryManager::new(aspace, self.memfile.clone(), layout, stack_limit));

        let place = Placement {
            pie_base: 0x5555_5555_4000 + random_pages(1 << 36),
            stack_top,
            brk_offset: random_pages(32 << 20),
            stack_limit,
            stack_offset: {
                let mut b = [0u8; 2];
                getrandom(&mut b);
                u16::from_le_bytes(b) as u64 % 8192
            },
        };
        let mut aux = AuxInfo {
            uid: init.creds.uid,
            euid: init.creds.euid,
            gid: init.creds.gid,
            egid: init.creds.egid,
            hwcap: self.host.hwcap,
            hwcap2: self.host.hwcap2,
            minsigstksz: self.host.minsigstksz,
            random: [0; 16],
        };
        getrandom(&mut aux.random);
        let root = self.mounts.root();
        let fs_creds = vfs::FsCreds { uid: init.creds.euid, gid: init.creds.egid, groups: Vec::new() };
        let path_env =
            init.envp.iter().find_map(|e| e.strip_prefix(b"PATH=")).unwrap_or(b"/usr/local/bin:/usr/bin:/bin").to_vec();
        let cwd = Resolver { ns: &self.mounts, root: &root, creds: &fs_creds, restrict: 0 }
            .resolve(&root, &init.cwd, true)
            .ok()
            .filter(|p| vfs::inode::file_type(&**p.inode()) == vfs::inode::FileType::Directory)
            .unwrap_or_else(|| root.clone());
        let mut exe = find_executable(&self.mounts, &root, &cwd, &fs_creds, &init.prog, &path_env)?;
        // `#!` scripts: run the interpreter on the script, as binfmt_script does.
        let execfn = exe.execfn.clone();
        let mut argv = init.argv.clone();
        for depth in 0..=MAX_SCRIPT_DEPTH + 1 {
            let mut head = vec![0u8; SCRIPT_HEAD];
            let n = exe.file.read_at(&mut head, 0).map_err(|e| ExecError { errno: e, msg: e.message().into() })?;
            head.truncate(n);
            let Some(line) = script_interpreter(&head) else { break };
            if depth > MAX_SCRIPT_DEPTH {
                return Err(ExecError { errno: Errno::ELOOP, msg: "too many levels of #! interpreters".into() });
            }
            let ScriptLine { interp, arg } = line?;
            let mut new_argv = vec![interp.clone()];
            new_argv.extend(arg);
            new_argv.push(exe.execfn.clone());
            new_argv.extend(argv.into_iter().skip(1));
            argv = new_argv;
            let mut found = find_executable(&self.mounts, &root, &cwd, &fs_creds, &interp, b"")
                .map_err(|e| ExecError { errno: e.errno, msg: format!("{} (the #! interpreter)", e.msg) })?;
            found.execfn = interp;
            exe = found;
        }
        let open_interp = |name: &[u8]| open_interpreter(&self.mounts, &root, &fs_creds, name);
        let src = VfsExec(exe.file.clone());
        let loaded = loader::load(&mm, &src, &execfn, &argv, &init.envp, &aux, place, &open_interp)?;

        let fds = Arc::new(FdTable::default());
        for (n, fd) in init.stdio.into_iter().enumerate() {
            let Some(fd) = fd else { continue };
            let flags = host_fd_flags(&fd);
            let file = FileDescription::new(flags, Box::new(HostFile::new(fd, INIT_PID)), None);
            fds.install_at(n as i32, FdEntry { file: Arc::new(file), cloexec: false });
        }

        let mut task = Task {
            kernel: self.clone(),
            tid: INIT_PID,
            tgid: INIT_PID,
            ppid: 0,
            pgid: INIT_PID,
            regs: Registers::for_exec(loaded.entry, loaded.sp),
            mm,
            fds,
            creds: init.creds,
            signal_mask: Default::default(),
            pending: Default::default(),
            handlers: SignalHandlers::default(),
            clear_child_tid: 0,
            robust_list: 0,
            limits: init.limits,
            fs: Arc::new(FsContext::new(root.clone(), cwd, 0o022)),
            exit_status: None,
            context,
        };
        let view = TaskView {
            tid: task.tid,
            tgid: task.tgid,
            uid: task.creds.euid,
            gid: task.creds.egid,
            fds: task.fds.clone(),
            fs: task.fs.clone(),
            mm: task.mm.clone(),
            exe: exe.path.clone(),
        };
        self.tasks.lock().unwrap().insert(task.tid, view);
        let status = task.run();
        self.tasks.lock().unwrap().remove(&task.tid);
        Ok(status)
    }

    pub fn task(&self, tid: i32) -> Option<TaskView> {
        self.tasks.lock().unwrap().get(&tid).cloned()
    }
}

/// The access mode and status flags of a host fd, as the sandbox's description
/// starts with them (O_NONBLOCK is kept on the sandbox side only).
fn host_fd_flags(fd: &OwnedFd) -> u32 {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFL only reads the fd's flags.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if fl < 0 {
        O_RDWR
    } else {
        (fl as u32) & (O_ACCMODE | O_APPEND) | O_LARGEFILE
    }
}
