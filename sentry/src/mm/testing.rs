//! What the memory manager's unit tests share: a test double of the host
//! side (an address space that only records what it is asked to map and
//! unmap), a real memory file, and short ways to ask for mappings.

use std::any::Any;
use std::sync::{Arc, Mutex};

use abi::consts::*;
use vfs::memfile::MemoryFile;

use super::{Layout, MemoryManager, MmapRequest, MMAP_MIN_ADDR};
use crate::platform::{AddressSpace, Backing, Result};

pub(super) const P: u64 = PAGE_SIZE;
pub(super) const R: Prot = Prot::READ;
pub(super) const RW: Prot = Prot::READ.union(Prot::WRITE);
/// A free, 2 MiB-aligned address well inside the layout.
pub(super) const A: u64 = 0x1000_0000;
pub(super) const STACK_LIMIT: u64 = 8 << 20;

pub(super) const LAYOUT: Layout =
    Layout { min_addr: MMAP_MIN_ADDR, max_addr: 0x7f00_0000_0000, mmap_base: 0x7e00_0000_0000 };

/// One request the memory manager made of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HostCall {
    Map { addr: u64, len: u64, prot: Prot, offset: u64 },
    Unmap { addr: u64, len: u64 },
}

/// The host side of an address space, reduced to a log of its calls.
#[derive(Default)]
pub(super) struct FakeAddressSpace {
    calls: Mutex<Vec<HostCall>>,
    /// Every call ever made (`take` empties only `calls`).
    history: Mutex<Vec<HostCall>>,
}

impl FakeAddressSpace {
    /// The calls since the last `take`.
    pub(super) fn take(&self) -> Vec<HostCall> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// What the host would map at `addr` now (replaying every call): the
    /// protection and the memory-file offset of that byte.
    pub(super) fn host_page(&self, addr: u64) -> Option<(Prot, u64)> {
        let mut now = None;
        for c in self.history.lock().unwrap().iter() {
            match *c {
                HostCall::Map { addr: a, len, prot, offset } if (a..a + len).contains(&addr) => {
                    now = Some((prot, offset + (addr - a)));
                }
                HostCall::Unmap { addr: a, len } if (a..a + len).contains(&addr) => now = None,
                _ => {}
            }
        }
        now
    }

    fn record(&self, c: HostCall) {
        self.calls.lock().unwrap().push(c);
        self.history.lock().unwrap().push(c);
    }
}

impl AddressSpace for FakeAddressSpace {
    fn map(&self, addr: u64, len: u64, prot: Prot, backing: Backing) -> Result<()> {
        let Backing::MemoryFile { offset } = backing;
        self.record(HostCall::Map { addr, len, prot, offset });
        Ok(())
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<()> {
        self.record(HostCall::Unmap { addr, len });
        Ok(())
    }

    fn clone_thread(&self) -> Result<u64> {
        Ok(0)
    }

    fn adopt_thread(&self, _token: u64) -> Result<()> {
        Ok(())
    }

    fn release_thread(&self) {}

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An empty memory manager over a fake host and a fresh memory file.
pub(super) fn new_mm() -> (MemoryManager, Arc<FakeAddressSpace>, Arc<MemoryFile>) {
    let host = Arc::new(FakeAddressSpace::default());
    let mf = Arc::new(MemoryFile::new().expect("a memory file"));
    let mm = MemoryManager::new(host.clone(), mf.clone(), LAYOUT, STACK_LIMIT);
    (mm, host, mf)
}

/// Private anonymous memory wherever it fits (`addr` a hint).
pub(super) fn anon(addr: u64, len: u64, prot: Prot) -> MmapRequest {
    MmapRequest::anon(addr, len, prot)
}

/// Private anonymous memory at exactly `addr` (MAP_FIXED).
pub(super) fn fixed(addr: u64, len: u64, prot: Prot) -> MmapRequest {
    MmapRequest { fixed: true, ..anon(addr, len, prot) }
}

/// The VMA map as (start, end, prot).
pub(super) fn ranges(mm: &MemoryManager) -> Vec<(u64, u64, Prot)> {
    mm.vmas().into_iter().map(|(s, v)| (s, v.end, v.prot)).collect()
}

/// Reads `n` bytes of application memory.
pub(super) fn read(mm: &MemoryManager, addr: u64, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    mm.copy_in(addr, &mut buf).expect("readable memory");
    buf
}
