//! Path resolution, as Linux's namei does it: components one by one, symlinks
//! followed (at most 40), ".." stopping at the task's root and crossing mount
//! points upward, mounts crossed downward; openat2's RESOLVE_* restrictions.

use std::collections::VecDeque;
use std::sync::Arc;

use abi::consts::NAME_MAX;
use abi::Errno;

use crate::inode::{file_type, FileType, FsCreds, MAY_EXEC};
use crate::mount::{MountNamespace, Path};

/// The most symlinks one resolution follows (MAXSYMLINKS).
pub const MAX_SYMLINKS: u32 = 40;

// openat2 RESOLVE_* flags.
pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;
pub const RESOLVE_CACHED: u64 = 0x20;

/// What resolution needs to know about the caller.
pub struct Resolver<'a> {
    pub ns: &'a MountNamespace,
    /// The task's root (chroot): ".." stops here and "/" starts here. For
    /// RESOLVE_BENEATH and RESOLVE_IN_ROOT, the directory they are scoped to.
    pub root: &'a Path,
    pub creds: &'a FsCreds,
    /// RESOLVE_* restrictions (0 for every call but openat2).
    pub restrict: u64,
}

/// The directory that holds a path's last component, and that component.
pub struct Parent {
    pub dir: Path,
    /// The last component: may be "." or "..", or empty when the path is "/".
    pub name: Vec<u8>,
    /// The path ended in '/': the last component must be a directory.
    pub trailing_slash: bool,
}

fn components(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty()).map(|c| c.to_vec()).collect()
}

impl Resolver<'_> {
    fn has(&self, flag: u64) -> bool {
        self.restrict & flag != 0
    }

    fn follow_mounts(&self, mut p: Path) -> Result<Path, Errno> {
        while let Some(m) = self.ns.mounted_on(&p) {
            if self.has(RESOLVE_NO_XDEV) {
                return Err(Errno::EXDEV);
            }
            p = Path { dentry: m.root.clone(), mount: m };
        }
        Ok(p)
    }

    fn dotdot(&self, mut p: Path) -> Result<Path, Errno> {
        loop {
            if p.same(self.root) {
                // RESOLVE_BENEATH: ".." may not leave the starting point.
                return if self.has(RESOLVE_BENEATH) { Err(Errno::EXDEV) } else { Ok(p) };
            }
            if !Arc::ptr_eq(&p.dentry, &p.mount.root) {
                break;
            }
            match &p.mount.parent {
                Some((m, d)) if !self.has(RESOLVE_NO_XDEV) => p = Path { mount: m.clone(), dentry: d.clone() },
                Some(_) => return Err(Errno::EXDEV),
                None => return Ok(p),
            }
        }
        match p.dentry.parent() {
            Some(d) => self.follow_mounts(Path { mount: p.mount, dentry: d }),
            None => Ok(p),
        }
    }

    /// Where an absolute path or symlink starts: the root, unless the
    /// restrictions forbid the jump.
    fn jump_root(&self, from: &Path) -> Result<Path, Errno> {
        if self.has(RESOLVE_BENEATH) || (self.has(RESOLVE_NO_XDEV) && !Arc::ptr_eq(&from.mount, &self.root.mount)) {
            return Err(Errno::EXDEV);
        }
        Ok(self.root.clone())
    }

    /// Walks `comps` from `cur`. A final symlink is followed if `follow`.
    fn walk(&self, mut cur: Path, mut comps: VecDeque<Vec<u8>>, follow: bool, links: &mut u32) -> Result<Path, Errno> {
        while let Some(c) = comps.pop_front() {
            if file_type(&**cur.inode()) != FileType::Directory {
                return Err(Errno::ENOTDIR);
            }
            if !cur.inode().permission(self.creds, MAY_EXEC) {
                return Err(Errno::EACCES);
            }
            match &c[..] {
                b"." => continue,
                b".." => {
                    cur = self.dotdot(cur)?;
                    continue;
                }
                _ if c.len() > NAME_MAX => return Err(Errno::ENAMETOOLONG),
                _ => {}
            }
            let next = cur.dentry.lookup(&c)?;
            let next = self.follow_mounts(Path { mount: cur.mount.clone(), dentry: next })?;
            let last = comps.is_empty();
            if file_type(&**next.inode()) == FileType::Symlink && (!last || follow) {
                *links += 1;
                if *links > MAX_SYMLINKS || self.has(RESOLVE_NO_SYMLINKS) {
                    return Err(Errno::ELOOP);
                }
                if let Some(to) = next.inode().magic_link() {
                    if self.has(RESOLVE_NO_MAGICLINKS) {
                        return Err(Errno::ELOOP);
                    }
                    let to = to?;
                    // Jumps are not safe in scoped lookups, nor across mounts
                    // under RESOLVE_NO_XDEV.
                    if self.has(RESOLVE_BENEATH | RESOLVE_IN_ROOT)
                        || (self.has(RESOLVE_NO_XDEV) && !Arc::ptr_eq(&to.mount, &next.mount))
                    {
                        return Err(Errno::EXDEV);
                    }
                    cur = to;
                    continue;
                }
                let target = next.inode().readlink()?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                for t in components(&target).into_iter().rev() {
                    comps.push_front(t);
                }
                if target.first() == Some(&b'/') {
                    cur = self.jump_root(&cur)?;
                }
                continue;
            }
            cur = next;
        }
        Ok(cur)
    }

    /// Where an absolute path starts: the root (RESOLVE_BENEATH: EXDEV).
    fn start_absolute(&self) -> Result<Path, Errno> {
        if self.has(RESOLVE_BENEATH) {
            return Err(Errno::EXDEV);
        }
        Ok(self.root.clone())
    }

    /// Resolves `path` from `start` (relative paths) or the root (absolute).
    /// A final symlink is followed if `follow`; a trailing '/' always follows
    /// it and requires a directory.
    pub fn resolve(&self, start: &Path, path: &[u8], follow: bool) -> Result<Path, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let from = if path.first() == Some(&b'/') { self.start_absolute()? } else { start.clone() };
        let trailing = path.ends_with(b"/");
        let mut links = 0;
        let p = self.walk(from, components(path), follow || trailing, &mut links)?;
        if trailing && file_type(&**p.inode()) != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        Ok(p)
    }

    /// Resolves everything but the last component, which is returned as is.
    pub fn resolve_parent(&self, start: &Path, path: &[u8]) -> Result<Parent, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let from = if path.first() == Some(&b'/') { self.start_absolute()? } else { start.clone() };
        let mut comps = components(path);
        let trailing_slash = path.ends_with(b"/");
        let name = comps.pop_back().unwrap_or_default();
        let mut links = 0;
        let dir = self.walk(from, comps, true, &mut links)?;
        if file_type(&**dir.inode()) != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok(Parent { dir, name, trailing_slash })
    }

    /// The path of `p` as seen from the root, for getcwd and /proc; None if
    /// `p` is not below the root.
    pub fn path_of(&self, p: &Path) -> Option<Vec<u8>> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = p.clone();
        loop {
            if cur.same(self.root) {
                break;
            }
            if Arc::ptr_eq(&cur.dentry, &cur.mount.root) {
                let (m, d) = cur.mount.parent.clone()?;
                cur = Path { mount: m, dentry: d };
                continue;
            }
            parts.push(cur.dentry.name());
            let parent = cur.dentry.parent()?;
            cur = Path { mount: cur.mount.clone(), dentry: parent };
        }
        let mut out = Vec::new();
        for part in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(part);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        Some(out)
    }
}
