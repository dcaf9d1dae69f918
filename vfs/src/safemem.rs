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
#[derive(Clone, Debug, Default)]
pub struct BlockSeq {
    blocks: Vec<Block>,
}

impl BlockSeq {
    pub fn new(blocks: Vec<Block>) -> BlockSeq {
        BlockSeq { blocks: blocks.into_iter().filter(|b| !b.is_empty()).collect() }
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
    pub fn copy_from(&self, mut src: &[u8]) -> usize {
        let mut done = 0;
        for b in &self.blocks {
            let n = b.len.min(src.len());
            // SAFETY: the block is mapped and writable (Block::new's contract), `n`
            // fits both ranges, and Sentry memory never overlaps a Rust slice.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), b.as_ptr(), n) };
            done += n;
            src = &src[n..];
            if src.is_empty() {
                break;
            }
        }
        done
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
        BlockSeq { blocks: out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_span_blocks() {
        let mut a = [0u8; 3];
        let mut b = [0u8; 4];
        // SAFETY: both arrays outlive the sequence and are not otherwise borrowed
        // while it is used.
        let seq = unsafe {
            BlockSeq::new(vec![
                Block::new(NonNull::new(a.as_mut_ptr()).unwrap(), 3),
                Block::new(NonNull::new(b.as_mut_ptr()).unwrap(), 4),
            ])
        };
        assert_eq!(seq.len(), 7);
        assert_eq!(seq.copy_from(b"hello"), 5);
        let mut out = [0u8; 10];
        assert_eq!(seq.copy_to(&mut out), 7);
        assert_eq!(&out[..7], b"hello\0\0");
        assert_eq!(seq.take(4).len(), 4);
        assert_eq!(seq.take(4).iovecs().len(), 2);
        assert_eq!(a, *b"hel");
    }
}
