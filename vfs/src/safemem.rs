//! Blocks of Sentry-addressable memory that file I/O reads into and writes from.
//!
//! A `Block` points into memory the Sentry has mapped (in practice the memory
//! file, which also backs application memory), so a read from a host fd can land
//! straight in application pages. Blocks are only ever touched through raw copies
//! and host iovecs, never through Rust references, because the application may
//! change the same memory at any moment.

use std::ptr::NonNull;

/// A range of Sentry-mapped memory.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a Block is a plain address range; all access goes through raw copies,
// which are valid from any thread while the mapping exists (see `Block::new`).
unsafe impl Send for Block {}
// SAFETY: as above; shared Blocks never hand out references to the memory.
unsafe impl Sync for Block {}

impl Block {
    /// # Safety
    /// `ptr..ptr+len` must stay mapped readable and writable for as long as this
    /// Block or any copy of it is used.
    pub unsafe fn new(ptr: NonNull<u8>, len: usize) -> Block {
        Block { ptr, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

/// An ordered list of blocks, seen as one contiguous buffer.
#[derive(Clone, Default)]
pub struct BlockSeq {
    blocks: Vec<Block>,
    /// Keeps the memory behind the blocks from being reused while the
    /// sequence lives (application memory another thread may unmap).
    pin: Option<std::sync::Arc<dyn Send + Sync>>,
}

impl std::fmt::Debug for BlockSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockSeq").field("blocks", &self.blocks).finish()
    }
}

impl BlockSeq {
    /// Drops empty blocks and joins blocks that continue each other, so the
    /// host sees as few iovecs as possible.
    pub fn new(blocks: Vec<Block>) -> BlockSeq {
        let mut out: Vec<Block> = Vec::with_capacity(blocks.len());
        for b in blocks.into_iter().filter(|b| !b.is_empty()) {
            match out.last_mut() {
                Some(last) if last.as_ptr().wrapping_add(last.len) == b.as_ptr() => last.len += b.len,
                _ => out.push(b),
            }
        }
        BlockSeq { blocks: out, pin: None }
    }

    /// The same blocks, holding `pin` (dropped with the last copy).
    pub fn pinned(self, pin: std::sync::Arc<dyn Send + Sync>) -> BlockSeq {
        BlockSeq { pin: Some(pin), ..self }
    }

    pub fn len(&self) -> usize {
        self.blocks.iter().map(|b| b.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Copies `src` into the start of the sequence; returns the bytes copied.
    pub fn copy_from(&self, src: &[u8]) -> usize {
        self.copy_from_at(0, src)
    }

    /// Copies `src` into the sequence from byte `at` on; returns the bytes copied.
    pub fn copy_from_at(&self, at: usize, src: &[u8]) -> usize {
        let mut done = 0;
        self.for_each_range(at, src.len(), |p, n| {
            // SAFETY: `p..p+n` lies in a mapped, writable block (Block::new's
            // contract), and Sentry memory never overlaps a Rust slice.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr().add(done), p, n) };
            done += n;
        });
        done
    }

    /// Copies the sequence, from byte `at`, into `dst`; returns the bytes copied.
    pub fn copy_to_at(&self, at: usize, dst: &mut [u8]) -> usize {
        let mut done = 0;
        self.for_each_range(at, dst.len(), |p, n| {
            // SAFETY: `p..p+n` lies in a mapped block (Block::new's contract),
            // and Sentry memory never overlaps a Rust slice.
            unsafe { std::ptr::copy_nonoverlapping(p, dst.as_mut_ptr().add(done), n) };
            done += n;
        });
        done
    }

    /// Copies all of `src` (Sentry memory too) into the sequence from `at`.
    pub fn copy_from_block_at(&self, at: usize, src: &Block) -> usize {
        let mut done = 0;
        self.for_each_range(at, src.len, |p, n| {
            // SAFETY: both ranges are mapped Sentry memory (Block::new's
            // contract); `copy` allows them to overlap.
            unsafe { std::ptr::copy(src.as_ptr().add(done), p, n) };
            done += n;
        });
        done
    }

    /// Copies `dst.len()` bytes of the sequence, from `at`, into `dst`.
    pub fn copy_to_block_at(&self, at: usize, dst: &Block) -> usize {
        let mut done = 0;
        self.for_each_range(at, dst.len, |p, n| {
            // SAFETY: as in copy_from_block_at, with the roles reversed.
            unsafe { std::ptr::copy(p, dst.as_ptr().add(done), n) };
            done += n;
        });
        done
    }

    /// Zeroes `len` bytes of the sequence from `at`.
    pub fn zero_at(&self, at: usize, len: usize) {
        self.for_each_range(at, len, |p, n| {
            // SAFETY: `p..p+n` lies in a mapped, writable block.
            unsafe { std::ptr::write_bytes(p, 0, n) };
        });
    }

    /// Calls `f` on each piece of `[at, at+len)` (clipped to the sequence).
    fn for_each_range(&self, mut at: usize, mut len: usize, mut f: impl FnMut(*mut u8, usize)) {
        for b in &self.blocks {
            if len == 0 {
                break;
            }
            if at >= b.len {
                at -= b.len;
                continue;
            }
            let n = (b.len - at).min(len);
            // SAFETY: `at < b.len`, so the pointer stays inside the block.
            f(unsafe { b.as_ptr().add(at) }, n);
            at = 0;
            len -= n;
        }
    }

    /// Copies the start of the sequence into `dst`; returns the bytes copied.
    pub fn copy_to(&self, mut dst: &mut [u8]) -> usize {
        let mut done = 0;
        for b in &self.blocks {
            let n = b.len.min(dst.len());
            // SAFETY: as in copy_from, with the roles reversed.
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), dst.as_mut_ptr(), n) };
            done += n;
            dst = &mut dst[n..];
            if dst.is_empty() {
                break;
            }
        }
        done
    }

    /// Host iovecs for the sequence, for readv/writev on a host fd.
    pub fn iovecs(&self) -> Vec<libc::iovec> {
        self.blocks.iter().map(|b| libc::iovec { iov_base: b.as_ptr().cast(), iov_len: b.len }).collect()
    }

    /// The first `n` bytes of the sequence.
    pub fn take(&self, mut n: usize) -> BlockSeq {
        let mut out = Vec::new();
        for b in &self.blocks {
            if n == 0 {
                break;
            }
            let l = b.len.min(n);
            out.push(Block { ptr: b.ptr, len: l });
            n -= l;
        }
        BlockSeq { blocks: out, pin: self.pin.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_span_blocks() {
        let mut mem = [0u8; 16];
        let p = NonNull::new(mem.as_mut_ptr()).unwrap();
        // SAFETY: both ranges lie in `mem`, which outlives the sequences; a gap
        // of one byte keeps them apart.
        let seq = unsafe { BlockSeq::new(vec![Block::new(p, 3), Block::new(p.add(4), 4)]) };
        assert_eq!(seq.len(), 7);
        assert_eq!(seq.blocks().len(), 2);
        assert_eq!(seq.copy_from(b"hello"), 5);
        let mut out = [0u8; 10];
        assert_eq!(seq.copy_to(&mut out), 7);
        assert_eq!(&out[..7], b"hello\0\0");
        assert_eq!(seq.take(4).len(), 4);
        assert_eq!(seq.take(4).iovecs().len(), 2);
        assert_eq!(seq.copy_from_at(2, b"XYZ"), 3);
        assert_eq!(&mem[..8], b"heX\0YZ\0\0");
        // Adjacent blocks are joined.
        // SAFETY: as above.
        let joined = unsafe { BlockSeq::new(vec![Block::new(p, 4), Block::new(p.add(4), 4)]) };
        assert_eq!(joined.blocks().len(), 1);
        assert_eq!(joined.len(), 8);
    }
}
