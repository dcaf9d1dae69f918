//! brk, mmap, munmap, mprotect, mremap, madvise.

use abi::consts::*;
use abi::Errno;
use sentry::mm::{page_up, MmapRequest};
use sentry::{SyscallResult, Task};

use crate::args::Fd;

pub fn brk(t: &mut Task, addr: u64) -> SyscallResult {
    let limit = t.limits.get(RLIMIT_DATA).rlim_cur;
    let cur = t.mm.brk(0, limit);
    if addr > cur && !within_as_limit(t, page_up(addr).unwrap_or(u64::MAX).saturating_sub(page_up(cur).unwrap_or(0))) {
        return Ok(cur);
    }
    Ok(t.mm.brk(addr, limit))
}

/// Whether `more` bytes of address space stay within RLIMIT_AS.
fn within_as_limit(t: &Task, more: u64) -> bool {
    let limit = t.limits.get(RLIMIT_AS).rlim_cur;
    limit == RLIM_INFINITY || t.mm.total_vm().saturating_add(more) <= limit
}

const PROT_WRITE_BIT: u64 = 0x2;

/// The flags MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK and MAP_SYNC).
const VALIDATED_FLAGS: u64 = 0x3
    | 0x10
    | 0x20
    | 0x100
    | 0x800
    | 0x1000
    | 0x2000
    | 0x4000
    | 0x8000
    | 0x10000
    | 0x20000
    | 0x40000
    | 0x100000
    | (0x3f << 26);

/// mmap: anonymous memory, and regular files: their pages, shared, or
/// copied on write for private mappings.
pub fn mmap(t: &mut Task, addr: u64, len: u64, prot: u64, flags: u64, fd: Fd, off: u64) -> SyscallResult {
    if !off.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let f = MapFlags::from_bits_retain(flags);
    let anonymous = f.contains(MapFlags::ANONYMOUS);
    let shared = match flags & MAP_TYPE {
        0x01 => true,
        0x02 => false,
        // MAP_SHARED_VALIDATE checks the flags of a file mapping; anonymous
        // memory has no such type (Linux: EINVAL).
        0x03 if !anonymous => {
            if flags & !VALIDATED_FLAGS != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            true
        }
        _ => return Err(Errno::EINVAL),
    };
    if anonymous && shared && f.contains(MapFlags::GROWSDOWN) {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_up(len).filter(|&l| l <= TASK_SIZE).ok_or(Errno::ENOMEM)?;
    let fixed = f.intersects(MapFlags::FIXED | MapFlags::FIXED_NOREPLACE);
    if fixed && !addr.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let file = if anonymous {
        None
    } else {
        let file = t.fds.file(fd.0)?;
        if !file.readable() || (shared && prot & PROT_WRITE_BIT != 0 && !file.writable()) {
            return Err(Errno::EACCES);
        }
        let st = file.ops().stat()?;
        match st.st_mode & S_IFMT {
            // A private mapping of /dev/zero is anonymous memory.
            S_IFCHR if st.st_rdev == vfs::dev::ZERO => None,
            S_IFREG if shared && prot & PROT_WRITE_BIT != 0 => {
                if file.ops().seals().is_ok_and(|s| s & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0) {
                    return Err(Errno::EPERM);
                }
                // Only files whose pages live in the memory file (tmpfs,
                // memfd) can be shared writably.
                if file.ops().mappable().is_none() {
                    return Err(Errno::ENODEV);
                }
                Some((file, st))
            }
            S_IFREG => Some((file, st)),
            _ => return Err(Errno::ENODEV),
        }
    };
    if f.contains(MapFlags::HUGETLB) {
        // The sandbox has no huge page pool.
        return Err(Errno::ENOMEM);
    }
    if !within_as_limit(t, len) {
        return Err(Errno::ENOMEM);
    }
    let req = MmapRequest {
        addr,
        len,
        prot: Prot::from_bits_truncate(prot) & (Prot::READ | Prot::WRITE | Prot::EXEC),
        shared,
        fixed: f.contains(MapFlags::FIXED),
        noreplace: f.contains(MapFlags::FIXED_NOREPLACE),
        growsdown: f.contains(MapFlags::GROWSDOWN),
        populate: f.intersects(MapFlags::POPULATE | MapFlags::LOCKED) && !f.contains(MapFlags::NONBLOCK),
        low_2g: f.contains(MapFlags::BIT32),
        name: sentry::mm::VmaName::Anon,
    };
    match file {
        // A file's pages: its own when they live in the memory file (tmpfs,
        // memfd), else a page cache of it, copied on write when private.
        Some((file, st)) => {
            let sealed = file.ops().seals().is_ok_and(|s| s & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0);
            let own_pages = file.ops().mappable();
            let writable = file.writable() && !sealed && own_pages.is_some();
            let m = own_pages.unwrap_or_else(|| vfs::filecache::cache_of(&file, &st, &t.kernel.memfile));
            t.mm.mmap_file(req, m, off, writable)
        }
        None => t.mm.mmap(req),
    }
}

pub fn munmap(t: &mut Task, addr: u64, len: u64) -> SyscallResult {
    t.mm.munmap(addr, len).map(|_| 0)
}

pub fn mprotect(t: &mut Task, addr: u64, len: u64, prot: u64) -> SyscallResult {
    t.mm.mprotect(addr, len, Prot::from_bits_retain(prot)).map(|_| 0)
}

pub fn mremap(t: &mut Task, old: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64) -> SyscallResult {
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 || !old.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let maymove = flags & MREMAP_MAYMOVE != 0;
    if (flags & MREMAP_FIXED != 0 && !maymove) || (flags & MREMAP_DONTUNMAP != 0 && (!maymove || old_len != new_len)) {
        return Err(Errno::EINVAL);
    }
    if page_up(new_len).is_none_or(|l| l == 0) {
        return Err(Errno::EINVAL);
    }
    if new_len > old_len && !within_as_limit(t, new_len - old_len) {
        return Err(Errno::ENOMEM);
    }
    t.mm.mremap(old, old_len, new_len, flags, new_addr)
}

pub fn madvise(t: &mut Task, addr: u64, len: u64, advice: i32) -> SyscallResult {
    let known = matches!(
        advice,
        MADV_NORMAL
            | MADV_RANDOM
            | MADV_SEQUENTIAL
            | MADV_WILLNEED
            | MADV_DONTNEED
            | MADV_FREE
            | MADV_REMOVE
            | MADV_DONTFORK
            | MADV_DOFORK
            | MADV_MERGEABLE
            | MADV_UNMERGEABLE
            | MADV_HUGEPAGE
            | MADV_NOHUGEPAGE
            | MADV_DONTDUMP
            | MADV_DODUMP
            | MADV_WIPEONFORK
            | MADV_KEEPONFORK
            | MADV_COLD
            | MADV_PAGEOUT
            | MADV_POPULATE_READ
            | MADV_POPULATE_WRITE
            | MADV_DONTNEED_LOCKED
            | MADV_COLLAPSE
    );
    if !known {
        return Err(Errno::EINVAL);
    }
    t.mm.madvise(addr, len, advice).map(|_| 0)
}
