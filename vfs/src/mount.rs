//! Dentries, mounts and the mount namespace: the tree that path resolution walks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use abi::Errno;

use crate::inode::{InodeRef, NewAttrs, NewNode};

/// A name in the tree: an inode as reached through a parent directory.
/// Children are cached; every change of a directory goes through its dentry so
/// the cache stays true.
pub struct Dentry {
    inode: InodeRef,
    name: Mutex<Vec<u8>>,
    /// None for the root of a filesystem.
    parent: Mutex<Option<Arc<Dentry>>>,
    children: Mutex<HashMap<Vec<u8>, Arc<Dentry>>>,
    deleted: AtomicBool,
    /// An O_TMPFILE file that may still be given a name (Linux's
    /// I_LINKABLE): linkat accepts it although it has no links.
    linkable: AtomicBool,
}

impl Dentry {
    /// The root dentry of a filesystem.
    pub fn new_root(inode: InodeRef) -> Arc<Dentry> {
        Arc::new(Dentry {
            inode,
            name: Mutex::new(b"/".to_vec()),
            parent: Mutex::new(None),
            children: Mutex::default(),
            deleted: AtomicBool::new(false),
            linkable: AtomicBool::new(false),
        })
    }

    pub fn inode(&self) -> &InodeRef {
        &self.inode
    }

    pub fn name(&self) -> Vec<u8> {
        self.name.lock().unwrap().clone()
    }

    pub fn parent(&self) -> Option<Arc<Dentry>> {
        self.parent.lock().unwrap().clone()
    }

    /// Whether the name was unlinked (or the directory removed).
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Relaxed)
    }

    fn child_of(self: &Arc<Self>, name: &[u8], inode: InodeRef) -> Arc<Dentry> {
        Arc::new(Dentry {
            inode,
            name: Mutex::new(name.to_vec()),
            parent: Mutex::new(Some(self.clone())),
            children: Mutex::default(),
            deleted: AtomicBool::new(false),
            linkable: AtomicBool::new(false),
        })
    }

    /// O_TMPFILE: a regular file in this directory that has no name. It is
    /// made under a private name ("#N", as Linux shows such files in /proc)
    /// and unlinked at once.
    pub fn create_tmpfile(self: &Arc<Self>, attrs: NewAttrs, linkable: bool) -> Result<Arc<Dentry>, Errno> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        if !self.inode.supports_tmpfile() {
            return Err(Errno::EOPNOTSUPP);
        }
        loop {
            let name = format!("#{}", NEXT.fetch_add(1, Ordering::Relaxed)).into_bytes();
            match self.create(&name, NewNode::Regular, attrs) {
                Ok(d) => {
                    self.unlink(&name, false)?;
                    d.linkable.store(linkable, Ordering::Relaxed);
                    return Ok(d);
                }
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether a file with no links may be linked (see `linkable`).
    pub fn is_linkable(&self) -> bool {
        self.linkable.load(Ordering::Relaxed)
    }

    /// After a link: the file is named now.
    pub fn clear_linkable(&self) {
        self.linkable.store(false, Ordering::Relaxed);
    }

    /// Looks `name` up in this directory (a single component).
    pub fn lookup(self: &Arc<Self>, name: &[u8]) -> Result<Arc<Dentry>, Errno> {
        if let Some(d) = self.children.lock().unwrap().get(name) {
            return Ok(d.clone());
        }
        let inode = self.inode.lookup(name)?;
        let d = self.child_of(name, inode);
        self.children.lock().unwrap().insert(name.to_vec(), d.clone());
        Ok(d)
    }

    pub fn create(self: &Arc<Self>, name: &[u8], node: NewNode<'_>, attrs: NewAttrs) -> Result<Arc<Dentry>, Errno> {
        let inode = self.inode.create(name, node, attrs)?;
        let d = self.child_of(name, inode);
        self.children.lock().unwrap().insert(name.to_vec(), d.clone());
        Ok(d)
    }

    pub fn link(self: &Arc<Self>, name: &[u8], target: &InodeRef) -> Result<(), Errno> {
        self.inode.link(name, target)
    }

    pub fn unlink(self: &Arc<Self>, name: &[u8], dir: bool) -> Result<(), Errno> {
        self.inode.unlink(name, dir)?;
        if let Some(d) = self.children.lock().unwrap().remove(name) {
            d.deleted.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Renames `old` here to `new` in `new_dir`, moving the cached dentry.
    pub fn rename(self: &Arc<Self>, old: &[u8], new_dir: &Arc<Dentry>, new: &[u8]) -> Result<(), Errno> {
        self.inode.rename(old, new_dir.inode(), new)?;
        let moved = self.children.lock().unwrap().remove(old);
        let mut target_children = new_dir.children.lock().unwrap();
        if let Some(replaced) = target_children.remove(new) {
            replaced.deleted.store(true, Ordering::Relaxed);
        }
        if let Some(d) = moved {
            *d.name.lock().unwrap() = new.to_vec();
            *d.parent.lock().unwrap() = Some(new_dir.clone());
            target_children.insert(new.to_vec(), d);
        }
        Ok(())
    }

    /// RENAME_EXCHANGE: `name` here and `other` in `other_dir` swap places,
    /// and so do their cached dentries.
    pub fn exchange(self: &Arc<Self>, name: &[u8], other_dir: &Arc<Dentry>, other: &[u8]) -> Result<(), Errno> {
        self.inode.exchange(name, other_dir.inode(), other)?;
        let a = self.children.lock().unwrap().remove(name);
        let b = other_dir.children.lock().unwrap().remove(other);
        if let Some(d) = b {
            *d.name.lock().unwrap() = name.to_vec();
            *d.parent.lock().unwrap() = Some(self.clone());
            self.children.lock().unwrap().insert(name.to_vec(), d);
        }
        if let Some(d) = a {
            *d.name.lock().unwrap() = other.to_vec();
            *d.parent.lock().unwrap() = Some(other_dir.clone());
            other_dir.children.lock().unwrap().insert(other.to_vec(), d);
        }
        Ok(())
    }

    /// Whether `self` is `other` or lies below it (same filesystem).
    pub fn is_descendant_of(self: &Arc<Self>, other: &Arc<Dentry>) -> bool {
        let mut cur = Some(self.clone());
        while let Some(d) = cur {
            if Arc::ptr_eq(&d, other) {
                return true;
            }
            cur = d.parent();
        }
        false
    }
}

/// Mount flags, as the mount tables show them. A read-only volume is
/// enforced by its gofer inodes (EROFS), which know they are read-only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountFlags {
    pub readonly: bool,
}

/// A mounted filesystem: its root, and where it is mounted.
pub struct Mount {
    pub id: u64,
    pub root: Arc<Dentry>,
    /// The mount and dentry this one covers (None for the namespace root).
    pub parent: Option<(Arc<Mount>, Arc<Dentry>)>,
    pub flags: MountFlags,
}

/// A location: a dentry as reached through a mount.
#[derive(Clone)]
pub struct Path {
    pub mount: Arc<Mount>,
    pub dentry: Arc<Dentry>,
}

impl Path {
    pub fn inode(&self) -> &InodeRef {
        self.dentry.inode()
    }

    pub fn same(&self, other: &Path) -> bool {
        Arc::ptr_eq(&self.mount, &other.mount) && Arc::ptr_eq(&self.dentry, &other.dentry)
    }
}

impl Path {
    /// A path for an inode that lives in no mounted tree (a pipe or a host fd
    /// reached through /proc/[pid]/fd).
    pub fn detached(inode: InodeRef) -> Path {
        let dentry = Dentry::new_root(inode);
        let mount = Arc::new(Mount { id: 0, root: dentry.clone(), parent: None, flags: MountFlags::default() });
        Path { mount, dentry }
    }
}

/// The mount tree of a sandbox.
pub struct MountNamespace {
    root: Arc<Mount>,
    mounts: Mutex<Vec<Arc<Mount>>>,
    next_id: AtomicU64,
}

impl MountNamespace {
    pub fn new(root_fs: Arc<Dentry>) -> MountNamespace {
        let root = Arc::new(Mount { id: 1, root: root_fs, parent: None, flags: MountFlags::default() });
        MountNamespace { root: root.clone(), mounts: Mutex::new(vec![root]), next_id: AtomicU64::new(2) }
    }

    pub fn root(&self) -> Path {
        Path { mount: self.root.clone(), dentry: self.root.root.clone() }
    }

    /// Mounts the filesystem rooted at `fs_root` over `at`.
    pub fn mount(&self, at: &Path, fs_root: Arc<Dentry>, flags: MountFlags) -> Arc<Mount> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let m = Arc::new(Mount { id, root: fs_root, parent: Some((at.mount.clone(), at.dentry.clone())), flags });
        self.mounts.lock().unwrap().push(m.clone());
        m
    }

    /// Every mount, in the order they were made.
    pub fn mounts(&self) -> Vec<Arc<Mount>> {
        self.mounts.lock().unwrap().clone()
    }

    /// The mount on top of `p`, if any (the most recent one wins).
    pub fn mounted_on(&self, p: &Path) -> Option<Arc<Mount>> {
        self.mounts
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m.parent.as_ref().is_some_and(|(pm, pd)| Arc::ptr_eq(pm, &p.mount) && Arc::ptr_eq(pd, &p.dentry)))
            .cloned()
    }

    /// Whether some mount covers `p` (a mount point cannot be removed: EBUSY).
    pub fn is_mount_point(&self, p: &Path) -> bool {
        self.mounted_on(p).is_some()
    }
}
