//! The overlay: a read-only lower tree (the gofer's) under a writable upper
//! tree (a tmpfs), so the application sees the host's files but every change
//! stays in the sandbox.
//!
//! A node has a lower inode, an upper one, or both (a merged directory).
//! Changing a lower-only node first copies it up (creating its ancestors in
//! the upper tree as needed); removing a name that exists below records a
//! whiteout in its directory. As overlayfs without redirect_dir, renaming a
//! directory that has a lower part is EXDEV (tools then copy and delete).

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;

use crate::file::FileOps;
use crate::inode::{file_type, DirEntry, FileType, Inode, InodeRef, NewAttrs, NewNode, SetAttr};
use crate::safemem::{Block, BlockSeq};

/// Upper-only inode numbers are marked so they cannot collide with lower ones.
const UPPER_INO: u64 = 1 << 62;

pub struct OverlayNode {
    /// This node itself: children hold their parent.
    me: Weak<OverlayNode>,
    dev: u64,
    /// The directory this node was looked up in, and its name there (for
    /// copying up); None at the root.
    parent: Option<(Arc<OverlayNode>, Vec<u8>)>,
    lower: Option<InodeRef>,
    upper: Mutex<Option<InodeRef>>,
    /// Names removed from this directory that exist below.
    whiteouts: Mutex<HashSet<Vec<u8>>>,
    /// Children looked up so far: one node per name, so the state a node
    /// carries (its copy-up, its whiteouts) is seen by every user.
    children: Mutex<HashMap<Vec<u8>, Arc<OverlayNode>>>,
}

impl OverlayNode {
    /// The root of an overlay of `upper` (a directory) over `lower`.
    pub fn root(lower: InodeRef, upper: InodeRef, dev: u64) -> Arc<OverlayNode> {
        Arc::new_cyclic(|me| OverlayNode {
            me: me.clone(),
            dev,
            parent: None,
            lower: Some(lower),
            upper: Mutex::new(Some(upper)),
            whiteouts: Mutex::default(),
            children: Mutex::default(),
        })
    }

    fn upper(&self) -> Option<InodeRef> {
        self.upper.lock().unwrap().clone()
    }

    /// The layer that shows: upper if there is one.
    fn top(&self) -> InodeRef {
        self.upper().or_else(|| self.lower.clone()).expect("an overlay node has a layer")
    }

    fn arc(&self) -> Arc<OverlayNode> {
        self.me.upgrade().expect("an overlay node is alive while used")
    }

    fn child(&self, name: &[u8], lower: Option<InodeRef>, upper: Option<InodeRef>) -> Arc<OverlayNode> {
        Arc::new_cyclic(|me| OverlayNode {
            me: me.clone(),
            dev: self.dev,
            parent: Some((self.arc(), name.to_vec())),
            lower,
            upper: Mutex::new(upper),
            whiteouts: Mutex::default(),
            children: Mutex::default(),
        })
    }

    fn is_dir(&self) -> bool {
        file_type(&*self.top()) == FileType::Directory
    }

    /// The upper inode, copying this node (and its ancestors) up if needed.
    fn copy_up(&self) -> Result<InodeRef, Errno> {
        if let Some(u) = self.upper() {
            return Ok(u);
        }
        let lower = self.lower.clone().ok_or(Errno::EIO)?;
        let (parent, name) = self.parent.as_ref().ok_or(Errno::EIO)?;
        let parent_upper = parent.copy_up()?;
        let st = lower.stat();
        let attrs = NewAttrs { mode: st.st_mode, uid: st.st_uid, gid: st.st_gid };
        let upper = match file_type(&*lower) {
            FileType::Directory => parent_upper.create(name, NewNode::Directory, attrs)?,
            FileType::Symlink => parent_upper.create(name, NewNode::Symlink(&lower.readlink()?), attrs)?,
            FileType::Regular => {
                let upper = parent_upper.create(name, NewNode::Regular, attrs)?;
                copy_data(&lower, &upper, st.st_size as u64)?;
                upper
            }
            FileType::Fifo => parent_upper.create(name, NewNode::Fifo, attrs)?,
            // Devices and sockets of the host are never copied into the sandbox.
            _ => return Err(Errno::EPERM),
        };
        let times = SetAttr {
            atime: Some(abi::structs::Timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec }),
            mtime: Some(abi::structs::Timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec }),
            ..SetAttr::default()
        };
        upper.setattr(&times)?;
        *self.upper.lock().unwrap() = Some(upper.clone());
        Ok(upper)
    }

    fn lookup_node(&self, name: &[u8]) -> Result<Arc<OverlayNode>, Errno> {
        if let Some(n) = self.children.lock().unwrap().get(name) {
            return Ok(n.clone());
        }
        let n = self.lookup_layers(name)?;
        self.children.lock().unwrap().insert(name.to_vec(), n.clone());
        Ok(n)
    }

    /// Forgets a child (it was removed, renamed, or replaced).
    fn forget(&self, name: &[u8]) {
        self.children.lock().unwrap().remove(name);
    }

    fn lookup_layers(&self, name: &[u8]) -> Result<Arc<OverlayNode>, Errno> {
        if let Some(u) = self.upper() {
            match u.lookup(name) {
                Ok(ui) => {
                    // A directory in both layers is merged, unless the name was
                    // removed below first (then the new one is opaque).
                    let lower =
                        if file_type(&*ui) == FileType::Directory && !self.whiteouts.lock().unwrap().contains(name) {
                            self.lower
                                .as_ref()
                                .and_then(|l| l.lookup(name).ok())
                                .filter(|li| file_type(&**li) == FileType::Directory)
                        } else {
                            None
                        };
                    return Ok(self.child(name, lower, Some(ui)));
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        if self.whiteouts.lock().unwrap().contains(name) {
            return Err(Errno::ENOENT);
        }
        let lower = self.lower.as_ref().ok_or(Errno::ENOENT)?.lookup(name)?;
        Ok(self.child(name, Some(lower), None))
    }

    fn downcast(inode: &InodeRef) -> Result<Arc<OverlayNode>, Errno> {
        inode.clone().as_any_arc().downcast::<OverlayNode>().map_err(|_| Errno::EXDEV)
    }
}

/// Copies a lower file's bytes into its new upper copy.
fn copy_data(lower: &InodeRef, upper: &InodeRef, size: u64) -> Result<(), Errno> {
    let src = crate::file::FileDescription::new(O_RDONLY, lower.clone().open(O_RDONLY)?, None);
    let dst = crate::file::FileDescription::new(O_WRONLY, upper.clone().open(O_WRONLY)?, None);
    let mut buf = vec![0u8; 1 << 16];
    let mut off = 0u64;
    while off < size {
        let n = src.read_at(&mut buf, off)?;
        if n == 0 {
            break;
        }
        let ptr = std::ptr::NonNull::new(buf.as_mut_ptr()).ok_or(Errno::EIO)?;
        // SAFETY: `buf` outlives the sequence, used only within this call.
        let seq = BlockSeq::new(vec![unsafe { Block::new(ptr, n) }]);
        dst.ops().write(&dst, &seq, Some(off as i64))?;
        off += n as u64;
    }
    Ok(())
}

impl Inode for OverlayNode {
    fn stat(&self) -> Stat {
        let top = self.top().stat();
        let ino = match &self.lower {
            Some(l) => l.stat().st_ino,
            None => top.st_ino | UPPER_INO,
        };
        Stat { st_dev: self.dev, st_ino: ino, ..top }
    }

    fn setattr(&self, attr: &SetAttr) -> Result<(), Errno> {
        self.copy_up()?.setattr(attr)
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, Errno> {
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(self.lookup_node(name)?)
    }

    fn supports_tmpfile(&self) -> bool {
        self.stat().st_mode & S_IFMT == S_IFDIR
    }

    fn create(&self, name: &[u8], node: NewNode<'_>, attrs: NewAttrs) -> Result<InodeRef, Errno> {
        if self.lookup_node(name).is_ok() {
            return Err(Errno::EEXIST);
        }
        let upper = self.copy_up()?.create(name, node, attrs)?;
        // A name removed below and made again shows only the new file (a new
        // directory stays opaque: lookups see the whiteout).
        let n = self.child(name, None, Some(upper));
        self.children.lock().unwrap().insert(name.to_vec(), n.clone());
        Ok(n)
    }

    fn link(&self, name: &[u8], target: &InodeRef) -> Result<(), Errno> {
        let target = Self::downcast(target)?;
        if self.lookup_node(name).is_ok() {
            return Err(Errno::EEXIST);
        }
        let target_upper = target.copy_up()?;
        self.copy_up()?.link(name, &target_upper)?;
        self.forget(name);
        Ok(())
    }

    fn unlink(&self, name: &[u8], dir: bool) -> Result<(), Errno> {
        let victim = self.lookup_node(name)?;
        match (dir, victim.is_dir()) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !victim.readdir()?.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        if victim.upper().is_some() {
            self.copy_up()?.unlink(name, dir)?;
        }
        if victim.lower.is_some() {
            self.whiteouts.lock().unwrap().insert(name.to_vec());
        }
        self.forget(name);
        Ok(())
    }

    fn rename(&self, old: &[u8], new_dir: &InodeRef, new: &[u8]) -> Result<(), Errno> {
        let target_dir = Self::downcast(new_dir)?;
        let moving = self.lookup_node(old)?;
        if moving.is_dir() && moving.lower.is_some() {
            return Err(Errno::EXDEV);
        }
        if let Ok(existing) = target_dir.lookup_node(new) {
            match (moving.is_dir(), existing.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !existing.readdir()?.is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
            if existing.lower.is_some() && existing.is_dir() {
                // The lower directory must not show through the moved one.
                target_dir.whiteouts.lock().unwrap().insert(new.to_vec());
            }
        }
        moving.copy_up()?;
        let from = self.copy_up()?;
        let to = target_dir.copy_up()?;
        from.rename(old, &to, new)?;
        if moving.lower.is_some() {
            self.whiteouts.lock().unwrap().insert(old.to_vec());
        }
        self.forget(old);
        target_dir.forget(new);
        Ok(())
    }

    /// Two non-directories swap in the upper layer, each copied up first;
    /// the upper entries hide whatever the lower layer has under those
    /// names. Directories are EXDEV (their lower parts cannot move).
    fn exchange(&self, name: &[u8], other_dir: &InodeRef, other: &[u8]) -> Result<(), Errno> {
        let target_dir = Self::downcast(other_dir)?;
        let (a, b) = (self.lookup_node(name)?, target_dir.lookup_node(other)?);
        if a.is_dir() || b.is_dir() {
            return Err(Errno::EXDEV);
        }
        a.copy_up()?;
        b.copy_up()?;
        let (from, to) = (self.copy_up()?, target_dir.copy_up()?);
        from.exchange(name, &to, other)?;
        self.forget(name);
        target_dir.forget(other);
        Ok(())
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut out = match self.upper() {
            Some(u) => u.readdir()?,
            None => Vec::new(),
        };
        let seen: HashSet<Vec<u8>> = out.iter().map(|e| e.name.clone()).collect();
        for e in &mut out {
            e.ino |= UPPER_INO;
        }
        if let Some(l) = &self.lower {
            let wh = self.whiteouts.lock().unwrap();
            out.extend(l.readdir()?.into_iter().filter(|e| !seen.contains(&e.name) && !wh.contains(&e.name)));
        }
        Ok(out)
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        self.top().readlink()
    }

    fn open(self: Arc<Self>, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        let writes = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0;
        if writes {
            self.copy_up()?.open(flags)
        } else {
            self.top().open(flags)
        }
    }

    fn getxattr(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        self.top().getxattr(name)
    }

    fn setxattr(&self, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        self.copy_up()?.setxattr(name, value, flags)
    }

    fn listxattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        self.top().listxattr()
    }

    fn removexattr(&self, name: &[u8]) -> Result<(), Errno> {
        self.copy_up()?.removexattr(name)
    }

    fn statfs(&self) -> abi::structs::StatFs {
        crate::inode::memory_statfs(crate::inode::OVERLAYFS_MAGIC)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    /// An overlay of an empty tmpfs over a tmpfs holding:
    /// ```text
    /// /file ("lower data")   /gone ("old")
    /// /dir/f1 ("one")        /dir/sub/x
    /// ```
    struct Layers {
        lower: InodeRef,
        upper: InodeRef,
        root: InodeRef,
    }

    fn layers() -> Layers {
        let lower = tmpfs(1).inode().clone();
        make_file(&lower, "file", b"lower data");
        make_file(&lower, "gone", b"old");
        let dir = make_dir(&lower, "dir");
        make_file(&dir, "f1", b"one");
        let sub = make_dir(&dir, "sub");
        make_file(&sub, "x", b"");
        let upper = tmpfs(2).inode().clone();
        let root = OverlayNode::root(lower.clone(), upper.clone(), 3);
        Layers { lower, upper, root }
    }

    fn lookup(dir: &InodeRef, path: &str) -> Result<InodeRef, Errno> {
        let mut cur = dir.clone();
        for c in path.split('/') {
            cur = cur.lookup(c.as_bytes())?;
        }
        Ok(cur)
    }

    #[test]
    fn writing_a_lower_file_copies_it_up_with_its_ancestors() {
        let l = layers();
        let f1 = lookup(&l.root, "dir/f1").unwrap();
        let ino = f1.stat().st_ino;
        assert_eq!(contents(&f1), b"one");
        assert_eq!(l.upper.lookup(b"dir").err(), Some(Errno::ENOENT), "reading copies nothing up");

        open(&f1, O_RDWR).unwrap().write_buf(b"ONE!", Some(0)).unwrap();
        assert_eq!(contents(&f1), b"ONE!");
        assert_eq!(contents(&lookup(&l.root, "dir/f1").unwrap()), b"ONE!", "a new lookup sees the copy");
        assert_eq!(contents(&lookup(&l.upper, "dir/f1").unwrap()), b"ONE!");
        assert_eq!(contents(&lookup(&l.lower, "dir/f1").unwrap()), b"one", "the lower layer is untouched");
        assert_eq!(names(&l.upper), ["dir"], "only the ancestors came up");
        assert_eq!(f1.stat().st_ino, ino, "the file keeps its inode number");

        // O_TRUNC and setattr write too.
        let file = lookup(&l.root, "file").unwrap();
        file.setattr(&SetAttr { size: Some(5), ..SetAttr::default() }).unwrap();
        assert_eq!(contents(&file), b"lower");
        assert_eq!(contents(&lookup(&l.lower, "file").unwrap()), b"lower data");
    }

    #[test]
    fn a_whiteout_hides_a_lower_name_and_a_new_file_replaces_it() {
        let l = layers();
        l.root.unlink(b"gone", false).unwrap();
        assert_eq!(l.root.lookup(b"gone").err(), Some(Errno::ENOENT));
        assert!(!names(&l.root).contains(&"gone".to_string()));
        assert_eq!(contents(&lookup(&l.lower, "gone").unwrap()), b"old", "still there below");

        let again = make_file(&l.root, "gone", b"");
        assert_eq!(contents(&again), b"", "the new file, not the old one");
        assert_eq!(contents(&l.root.lookup(b"gone").unwrap()), b"");
        assert_eq!(names(&l.root).iter().filter(|n| *n == "gone").count(), 1);

        // A directory made again where a lower one was removed is opaque.
        let dir = l.root.lookup(b"dir").unwrap();
        assert_eq!(dir.unlink(b"sub", true), Err(Errno::ENOTEMPTY));
        let sub = dir.lookup(b"sub").unwrap();
        sub.unlink(b"x", false).unwrap();
        dir.unlink(b"sub", true).unwrap();
        make_dir(&dir, "sub");
        assert!(names(&dir.lookup(b"sub").unwrap()).is_empty(), "the lower x does not show through");
    }

    #[test]
    fn listings_merge_both_layers() {
        let l = layers();
        let dir = l.root.lookup(b"dir").unwrap();
        make_file(&dir, "new", b"n");
        assert_eq!(names(&dir), ["f1", "new", "sub"]);
        assert_eq!(names(&lookup(&l.lower, "dir").unwrap()), ["f1", "sub"]);
        assert_eq!(names(&lookup(&l.upper, "dir").unwrap()), ["new"]);
        // A copied-up name shows once.
        open(&dir.lookup(b"f1").unwrap(), O_WRONLY).unwrap().write_buf(b"1", Some(0)).unwrap();
        assert_eq!(names(&dir), ["f1", "new", "sub"]);
        // A removed one not at all.
        dir.unlink(b"f1", false).unwrap();
        assert_eq!(names(&dir), ["new", "sub"]);
        assert_eq!(names(&l.root), ["dir", "file", "gone"]);
    }

    #[test]
    fn renaming_a_directory_with_a_lower_part_is_exdev() {
        let l = layers();
        assert_eq!(l.root.rename(b"dir", &l.root, b"moved"), Err(Errno::EXDEV));
        let dir = l.root.lookup(b"dir").unwrap();
        assert_eq!(dir.rename(b"sub", &l.root, b"sub"), Err(Errno::EXDEV));
        assert_eq!(names(&l.root), ["dir", "file", "gone"], "nothing moved");

        // A directory only in the upper layer moves.
        make_dir(&l.root, "fresh");
        l.root.rename(b"fresh", &dir, b"fresh").unwrap();
        assert_eq!(names(&dir), ["f1", "fresh", "sub"]);
        // A lower file moves: copied up, its old name whited out.
        l.root.rename(b"file", &dir, b"file").unwrap();
        assert_eq!(l.root.lookup(b"file").err(), Some(Errno::ENOENT));
        assert_eq!(contents(&dir.lookup(b"file").unwrap()), b"lower data");
        assert_eq!(names(&l.root), ["dir", "gone"]);
    }
}
