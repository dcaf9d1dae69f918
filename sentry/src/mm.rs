//! The memory manager of one address space.
//!
//! Two maps describe it, as in gVisor:
//! - VMAs: what the application asked for (mmap, brk, the stack), with their
//!   protection and kind;
//! - PMAs: which memory-file range backs each populated virtual range.
//!
//! The host address space (the platform's) is a cache of the PMAs: a fault maps
//! a whole aligned chunk of the faulting VMA at once, and every change that moves
//! or frees backing first removes the host mapping. The Sentry itself reads and
//! writes application memory through the memory file's own mapping, so it never
//! needs the host mapping to exist.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use abi::consts::*;
use abi::signal::{BUS_ADRERR, SEGV_ACCERR, SEGV_MAPERR, SIGSEGV};
use abi::Errno;
use vfs::file::Mappable;
use vfs::{BlockSeq, UserIo};
use zerocopy::{FromBytes, IntoBytes};

use crate::platform::{AddressSpace, Backing, PlatformError};
use vfs::memfile::MemoryFile;

/// Faults map this much (aligned, clipped to the VMA) at once.
pub const FAULT_CHUNK: u64 = 2 << 20;
/// Linux's stack_guard_gap: a growsdown VMA keeps this distance from the one below.
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
/// Lowest address the application may map (Linux's default mmap_min_addr).
pub const MMAP_MIN_ADDR: u64 = 0x10000;

pub fn page_down(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

/// Rounds up to a page; None if that overflows.
pub fn page_up(a: u64) -> Option<u64> {
    a.checked_add(PAGE_SIZE - 1).map(page_down)
}

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
    fn advanced(self, delta: u64) -> Vma {
        Vma { file: self.file.map(|f| FileMap { off: f.off + delta, ..f }), ..self }
    }
}

/// A populated range `[start, end)` backed by the memory file from `off`.
#[derive(Clone, Copy, Debug)]
struct Pma {
    end: u64,
    off: u64,
    /// Copy-on-write: the backing may be shared with another address space
    /// (a fork), so it is mapped read-only and copied on the first write.
    cow: bool,
}

/// Why the memory manager could not serve a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// A signal for the application.
    Signal { signo: i32, code: i32 },
    /// The memory cap refused the backing: the OOM killer makes room and
    /// the access is tried again.
    OutOfMemory,
}

/// How the application will access memory, for permission checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// The Sentry itself writes, ignoring protection (the ELF loader).
    Force,
    /// A debugger's write (/proc/PID/mem; Linux's FOLL_FORCE): protection
    /// is ignored, but a shared mapping of a file not opened for writing
    /// stays unwritable.
    ForceWrite,
}

impl Access {
    fn allowed(self, prot: Prot) -> bool {
        match self {
            // On x86 any of read, write or execute permission allows reads.
            Access::Read => !prot.is_empty(),
            Access::Write => prot.contains(Prot::WRITE),
            Access::Force | Access::ForceWrite => true,
        }
    }

    /// Whether the access may touch `vma`.
    fn allowed_in(self, vma: &Vma) -> bool {
        self.allowed(vma.prot) && (self != Access::ForceWrite || vma.may_write)
    }
}

/// Where new mappings go and how far the brk may reach.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub min_addr: u64,
    /// One past the highest usable address.
    pub max_addr: u64,
    /// Top-down searches for free space start below this.
    pub mmap_base: u64,
}

struct State {
    vmas: BTreeMap<u64, Vma>,
    pmas: BTreeMap<u64, Pma>,
    /// The files shared file mappings map, by id.
    files: BTreeMap<u64, Arc<dyn Mappable>>,
    next_file: u64,
    layout: Layout,
    brk_start: u64,
    brk: u64,
    /// RLIMIT_STACK, the most a growsdown VMA may grow to.
    stack_limit: u64,
    /// Where exec put the environment strings: [start, end).
    env: (u64, u64),
}

pub struct MemoryManager {
    state: Mutex<State>,
    aspace: Arc<dyn AddressSpace>,
    mf: Arc<MemoryFile>,
    in_flight: Arc<InFlight>,
}

/// The Sentry's reads and writes of application memory that are under way
/// (their `BlockSeq`s live): while any are, freed backing is held back, so
/// that another thread's munmap cannot hand pages still being read or
/// written (a blocked pipe read) to someone else.
struct InFlight {
    count: AtomicUsize,
    /// Backing freed meanwhile: (memory-file offset, length).
    deferred: Mutex<Vec<(u64, u64)>>,
    mf: Arc<MemoryFile>,
}

impl InFlight {
    fn new(mf: Arc<MemoryFile>) -> Arc<InFlight> {
        Arc::new(InFlight { count: AtomicUsize::new(0), deferred: Mutex::default(), mf })
    }

    /// Frees backing now, or once no access is under way. Called with the
    /// memory manager's lock held (as `blocks` counts under it).
    fn free(&self, off: u64, len: u64) {
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
struct InFlightGuard(Arc<InFlight>);

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

/// Where MAP_32BIT mappings go, as on x86-64 Linux.
const LOW_2G: (u64, u64) = (0x4000_0000, 0x8000_0000);

fn platform_fault(e: PlatformError) -> Errno {
    // The host refused to change the stub's mappings: the address space is no
    // longer trustworthy, so the caller's view is that memory is exhausted.
    eprintln!("rvisor: platform error while changing mappings: {e}");
    Errno::ENOMEM
}

impl MemoryManager {
    pub fn new(aspace: Arc<dyn AddressSpace>, mf: Arc<MemoryFile>, layout: Layout, stack_limit: u64) -> MemoryManager {
        MemoryManager {
            state: Mutex::new(State {
                vmas: BTreeMap::new(),
                pmas: BTreeMap::new(),
                files: BTreeMap::new(),
                next_file: 0,
                layout,
                brk_start: 0,
                brk: 0,
                stack_limit,
                env: (0, 0),
            }),
            aspace,
            in_flight: InFlight::new(mf.clone()),
            mf,
        }
    }

    pub fn address_space(&self) -> &dyn AddressSpace {
        &*self.aspace
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn layout(&self) -> Layout {
        self.lock().layout
    }

    /// Sets where the brk area starts (by the ELF loader).
    pub fn set_brk_start(&self, addr: u64) {
        let mut s = self.lock();
        s.brk_start = addr;
        s.brk = addr;
    }

    /// Records where exec put the environment strings, `[start, end)`
    /// (Linux's mm->env_start and env_end, which /proc/PID/environ reads).
    pub fn set_env_range(&self, start: u64, end: u64) {
        self.lock().env = (start, end);
    }

    /// Where the environment strings are: `[start, end)`.
    pub fn env_range(&self) -> (u64, u64) {
        self.lock().env
    }

    /// The text of /proc/[pid]/maps; `image` is the executable's path.
    pub fn proc_maps(&self, image: &[u8]) -> Vec<u8> {
        let s = self.lock();
        let mut out = Vec::new();
        for (&start, v) in &s.vmas {
            let perm = |p: Prot, c: char| if v.prot.contains(p) { c } else { '-' };
            let line = format!(
                "{:08x}-{:08x} {}{}{}{} 00000000 00:00 0",
                start,
                v.end,
                perm(Prot::READ, 'r'),
                perm(Prot::WRITE, 'w'),
                perm(Prot::EXEC, 'x'),
                // The parameter page is a shared mapping that Linux shows as private.
                if v.shared && v.name != VmaName::Vvar { 's' } else { 'p' }
            );
            let name: &[u8] = match v.name {
                VmaName::Anon => b"",
                VmaName::Heap => b"[heap]",
                VmaName::Stack => b"[stack]",
                VmaName::Image => image,
                VmaName::Vvar => b"[vvar]",
                VmaName::Vdso => b"[vdso]",
            };
            out.extend_from_slice(line.as_bytes());
            if !name.is_empty() {
                // Linux pads the fixed columns to 73 characters before the name.
                out.resize(out.len() + 73usize.saturating_sub(line.len()), b' ');
                out.extend_from_slice(name);
            }
            out.push(b'\n');
        }
        out
    }

    /// Bytes of memory backing the address space (its resident set, as far
    /// as the Sentry knows: pages it handed out).
    pub fn resident_bytes(&self) -> u64 {
        self.lock().pmas.iter().map(|(&s, p)| p.end - s).sum()
    }

    /// The size of the address space (what RLIMIT_AS bounds).
    pub fn total_vm(&self) -> u64 {
        self.lock().vmas.iter().map(|(&s, v)| v.end - s).sum()
    }

    /// A copy of the VMA map, for inspection.
    pub fn vmas(&self) -> Vec<(u64, Vma)> {
        self.lock().vmas.iter().map(|(&s, &v)| (s, v)).collect()
    }

    // ---- mmap, munmap, mprotect, mremap, madvise, brk ----

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

    // ---- faults ----

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

    // ---- the Sentry's access to application memory ----

    /// The blocks backing the longest accessible prefix of `[addr, addr+len)`.
    /// EFAULT only if not even the first byte is accessible.
    pub fn blocks(&self, addr: u64, len: u64, access: Access) -> Result<BlockSeq, Errno> {
        if len == 0 {
            return Ok(BlockSeq::default());
        }
        let mut s = self.lock();
        let end = addr.saturating_add(len).min(s.layout.max_addr);
        let mut out = Vec::new();
        let mut cur = addr;
        while cur < end {
            let Some((vstart, vma)) = s.vma_for_access(cur) else { break };
            if !access.allowed_in(&vma) {
                break;
            }
            let seg_end = end.min(vma.end);
            let chunk_start = (cur & !(FAULT_CHUNK - 1)).max(vstart);
            let chunk_end = (seg_end.saturating_add(FAULT_CHUNK - 1) & !(FAULT_CHUNK - 1)).min(vma.end);
            self.ensure_pmas(&mut s, chunk_start, chunk_end)?;
            if access != Access::Read {
                let (ws, we) = (page_down(cur), page_up(seg_end).unwrap_or(seg_end));
                if self.break_cow(&mut s, ws, we)? {
                    // The host still maps the old pages, read-only.
                    self.aspace.unmap(ws, we - ws).map_err(platform_fault)?;
                }
            }
            // Backing may stop short (a file mapping past the end of its
            // file): the accessible prefix ends there.
            let mut next = cur;
            for (ps, p) in s.pmas_in(cur, seg_end) {
                let (bs, be) = (ps.max(cur), p.end.min(seg_end));
                if bs != next {
                    break;
                }
                out.push(self.mf.block(p.off + (bs - ps), be - bs));
                next = be;
            }
            if next < seg_end {
                break;
            }
            cur = seg_end;
        }
        if out.is_empty() {
            return Err(Errno::EFAULT);
        }
        // Another thread may unmap the range while this one still reads or
        // writes it (a blocked pipe read): freed pages wait until then.
        self.in_flight.count.fetch_add(1, Ordering::SeqCst);
        Ok(BlockSeq::new(out).pinned(Arc::new(InFlightGuard(self.in_flight.clone()))))
    }

    /// Like `blocks`, but the whole range must be accessible.
    fn blocks_exact(&self, addr: u64, len: u64, access: Access) -> Result<BlockSeq, Errno> {
        let b = self.blocks(addr, len, access)?;
        if (b.len() as u64) < len {
            return Err(Errno::EFAULT);
        }
        Ok(b)
    }

    pub fn copy_in(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        if dst.is_empty() {
            return Ok(());
        }
        self.blocks_exact(addr, dst.len() as u64, Access::Read)?.copy_to(dst);
        Ok(())
    }

    pub fn copy_out(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        self.copy_out_with(addr, src, Access::Write)
    }

    pub fn copy_out_with(&self, addr: u64, src: &[u8], access: Access) -> Result<(), Errno> {
        if src.is_empty() {
            return Ok(());
        }
        self.blocks_exact(addr, src.len() as u64, access)?.copy_from(src);
        Ok(())
    }

    pub fn read_obj<T: FromBytes + IntoBytes>(&self, addr: u64) -> Result<T, Errno> {
        let mut v = T::new_zeroed();
        self.copy_in(addr, v.as_mut_bytes())?;
        Ok(v)
    }

    pub fn write_obj<T: IntoBytes + zerocopy::Immutable>(&self, addr: u64, v: &T) -> Result<(), Errno> {
        self.copy_out(addr, v.as_bytes())
    }

    /// Atomically updates the aligned u32 at `addr`, as the kernel's futex
    /// operations do while the application changes it too: `f` gets the
    /// current value and returns the new one, or None to leave it, and is
    /// called again if the word changed meanwhile. Returns the value `f` last
    /// saw. EFAULT unless the word is mapped writable.
    pub fn update_u32(&self, addr: u64, mut f: impl FnMut(u32) -> Option<u32>) -> Result<u32, Errno> {
        if !addr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let bs = self.blocks_exact(addr, 4, Access::Write)?;
        let p = bs.blocks()[0].as_ptr().cast::<u32>();
        // SAFETY: four 4-aligned bytes in the memory file's mapping, kept from
        // reuse by `bs` while in use. The application and the Sentry's other
        // threads reach them only through atomic instructions or byte copies,
        // never through Rust references.
        let word = unsafe { AtomicU32::from_ptr(p) };
        let mut cur = word.load(Ordering::SeqCst);
        loop {
            let Some(new) = f(cur) else { return Ok(cur) };
            match word.compare_exchange(cur, new, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(cur),
                Err(now) => cur = now,
            }
        }
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL);
    /// ENAMETOOLONG if it is longer, EFAULT if it runs into unreadable memory.
    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut cur = addr;
        loop {
            // Read up to the end of the current page so a string that ends just
            // before unreadable memory is still read.
            let chunk = (PAGE_SIZE - cur % PAGE_SIZE) as usize;
            let mut buf = vec![0u8; chunk];
            self.copy_in(cur, &mut buf)?;
            if let Some(n) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..n]);
                if out.len() > max {
                    return Err(Errno::ENAMETOOLONG);
                }
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            cur += chunk as u64;
        }
    }

    // ---- internals ----

    /// Makes sure `[start, end)` is backed and mapped in the host.
    fn populate(&self, s: &mut State, start: u64, end: u64) -> Result<(), Errno> {
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

    /// Allocates backing for every unbacked page in `[start, end)`.
    fn ensure_pmas(&self, s: &mut State, start: u64, end: u64) -> Result<(), Errno> {
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
    fn break_cow(&self, s: &mut State, start: u64, end: u64) -> Result<bool, Errno> {
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

    /// The address space of a fork's child (fork(2)): private memory is shared
    /// copy-on-write with this one, MAP_SHARED memory is shared for good.
    /// `aspace` is the child's, empty; this one loses its host mappings of
    /// private writable memory, so that writes fault and copy.
    pub fn fork(&self, aspace: Arc<dyn AddressSpace>) -> Result<MemoryManager, Errno> {
        let mut s = self.lock();
        let mut child = State {
            vmas: BTreeMap::new(),
            pmas: BTreeMap::new(),
            files: s.files.clone(),
            next_file: s.next_file,
            layout: s.layout,
            brk_start: s.brk_start,
            brk: s.brk,
            stack_limit: s.stack_limit,
            env: s.env,
        };
        let vmas: Vec<(u64, Vma)> = s.vmas.iter().map(|(&k, &v)| (k, v)).collect();
        for (start, vma) in vmas {
            if vma.dontfork {
                continue;
            }
            child.vmas.insert(start, Vma { dontfork: false, wipeonfork: false, ..vma });
            if vma.wipeonfork && !vma.shared {
                continue;
            }
            if vma.shared && vma.file.is_none() {
                // Both sides must see the same pages, touched or not yet
                // (a file's pages are found through the file).
                self.ensure_pmas(&mut s, start, vma.end)?;
            } else if vma.prot.contains(Prot::WRITE) {
                self.aspace.unmap(start, vma.end - start).map_err(platform_fault)?;
            }
            s.split_pma(start);
            s.split_pma(vma.end);
            for (&k, p) in s.pmas.range_mut(start..vma.end) {
                self.mf.share(p.off, p.end - k);
                p.cow |= !vma.shared;
                child.pmas.insert(k, *p);
            }
        }
        Ok(MemoryManager {
            state: Mutex::new(child),
            aspace,
            mf: self.mf.clone(),
            in_flight: InFlight::new(self.mf.clone()),
        })
    }

    /// Frees the backing of `[start, end)` (the host mapping must be gone).
    fn free_pmas(&self, s: &mut State, start: u64, end: u64) {
        s.split_pma(start);
        s.split_pma(end);
        let keys: Vec<u64> = s.pmas.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            if let Some(p) = s.pmas.remove(&k) {
                self.in_flight.free(p.off, p.end - k);
            }
        }
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

impl State {
    /// The VMA containing `addr`.
    fn vma_at(&self, addr: u64) -> Option<(u64, Vma)> {
        self.vmas.range(..=addr).next_back().filter(|(_, v)| v.end > addr).map(|(&s, &v)| (s, v))
    }

    /// The VMA for an access at `addr`, growing a growsdown VMA down to it when
    /// Linux would (within RLIMIT_STACK and the guard gap).
    fn vma_for_access(&mut self, addr: u64) -> Option<(u64, Vma)> {
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

    fn overlaps(&self, start: u64, end: u64) -> bool {
        if let Some((_, v)) = self.vmas.range(..start).next_back() {
            if v.end > start {
                return true;
            }
        }
        self.vmas.range(start..end).next().is_some()
    }

    /// The parts of `[start, end)` that VMAs cover, with those VMAs.
    fn vma_pieces(&self, start: u64, end: u64) -> Vec<(u64, u64, Vma)> {
        let first = self.vma_at(start).map_or(start, |(s, _)| s);
        self.vmas
            .range(first..end)
            .filter(|(_, v)| v.end > start)
            .map(|(&s, &v)| (s.max(start), v.end.min(end), v))
            .collect()
    }

    fn pmas_in(&self, start: u64, end: u64) -> Vec<(u64, Pma)> {
        let first = self.pmas.range(..=start).next_back().filter(|(_, p)| p.end > start).map_or(start, |(&s, _)| s);
        self.pmas.range(first..end).map(|(&s, &p)| (s, p)).collect()
    }

    fn split_vma(&mut self, at: u64) {
        if let Some((s, v)) = self.vma_at(at) {
            if s < at {
                self.vmas.insert(s, Vma { end: at, ..v });
                self.vmas.insert(at, v.advanced(at - s));
            }
        }
    }

    fn split_pma(&mut self, at: u64) {
        let hit = self.pmas.range(..at).next_back().filter(|(_, p)| p.end > at).map(|(&s, &p)| (s, p));
        if let Some((s, p)) = hit {
            self.pmas.insert(s, Pma { end: at, ..p });
            self.pmas.insert(at, Pma { end: p.end, off: p.off + (at - s), cow: p.cow });
        }
    }

    fn insert_vma(&mut self, start: u64, vma: Vma) {
        self.vmas.insert(start, vma);
        self.merge_around(start, vma.end);
    }

    /// Joins VMAs in and next to `[start, end)` that continue each other.
    fn merge_around(&mut self, start: u64, end: u64) {
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
    fn find_free_between(&self, lo: u64, hi: u64, len: u64) -> Option<u64> {
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
    fn find_free(&self, hint: u64, len: u64) -> Option<u64> {
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

impl Drop for MemoryManager {
    /// The address space is gone (exit, exec): its backing goes back to the
    /// memory file, or to the other owners of shared pages.
    fn drop(&mut self) {
        let s = self.state.get_mut().unwrap();
        for (&k, p) in &s.pmas {
            self.in_flight.free(p.off, p.end - k);
        }
    }
}

impl UserIo for MemoryManager {
    fn copy_out(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        MemoryManager::copy_out(self, addr, src)
    }
    fn copy_in(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        MemoryManager::copy_in(self, addr, dst)
    }
}
