//! x86-64 signal frames: what Linux pushes on the stack to run a handler
//! (`struct rt_sigframe`), and rt_sigreturn, which takes it down again.
//!
//! The frame, from the new stack pointer up: the return address (the
//! handler's SA_RESTORER), the ucontext (flags, link, sigaltstack, the
//! registers as `struct sigcontext`, the old signal mask), the siginfo;
//! above it, 64-byte aligned, the XSAVE area of the FP state followed by
//! FP_XSTATE_MAGIC2.

use abi::signal::*;
use abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::mm::Access;
use crate::mm::MemoryManager;
use crate::platform::Context;
use crate::platform::{Registers, USER_CS, USER_DS};

/// The kernel's `struct sigcontext` (x86-64).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    pub fpstate: u64,
    pub reserved: [u64; 8],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct UContext {
    pub flags: u64,
    pub link: u64,
    pub stack: StackT,
    pub mcontext: SigContext,
    pub sigmask: u64,
}

#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RtSigFrame {
    pretcode: u64,
    uc: UContext,
    info: SigInfo,
}

const UC_FP_XSTATE: u64 = 1;
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// Where the software-reserved bytes of an XSAVE area start (fxsave's tail).
const SW_RESERVED: usize = 464;
/// The legacy (fxsave) part of an XSAVE area.
const FXSAVE_SIZE: usize = 512;
/// The flags a sigreturn may restore (Linux's FIX_EFLAGS).
const FIX_EFLAGS: u64 = 0x50dd5;
/// The x86-64 ABI's red zone below the stack pointer.
const RED_ZONE: u64 = 128;
/// Page-fault trap number, for SIGSEGV frames.
const TRAP_PF: u64 = 14;

/// No alternate signal stack.
pub const DISABLED_ALTSTACK: StackT = StackT { sp: 0, flags: SS_DISABLE, pad: 0, size: 0 };

/// Whether `sp` is on the alternate signal stack.
pub fn on_altstack(st: &StackT, sp: u64) -> bool {
    st.flags & SS_DISABLE == 0 && sp > st.sp && sp - st.sp <= st.size
}

/// The altstack as sigaltstack and the frame report it.
pub fn altstack_report(st: &StackT, sp: u64) -> StackT {
    if st.flags & SS_DISABLE != 0 {
        return DISABLED_ALTSTACK;
    }
    let flags = if on_altstack(st, sp) { SS_ONSTACK } else { st.flags & SS_AUTODISARM };
    StackT { flags, ..*st }
}

/// The parts of a task that a signal frame is built from and restored to.
pub struct FrameTask<'a> {
    pub regs: &'a mut Registers,
    pub mm: &'a MemoryManager,
    pub altstack: &'a mut StackT,
    pub context: &'a mut dyn Context,
}

/// Sets up a frame to run `act`'s handler for `info`, with `old_mask` to
/// restore on return. EFAULT if the stack cannot take it.
pub fn setup(mut t: FrameTask<'_>, info: &SigInfo, act: &KernelSigaction, old_mask: SigSet) -> Result<(), Errno> {
    if act.flags & SA_RESTORER == 0 {
        // x86-64 has no fallback return trampoline.
        return Err(Errno::EFAULT);
    }
    let regs = *t.regs;
    let mut sp = regs.rsp;
    let uc_stack = altstack_report(t.altstack, sp);
    if act.flags & SA_ONSTACK != 0 && t.altstack.flags & SS_DISABLE == 0 && !on_altstack(t.altstack, sp) {
        sp = t.altstack.sp + t.altstack.size;
        if t.altstack.flags & SS_AUTODISARM != 0 {
            *t.altstack = DISABLED_ALTSTACK;
        }
    } else {
        sp = sp.wrapping_sub(RED_ZONE);
    }
    let mut fp = fp_state(&mut t)?;
    let xstate_size = fp.len();
    let xfeatures = u64::from_ne_bytes(word(&fp, SW_RESERVED)?);
    // The software bytes a signal frame's XSAVE area carries.
    fp[SW_RESERVED..SW_RESERVED + 4].copy_from_slice(&FP_XSTATE_MAGIC1.to_ne_bytes());
    fp[SW_RESERVED + 4..SW_RESERVED + 8].copy_from_slice(&(xstate_size as u32 + 4).to_ne_bytes());
    fp[SW_RESERVED + 8..SW_RESERVED + 16].copy_from_slice(&xfeatures.to_ne_bytes());
    fp[SW_RESERVED + 16..SW_RESERVED + 20].copy_from_slice(&(xstate_size as u32).to_ne_bytes());
    fp.extend_from_slice(&FP_XSTATE_MAGIC2.to_ne_bytes());
    let fpstate = sp.wrapping_sub(fp.len() as u64) & !63;
    let frame_size = std::mem::size_of::<RtSigFrame>() as u64;
    // At the handler's entry, as after a call: (rsp + 8) is 16-byte aligned.
    let frame = ((fpstate.wrapping_sub(frame_size)) & !15).wrapping_sub(8);

    let (err, trapno, cr2) = match info.signo {
        SIGSEGV | SIGBUS if info.code > 0 => {
            // A fault from user mode; present when it was an access error.
            (4 | u64::from(info.code == SEGV_ACCERR), TRAP_PF, info.fields[0])
        }
        _ => (0, 0, 0),
    };
    let mcontext = SigContext {
        r8: regs.r8,
        r9: regs.r9,
        r10: regs.r10,
        r11: regs.r11,
        r12: regs.r12,
        r13: regs.r13,
        r14: regs.r14,
        r15: regs.r15,
        rdi: regs.rdi,
        rsi: regs.rsi,
        rbp: regs.rbp,
        rbx: regs.rbx,
        rdx: regs.rdx,
        rax: regs.rax,
        rcx: regs.rcx,
        rsp: regs.rsp,
        rip: regs.rip,
        eflags: regs.eflags,
        cs: USER_CS as u16,
        gs: 0,
        fs: 0,
        ss: USER_DS as u16,
        err,
        trapno,
        oldmask: old_mask.0,
        cr2,
        fpstate,
        reserved: [0; 8],
    };
    let f = RtSigFrame {
        pretcode: act.restorer,
        uc: UContext {
            flags: UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
            link: 0,
            stack: uc_stack,
            mcontext,
            sigmask: old_mask.0,
        },
        info: *info,
    };
    t.mm.copy_out_with(fpstate, &fp, Access::Write)?;
    t.mm.copy_out_with(frame, f.as_bytes(), Access::Write)?;

    let r = &mut *t.regs;
    r.rsp = frame;
    r.rip = act.handler;
    r.rdi = info.signo as u64;
    r.rsi = frame + std::mem::offset_of!(RtSigFrame, info) as u64;
    r.rdx = frame + std::mem::offset_of!(RtSigFrame, uc) as u64;
    r.rax = 0;
    // The handler starts with the direction and trap flags clear.
    r.eflags &= !(0x400 | 0x100 | 0x40000);
    r.cs = USER_CS;
    r.ss = USER_DS;
    r.orig_rax = u64::MAX;
    Ok(())
}

/// The task's XSAVE area; the platform always gives at least the legacy
/// FXSAVE part, which the frame code reads and writes.
fn fp_state(t: &mut FrameTask<'_>) -> Result<Vec<u8>, Errno> {
    t.context.fp_state().ok().filter(|fp| fp.len() >= FXSAVE_SIZE).ok_or(Errno::EFAULT)
}

/// Whether the CPU would load XSAVE area `fp` (Linux's sigreturn loads it
/// with XRSTOR or FXRSTOR, which fault, and the signal is SIGSEGV): MXCSR
/// has no bit outside the CPU's MXCSR mask, and the XSAVE header asks for
/// no feature the task's state lacks, is not compacted and has its reserved
/// bytes zero. `cur` is the task's own state, as the platform gave it. An
/// area the host would refuse later must fail here, as the frame's fault:
/// a refusal at the next switch ended the whole process with SIGKILL.
fn fp_state_valid(fp: &[u8], cur: &[u8]) -> bool {
    const MXCSR: usize = 24;
    const MXCSR_MASK: usize = 28;
    const XSAVE_HEADER: usize = FXSAVE_SIZE;
    const XSAVE_HEADER_SIZE: usize = 64;
    let u32_at = |a: &[u8], at| word::<4>(a, at).map(u32::from_ne_bytes);
    let u64_at = |a: &[u8], at| word::<8>(a, at).map(u64::from_ne_bytes);
    let (Ok(mxcsr), Ok(mask)) = (u32_at(fp, MXCSR), u32_at(cur, MXCSR_MASK)) else { return false };
    // A zero mask means the CPU's default one.
    let mask = if mask == 0 { 0xffbf } else { mask };
    if mxcsr & !mask != 0 {
        return false;
    }
    if fp.len() < XSAVE_HEADER + XSAVE_HEADER_SIZE {
        return true;
    }
    let (Ok(xstate_bv), Ok(xcomp_bv), Ok(features)) =
        (u64_at(fp, XSAVE_HEADER), u64_at(fp, XSAVE_HEADER + 8), u64_at(cur, SW_RESERVED))
    else {
        return false;
    };
    let reserved = &fp[XSAVE_HEADER + 16..XSAVE_HEADER + XSAVE_HEADER_SIZE];
    xstate_bv & !features == 0 && xcomp_bv == 0 && reserved.iter().all(|&b| b == 0)
}

/// The `N` bytes at `at` of an XSAVE area.
fn word<const N: usize>(area: &[u8], at: usize) -> Result<[u8; N], Errno> {
    area.get(at..at + N).and_then(|b| b.try_into().ok()).ok_or(Errno::EFAULT)
}

/// rt_sigreturn: restores the registers, mask, altstack and FP state saved
/// by `setup`; the frame starts just below the stack pointer (the handler's
/// `ret` popped the return address). Returns the signal mask to restore;
/// Err means the frame is bad: SIGSEGV.
pub fn sigreturn(mut t: FrameTask<'_>) -> Result<SigSet, Errno> {
    let frame = t.regs.rsp.wrapping_sub(8);
    let uc: UContext = t.mm.read_obj(frame + std::mem::offset_of!(RtSigFrame, uc) as u64)?;
    let sc = uc.mcontext;
    if sc.fpstate != 0 {
        let mut legacy = vec![0u8; FXSAVE_SIZE];
        t.mm.copy_in(sc.fpstate, &mut legacy)?;
        let magic = u32::from_ne_bytes(word(&legacy, SW_RESERVED)?);
        let size = u32::from_ne_bytes(word(&legacy, SW_RESERVED + 16)?) as usize;
        let cur = fp_state(&mut t)?;
        let mut fp = cur.clone();
        if magic == FP_XSTATE_MAGIC1 && size == fp.len() {
            t.mm.copy_in(sc.fpstate, &mut fp)?;
        } else {
            // Only the legacy part: keep the rest as it is.
            fp[..FXSAVE_SIZE].copy_from_slice(&legacy);
        }
        // The host wants its own (ptrace) software bytes back: the feature mask.
        fp[SW_RESERVED..FXSAVE_SIZE].copy_from_slice(&cur[SW_RESERVED..FXSAVE_SIZE]);
        if !fp_state_valid(&fp, &cur) {
            return Err(Errno::EFAULT);
        }
        t.context.set_fp_state(&fp).map_err(|_| Errno::EFAULT)?;
    }
    let r: &mut Registers = &mut *t.regs;
    r.r8 = sc.r8;
    r.r9 = sc.r9;
    r.r10 = sc.r10;
    r.r11 = sc.r11;
    r.r12 = sc.r12;
    r.r13 = sc.r13;
    r.r14 = sc.r14;
    r.r15 = sc.r15;
    r.rdi = sc.rdi;
    r.rsi = sc.rsi;
    r.rbp = sc.rbp;
    r.rbx = sc.rbx;
    r.rdx = sc.rdx;
    r.rax = sc.rax;
    r.rcx = sc.rcx;
    r.rsp = sc.rsp;
    r.rip = sc.rip;
    r.eflags = (r.eflags & !FIX_EFLAGS) | (sc.eflags & FIX_EFLAGS);
    r.cs = USER_CS;
    r.ss = USER_DS;
    // Never restarted again.
    r.orig_rax = u64::MAX;
    // The altstack as it was (sigaltstack's rules; errors ignored, as Linux does).
    let st = uc.stack;
    if st.flags & SS_DISABLE != 0 {
        *t.altstack = DISABLED_ALTSTACK;
    } else if !on_altstack(t.altstack, t.regs.rsp) {
        *t.altstack = StackT { flags: st.flags & SS_AUTODISARM, ..st };
    }
    Ok(SigSet(uc.sigmask))
}
