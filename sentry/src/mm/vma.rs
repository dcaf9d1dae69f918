//! The VMA map: what the application asked for (ranges with their
//! protection and kind), and the lookups, splits, merges and free-space
//! searches that the calls changing it are built on.

use abi::consts::*;

use super::{page_down, State, STACK_GUARD_GAP};

/// What /proc/[pid]/maps names a VMA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VmaName {
    #[default]
    Anon,
    Heap,
    Stack,
    /// The executable's segments (shown with its path).
    Image,
    /// The vDSO's parameter page and its image (`crate::vdso`).
    Vvar,
    Vdso,
}

/// A virtual memory area: `[start, end)`, start being its key in the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    pub end: u64,
    pub prot: Prot,
    /// MAP_SHARED (only anonymous memory exists today).
    pub shared: bool,
    pub growsdown: bool,
    pub name: VmaName,
    /// MADV_DONTFORK: a fork's child does not get this range.
    pub dontfork: bool,
    /// MADV_WIPEONFORK: a fork's child gets this range empty (zeroes).
    pub wipeonfork: bool,
    /// A file mapping: the file's pages (shared, or copy-on-write when private).
    pub file: Option<FileMap>,
    /// Whether mprotect may make it writable: not a shared mapping of a file
    /// opened read-only or sealed against writes (Linux's VM_MAYWRITE).
    pub may_write: bool,
}

/// Which file a shared file mapping maps (an entry of `State::files`) and
/// the file offset at the VMA's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMap {
    pub id: u64,
    pub off: u64,
}

impl Vma {
    /// The same mapping, seen from `delta` bytes further in.
    pub(super) fn advanced(self, delta: u64) -> Vma {
        Vma { file: self.file.map(|f| FileMap { off: f.off + delta, ..f }), ..self }
    }
}

impl State {
    /// The VMA containing `addr`.
    pub(super) fn vma_at(&self, addr: u64) -> Option<(u64, Vma)> {
        self.vmas.range(..=addr).next_back().filter(|(_, v)| v.end > addr).map(|(&s, &v)| (s, v))
    }

    /// The VMA for an access at `addr`, growing a growsdown VMA down to it when
    /// Linux would (within RLIMIT_STACK and the guard gap).
    pub(super) fn vma_for_access(&mut self, addr: u64) -> Option<(u64, Vma)> {
        if let Some(v) = self.vma_at(addr) {
            return Some(v);
        }
        let (&next_start, &next) = self.vmas.range(addr..).next()?;
        if !next.growsdown || addr < self.layout.min_addr {
            return None;
        }
        let new_start = page_down(addr);
        if next.end - new_start > self.stack_limit {
            return None;
        }
        if let Some((_, pv)) = self.vmas.range(..next_start).next_back() {
            if pv.end.saturating_add(STACK_GUARD_GAP) > new_start {
                return None;
            }
        }
        self.vmas.remove(&next_start);
        self.vmas.insert(new_start, next);
        Some((new_start, next))
    }

    pub(super) fn overlaps(&self, start: u64, end: u64) -> bool {
        if let Some((_, v)) = self.vmas.range(..start).next_back() {
            if v.end > start {
                return true;
            }
        }
        self.vmas.range(start..end).next().is_some()
    }

    /// The parts of `[start, end)` that VMAs cover, with those VMAs.
    pub(super) fn vma_pieces(&self, start: u64, end: u64) -> Vec<(u64, u64, Vma)> {
        let first = self.vma_at(start).map_or(start, |(s, _)| s);
        self.vmas
            .range(first..end)
            .filter(|(_, v)| v.end > start)
            .map(|(&s, &v)| (s.max(start), v.end.min(end), v))
            .collect()
    }

    pub(super) fn split_vma(&mut self, at: u64) {
        if let Some((s, v)) = self.vma_at(at) {
            if s < at {
                self.vmas.insert(s, Vma { end: at, ..v });
                self.vmas.insert(at, v.advanced(at - s));
            }
        }
    }

    pub(super) fn insert_vma(&mut self, start: u64, vma: Vma) {
        self.vmas.insert(start, vma);
        self.merge_around(start, vma.end);
    }

    /// Joins VMAs in and next to `[start, end)` that continue each other.
    pub(super) fn merge_around(&mut self, start: u64, end: u64) {
        let mut cur = self.vmas.range(..start).next_back().map_or(start, |(&s, _)| s);
        while let Some((&a, &va)) = self.vmas.range(cur..).next() {
            if a > end {
                break;
            }
            match self.vmas.range(a + 1..).next() {
                Some((&b, &vb))
                    if va.end == b
                        && va.prot == vb.prot
                        && va.shared == vb.shared
                        && va.dontfork == vb.dontfork
                        && va.wipeonfork == vb.wipeonfork
                        && va.may_write == vb.may_write
                        && va.file.map(|f| (f.id, f.off + (va.end - a))) == vb.file.map(|f| (f.id, f.off))
                        && !va.growsdown
                        && !vb.growsdown =>
                {
                    self.vmas.remove(&b);
                    if let Some(v) = self.vmas.get_mut(&a) {
                        v.end = vb.end;
                    }
                }
                _ => cur = a + 1,
            }
        }
    }

    /// The lowest free range of `len` bytes in `[lo, hi)`.
    pub(super) fn find_free_between(&self, lo: u64, hi: u64, len: u64) -> Option<u64> {
        let mut bottom = self.vma_at(lo).map_or(lo, |(_, v)| v.end);
        for (&s, v) in self.vmas.range(lo..hi) {
            if s >= bottom && s - bottom >= len {
                break;
            }
            bottom = bottom.max(v.end);
        }
        (bottom.checked_add(len)? <= hi).then_some(bottom)
    }

    /// Finds a free range of `len` bytes: at `hint` if it is free, else the
    /// highest one below mmap_base, else the lowest one above it.
    pub(super) fn find_free(&self, hint: u64, len: u64) -> Option<u64> {
        let lay = self.layout;
        if hint >= lay.min_addr {
            if let Some(e) = hint.checked_add(len) {
                if e <= lay.max_addr && !self.overlaps(hint, e) {
                    return Some(hint);
                }
            }
        }
        // Top-down below mmap_base: walk the gaps from high to low.
        let mut top = lay.mmap_base;
        for (&s, v) in self.vmas.range(..lay.mmap_base).rev() {
            let bottom = v.end.max(lay.min_addr);
            if bottom < top && top - bottom >= len {
                return Some(top - len);
            }
            top = top.min(s);
        }
        if top > lay.min_addr && top - lay.min_addr >= len {
            return Some(top - len);
        }
        // Bottom-up above mmap_base, starting past a VMA that straddles it.
        let mut bottom = self.vma_at(lay.mmap_base).map_or(lay.mmap_base, |(_, v)| v.end);
        for (&s, v) in self.vmas.range(lay.mmap_base..) {
            if s >= bottom && s - bottom >= len {
                return Some(bottom);
            }
            bottom = bottom.max(v.end);
        }
        if lay.max_addr >= bottom && lay.max_addr - bottom >= len {
            return Some(bottom);
        }
        None
    }
}
