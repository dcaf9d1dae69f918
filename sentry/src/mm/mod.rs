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
//!
//! The module is split by concern, each file reading top-down:
//! - `vma`: the VMA map (its types and the State methods that search,
//!   split and merge it);
//! - `mmap`: the calls that change the map (mmap, munmap, mprotect,
//!   mremap, madvise, brk);
//! - `backing`: PMAs, backing from the memory file, copy-on-write, and the
//!   hold-back of backing freed while the Sentry's accesses are under way;
//! - `fault`: serving host faults and populating host mappings;
//! - `io`: the Sentry's access to application memory (blocks and the copy
//!   helpers built on them);
//! - `lifecycle`: creation, fork, and teardown when the address space goes;
//! - `procfs`: what /proc shows of an address space;
//! - `testing` (unit tests only): a fake host address space that records
//!   what it is asked to map and unmap.

mod backing;
mod fault;
mod io;
mod lifecycle;
mod mmap;
mod procfs;
#[cfg(test)]
mod testing;
mod vma;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use abi::consts::*;
use abi::Errno;
use vfs::file::Mappable;
use vfs::memfile::MemoryFile;

use crate::platform::{AddressSpace, PlatformError};
use backing::{InFlight, Pma};

pub use fault::FaultError;
pub use io::Access;
pub use mmap::MmapRequest;
pub use vma::{FileMap, Vma, VmaName};

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

fn platform_fault(e: PlatformError) -> Errno {
    // The host refused to change the stub's mappings: the address space is no
    // longer trustworthy, so the caller's view is that memory is exhausted.
    crate::warn_limited!("platform error while changing mappings: {e}");
    Errno::ENOMEM
}

impl MemoryManager {
    pub fn address_space(&self) -> &dyn AddressSpace {
        &*self.aspace
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn layout(&self) -> Layout {
        self.lock().layout
    }
}
