//! The calls that change the VMA map: mmap, munmap, mprotect, mremap,
//! madvise and brk.

use std::sync::Arc;

use abi::consts::*;
use abi::Errno;
use vfs::file::Mappable;

use super::{page_down, page_up, platform_fault, Access, FileMap, MemoryManager, Pma, State, Vma, VmaName};

/// What mmap was asked for, after the syscall layer has checked its flags.
#[derive(Clone, Copy, Debug)]
pub struct MmapRequest {
    pub addr: u64,
    pub len: u64,
    pub prot: Prot,
    pub shared: bool,
    pub fixed: bool,
    pub noreplace: bool,
    pub growsdown: bool,
    pub populate: bool,
    /// MAP_32BIT: somewhere in the low 2 GiB (x86-64 puts it in [1 GiB, 2 GiB)).
    pub low_2g: bool,
    pub name: VmaName,
}

impl MmapRequest {
    /// Private anonymous memory wherever it fits (`addr` a hint).
    pub fn anon(addr: u64, len: u64, prot: Prot) -> MmapRequest {
        MmapRequest {
            addr,
            len,
            prot,
            shared: false,
            fixed: false,
            noreplace: false,
            growsdown: false,
            populate: false,
            low_2g: false,
            name: VmaName::Anon,
        }
    }
}

/// Where MAP_32BIT mappings go, as on x86-64 Linux.
const LOW_2G: (u64, u64) = (0x4000_0000, 0x8000_0000);

impl MemoryManager {
    /// Creates an anonymous mapping; returns its address.
    pub fn mmap(&self, req: MmapRequest) -> Result<u64, Errno> {
        self.do_mmap(req, None)
    }

    /// Maps `file`'s pages from offset `off`: shared, or copy-on-write for a
    /// private mapping. `writable`: whether a shared mapping may ever be
    /// written (the file is open for writing and not sealed).
    pub fn mmap_file(&self, req: MmapRequest, file: Arc<dyn Mappable>, off: u64, writable: bool) -> Result<u64, Errno> {
        self.do_mmap(req, Some((file, off, writable)))
    }

    fn do_mmap(&self, req: MmapRequest, file: Option<(Arc<dyn Mappable>, u64, bool)>) -> Result<u64, Errno> {
        let mut s = self.lock();
        let len = req.len;
        let lay = s.layout;
        let addr = if req.fixed || req.noreplace {
            let end = req.addr.checked_add(len).ok_or(Errno::ENOMEM)?;
            if end > lay.max_addr {
                return Err(Errno::ENOMEM);
            }
            if req.addr < lay.min_addr {
                return Err(Errno::EPERM);
            }
            // MAP_FIXED_NOREPLACE wins over MAP_FIXED.
            if req.noreplace && s.overlaps(req.addr, end) {
                return Err(Errno::EEXIST);
            }
            self.remove_range(&mut s, req.addr, end)?;
            req.addr
        } else if req.low_2g {
            s.find_free_between(LOW_2G.0, LOW_2G.1, len).ok_or(Errno::ENOMEM)?
        } else {
            s.find_free(page_down(req.addr), len).ok_or(Errno::ENOMEM)?
        };
        let vma = Vma {
            end: addr + len,
            prot: req.prot,
            shared: req.shared,
            growsdown: req.growsdown,
            name: req.name,
            dontfork: false,
            wipeonfork: false,
            may_write: !req.shared || file.as_ref().is_none_or(|f| f.2),
            file: file.map(|(m, off, _)| {
                let id = s.next_file;
                s.next_file += 1;
                s.files.insert(id, m);
                FileMap { id, off }
            }),
        };
        s.insert_vma(addr, vma);
        if req.populate && !req.prot.is_empty() {
            // Like Linux, a mapping that cannot be populated now is still made;
            // its pages come on first touch.
            let _ = self.populate(&mut s, addr, addr + len);
        }
        Ok(addr)
    }

    /// munmap: the range must be page-aligned; unmapped parts are ignored.
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), Errno> {
        let mut s = self.lock();
        let end = page_up(len).and_then(|l| addr.checked_add(l)).ok_or(Errno::EINVAL)?;
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 || end > s.layout.max_addr.max(TASK_SIZE) {
            return Err(Errno::EINVAL);
        }
        self.remove_range(&mut s, addr, end)
    }

    /// mprotect, with Linux's order of checks. PROT_SEM is accepted and means
    /// nothing on x86.
    pub fn mprotect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        if prot.contains(Prot::GROWSDOWN | Prot::GROWSUP) || !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = page_up(len).and_then(|l| addr.checked_add(l)).ok_or(Errno::ENOMEM)?;
        let rwx = Prot::READ | Prot::WRITE | Prot::EXEC;
        if !(prot - (rwx | Prot::GROWSDOWN | Prot::GROWSUP | Prot::SEM)).is_empty() {
            return Err(Errno::EINVAL);
        }
        let mut s = self.lock();
        let mut start = addr;
        if prot.contains(Prot::GROWSDOWN) {
            match s.vma_at(addr) {
                Some((vs, v)) if v.growsdown => start = vs,
                _ => return Err(Errno::EINVAL),
            }
        } else if prot.contains(Prot::GROWSUP) {
            // x86 has no grows-up mappings.
            return Err(Errno::EINVAL);
        }
        // Like Linux, change the mapped range up to the first hole, then fail.
        let mut covered_end = start;
        for (ps, pe, _) in s.vma_pieces(start, end) {
            if ps != covered_end {
                break;
            }
            covered_end = pe;
        }
        if covered_end == start {
            return Err(Errno::ENOMEM);
        }
        let prot = prot & rwx;
        if prot.contains(Prot::WRITE) && s.vma_pieces(start, covered_end).iter().any(|p| !p.2.may_write) {
            return Err(Errno::EACCES);
        }
        s.split_vma(start);
        s.split_vma(covered_end);
        for (_, v) in s.vmas.range_mut(start..covered_end) {
            v.prot = prot;
        }
        // The host mappings are dropped and come back with the new protection on
        // the next fault; the data lives in the memory file meanwhile.
        self.aspace.unmap(start, covered_end - start).map_err(platform_fault)?;
        s.merge_around(start, covered_end);
        if covered_end < end {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// mremap; `flags` were checked by the caller. Returns the new address.
    pub fn mremap(&self, old: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64) -> Result<u64, Errno> {
        let mut s = self.lock();
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        let old_end = old.checked_add(old_len).ok_or(Errno::EINVAL)?;
        let (vstart, vma) = s.vma_at(old).ok_or(Errno::EFAULT)?;
        if old_end > vma.end || old_len == 0 {
            // The old range must lie within one VMA (an empty old range would
            // duplicate a shared mapping, which anonymous private memory is not).
            return Err(if old_len == 0 { Errno::EINVAL } else { Errno::EFAULT });
        }
        let lay = s.layout;
        if flags & MREMAP_FIXED != 0 {
            let new_end = new_addr.checked_add(new_len).ok_or(Errno::EINVAL)?;
            if !new_addr.is_multiple_of(PAGE_SIZE) || new_end > lay.max_addr {
                return Err(Errno::EINVAL);
            }
            if new_addr < lay.min_addr {
                return Err(Errno::EPERM);
            }
            if new_addr < old_end && old < new_end {
                return Err(Errno::EINVAL);
            }
            self.remove_range(&mut s, new_addr, new_end)?;
            if new_len < old_len {
                self.remove_range(&mut s, old + new_len, old_end)?;
            }
            let moved = old_len.min(new_len);
            let vma = vma.advanced(old - vstart);
            self.move_range(&mut s, old, moved, new_addr, vma, flags & MREMAP_DONTUNMAP != 0)?;
            if new_len > moved {
                s.insert_vma(new_addr + moved, Vma { end: new_addr + new_len, ..vma.advanced(moved) });
            }
            return Ok(new_addr);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.remove_range(&mut s, old + new_len, old_end)?;
            }
            if flags & MREMAP_DONTUNMAP != 0 && new_len == old_len {
                // DONTUNMAP always moves.
                let dst = s.find_free(0, new_len).ok_or(Errno::ENOMEM)?;
                self.move_range(&mut s, old, old_len, dst, vma.advanced(old - vstart), true)?;
                return Ok(dst);
            }
            return Ok(old);
        }
        // Grow in place when the VMA ends where the old range does and the space
        // after it is free.
        let grow_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if old_end == vma.end
            && grow_end <= lay.max_addr
            && !s.overlaps(old_end, grow_end)
            && flags & MREMAP_DONTUNMAP == 0
        {
            if let Some(v) = s.vmas.get_mut(&vstart) {
                v.end = grow_end;
                return Ok(old);
            }
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let dst = s.find_free(0, new_len).ok_or(Errno::ENOMEM)?;
        let vma = vma.advanced(old - vstart);
        self.move_range(&mut s, old, old_len, dst, vma, flags & MREMAP_DONTUNMAP != 0)?;
        s.insert_vma(dst + old_len, Vma { end: dst + new_len, ..vma.advanced(old_len) });
        Ok(dst)
    }

    /// madvise; `advice` was checked by the caller. Unmapped parts give ENOMEM
    /// after the mapped parts have been advised, as in Linux.
    pub fn madvise(&self, addr: u64, len: u64, advice: i32) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len).and_then(|l| addr.checked_add(l)).ok_or(Errno::EINVAL)?;
        if end == addr {
            return Ok(());
        }
        let mut s = self.lock();
        let pieces = s.vma_pieces(addr, end);
        let hole = pieces.iter().map(|p| p.1 - p.0).sum::<u64>() != end - addr;
        for &(ps, pe, vma) in &pieces {
            match advice {
                MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_FREE => {
                    if advice == MADV_FREE && vma.shared {
                        return Err(Errno::EINVAL);
                    }
                    self.aspace.unmap(ps, pe - ps).map_err(platform_fault)?;
                    if !vma.shared {
                        // Private anonymous memory reads as zeroes afterwards.
                        self.free_pmas(&mut s, ps, pe);
                    }
                }
                MADV_REMOVE => {
                    if !vma.shared {
                        return Err(Errno::EINVAL);
                    }
                    self.aspace.unmap(ps, pe - ps).map_err(platform_fault)?;
                    self.free_pmas(&mut s, ps, pe);
                }
                MADV_WIPEONFORK | MADV_KEEPONFORK if vma.shared => return Err(Errno::EINVAL),
                MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK => {
                    s.split_vma(ps);
                    s.split_vma(pe);
                    // The split leaves one VMA starting at the piece's start.
                    if let Some(v) = s.vmas.get_mut(&ps) {
                        match advice {
                            MADV_DONTFORK => v.dontfork = true,
                            MADV_DOFORK => v.dontfork = false,
                            MADV_WIPEONFORK => v.wipeonfork = true,
                            _ => v.wipeonfork = false,
                        }
                    }
                    s.merge_around(ps, pe);
                }
                MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                    let access = if advice == MADV_POPULATE_WRITE { Access::Write } else { Access::Read };
                    if !access.allowed(vma.prot) {
                        return Err(Errno::EFAULT);
                    }
                    self.populate(&mut s, ps, pe)?;
                }
                _ => {}
            }
        }
        if hole {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }
    /// Sets where the brk area starts (by the ELF loader).
    pub fn set_brk_start(&self, addr: u64) {
        let mut s = self.lock();
        s.brk_start = addr;
        s.brk = addr;
    }

    /// brk: returns the new break, or the old one when the request cannot be met.
    pub fn brk(&self, addr: u64, data_limit: u64) -> u64 {
        let mut s = self.lock();
        let (start, cur) = (s.brk_start, s.brk);
        if addr < start || addr - start > data_limit {
            return cur;
        }
        let (Some(old_top), Some(new_top)) = (page_up(cur), page_up(addr)) else {
            return cur;
        };
        if new_top > old_top {
            if new_top > s.layout.max_addr || s.overlaps(old_top, new_top + PAGE_SIZE) {
                return cur;
            }
            s.insert_vma(
                old_top,
                Vma {
                    end: new_top,
                    prot: Prot::READ | Prot::WRITE,
                    shared: false,
                    growsdown: false,
                    name: VmaName::Heap,
                    dontfork: false,
                    wipeonfork: false,
                    file: None,
                    may_write: true,
                },
            );
        } else if new_top < old_top && self.remove_range(&mut s, new_top, old_top).is_err() {
            return cur;
        }
        s.brk = addr;
        addr
    }

    /// Unmaps `[start, end)`: host mappings, VMAs and their backing.
    fn remove_range(&self, s: &mut State, start: u64, end: u64) -> Result<(), Errno> {
        if !s.overlaps(start, end) {
            return Ok(());
        }
        // Nothing is mapped at or above max_addr (the platform's own pages may
        // be there), so the host range stops at it.
        let host_end = end.min(s.layout.max_addr);
        if start < host_end {
            self.aspace.unmap(start, host_end - start).map_err(platform_fault)?;
        }
        s.split_vma(start);
        s.split_vma(end);
        let keys: Vec<u64> = s.vmas.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            s.vmas.remove(&k);
        }
        self.free_pmas(s, start, end);
        let used: std::collections::BTreeSet<u64> = s.vmas.values().filter_map(|v| v.file.map(|f| f.id)).collect();
        s.files.retain(|id, _| used.contains(id));
        Ok(())
    }

    /// Moves `len` bytes of mapping (VMA and backing) from `old` to a free range
    /// at `new`, keeping the data without copying it.
    fn move_range(&self, s: &mut State, old: u64, len: u64, new: u64, vma: Vma, keep_old: bool) -> Result<(), Errno> {
        let old_end = old + len;
        self.aspace.unmap(old, len).map_err(platform_fault)?;
        s.split_pma(old);
        s.split_pma(old_end);
        let keys: Vec<u64> = s.pmas.range(old..old_end).map(|(&k, _)| k).collect();
        for k in keys {
            if let Some(p) = s.pmas.remove(&k) {
                s.pmas.insert(new + (k - old), Pma { end: new + (p.end - old), ..p });
            }
        }
        if !keep_old {
            s.split_vma(old);
            s.split_vma(old_end);
            let vkeys: Vec<u64> = s.vmas.range(old..old_end).map(|(&k, _)| k).collect();
            for k in vkeys {
                s.vmas.remove(&k);
            }
        }
        s.insert_vma(new, Vma { end: new + len, ..vma });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn munmap_splits_a_vma_and_remapping_the_hole_merges_it() {
        let (mm, host, _mf) = new_mm();
        assert_eq!(mm.mmap(fixed(A, 4 * P, RW)), Ok(A));
        mm.copy_out(A, b"first").unwrap();
        mm.copy_out(A + 3 * P, b"last").unwrap();
        host.take();

        mm.munmap(A + P, P).unwrap();
        assert_eq!(ranges(&mm), [(A, A + P, RW), (A + 2 * P, A + 4 * P, RW)]);
        assert_eq!(host.take(), [HostCall::Unmap { addr: A + P, len: P }]);
        assert_eq!(mm.copy_in(A + P, &mut [0u8; 1]), Err(Errno::EFAULT));
        assert_eq!(read(&mm, A, 5), b"first");
        assert_eq!(read(&mm, A + 3 * P, 4), b"last");

        // The same kind of memory in the hole joins both sides again.
        assert_eq!(mm.mmap(fixed(A + P, P, RW)), Ok(A + P));
        assert_eq!(ranges(&mm), [(A, A + 4 * P, RW)]);
        assert_eq!(read(&mm, A + P, 4), [0; 4], "the new page is fresh");

        // A range reaching past the mappings on both sides removes them all.
        mm.munmap(A - 2 * P, 8 * P).unwrap();
        assert!(ranges(&mm).is_empty());
        assert_eq!(host.take().last(), Some(&HostCall::Unmap { addr: A - 2 * P, len: 8 * P }));
    }

    #[test]
    fn munmap_refuses_unaligned_empty_and_out_of_range_requests() {
        let (mm, _host, _mf) = new_mm();
        mm.mmap(fixed(A, P, RW)).unwrap();
        assert_eq!(mm.munmap(A + 1, P), Err(Errno::EINVAL));
        assert_eq!(mm.munmap(A, 0), Err(Errno::EINVAL));
        assert_eq!(mm.munmap(u64::MAX - P + 1, P), Err(Errno::EINVAL), "the end overflows");
        assert_eq!(mm.munmap(TASK_SIZE, P), Err(Errno::EINVAL));
        assert_eq!(ranges(&mm), [(A, A + P, RW)], "nothing was removed");
        // Unmapping what is not mapped is not an error.
        assert_eq!(mm.munmap(A + 16 * P, P), Ok(()));
        // A length that is not a page multiple covers the partial page.
        assert_eq!(mm.munmap(A, 1), Ok(()));
        assert!(ranges(&mm).is_empty());
    }

    #[test]
    fn mprotect_splits_a_vma_and_restoring_the_protection_merges_it() {
        let (mm, host, _mf) = new_mm();
        mm.mmap(fixed(A, 4 * P, RW)).unwrap();
        host.take();

        mm.mprotect(A + P, 2 * P, R).unwrap();
        assert_eq!(ranges(&mm), [(A, A + P, RW), (A + P, A + 3 * P, R), (A + 3 * P, A + 4 * P, RW)]);
        // The host mapping goes, to come back with the new protection.
        assert_eq!(host.take(), [HostCall::Unmap { addr: A + P, len: 2 * P }]);
        assert_eq!(mm.copy_out(A + P, b"x"), Err(Errno::EFAULT), "read-only now");
        assert_eq!(mm.copy_out_with(A + P, b"x", Access::Force), Ok(()));
        assert_eq!(read(&mm, A + P, 1), b"x");

        mm.mprotect(A + P, 2 * P, RW).unwrap();
        assert_eq!(ranges(&mm), [(A, A + 4 * P, RW)]);
        assert_eq!(mm.copy_out(A + P, b"y"), Ok(()));
    }

    #[test]
    fn mprotect_checks_as_linux_does() {
        let (mm, _host, _mf) = new_mm();
        mm.mmap(fixed(A, P, RW)).unwrap();
        mm.mmap(fixed(A + 2 * P, P, RW)).unwrap();
        assert_eq!(mm.mprotect(A + 1, P, R), Err(Errno::EINVAL), "unaligned");
        assert_eq!(mm.mprotect(A, P, Prot::from_bits_retain(0x10)), Err(Errno::EINVAL), "unknown bit");
        assert_eq!(mm.mprotect(A, P, Prot::GROWSDOWN | Prot::GROWSUP), Err(Errno::EINVAL));
        assert_eq!(mm.mprotect(A, P, R | Prot::GROWSDOWN), Err(Errno::EINVAL), "not a growsdown VMA");
        assert_eq!(mm.mprotect(A, P, R | Prot::GROWSUP), Err(Errno::EINVAL), "x86 has no grows-up");
        assert_eq!(mm.mprotect(A, u64::MAX, R), Err(Errno::ENOMEM), "the length overflows");
        assert_eq!(mm.mprotect(A + 8 * P, P, R), Err(Errno::ENOMEM), "nothing mapped");
        assert_eq!(mm.mprotect(A, 0, R), Ok(()));
        assert_eq!(ranges(&mm), [(A, A + P, RW), (A + 2 * P, A + 3 * P, RW)], "no change so far");

        // A hole: the part before it changes, then ENOMEM.
        assert_eq!(mm.mprotect(A, 3 * P, R), Err(Errno::ENOMEM));
        assert_eq!(ranges(&mm), [(A, A + P, R), (A + 2 * P, A + 3 * P, RW)]);
        // PROT_SEM means nothing on x86.
        assert_eq!(mm.mprotect(A + 2 * P, P, R | Prot::SEM), Ok(()));
        assert_eq!(ranges(&mm), [(A, A + P, R), (A + 2 * P, A + 3 * P, R)]);
    }

    #[test]
    fn mmap_fixed_checks_and_replaces_noreplace_refuses() {
        let (mm, _host, _mf) = new_mm();
        assert_eq!(mm.mmap(fixed(0x1000, P, RW)), Err(Errno::EPERM), "below mmap_min_addr");
        assert_eq!(mm.mmap(fixed(LAYOUT.max_addr, P, RW)), Err(Errno::ENOMEM), "past the top");
        assert_eq!(mm.mmap(fixed(u64::MAX - P + 1, 2 * P, RW)), Err(Errno::ENOMEM), "the end overflows");
        assert!(ranges(&mm).is_empty());

        mm.mmap(fixed(A, 2 * P, RW)).unwrap();
        mm.copy_out(A, b"old").unwrap();
        let noreplace = MmapRequest { noreplace: true, ..fixed(A + P, P, R) };
        assert_eq!(mm.mmap(noreplace), Err(Errno::EEXIST));
        assert_eq!(ranges(&mm), [(A, A + 2 * P, RW)]);

        // MAP_FIXED replaces what it covers: the VMA splits, the old pages go.
        assert_eq!(mm.mmap(fixed(A + P, P, R)), Ok(A + P));
        assert_eq!(ranges(&mm), [(A, A + P, RW), (A + P, A + 2 * P, R)]);
        assert_eq!(read(&mm, A, 3), b"old");
        assert_eq!(mm.mmap(fixed(A, P, RW)), Ok(A));
        assert_eq!(read(&mm, A, 3), [0; 3], "a replaced mapping's data is gone");
    }

    #[test]
    fn mmap_without_fixed_goes_top_down_and_neighbours_merge() {
        let (mm, _host, _mf) = new_mm();
        let a = mm.mmap(anon(0, 2 * P, RW)).unwrap();
        assert_eq!(a, LAYOUT.mmap_base - 2 * P, "the highest free range below mmap_base");
        let b = mm.mmap(anon(0, P, RW)).unwrap();
        assert_eq!(b, a - P);
        assert_eq!(ranges(&mm), [(b, a + 2 * P, RW)], "the same kind of memory joins");
        let c = mm.mmap(anon(0, P, R)).unwrap();
        assert_eq!(c, b - P);
        assert_eq!(ranges(&mm), [(c, b, R), (b, a + 2 * P, RW)], "another protection stays apart");

        // A free hint is taken; a taken one is not.
        assert_eq!(mm.mmap(anon(A, P, RW)), Ok(A));
        let d = mm.mmap(anon(A, P, RW)).unwrap();
        assert_ne!(d, A);
        assert_eq!(d, c - P);
        // MAP_32BIT lands in [1 GiB, 2 GiB).
        let low = mm.mmap(MmapRequest { low_2g: true, ..anon(0, P, RW) }).unwrap();
        assert!((0x4000_0000..0x8000_0000).contains(&low), "{low:#x}");
        // More than the layout holds.
        assert_eq!(mm.mmap(anon(0, LAYOUT.max_addr, RW)), Err(Errno::ENOMEM));
    }

    #[test]
    fn mremap_grows_in_place_or_moves_the_data_without_copying() {
        let (mm, _host, mf) = new_mm();
        mm.mmap(fixed(A, 2 * P, RW)).unwrap();
        mm.copy_out(A, b"data").unwrap();
        let used = mf.used();
        assert_eq!(mm.mremap(A, 2 * P, 4 * P, 0, 0), Ok(A), "room after it: in place");
        assert_eq!(ranges(&mm), [(A, A + 4 * P, RW)]);

        mm.mmap(fixed(A + 4 * P, P, R)).unwrap();
        assert_eq!(mm.mremap(A, 4 * P, 8 * P, 0, 0), Err(Errno::ENOMEM), "blocked, and no MREMAP_MAYMOVE");
        let new = mm.mremap(A, 4 * P, 8 * P, MREMAP_MAYMOVE, 0).unwrap();
        assert!(new > A + 5 * P, "moved to free space (top-down): {new:#x}");
        assert_eq!(ranges(&mm), [(A + 4 * P, A + 5 * P, R), (new, new + 8 * P, RW)]);
        assert_eq!(mf.used(), used, "the pages moved, not copied");
        assert_eq!(read(&mm, new, 4), b"data");
        assert_eq!(mm.copy_in(A, &mut [0u8; 1]), Err(Errno::EFAULT));

        assert_eq!(mm.mremap(new, 8 * P, P, 0, 0), Ok(new), "shrinking stays");
        assert_eq!(mm.vmas().iter().find(|(s, _)| *s == new).map(|(_, v)| v.end), Some(new + P));
        assert_eq!(mm.mremap(A, P, 2 * P, MREMAP_MAYMOVE, 0), Err(Errno::EFAULT), "nothing at the old address");
        assert_eq!(mm.mremap(new, 0, P, MREMAP_MAYMOVE, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn brk_grows_and_shrinks_the_heap() {
        let (mm, host, _mf) = new_mm();
        let start = A + 0x123;
        mm.set_brk_start(start);
        assert_eq!(mm.brk(0, u64::MAX), start, "below the start: the break stays");
        assert!(ranges(&mm).is_empty());

        assert_eq!(mm.brk(start + 3 * P, u64::MAX), start + 3 * P);
        // The heap starts at the page after the start's page (that page is the image's).
        assert_eq!(ranges(&mm), [(A + P, A + 4 * P, RW)]);
        assert_eq!(mm.vmas()[0].1.name, VmaName::Heap);
        mm.copy_out(A + P, b"heap").unwrap();
        mm.copy_out(A + 3 * P, b"top").unwrap();
        host.take();

        assert_eq!(mm.brk(start + P, u64::MAX), start + P);
        assert_eq!(ranges(&mm), [(A + P, A + 2 * P, RW)]);
        assert_eq!(host.take(), [HostCall::Unmap { addr: A + 2 * P, len: 2 * P }]);
        assert_eq!(mm.copy_in(A + 3 * P, &mut [0u8; 1]), Err(Errno::EFAULT));

        // Growing again gives fresh pages; what stayed keeps its data.
        assert_eq!(mm.brk(start + 3 * P, u64::MAX), start + 3 * P);
        assert_eq!(read(&mm, A + 3 * P, 3), [0; 3]);
        assert_eq!(read(&mm, A + P, 4), b"heap");

        // RLIMIT_DATA, and a mapping in the way (with a page's gap), refuse.
        assert_eq!(mm.brk(start + 10 * P, 5 * P), start + 3 * P);
        mm.mmap(fixed(A + 6 * P, P, R)).unwrap();
        assert_eq!(mm.brk(start + 5 * P, u64::MAX), start + 3 * P);
        assert_eq!(mm.brk(start + 4 * P, u64::MAX), start + 4 * P);
        assert_eq!(ranges(&mm), [(A + P, A + 5 * P, RW), (A + 6 * P, A + 7 * P, R)]);
    }
}
