//! The life of an address space: made empty (exec, the first task), copied
//! by fork, and torn down when its last user drops it (exit, exec).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use abi::consts::*;
use abi::Errno;
use vfs::memfile::MemoryFile;

use super::backing::InFlight;
use super::{platform_fault, Layout, MemoryManager, State, Vma};
use crate::platform::AddressSpace;

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
