//! Stub processes: creation, syscall injection and the SYSEMU round trip.

use std::mem::size_of;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use abi::consts::{PAGE_SIZE, TASK_SIZE, VSYSCALL_ADDR};
use abi::signal::{SEGV_ACCERR, SEGV_MAPERR};
use nix::sys::ptrace::{self, AddressType, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitPidFlag;
use nix::unistd::Pid;
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
const RAX_OFFSET: usize = std::mem::offset_of!(Registers, rax);

/// Moves registers between `Registers` and the C library's
/// `user_regs_struct` (what PTRACE_GETREGS and PTRACE_SETREGS carry): the
/// same fields, every one named, so a field missing on either side does not
/// compile.
macro_rules! user_regs {
    ($($f:ident),* $(,)?) => {
        fn to_user(r: &Registers) -> libc::user_regs_struct {
            libc::user_regs_struct { $($f: r.$f),* }
        }
        fn from_user(u: &libc::user_regs_struct) -> Registers {
            Registers { $($f: u.$f),* }
        }
    };
}
user_regs!(
    r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss,
    fs_base, gs_base, ds, es, fs, gs,
);

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

/// The stub's own filter, in words (`rvisor do --print-seccomp`).
pub const STUB_FILTER: &str = "mmap, munmap, mprotect and exit only from the stub page's syscall site \
    (injected by the tracer), clone only from its clone site, pause only from its wait loop; any \
    call from elsewhere (application code's vsyscalls) traps to the Sentry, a wrong call from a \
    stub site kills the stub";

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

/// A failed host call, for `map_err`.
fn host(call: &'static str) -> impl FnOnce(nix::Error) -> PlatformError {
    move |e| PlatformError::Host { call, err: e.into() }
}

/// How the Sentry traces a stub: syscall stops marked (SIGTRAP | 0x80), and
/// the stub killed if its tracer thread dies.
fn trace_options() -> Options {
    Options::PTRACE_O_TRACESYSGOOD | Options::PTRACE_O_EXITKILL
}

fn getregs(pid: Pid) -> Result<Registers> {
    ptrace::getregs(pid).map(|u| from_user(&u)).map_err(host("PTRACE_GETREGS"))
}

fn setregs(pid: Pid, regs: &Registers) -> Result<()> {
    ptrace::setregs(pid, to_user(regs)).map_err(host("PTRACE_SETREGS"))
}

fn cont(pid: Pid) -> Result<()> {
    ptrace::cont(pid, None).map_err(host("PTRACE_CONT"))
}

/// What a stopped or dead stub reported to waitpid.
enum Stop {
    Stopped(i32),
    Gone(String),
}

/// The stub's next stop or its end. The raw call, not nix's waitpid: nix
/// decodes a signal into its `Signal`, which has no real-time signals, so a
/// stub stopped or killed by one (sent from outside the sandbox) would be
/// an error, its status consumed and lost.
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
    /// Takes a new stub process from the factory and seizes it as the
    /// calling thread's own. Must run on the thread that will trace it.
    pub fn spawn(factory: &StubFactory, page: &StubPage) -> Result<Stub> {
        let pid = factory.fork_stub(current_cpu())?;
        ptrace::seize(Pid::from_raw(pid), trace_options()).map_err(host("PTRACE_SEIZE"))?;
        let mut stub = Stub {
            pid,
            tgid: pid,
            page: page.addr,
            memfd: factory.memfd,
            template: Registers::default(),
            current: Mutex::new(None),
            reaped: AtomicBool::new(false),
        };
        // The new process sets itself up (its filter, its CPU) and then
        // waits in the stub page's pause loop. Stop it there, and nowhere
        // else: a stop still in its setup is let go on, and tried again.
        loop {
            ptrace::interrupt(stub.tracee()).map_err(host("PTRACE_INTERRUPT"))?;
            match stub.wait()? {
                Stop::Stopped(_) => {}
                Stop::Gone(why) => return Err(PlatformError::StubDied(format!("{why} while starting"))),
            }
            stub.template = getregs(stub.tracee())?;
            if (page.addr..page.addr + PAGE_SIZE).contains(&stub.template.rip) {
                break;
            }
            cont(stub.tracee())?;
            std::thread::yield_now();
        }
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

    /// The stub thread, as nix names it.
    fn tracee(&self) -> Pid {
        Pid::from_raw(self.pid)
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
        ptrace::seize(Pid::from_raw(tid), trace_options()).map_err(host("PTRACE_SEIZE"))?;
        ptrace::interrupt(Pid::from_raw(tid)).map_err(host("PTRACE_INTERRUPT"))?;
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
        if setregs(self.tracee(), &r).is_ok() && cont(self.tracee()).is_ok() {
            while let Ok(Stop::Stopped(_)) = self.wait() {
                let _ = cont(self.tracee());
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
            // Our own, not yet reaped, child: its pid is still its own. How it
            // ended does not matter.
            let _ = nix::sys::signal::kill(self.tracee(), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(self.tracee(), Some(WaitPidFlag::__WALL));
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
        setregs(self.tracee(), &r)?;
        cont(self.tracee())?;
        loop {
            match self.wait()? {
                Stop::Stopped(libc::SIGTRAP) => break,
                // An interrupt's SIGSTOP is dropped; the stub goes on to its int3.
                Stop::Stopped(libc::SIGSTOP) => cont(self.tracee())?,
                // Stub code cannot fault: something is badly wrong.
                Stop::Stopped(sig) => return Err(self.kill(format!("signal {sig} during an injected syscall {nr}"))),
                Stop::Gone(why) => return Err(PlatformError::StubDied(why)),
            }
        }
        Ok(getregs(self.tracee())?.rax as i64)
    }

    /// Whether the syscall stop in `regs` came from `int 0x80` (the 32-bit
    /// ABI) rather than `syscall`. The `syscall` instruction leaves the
    /// return address in rcx, so only when rcx differs are the instruction
    /// bytes before rip read.
    fn is_int80(&self, regs: &Registers) -> bool {
        if regs.rcx == regs.rip {
            return false;
        }
        let at = regs.rip.wrapping_sub(2);
        // PTRACE_PEEKDATA returns the word, so an error is told apart only by
        // errno; a word that cannot be read is not an int 0x80.
        // SAFETY: PEEKDATA reads one word of the stopped tracee; no buffer.
        let word = unsafe {
            *libc::__errno_location() = 0;
            let w = libc::ptrace(
                libc::PTRACE_PEEKDATA,
                self.pid,
                at as *mut libc::c_void,
                std::ptr::null_mut::<libc::c_void>(),
            );
            (*libc::__errno_location() == 0).then_some(w as u64)
        };
        word.is_some_and(|w| w & 0xffff == 0x80cd)
    }

    /// Runs application code until it makes a syscall, faults or gets a signal.
    pub fn run(&self, regs: &mut Registers) -> Result<Exit> {
        let mut current = self.current.lock().unwrap();
        match *current {
            Some(c) if c == *regs => {}
            Some(c) if Registers { rax: regs.rax, ..c } == *regs => {
                ptrace::write_user(self.tracee(), RAX_OFFSET as AddressType, regs.rax as libc::c_long)
                    .map_err(host("PTRACE_POKEUSER"))?;
            }
            _ => {
                setregs(self.tracee(), regs)?;
            }
        }
        *current = None;
        ptrace::sysemu(self.tracee(), None).map_err(host("PTRACE_SYSEMU"))?;
        let sig = match self.wait()? {
            Stop::Stopped(s) => s,
            Stop::Gone(why) => return Err(PlatformError::StubDied(why)),
        };
        *regs = getregs(self.tracee())?;
        *current = Some(*regs);
        if sig == libc::SIGTRAP | 0x80 {
            return Ok(if self.is_int80(regs) { Exit::Syscall32 } else { Exit::Syscall });
        }
        if sig == libc::SIGSTOP {
            return Ok(Exit::Interrupted);
        }
        let info = ptrace::getsiginfo(self.tracee()).map_err(host("PTRACE_GETSIGINFO"))?;
        // SAFETY: si_addr is valid to read for fault signals, and harmless else.
        let addr = unsafe { info.si_addr() } as u64;
        let code = info.si_code;
        if sig == libc::SIGSEGV && (code == SEGV_MAPERR || code == SEGV_ACCERR) {
            return Ok(Exit::Fault { addr, code });
        }
        // A call into the vsyscall page: the host emulated the call up to
        // the syscall, which the stub's filter trapped.
        if sig == libc::SIGSYS && (VSYSCALL_ADDR..VSYSCALL_ADDR + PAGE_SIZE).contains(&addr) {
            return Ok(Exit::Vsyscall { addr });
        }
        Ok(Exit::Signal { signo: sig, code, addr })
    }
}

/// The regset of the XSAVE area (NT_X86_XSTATE).
const NT_X86_XSTATE: u64 = 0x202;
/// Room for any XSAVE layout the host may use.
const XSTATE_MAX: usize = 16384;

/// One regset request on the XSAVE area. Raw: nix's getregset and
/// setregset know only fixed-size sets (NT_PRSTATUS, NT_PRFPREG), and the
/// XSAVE area is as long as the host's layout, which comes back in iov_len.
///
/// # Safety
/// `iov` must describe a buffer the request may fill (GETREGSET) or read.
unsafe fn xstate_regset(req: libc::c_uint, pid: i32, iov: &mut libc::iovec) -> Result<()> {
    // SAFETY: as the caller promises.
    let r = unsafe { libc::ptrace(req, pid, NT_X86_XSTATE as *mut libc::c_void, iov as *mut libc::iovec) };
    nix::errno::Errno::result(r).map(drop).map_err(host("PTRACE_GETREGSET/SETREGSET"))
}

/// The XSAVE area of stopped thread `pid`, as long as the host's layout.
pub fn get_xstate(pid: i32) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; XSTATE_MAX];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: the kernel writes at most iov_len bytes into `buf`.
    unsafe { xstate_regset(libc::PTRACE_GETREGSET, pid, &mut iov)? };
    buf.truncate(iov.iov_len);
    Ok(buf)
}

/// Loads an XSAVE area (from `get_xstate`) into stopped thread `pid`.
pub fn set_xstate(pid: i32, state: &[u8]) -> Result<()> {
    let mut iov = libc::iovec { iov_base: state.as_ptr() as *mut libc::c_void, iov_len: state.len() };
    // SAFETY: SETREGSET only reads iov_len bytes of `state`.
    unsafe { xstate_regset(libc::PTRACE_SETREGSET, pid, &mut iov) }
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

thread_local! {
    /// The CPU the calling task thread is pinned to (`pin_to`).
    static PINNED_CPU: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Pins the calling task thread to `cpu`; the stubs it asks for are pinned
/// to the same one.
pub fn pin_to(cpu: usize) -> Result<()> {
    // SAFETY: cpu_set_t is plain data.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` < CPU_SETSIZE, and the size passed is that of `set`.
    let r = unsafe {
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r < 0 {
        return Err(PlatformError::host("sched_setaffinity"));
    }
    PINNED_CPU.with(|c| c.set(cpu as u32));
    Ok(())
}

/// The CPU the calling task thread is pinned to.
fn current_cpu() -> u32 {
    PINNED_CPU.with(|c| c.get())
}

/// Forks stub processes for the Sentry's task threads. It is a child of the
/// Sentry, forked before the Sentry's seccomp filter, so stubs never
/// inherit that filter (nor does the Sentry's filter have to allow what
/// stubs do): each stub has the factory's filter and its own. The factory
/// has no capability, no fd but the memory file and its two pipes, and
/// ends when the Sentry closes its end of the request pipe (or dies: the
/// pid namespace ends with its first process).
pub struct StubFactory {
    /// The request pipe's write end (a CPU number out) and the reply pipe's
    /// read end (a pid, or -errno, back); one request at a time.
    channel: Mutex<(std::fs::File, std::fs::File)>,
    memfd: i32,
}

impl StubFactory {
    /// Forks the factory. Call before the Sentry installs its own filter,
    /// after it dropped its capabilities.
    pub fn start(page: &StubPage, memfd: i32) -> Result<StubFactory> {
        let compiled = factory_policy()
            .compile(false)
            .map_err(|err| PlatformError::Host { call: "compiling the stub factory's filter", err })?;
        let stub_prog = stub_filter(page.addr);
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| PlatformError::Host { call: "pipe2", err: e.into() })
        };
        let ((req_r, req_w), (rep_r, rep_w)) = (pipe()?, pipe()?);
        // SAFETY: a plain fork. The child runs only raw syscalls (and no
        // allocation) and never returns.
        let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
        if pid < 0 {
            return Err(PlatformError::host("clone of the stub factory"));
        }
        if pid == 0 {
            use std::os::fd::AsRawFd;
            let fds = FactoryFds { memfd, requests: req_r.as_raw_fd(), replies: rep_w.as_raw_fd() };
            // SAFETY: we are the freshly forked child.
            unsafe { factory_main(fds, page.addr, &compiled, &stub_prog) }
        }
        Ok(StubFactory { channel: Mutex::new((req_w.into(), rep_r.into())), memfd })
    }

    /// A new stub process pinned to `cpu`, waiting in the stub page's pause
    /// loop for its tracer; returns its pid.
    fn fork_stub(&self, cpu: u32) -> Result<i32> {
        use std::io::{Read, Write};
        let mut channel = self.channel.lock().unwrap();
        let mut reply = [0u8; 4];
        let asked = channel.0.write_all(&cpu.to_ne_bytes()).and_then(|()| channel.1.read_exact(&mut reply));
        if asked.is_err() {
            return Err(PlatformError::StubDied("the stub factory is gone".into()));
        }
        match i32::from_ne_bytes(reply) {
            pid if pid > 0 => Ok(pid),
            err => Err(PlatformError::Host { call: "fork of a stub", err: std::io::Error::from_raw_os_error(-err) }),
        }
    }
}

/// The stub factory's seccomp policy: its own loop, a new stub's setup, and
/// what stubs do under their own filter (the strictest verdict of all
/// filters wins, so every call a stub makes must pass this one too).
pub fn factory_policy() -> confine::seccomp::Policy {
    use confine::seccomp::Rule;
    use libc::*;
    let setup = "a new stub's setup, before its own filter";
    let stub = "what a stub runs under its own filter: mappings injected by its tracer, its threads";
    let vsyscall = "the legacy vsyscall page's calls, which reach the stub's filter and trap there";
    let allow = vec![
        Rule::any(SYS_read, "requests from the Sentry"),
        Rule::any(SYS_write, "replies to the Sentry"),
        Rule::one_of(SYS_clone, 0, &[SIGCHLD as u64], "forking a stub"),
        Rule::one_of(SYS_clone, 0, &[THREAD_FLAGS], "a stub's new thread, injected by its tracer"),
        Rule::one_of(
            SYS_prctl,
            0,
            &[PR_SET_PDEATHSIG as u64, PR_SET_DUMPABLE as u64, PR_SET_NO_NEW_PRIVS as u64],
            setup,
        ),
        Rule::any(SYS_close_range, setup),
        Rule::any(SYS_pipe2, "learning when a new stub may be seized"),
        Rule::any(SYS_sched_setaffinity, setup),
        Rule::one_of(SYS_seccomp, 0, &[SECCOMP_SET_MODE_FILTER as u64], setup),
        Rule::any(SYS_mmap, stub),
        Rule::any(SYS_munmap, stub),
        Rule::any(SYS_mprotect, stub),
        Rule::any(SYS_pause, stub),
        Rule::any(SYS_exit, stub),
        Rule::any(SYS_time, vsyscall),
        Rule::any(SYS_gettimeofday, vsyscall),
        Rule::any(SYS_getcpu, vsyscall),
        Rule::any(SYS_exit_group, "the factory ends; a stub's setup fails"),
    ];
    confine::seccomp::Policy { allow, refuse: Vec::new() }
}

/// The fds a factory keeps.
#[derive(Clone, Copy)]
struct FactoryFds {
    memfd: i32,
    requests: i32,
    replies: i32,
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
/// Where the pause loop starts: a new stub waits there for its tracer.
const PAUSE_LOOP: u64 = 15;

/// Closes every fd but those in `keep` (sorted).
///
/// # Safety
/// Only raw syscalls; for a forked child.
unsafe fn close_all_but(keep: &[i32]) {
    let mut from = 0u32;
    for &fd in keep {
        if fd as u32 > from {
            // SAFETY: closes fds of this process only.
            unsafe { libc::syscall(libc::SYS_close_range, from, fd as u32 - 1, 0) };
        }
        from = fd as u32 + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0) };
}

/// The factory's loop. Only raw syscalls and no allocation: this is a fork
/// of a multi-threaded process.
///
/// # Safety
/// Must be called only in the child of a fork, with `stub_prog` valid.
unsafe fn factory_main(
    fds: FactoryFds,
    page: u64,
    compiled: &confine::seccomp::Compiled,
    stub_prog: &[libc::sock_filter],
) -> ! {
    use libc::*;
    // SAFETY: each call below changes only the factory's own state.
    unsafe {
        let fail = |step: i64| -> ! {
            syscall(SYS_exit_group, 100 + step);
            unreachable!()
        };
        // Die with the Sentry's thread that forked us; leave the terminal's
        // session so terminal signals never reach stubs.
        syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
        syscall(SYS_setsid);
        let mut keep = [fds.memfd, fds.requests, fds.replies];
        keep.sort_unstable();
        close_all_but(&keep);
        // Default dispositions, nothing blocked: every signal stops a stub
        // for its tracer instead of running inherited Sentry handlers. Stubs
        // that end are reaped at once (their tracers still see them end).
        let dfl = [0u64; 4];
        for sig in 1..=64 {
            if sig != SIGKILL && sig != SIGSTOP {
                syscall(SYS_rt_sigaction, sig, dfl.as_ptr(), 0, 8);
            }
        }
        let ign = [SIG_IGN as u64, 0, 0, 0];
        syscall(SYS_rt_sigaction, SIGCHLD, ign.as_ptr(), 0, 8);
        let empty = 0u64;
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty as *const u64, 0, 8);
        // The C library registered an rseq area for the forking thread, and
        // the fork inherited it. Stubs unmap that area, and the kernel would
        // fault writing to it, so unregister it. glibc registers 32 bytes
        // (its __rseq_size may say less).
        if __rseq_size > 0 {
            let tp: u64;
            std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly));
            let area = tp.wrapping_add(__rseq_offset as u64);
            if [32, __rseq_size].iter().all(|&len| syscall(SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != 0) {
                fail(5);
            }
        }
        if compiled.install().is_err() {
            fail(4);
        }
        loop {
            let mut cpu = 0u32;
            if syscall(SYS_read, fds.requests, &mut cpu as *mut u32, 4) != 4 {
                syscall(SYS_exit_group, 0);
            }
            // The child closes its end of `ready` once it may be seized
            // (it is dumpable); a stop before it reaches the stub page is
            // the tracer's to skip.
            let mut ready = [0i32; 2];
            if syscall(SYS_pipe2, ready.as_mut_ptr(), O_CLOEXEC) < 0 {
                fail(7);
            }
            let pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
            if pid == 0 {
                stub_child(fds.memfd, cpu, page, stub_prog);
            }
            syscall(SYS_close_range, ready[1], ready[1], 0);
            let mut byte = 0u8;
            syscall(SYS_read, ready[0], &mut byte as *mut u8, 1);
            syscall(SYS_close_range, ready[0], ready[0], 0);
            let reply: i32 = if pid < 0 { -*__errno_location() } else { pid as i32 };
            if syscall(SYS_write, fds.replies, &reply as *const i32, 4) != 4 {
                syscall(SYS_exit_group, 0);
            }
        }
    }
}

/// A new stub's setup, in the factory's child: only the memory file, pinned
/// to `cpu`, traceable by the Sentry's threads, under its own filter, then
/// waiting in the pause loop for its tracer.
///
/// # Safety
/// Must be called only in a child of the factory.
unsafe fn stub_child(memfd: i32, cpu: u32, page: u64, prog: &[libc::sock_filter]) -> ! {
    use libc::*;
    let fail = |step: i64| -> ! {
        // SAFETY: exit_group ends the child.
        unsafe { syscall(SYS_exit_group, 100 + step) };
        unreachable!()
    };
    // SAFETY: each call below changes only the child's own state.
    unsafe {
        // Die with the factory.
        if syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0 {
            fail(1);
        }
        let mut set = [0u64; 16];
        set[(cpu / 64) as usize % 16] = 1 << (cpu % 64);
        if syscall(SYS_sched_setaffinity, 0, std::mem::size_of_val(&set), set.as_ptr()) < 0 {
            fail(2);
        }
        // The Sentry is not dumpable (no host process of its uid may trace
        // it), and a fork inherits that; but its task threads must be able
        // to seize the stub's threads.
        if syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 {
            fail(6);
        }
        // Keep only the memory file; closing the rest tells the factory the
        // stub may now be seized.
        close_all_but(&[memfd]);
        let fprog = sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut sock_filter };
        if syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog as *const sock_fprog) < 0 {
            fail(4);
        }
        std::arch::asm!("jmp {0}", in(reg) page + PAUSE_LOOP, options(noreturn));
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    const TRAP: u32 = libc::SECCOMP_RET_TRAP;

    /// Where the platform puts the stub page: the top of user space, or
    /// 16 MiB steps lower.
    const PAGES: [u64; 2] = [TASK_SIZE - PAGE_SIZE, TASK_SIZE - PAGE_SIZE - 3 * (16 << 20)];

    /// The seccomp_data the kernel hands the filter, as bytes.
    fn seccomp_data(nr: libc::c_long, arch: u32, ip: u64) -> [u8; size_of::<libc::seccomp_data>()] {
        let mut d = [0u8; size_of::<libc::seccomp_data>()];
        let nr_at = offset_of!(libc::seccomp_data, nr);
        let arch_at = offset_of!(libc::seccomp_data, arch);
        let ip_at = offset_of!(libc::seccomp_data, instruction_pointer);
        d[nr_at..nr_at + 4].copy_from_slice(&(nr as i32).to_ne_bytes());
        d[arch_at..arch_at + 4].copy_from_slice(&arch.to_ne_bytes());
        d[ip_at..ip_at + 8].copy_from_slice(&ip.to_ne_bytes());
        d
    }

    /// Runs a classic BPF program as the kernel would, knowing only the
    /// instructions the stub's filter may use (anything else fails the test).
    fn run(prog: &[libc::sock_filter], data: &[u8]) -> u32 {
        const LD_ABS: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
        const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
        const RET: u32 = libc::BPF_RET | libc::BPF_K;
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let ins = prog.get(pc).unwrap_or_else(|| panic!("the program runs off its end at {pc}"));
            pc += 1;
            match u32::from(ins.code) {
                LD_ABS => {
                    let at = ins.k as usize;
                    assert!(at.is_multiple_of(4) && at + 4 <= data.len(), "a load outside seccomp_data: {at}");
                    acc = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap());
                }
                JEQ => pc += usize::from(if acc == ins.k { ins.jt } else { ins.jf }),
                RET => return ins.k,
                code => panic!("an instruction the stub's filter should not use: {code:#x}"),
            }
        }
    }

    fn verdict(page: u64, nr: libc::c_long, ip: u64) -> u32 {
        run(&stub_filter(page), &seccomp_data(nr, AUDIT_ARCH_X86_64, ip))
    }

    /// The address a call made by the `syscall` at `site` reports.
    fn after(page: u64, site: u64) -> u64 {
        page + site + 2
    }

    #[test]
    fn the_syscall_site_runs_the_injected_memory_calls_and_exit_only() {
        for page in PAGES {
            let ip = after(page, SYSCALL_OFFSET);
            for nr in [libc::SYS_mmap, libc::SYS_munmap, libc::SYS_mprotect, libc::SYS_exit] {
                assert_eq!(verdict(page, nr, ip), ALLOW, "{nr} at {ip:#x}");
            }
            for nr in [libc::SYS_clone, libc::SYS_pause, libc::SYS_getpid, libc::SYS_execve, libc::SYS_exit_group] {
                assert_eq!(verdict(page, nr, ip), KILL, "{nr} at {ip:#x}");
            }
        }
    }

    #[test]
    fn clone_runs_only_from_the_clone_site_and_pause_only_from_the_loop() {
        for page in PAGES {
            let clone_ip = after(page, CLONE_OFFSET);
            assert_eq!(verdict(page, libc::SYS_clone, clone_ip), ALLOW);
            assert_eq!(verdict(page, libc::SYS_mmap, clone_ip), KILL);
            assert_eq!(verdict(page, libc::SYS_pause, clone_ip), KILL);
            let pause_ip = page + PAUSE_RETURN;
            assert_eq!(verdict(page, libc::SYS_pause, pause_ip), ALLOW);
            assert_eq!(verdict(page, libc::SYS_clone, pause_ip), KILL);
            assert_eq!(verdict(page, libc::SYS_mmap, pause_ip), KILL);
        }
    }

    #[test]
    fn calls_from_anywhere_else_trap() {
        for page in PAGES {
            let elsewhere = [
                0x40_1000,                               // application code
                0xffff_ffff_ff60_0409,                   // the legacy vsyscall page (time)
                page + 0x100,                            // the stub page, but no site
                after(page - PAGE_SIZE, SYSCALL_OFFSET), // a site's offset in another page
                after(page, SYSCALL_OFFSET) ^ (1 << 32), // a site's low half, another high half
                after(page, CLONE_OFFSET) + (1 << 40),
            ];
            for ip in elsewhere {
                for nr in [libc::SYS_mmap, libc::SYS_clone, libc::SYS_pause, libc::SYS_getpid, libc::SYS_time] {
                    assert_eq!(verdict(page, nr, ip), TRAP, "{nr} at {ip:#x}");
                }
            }
        }
    }

    #[test]
    fn another_architecture_is_killed() {
        for page in PAGES {
            let filter = stub_filter(page);
            for ip in [after(page, SYSCALL_OFFSET), page + PAUSE_RETURN, 0x40_1000] {
                for arch in [AUDIT_ARCH_I386, 0, AUDIT_ARCH_X86_64 ^ 1] {
                    assert_eq!(run(&filter, &seccomp_data(libc::SYS_mmap, arch, ip)), KILL, "{arch:#x} at {ip:#x}");
                }
            }
        }
    }
}
