//! The Sentry's access to application memory: the memory-file blocks
//! behind a range (`blocks`) and the copy helpers built on them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use abi::consts::*;
use abi::Errno;
use vfs::{BlockSeq, UserIo};
use zerocopy::{FromBytes, IntoBytes};

use super::backing::InFlightGuard;
use super::{page_down, page_up, platform_fault, MemoryManager, Vma, FAULT_CHUNK};

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
    pub(super) fn allowed(self, prot: Prot) -> bool {
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

impl MemoryManager {
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
}

impl UserIo for MemoryManager {
    fn copy_out(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        MemoryManager::copy_out(self, addr, src)
    }
    fn copy_in(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        MemoryManager::copy_in(self, addr, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn accesses_stop_where_the_memory_does() {
        let (mm, _host, _mf) = new_mm();
        mm.mmap(fixed(A, P, RW)).unwrap();
        mm.mmap(fixed(A + P, P, Prot::empty())).unwrap();
        // The accessible prefix, or EFAULT when there is none.
        assert_eq!(mm.blocks(A + P - 8, 16, Access::Read).map(|b| b.len()), Ok(8));
        assert_eq!(mm.blocks(A + P, 16, Access::Read).map(|b| b.len()), Err(Errno::EFAULT));
        assert_eq!(mm.copy_in(A + P - 8, &mut [0u8; 16]), Err(Errno::EFAULT), "copies are all or nothing");
        assert_eq!(mm.copy_out(A + P, b"x"), Err(Errno::EFAULT));
        assert_eq!(mm.copy_out_with(A + P, b"x", Access::Force), Ok(()), "the loader writes anywhere");

        // Strings end at their NUL, even just before unreadable memory.
        mm.copy_out(A + P - 4, b"abc\0").unwrap();
        assert_eq!(mm.read_cstring(A + P - 4, 10), Ok(b"abc".to_vec()));
        assert_eq!(mm.read_cstring(A + P - 4, 2), Err(Errno::ENAMETOOLONG));
        mm.copy_out(A + P - 3, b"xyz").unwrap();
        assert_eq!(mm.read_cstring(A + P - 3, 10), Err(Errno::EFAULT), "no NUL before the hole");
    }

    #[test]
    fn update_u32_changes_the_word_in_place() {
        let (mm, _host, _mf) = new_mm();
        mm.mmap(fixed(A, P, RW)).unwrap();
        mm.mmap(fixed(A + P, P, R)).unwrap();
        mm.write_obj(A + 8, &41u32).unwrap();
        assert_eq!(mm.update_u32(A + 8, |v| Some(v + 1)), Ok(41), "returns what it saw");
        assert_eq!(mm.read_obj::<u32>(A + 8), Ok(42));
        assert_eq!(mm.update_u32(A + 8, |_| None), Ok(42));
        assert_eq!(mm.read_obj::<u32>(A + 8), Ok(42), "None leaves it");
        assert_eq!(mm.update_u32(A + 9, Some), Err(Errno::EINVAL), "unaligned");
        assert_eq!(mm.update_u32(A + P, Some), Err(Errno::EFAULT), "read-only");
    }
}
