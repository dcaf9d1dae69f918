//! The fd table: fd numbers to open file descriptions, lowest free number first.

use std::sync::Arc;

use abi::Errno;
use vfs::FileDescription;

#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<FileDescription>,
    pub cloexec: bool,
}

#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
}

impl FdTable {
    pub fn get(&self, fd: i32) -> Result<&FdEntry, Errno> {
        usize::try_from(fd).ok().and_then(|i| self.slots.get(i)).and_then(Option::as_ref).ok_or(Errno::EBADF)
    }

    pub fn file(&self, fd: i32) -> Result<Arc<FileDescription>, Errno> {
        self.get(fd).map(|e| e.file.clone())
    }

    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        self.get(fd)?;
        self.slots[fd as usize].as_mut().unwrap().cloexec = cloexec;
        Ok(())
    }

    /// Installs at the lowest free fd >= `min`; EMFILE at or past `limit`.
    pub fn install(&mut self, min: i32, entry: FdEntry, limit: u64) -> Result<i32, Errno> {
        let min = min.max(0) as usize;
        let free = (min..).find(|&i| self.slots.get(i).is_none_or(Option::is_none)).unwrap();
        if free as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        self.put(free, entry);
        Ok(free as i32)
    }

    /// Installs at exactly `fd`, returning what was there (to be closed).
    pub fn install_at(&mut self, fd: i32, entry: FdEntry) -> Option<FdEntry> {
        let i = fd as usize;
        let old = self.slots.get_mut(i).and_then(Option::take);
        self.put(i, entry);
        old
    }

    fn put(&mut self, i: usize, entry: FdEntry) {
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(entry);
    }

    pub fn remove(&mut self, fd: i32) -> Result<FdEntry, Errno> {
        self.get(fd)?;
        let e = self.slots[fd as usize].take().unwrap();
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(e)
    }
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
        let mut t = FdTable::default();
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
