//! Stub processes: creation, syscall injection and the SYSEMU round trip.

use std::mem::size_of;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use abi::consts::{PAGE_SIZE, TASK_SIZE};
use abi::signal::{SEGV_ACCERR, SEGV_MAPERR};
use sentry::platform::{Exit, PlatformError, Registers, Result};

/// The stub's code. At 0, `int3; syscall; int3`: the stub stops at the first
/// int3 when it starts; injected syscalls run from the `syscall` and stop at
/// the second int3. At 8, the clone site: `syscall; test rax, rax; jnz 1f;
/// 0: mov eax, SYS_pause; syscall; jmp 0b; 1: int3`. The parent stops at the
/// int3; a new thread (rax 0) waits in pause() until its tracer seizes it.
const STUB_CODE: [u8; 25] = [
    0xcc, 0x0f, 0x05, 0xcc, 0x90, 0x90, 0x90, 0x90, // main site
    0x0f, 0x05, // clone
    0x48, 0x85, 0xc0, // test rax, rax
    0x75, 0x09, // jnz +9
    0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
    0x0f, 0x05, // syscall
    0xeb, 0xf7, // jmp -9
    0xcc,
];
const SYSCALL_OFFSET: u64 = 1;
const CLONE_OFFSET: u64 = 8;
/// Where pause returns to (the seccomp filter's instruction pointer).
const PAUSE_RETURN: u64 = 22;
/// How a stub makes a thread: one more thread of its own process.
pub const THREAD_FLAGS: u64 =
    (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_SIGHAND | libc::CLONE_THREAD) as u64;

const _: () = assert!(size_of::<Registers>() == size_of::<libc::user_regs_struct>());
/// Offset of rax in the ptrace user area (user_regs_struct comes first).
const RAX_OFFSET: u64 = std::mem::offset_of!(Registers, rax) as u64;

/// The page of stub code, mapped in the Sentry so that forks inherit it.
pub struct StubPage {
    addr: u64,
}

impl StubPage {
    /// Maps the stub page as high as the host allows: the application gets
    /// everything below it, and its address says nothing about the Sentry's
    /// own layout. The very top is normally free; if the Sentry's stack is
    /// there, the next candidates are 16 MiB apart.
    pub fn new() -> Result<StubPage> {
        let mut p = libc::MAP_FAILED;
        for i in 0..64u64 {
            let want = TASK_SIZE - PAGE_SIZE - i * (16 << 20);
            // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
            p = unsafe {
                libc::mmap(
                    want as *mut libc::c_void,
                    PAGE_SIZE as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            if p as u64 == want {
                break;
            }
            if p != libc::MAP_FAILED {
                // An old kernel that treats the flag as a hint: undo and retry.
                // SAFETY: unmaps the page just mapped.
                unsafe { libc::munmap(p, PAGE_SIZE as usize) };
                p = libc::MAP_FAILED;
            }
        }
        if p == libc::MAP_FAILED {
            return Err(PlatformError::host("mmap of the stub page"));
        }
        // SAFETY: the page is ours and writable; then it becomes read+exec.
        unsafe {
            std::ptr::copy_nonoverlapping(STUB_CODE.as_ptr(), p.cast::<u8>(), STUB_CODE.len());
            if libc::mprotect(p, PAGE_SIZE as usize, libc::PROT_READ | libc::PROT_EXEC) < 0 {
                return Err(PlatformError::host("mprotect of the stub page"));
            }
        }
        Ok(StubPage { addr: p as u64 })
    }

    pub fn addr(&self) -> u64 {
        self.addr
    }
}

/// The stub's own seccomp filter. Syscalls run only from the stub's own
/// instructions, and each site only its calls: the main site the memory
/// calls the Sentry injects and exit (a thread leaving), the clone site
/// clone, the waiting loop pause. A syscall from anywhere else (a vsyscall,
/// say) traps (SIGSYS) instead of running; a wrong call from a stub site is a
/// Sentry bug and kills the stub.
fn stub_filter(page: u64) -> Vec<libc::sock_filter> {
    const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    const TRAP: u32 = libc::SECCOMP_RET_TRAP;
    let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    // Each site: where its syscall returns to, and the calls it may make.
    let sites: [(u64, &[libc::c_long]); 3] = [
        (page + SYSCALL_OFFSET + 2, &[libc::SYS_mmap, libc::SYS_munmap, libc::SYS_mprotect, libc::SYS_exit]),
        (page + CLONE_OFFSET + 2, &[libc::SYS_clone]),
        (page + PAUSE_RETURN, &[libc::SYS_pause]),
    ];
    // Offsets in struct seccomp_data: nr 0, arch 4, instruction_pointer 8.
    let mut f = vec![
        ins(LD_ABS, 0, 0, 4),
        ins(JEQ, 1, 0, AUDIT_ARCH_X86_64),
        ins(RET, 0, 0, KILL),
        ins(LD_ABS, 0, 0, 12),
        ins(JEQ, 1, 0, (page >> 32) as u32),
        ins(RET, 0, 0, TRAP),
    ];
    for (ip, calls) in sites {
        // IP low half matches: check the calls; else on to the next site.
        let block = 1 + calls.len() + 2;
        f.push(ins(LD_ABS, 0, 0, 8));
        f.push(ins(JEQ, 0, block as u8, ip as u32));
        f.push(ins(LD_ABS, 0, 0, 0));
        for (i, nr) in calls.iter().enumerate() {
            // Match -> the ALLOW after the remaining compares and the KILL.
            f.push(ins(JEQ, (calls.len() - i) as u8, 0, *nr as u32));
        }
        f.push(ins(RET, 0, 0, KILL));
        f.push(ins(RET, 0, 0, ALLOW));
    }
    f.push(ins(RET, 0, 0, TRAP));
    f
}

/// One stub thread, traced by one task thread: the first thread of a stub
/// process (traced by the thread that forked it), or one more thread of it.
pub struct Stub {
    /// The thread's id.
    pid: i32,
    /// The stub process's id.
    tgid: i32,
    page: u64,
    memfd: i32,
    /// Registers of the stopped stub, the base for injected syscalls.
    template: Registers,
    /// The registers the stub holds now, when known: after a syscall usually
    /// only rax differs, and poking one register costs far less than SETREGS.
    current: Mutex<Option<Registers>>,
    /// Set once waitpid has reaped the stub: its pid may then belong to any
    /// host process and must never be signalled again.
    reaped: AtomicBool,
}

fn ptrace(req: libc::c_uint, pid: i32, addr: u64, data: u64) -> Result<i64> {
    // SAFETY: every caller passes a request whose `data` is either a plain value
    // or a pointer to a buffer of the size that request writes or reads.
    let r = unsafe { libc::ptrace(req, pid, addr as *mut libc::c_void, data as *mut libc::c_void) };
    if r < 0 {
        return Err(PlatformError::host("ptrace"));
    }
    Ok(r)
}

/// What a stopped or dead stub reported to waitpid.
enum Stop {
    Stopped(i32),
    Gone(String),
}

fn wait(pid: i32) -> Result<Stop> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes one int.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(PlatformError::host("waitpid"));
    }
    if libc::WIFSTOPPED(status) {
        Ok(Stop::Stopped(libc::WSTOPSIG(status)))
    } else if libc::WIFSIGNALED(status) {
        Ok(Stop::Gone(format!("killed by signal {}", libc::WTERMSIG(status))))
    } else {
        Ok(Stop::Gone(format!("exited with status {}", libc::WEXITSTATUS(status))))
    }
}

impl Stub {
    /// Forks a stub. Must run on the thread that will trace it.
    pub fn spawn(page: &StubPage, memfd: i32) -> Result<Stub> {
        let filter = stub_filter(page.addr);
        let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
        // SAFETY: a plain fork (no shared memory). The child runs only raw
        // syscalls and then jumps to the stub page, never returning into Rust.
        let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
        if pid < 0 {
            return Err(PlatformError::host("clone of a stub"));
        }
        if pid == 0 {
            // SAFETY: we are the freshly forked child.
            unsafe { stub_child(page.addr, memfd, &prog) }
        }
        let pid = pid as i32;
        let mut stub = Stub {
            pid,
            tgid: pid,
            page: page.addr,
            memfd,
            template: Registers::default(),
            current: Mutex::new(None),
            reaped: AtomicBool::new(false),
        };
        match stub.wait()? {
            Stop::Stopped(libc::SIGTRAP) => {}
            Stop::Stopped(s) => return Err(PlatformError::StubDied(format!("stopped by signal {s} while starting"))),
            Stop::Gone(why) => return Err(PlatformError::StubDied(format!("{why} while starting"))),
        }
        let opts = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL;
        ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts as u64)?;
        ptrace(libc::PTRACE_GETREGS, pid, 0, &mut stub.template as *mut Registers as u64)?;
        // Leave the stub only its own page: everything it inherited from the
        // Sentry goes, below and above.
        let end = stub.page + PAGE_SIZE;
        for (addr, len) in [(0, stub.page), (end, TASK_SIZE - end)] {
            if len == 0 {
                continue;
            }
            let r = stub.syscall(libc::SYS_munmap, [addr, len, 0, 0, 0, 0])?;
            if r != 0 {
                return Err(PlatformError::StubDied(format!("munmap in a new stub failed: {r}")));
            }
        }
        Ok(stub)
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn tgid(&self) -> i32 {
        self.tgid
    }

    /// Makes one more thread of this stub's process (it waits in pause() for
    /// a tracer, see `adopt`); returns its thread id.
    pub fn clone_thread(&self) -> Result<i32> {
        let r = self.inject(CLONE_OFFSET, libc::SYS_clone, [THREAD_FLAGS, 0, 0, 0, 0, 0])?;
        if r < 0 {
            return Err(PlatformError::Host {
                call: "clone in stub",
                err: std::io::Error::from_raw_os_error(-r as i32),
            });
        }
        Ok(r as i32)
    }

    /// Takes thread `tid` of `like`'s process (made by `clone_thread`) as
    /// the calling thread's own stub: seizes it and stops it.
    pub fn adopt(tid: i32, like: &Stub) -> Result<Stub> {
        let opts = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL;
        ptrace(libc::PTRACE_SEIZE, tid, 0, opts as u64)?;
        ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0)?;
        let stub = Stub {
            pid: tid,
            tgid: like.tgid,
            page: like.page,
            memfd: like.memfd,
            template: like.template,
            current: Mutex::new(None),
            reaped: AtomicBool::new(false),
        };
        match stub.wait()? {
            Stop::Stopped(_) => Ok(stub),
            Stop::Gone(why) => Err(PlatformError::StubDied(format!("{why} while being adopted"))),
        }
    }

    /// Ends this stub thread (not its process) and reaps it.
    pub fn exit_thread(&self) {
        let mut r = self.template;
        r.rip = self.page + SYSCALL_OFFSET;
        r.rax = libc::SYS_exit as u64;
        r.orig_rax = u64::MAX;
        r.rdi = 0;
        if ptrace(libc::PTRACE_SETREGS, self.pid, 0, &r as *const Registers as u64).is_ok()
            && ptrace(libc::PTRACE_CONT, self.pid, 0, 0).is_ok()
        {
            while let Ok(Stop::Stopped(_)) = self.wait() {
                let _ = ptrace(libc::PTRACE_CONT, self.pid, 0, 0);
            }
        }
        self.reaped.store(true, Ordering::Relaxed);
    }

    /// Waits for the stub's next stop; notes when it is gone.
    fn wait(&self) -> Result<Stop> {
        let r = wait(self.pid);
        if matches!(r, Ok(Stop::Gone(_))) {
            self.reaped.store(true, Ordering::Relaxed);
        }
        r
    }

    /// Kills a stub that misbehaved and reaps it.
    fn kill(&self, why: String) -> PlatformError {
        if !self.reaped.swap(true, Ordering::Relaxed) {
            // SAFETY: kills and reaps our own, not yet reaped, child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, libc::__WALL);
            }
        }
        PlatformError::StubDied(why)
    }

    /// Kills the stub process (all its threads) and reaps it.
    pub fn kill_process(&self) {
        self.kill(String::new());
    }

    pub fn page(&self) -> u64 {
        self.page
    }

    pub fn memfd(&self) -> i32 {
        self.memfd
    }

    /// Runs one syscall in the stub; returns its raw result (-errno on error).
    pub fn syscall(&self, nr: libc::c_long, args: [u64; 6]) -> Result<i64> {
        self.inject(SYSCALL_OFFSET, nr, args)
    }

    /// Runs one syscall from the stub code at `site`, to its int3.
    fn inject(&self, site: u64, nr: libc::c_long, args: [u64; 6]) -> Result<i64> {
        *self.current.lock().unwrap() = None;
        let mut r = self.template;
        r.rip = self.page + site;
        r.rax = nr as u64;
        r.orig_rax = u64::MAX;
        [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9] = args;
        ptrace(libc::PTRACE_SETREGS, self.pid, 0, &r as *const Registers as u64)?;
        ptrace(libc::PTRACE_CONT, self.pid, 0, 0)?;
        loop {
            match self.wait()? {
                Stop::Stopped(libc::SIGTRAP) => break,
                // An interrupt's SIGSTOP is dropped; the stub goes on to its int3.
                Stop::Stopped(libc::SIGSTOP) => {
                    ptrace(libc::PTRACE_CONT, self.pid, 0, 0)?;
                }
                // Stub code cannot fault: something is badly wrong.
                Stop::Stopped(sig) => return Err(self.kill(format!("signal {sig} during an injected syscall {nr}"))),
                Stop::Gone(why) => return Err(PlatformError::StubDied(why)),
            }
        }
        ptrace(libc::PTRACE_GETREGS, self.pid, 0, &mut r as *mut Registers as u64)?;
        Ok(r.rax as i64)
    }

    /// Runs application code until it makes a syscall, faults or gets a signal.
    pub fn run(&self, regs: &mut Registers) -> Result<Exit> {
        let mut current = self.current.lock().unwrap();
        match *current {
            Some(c) if c == *regs => {}
            Some(c) if Registers { rax: regs.rax, ..c } == *regs => {
                ptrace(libc::PTRACE_POKEUSER, self.pid, RAX_OFFSET, regs.rax)?;
            }
            _ => {
                ptrace(libc::PTRACE_SETREGS, self.pid, 0, regs as *const Registers as u64)?;
            }
        }
        *current = None;
        ptrace(libc::PTRACE_SYSEMU, self.pid, 0, 0)?;
        let sig = match self.wait()? {
            Stop::Stopped(s) => s,
            Stop::Gone(why) => return Err(PlatformError::StubDied(why)),
        };
        ptrace(libc::PTRACE_GETREGS, self.pid, 0, regs as *mut Registers as u64)?;
        *current = Some(*regs);
        if sig == libc::SIGTRAP | 0x80 {
            return Ok(Exit::Syscall);
        }
        if sig == libc::SIGSTOP {
            return Ok(Exit::Interrupted);
        }
        // SAFETY: siginfo_t is plain data, filled by PTRACE_GETSIGINFO.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        ptrace(libc::PTRACE_GETSIGINFO, self.pid, 0, &mut info as *mut libc::siginfo_t as u64)?;
        // SAFETY: si_addr is valid to read for fault signals, and harmless else.
        let addr = unsafe { info.si_addr() } as u64;
        let code = info.si_code;
        if sig == libc::SIGSEGV && (code == SEGV_MAPERR || code == SEGV_ACCERR) {
            return Ok(Exit::Fault { addr, code });
        }
        Ok(Exit::Signal { signo: sig, code, addr })
    }
}

/// The regset of the XSAVE area (NT_X86_XSTATE).
const NT_X86_XSTATE: u64 = 0x202;
/// Room for any XSAVE layout the host may use.
const XSTATE_MAX: usize = 16384;

/// The XSAVE area of stopped thread `pid`, as long as the host's layout.
pub fn get_xstate(pid: i32) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; XSTATE_MAX];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    ptrace(libc::PTRACE_GETREGSET, pid, NT_X86_XSTATE, &mut iov as *mut libc::iovec as u64)?;
    buf.truncate(iov.iov_len);
    Ok(buf)
}

/// Loads an XSAVE area (from `get_xstate`) into stopped thread `pid`.
pub fn set_xstate(pid: i32, state: &[u8]) -> Result<()> {
    let mut iov = libc::iovec { iov_base: state.as_ptr() as *mut libc::c_void, iov_len: state.len() };
    ptrace(libc::PTRACE_SETREGSET, pid, NT_X86_XSTATE, &mut iov as *mut libc::iovec as u64).map(|_| ())
}

impl Drop for Stub {
    /// The first thread takes its whole process along; other threads go
    /// with `exit_thread`.
    fn drop(&mut self) {
        if self.pid == self.tgid {
            self.kill(String::new());
        }
    }
}

extern "C" {
    /// glibc's rseq registration: offset of the area from the thread pointer,
    /// and its advertised size (0 if rseq is not in use).
    static __rseq_offset: isize;
    static __rseq_size: u32;
}
const RSEQ_FLAG_UNREGISTER: u64 = 1;
/// glibc's RSEQ_SIG on x86.
const RSEQ_SIG: u64 = 0x5305_3053;

/// The child side of `Stub::spawn`. Only raw syscalls: this is a fork of a
/// multi-threaded process.
///
/// # Safety
/// Must be called only in the child of a fork, with `prog` valid.
unsafe fn stub_child(page: u64, memfd: i32, prog: &libc::sock_fprog) -> ! {
    use libc::*;
    let fail = |step: i64| -> ! {
        // SAFETY: exit_group ends the child.
        unsafe { syscall(SYS_exit_group, 100 + step) };
        unreachable!()
    };
    // SAFETY: each call below changes only the child's own state.
    unsafe {
        // Die with the tracer thread; leave the terminal's session so terminal
        // signals reach the Sentry, not the stub.
        if syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0 {
            fail(1);
        }
        syscall(SYS_setsid);
        // Default dispositions, nothing blocked: every signal stops the stub
        // for the tracer instead of running inherited Sentry handlers.
        let dfl = [0u64; 4];
        for sig in 1..=64 {
            if sig != SIGKILL && sig != SIGSTOP {
                syscall(SYS_rt_sigaction, sig, dfl.as_ptr(), 0, 8);
            }
        }
        let empty = 0u64;
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty as *const u64, 0, 8);
        // Keep only the memory file.
        if memfd > 0 {
            syscall(SYS_close_range, 0, memfd - 1, 0);
        }
        syscall(SYS_close_range, memfd + 1, u32::MAX, 0);
        // The C library registered an rseq area for the forking thread, and the
        // fork inherited it. That area is about to be unmapped, and the kernel
        // would fault writing to it, so unregister it. glibc registers
        // 32 bytes (its __rseq_size may say less).
        if __rseq_size > 0 {
            let tp: u64;
            std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly));
            let area = tp.wrapping_add(__rseq_offset as u64);
            if [32, __rseq_size].iter().all(|&len| syscall(SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != 0) {
                fail(5);
            }
        }
        // The Sentry is not dumpable (no host process of its uid may trace
        // it), and a fork inherits that; but the task threads that did not
        // fork the stub must be able to seize its threads.
        if syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 {
            fail(6);
        }
        if syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) < 0 {
            fail(2);
        }
        if syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
            fail(3);
        }
        if syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog as *const sock_fprog) < 0 {
            fail(4);
        }
        std::arch::asm!("jmp {0}", in(reg) page, options(noreturn));
    }
}
