//! PMAs: which memory-file range backs each populated virtual range;
//! backing from the memory file (anonymous pages, a file's pages),
//! copy-on-write after fork, and the hold-back of freed backing while the
//! Sentry's accesses to application memory are under way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use abi::consts::*;
use abi::Errno;
use vfs::memfile::MemoryFile;
use vfs::BlockSeq;

use super::{page_down, MemoryManager, State};

/// A populated range `[start, end)` backed by the memory file from `off`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pma {
    pub(super) end: u64,
    pub(super) off: u64,
    /// Copy-on-write: the backing may be shared with another address space
    /// (a fork), so it is mapped read-only and copied on the first write.
    pub(super) cow: bool,
}

impl State {
    pub(super) fn pmas_in(&self, start: u64, end: u64) -> Vec<(u64, Pma)> {
        let first = self.pmas.range(..=start).next_back().filter(|(_, p)| p.end > start).map_or(start, |(&s, _)| s);
        self.pmas.range(first..end).map(|(&s, &p)| (s, p)).collect()
    }

    pub(super) fn split_pma(&mut self, at: u64) {
        let hit = self.pmas.range(..at).next_back().filter(|(_, p)| p.end > at).map(|(&s, &p)| (s, p));
        if let Some((s, p)) = hit {
            self.pmas.insert(s, Pma { end: at, ..p });
            self.pmas.insert(at, Pma { end: p.end, off: p.off + (at - s), cow: p.cow });
        }
    }
}

impl MemoryManager {
    /// Allocates backing for every unbacked page in `[start, end)`.
    pub(super) fn ensure_pmas(&self, s: &mut State, start: u64, end: u64) -> Result<(), Errno> {
        let mut gaps = Vec::new();
        let mut cur = start;
        for (ps, p) in s.pmas_in(start, end) {
            if ps > cur {
                gaps.push((cur, ps));
            }
            cur = cur.max(p.end);
        }
        if cur < end {
            gaps.push((cur, end));
        }
        for (gs, ge) in gaps {
            let file = s.vma_at(gs).and_then(|(vs, v)| v.file.map(|f| (f, vs)));
            match file {
                // A file mapping: the file's pages, copied on write when private.
                Some((f, vs)) => {
                    // A file VMA's file stays registered while any VMA names it.
                    let m = s.files.get(&f.id).cloned().ok_or(Errno::EFAULT)?;
                    let cow = !s.vma_at(gs).is_some_and(|(_, v)| v.shared);
                    // One PMA per run of contiguous backing, so that a fault
                    // maps the run at once.
                    let mut run: Option<(u64, Pma)> = None;
                    for page in (gs..ge).step_by(PAGE_SIZE as usize) {
                        let off = match m.map_page((f.off + (page - vs)) / PAGE_SIZE) {
                            Ok(off) => off,
                            // Past the end of the file: no backing (SIGBUS).
                            Err(Errno::EFAULT) => break,
                            Err(e) => {
                                if let Some((rs, p)) = run {
                                    s.pmas.insert(rs, p);
                                }
                                return Err(e);
                            }
                        };
                        match &mut run {
                            Some((rs, p)) if p.off + (p.end - *rs) == off => p.end += PAGE_SIZE,
                            _ => {
                                if let Some((rs, p)) = run.take() {
                                    s.pmas.insert(rs, p);
                                }
                                run = Some((page, Pma { end: page + PAGE_SIZE, off, cow }));
                            }
                        }
                    }
                    if let Some((rs, p)) = run {
                        s.pmas.insert(rs, p);
                    }
                }
                None => {
                    let off = self.mf.allocate(ge - gs)?;
                    s.pmas.insert(gs, Pma { end: ge, off, cow: false });
                }
            }
        }
        Ok(())
    }

    /// Gives the copy-on-write pages of `[start, end)` (page-aligned) their
    /// own backing: a copy, unless no one else holds the pages any more.
    /// Returns whether any page changed (its backing, or just its read-only
    /// host mapping); the caller fixes the host mapping.
    pub(super) fn break_cow(&self, s: &mut State, start: u64, end: u64) -> Result<bool, Errno> {
        if !s.pmas_in(start, end).iter().any(|(_, p)| p.cow) {
            return Ok(false);
        }
        s.split_pma(start);
        s.split_pma(end);
        for (ps, p) in s.pmas_in(start, end) {
            if !p.cow {
                continue;
            }
            let len = p.end - ps;
            let off = if self.mf.is_shared(p.off, len) {
                let new = self.mf.allocate(len)?;
                BlockSeq::new(vec![self.mf.block(new, len)]).copy_from_block_at(0, &self.mf.block(p.off, len));
                self.in_flight.free(p.off, len);
                new
            } else {
                p.off
            };
            s.pmas.insert(ps, Pma { end: p.end, off, cow: false });
        }
        Ok(true)
    }

    /// Frees the backing of `[start, end)` (the host mapping must be gone).
    pub(super) fn free_pmas(&self, s: &mut State, start: u64, end: u64) {
        s.split_pma(start);
        s.split_pma(end);
        let keys: Vec<u64> = s.pmas.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            if let Some(p) = s.pmas.remove(&k) {
                self.in_flight.free(p.off, p.end - k);
            }
        }
    }

    /// For a futex key: the memory-file offset backing `addr` when its VMA is
    /// MAP_SHARED, None for private memory. EFAULT if nothing is mapped there.
    pub fn shared_offset(&self, addr: u64) -> Result<Option<u64>, Errno> {
        let mut s = self.lock();
        let (_, vma) = s.vma_at(addr).ok_or(Errno::EFAULT)?;
        if !vma.shared {
            return Ok(None);
        }
        let page = page_down(addr);
        self.ensure_pmas(&mut s, page, page + PAGE_SIZE)?;
        // Past the end of a mapped file there is no backing.
        let (ps, p) = *s.pmas_in(addr, addr + 1).first().ok_or(Errno::EFAULT)?;
        Ok(Some(p.off + (addr - ps)))
    }
}

/// The Sentry's reads and writes of application memory that are under way
/// (their `BlockSeq`s live): while any are, freed backing is held back, so
/// that another thread's munmap cannot hand pages still being read or
/// written (a blocked pipe read) to someone else.
pub(super) struct InFlight {
    pub(super) count: AtomicUsize,
    /// Backing freed meanwhile: (memory-file offset, length).
    deferred: Mutex<Vec<(u64, u64)>>,
    mf: Arc<MemoryFile>,
}

impl InFlight {
    pub(super) fn new(mf: Arc<MemoryFile>) -> Arc<InFlight> {
        Arc::new(InFlight { count: AtomicUsize::new(0), deferred: Mutex::default(), mf })
    }

    /// Frees backing now, or once no access is under way. Called with the
    /// memory manager's lock held (as `blocks` counts under it).
    pub(super) fn free(&self, off: u64, len: u64) {
        let mut d = self.deferred.lock().unwrap();
        if self.count.load(Ordering::SeqCst) > 0 {
            d.push((off, len));
        } else {
            drop(d);
            self.mf.free(off, len);
        }
    }
}

/// One access under way; ends when the blocks are dropped.
pub(super) struct InFlightGuard(pub(super) Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let f = &self.0;
        let mut d = f.deferred.lock().unwrap();
        if f.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            for (off, len) in std::mem::take(&mut *d) {
                f.mf.free(off, len);
            }
        }
    }
}
