//! The gofer server: serves requests on one socket until the Sentry goes away.
//!
//! Every handle is an O_PATH fd plus, for all but export roots, its parent's
//! fd and its name, so a file is opened for I/O by name relative to its parent
//! with O_NOFOLLOW, and checked to be the very inode that was walked.
//!
//! Every failure is the errno the reply carries (`abi::Errno`); host calls
//! go through nix, and their errors become that errno unchanged.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;
use nix::dir::Dir;
use nix::fcntl::{AtFlags, FcntlArg, OFlag};
use nix::sys::stat::{FchmodatFlags, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use slab::Slab;
use zerocopy::IntoBytes;

use gofer_protocol::transport::{recv, send, MAX_MESSAGE};
use gofer_protocol::{
    encode_reply, Entry, Handle, Reply, Request, SETATTR_ATIME, SETATTR_GID, SETATTR_MODE, SETATTR_MTIME, SETATTR_SIZE,
    SETATTR_UID,
};

/// Room left for entries in one ReadDir reply.
const READDIR_BUDGET: usize = MAX_MESSAGE - 1024;

struct Node {
    fd: Arc<OwnedFd>,
    /// Parent directory and name; None for an export's root.
    parent: Option<(Arc<OwnedFd>, CString)>,
    stat: Stat,
    /// Whether the export it belongs to may be changed.
    writable: bool,
    /// For a directory being read page by page: its listing, which ReadDir
    /// cookies index.
    listing: Option<Vec<Entry>>,
}

/// A directory the gofer serves: the root filesystem, or a volume.
pub struct Export {
    /// An O_PATH directory fd.
    pub fd: OwnedFd,
    pub writable: bool,
}

pub struct Server {
    exports: Vec<(Arc<OwnedFd>, bool)>,
    /// The open handles: a handle is its node's key. A closed handle's key
    /// is handed out again, as an fd number is (the Sentry sends Close only
    /// when it drops the handle).
    nodes: Slab<Node>,
}

/// A host call's error, as the reply carries it.
fn errno(e: nix::Error) -> Errno {
    Errno(e as i32)
}

/// The kernel's `struct stat` from the C library's (the same fields on
/// x86-64).
fn stat_of(st: &libc::stat) -> Stat {
    Stat {
        st_dev: st.st_dev,
        st_ino: st.st_ino,
        st_nlink: st.st_nlink,
        st_mode: st.st_mode,
        st_uid: st.st_uid,
        st_gid: st.st_gid,
        pad0: 0,
        st_rdev: st.st_rdev,
        st_size: st.st_size,
        st_blksize: st.st_blksize,
        st_blocks: st.st_blocks,
        st_atime: st.st_atime,
        st_atime_nsec: st.st_atime_nsec,
        st_mtime: st.st_mtime,
        st_mtime_nsec: st.st_mtime_nsec,
        st_ctime: st.st_ctime,
        st_ctime_nsec: st.st_ctime_nsec,
        unused: [0; 3],
    }
}

fn fstat(fd: impl AsFd) -> Result<Stat, Errno> {
    nix::sys::stat::fstat(fd).map(|st| stat_of(&st)).map_err(errno)
}

/// Opens `name` in `dir`, never following a symlink.
fn openat(dir: impl AsFd, name: &CStr, flags: OFlag) -> Result<OwnedFd, Errno> {
    nix::fcntl::openat(dir, name, flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW, Mode::empty()).map_err(errno)
}

/// Permission bits (and setuid, setgid, sticky) from the wire.
fn mode_bits(mode: u32) -> Mode {
    Mode::from_bits_truncate(mode & 0o7777)
}

/// A name to create or remove: a single, real component.
fn checked(name: Vec<u8>) -> Result<CString, Errno> {
    if !valid_name(&name) {
        return Err(Errno::EINVAL);
    }
    CString::new(name).map_err(|_| Errno::EINVAL)
}

/// A single, real component: no '/', NUL, "." or "..", not empty.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

/// Every entry of the directory `node` with its attributes.
fn list(node: &Node) -> Result<Vec<Entry>, Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let dir = Dir::openat(&*node.fd, c".", flags, Mode::empty()).map_err(errno)?;
    let mut out = Vec::new();
    // The owning iterator: it closes the directory when done, where a
    // borrowing one would rewind it (an lseek the filter does not allow).
    for entry in dir {
        let entry = entry.map_err(errno)?;
        let name = entry.file_name();
        if !valid_name(name.to_bytes()) {
            continue;
        }
        // An entry that vanished since the listing is skipped.
        if let Ok(st) = nix::sys::stat::fstatat(&*node.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            out.push(Entry { name: name.to_bytes().to_vec(), stat: stat_of(&st) });
        }
    }
    Ok(out)
}

impl Server {
    /// The root filesystem is export 0; volumes follow.
    pub fn new(exports: Vec<Export>) -> Server {
        Server { exports: exports.into_iter().map(|e| (Arc::new(e.fd), e.writable)).collect(), nodes: Slab::new() }
    }

    /// A new handle for `fd`, walked from `parent` (None for an export's root).
    fn add(
        &mut self,
        fd: Arc<OwnedFd>,
        parent: Option<(Arc<OwnedFd>, CString)>,
        writable: bool,
    ) -> Result<Reply, Errno> {
        let stat = fstat(&*fd)?;
        let handle = self.nodes.insert(Node { fd, parent, stat, writable, listing: None }) as Handle;
        Ok(Reply::Node { handle, stat })
    }

    fn node(&self, h: Handle) -> Result<&Node, Errno> {
        usize::try_from(h).ok().and_then(|k| self.nodes.get(k)).ok_or(Errno::EBADF)
    }

    fn node_mut(&mut self, h: Handle) -> Result<&mut Node, Errno> {
        usize::try_from(h).ok().and_then(|k| self.nodes.get_mut(k)).ok_or(Errno::EBADF)
    }

    /// Serves until the socket closes or breaks.
    pub fn serve(&mut self, sock: &OwnedFd) -> io::Result<()> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let (n, stray) = recv(sock, &mut buf)?;
            drop(stray);
            if n == 0 {
                return Ok(());
            }
            let (reply, fd) = match Request::decode(&buf[..n]) {
                Some(req) => self.handle(req),
                None => (Err(Errno::EINVAL), None),
            };
            send(sock, &encode_reply(&reply), fd.as_ref().map(|f| f.as_raw_fd()))?;
        }
    }

    /// Answers one request; an opened file comes back beside the reply.
    pub fn handle(&mut self, req: Request) -> (Result<Reply, Errno>, Option<OwnedFd>) {
        match req {
            Request::Open { handle, flags } => match self.open(handle, flags) {
                Ok(fd) => (Ok(Reply::Done), Some(fd)),
                Err(e) => (Err(e), None),
            },
            Request::Create { dir, name, mode, flags } => match self.create(dir, name, mode, flags) {
                Ok((reply, fd)) => (Ok(reply), Some(fd)),
                Err(e) => (Err(e), None),
            },
            other => (self.handle_plain(other), None),
        }
    }

    /// The directory handle `dir`, if its export may be changed.
    fn writable_dir(&self, dir: Handle) -> Result<&Node, Errno> {
        let node = self.node(dir)?;
        if !node.writable {
            return Err(Errno::EROFS);
        }
        Ok(node)
    }

    /// A new node for `name`, just made in the directory `dir`.
    fn made(&mut self, dir: Handle, name: CString) -> Result<Reply, Errno> {
        let parent = self.node(dir)?.fd.clone();
        let fd = openat(&*parent, &name, OFlag::O_PATH)?;
        self.add(Arc::new(fd), Some((parent, name)), true)
    }

    fn create(&mut self, dir: Handle, name: Vec<u8>, mode: u32, flags: u32) -> Result<(Reply, OwnedFd), Errno> {
        let parent = self.writable_dir(dir)?.fd.clone();
        let cname = checked(name)?;
        let acc = OFlag::from_bits_truncate((flags & (O_ACCMODE | O_APPEND)) as i32);
        let flags = acc | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(&*parent, cname.as_c_str(), flags, mode_bits(mode)).map_err(errno)?;
        Ok((self.made(dir, cname)?, fd))
    }

    fn handle_plain(&mut self, req: Request) -> Result<Reply, Errno> {
        match req {
            Request::Attach { index } => {
                let (fd, writable) = self.exports.get(index as usize).cloned().ok_or(Errno::ENOENT)?;
                self.add(fd, None, writable)
            }
            Request::Walk { dir, name } => {
                if !valid_name(&name) {
                    return Err(Errno::EINVAL);
                }
                let dir_node = self.node(dir)?;
                let (parent, writable) = (dir_node.fd.clone(), dir_node.writable);
                let cname = CString::new(name).map_err(|_| Errno::EINVAL)?;
                let fd = openat(&*parent, &cname, OFlag::O_PATH)?;
                self.add(Arc::new(fd), Some((parent, cname)), writable)
            }
            Request::Stat { handle } => Ok(Reply::Stat(fstat(&*self.node(handle)?.fd)?)),
            Request::StatFs { handle } => {
                // The raw call: the reply is the kernel's struct statfs
                // itself, and nix's Statfs has no f_frsize and an opaque fsid.
                let mut st = abi::structs::StatFs::default();
                let fd = self.node(handle)?.fd.as_raw_fd();
                // SAFETY: fstatfs writes one struct statfs, which `StatFs` is
                // laid out as.
                let r = unsafe { libc::syscall(libc::SYS_fstatfs, fd, st.as_mut_bytes().as_mut_ptr()) };
                nix::errno::Errno::result(r).map_err(errno)?;
                Ok(Reply::StatFs(st))
            }
            Request::ReadDir { handle, cookie } => self.readdir(handle, cookie),
            Request::ReadLink { handle } => {
                // The O_PATH fd of the symlink itself, with an empty name.
                let target = nix::fcntl::readlinkat(&*self.node(handle)?.fd, c"").map_err(errno)?;
                Ok(Reply::Link(target.into_vec()))
            }
            Request::Close { handle } => {
                let key = usize::try_from(handle).map_err(|_| Errno::EBADF)?;
                self.nodes.try_remove(key).map(|_| Reply::Done).ok_or(Errno::EBADF)
            }
            Request::Mkdir { dir, name, mode } => {
                let parent = self.writable_dir(dir)?.fd.clone();
                let cname = checked(name)?;
                nix::sys::stat::mkdirat(&*parent, cname.as_c_str(), mode_bits(mode)).map_err(errno)?;
                self.made(dir, cname)
            }
            Request::Symlink { dir, name, target } => {
                let parent = self.writable_dir(dir)?.fd.clone();
                let cname = checked(name)?;
                let ctarget = CString::new(target).map_err(|_| Errno::EINVAL)?;
                nix::unistd::symlinkat(ctarget.as_c_str(), &*parent, cname.as_c_str()).map_err(errno)?;
                self.made(dir, cname)
            }
            Request::Link { dir, name, target } => {
                let parent = self.writable_dir(dir)?.fd.clone();
                let cname = checked(name)?;
                let (tparent, tname) = self.node(target)?.parent.clone().ok_or(Errno::EPERM)?;
                // No flags: a symlink is linked, never followed.
                nix::unistd::linkat(&*tparent, tname.as_c_str(), &*parent, cname.as_c_str(), AtFlags::empty())
                    .map_err(errno)?;
                Ok(Reply::Done)
            }
            Request::Unlink { dir, name, is_dir } => {
                let parent = self.writable_dir(dir)?.fd.clone();
                let cname = checked(name)?;
                let flags = if is_dir { UnlinkatFlags::RemoveDir } else { UnlinkatFlags::NoRemoveDir };
                nix::unistd::unlinkat(&*parent, cname.as_c_str(), flags).map_err(errno)?;
                Ok(Reply::Done)
            }
            Request::Rename { dir, name, new_dir, new_name } => {
                let from = self.writable_dir(dir)?.fd.clone();
                let to = self.writable_dir(new_dir)?.fd.clone();
                let (old, new) = (checked(name)?, checked(new_name)?);
                // renameat(2), the one rename call the filter allows.
                nix::fcntl::renameat(&*from, old.as_c_str(), &*to, new.as_c_str()).map_err(errno)?;
                // Handles of the moved file now live under its new name.
                for (_, node) in self.nodes.iter_mut() {
                    if let Some((p, n)) = &mut node.parent {
                        if Arc::ptr_eq(p, &from) && *n == old {
                            *p = to.clone();
                            *n = new.clone();
                        }
                    }
                }
                Ok(Reply::Done)
            }
            Request::SetAttr { handle, valid, mode, uid, gid, size, atime, mtime } => {
                let node = self.node(handle)?;
                if !node.writable {
                    return Err(Errno::EROFS);
                }
                let (dir, name): (&OwnedFd, &CStr) = match &node.parent {
                    Some((d, n)) => (d, n),
                    None => (&node.fd, c"."),
                };
                if valid & SETATTR_MODE != 0 {
                    nix::sys::stat::fchmodat(dir, name, mode_bits(mode), FchmodatFlags::FollowSymlink)
                        .map_err(errno)?;
                }
                if valid & (SETATTR_UID | SETATTR_GID) != 0 {
                    let u = (valid & SETATTR_UID != 0).then(|| Uid::from_raw(uid));
                    let g = (valid & SETATTR_GID != 0).then(|| Gid::from_raw(gid));
                    nix::unistd::fchownat(dir, name, u, g, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(errno)?;
                }
                if valid & SETATTR_SIZE != 0 {
                    let f = openat(dir, name, OFlag::O_WRONLY | OFlag::O_NONBLOCK)?;
                    nix::unistd::ftruncate(&f, size as i64).map_err(errno)?;
                }
                if valid & (SETATTR_ATIME | SETATTR_MTIME) != 0 {
                    let ts =
                        |set: bool, t: [i64; 2]| if set { TimeSpec::new(t[0], t[1]) } else { TimeSpec::UTIME_OMIT };
                    let (a, m) = (ts(valid & SETATTR_ATIME != 0, atime), ts(valid & SETATTR_MTIME != 0, mtime));
                    nix::sys::stat::utimensat(dir, name, &a, &m, UtimensatFlags::NoFollowSymlink).map_err(errno)?;
                }
                Ok(Reply::Stat(fstat(&*node.fd)?))
            }
            Request::Open { .. } | Request::Create { .. } => Err(Errno::EINVAL),
        }
    }

    /// Opens a regular file by name from its parent, and checks that it is
    /// the walked inode. Writes only on a writable export.
    fn open(&mut self, handle: Handle, flags: u32) -> Result<OwnedFd, Errno> {
        let node = self.node(handle)?;
        let writes = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0;
        if writes && !node.writable {
            return Err(Errno::EROFS);
        }
        let (parent, name) = node.parent.as_ref().ok_or(Errno::EISDIR)?;
        let passed = OFlag::from_bits_truncate((flags & (O_ACCMODE | O_APPEND | O_TRUNC)) as i32);
        // O_NONBLOCK: a FIFO swapped in must not block the gofer.
        let fd = openat(&**parent, name, passed | OFlag::O_NONBLOCK | OFlag::O_NOCTTY)?;
        let st = fstat(&fd)?;
        if st.st_mode & S_IFMT != S_IFREG {
            return Err(if st.st_mode & S_IFMT == S_IFDIR { Errno::EISDIR } else { Errno::ENXIO });
        }
        if (st.st_dev, st.st_ino) != (node.stat.st_dev, node.stat.st_ino) {
            return Err(Errno::ESTALE);
        }
        // Clears O_NONBLOCK (F_SETFL to no flags at all).
        let _ = nix::fcntl::fcntl(&fd, FcntlArg::F_SETFL(OFlag::empty()));
        Ok(fd)
    }

    fn readdir(&mut self, handle: Handle, cookie: u64) -> Result<Reply, Errno> {
        let node = self.node_mut(handle)?;
        let all = match node.listing.take() {
            Some(listing) if cookie != 0 => listing,
            _ => list(node)?,
        };
        let mut size = 0;
        let mut entries = Vec::new();
        let mut i = cookie as usize;
        while let Some(e) = all.get(i) {
            size += 4 + e.name.len() + std::mem::size_of::<Stat>();
            if size > READDIR_BUDGET && !entries.is_empty() {
                break;
            }
            entries.push(e.clone());
            i += 1;
        }
        let next = if i >= all.len() {
            0
        } else {
            node.listing = Some(all);
            i as u64
        };
        Ok(Reply::Entries { next, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gofer_protocol::transport::socketpair;

    fn export(dir: &std::path::Path) -> OwnedFd {
        nix::fcntl::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
    }

    fn node(r: Result<Reply, Errno>) -> (Handle, Stat) {
        match r {
            Ok(Reply::Node { handle, stat }) => (handle, stat),
            other => panic!("not a node: {other:?}"),
        }
    }

    #[test]
    fn walks_stay_inside_and_only_regular_files_are_donated() {
        let dir = std::env::temp_dir().join(format!("gofer-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/file"), b"contents").unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("escape")).unwrap();
        nix::unistd::mkfifo(&dir.join("fifo"), Mode::from_bits_truncate(0o644)).unwrap();

        let mut s = Server::new(vec![Export { fd: export(&dir), writable: false }]);
        let (root, st) = node(s.handle_plain(Request::Attach { index: 0 }));
        assert_eq!(st.st_mode & S_IFMT, S_IFDIR);
        for bad in [&b".."[..], b".", b"", b"sub/file", b"a\0b"] {
            assert_eq!(s.handle_plain(Request::Walk { dir: root, name: bad.to_vec() }), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(s.handle_plain(Request::Attach { index: 1 }), Err(Errno::ENOENT));
        // A symlink is a node of its own; it is never followed.
        let (link, st) = node(s.handle_plain(Request::Walk { dir: root, name: b"escape".to_vec() }));
        assert_eq!(st.st_mode & S_IFMT, S_IFLNK);
        assert_eq!(s.handle_plain(Request::ReadLink { handle: link }), Ok(Reply::Link(b"/etc".to_vec())));
        assert_eq!(s.handle_plain(Request::Walk { dir: link, name: b"passwd".to_vec() }), Err(Errno::ENOTDIR));
        assert_eq!(s.handle(Request::Open { handle: link, flags: 0 }).0, Err(Errno::ELOOP));
        // A FIFO and a directory are never donated; writes are refused.
        let (f, _) = node(s.handle_plain(Request::Walk { dir: root, name: b"fifo".to_vec() }));
        assert_eq!(s.handle(Request::Open { handle: f, flags: 0 }).0, Err(Errno::ENXIO));
        let (sub, _) = node(s.handle_plain(Request::Walk { dir: root, name: b"sub".to_vec() }));
        assert_eq!(s.handle(Request::Open { handle: sub, flags: 0 }).0, Err(Errno::EISDIR));
        let (file, st) = node(s.handle_plain(Request::Walk { dir: sub, name: b"file".to_vec() }));
        assert_eq!(st.st_size, 8);
        assert_eq!(s.handle(Request::Open { handle: file, flags: O_RDWR }).0, Err(Errno::EROFS));
        let (r, fd) = s.handle(Request::Open { handle: file, flags: O_RDONLY });
        assert_eq!(r, Ok(Reply::Done));
        let mut buf = [0u8; 8];
        std::os::unix::fs::FileExt::read_exact_at(&std::fs::File::from(fd.unwrap()), &mut buf, 0).unwrap();
        assert_eq!(&buf, b"contents");
        // A file replaced after the walk is not the walked inode.
        std::fs::remove_file(dir.join("sub/file")).unwrap();
        std::fs::write(dir.join("sub/file"), b"other").unwrap();
        assert_eq!(s.handle(Request::Open { handle: file, flags: 0 }).0, Err(Errno::ESTALE));
        // Listings carry attributes.
        match s.handle_plain(Request::ReadDir { handle: root, cookie: 0 }) {
            Ok(Reply::Entries { next: 0, entries }) => {
                let mut names: Vec<_> = entries.iter().map(|e| e.name.clone()).collect();
                names.sort();
                assert_eq!(names, vec![b"escape".to_vec(), b"fifo".to_vec(), b"sub".to_vec()]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.handle_plain(Request::Close { handle: file }), Ok(Reply::Done));
        assert_eq!(s.handle_plain(Request::Stat { handle: file }), Err(Errno::EBADF));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn large_listings_come_in_pages_and_fds_cross_the_socket() {
        let dir = std::env::temp_dir().join(format!("gofer-big-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..2000 {
            std::fs::write(dir.join(format!("file-with-a-long-name-{i:05}")), b"").unwrap();
        }
        let mut s = Server::new(vec![Export { fd: export(&dir), writable: false }]);
        let (root, _) = node(s.handle_plain(Request::Attach { index: 0 }));
        let (mut cookie, mut total, mut pages) = (0, 0, 0);
        loop {
            match s.handle_plain(Request::ReadDir { handle: root, cookie }) {
                Ok(Reply::Entries { next, entries }) => {
                    total += entries.len();
                    pages += 1;
                    let size = gofer_protocol::encode_reply(&Ok(Reply::Entries { next, entries })).len();
                    assert!(size <= MAX_MESSAGE);
                    if next == 0 {
                        break;
                    }
                    cookie = next;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(total, 2000);
        assert!(pages > 1);
        let (a, b) = socketpair().unwrap();
        send(&a, b"hi", Some(a.as_raw_fd())).unwrap();
        let mut buf = [0u8; 16];
        let (n, fd) = recv(&b, &mut buf).unwrap();
        assert_eq!((&buf[..n], fd.is_some()), (&b"hi"[..], true));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn changes_on_a_writable_export_and_handles_are_reused() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("gofer-rw-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Server::new(vec![Export { fd: export(&dir), writable: true }]);
        let (root, _) = node(s.handle_plain(Request::Attach { index: 0 }));
        // Create hands back the open file beside the new node.
        let (r, fd) = s.handle(Request::Create { dir: root, name: b"f".to_vec(), mode: 0o640, flags: O_RDWR });
        let (file, st) = node(r);
        assert_eq!(st.st_mode, S_IFREG | 0o640);
        std::io::Write::write_all(&mut std::fs::File::from(fd.unwrap()), b"12345").unwrap();
        let (r, _) = s.handle(Request::Create { dir: root, name: b"f".to_vec(), mode: 0o640, flags: O_RDWR });
        assert_eq!(r, Err(Errno::EEXIST));
        let (sub, st) = node(s.handle_plain(Request::Mkdir { dir: root, name: b"d".to_vec(), mode: 0o750 }));
        assert_eq!(st.st_mode, S_IFDIR | 0o750);
        let (_, st) =
            node(s.handle_plain(Request::Symlink { dir: sub, name: b"l".to_vec(), target: b"../f".to_vec() }));
        assert_eq!(st.st_mode & S_IFMT, S_IFLNK);
        assert_eq!(std::fs::read_link(dir.join("d/l")).unwrap(), std::path::Path::new("../f"));
        assert_eq!(s.handle_plain(Request::Link { dir: sub, name: b"hard".to_vec(), target: file }), Ok(Reply::Done));
        assert_eq!(std::fs::metadata(dir.join("f")).unwrap().nlink(), 2);
        // Attributes: mode, size and times at once; an omitted time stays.
        let before = std::fs::metadata(dir.join("f")).unwrap();
        let set = Request::SetAttr {
            handle: file,
            valid: SETATTR_MODE | SETATTR_SIZE | SETATTR_MTIME,
            mode: 0o600,
            uid: 0,
            gid: 0,
            size: 2,
            atime: [0, 0],
            mtime: [1_000_000_000, 5],
        };
        match s.handle_plain(set) {
            Ok(Reply::Stat(st)) => {
                assert_eq!((st.st_mode, st.st_size), (S_IFREG | 0o600, 2));
                assert_eq!((st.st_mtime, st.st_mtime_nsec), (1_000_000_000, 5));
                assert_eq!((st.st_atime, st.st_atime_nsec), (before.atime(), before.atime_nsec()));
            }
            other => panic!("{other:?}"),
        }
        // A renamed file's handle follows it to its new name.
        let rename = Request::Rename { dir: root, name: b"f".to_vec(), new_dir: sub, new_name: b"g".to_vec() };
        assert_eq!(s.handle_plain(rename), Ok(Reply::Done));
        let (r, fd) = s.handle(Request::Open { handle: file, flags: O_RDONLY });
        assert_eq!(r, Ok(Reply::Done));
        assert_eq!(std::fs::read(dir.join("d/g")).unwrap(), b"12");
        drop(fd);
        let unlink = |name: &[u8], is_dir| Request::Unlink { dir: sub, name: name.to_vec(), is_dir };
        assert_eq!(s.handle_plain(unlink(b"g", true)), Err(Errno::ENOTDIR));
        for name in [&b"g"[..], b"hard", b"l"] {
            assert_eq!(s.handle_plain(unlink(name, false)), Ok(Reply::Done));
        }
        assert_eq!(s.handle_plain(Request::Unlink { dir: root, name: b"d".to_vec(), is_dir: true }), Ok(Reply::Done));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        // A closed handle is given out again; a never-given one is EBADF.
        assert_eq!(s.handle_plain(Request::Close { handle: file }), Ok(Reply::Done));
        assert_eq!(s.handle_plain(Request::Close { handle: file }), Err(Errno::EBADF));
        assert_eq!(s.handle_plain(Request::Stat { handle: u64::MAX }), Err(Errno::EBADF));
        let (again, _) = node(s.handle_plain(Request::Attach { index: 0 }));
        assert_eq!(again, file);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
