//! The gofer server: serves requests on one socket until the Sentry goes away.
//!
//! Every handle is an O_PATH fd plus, for all but export roots, its parent's
//! fd and its name, so a file is opened for I/O by name relative to its parent
//! with O_NOFOLLOW, and checked to be the very inode that was walked.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use abi::consts::*;
use abi::structs::Stat;
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
}

/// A directory the gofer serves: the root filesystem, or a volume.
pub struct Export {
    /// An O_PATH directory fd.
    pub fd: OwnedFd,
    pub writable: bool,
}

pub struct Server {
    exports: Vec<(Arc<OwnedFd>, bool)>,
    nodes: HashMap<Handle, Node>,
    next: Handle,
    /// Listings being read page by page, by handle.
    listings: HashMap<Handle, Vec<Entry>>,
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn fstat(fd: RawFd) -> Result<Stat, i32> {
    let mut st = Stat::default();
    // SAFETY: fstat writes one struct stat, which `Stat` is laid out as.
    let r = unsafe { libc::syscall(libc::SYS_fstat, fd, st.as_mut_bytes().as_mut_ptr()) };
    if r < 0 {
        return Err(errno());
    }
    Ok(st)
}

fn openat(dir: RawFd, name: &CString, flags: i32) -> Result<OwnedFd, i32> {
    // SAFETY: a NUL-terminated name and a directory fd we own.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A name to create or remove: a single, real component.
fn checked(name: Vec<u8>) -> Result<CString, i32> {
    if !valid_name(&name) {
        return Err(libc::EINVAL);
    }
    CString::new(name).map_err(|_| libc::EINVAL)
}

/// A single, real component: no '/', NUL, "." or "..", not empty.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

impl Server {
    /// The root filesystem is export 0; volumes follow.
    pub fn new(exports: Vec<Export>) -> Server {
        Server {
            exports: exports.into_iter().map(|e| (Arc::new(e.fd), e.writable)).collect(),
            nodes: HashMap::new(),
            next: 1,
            listings: HashMap::new(),
        }
    }

    fn add(&mut self, node: Node) -> Handle {
        let h = self.next;
        self.next += 1;
        self.nodes.insert(h, node);
        h
    }

    fn node(&self, h: Handle) -> Result<&Node, i32> {
        self.nodes.get(&h).ok_or(libc::EBADF)
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
                None => (Err(libc::EINVAL), None),
            };
            send(sock, &encode_reply(&reply), fd.as_ref().map(|f| f.as_raw_fd()))?;
        }
    }

    /// Answers one request; an opened file comes back beside the reply.
    pub fn handle(&mut self, req: Request) -> (Result<Reply, i32>, Option<OwnedFd>) {
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
    fn writable_dir(&self, dir: Handle) -> Result<&Node, i32> {
        let node = self.node(dir)?;
        if !node.writable {
            return Err(libc::EROFS);
        }
        Ok(node)
    }

    /// A new node for `name`, just made in the directory `dir`.
    fn made(&mut self, dir: Handle, name: CString) -> Result<Reply, i32> {
        let parent = self.node(dir)?.fd.clone();
        let fd = openat(parent.as_raw_fd(), &name, libc::O_PATH)?;
        let stat = fstat(fd.as_raw_fd())?;
        let handle = self.add(Node { fd: Arc::new(fd), parent: Some((parent, name)), stat, writable: true });
        Ok(Reply::Node { handle, stat })
    }

    fn create(&mut self, dir: Handle, name: Vec<u8>, mode: u32, flags: u32) -> Result<(Reply, OwnedFd), i32> {
        let parent = self.writable_dir(dir)?.fd.clone();
        let cname = checked(name)?;
        let acc = (flags & O_ACCMODE) as i32 | (flags & O_APPEND) as i32;
        // SAFETY: a NUL-terminated name relative to a directory fd we own.
        let fd = unsafe {
            libc::openat(
                parent.as_raw_fd(),
                cname.as_ptr(),
                acc | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode & 0o7777,
            )
        };
        if fd < 0 {
            return Err(errno());
        }
        // SAFETY: a fresh fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok((self.made(dir, cname)?, fd))
    }

    fn handle_plain(&mut self, req: Request) -> Result<Reply, i32> {
        match req {
            Request::Attach { index } => {
                let (fd, writable) = self.exports.get(index as usize).cloned().ok_or(libc::ENOENT)?;
                let stat = fstat(fd.as_raw_fd())?;
                let handle = self.add(Node { fd, parent: None, stat, writable });
                Ok(Reply::Node { handle, stat })
            }
            Request::Walk { dir, name } => {
                if !valid_name(&name) {
                    return Err(libc::EINVAL);
                }
                let dir_node = self.node(dir)?;
                let (parent, writable) = (dir_node.fd.clone(), dir_node.writable);
                let cname = CString::new(name).map_err(|_| libc::EINVAL)?;
                let fd = openat(parent.as_raw_fd(), &cname, libc::O_PATH)?;
                let stat = fstat(fd.as_raw_fd())?;
                let handle = self.add(Node { fd: Arc::new(fd), parent: Some((parent, cname)), stat, writable });
                Ok(Reply::Node { handle, stat })
            }
            Request::Stat { handle } => Ok(Reply::Stat(fstat(self.node(handle)?.fd.as_raw_fd())?)),
            Request::StatFs { handle } => {
                let mut st = abi::structs::StatFs::default();
                let fd = self.node(handle)?.fd.as_raw_fd();
                // SAFETY: fstatfs writes one struct statfs, which `StatFs` is
                // laid out as.
                if unsafe { libc::syscall(libc::SYS_fstatfs, fd, st.as_mut_bytes().as_mut_ptr()) } < 0 {
                    return Err(errno());
                }
                Ok(Reply::StatFs(st))
            }
            Request::ReadDir { handle, cookie } => self.readdir(handle, cookie),
            Request::ReadLink { handle } => {
                let node = self.node(handle)?;
                let mut buf = vec![0u8; PATH_MAX];
                // SAFETY: readlinkat of an O_PATH symlink fd with an empty name
                // writes at most buf.len() bytes.
                let n =
                    unsafe { libc::readlinkat(node.fd.as_raw_fd(), c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    return Err(errno());
                }
                buf.truncate(n as usize);
                Ok(Reply::Link(buf))
            }
            Request::Close { handle } => {
                self.listings.remove(&handle);
                self.nodes.remove(&handle).map(|_| Reply::Done).ok_or(libc::EBADF)
            }
            Request::Mkdir { dir, name, mode } => {
                let parent = self.writable_dir(dir)?.fd.clone();
                let cname = checked(name)?;
                // SAFETY: a NUL-terminated name relative to our directory fd.
                if unsafe { libc::mkdirat(parent.as_raw_fd(), cname.as_ptr(), mode & 0o7777) } < 0 {
                    return Err(errno());
                }
                self.made(dir, cname)
            }
            Request::Symlink { dir, name, target } => {
                let parent = self.writable_dir(dir)?.fd.clone();
                let cname = checked(name)?;
                let ctarget = CString::new(target).map_err(|_| libc::EINVAL)?;
                // SAFETY: NUL-terminated strings and our directory fd.
                if unsafe { libc::symlinkat(ctarget.as_ptr(), parent.as_raw_fd(), cname.as_ptr()) } < 0 {
                    return Err(errno());
                }
                self.made(dir, cname)
            }
            Request::Link { dir, name, target } => {
                let parent = self.writable_dir(dir)?.fd.clone();
                let cname = checked(name)?;
                let (tparent, tname) = self.node(target)?.parent.clone().ok_or(libc::EPERM)?;
                // SAFETY: NUL-terminated names relative to directory fds we own;
                // no flags, so a symlink is linked, never followed.
                let r =
                    unsafe { libc::linkat(tparent.as_raw_fd(), tname.as_ptr(), parent.as_raw_fd(), cname.as_ptr(), 0) };
                if r < 0 {
                    return Err(errno());
                }
                Ok(Reply::Done)
            }
            Request::Unlink { dir, name, is_dir } => {
                let parent = self.writable_dir(dir)?.fd.clone();
                let cname = checked(name)?;
                let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
                // SAFETY: a NUL-terminated name relative to our directory fd.
                if unsafe { libc::unlinkat(parent.as_raw_fd(), cname.as_ptr(), flags) } < 0 {
                    return Err(errno());
                }
                Ok(Reply::Done)
            }
            Request::Rename { dir, name, new_dir, new_name } => {
                let from = self.writable_dir(dir)?.fd.clone();
                let to = self.writable_dir(new_dir)?.fd.clone();
                let (old, new) = (checked(name)?, checked(new_name)?);
                // SAFETY: NUL-terminated names relative to directory fds we own
                // (renameat2 with no flags: the one rename call the filter allows).
                let r = unsafe {
                    libc::syscall(libc::SYS_renameat2, from.as_raw_fd(), old.as_ptr(), to.as_raw_fd(), new.as_ptr(), 0)
                };
                if r < 0 {
                    return Err(errno());
                }
                // Handles of the moved file now live under its new name.
                for node in self.nodes.values_mut() {
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
                    return Err(libc::EROFS);
                }
                let (dir, name) = match &node.parent {
                    Some((d, n)) => (d.as_raw_fd(), n.clone()),
                    None => (node.fd.as_raw_fd(), CString::new(".").unwrap()),
                };
                let check = |r: libc::c_int| if r < 0 { Err(errno()) } else { Ok(()) };
                if valid & SETATTR_MODE != 0 {
                    // SAFETY: a NUL-terminated name relative to a directory fd we own.
                    check(unsafe { libc::fchmodat(dir, name.as_ptr(), mode & 0o7777, 0) })?;
                }
                if valid & (SETATTR_UID | SETATTR_GID) != 0 {
                    let u = if valid & SETATTR_UID != 0 { uid } else { u32::MAX };
                    let g = if valid & SETATTR_GID != 0 { gid } else { u32::MAX };
                    // SAFETY: as above; symlinks are not followed.
                    check(unsafe { libc::fchownat(dir, name.as_ptr(), u, g, libc::AT_SYMLINK_NOFOLLOW) })?;
                }
                if valid & SETATTR_SIZE != 0 {
                    let f = openat(dir, &name, libc::O_WRONLY | libc::O_NONBLOCK)?;
                    // SAFETY: ftruncate on an fd we just opened.
                    check(unsafe { libc::ftruncate(f.as_raw_fd(), size as i64) })?;
                }
                if valid & (SETATTR_ATIME | SETATTR_MTIME) != 0 {
                    const OMIT: i64 = (1 << 30) - 2;
                    let ts = |set: bool, t: [i64; 2]| libc::timespec {
                        tv_sec: t[0],
                        tv_nsec: if set { t[1] } else { OMIT },
                    };
                    let times = [ts(valid & SETATTR_ATIME != 0, atime), ts(valid & SETATTR_MTIME != 0, mtime)];
                    // SAFETY: as above; two timespecs; symlinks are not followed.
                    check(unsafe { libc::utimensat(dir, name.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })?;
                }
                Ok(Reply::Stat(fstat(node.fd.as_raw_fd())?))
            }
            Request::Open { .. } | Request::Create { .. } => Err(libc::EINVAL),
        }
    }

    /// Opens a regular file by name from its parent, and checks that it is
    /// the walked inode. Writes only on a writable export.
    fn open(&mut self, handle: Handle, flags: u32) -> Result<OwnedFd, i32> {
        let node = self.node(handle)?;
        let writes = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0;
        if writes && !node.writable {
            return Err(libc::EROFS);
        }
        let (parent, name) = node.parent.as_ref().ok_or(libc::EISDIR)?;
        let passed = (flags & (O_ACCMODE | O_APPEND | O_TRUNC)) as i32;
        // O_NONBLOCK: a FIFO swapped in must not block the gofer.
        let fd = openat(parent.as_raw_fd(), name, passed | libc::O_NONBLOCK | libc::O_NOCTTY)?;
        let st = fstat(fd.as_raw_fd())?;
        if st.st_mode & S_IFMT != S_IFREG {
            return Err(if st.st_mode & S_IFMT == S_IFDIR { libc::EISDIR } else { libc::ENXIO });
        }
        if (st.st_dev, st.st_ino) != (node.stat.st_dev, node.stat.st_ino) {
            return Err(libc::ESTALE);
        }
        // SAFETY: clears O_NONBLOCK on our own fd.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, 0) };
        Ok(fd)
    }

    fn readdir(&mut self, handle: Handle, cookie: u64) -> Result<Reply, i32> {
        if cookie == 0 || !self.listings.contains_key(&handle) {
            let listing = self.list(handle)?;
            self.listings.insert(handle, listing);
        }
        let all = &self.listings[&handle];
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
            self.listings.remove(&handle);
            0
        } else {
            i as u64
        };
        Ok(Reply::Entries { next, entries })
    }

    /// Every entry of a directory with its attributes.
    fn list(&self, handle: Handle) -> Result<Vec<Entry>, i32> {
        let node = self.node(handle)?;
        let dir = openat(node.fd.as_raw_fd(), &CString::new(".").unwrap(), libc::O_RDONLY | libc::O_DIRECTORY)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32 << 10];
        loop {
            // SAFETY: getdents64 writes at most buf.len() bytes of records.
            let n = unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
            if n < 0 {
                return Err(errno());
            }
            if n == 0 {
                break;
            }
            let mut off = 0usize;
            while off < n as usize {
                let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
                let name_bytes = &buf[off + 19..off + reclen];
                let name = &name_bytes[..name_bytes.iter().position(|&b| b == 0).unwrap_or(name_bytes.len())];
                off += reclen;
                if !valid_name(name) {
                    continue;
                }
                let cname = CString::new(name).map_err(|_| libc::EINVAL)?;
                let mut st = Stat::default();
                // SAFETY: fstatat writes one struct stat into `st`.
                let r = unsafe {
                    libc::fstatat(
                        dir.as_raw_fd(),
                        cname.as_ptr(),
                        st.as_mut_bytes().as_mut_ptr().cast(),
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                };
                // An entry that vanished since the listing is skipped.
                if r == 0 {
                    out.push(Entry { name: name.to_vec(), stat: st });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gofer_protocol::transport::socketpair;

    fn export(dir: &std::path::Path) -> OwnedFd {
        let c = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: opens a directory path we made.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: fresh fd.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    fn node(r: Result<Reply, i32>) -> (Handle, Stat) {
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
        let fifo = CString::new(dir.join("fifo").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);

        let mut s = Server::new(vec![Export { fd: export(&dir), writable: false }]);
        let (root, st) = node(s.handle_plain(Request::Attach { index: 0 }));
        assert_eq!(st.st_mode & S_IFMT, S_IFDIR);
        for bad in [&b".."[..], b".", b"", b"sub/file", b"a\0b"] {
            assert_eq!(s.handle_plain(Request::Walk { dir: root, name: bad.to_vec() }), Err(libc::EINVAL), "{bad:?}");
        }
        assert_eq!(s.handle_plain(Request::Attach { index: 1 }), Err(libc::ENOENT));
        // A symlink is a node of its own; it is never followed.
        let (link, st) = node(s.handle_plain(Request::Walk { dir: root, name: b"escape".to_vec() }));
        assert_eq!(st.st_mode & S_IFMT, S_IFLNK);
        assert_eq!(s.handle_plain(Request::ReadLink { handle: link }), Ok(Reply::Link(b"/etc".to_vec())));
        assert_eq!(s.handle_plain(Request::Walk { dir: link, name: b"passwd".to_vec() }), Err(libc::ENOTDIR));
        assert_eq!(s.handle(Request::Open { handle: link, flags: 0 }).0, Err(libc::ELOOP));
        // A FIFO and a directory are never donated; writes are refused.
        let (f, _) = node(s.handle_plain(Request::Walk { dir: root, name: b"fifo".to_vec() }));
        assert_eq!(s.handle(Request::Open { handle: f, flags: 0 }).0, Err(libc::ENXIO));
        let (sub, _) = node(s.handle_plain(Request::Walk { dir: root, name: b"sub".to_vec() }));
        assert_eq!(s.handle(Request::Open { handle: sub, flags: 0 }).0, Err(libc::EISDIR));
        let (file, st) = node(s.handle_plain(Request::Walk { dir: sub, name: b"file".to_vec() }));
        assert_eq!(st.st_size, 8);
        assert_eq!(s.handle(Request::Open { handle: file, flags: O_RDWR }).0, Err(libc::EROFS));
        let (r, fd) = s.handle(Request::Open { handle: file, flags: O_RDONLY });
        assert_eq!(r, Ok(Reply::Done));
        let mut buf = [0u8; 8];
        // SAFETY: reads into our buffer from the donated fd.
        assert_eq!(unsafe { libc::pread(fd.unwrap().as_raw_fd(), buf.as_mut_ptr().cast(), 8, 0) }, 8);
        assert_eq!(&buf, b"contents");
        // A file replaced after the walk is not the walked inode.
        std::fs::remove_file(dir.join("sub/file")).unwrap();
        std::fs::write(dir.join("sub/file"), b"other").unwrap();
        assert_eq!(s.handle(Request::Open { handle: file, flags: 0 }).0, Err(libc::ESTALE));
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
        assert_eq!(s.handle_plain(Request::Stat { handle: file }), Err(libc::EBADF));
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
}
