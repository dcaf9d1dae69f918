//! Page caches of files whose data does not live in the memory file (the
//! gofer's files): a mapping of such a file maps pages read once into the
//! memory file, shared by every mapping of the same file version, instead of
//! copying the file at each mmap. Pages are read when first touched.
//!
//! A cache lives as long as some mapping uses it. It is a snapshot: it is
//! keyed by the file's identity and version (size, mtime), so a file changed
//! afterwards gets a new cache, while the pages already mapped keep showing
//! the old contents (as the copies made before did).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use abi::consts::PAGE_SIZE;
use abi::structs::Stat;
use abi::Errno;

use crate::file::{FileDescription, Mappable};
use crate::memfile::MemoryFile;
use crate::BlockSeq;

/// A file's identity and version.
type Key = (u64, u64, i64, i64, i64);

static CACHES: LazyLock<Mutex<HashMap<Key, Weak<FileCache>>>> = LazyLock::new(Mutex::default);

pub struct FileCache {
    key: Key,
    file: Arc<FileDescription>,
    mf: Arc<MemoryFile>,
    size: u64,
    /// Granule index -> memory-file offset of its pages.
    granules: Mutex<BTreeMap<u64, u64>>,
}

/// Pages are read and kept in runs of this many: one read of the file, and
/// backing that is contiguous, so a fault maps a run at once.
const GRANULE_PAGES: u64 = 16;
const GRANULE: u64 = GRANULE_PAGES * PAGE_SIZE;

/// The cache of the file open as `file` (whose stat is `st`).
pub fn cache_of(file: &Arc<FileDescription>, st: &Stat, mf: &Arc<MemoryFile>) -> Arc<FileCache> {
    let key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime, st.st_mtime_nsec);
    let mut caches = CACHES.lock().unwrap();
    if let Some(c) = caches.get(&key).and_then(Weak::upgrade) {
        return c;
    }
    caches.retain(|_, w| w.strong_count() > 0);
    let c = Arc::new(FileCache {
        key,
        file: file.clone(),
        mf: mf.clone(),
        size: st.st_size.max(0) as u64,
        granules: Mutex::default(),
    });
    caches.insert(key, Arc::downgrade(&c));
    c
}

impl Mappable for FileCache {
    fn map_page(&self, index: u64) -> Result<u64, Errno> {
        if index.checked_mul(PAGE_SIZE).is_none_or(|o| o >= self.size) {
            return Err(Errno::EFAULT);
        }
        let g = index / GRANULE_PAGES;
        let mut granules = self.granules.lock().unwrap();
        let base = match granules.get(&g) {
            Some(&off) => off,
            None => {
                let off = self.mf.allocate(GRANULE)?;
                let dst = BlockSeq::new(vec![self.mf.block(off, GRANULE)]);
                // What lies past the end of the file stays zero.
                if let Err(e) = self.file.ops().read(&self.file, &dst, Some((g * GRANULE) as i64)) {
                    self.mf.free(off, GRANULE);
                    return Err(if e == Errno::EFAULT { Errno::EIO } else { e });
                }
                granules.insert(g, off);
                off
            }
        };
        let off = base + (index % GRANULE_PAGES) * PAGE_SIZE;
        self.mf.share(off, PAGE_SIZE);
        Ok(off)
    }
}

impl Drop for FileCache {
    fn drop(&mut self) {
        for (_, &off) in self.granules.get_mut().unwrap().iter() {
            self.mf.free(off, GRANULE);
        }
        let mut caches = CACHES.lock().unwrap();
        if caches.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
            caches.remove(&self.key);
        }
    }
}
