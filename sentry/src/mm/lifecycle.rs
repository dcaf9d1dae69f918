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

#[cfg(test)]
mod tests {
    use abi::signal::{SEGV_ACCERR, SEGV_MAPERR};

    use super::super::testing::*;
    use super::super::MmapRequest;
    use super::*;

    #[test]
    fn a_private_write_after_fork_stays_on_its_side() {
        let (parent, phost, _mf) = new_mm();
        parent.mmap(fixed(A, 2 * P, RW)).unwrap();
        parent.copy_out(A, b"before").unwrap();
        parent.handle_fault(A, SEGV_MAPERR, 0).unwrap();
        let (prot, off) = phost.host_page(A).expect("the fault mapped the page");
        assert_eq!(prot, RW);

        let chost = Arc::new(FakeAddressSpace::default());
        let child = parent.fork(chost.clone()).unwrap();
        assert_eq!(phost.host_page(A), None, "the parent's writable mapping goes, so its writes fault");
        assert_eq!(read(&child, A, 6), b"before");

        // A fault in a writable VMA may be a write (the host does not say):
        // the faulting page gets a copy of its own, mapped writable, while
        // the rest of the chunk maps the parent's pages read-only.
        child.handle_fault(A, SEGV_MAPERR, 0).unwrap();
        let (prot, child_off) = chost.host_page(A).unwrap();
        assert_eq!(prot, RW);
        assert_ne!(child_off, off);
        assert_eq!(chost.host_page(A + P), Some((R, off + P)));
        assert_eq!(read(&child, A, 6), b"before", "the copy has the data");
        child.copy_out(A, b"child!").unwrap();
        assert_eq!(read(&parent, A, 6), b"before");
        assert_eq!(read(&child, A, 6), b"child!");

        // A Sentry write on the parent's side copies too.
        parent.copy_out(A + P, b"parent").unwrap();
        assert_eq!(read(&child, A + P, 6), [0; 6]);
        assert_eq!(read(&parent, A + P, 6), b"parent");

        // The parent is the last owner of its first page: it takes it as is.
        parent.handle_fault(A, SEGV_ACCERR, 0).unwrap();
        assert_eq!(phost.host_page(A), Some((RW, off)));
    }

    #[test]
    fn shared_anonymous_memory_stays_shared_after_fork() {
        let (parent, phost, _mf) = new_mm();
        parent.mmap(MmapRequest { shared: true, ..fixed(A, 2 * P, RW) }).unwrap();
        // Neither side has touched the pages before the fork.
        let chost = Arc::new(FakeAddressSpace::default());
        let child = parent.fork(chost.clone()).unwrap();

        child.copy_out(A, b"two").unwrap();
        assert_eq!(read(&parent, A, 3), b"two");
        parent.copy_out(A + P, b"three").unwrap();
        assert_eq!(read(&child, A + P, 5), b"three");

        // Both map the same pages writable: nothing is copy-on-write.
        parent.handle_fault(A, SEGV_MAPERR, 0).unwrap();
        child.handle_fault(A, SEGV_MAPERR, 0).unwrap();
        let both = phost.host_page(A + P);
        assert_eq!(both.map(|(prot, _)| prot), Some(RW));
        assert_eq!(chost.host_page(A + P), both);
    }

    #[test]
    fn dontfork_and_wipeonfork_shape_the_child() {
        let (parent, _host, _mf) = new_mm();
        for (i, text) in [b"keep", b"gone", b"wipe"].iter().enumerate() {
            let at = A + 2 * i as u64 * P;
            parent.mmap(fixed(at, P, RW)).unwrap();
            parent.copy_out(at, *text).unwrap();
        }
        parent.madvise(A + 2 * P, P, MADV_DONTFORK).unwrap();
        parent.madvise(A + 4 * P, P, MADV_WIPEONFORK).unwrap();
        let child = parent.fork(Arc::new(FakeAddressSpace::default())).unwrap();

        assert_eq!(read(&child, A, 4), b"keep");
        assert_eq!(child.copy_in(A + 2 * P, &mut [0u8; 4]), Err(Errno::EFAULT), "MADV_DONTFORK");
        assert_eq!(read(&child, A + 4 * P, 4), [0; 4], "MADV_WIPEONFORK");
        assert_eq!(ranges(&child), [(A, A + P, RW), (A + 4 * P, A + 5 * P, RW)]);
        assert!(child.vmas().iter().all(|(_, v)| !v.dontfork && !v.wipeonfork), "the child's own forks copy all");
        assert_eq!(read(&parent, A + 2 * P, 4), b"gone");
        assert_eq!(read(&parent, A + 4 * P, 4), b"wipe");
    }

    #[test]
    fn backing_goes_back_when_its_last_address_space_goes() {
        let (parent, _host, mf) = new_mm();
        assert_eq!(mf.used(), 0);
        parent.mmap(fixed(A, 3 * P, RW)).unwrap();
        parent.copy_out(A, b"x").unwrap();
        assert_eq!(mf.used(), 3 * P, "a touch backs the whole chunk, clipped to the VMA");
        let child = parent.fork(Arc::new(FakeAddressSpace::default())).unwrap();
        assert_eq!(mf.used(), 3 * P, "a fork shares");
        child.copy_out(A, b"y").unwrap();
        assert_eq!(mf.used(), 4 * P, "the child's write copied one page");
        drop(parent);
        assert_eq!(mf.used(), 3 * P, "the child still holds two shared pages and its copy");
        assert_eq!(read(&child, A, 1), b"y");
        drop(child);
        assert_eq!(mf.used(), 0);
    }
}
