//! The Kernel: global state of one sandbox, and the start of its first process.

use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Condvar, Mutex};

use abi::consts::*;
use abi::signal::SigSet;
use abi::Errno;
use vfs::dev::getrandom;
use vfs::host::HostFile;
use vfs::inode::{NewAttrs, NewNode};
use vfs::mount::MountFlags;
use vfs::resolve::Resolver;
use vfs::tmpfs::Tmpfs;
use vfs::{FileDescription, InodeRef, MountNamespace, Path};

use crate::creds::{Credentials, FsContext};
use crate::exec::{
    find_executable, open_interpreter, script_interpreter, Executable, ScriptLine, VfsExec, MAX_SCRIPT_DEPTH,
    SCRIPT_HEAD,
};
use crate::fdtable::{FdEntry, FdTable};
use crate::futex::Futexes;
use crate::limits::Limits;
use crate::loader::{self, AuxInfo, ExecError, Placement};
use crate::mm::{Layout, MemoryManager, MMAP_MIN_ADDR};
use crate::platform::{AddressSpace, Context, CpuClock, Interrupter, Platform, Registers};
use crate::process::{ExitStatus, Process, TaskHandle, Tasks};
use crate::signal::SignalHandlers;
use crate::task::Task;
use vfs::memfile::MemoryFile;
use vfs::waiter::Waiter;

/// Serves a task's system call; implemented by the syscalls crate.
pub trait SyscallTable: Send + Sync {
    /// Runs the syscall in `task.regs` and stores its result there.
    fn dispatch(&self, task: &mut Task);
    /// Answers a 32-bit (`int 0x80`) syscall, which is not offered: ENOSYS.
    fn refuse_syscall32(&self, task: &mut Task);
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
    pub syscalls: Arc<dyn SyscallTable>,
    /// What watches the application's syscalls and faults (--strace).
    pub observers: Vec<Arc<dyn crate::observe::Observer>>,
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

/// What the sandbox's first process runs.
pub struct InitProcess {
    /// The program, found as execvp finds it (PATH from `envp`).
    pub prog: Vec<u8>,
    /// The working directory to start in, a path in the sandbox; if it is
    /// not a directory there, the process does not start
    /// (`InitError::Cwd`).
    pub cwd: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// Host fds that become the process's fds 0, 1, 2 (None: closed).
    pub stdio: Vec<Option<OwnedFd>>,
    pub creds: Credentials,
    pub limits: Limits,
}

/// Why the sandbox's first process did not start.
#[derive(Debug)]
pub enum InitError {
    /// The working directory cannot be entered in the sandbox: what chdir
    /// to it would return (ENOENT, ENOTDIR, EACCES, ...).
    Cwd(Errno),
    /// The program could not be loaded.
    Exec(ExecError),
}

/// A random page-aligned offset below `max`.
fn random_pages(max: u64) -> u64 {
    let mut b = [0u8; 8];
    getrandom(&mut b);
    (u64::from_le_bytes(b) % max) & !(PAGE_SIZE - 1)
}

/// What exec loads: the program as named, where to look for it, and what it gets.
pub struct ExecRequest<'a> {
    pub prog: &'a [u8],
    /// A PATH value to search when `prog` has no '/' (the first process
    /// only: execve itself never searches).
    pub path_env: Option<&'a [u8]>,
    /// An opened executable (execveat on an fd) instead of `prog`.
    pub file: Option<Executable>,
    /// Named through a close-on-exec fd: an interpreter could not open it
    /// again, so a `#!` script is ENOENT.
    pub path_inaccessible: bool,
    pub root: &'a Path,
    pub cwd: &'a Path,
    pub creds: &'a Credentials,
    pub argv: Vec<Vec<u8>>,
    pub envp: &'a [Vec<u8>],
    pub stack_limit: u64,
}

/// A program loaded into a fresh address space, ready to run.
pub struct Program {
    pub mm: MemoryManager,
    pub entry: u64,
    pub sp: u64,
    pub exe: Path,
}

/// The new task's platform side, made on its own host thread.
/// None if the task cannot be made after all (the thread then ends).
pub type TaskBuilder = Box<dyn FnOnce(Box<dyn Context>) -> Option<Task> + Send>;

/// A host thread ready to run a new task (`NewThread::start`).
pub struct NewThread {
    pub handle: Arc<TaskHandle>,
    /// A fresh address space traced by the new thread, if one was asked for.
    pub aspace: Option<Arc<dyn AddressSpace>>,
    start: mpsc::Sender<TaskBuilder>,
}

impl NewThread {
    /// Runs the task `build` makes on the new thread.
    pub fn start(self, build: TaskBuilder) {
        let _ = self.start.send(build);
    }
}

impl Kernel {
    /// An empty address space, laid out at random as Linux does, on the
    /// host thread that will run it.
    fn new_mm(&self, aspace: Arc<dyn AddressSpace>, stack_limit: u64) -> (MemoryManager, Placement) {
        let max_addr = self.platform.max_user_address() & !(PAGE_SIZE - 1);
        let stack_top = max_addr - PAGE_SIZE - random_pages(1 << 30);
        let gap = stack_limit.clamp(128 << 20, max_addr / 6 * 5) + crate::mm::STACK_GUARD_GAP;
        let mmap_base = stack_top - gap - random_pages(1 << 36);
        let layout = Layout { min_addr: MMAP_MIN_ADDR, max_addr, mmap_base };
        let mm = MemoryManager::new(aspace, self.memfile.clone(), layout, stack_limit);
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
        (mm, place)
    }

    /// exec's work up to the point of no return: finds the program (through
    /// `#!` interpreters), and loads it into the fresh address space `aspace`.
    pub fn load_program(&self, aspace: Arc<dyn AddressSpace>, req: ExecRequest<'_>) -> Result<Program, ExecError> {
        let (mm, place) = self.new_mm(aspace, req.stack_limit);
        let creds = req.creds;
        let mut aux = AuxInfo {
            uid: creds.uid,
            euid: creds.euid,
            gid: creds.gid,
            egid: creds.egid,
            hwcap: self.host.hwcap,
            hwcap2: self.host.hwcap2,
            minsigstksz: self.host.minsigstksz,
            random: [0; 16],
        };
        getrandom(&mut aux.random);
        let fs_creds = vfs::FsCreds { uid: creds.euid, gid: creds.egid, groups: Vec::new() };
        let (root, cwd) = (req.root, req.cwd);
        let mut exe = match req.file {
            Some(f) => f,
            None => find_executable(&self.mounts, root, cwd, &fs_creds, req.prog, req.path_env)?,
        };
        // `#!` scripts: run the interpreter on the script, as binfmt_script does.
        let execfn = exe.execfn.clone();
        let mut argv = req.argv;
        for depth in 0..=MAX_SCRIPT_DEPTH + 1 {
            let mut head = vec![0u8; SCRIPT_HEAD];
            let n = exe.file.read_at(&mut head, 0).map_err(|e| ExecError { errno: e, msg: e.message().into() })?;
            head.truncate(n);
            let Some(line) = script_interpreter(&head) else { break };
            if req.path_inaccessible {
                return Err(ExecError { errno: Errno::ENOENT, msg: "a script named by a close-on-exec fd".into() });
            }
            if depth > MAX_SCRIPT_DEPTH {
                return Err(ExecError { errno: Errno::ELOOP, msg: "too many levels of #! interpreters".into() });
            }
            let ScriptLine { interp, arg } = line?;
            let mut new_argv = vec![interp.clone()];
            new_argv.extend(arg);
            new_argv.push(exe.execfn.clone());
            new_argv.extend(argv.into_iter().skip(1));
            argv = new_argv;
            let mut found = find_executable(&self.mounts, root, cwd, &fs_creds, &interp, None)
                .map_err(|e| ExecError { errno: e.errno, msg: format!("{} (the #! interpreter)", e.msg) })?;
            found.execfn = interp;
            exe = found;
        }
        let open_interp = |name: &[u8]| open_interpreter(&self.mounts, root, &fs_creds, name, &self.memfile);
        let src = VfsExec(exe.file.clone(), self.memfile.clone());
        let loaded = loader::load(&mm, &src, &execfn, &argv, req.envp, &aux, place, &open_interp, &self.vdso)?;
        Ok(Program { mm, entry: loaded.entry, sp: loaded.sp, exe: exe.path })
    }

    /// Starts a host thread for a new task: it makes its
    /// platform context and, with `new_aspace`, an address space it traces,
    /// then waits for `NewThread::start`. Returns once those exist.
    pub fn new_thread(self: &Arc<Self>, new_aspace: bool) -> Result<NewThread, Errno> {
        type Ready = Result<(Interrupter, CpuClock, i32, Arc<Waiter>, Option<Arc<dyn AddressSpace>>), String>;
        let (ready_tx, ready_rx) = mpsc::channel::<Ready>();
        let (start_tx, start_rx) = mpsc::channel::<TaskBuilder>();
        let kernel = self.clone();
        let spawned = std::thread::Builder::new().spawn(move || {
            let made = kernel.platform.new_context().and_then(|ctx| {
                let aspace = if new_aspace { Some(kernel.platform.new_address_space()?) } else { None };
                Ok((ctx, aspace))
            });
            let ctx = match made {
                Ok((ctx, aspace)) => {
                    // SAFETY: gettid cannot fail.
                    let host_tid = unsafe { libc::gettid() };
                    let _ =
                        ready_tx.send(Ok((ctx.interrupter(), ctx.cpu_clock(), host_tid, Waiter::current(), aspace)));
                    ctx
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            // The creator may give up (a failed fork): then the thread ends.
            let Ok(build) = start_rx.recv() else { return };
            if let Some(task) = build(ctx) {
                kernel.run_task(task);
            }
        });
        if let Err(e) = spawned {
            crate::warn_limited!("cannot start a task thread: {e}");
            return Err(Errno::EAGAIN);
        }
        match ready_rx.recv() {
            Ok(Ok((interrupter, cpu, host_tid, waiter, aspace))) => {
                let (attention, zapped) = (AtomicBool::new(false), AtomicBool::new(false));
                let handle = Arc::new(TaskHandle { waiter, interrupter, cpu, host_tid, attention, zapped });
                Ok(NewThread { handle, aspace, start: start_tx })
            }
            Ok(Err(e)) => {
                crate::warn_limited!("cannot set up a task: {e}");
                Err(Errno::EAGAIN)
            }
            Err(_) => Err(Errno::EAGAIN),
        }
    }

    /// Runs a task on its host thread to its end, then retires it.
    fn run_task(self: &Arc<Self>, mut task: Task) {
        task.run();
        let tgid = task.tgid;
        let status = task.exit();
        // Done with the address space (it may wait for the others using it).
        task.mm.address_space().release_thread();
        drop(task);
        if let (INIT_PID, Some(status)) = (tgid, status) {
            // The first process is gone: so is the sandbox, as when a pid
            // namespace's init dies.
            let mut ts = self.tasks.lock().unwrap();
            let all: Vec<i32> = ts.processes.keys().copied().collect();
            for p in all {
                ts.start_group_exit(p, ExitStatus::Signaled { sig: abi::signal::SIGKILL, core: false });
            }
            drop(ts);
            *self.init_status.lock().unwrap() = Some(status);
            self.init_exited.notify_all();
        }
    }

    /// Starts the first process and waits for it to exit.
    pub fn run_init(self: &Arc<Self>, init: InitProcess) -> Result<ExitStatus, InitError> {
        let root = self.mounts.root();
        let fs_creds =
            vfs::FsCreds { uid: init.creds.fsuid, gid: init.creds.fsgid, groups: init.creds.groups.to_vec() };
        // As chdir would: the path resolves, is a directory, and may be searched.
        let cwd = Resolver { ns: &self.mounts, root: &root, creds: &fs_creds, restrict: 0 }
            .resolve(&root, &init.cwd, true)
            .and_then(|p| {
                if vfs::inode::file_type(&**p.inode()) != vfs::inode::FileType::Directory {
                    return Err(Errno::ENOTDIR);
                }
                if !p.inode().permission(&fs_creds, vfs::inode::MAY_EXEC) {
                    return Err(Errno::EACCES);
                }
                Ok(p)
            })
            .map_err(InitError::Cwd)?;
        let boot = |what: &str| InitError::Exec(ExecError { errno: Errno::ENOMEM, msg: what.to_string() });
        let thread = self.new_thread(true).map_err(|_| boot("cannot create the first task"))?;
        let aspace = thread.aspace.clone().expect("asked for an address space");
        let path_env =
            init.envp.iter().find_map(|e| e.strip_prefix(b"PATH=")).unwrap_or(b"/usr/local/bin:/usr/bin:/bin").to_vec();
        // The program is loaded on the task's own thread: the address space
        // answers only to it.
        let (loaded_tx, loaded_rx) = mpsc::channel();
        let kernel = self.clone();
        let handle = thread.handle.clone();
        thread.start(Box::new(move |context| {
            let req = ExecRequest {
                prog: &init.prog,
                path_env: Some(&path_env),
                file: None,
                path_inaccessible: false,
                root: &root,
                cwd: &cwd,
                creds: &init.creds,
                argv: init.argv.clone(),
                envp: &init.envp,
                stack_limit: init.limits.get(RLIMIT_STACK).rlim_cur,
            };
            let program = match kernel.load_program(aspace, req) {
                Ok(p) => p,
                Err(e) => {
                    let _ = loaded_tx.send(Some(e));
                    return None;
                }
            };
            let fds = Arc::new(FdTable::default());
            for (n, fd) in init.stdio.into_iter().enumerate() {
                let Some(fd) = fd else { continue };
                let flags = host_fd_flags(&fd);
                let file = FileDescription::new(flags, Box::new(HostFile::new(fd, INIT_PID)), None);
                fds.install_at(n as i32, FdEntry { file: Arc::new(file), cloexec: false });
            }
            let task = Task {
                kernel: kernel.clone(),
                tid: INIT_PID,
                tgid: INIT_PID,
                handle: handle.clone(),
                regs: Registers::for_exec(program.entry, program.sp),
                mm: Arc::new(program.mm),
                fds,
                fs: Arc::new(FsContext::new(root.clone(), cwd, 0o022)),
                creds: init.creds,
                handlers: Arc::new(Mutex::new(SignalHandlers::default())),
                altstack: crate::sigframe::DISABLED_ALTSTACK,
                clear_child_tid: 0,
                robust_list: 0,
                limits: init.limits,
                exe: program.exe,
                exiting: None,
                restart_pending: false,
                restart_block: None,
                saved_mask: None,
                vfork_done: None,
                comm: crate::task::comm_of(&init.prog),
                no_new_privs: false,
                keepcaps: false,
                cap_bset: crate::task::ALL_CAPS,
                context,
                observers: kernel.observers.iter().map(|o| o.task_started()).collect(),
            };
            let mut ts = kernel.tasks.lock().unwrap();
            let mut p = Process::new(INIT_PID, 0, INIT_PID, INIT_PID, task.handlers.clone(), task.limits.share());
            p.threads.push(INIT_PID);
            ts.processes.insert(INIT_PID, p);
            ts.threads.insert(INIT_PID, task.thread_entry(SigSet::default()));
            drop(ts);
            let _ = loaded_tx.send(None);
            Some(task)
        }));
        match loaded_rx.recv() {
            Ok(None) => {}
            Ok(Some(e)) => return Err(InitError::Exec(e)),
            Err(_) => return Err(boot("the first task's thread ended")),
        }
        let mut st = self.init_status.lock().unwrap();
        loop {
            if let Some(s) = *st {
                return Ok(s);
            }
            st = self.init_exited.wait(st).unwrap();
        }
    }

    pub fn task(&self, tid: i32) -> Option<TaskView> {
        self.tasks.lock().unwrap().threads.get(&tid).map(|t| t.view.clone())
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
