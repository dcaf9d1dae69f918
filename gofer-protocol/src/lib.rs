//! The Gofer's wire protocol, shared by the server (the `gofer` crate) and
//! its client (the VFS's gofer filesystem): request/response messages over a
//! SOCK_SEQPACKET unix socket, one message each way, fds passed with
//! SCM_RIGHTS (`transport`).
//!
//! Every request starts with an op (u32); every reply with a status (i32: 0,
//! or a negative errno) and, on success, the op's payload. Integers are
//! little-endian; byte strings carry a u32 length.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod transport;

use abi::structs::{Stat, StatFs};
use abi::Errno;
use zerocopy::{FromBytes, IntoBytes};

/// A gofer-side file handle.
pub type Handle = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The root of export `index` (0 is the root filesystem).
    Attach {
        index: u32,
    },
    /// One component below a directory handle, never following a symlink.
    Walk {
        dir: Handle,
        name: Vec<u8>,
    },
    Stat {
        handle: Handle,
    },
    /// Opens a regular file for I/O; the reply carries its fd.
    Open {
        handle: Handle,
        flags: u32,
    },
    /// Entries of a directory from `cookie` (0 to start) on.
    ReadDir {
        handle: Handle,
        cookie: u64,
    },
    ReadLink {
        handle: Handle,
    },
    Close {
        handle: Handle,
    },
    /// Creates a regular file (O_EXCL) and opens it with `flags`: the reply
    /// is its node, and its fd travels beside.
    Create {
        dir: Handle,
        name: Vec<u8>,
        mode: u32,
        flags: u32,
    },
    Mkdir {
        dir: Handle,
        name: Vec<u8>,
        mode: u32,
    },
    Symlink {
        dir: Handle,
        name: Vec<u8>,
        target: Vec<u8>,
    },
    Link {
        dir: Handle,
        name: Vec<u8>,
        target: Handle,
    },
    Unlink {
        dir: Handle,
        name: Vec<u8>,
        is_dir: bool,
    },
    Rename {
        dir: Handle,
        name: Vec<u8>,
        new_dir: Handle,
        new_name: Vec<u8>,
    },
    /// The host filesystem's statfs figures.
    StatFs {
        handle: Handle,
    },
    /// Changes attributes; `valid` says which fields count (SETATTR_*).
    SetAttr {
        handle: Handle,
        valid: u32,
        mode: u32,
        uid: u32,
        gid: u32,
        size: u64,
        atime: [i64; 2],
        mtime: [i64; 2],
    },
}

/// SetAttr's `valid` bits.
pub const SETATTR_MODE: u32 = 1;
pub const SETATTR_UID: u32 = 2;
pub const SETATTR_GID: u32 = 4;
pub const SETATTR_SIZE: u32 = 8;
pub const SETATTR_ATIME: u32 = 16;
pub const SETATTR_MTIME: u32 = 32;

/// One entry of a ReadDir reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub stat: Stat,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Attach and Walk.
    Node {
        handle: Handle,
        stat: Stat,
    },
    Stat(Stat),
    /// Open (the fd travels beside the message), Close.
    Done,
    /// `next` is 0 when the listing is complete.
    Entries {
        next: u64,
        entries: Vec<Entry>,
    },
    Link(Vec<u8>),
    StatFs(StatFs),
}

const ATTACH: u32 = 1;
const WALK: u32 = 2;
const STAT: u32 = 3;
const OPEN: u32 = 4;
const READDIR: u32 = 5;
const READLINK: u32 = 6;
const CLOSE: u32 = 7;
const CREATE: u32 = 8;
const MKDIR: u32 = 9;
const SYMLINK: u32 = 10;
const LINK: u32 = 11;
const UNLINK: u32 = 12;
const RENAME: u32 = 13;
const SETATTR: u32 = 14;
const STATFS: u32 = 15;

#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(self, b: &[u8]) -> Self {
        let mut s = self.u32(b.len() as u32);
        s.0.extend_from_slice(b);
        s
    }
    fn stat(mut self, st: &Stat) -> Self {
        self.0.extend_from_slice(st.as_bytes());
        self
    }
    fn statfs(mut self, st: &StatFs) -> Self {
        self.0.extend_from_slice(st.as_bytes());
        self
    }
}

/// A reader that fails (None) on truncated or malformed input.
struct R<'a>(&'a [u8]);

impl R<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    }
    fn i32(&mut self) -> Option<i32> {
        self.u32().map(|v| v as i32)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u32()? as usize;
        self.take(n).map(<[u8]>::to_vec)
    }
    fn stat(&mut self) -> Option<Stat> {
        self.take(std::mem::size_of::<Stat>()).and_then(|b| Stat::read_from_bytes(b).ok())
    }
    fn statfs(&mut self) -> Option<StatFs> {
        self.take(std::mem::size_of::<StatFs>()).and_then(|b| StatFs::read_from_bytes(b).ok())
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Attach { index } => W::default().u32(ATTACH).u32(*index),
            Request::Walk { dir, name } => W::default().u32(WALK).u64(*dir).bytes(name),
            Request::Stat { handle } => W::default().u32(STAT).u64(*handle),
            Request::Open { handle, flags } => W::default().u32(OPEN).u64(*handle).u32(*flags),
            Request::ReadDir { handle, cookie } => W::default().u32(READDIR).u64(*handle).u64(*cookie),
            Request::ReadLink { handle } => W::default().u32(READLINK).u64(*handle),
            Request::StatFs { handle } => W::default().u32(STATFS).u64(*handle),
            Request::Close { handle } => W::default().u32(CLOSE).u64(*handle),
            Request::Create { dir, name, mode, flags } => {
                W::default().u32(CREATE).u64(*dir).bytes(name).u32(*mode).u32(*flags)
            }
            Request::Mkdir { dir, name, mode } => W::default().u32(MKDIR).u64(*dir).bytes(name).u32(*mode),
            Request::Symlink { dir, name, target } => W::default().u32(SYMLINK).u64(*dir).bytes(name).bytes(target),
            Request::Link { dir, name, target } => W::default().u32(LINK).u64(*dir).bytes(name).u64(*target),
            Request::Unlink { dir, name, is_dir } => W::default().u32(UNLINK).u64(*dir).bytes(name).u32(*is_dir as u32),
            Request::Rename { dir, name, new_dir, new_name } => {
                W::default().u32(RENAME).u64(*dir).bytes(name).u64(*new_dir).bytes(new_name)
            }
            Request::SetAttr { handle, valid, mode, uid, gid, size, atime, mtime } => W::default()
                .u32(SETATTR)
                .u64(*handle)
                .u32(*valid)
                .u32(*mode)
                .u32(*uid)
                .u32(*gid)
                .u64(*size)
                .u64(atime[0] as u64)
                .u64(atime[1] as u64)
                .u64(mtime[0] as u64)
                .u64(mtime[1] as u64),
        }
        .0
    }

    /// None for anything malformed.
    pub fn decode(b: &[u8]) -> Option<Request> {
        let mut r = R(b);
        let req = match r.u32()? {
            ATTACH => Request::Attach { index: r.u32()? },
            WALK => Request::Walk { dir: r.u64()?, name: r.bytes()? },
            STAT => Request::Stat { handle: r.u64()? },
            OPEN => Request::Open { handle: r.u64()?, flags: r.u32()? },
            READDIR => Request::ReadDir { handle: r.u64()?, cookie: r.u64()? },
            READLINK => Request::ReadLink { handle: r.u64()? },
            STATFS => Request::StatFs { handle: r.u64()? },
            CLOSE => Request::Close { handle: r.u64()? },
            CREATE => Request::Create { dir: r.u64()?, name: r.bytes()?, mode: r.u32()?, flags: r.u32()? },
            MKDIR => Request::Mkdir { dir: r.u64()?, name: r.bytes()?, mode: r.u32()? },
            SYMLINK => Request::Symlink { dir: r.u64()?, name: r.bytes()?, target: r.bytes()? },
            LINK => Request::Link { dir: r.u64()?, name: r.bytes()?, target: r.u64()? },
            UNLINK => Request::Unlink { dir: r.u64()?, name: r.bytes()?, is_dir: r.u32()? != 0 },
            RENAME => Request::Rename { dir: r.u64()?, name: r.bytes()?, new_dir: r.u64()?, new_name: r.bytes()? },
            SETATTR => Request::SetAttr {
                handle: r.u64()?,
                valid: r.u32()?,
                mode: r.u32()?,
                uid: r.u32()?,
                gid: r.u32()?,
                size: r.u64()?,
                atime: [r.u64()? as i64, r.u64()? as i64],
                mtime: [r.u64()? as i64, r.u64()? as i64],
            },
            _ => return None,
        };
        r.done().then_some(req)
    }
}

/// Encodes a reply to `req`: its payload, or the errno.
pub fn encode_reply(reply: &Result<Reply, Errno>) -> Vec<u8> {
    let w = W::default();
    match reply {
        Err(errno) => w.u32((-errno.0) as u32),
        Ok(Reply::Node { handle, stat }) => w.u32(0).u64(*handle).stat(stat),
        Ok(Reply::Stat(st)) => w.u32(0).stat(st),
        Ok(Reply::Done) => w.u32(0),
        Ok(Reply::Entries { next, entries }) => {
            let mut w = w.u32(0).u64(*next).u32(entries.len() as u32);
            for e in entries {
                w = w.bytes(&e.name).stat(&e.stat);
            }
            w
        }
        Ok(Reply::Link(t)) => w.u32(0).bytes(t),
        Ok(Reply::StatFs(st)) => w.u32(0).statfs(st),
    }
    .0
}

/// A message that does not parse as the reply it should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Decodes a reply to a request of `req`'s kind. Ok(Err(errno)) is the
/// gofer's answer; Err(Malformed) a broken message.
pub fn decode_reply(req: &Request, b: &[u8]) -> Result<Result<Reply, Errno>, Malformed> {
    let mut r = R(b);
    let status = r.i32().ok_or(Malformed)?;
    if status != 0 {
        return Ok(Err(Errno(status.wrapping_neg())));
    }
    let reply = (|| {
        Some(match req {
            Request::Attach { .. }
            | Request::Walk { .. }
            | Request::Create { .. }
            | Request::Mkdir { .. }
            | Request::Symlink { .. } => Reply::Node { handle: r.u64()?, stat: r.stat()? },
            Request::Stat { .. } | Request::SetAttr { .. } => Reply::Stat(r.stat()?),
            Request::Open { .. }
            | Request::Close { .. }
            | Request::Link { .. }
            | Request::Unlink { .. }
            | Request::Rename { .. } => Reply::Done,
            Request::ReadDir { .. } => {
                let next = r.u64()?;
                let n = r.u32()? as usize;
                let mut entries = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    entries.push(Entry { name: r.bytes()?, stat: r.stat()? });
                }
                Reply::Entries { next, entries }
            }
            Request::ReadLink { .. } => Reply::Link(r.bytes()?),
            Request::StatFs { .. } => Reply::StatFs(r.statfs()?),
        })
    })()
    .ok_or(Malformed)?;
    if !r.done() {
        return Err(Malformed);
    }
    Ok(Ok(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_garbage_is_refused() {
        let reqs = [
            Request::Attach { index: 2 },
            Request::Walk { dir: 7, name: b"etc".to_vec() },
            Request::Stat { handle: 9 },
            Request::Open { handle: 3, flags: 0o2 },
            Request::ReadDir { handle: 4, cookie: 100 },
            Request::ReadLink { handle: 5 },
            Request::StatFs { handle: 5 },
            Request::Close { handle: 6 },
            Request::Create { dir: 1, name: b"n".to_vec(), mode: 0o644, flags: 2 },
            Request::Mkdir { dir: 1, name: b"d".to_vec(), mode: 0o755 },
            Request::Symlink { dir: 1, name: b"s".to_vec(), target: b"/x".to_vec() },
            Request::Link { dir: 1, name: b"l".to_vec(), target: 9 },
            Request::Unlink { dir: 1, name: b"u".to_vec(), is_dir: true },
            Request::Rename { dir: 1, name: b"a".to_vec(), new_dir: 2, new_name: b"b".to_vec() },
            Request::SetAttr {
                handle: 3,
                valid: 63,
                mode: 0o600,
                uid: 1,
                gid: 2,
                size: 3,
                atime: [4, 5],
                mtime: [6, 7],
            },
        ];
        for r in &reqs {
            assert_eq!(Request::decode(&r.encode()).as_ref(), Some(r));
            let enc = r.encode();
            assert_eq!(Request::decode(&enc[..enc.len() - 1]), None, "truncated {r:?}");
        }
        assert_eq!(Request::decode(&[99, 0, 0, 0]), None);
        assert_eq!(Request::decode(&[]), None);
    }

    #[test]
    fn replies_round_trip() {
        let st = Stat { st_ino: 42, st_mode: 0o100644, st_size: 3, ..Stat::default() };
        let req = Request::ReadDir { handle: 1, cookie: 0 };
        let reply = Ok(Reply::Entries { next: 0, entries: vec![Entry { name: b"a".to_vec(), stat: st }] });
        assert_eq!(decode_reply(&req, &encode_reply(&reply)), Ok(reply));
        let err: Result<Reply, Errno> = Err(Errno::ENOENT);
        assert_eq!(decode_reply(&req, &encode_reply(&err)), Ok(Err(Errno::ENOENT)));
        // On the wire: the negated errno, little-endian.
        assert_eq!(encode_reply(&err), (-2i32).to_le_bytes());
        assert_eq!(decode_reply(&Request::Stat { handle: 1 }, &[0, 0, 0, 0, 1]), Err(Malformed));
    }
}
