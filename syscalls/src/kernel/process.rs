//! Processes: clone, clone3, fork, vfork, execve, execveat, wait4, waitid.
//!
//! A new process gets a host thread of its own and a copy-on-write copy of
//! the address space (a new stub on the ptrace platform). Threads sharing an
//! address space (CLONE_VM) are not offered yet; vfork, whose child shares
//! its parent's memory until it execs or exits, is served as a fork whose
//! parent waits for that moment, so the child's writes before exec stay its
//! own.

use std::sync::{Arc, Mutex};

use abi::consts::*;
use abi::signal::*;
use abi::Errno;
use sentry::eventfiles::PidFd;
use sentry::kernel::{ExecRequest, TaskBuilder};
use sentry::process::{ExitStatus, JobReport, Life, Process, PtraceMode};
use sentry::task::VforkDone;
use sentry::{SyscallResult, Task};

use crate::args::{Fd, UserCStr, UserPtr};
use crate::fs::path::{lookup, LookupFlags};
use crate::kernel::rusage::{ticks, Rusage};

const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_PTRACE: u64 = 0x2000;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_PARENT: u64 = 0x8000;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_NEWNS: u64 = 0x20000;
const CLONE_SYSVSEM: u64 = 0x40000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_CLEARTID: u64 = 0x200000;
const CLONE_DETACHED: u64 = 0x400000;
const CLONE_UNTRACED: u64 = 0x800000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;
const CLONE_NEWCGROUP: u64 = 0x200_0000;
const CLONE_NEWUTS: u64 = 0x400_0000;
const CLONE_NEWIPC: u64 = 0x800_0000;
const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWPID: u64 = 0x2000_0000;
const CLONE_NEWNET: u64 = 0x4000_0000;
const CLONE_IO: u64 = 0x8000_0000;
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_RESOURCE: u32 = 24;
const NAMESPACES: u64 =
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

/// clone's arguments, as clone3 takes them.
#[derive(Clone, Copy, Debug, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    tls: u64,
}

pub fn clone(t: &mut Task, flags: u64, stack: u64, parent_tid: u64, child_tid: u64, tls: u64) -> SyscallResult {
    let args = CloneArgs {
        flags: flags & !0xff & 0xffff_ffff,
        exit_signal: flags & 0xff,
        stack,
        parent_tid,
        child_tid,
        tls,
        // clone reports a pidfd where the parent tid would go.
        pidfd: parent_tid,
    };
    if args.flags & CLONE_PIDFD != 0 && args.flags & CLONE_PARENT_SETTID != 0 {
        return Err(Errno::EINVAL);
    }
    do_clone(t, args)
}

/// struct clone_args, as far as version 2 (88 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
struct CloneArgs3 {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

pub fn clone3(t: &mut Task, uargs: u64, size: usize) -> SyscallResult {
    const VER0: usize = 64;
    if !(VER0..=PAGE_SIZE as usize).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; size];
    t.mm.copy_in(uargs, &mut buf)?;
    let known = std::mem::size_of::<CloneArgs3>();
    if buf.len() > known && buf[known..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    buf.resize(known, 0);
    let a: CloneArgs3 = zerocopy::FromBytes::read_from_bytes(&buf[..]).map_err(|_| Errno::EINVAL)?;
    if a.exit_signal > SIGRTMAX as u64 || a.set_tid != 0 || a.set_tid_size != 0 {
        return Err(Errno::EINVAL);
    }
    if (a.stack == 0) != (a.stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    if a.flags & (CLONE_DETACHED | CLONE_INTO_CGROUP) != 0 {
        return Err(Errno::EINVAL);
    }
    let args = CloneArgs {
        flags: a.flags,
        pidfd: a.pidfd,
        child_tid: a.child_tid,
        parent_tid: a.parent_tid,
        exit_signal: a.exit_signal,
        stack: if a.stack == 0 { 0 } else { a.stack + a.stack_size },
        tls: a.tls,
    };
    do_clone(t, args)
}

pub fn fork(t: &mut Task) -> SyscallResult {
    do_clone(t, CloneArgs { exit_signal: SIGCHLD as u64, ..Default::default() })
}

pub fn vfork(t: &mut Task) -> SyscallResult {
    do_clone(t, CloneArgs { flags: CLONE_VM | CLONE_VFORK, exit_signal: SIGCHLD as u64, ..Default::default() })
}

fn do_clone(t: &mut Task, a: CloneArgs) -> SyscallResult {
    let f = a.flags;
    let known = CLONE_VM
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SIGHAND
        | CLONE_PIDFD
        | CLONE_PTRACE
        | CLONE_VFORK
        | CLONE_PARENT
        | CLONE_THREAD
        | CLONE_SYSVSEM
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_DETACHED
        | CLONE_UNTRACED
        | CLONE_CHILD_SETTID
        | CLONE_IO
        | CLONE_CLEAR_SIGHAND
        | NAMESPACES;
    // Linux's copy_process checks, in its order.
    if f & !known != 0 || (f & (CLONE_NEWNS | CLONE_FS)) == (CLONE_NEWNS | CLONE_FS) {
        return Err(Errno::EINVAL);
    }
    if (f & (CLONE_NEWUSER | CLONE_FS)) == (CLONE_NEWUSER | CLONE_FS) {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0 {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_SIGHAND != 0 && f & CLONE_CLEAR_SIGHAND != 0 {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_PARENT != 0 && t.tgid == sentry::kernel::INIT_PID {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_THREAD != 0 && a.exit_signal != 0 {
        return Err(Errno::EINVAL);
    }
    if f & NAMESPACES != 0 {
        // Namespaces inside the sandbox are not offered.
        return Err(Errno::EPERM);
    }
    if f & CLONE_PIDFD != 0 && f & CLONE_THREAD != 0 {
        return Err(Errno::EINVAL);
    }

    let kernel = t.kernel.clone();
    // RLIMIT_NPROC counts the tasks of the real user; CAP_SYS_ADMIN and
    // CAP_SYS_RESOURCE are above it.
    let nproc = t.limits.get(RLIMIT_NPROC).rlim_cur;
    if nproc != RLIM_INFINITY && !t.creds.capable(CAP_SYS_ADMIN) && !t.creds.capable(CAP_SYS_RESOURCE) {
        let uid = t.creds.uid;
        if t.tasks().threads.values().filter(|th| th.view.creds.uid == uid).count() as u64 >= nproc {
            return Err(Errno::EAGAIN);
        }
    }
    // The new thread's FS base, as arch_prctl(ARCH_SET_FS) takes it (the
    // host would refuse it at the child's first switch).
    if f & CLONE_SETTLS != 0 && a.tls >= TASK_SIZE {
        return Err(Errno::EPERM);
    }
    let tid = t.tasks().alloc_pid()?;
    let share_vm = f & CLONE_VM != 0;
    let fp = t.context.fp_state().map_err(|_| Errno::ENOMEM)?;
    let thread = kernel.new_thread(!share_vm)?;
    // CLONE_VM: the same memory, through a new thread of the stub; else a
    // copy-on-write copy in the new address space.
    let (mm, vm_token) = if share_vm {
        let token = t.mm.address_space().clone_thread().map_err(|e| {
            eprintln!("rvisor: cannot make a thread: {e}");
            Errno::EAGAIN
        })?;
        (t.mm.clone(), Some(token))
    } else {
        // new_thread made one, as asked.
        let aspace = thread.aspace.clone().ok_or(Errno::EAGAIN)?;
        (Arc::new(t.mm.fork(aspace)?), None)
    };
    let tgid = if f & CLONE_THREAD != 0 { t.tgid } else { tid };

    let mut regs = t.regs;
    regs.rax = 0;
    if a.stack != 0 {
        regs.rsp = a.stack;
    }
    if f & CLONE_SETTLS != 0 {
        regs.fs_base = a.tls;
    }
    let fds = if f & CLONE_FILES != 0 { t.fds.clone() } else { Arc::new(t.fds.copy()) };
    let fs = if f & CLONE_FS != 0 { t.fs.clone() } else { Arc::new(t.fs.copy()) };
    // CLONE_SIGHAND shares the handler table; otherwise the child gets a copy.
    let handlers = if f & CLONE_SIGHAND != 0 {
        t.handlers.clone()
    } else {
        let mut h = t.handlers.lock().unwrap().clone();
        if f & CLONE_CLEAR_SIGHAND != 0 {
            h.reset_handled();
        }
        Arc::new(Mutex::new(h))
    };
    if f & CLONE_PARENT_SETTID != 0 {
        // A bad address is ignored, as Linux does.
        let _ = t.mm.write_obj(a.parent_tid, &tid);
    }
    let vfork = (f & CLONE_VFORK != 0).then(|| Arc::new(VforkDone::default()));

    let handle = thread.handle.clone();
    // A new process has limits of its own, equal to its parent's now.
    let process_limits = t.limits.copy();
    let view = sentry::kernel::TaskView {
        tid,
        tgid,
        creds: t.creds.clone(),
        fds: fds.clone(),
        fs: fs.clone(),
        mm: mm.clone(),
        exe: t.exe.clone(),
    };
    let child = {
        let limits = if f & CLONE_THREAD != 0 { t.limits.share() } else { process_limits.share() };
        let (creds, exe, altstack) = (t.creds.clone(), t.exe.clone(), t.altstack);
        let (comm, no_new_privs, keepcaps, cap_bset) = (t.comm, t.no_new_privs, t.keepcaps, t.cap_bset);
        let (kernel, vfork, handlers, handle) = (kernel.clone(), vfork.clone(), handlers.clone(), handle.clone());
        let clear_child_tid = if f & CLONE_CHILD_CLEARTID != 0 { a.child_tid } else { 0 };
        move |mut context: Box<dyn sentry::platform::Context>| {
            if let Some(token) = vm_token {
                if let Err(e) = mm.address_space().adopt_thread(token) {
                    return never_runs(&kernel, tid, vfork.as_deref(), &format!("cannot start a thread: {e}"));
                }
            }
            if let Err(e) = context.set_fp_state(&fp) {
                mm.address_space().release_thread();
                return never_runs(&kernel, tid, vfork.as_deref(), &format!("cannot start a task: {e}"));
            }
            if f & CLONE_CHILD_SETTID != 0 {
                // In the child's memory, by the child's thread (its address
                // space answers only to it). A bad address is ignored, as in Linux.
                let _ = mm.write_obj(a.child_tid, &tid);
            }
            Some(Task {
                kernel,
                tid,
                tgid,
                handle,
                regs,
                mm,
                fds,
                fs,
                creds,
                handlers,
                altstack,
                clear_child_tid,
                robust_list: 0,
                limits,
                exe,
                exiting: None,
                restart_pending: false,
                restart_block: None,
                saved_mask: None,
                vfork_done: vfork,
                comm,
                no_new_privs,
                keepcaps,
                cap_bset,
                context,
            })
        }
    };
    let mask = t.mask();
    let entry = sentry::process::Thread { tgid, handle, mask, pending: Default::default(), waiting_for: 0, view };
    if f & CLONE_THREAD != 0 {
        let mut ts = t.tasks();
        let p = ts.current_process_mut(t);
        p.threads.push(tid);
        // A group exit or an execve already under way takes the new thread too.
        if !p.alive() {
            entry.handle.attention.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if t.handle.zapped.load(std::sync::atomic::Ordering::SeqCst) {
            entry.handle.zapped.store(true, std::sync::atomic::Ordering::SeqCst);
            entry.handle.attention.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        ts.threads.insert(tid, entry);
    } else {
        let mut ts = t.tasks();
        let me = ts.current_process(t);
        let parent = if f & CLONE_PARENT != 0 { me.parent } else { t.tgid };
        let (pgid, sid) = (me.pgid, me.sid);
        let (nice, policy, prio) = (me.nice, me.sched_policy, me.sched_priority);
        let dumpable = me.dumpable;
        // A CLONE_PARENT child is its creator's sibling, and signals the
        // parent as its creator does (Linux: the group leader's exit signal).
        let exit_signal = if f & CLONE_PARENT != 0 { me.exit_signal } else { a.exit_signal as i32 };
        let mut p = Process::new(tid, parent, pgid, sid, handlers, process_limits);
        p.exit_signal = exit_signal;
        // The child's memory is a copy of the parent's, and keeps its flag.
        p.dumpable = dumpable;
        (p.nice, p.sched_policy, p.sched_priority) = (nice, policy, prio);
        p.threads.push(tid);
        ts.processes.insert(tid, p);
        ts.threads.insert(tid, entry);
        if let Some(pp) = ts.process_mut(parent) {
            pp.children.insert(tid);
        }
    }
    thread.start(Box::new(child) as TaskBuilder);
    if f & CLONE_PIDFD != 0 {
        // The pidfd goes where clone3 says (clone: the parent tid pointer).
        let fd = install_pidfd(t, tid, 0)?;
        t.mm.write_obj(a.pidfd, &fd)?;
    }
    if let Some(v) = vfork {
        // The parent sleeps until the child execs or exits; only a fatal
        // signal ends the wait (Linux's killable wait).
        let done = || (*v.done.lock().unwrap()).then_some(Ok(()));
        while v.queue.wait(None, done).is_err() {
            if t.interrupted_killably(&t.tasks()) {
                break;
            }
        }
    }
    Ok(tid as u64)
}

/// A new task that cannot start after all (its host thread could not take
/// over the address space or the FP state): it leaves at once, as if killed,
/// and a vfork parent stops waiting for it.
fn never_runs(kernel: &sentry::Kernel, tid: i32, vfork: Option<&VforkDone>, why: &str) -> Option<Task> {
    eprintln!("rvisor: {why}");
    kernel.tasks.lock().unwrap().exit_thread(tid, ExitStatus::Signaled { sig: SIGKILL, core: false });
    if let Some(v) = vfork {
        v.release();
    }
    None
}

// ---- exec ----

/// Linux's MAX_ARG_STRLEN: one argument or environment string.
const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;
/// Linux's MAX_ARG_STRINGS.
const MAX_ARG_STRINGS: usize = 0x7fff_ffff;

/// Reads a NULL-terminated array of string pointers (argv, envp).
fn read_strings(t: &Task, mut addr: u64) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    let mut total = 0usize;
    let limit = t.limits.get(RLIMIT_STACK).rlim_cur as usize / 4;
    loop {
        let p: u64 = t.mm.read_obj(addr)?;
        if p == 0 {
            return Ok(out);
        }
        let s = t.mm.read_cstring(p, MAX_ARG_STRLEN - 1).map_err(|e| {
            if e == Errno::ENAMETOOLONG {
                Errno::E2BIG
            } else {
                e
            }
        })?;
        total += s.len() + 1 + 8;
        if total > limit.max(128 * 1024) || out.len() >= MAX_ARG_STRINGS {
            return Err(Errno::E2BIG);
        }
        out.push(s);
        addr += 8;
    }
}

pub fn execve(t: &mut Task, path: UserCStr, argv: u64, envp: u64) -> SyscallResult {
    do_execveat(t, Fd(AT_FDCWD), path, argv, envp, 0)
}

pub fn execveat(t: &mut Task, dirfd: Fd, path: UserCStr, argv: u64, envp: u64, flags: u32) -> SyscallResult {
    do_execveat(t, dirfd, path, argv, envp, flags)
}

fn do_execveat(t: &mut Task, dirfd: Fd, path: UserCStr, argv: u64, envp: u64, flags: u32) -> SyscallResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = path.read_path(t)?;
    let how = LookupFlags { follow: flags & AT_SYMLINK_NOFOLLOW == 0, empty_path: flags & AT_EMPTY_PATH != 0 };
    let target = lookup(t, dirfd, path, how)?;
    if !how.follow && vfs::inode::file_type(&**target.inode()) == vfs::inode::FileType::Symlink {
        return Err(Errno::ELOOP);
    }
    let mut argv = read_strings(t, argv)?;
    let envp = read_strings(t, envp)?;
    if argv.is_empty() {
        // Linux gives a program started without arguments an empty argv[0].
        argv.push(Vec::new());
    }
    // AT_EXECFN: the path as given, or /dev/fd/N[/name] for one relative to an fd.
    let execfn = if dirfd.0 == AT_FDCWD || name.first() == Some(&b'/') {
        name.clone()
    } else if name.is_empty() {
        format!("/dev/fd/{}", dirfd.0).into_bytes()
    } else {
        [format!("/dev/fd/{}/", dirfd.0).as_bytes(), &name].concat()
    };
    let creds = t.fs_creds();
    // Linux's would_dump: a program the caller may not read leaves the
    // process not dumpable.
    let readable = target.inode().permission(&creds, vfs::inode::MAY_READ);
    let exe = sentry::exec::open_executable(target, &creds, execfn).map_err(|e| e.errno)?;
    let relative_to_fd = dirfd.0 != AT_FDCWD && name.first() != Some(&b'/');
    let path_inaccessible = relative_to_fd && t.fds.get(dirfd.0).is_ok_and(|e| e.cloexec);

    let kernel = t.kernel.clone();
    let aspace = kernel.platform.new_address_space().map_err(|_| Errno::ENOMEM)?;
    let (root, cwd) = (t.fs.root(), t.fs.cwd());
    let req = ExecRequest {
        prog: &name,
        path_env: None,
        file: Some(exe),
        path_inaccessible,
        root: &root,
        cwd: &cwd,
        creds: &t.creds,
        argv,
        envp: &envp,
        stack_limit: t.limits.get(RLIMIT_STACK).rlim_cur,
    };
    let program = kernel.load_program(aspace, req).map_err(|e| e.errno)?;
    // Other threads end first (Linux's de_thread).
    t.end_other_threads()?;

    // The point of no return: the old program is gone.
    t.release_robust_futexes();
    if t.clear_child_tid != 0 {
        if t.mm.write_obj(t.clear_child_tid, &0u32).is_ok() {
            if let Ok(key) = sentry::futex::Key::of(&t.mm, t.clear_child_tid, false) {
                kernel.futexes.wake(key, 1, u32::MAX);
            }
        }
        t.clear_child_tid = 0;
    }
    t.mm.address_space().release_thread();
    t.mm = Arc::new(program.mm);
    t.regs = sentry::platform::Registers::for_exec(program.entry, program.sp);
    t.exe = program.exe;
    t.comm = sentry::task::comm_of(&name);
    // The fd table is the process's own from here on (CLONE_FILES ends).
    t.fds = Arc::new(t.fds.copy());
    t.fds.close_on_exec();
    let mut handlers = t.handlers.lock().unwrap().clone();
    handlers.reset_for_exec();
    t.handlers = Arc::new(Mutex::new(handlers));
    t.altstack = sentry::sigframe::DISABLED_ALTSTACK;
    t.restart_block = None;
    let old_view = {
        let mut ts = t.tasks();
        let view = t.view();
        let old_view = std::mem::replace(&mut ts.current_thread_mut(t).view, view);
        let p = ts.current_process_mut(t);
        p.handlers = t.handlers.clone();
        p.did_exec = true;
        // The new memory is dumpable unless the ids differ (a set-id
        // program; suid_dumpable 0) or the program was unreadable.
        p.dumpable = readable && t.creds.euid == t.creds.uid && t.creds.egid == t.creds.gid;
        // POSIX timers do not survive exec (interval timers do).
        p.posix_timers.clear();
        old_view
    };
    // The old view may hold the last references to the old fd table (its
    // close-on-exec files close now) and the old memory: they go with
    // `Kernel::tasks` let go, as closing a file may take that lock (see
    // `Task::exit_files`).
    drop(old_view);
    if let Some(v) = t.vfork_done.take() {
        v.release();
    }
    Ok(0)
}

// ---- wait ----

const WNOHANG: i32 = 1;
const WUNTRACED: i32 = 2;
const WEXITED: i32 = 4;
const WCONTINUED: i32 = 8;
const WNOWAIT: i32 = 0x0100_0000;
const WNOTHREAD: i32 = 0x2000_0000;
const WALL: i32 = 0x4000_0000;
const WCLONE: i32 = 0x8000_0000u32 as i32;

/// Which children a wait is for.
#[derive(Clone, Copy, Debug)]
enum Which {
    Any,
    Pid(i32),
    Pgid(i32),
}

/// A child's state change, as a wait reports it.
struct ChildEvent {
    pid: i32,
    /// The wait4 status word.
    status: i32,
    /// waitid's si_code and si_status.
    code: i32,
    si_status: i32,
    /// The child's resource use (with its own reaped children's).
    usage: sentry::process::Usage,
}

/// Finds (or with WNOHANG, looks for) a child whose state change `options`
/// ask for; consumes it unless WNOWAIT.
fn wait_child(t: &Task, which: Which, options: i32) -> Result<Option<ChildEvent>, Errno> {
    let kernel = t.kernel.clone();
    let mut ts = kernel.tasks.lock().unwrap();
    loop {
        let me = ts.current_process(t);
        let kids: Vec<i32> = me
            .children
            .iter()
            .filter_map(|c| ts.process(*c))
            .filter(|p| {
                let selected = match which {
                    Which::Any => true,
                    Which::Pid(pid) => p.tgid == pid,
                    Which::Pgid(g) => p.pgid == g,
                };
                // __WCLONE: children that report with another signal than
                // SIGCHLD; __WALL: all.
                let clone_child = p.exit_signal != SIGCHLD;
                selected && (options & WALL != 0 || clone_child == (options & WCLONE != 0))
            })
            .map(|p| p.tgid)
            .collect();
        if kids.is_empty() {
            return Err(Errno::ECHILD);
        }
        let keep = options & WNOWAIT != 0;
        for k in kids {
            let Some(p) = ts.process(k) else { continue };
            if let (Life::Zombie(st), true) = (p.life, options & WEXITED != 0) {
                let (code, si_status) = st.child_code();
                let mut usage = p.usage;
                usage.add(&p.children_usage);
                if !keep {
                    ts.reap(k);
                }
                return Ok(Some(ChildEvent { pid: k, status: st.wait_status(), code, si_status, usage }));
            }
            let usage = ts.process_usage(k);
            let Some(p) = ts.process_mut(k) else { continue };
            match p.job_report {
                Some(JobReport::Stopped(sig)) if options & WUNTRACED != 0 => {
                    if !keep {
                        p.job_report = None;
                    }
                    let status = (sig << 8) | 0x7f;
                    return Ok(Some(ChildEvent { pid: k, status, code: CLD_STOPPED, si_status: sig, usage }));
                }
                Some(JobReport::Continued) if options & WCONTINUED != 0 => {
                    if !keep {
                        p.job_report = None;
                    }
                    let status = 0xffff;
                    return Ok(Some(ChildEvent { pid: k, status, code: CLD_CONTINUED, si_status: SIGCONT, usage }));
                }
                _ => {}
            }
        }
        if options & WNOHANG != 0 {
            return Ok(None);
        }
        let events = ts.current_process(t).child_events.clone();
        ts = events.sleep(&kernel.tasks, ts)?;
    }
}

pub fn wait4(t: &mut Task, pid: i32, status: UserPtr<i32>, options: i32, rusage: UserPtr<Rusage>) -> SyscallResult {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WCLONE | WALL) != 0 {
        return Err(Errno::EINVAL);
    }
    let which = match pid {
        i32::MIN => return Err(Errno::ESRCH),
        -1 => Which::Any,
        0 => Which::Pgid(t.tasks().current_process(t).pgid),
        p if p < 0 => Which::Pgid(-p),
        p => Which::Pid(p),
    };
    let Some(ev) = wait_child(t, which, options | WEXITED)? else { return Ok(0) };
    status.write_opt(t, &ev.status)?;
    rusage.write_opt(t, &Rusage::of(&ev.usage))?;
    Ok(ev.pid as u64)
}

const P_ALL: i32 = 0;
const P_PID: i32 = 1;
const P_PGID: i32 = 2;
const P_PIDFD: i32 = 3;

pub fn waitid(
    t: &mut Task,
    idtype: i32,
    id: i32,
    infop: UserPtr<SigInfo>,
    options: i32,
    rusage: UserPtr<Rusage>,
) -> SyscallResult {
    let allowed = WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WCLONE | WALL;
    if options & !allowed != 0 || options & (WEXITED | WUNTRACED | WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    let which = match idtype {
        P_ALL => Which::Any,
        P_PID if id > 0 => Which::Pid(id),
        P_PGID if id == 0 => Which::Pgid(t.tasks().current_process(t).pgid),
        P_PGID if id > 0 => Which::Pgid(id),
        P_PIDFD => Which::Pid(pidfd_pid(t, id)?),
        _ => return Err(Errno::EINVAL),
    };
    let ev = wait_child(t, which, options)?;
    let info = match &ev {
        Some(ev) => {
            let (u, s) = (ticks(ev.usage.user), ticks(ev.usage.system));
            SigInfo::child(ev.code, ev.pid, t.creds.uid, ev.si_status, u, s)
        }
        None => SigInfo::new(0, 0),
    };
    infop.write_opt(t, &info)?;
    if let Some(ev) = &ev {
        rusage.write_opt(t, &Rusage::of(&ev.usage))?;
    }
    Ok(0)
}

// ---- exit ----

/// exit: ends the calling thread (the process, when it is the last).
pub fn exit(t: &mut Task, code: i32) -> SyscallResult {
    t.exiting = Some(ExitStatus::Exited(code & 0xff));
    Ok(0)
}

pub fn exit_group(t: &mut Task, code: i32) -> SyscallResult {
    t.exit_group(ExitStatus::Exited(code & 0xff));
    Ok(0)
}

// ---- pidfds ----

const PIDFD_NONBLOCK: u32 = 0o4000;

/// The process a pidfd names (EBADF if `fd` is not a pidfd).
pub fn pidfd_pid(t: &Task, fd: i32) -> Result<i32, Errno> {
    let file = t.fds.file(fd)?;
    let p = file.ops().as_any().and_then(|a| a.downcast_ref::<PidFd>()).ok_or(Errno::EBADF)?;
    Ok(p.pid)
}

/// A new pidfd for process `pid` in the caller's fd table (close-on-exec).
fn install_pidfd(t: &Task, pid: i32, flags: u32) -> Result<i32, Errno> {
    let fd = PidFd::new(&t.kernel, pid)?;
    let file = vfs::FileDescription::new(O_RDWR | (flags & PIDFD_NONBLOCK), Box::new(fd), None);
    let entry = sentry::fdtable::FdEntry { file: Arc::new(file), cloexec: true };
    t.fds.install(0, entry, t.nofile_limit())
}

pub fn pidfd_open(t: &mut Task, pid: i32, flags: u32) -> SyscallResult {
    if flags & !PIDFD_NONBLOCK != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    install_pidfd(t, pid, flags).map(|fd| fd as u64)
}

/// pidfd_getfd: a copy of fd `target` of the pidfd's process (close-on-exec),
/// if the caller may ptrace-attach to it (EPERM otherwise).
pub fn pidfd_getfd(t: &mut Task, pidfd: i32, target: i32, flags: u32) -> SyscallResult {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let pid = pidfd_pid(t, pidfd)?;
    let fds = {
        // The task the pid names: the process's leader, while it lives.
        let ts = t.tasks();
        let leader = ts.threads.get(&pid).ok_or(Errno::ESRCH)?;
        ts.ptrace_may_access(&t.creds, t.tgid, pid, PtraceMode::AttachRealCreds)?;
        leader.view.fds.clone()
    };
    let file = fds.file(target)?;
    let entry = sentry::fdtable::FdEntry { file, cloexec: true };
    t.fds.install(0, entry, t.nofile_limit()).map(|fd| fd as u64)
}
