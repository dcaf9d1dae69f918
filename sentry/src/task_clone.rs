//! clone, fork and vfork: Linux's copy_process. A new process gets a host
//! thread of its own and a copy-on-write copy of the address space (on the
//! ptrace platform, a new stub process); a new thread (CLONE_VM) shares the
//! address space through a thread of its own in the same stub. The syscall
//! handlers only read the arguments.

use std::sync::{Arc, Mutex};

use abi::consts::*;
use abi::signal::*;
use abi::Errno;

use crate::eventfiles::PidFd;
use crate::kernel::Kernel;
use crate::process::{ExitStatus, Process};
use crate::task::VforkDone;
use crate::task_start::TaskBuilder;
use crate::{SyscallResult, Task};

/// clone's arguments, as clone3 takes them (the flags without the exit
/// signal, which is its own field).
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub tls: u64,
}

/// Linux's copy_process and kernel_clone: a new thread or process, as
/// `a` says. Returns the new task's id.
pub fn clone(t: &mut Task, a: CloneArgs) -> SyscallResult {
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
    if f & CLONE_PARENT != 0 && t.tgid == crate::kernel::INIT_PID {
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
            crate::warn_limited!("cannot make a thread: {e}");
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
    let view = crate::kernel::TaskView {
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
        let (syscalls, watchers) = (t.syscalls.clone(), t.watchers.clone());
        let (kernel, vfork, handlers, handle) = (kernel.clone(), vfork.clone(), handlers.clone(), handle.clone());
        let clear_child_tid = if f & CLONE_CHILD_CLEARTID != 0 { a.child_tid } else { 0 };
        move |mut context: Box<dyn crate::platform::Context>| {
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
                observers: watchers.iter().map(|o| o.task_started()).collect(),
                syscalls,
                watchers,
                kernel,
                context,
            })
        }
    };
    let mask = t.mask();
    let entry = crate::process::Thread { tgid, handle, mask, pending: Default::default(), waiting_for: 0, view };
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
        let (dumpable, oom_adj) = (me.dumpable, (me.oom_score_adj, me.oom_score_adj_min));
        // A CLONE_PARENT child is its creator's sibling, and signals the
        // parent as its creator does (Linux: the group leader's exit signal).
        let exit_signal = if f & CLONE_PARENT != 0 { me.exit_signal } else { a.exit_signal as i32 };
        let mut p = Process::new(tid, parent, pgid, sid, handlers, process_limits);
        p.exit_signal = exit_signal;
        // The child's memory is a copy of the parent's, and keeps its flag.
        p.dumpable = dumpable;
        (p.oom_score_adj, p.oom_score_adj_min) = oom_adj;
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
fn never_runs(kernel: &Kernel, tid: i32, vfork: Option<&VforkDone>, why: &str) -> Option<Task> {
    crate::warn_limited!("{why}");
    kernel.tasks.lock().unwrap().exit_thread(tid, ExitStatus::Signaled { sig: SIGKILL, core: false });
    if let Some(v) = vfork {
        v.release();
    }
    None
}

/// A new pidfd for process `pid` in the caller's fd table (close-on-exec).
pub fn install_pidfd(t: &Task, pid: i32, flags: u32) -> Result<i32, Errno> {
    let fd = PidFd::new(&t.kernel, pid)?;
    let file = vfs::FileDescription::new(O_RDWR | (flags & PIDFD_NONBLOCK), Box::new(fd), None);
    let entry = crate::fdtable::FdEntry { file: Arc::new(file), cloexec: true };
    t.fds.install(0, entry, t.nofile_limit())
}
