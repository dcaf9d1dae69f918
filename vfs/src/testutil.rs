//! What the VFS's unit tests share: in-memory trees to build on, and short
//! ways to make, fill and read their files.

use std::sync::Arc;

use abi::consts::*;
use abi::Errno;

use crate::file::FileDescription;
use crate::inode::{InodeRef, NewAttrs, NewNode};
use crate::memfile::MemoryFile;
use crate::mount::Dentry;
use crate::tmpfs::Tmpfs;

/// Root-owned, with `mode` permission bits.
pub(crate) fn attrs(mode: u32) -> NewAttrs {
    NewAttrs { mode, uid: 0, gid: 0 }
}

/// An empty tmpfs (device `dev`) over a memory file of its own.
pub(crate) fn tmpfs(dev: u64) -> Arc<Dentry> {
    Tmpfs::new_root(Arc::new(MemoryFile::new().expect("a memory file")), dev, attrs(0o755))
}

/// An open description of `inode`, not in any tree.
pub(crate) fn open(inode: &InodeRef, flags: u32) -> Result<FileDescription, Errno> {
    Ok(FileDescription::new(flags, inode.clone().open(flags)?, None))
}

/// Makes a regular file `name` in `dir` holding `data`.
pub(crate) fn make_file(dir: &InodeRef, name: &str, data: &[u8]) -> InodeRef {
    let f = dir.create(name.as_bytes(), NewNode::Regular, attrs(0o644)).expect("a new file");
    if !data.is_empty() {
        assert_eq!(open(&f, O_WRONLY).unwrap().write_buf(data, Some(0)), Ok(data.len()));
    }
    f
}

pub(crate) fn make_dir(dir: &InodeRef, name: &str) -> InodeRef {
    dir.create(name.as_bytes(), NewNode::Directory, attrs(0o755)).expect("a new directory")
}

pub(crate) fn make_symlink(dir: &InodeRef, name: &str, target: &str) -> InodeRef {
    dir.create(name.as_bytes(), NewNode::Symlink(target.as_bytes()), attrs(0o777)).expect("a new symlink")
}

/// The whole content of a regular file.
pub(crate) fn contents(inode: &InodeRef) -> Vec<u8> {
    let size = inode.stat().st_size as usize;
    let mut buf = vec![0u8; size];
    let n = open(inode, O_RDONLY).unwrap().read_buf(&mut buf, Some(0)).unwrap();
    buf.truncate(n);
    buf
}

/// A directory's names, sorted.
pub(crate) fn names(dir: &InodeRef) -> Vec<String> {
    let mut v: Vec<String> = dir.readdir().unwrap().into_iter().map(|e| String::from_utf8(e.name).unwrap()).collect();
    v.sort();
    v
}
