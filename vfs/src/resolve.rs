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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mount::MountFlags;
    use crate::testutil::*;

    /// A mount namespace over a tmpfs:
    /// ```text
    /// /etc/passwd
    /// /a/b/c/            /a/esc -> /b/c     /a/up -> ../../etc
    /// /rel -> a/b        /abs -> /etc       /loop -> loop
    /// /n1 -> n2 -> ... -> n41 -> etc
    /// /file              /private/ (0700) with secret
    /// /mnt/              another tmpfs mounted there, holding inner
    /// ```
    struct Tree {
        ns: MountNamespace,
        root: Path,
        /// Root's: uid 0 passes every permission check.
        creds: FsCreds,
    }

    fn tree() -> Tree {
        let fs = tmpfs(1);
        let r = fs.inode().clone();
        let etc = make_dir(&r, "etc");
        make_file(&etc, "passwd", b"root");
        let a = make_dir(&r, "a");
        let b = make_dir(&a, "b");
        make_dir(&b, "c");
        make_symlink(&a, "esc", "/b/c");
        make_symlink(&a, "up", "../../etc");
        make_symlink(&r, "rel", "a/b");
        make_symlink(&r, "abs", "/etc");
        make_symlink(&r, "loop", "loop");
        for i in 1..=41 {
            make_symlink(&r, &format!("n{i}"), &if i == 41 { "etc".to_string() } else { format!("n{}", i + 1) });
        }
        make_file(&r, "file", b"");
        let private = r.create(b"private", crate::inode::NewNode::Directory, attrs(0o700)).unwrap();
        make_file(&private, "secret", b"");
        make_dir(&r, "mnt");
        let ns = MountNamespace::new(fs);
        let root = ns.root();
        let other = tmpfs(2);
        make_file(other.inode(), "inner", b"");
        let t = Tree { ns, root, creds: FsCreds::default() };
        let mnt = t.resolver(0).resolve(&t.root, b"/mnt", true).unwrap();
        t.ns.mount(&mnt, other, MountFlags::default());
        t
    }

    impl Tree {
        fn resolver(&self, restrict: u64) -> Resolver<'_> {
            Resolver { ns: &self.ns, root: &self.root, creds: &self.creds, restrict }
        }

        /// Resolves `path` from the root (following a final symlink) and
        /// names where it landed.
        fn at(&self, path: &str) -> Result<String, Errno> {
            self.from(&self.root, 0, path, true)
        }

        /// Resolves `path` from `start` with the resolver's root at `start`
        /// too (as RESOLVE_BENEATH and RESOLVE_IN_ROOT have it), naming the
        /// result from the namespace's root.
        fn from(&self, start: &Path, restrict: u64, path: &str, follow: bool) -> Result<String, Errno> {
            let scoped = Resolver { ns: &self.ns, root: start, creds: &self.creds, restrict };
            let p = scoped.resolve(start, path.as_bytes(), follow)?;
            Ok(String::from_utf8(self.resolver(0).path_of(&p).unwrap()).unwrap())
        }

        /// Resolves `path` from `start` (the root staying the namespace's).
        fn walk(&self, start: &Path, path: &str) -> Result<String, Errno> {
            let p = self.resolver(0).resolve(start, path.as_bytes(), true)?;
            Ok(String::from_utf8(self.resolver(0).path_of(&p).unwrap()).unwrap())
        }

        fn path(&self, path: &str) -> Path {
            self.resolver(0).resolve(&self.root, path.as_bytes(), true).unwrap()
        }
    }

    #[test]
    fn symlinks_relative_and_absolute_are_followed() {
        let t = tree();
        assert_eq!(t.at("/rel/c"), Ok("/a/b/c".into()), "relative to the link's directory");
        assert_eq!(t.at("/abs/passwd"), Ok("/etc/passwd".into()));
        assert_eq!(t.walk(&t.path("/a/b"), "../../abs/passwd"), Ok("/etc/passwd".into()));
        // An absolute link starts again at the root, wherever it is met.
        assert_eq!(t.walk(&t.path("/a"), "esc"), Err(Errno::ENOENT), "/b/c does not exist at the root");
        assert_eq!(t.walk(&t.path("/a/b/c"), "../../up"), Ok("/etc".into()), "relative to /a");
        // A final link is followed only when asked; a middle one always.
        let link = t.resolver(0).resolve(&t.root, b"/rel", false).unwrap();
        assert_eq!(file_type(&**link.inode()), FileType::Symlink);
        assert_eq!(t.at("/a/b/c/../../../rel/c/.."), Ok("/a/b".into()));
    }

    #[test]
    fn symlinks_stop_after_40() {
        let t = tree();
        assert_eq!(t.at("/n2"), Ok("/etc".into()), "40 links");
        assert_eq!(t.at("/n1"), Err(Errno::ELOOP), "41 links");
        assert_eq!(t.at("/n2/passwd"), Ok("/etc/passwd".into()));
        assert_eq!(t.at("/loop"), Err(Errno::ELOOP));
        assert_eq!(t.at("/loop/x"), Err(Errno::ELOOP));
    }

    #[test]
    fn dotdot_stops_at_the_root_and_crosses_mounts() {
        let t = tree();
        assert_eq!(t.at("/.."), Ok("/".into()));
        assert_eq!(t.at("/../../etc/../etc/passwd"), Ok("/etc/passwd".into()));
        assert_eq!(t.at("/mnt/inner"), Ok("/mnt/inner".into()), "down into the mount");
        assert_eq!(t.at("/mnt/.."), Ok("/".into()), "up out of it");
        // A chroot: ".." stops at the task's root, "/" starts there.
        let a = t.path("/a");
        assert_eq!(t.from(&a, 0, "../../b", true), Ok("/a/b".into()));
        assert_eq!(t.from(&a, 0, "/b/c", true), Ok("/a/b/c".into()));
        assert_eq!(t.from(&a, 0, "esc", true), Ok("/a/b/c".into()), "absolute links too");
        let chroot = Resolver { ns: &t.ns, root: &a, creds: &t.creds, restrict: 0 };
        assert_eq!(chroot.path_of(&t.path("/a/b")), Some(b"/b".to_vec()));
        assert_eq!(chroot.path_of(&t.path("/etc")), None, "outside the chroot");
    }

    #[test]
    fn trailing_slashes_need_directories() {
        let t = tree();
        assert_eq!(t.at("/etc/passwd/"), Err(Errno::ENOTDIR));
        assert_eq!(t.at("/etc/passwd/."), Err(Errno::ENOTDIR));
        assert_eq!(t.at("/file/x"), Err(Errno::ENOTDIR));
        assert_eq!(t.at("/etc/"), Ok("/etc".into()));
        // A trailing slash follows a final link even when not asked to.
        assert_eq!(t.from(&t.root, 0, "/abs/", false), Ok("/etc".into()));
        let parent = t.resolver(0).resolve_parent(&t.root, b"/etc/newdir/").unwrap();
        assert!(parent.trailing_slash);
        assert_eq!(parent.name, b"newdir");
        assert_eq!(t.resolver(0).resolve_parent(&t.root, b"/file/x").err(), Some(Errno::ENOTDIR));
    }

    #[test]
    fn names_longer_than_name_max_are_refused() {
        let t = tree();
        let long = "x".repeat(NAME_MAX + 1);
        let max = "x".repeat(NAME_MAX);
        assert_eq!(t.at(&format!("/etc/{long}")), Err(Errno::ENAMETOOLONG));
        assert_eq!(t.at(&format!("/{long}/passwd")), Err(Errno::ENAMETOOLONG));
        assert_eq!(t.at(&format!("/etc/{max}")), Err(Errno::ENOENT), "NAME_MAX itself is a name");
        let r = t.resolver(0);
        assert_eq!(r.resolve_parent(&t.root, format!("/etc/{long}").as_bytes()).err(), Some(Errno::ENAMETOOLONG));
        assert!(r.resolve_parent(&t.root, format!("/etc/{max}").as_bytes()).is_ok());
        assert_eq!(t.at(""), Err(Errno::ENOENT));
    }

    #[test]
    fn search_permission_is_checked_on_every_directory() {
        let t = tree();
        let user = FsCreds { uid: 1000, gid: 1000, groups: Vec::new() };
        let r = Resolver { ns: &t.ns, root: &t.root, creds: &user, restrict: 0 };
        assert_eq!(r.resolve(&t.root, b"/private/secret", true).err(), Some(Errno::EACCES));
        assert!(r.resolve(&t.root, b"/private", true).is_ok(), "the directory itself may be named");
        assert!(r.resolve(&t.root, b"/etc/passwd", true).is_ok());
    }

    #[test]
    fn openat2_restrictions_scope_the_walk() {
        let t = tree();
        let a = t.path("/a");
        // RESOLVE_BENEATH: nothing may leave the starting directory.
        assert_eq!(t.from(&a, RESOLVE_BENEATH, "b/c/..", true), Ok("/a/b".into()));
        assert_eq!(t.from(&a, RESOLVE_BENEATH, "b/../..", true), Err(Errno::EXDEV));
        assert_eq!(t.from(&a, RESOLVE_BENEATH, "/etc", true), Err(Errno::EXDEV));
        assert_eq!(t.from(&a, RESOLVE_BENEATH, "esc", true), Err(Errno::EXDEV), "an absolute link");
        assert_eq!(t.from(&a, RESOLVE_BENEATH, "up", true), Err(Errno::EXDEV), "a link climbing out");
        // RESOLVE_IN_ROOT: ".." and absolute paths and links stay inside.
        assert_eq!(t.from(&a, RESOLVE_IN_ROOT, "../../b", true), Ok("/a/b".into()));
        assert_eq!(t.from(&a, RESOLVE_IN_ROOT, "/b/c", true), Ok("/a/b/c".into()));
        assert_eq!(t.from(&a, RESOLVE_IN_ROOT, "esc", true), Ok("/a/b/c".into()));
        assert_eq!(t.from(&a, RESOLVE_IN_ROOT, "up", true), Err(Errno::ENOENT), "no etc inside /a");
        // RESOLVE_NO_SYMLINKS: any link met is ELOOP; none met is fine.
        assert_eq!(t.from(&t.root, RESOLVE_NO_SYMLINKS, "/rel/c", true), Err(Errno::ELOOP));
        assert_eq!(t.from(&t.root, RESOLVE_NO_SYMLINKS, "/abs", true), Err(Errno::ELOOP));
        assert_eq!(t.from(&t.root, RESOLVE_NO_SYMLINKS, "/a/b/c", true), Ok("/a/b/c".into()));
        // RESOLVE_NO_XDEV: no mount crossing.
        assert_eq!(t.from(&t.root, RESOLVE_NO_XDEV, "/mnt/inner", true), Err(Errno::EXDEV));
        assert_eq!(t.from(&t.root, RESOLVE_NO_XDEV, "/etc/passwd", true), Ok("/etc/passwd".into()));
    }
}
