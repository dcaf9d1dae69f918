//! The fd table: fd numbers to open file descriptions, lowest free number first.

use std::sync::{Arc, Mutex};

use abi::Errno;
use vfs::FileDescription;

#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<FileDescription>,
    pub cloexec: bool,
}

/// The fd table; shared by the threads of a process (and, with CLONE_FILES,
/// beyond), so it locks internally.
#[derive(Default)]
pub struct FdTable {
    slots: Mutex<Vec<Option<FdEntry>>>,
}

impl FdTable {
    pub fn get(&self, fd: i32) -> Result<FdEntry, Errno> {
        let slots = self.slots.lock().unwrap();
        usize::try_from(fd).ok().and_then(|i| slots.get(i)).and_then(Option::clone).ok_or(Errno::EBADF)
    }

    pub fn file(&self, fd: i32) -> Result<Arc<FileDescription>, Errno> {
        self.get(fd).map(|e| e.file)
    }

    pub fn set_cloexec(&self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        let mut slots = self.slots.lock().unwrap();
        let e = usize::try_from(fd).ok().and_then(|i| slots.get_mut(i)).and_then(Option::as_mut).ok_or(Errno::EBADF)?;
        e.cloexec = cloexec;
        Ok(())
    }

    /// Installs at the lowest free fd >= `min`; EMFILE at or past `limit`.
    pub fn install(&self, min: i32, entry: FdEntry, limit: u64) -> Result<i32, Errno> {
        let mut slots = self.slots.lock().unwrap();
        let min = min.max(0) as usize;
        let free =
            (min..slots.len()).find(|&i| slots.get(i).is_some_and(Option::is_none)).unwrap_or(min.max(slots.len()));
        if free as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        put(&mut slots, free, entry);
        Ok(free as i32)
    }

    /// Installs at exactly `fd`, returning what was there (to be closed).
    pub fn install_at(&self, fd: i32, entry: FdEntry) -> Option<FdEntry> {
        let mut slots = self.slots.lock().unwrap();
        let i = fd as usize;
        let old = slots.get_mut(i).and_then(Option::take);
        put(&mut slots, i, entry);
        old
    }

    pub fn remove(&self, fd: i32) -> Result<FdEntry, Errno> {
        let mut slots = self.slots.lock().unwrap();
        let e = usize::try_from(fd).ok().and_then(|i| slots.get_mut(i)).and_then(Option::take).ok_or(Errno::EBADF)?;
        while matches!(slots.last(), Some(None)) {
            slots.pop();
        }
        Ok(e)
    }

    /// A table with the same entries (fork without CLONE_FILES).
    pub fn copy(&self) -> FdTable {
        FdTable { slots: Mutex::new(self.slots.lock().unwrap().clone()) }
    }

    /// Closes the fds marked close-on-exec.
    pub fn close_on_exec(&self) {
        let closed: Vec<FdEntry> = {
            let mut slots = self.slots.lock().unwrap();
            let v =
                slots.iter_mut().filter(|e| e.as_ref().is_some_and(|e| e.cloexec)).filter_map(Option::take).collect();
            while matches!(slots.last(), Some(None)) {
                slots.pop();
            }
            v
        };
        // Released outside the lock: closing may take other locks.
        drop(closed);
    }

    /// The open fds, in order, for /proc/[pid]/fd.
    pub fn fds(&self) -> Vec<(i32, FdEntry)> {
        let slots = self.slots.lock().unwrap();
        slots.iter().enumerate().filter_map(|(i, e)| e.clone().map(|e| (i as i32, e))).collect()
    }
}

fn put(slots: &mut Vec<Option<FdEntry>>, i: usize, entry: FdEntry) {
    if slots.len() <= i {
        slots.resize(i + 1, None);
    }
    slots[i] = Some(entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl vfs::FileOps for Nothing {
        fn stat(&self) -> Result<abi::structs::Stat, Errno> {
            Err(Errno::EIO)
        }
    }

    fn entry() -> FdEntry {
        FdEntry { file: Arc::new(FileDescription::new(0, Box::new(Nothing), None)), cloexec: false }
    }

    #[test]
    fn lowest_free_number_first() {
        let t = FdTable::default();
        assert_eq!(t.install(0, entry(), 1024), Ok(0));
        assert_eq!(t.install(0, entry(), 1024), Ok(1));
        assert_eq!(t.install(0, entry(), 1024), Ok(2));
        t.remove(1).unwrap();
        assert_eq!(t.install(0, entry(), 1024), Ok(1));
        assert_eq!(t.install(10, entry(), 1024), Ok(10));
        assert_eq!(t.install(0, entry(), 1024), Ok(3));
        assert_eq!(t.install(0, entry(), 4), Err(Errno::EMFILE));
        assert!(t.remove(7).is_err());
        assert!(t.get(-1).is_err());
        assert!(t.install_at(2, entry()).is_some());
    }
}
