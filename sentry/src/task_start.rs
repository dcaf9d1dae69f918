//! Starting tasks: the host thread of each new task (`Kernel::new_thread`,
//! which makes its platform context and, for a new process, its address
//! space), its run to the end, and the sandbox's first process
//! (`Kernel::run_init`), as gVisor's task_start.go.

use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex};

use abi::consts::*;
use abi::signal::SigSet;
use abi::Errno;
use vfs::host::HostFile;
use vfs::resolve::Resolver;
use vfs::waiter::Waiter;
use vfs::FileDescription;

use crate::creds::{Credentials, FsContext};
use crate::exec::ExecRequest;
use crate::fdtable::{FdEntry, FdTable};
use crate::kernel::Kernel;
use crate::limits::Limits;
use crate::loader::ExecError;
use crate::platform::{AddressSpace, Context, CpuClock, Interrupter, Registers};
use crate::process::{ExitStatus, Process, TaskHandle, INIT_PID};
use crate::signal::SignalHandlers;
use crate::task::Task;

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
    /// What serves the sandbox's syscalls, and what watches them.
    pub syscalls: Arc<dyn crate::task::SyscallTable>,
    pub observers: Arc<[Arc<dyn crate::observe::Observer>]>,
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
                observers: init.observers.iter().map(|o| o.task_started()).collect(),
                syscalls: init.syscalls,
                watchers: init.observers,
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
