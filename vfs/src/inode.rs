//! Inodes: what a filesystem object is and what can be done to it.

use std::any::Any;
use std::sync::Arc;

use abi::consts::*;
use abi::structs::{Stat, Timespec};
use abi::Errno;

use crate::file::FileOps;

pub type InodeRef = Arc<dyn Inode>;

/// The type bits of a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDev,
    BlockDev,
    Fifo,
    Socket,
}

impl FileType {
    pub fn from_mode(mode: u32) -> Option<FileType> {
        Some(match mode & S_IFMT {
            S_IFREG => FileType::Regular,
            S_IFDIR => FileType::Directory,
            S_IFLNK => FileType::Symlink,
            S_IFCHR => FileType::CharDev,
            S_IFBLK => FileType::BlockDev,
            S_IFIFO => FileType::Fifo,
            S_IFSOCK => FileType::Socket,
            _ => return None,
        })
    }

    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => S_IFREG,
            FileType::Directory => S_IFDIR,
            FileType::Symlink => S_IFLNK,
            FileType::CharDev => S_IFCHR,
            FileType::BlockDev => S_IFBLK,
            FileType::Fifo => S_IFIFO,
            FileType::Socket => S_IFSOCK,
        }
    }

    /// The `d_type` of a directory entry.
    pub fn dirent_type(self) -> u8 {
        (self.mode_bits() >> 12) as u8
    }
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: FileType,
}

/// What to create in a directory.
#[derive(Clone, Copy, Debug)]
pub enum NewNode<'a> {
    Regular,
    Directory,
    Symlink(&'a [u8]),
    Fifo,
    /// A character device node with this device number.
    CharDev(u64),
}

/// The owner and mode bits (type included) a new node gets.
#[derive(Clone, Copy, Debug)]
pub struct NewAttrs {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Attributes to change (chmod, chown, truncate, utimes).
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
}

/// An inode. Directory operations take names that are single, valid path
/// components (no '/', not "." or "..", not empty): the resolver checks that.
/// Every method has the errno Linux gives an inode that does not support it.
pub trait Inode: Send + Sync {
    fn stat(&self) -> Stat;
    /// Whether `creds` may access the inode as `want` (MAY_* bits) asks:
    /// generic_permission on its attributes, unless the filesystem has
    /// rules of its own (Linux's inode_operations.permission).
    fn permission(&self, creds: &FsCreds, want: u32) -> bool {
        creds.may(&self.stat(), want)
    }
    fn setattr(&self, attr: &SetAttr) -> Result<(), Errno>;
    fn lookup(&self, _name: &[u8]) -> Result<InodeRef, Errno> {
        Err(Errno::ENOTDIR)
    }
    fn create(&self, _name: &[u8], _node: NewNode<'_>, _attrs: NewAttrs) -> Result<InodeRef, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Whether O_TMPFILE may make unnamed files in this directory.
    fn supports_tmpfile(&self) -> bool {
        false
    }
    /// Adds a hard link to `target` named `name`.
    fn link(&self, _name: &[u8], _target: &InodeRef) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Removes `name`: a directory (which must be empty) if `dir`, else any other.
    fn unlink(&self, _name: &[u8], _dir: bool) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Moves `old` of this directory to `new` of `new_dir` (same filesystem),
    /// replacing what is there under rename(2)'s rules.
    fn rename(&self, _old: &[u8], _new_dir: &InodeRef, _new: &[u8]) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }
    /// RENAME_EXCHANGE: `name` here and `other` in `other_dir` swap places.
    /// Filesystems that cannot are EINVAL, as Linux's are.
    fn exchange(&self, _name: &[u8], _other_dir: &InodeRef, _other: &[u8]) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }
    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        Err(Errno::EINVAL)
    }
    /// The value of extended attribute `name` (namespace already checked).
    fn getxattr(&self, _name: &[u8]) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENODATA)
    }
    /// Sets an extended attribute; `flags` are XATTR_CREATE / XATTR_REPLACE.
    fn setxattr(&self, _name: &[u8], _value: &[u8], _flags: u32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    fn listxattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        Ok(Vec::new())
    }
    fn removexattr(&self, _name: &[u8]) -> Result<(), Errno> {
        Err(Errno::ENODATA)
    }
    /// statfs of the filesystem this inode is on. The default describes an
    /// in-memory filesystem (tmpfs) as large as the memory file.
    fn statfs(&self) -> abi::structs::StatFs {
        memory_statfs(TMPFS_MAGIC)
    }
    /// A "magic" link (/proc/[pid]/fd/N, exe, cwd) jumps straight to where it
    /// points instead of being resolved as text.
    fn magic_link(&self) -> Option<Result<crate::mount::Path, Errno>> {
        None
    }
    /// The file operations of an open description of this inode.
    fn open(self: Arc<Self>, flags: u32) -> Result<Box<dyn FileOps>, Errno>;
    fn as_any(&self) -> &dyn Any;
    /// For filesystems that must hold another of their own inodes (link).
    fn as_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

pub fn file_type(inode: &dyn Inode) -> FileType {
    FileType::from_mode(inode.stat().st_mode).unwrap_or(FileType::Regular)
}

/// The caller's identity for permission checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsCreds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Access wanted, as the bits of access(2): R_OK, W_OK, X_OK.
pub const MAY_READ: u32 = 4;
pub const MAY_WRITE: u32 = 2;
pub const MAY_EXEC: u32 = 1;

impl FsCreds {
    /// generic_permission: the owner, group or other bits; uid 0 (with
    /// CAP_DAC_OVERRIDE) passes read and write always, and execute when any x
    /// bit is set or the inode is a directory.
    pub fn may(&self, st: &Stat, want: u32) -> bool {
        if self.uid == 0 {
            let exec_ok = st.st_mode & 0o111 != 0 || st.st_mode & S_IFMT == S_IFDIR;
            return want & MAY_EXEC == 0 || exec_ok;
        }
        let bits = if st.st_uid == self.uid {
            st.st_mode >> 6
        } else if st.st_gid == self.gid || self.groups.contains(&st.st_gid) {
            st.st_mode >> 3
        } else {
            st.st_mode
        };
        bits & want & 7 == want
    }
}

pub const TMPFS_MAGIC: i64 = 0x0102_1994;
pub const OVERLAYFS_MAGIC: i64 = 0x794c_7630;
pub const PROC_MAGIC: i64 = 0x9fa0;
/// What gofer-backed filesystems (volumes) report, as gVisor's do.
pub const V9FS_MAGIC: i64 = 0x0102_1997;

/// statfs figures of a filesystem kept in the memory file.
pub fn memory_statfs(magic: i64) -> abi::structs::StatFs {
    let blocks = crate::memfile::MEMORY_FILE_SIZE / abi::consts::PAGE_SIZE;
    abi::structs::StatFs {
        f_type: magic,
        f_bsize: abi::consts::PAGE_SIZE as i64,
        f_blocks: blocks,
        f_bfree: blocks,
        f_bavail: blocks,
        f_files: 1 << 20,
        f_ffree: 1 << 20,
        f_namelen: abi::consts::NAME_MAX as i64,
        f_frsize: abi::consts::PAGE_SIZE as i64,
        ..abi::structs::StatFs::default()
    }
}
