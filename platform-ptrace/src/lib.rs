//! The ptrace platform: application code runs in stub processes that the
//! Sentry traces with PTRACE_SYSEMU, so every application syscall stops the stub
//! and comes to the Sentry instead of the host kernel.
//!
//! A stub starts as a fork of the Sentry that unmaps everything but one page of
//! code (`int3; syscall; int3`), and installs a seccomp filter that lets through
//! only a few memory calls, and only from that page's `syscall` instruction. The
//! Sentry changes the stub's mappings by injecting those calls: it points the
//! stub's registers at the `syscall` instruction and lets it run to the `int3`.
//! Application memory is the Sentry's memory file, mapped into the stub.
//!
//! Each task thread traces its own stub, and the two are pinned to one CPU:
//! a SYSEMU round trip between two CPUs costs several times more.

#![deny(unsafe_op_in_unsafe_fn)]

mod stub;

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use abi::consts::{Prot, TASK_SIZE};
use sentry::platform::{
    AddressSpace, ArgCmp, ArgCond, ArgFilter, Backing, Context, CpuClock, Exit, Interrupter, Platform, PlatformError,
    PlatformSeccomp, Registers, Result, Rule,
};

pub use stub::{factory_policy, STUB_FILTER};
use stub::{Stub, StubFactory, StubPage};

pub struct PtracePlatform {
    page: StubPage,
    factory: StubFactory,
    cpus: Vec<usize>,
    next_cpu: AtomicUsize,
}

impl PtracePlatform {
    /// `memfd` is the memory file, which stubs map application memory from.
    /// Starts the stub factory: call it after the Sentry dropped its
    /// capabilities and before it installs its seccomp filter.
    pub fn new(memfd: i32) -> Result<PtracePlatform> {
        let page = StubPage::new()?;
        let cpus = allowed_cpus()?;
        let factory = StubFactory::start(&page, memfd)?;
        Ok(PtracePlatform { page, factory, cpus, next_cpu: AtomicUsize::new(0) })
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the size passed is that of `set`.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } < 0 {
        return Err(PlatformError::host("sched_getaffinity"));
    }
    // SAFETY: CPU_ISSET only reads the set.
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect();
    if cpus.is_empty() {
        return Err(PlatformError::Unsupported("no CPU is allowed"));
    }
    Ok(cpus)
}

fn gettid() -> i32 {
    thread_local! {
        // SAFETY: gettid cannot fail.
        static TID: i32 = unsafe { libc::gettid() };
    }
    TID.with(|t| *t)
}

impl Platform for PtracePlatform {
    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>> {
        let stub = Arc::new(Stub::spawn(&self.factory, &self.page)?);
        let owner = gettid();
        let threads = Mutex::new((HashMap::from([(owner, stub.clone())]), 0));
        Ok(Arc::new(PtraceAddressSpace { first: stub, owner, threads, released: Condvar::new() }))
    }

    fn new_context(&self) -> Result<Box<dyn Context>> {
        // Pin this task thread; the stubs it asks for are pinned to the same CPU.
        let cpu = self.cpus[self.next_cpu.fetch_add(1, Ordering::Relaxed) % self.cpus.len()];
        stub::pin_to(cpu)?;
        Ok(Box::new(PtraceContext {
            stub_pid: Arc::new(AtomicI32::new(0)),
            stub_tgid: Arc::new(AtomicI32::new(0)),
            pending_fp: None,
        }))
    }

    fn max_user_address(&self) -> u64 {
        self.page.addr()
    }

    fn seccomp_rules(&self) -> PlatformSeccomp {
        seccomp_rules()
    }
}

/// The host syscalls the ptrace platform needs in the Sentry, on top of the
/// Sentry's own (what stubs do is the stub factory's and the stubs' own
/// filters' business: `factory_policy`).
pub fn seccomp_rules() -> PlatformSeccomp {
    use libc::*;
    // A signal to one of our stubs: a positive pid and exactly this signal.
    let to_stub = |nr: c_long, pid_arg: u8, sig_arg: u8, sig: c_int, why| {
        let mut conds = ArgFilter::positive_int(pid_arg).to_vec();
        conds.push(ArgCond { arg: sig_arg, cmp: ArgCmp::Eq(sig as u64) });
        Rule::when(nr, vec![conds], why)
    };
    let ptrace_requests = [
        PTRACE_PEEKDATA,
        PTRACE_CONT,
        PTRACE_GETREGS,
        PTRACE_SETREGS,
        PTRACE_POKEUSER,
        PTRACE_GETSIGINFO,
        PTRACE_SYSEMU,
        PTRACE_GETREGSET,
        PTRACE_SETREGSET,
        PTRACE_SEIZE,
        PTRACE_INTERRUPT,
    ];
    PlatformSeccomp {
        rules: vec![
            Rule::one_of(
                SYS_ptrace,
                0,
                &ptrace_requests.map(|r| r as u64),
                "running application code in stubs (PTRACE_SYSEMU) and changing their mappings",
            ),
            Rule::any(SYS_wait4, "the stops of traced stubs"),
            Rule::any(SYS_sched_setaffinity, "each task thread pinned to the CPU of its stub"),
            to_stub(SYS_kill, 0, 1, SIGKILL, "ending a stub process"),
            to_stub(SYS_tgkill, 0, 2, SIGSTOP, "interrupting a stub thread that runs application code"),
        ],
    }
}

/// An address space: one stub process. Each task thread that uses it traces a
/// thread of its own in it (ptrace obeys only the tracer); the thread that
/// took the process from the factory traces its first thread and outlives
/// every other user, because the process dies with it (PTRACE_O_EXITKILL).
pub struct PtraceAddressSpace {
    /// The first stub thread; kept for the address space's lifetime.
    first: Arc<Stub>,
    owner: i32,
    /// Stub threads by the task thread that traces them, and how many made
    /// by `clone_thread` wait for `adopt_thread`.
    threads: Mutex<(HashMap<i32, Arc<Stub>>, usize)>,
    released: Condvar,
}

impl PtraceAddressSpace {
    /// The calling task thread's own stub thread.
    fn stub(&self) -> Result<Arc<Stub>> {
        self.threads
            .lock()
            .unwrap()
            .0
            .get(&gettid())
            .cloned()
            .ok_or(PlatformError::Unsupported("address space used from a thread that traces none of its stub threads"))
    }

    /// Refuses ranges that reach the stub page or beyond: the application's
    /// memory lies below it.
    fn check_range(&self, addr: u64, len: u64) -> Result<()> {
        if addr.checked_add(len).is_none_or(|end| end > self.first.page()) {
            return Err(PlatformError::Unsupported("range reaches the stub page"));
        }
        Ok(())
    }
}

impl AddressSpace for PtraceAddressSpace {
    fn map(&self, addr: u64, len: u64, prot: Prot, backing: Backing) -> Result<()> {
        let Backing::MemoryFile { offset } = backing;
        self.check_range(addr, len)?;
        let stub = self.stub()?;
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let r = stub.syscall(libc::SYS_mmap, [addr, len, prot.bits() & 7, flags, stub.memfd() as u64, offset])?;
        if r != addr as i64 {
            return Err(PlatformError::Host {
                call: "mmap in stub",
                err: std::io::Error::from_raw_os_error((-r) as i32),
            });
        }
        Ok(())
    }

    fn clone_thread(&self) -> Result<u64> {
        let tid = self.stub()?.clone_thread()?;
        self.threads.lock().unwrap().1 += 1;
        Ok(tid as u64)
    }

    fn adopt_thread(&self, token: u64) -> Result<()> {
        let stub = Stub::adopt(token as i32, &self.first);
        let mut threads = self.threads.lock().unwrap();
        threads.1 -= 1;
        match stub {
            Ok(stub) => {
                threads.0.insert(gettid(), Arc::new(stub));
                Ok(())
            }
            Err(e) => {
                drop(threads);
                self.released.notify_all();
                Err(e)
            }
        }
    }

    fn release_thread(&self) {
        let me = gettid();
        let mut threads = self.threads.lock().unwrap();
        if me != self.owner {
            if let Some(stub) = threads.0.remove(&me) {
                drop(threads);
                stub.exit_thread();
                self.released.notify_all();
            }
            return;
        }
        // The process lives as long as this thread: wait for the others,
        // those still being adopted too.
        while threads.0.len() > 1 || threads.1 > 0 {
            threads = self.released.wait(threads).unwrap();
        }
        threads.0.clear();
        drop(threads);
        self.first.kill_process();
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<()> {
        self.check_range(addr, len)?;
        let r = self.stub()?.syscall(libc::SYS_munmap, [addr, len, 0, 0, 0, 0])?;
        if r != 0 {
            return Err(PlatformError::Host {
                call: "munmap in stub",
                err: std::io::Error::from_raw_os_error((-r) as i32),
            });
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct PtraceContext {
    /// The stub thread this context last ran, and its process, for the
    /// interrupter.
    stub_pid: Arc<AtomicI32>,
    stub_tgid: Arc<AtomicI32>,
    /// FP state to load before the application next runs.
    pending_fp: Option<Vec<u8>>,
}

impl Context for PtraceContext {
    fn switch(&mut self, aspace: &dyn AddressSpace, regs: &mut Registers) -> Result<Exit> {
        let aspace = aspace
            .as_any()
            .downcast_ref::<PtraceAddressSpace>()
            .ok_or(PlatformError::Unsupported("not a ptrace address space"))?;
        let stub = aspace.stub()?;
        self.stub_tgid.store(stub.tgid(), Ordering::Relaxed);
        self.stub_pid.store(stub.pid(), Ordering::Relaxed);
        if let Some(fp) = self.pending_fp.take() {
            stub::set_xstate(stub.pid(), &fp)?;
        }
        let r = stub.run(regs);
        if r.is_err() {
            // The stub may be gone and its pid reused: never signal it again.
            self.stub_pid.store(0, Ordering::Relaxed);
        }
        r
    }

    fn interrupter(&self) -> Interrupter {
        let (pid, tgid) = (self.stub_pid.clone(), self.stub_tgid.clone());
        Arc::new(move || {
            let (p, g) = (pid.load(Ordering::Relaxed), tgid.load(Ordering::Relaxed));
            if p > 0 && g > 0 {
                // SAFETY: signals our own stub thread; a stale id at worst hits nothing.
                unsafe { libc::syscall(libc::SYS_tgkill, g, p, libc::SIGSTOP) };
            }
        })
    }

    fn fp_state(&mut self) -> Result<Vec<u8>> {
        if let Some(fp) = &self.pending_fp {
            return Ok(fp.clone());
        }
        let pid = self.stub_pid.load(Ordering::Relaxed);
        if pid <= 0 {
            return Err(PlatformError::Unsupported("FP state of a task that never ran"));
        }
        stub::get_xstate(pid)
    }

    fn set_fp_state(&mut self, state: &[u8]) -> Result<()> {
        self.pending_fp = Some(state.to_vec());
        Ok(())
    }

    fn cpu_clock(&self) -> CpuClock {
        let pid = self.stub_pid.clone();
        Arc::new(move || {
            let pid = pid.load(Ordering::Relaxed);
            // The host's CPU-time clock of the stub: CPUCLOCK_SCHED of its
            // pid. Linux lets another process read only a whole process's
            // clock (a thread's is EINVAL), so the stub's first thread
            // reports all its threads' time and the others none: right per
            // process, not per thread.
            let clock = ((!pid) << 3) | 2;
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: clock_gettime writes one timespec.
            if pid <= 0 || unsafe { libc::clock_gettime(clock, &mut ts) } < 0 {
                return Duration::ZERO;
            }
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        })
    }
}

/// The application may use addresses up to the stub page; TASK_SIZE bounds it.
const _: () = assert!(TASK_SIZE == 0x7fff_ffff_f000);
