//! Serving the application's faults: the chunk around the address is
//! backed and mapped in the host, or the fault becomes a signal.

use abi::consts::*;
use abi::signal::{BUS_ADRERR, SEGV_ACCERR, SEGV_MAPERR, SIGSEGV};
use abi::Errno;

use super::{page_down, platform_fault, MemoryManager, State, FAULT_CHUNK};
use crate::platform::Backing;

/// Why the memory manager could not serve a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// A signal for the application.
    Signal { signo: i32, code: i32 },
    /// The memory cap refused the backing: the OOM killer makes room and
    /// the access is tried again.
    OutOfMemory,
}

impl MemoryManager {
    /// Serves a host fault at `addr`: maps the chunk around it, or says which
    /// signal the application gets.
    /// `ip` is where the application was (an instruction fetch faults there).
    pub fn handle_fault(&self, addr: u64, code: i32, ip: u64) -> Result<(), FaultError> {
        let mut s = self.lock();
        let Some((vstart, vma)) = s.vma_for_access(addr) else {
            return Err(FaultError::Signal { signo: SIGSEGV, code: SEGV_MAPERR });
        };
        // Host mappings carry their VMA's full protection, except for
        // copy-on-write pages. So an access error in a writable VMA is a
        // write to such a page, or stale (another thread has since fixed the
        // mapping): either way the mapping is made right and the access
        // tried again. Elsewhere it is real: a write to a read-only VMA, or
        // an instruction fetch from one without PROT_EXEC.
        let fetch = page_down(addr) == page_down(ip) && !vma.prot.contains(Prot::EXEC);
        let refusals = self.mf.refusals();
        if vma.prot.is_empty() || (code == SEGV_ACCERR && (fetch || !vma.prot.contains(Prot::WRITE))) {
            return Err(FaultError::Signal { signo: SIGSEGV, code: SEGV_ACCERR });
        }
        let sigbus = |e| {
            let cap_refused = e == Errno::ENOMEM && self.mf.refusals() != refusals;
            if cap_refused {
                FaultError::OutOfMemory
            } else {
                FaultError::Signal { signo: abi::signal::SIGBUS, code: BUS_ADRERR }
            }
        };
        if vma.prot.contains(Prot::WRITE) {
            // The access may be a write (the host does not say): a page shared
            // with a fork gets its own copy now. Reads of the rest of the chunk
            // keep sharing.
            let page = page_down(addr);
            self.ensure_pmas(&mut s, page, page + PAGE_SIZE).map_err(sigbus)?;
            self.break_cow(&mut s, page, page + PAGE_SIZE).map_err(sigbus)?;
        }
        let start = (addr & !(FAULT_CHUNK - 1)).max(vstart);
        let end = (addr & !(FAULT_CHUNK - 1)).saturating_add(FAULT_CHUNK).min(vma.end);
        self.populate(&mut s, start, end).map_err(sigbus)?;
        if s.pmas_in(addr, addr + 1).is_empty() {
            // A file mapping past the end of its file.
            return Err(FaultError::Signal { signo: abi::signal::SIGBUS, code: BUS_ADRERR });
        }
        Ok(())
    }

    /// Makes sure `[start, end)` is backed and mapped in the host.
    pub(super) fn populate(&self, s: &mut State, start: u64, end: u64) -> Result<(), Errno> {
        let mut cur = start;
        while cur < end {
            let Some((_, vma)) = s.vma_at(cur) else {
                cur = s.vmas.range(cur..).next().map_or(end, |(&k, _)| k);
                continue;
            };
            let seg_end = end.min(vma.end);
            self.ensure_pmas(s, cur, seg_end)?;
            for (ps, p) in s.pmas_in(cur, seg_end) {
                let (ms, me) = (ps.max(cur), p.end.min(seg_end));
                let backing = Backing::MemoryFile { offset: p.off + (ms - ps) };
                let prot = if p.cow { vma.prot - Prot::WRITE } else { vma.prot };
                self.aspace.map(ms, me - ms, prot, backing).map_err(platform_fault)?;
            }
            cur = seg_end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{MmapRequest, VmaName, STACK_GUARD_GAP};
    use super::*;

    fn segv(code: i32) -> Result<(), FaultError> {
        Err(FaultError::Signal { signo: SIGSEGV, code })
    }

    #[test]
    fn a_fault_maps_the_aligned_chunk_clipped_to_the_vma() {
        let (mm, host, _mf) = new_mm();
        // A VMA straddling a chunk boundary: 2 pages below it, 3 above.
        // (Read-only, so that no page is broken out of the chunk for a write.)
        let c = A + FAULT_CHUNK;
        mm.mmap(fixed(c - 2 * P, 5 * P, R)).unwrap();
        host.take();
        mm.handle_fault(c + P, SEGV_MAPERR, 0).unwrap();
        let calls = host.take();
        assert!(
            matches!(calls[..], [HostCall::Map { addr, len, prot, .. }] if addr == c && len == 3 * P && prot == R),
            "{calls:?}"
        );
        mm.handle_fault(c - P, SEGV_MAPERR, 0).unwrap();
        let calls = host.take();
        assert!(
            matches!(calls[..], [HostCall::Map { addr, len, .. }] if addr == c - 2 * P && len == 2 * P),
            "{calls:?}"
        );
        // In a writable VMA the faulting page is backed on its own first;
        // the chunk is mapped all the same.
        mm.mmap(fixed(c + 8 * P, 3 * P, RW)).unwrap();
        mm.handle_fault(c + 9 * P, SEGV_MAPERR, 0).unwrap();
        for page in [c + 8 * P, c + 9 * P, c + 10 * P] {
            assert_eq!(host.host_page(page).map(|m| m.0), Some(RW), "{page:#x}");
        }
    }

    #[test]
    fn faults_against_the_vmas_are_the_applications_signals() {
        let (mm, host, _mf) = new_mm();
        mm.mmap(fixed(A, P, R)).unwrap();
        mm.mmap(fixed(A + 2 * P, P, Prot::empty())).unwrap();
        mm.mmap(fixed(A + 4 * P, P, RW)).unwrap();
        assert_eq!(mm.handle_fault(A + P, SEGV_MAPERR, 0), segv(SEGV_MAPERR), "nothing mapped");
        assert_eq!(mm.handle_fault(A + 2 * P, SEGV_MAPERR, 0), segv(SEGV_ACCERR), "PROT_NONE");
        assert_eq!(mm.handle_fault(A, SEGV_MAPERR, 0), Ok(()), "a read of a read-only page");
        assert_eq!(host.host_page(A).map(|m| m.0), Some(R));
        assert_eq!(mm.handle_fault(A, SEGV_ACCERR, 0), segv(SEGV_ACCERR), "a write to it");
        // An instruction fetch from memory without PROT_EXEC.
        assert_eq!(mm.handle_fault(A + 4 * P + 8, SEGV_ACCERR, A + 4 * P + 8), segv(SEGV_ACCERR));
        // A stale access error in a writable VMA is made right and retried.
        assert_eq!(mm.handle_fault(A + 4 * P, SEGV_ACCERR, 0), Ok(()));
        assert_eq!(host.host_page(A + 4 * P).map(|m| m.0), Some(RW));
    }

    #[test]
    fn a_stack_grows_down_to_a_fault_within_its_limit() {
        let (mm, _host, _mf) = new_mm();
        let top = A + 0x1000_0000;
        let stack = MmapRequest { growsdown: true, name: VmaName::Stack, ..fixed(top - P, P, RW) };
        mm.mmap(stack).unwrap();
        assert_eq!(mm.handle_fault(top - 3 * P + 8, SEGV_MAPERR, 0), Ok(()));
        assert_eq!(ranges(&mm), [(top - 3 * P, top, RW)]);
        // RLIMIT_STACK bounds it.
        assert_eq!(mm.handle_fault(top - STACK_LIMIT - P, SEGV_MAPERR, 0), segv(SEGV_MAPERR));
        // So does the guard gap above the mapping below: the stack may come
        // down to it, not into it.
        let below_end = top - 5 * P - STACK_GUARD_GAP;
        mm.mmap(fixed(below_end - P, P, RW)).unwrap();
        assert_eq!(mm.handle_fault(top - 5 * P + 8, SEGV_MAPERR, 0), Ok(()));
        assert_eq!(mm.handle_fault(top - 5 * P - 8, SEGV_MAPERR, 0), segv(SEGV_MAPERR));
        assert_eq!(ranges(&mm), [(below_end - P, below_end, RW), (top - 5 * P, top, RW)]);
    }
}
