//! The memory file: one memfd that holds all application memory. The Sentry
//! maps all of it once and reaches application pages through that mapping;
//! platforms map ranges of it into the application's address space.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::safemem::Block;
use abi::consts::PAGE_SIZE;
use abi::Errno;

/// Virtual size of the memory file: the most application memory a sandbox may
/// have allocated at once. Host pages are only used when touched.
pub const MEMORY_FILE_SIZE: u64 = 1 << 40;

pub struct MemoryFile {
    file: std::fs::File,
    /// The Sentry's mapping of the whole file.
    map: memmap2::MmapRaw,
    size: u64,
    alloc: Mutex<Allocator>,
    /// The most bytes that may be allocated at once (the sandbox's memory
    /// cap), and what to tell when an allocation would pass it.
    limit: AtomicU64,
    over_limit: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// How many allocations the cap has refused.
    refusals: AtomicU64,
}

#[derive(Default)]
struct Allocator {
    /// Everything at or above `next` has never been handed out.
    next: u64,
    /// Free ranges below `next`, offset -> length, coalesced.
    free: BTreeMap<u64, u64>,
    /// Ranges with more than one owner (a fork shares its parent's pages):
    /// offset -> (end, owners beyond the first). `free` drops one owner.
    shared: BTreeMap<u64, (u64, u32)>,
    /// Bytes handed out and not yet returned.
    used: u64,
}

impl Allocator {
    /// Splits the shared range that straddles `at`, if any.
    fn split_shared(&mut self, at: u64) {
        let hit = self.shared.range(..at).next_back().filter(|(_, &(end, _))| end > at).map(|(&s, &v)| (s, v));
        if let Some((s, (end, n))) = hit {
            self.shared.insert(s, (at, n));
            self.shared.insert(at, (end, n));
        }
    }

    /// The shared ranges within `[off, off+len)`, split at its bounds.
    fn shared_in(&mut self, off: u64, len: u64) -> Vec<(u64, u64, u32)> {
        self.split_shared(off);
        self.split_shared(off + len);
        self.shared.range(off..off + len).map(|(&s, &(e, n))| (s, e, n)).collect()
    }
}

fn host_err(call: &str) -> std::io::Error {
    let e = std::io::Error::last_os_error();
    std::io::Error::new(e.kind(), format!("{call}: {e}"))
}

impl MemoryFile {
    pub fn new() -> std::io::Result<MemoryFile> {
        // SAFETY: memfd_create with a static NUL-terminated name.
        let raw = unsafe { libc::memfd_create(c"rvisor-memory".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(host_err("memfd_create"));
        }
        // SAFETY: `raw` is a fresh fd that we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = MEMORY_FILE_SIZE;
        let file = std::fs::File::from(fd);
        file.set_len(size).map_err(|e| std::io::Error::new(e.kind(), format!("ftruncate: {e}")))?;
        // A shared mapping of the whole file (its pages are only used when
        // touched).
        let map = memmap2::MmapOptions::new()
            .len(size as usize)
            .map_raw(&file)
            .map_err(|e| std::io::Error::new(e.kind(), format!("mmap: {e}")))?;
        Ok(MemoryFile {
            file,
            map,
            size,
            alloc: Mutex::new(Allocator::default()),
            limit: AtomicU64::new(u64::MAX),
            over_limit: OnceLock::new(),
            refusals: AtomicU64::new(0),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Caps the bytes allocated at once at `limit`. An allocation past it
    /// fails with ENOMEM and calls `over_limit` (which must not block: it
    /// runs wherever the allocation was, locks held).
    pub fn set_limit(&self, limit: u64, over_limit: Box<dyn Fn() + Send + Sync>) {
        self.limit.store(limit, Ordering::Relaxed);
        let _ = self.over_limit.set(over_limit);
    }

    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes allocated now.
    pub fn used(&self) -> u64 {
        self.alloc.lock().unwrap().used
    }

    /// How many allocations the cap has refused so far: a caller that got
    /// ENOMEM tells by this whether the cap was the reason.
    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::SeqCst)
    }

    /// Allocates `len` (page-aligned) zeroed bytes; returns their offset.
    pub fn allocate(&self, len: u64) -> Result<u64, Errno> {
        debug_assert!(len > 0 && len.is_multiple_of(PAGE_SIZE));
        let mut a = self.alloc.lock().unwrap();
        if a.used.saturating_add(len) > self.limit.load(Ordering::Relaxed) {
            drop(a);
            self.refusals.fetch_add(1, Ordering::SeqCst);
            if let Some(tell) = self.over_limit.get() {
                tell();
            }
            return Err(Errno::ENOMEM);
        }
        let fit = a.free.iter().find(|(_, &l)| l >= len).map(|(&o, &l)| (o, l));
        if let Some((off, l)) = fit {
            a.free.remove(&off);
            if l > len {
                a.free.insert(off + len, l - len);
            }
            a.used += len;
            return Ok(off);
        }
        if a.next + len > self.size {
            return Err(Errno::ENOMEM);
        }
        let off = a.next;
        a.next += len;
        a.used += len;
        Ok(off)
    }

    /// Adds an owner to every page of `[off, off+len)` (a fork now maps them too).
    pub fn share(&self, off: u64, len: u64) {
        let mut a = self.alloc.lock().unwrap();
        let mut cur = off;
        for (s, e, n) in a.shared_in(off, len) {
            if s > cur {
                a.shared.insert(cur, (s, 1));
            }
            a.shared.insert(s, (e, n + 1));
            cur = e;
        }
        if cur < off + len {
            a.shared.insert(cur, (off + len, 1));
        }
    }

    /// Whether any page of `[off, off+len)` has more than one owner.
    pub fn is_shared(&self, off: u64, len: u64) -> bool {
        let a = self.alloc.lock().unwrap();
        let before = a.shared.range(..off).next_back().is_some_and(|(_, &(end, _))| end > off);
        before || a.shared.range(off..off + len).next().is_some()
    }

    /// Drops one owner of `[off, off+len)`; pages left with none are freed.
    pub fn free(&self, off: u64, len: u64) {
        let mut a = self.alloc.lock().unwrap();
        let mut unowned = Vec::new();
        let mut cur = off;
        for (s, e, n) in a.shared_in(off, len) {
            if s > cur {
                unowned.push((cur, s - cur));
            }
            if n == 1 {
                a.shared.remove(&s);
            } else {
                a.shared.insert(s, (e, n - 1));
            }
            cur = e;
        }
        if cur < off + len {
            unowned.push((cur, off + len - cur));
        }
        drop(a);
        for (o, l) in unowned {
            self.release(o, l);
        }
    }

    /// Returns a range to the allocator. Its pages are released to the host now,
    /// so a later allocation of the range reads zeroes.
    fn release(&self, off: u64, len: u64) {
        // SAFETY: punching a hole in our own memfd only discards its contents.
        let r = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off as i64,
                len as i64,
            )
        };
        assert!(r == 0, "{}", host_err("fallocate(PUNCH_HOLE) on the memory file"));
        let mut a = self.alloc.lock().unwrap();
        a.used -= len;
        let (mut start, mut l) = (off, len);
        if let Some((&po, &pl)) = a.free.range(..off).next_back() {
            if po + pl == off {
                a.free.remove(&po);
                start = po;
                l += pl;
            }
        }
        if let Some(&nl) = a.free.get(&(off + len)) {
            a.free.remove(&(off + len));
            l += nl;
        }
        if start + l == a.next {
            a.next = start;
        } else {
            a.free.insert(start, l);
        }
    }

    /// The Sentry's view of `len` bytes at `off`.
    pub fn block(&self, off: u64, len: u64) -> Block {
        assert!(off.checked_add(len).is_some_and(|e| e <= self.size));
        // SAFETY: the range lies inside the mapping made in `new` (never
        // NULL), which lives as long as `self`; MemoryFile is kept alive (Arc)
        // by every user of blocks, and all access to it goes through raw
        // copies (vfs::Block), never through references.
        unsafe { Block::new(NonNull::new_unchecked(self.map.as_mut_ptr().add(off as usize)), len as usize) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_free_reuse_and_zero() {
        let mf = MemoryFile::new().unwrap();
        let a = mf.allocate(2 * PAGE_SIZE).unwrap();
        let b = mf.allocate(PAGE_SIZE).unwrap();
        assert_ne!(a, b);
        let blk = crate::safemem::BlockSeq::new(vec![mf.block(a, 8)]);
        blk.copy_from(b"dirtydat");
        mf.free(a, 2 * PAGE_SIZE);
        let c = mf.allocate(PAGE_SIZE).unwrap();
        assert_eq!(c, a, "freed range is reused");
        let mut out = [1u8; 8];
        crate::safemem::BlockSeq::new(vec![mf.block(c, 8)]).copy_to(&mut out);
        assert_eq!(out, [0; 8], "reused memory reads zero");
        assert_eq!(mf.allocate(MEMORY_FILE_SIZE), Err(Errno::ENOMEM));
    }

    #[test]
    fn the_cap_refuses_and_tells() {
        let mf = MemoryFile::new().unwrap();
        let told = std::sync::Arc::new(AtomicU64::new(0));
        let t = told.clone();
        mf.set_limit(
            4 * PAGE_SIZE,
            Box::new(move || {
                t.fetch_add(1, Ordering::SeqCst);
            }),
        );
        let a = mf.allocate(3 * PAGE_SIZE).unwrap();
        assert_eq!(mf.used(), 3 * PAGE_SIZE);
        assert_eq!(mf.allocate(2 * PAGE_SIZE), Err(Errno::ENOMEM));
        assert_eq!((told.load(Ordering::SeqCst), mf.refusals()), (1, 1));
        // Shared pages count once, and are given back by their last owner.
        mf.share(a, PAGE_SIZE);
        mf.free(a, 3 * PAGE_SIZE);
        assert_eq!(mf.used(), PAGE_SIZE);
        mf.free(a, PAGE_SIZE);
        assert_eq!(mf.used(), 0);
        assert!(mf.allocate(4 * PAGE_SIZE).is_ok());
    }

    #[test]
    fn shared_pages_are_freed_by_their_last_owner() {
        let mf = MemoryFile::new().unwrap();
        let a = mf.allocate(4 * PAGE_SIZE).unwrap();
        mf.share(a + PAGE_SIZE, 2 * PAGE_SIZE);
        assert!(mf.is_shared(a, 2 * PAGE_SIZE));
        assert!(!mf.is_shared(a, PAGE_SIZE));
        // The first owner lets go of all four pages: two stay with the other.
        mf.free(a, 4 * PAGE_SIZE);
        assert!(!mf.is_shared(a, 4 * PAGE_SIZE));
        let b = mf.allocate(PAGE_SIZE).unwrap();
        assert_eq!(b, a, "the unshared first page was freed");
        let c = mf.allocate(PAGE_SIZE).unwrap();
        assert_eq!(c, a + 3 * PAGE_SIZE, "the shared middle pages were not");
        mf.free(a + PAGE_SIZE, 2 * PAGE_SIZE);
        assert_eq!(mf.allocate(2 * PAGE_SIZE).unwrap(), a + PAGE_SIZE);
    }
}
