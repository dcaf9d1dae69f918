//! A minimal /proc: `self`, `mounts`, and for each process `exe`, `cwd`,
//! `root`, `fd/`, `environ`, `mem`, `maps`, `mounts` and `mountinfo`. The
//! links are "magic": following them lands on the file itself. What lets one
//! task into another is Linux's: the ptrace access check
//! (`Tasks::ptrace_may_access`) for the links, `environ` and `mem`, and the
//! owner of `fd/` (root while the process is not dumpable).

use std::any::Any;
use std::sync::{Arc, Weak};

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;
use vfs::file::{DirectoryFile, FileDescription, FileOps};
use vfs::inode::{DirEntry, FileType, Inode, InodeRef, SetAttr};
use vfs::mount::MountFlags;
use vfs::resolve::Resolver;
use vfs::{BlockSeq, Dentry, FsCreds, Path};

use crate::kernel::{Kernel, TaskView};
use crate::mm::{Access, MemoryManager};
use crate::process::PtraceMode;
use crate::task::{current_tgid, current_tid};

/// The device number of procfs.
const PROC_DEV: u64 = 0x10;

/// Mounts procfs on /proc, if the root has that directory.
pub fn mount(kernel: &Arc<Kernel>) -> Result<(), Errno> {
    let root = kernel.mounts.root();
    let creds = FsCreds::default();
    let at = Resolver { ns: &kernel.mounts, root: &root, creds: &creds, restrict: 0 }.resolve(&root, b"/proc", true)?;
    let node: InodeRef = Arc::new(ProcNode { kernel: Arc::downgrade(kernel), kind: Kind::Root });
    kernel.mounts.mount(&at, Dentry::new_root(node), MountFlags::default());
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Root,
    SelfLink,
    PidDir(i32),
    Exe(i32),
    Cwd(i32),
    /// /proc/PID/root: the task's root directory (chroot).
    RootDir(i32),
    FdDir(i32),
    Fd(i32, i32),
    /// /proc/PID/environ: the environment strings exec left in memory.
    Environ(i32),
    /// /proc/PID/mem: the address space, read and written at its addresses.
    Mem(i32),
    /// /proc/PID/task: a directory per thread of the process.
    TaskDir(i32),
    Maps(i32),
    /// /proc/mounts: a link to self/mounts.
    MountsLink,
    Mounts(i32),
    MountInfo(i32),
    /// /proc/PID/oom_score_adj (read-write) and oom_score: the OOM killer's
    /// weighing of the process.
    OomScoreAdj(i32),
    OomScore(i32),
}

struct ProcNode {
    kernel: Weak<Kernel>,
    kind: Kind,
}

impl ProcNode {
    fn task(&self, pid: i32) -> Result<TaskView, Errno> {
        self.kernel.upgrade().and_then(|k| k.task(pid)).ok_or(Errno::ENOENT)
    }

    /// The thread ids of process `pid`.
    fn threads(&self, pid: i32) -> Vec<i32> {
        let Some(k) = self.kernel.upgrade() else { return Vec::new() };
        let ts = k.tasks.lock().unwrap();
        ts.process(pid).map(|p| p.threads.clone()).unwrap_or_default()
    }

    fn child(&self, kind: Kind) -> InodeRef {
        Arc::new(ProcNode { kernel: self.kernel.clone(), kind })
    }

    fn file_type(&self) -> FileType {
        match self.kind {
            Kind::Root | Kind::PidDir(_) | Kind::FdDir(_) | Kind::TaskDir(_) => FileType::Directory,
            Kind::SelfLink | Kind::MountsLink | Kind::Exe(_) | Kind::Cwd(_) | Kind::RootDir(_) | Kind::Fd(..) => {
                FileType::Symlink
            }
            Kind::Maps(_)
            | Kind::Mounts(_)
            | Kind::MountInfo(_)
            | Kind::Environ(_)
            | Kind::Mem(_)
            | Kind::OomScoreAdj(_)
            | Kind::OomScore(_) => FileType::Regular,
        }
    }

    fn ino(&self) -> u64 {
        let per_pid = |pid: i32, n: u64| ((pid as u64) << 32) | n;
        match self.kind {
            Kind::Root => 1,
            Kind::SelfLink => 2,
            Kind::MountsLink => 3,
            Kind::PidDir(p) => per_pid(p, 1),
            Kind::Exe(p) => per_pid(p, 2),
            Kind::Cwd(p) => per_pid(p, 3),
            Kind::RootDir(p) => per_pid(p, 8),
            Kind::FdDir(p) => per_pid(p, 4),
            Kind::Maps(p) => per_pid(p, 5),
            Kind::Mounts(p) => per_pid(p, 6),
            Kind::MountInfo(p) => per_pid(p, 7),
            Kind::Fd(p, fd) => per_pid(p, 0x1000 + fd as u64),
            Kind::TaskDir(p) => per_pid(p, 9),
            Kind::Environ(p) => per_pid(p, 10),
            Kind::Mem(p) => per_pid(p, 11),
            Kind::OomScoreAdj(p) => per_pid(p, 12),
            Kind::OomScore(p) => per_pid(p, 13),
        }
    }

    /// Linux's ptrace_may_access from the calling task to task `pid`, as
    /// procfs asks it: EACCES when refused. With `mm` (environ, mem: Linux's
    /// mm_access), a task sharing the target's memory may always. Without a
    /// task on this host thread the Sentry itself looks (at boot).
    fn may_access(&self, pid: i32, mode: PtraceMode, mm: bool) -> Result<(), Errno> {
        let k = self.kernel.upgrade().ok_or(Errno::ENOENT)?;
        let ts = k.tasks.lock().unwrap();
        let Some(me) = ts.threads.get(&current_tid()) else { return Ok(()) };
        if mm && ts.threads.get(&pid).is_some_and(|th| Arc::ptr_eq(&th.view.mm, &me.view.mm)) {
            return Ok(());
        }
        ts.ptrace_may_access(&me.view.creds, me.tgid, pid, mode).map_err(|e| {
            if e == Errno::EPERM {
                Errno::EACCES
            } else {
                e
            }
        })
    }

    /// Who owns task `pid`'s files, as Linux's task_dump_owner says: its
    /// effective ids, or root's while its process is not dumpable (except
    /// for the world-readable directories, `dir_555`).
    fn owner(&self, pid: i32, dir_555: bool) -> (u32, u32) {
        let Some(k) = self.kernel.upgrade() else { return (0, 0) };
        let ts = k.tasks.lock().unwrap();
        let Some(th) = ts.threads.get(&pid) else { return (0, 0) };
        let dumpable = ts.process(th.tgid).is_some_and(|p| p.dumpable);
        if dumpable || dir_555 {
            (th.view.creds.euid, th.view.creds.egid)
        } else {
            (0, 0)
        }
    }

    /// The path of `p` as the task `pid` sees it.
    fn path_text(&self, t: &TaskView, p: &Path) -> Vec<u8> {
        let root = t.fs.root();
        let creds = FsCreds::default();
        let Some(k) = self.kernel.upgrade() else { return Vec::new() };
        // A file outside the task's tree (a memfd) is shown by its name.
        let mut text = Resolver { ns: &k.mounts, root: &root, creds: &creds, restrict: 0 }
            .path_of(p)
            .unwrap_or_else(|| [b"/".as_slice(), &p.dentry.name()].concat());
        if p.dentry.is_deleted() {
            text.extend_from_slice(b" (deleted)");
        }
        text
    }

    /// /proc/PID/mounts (or mountinfo, when `info`): the mounts the task
    /// can see from its root.
    fn mount_table(&self, t: &TaskView, info: bool) -> Vec<u8> {
        let Some(k) = self.kernel.upgrade() else { return Vec::new() };
        let root = t.fs.root();
        let creds = FsCreds::default();
        let r = Resolver { ns: &k.mounts, root: &root, creds: &creds, restrict: 0 };
        let mut out = Vec::new();
        for m in k.mounts.mounts() {
            let at = match &m.parent {
                Some((pm, pd)) => Path { mount: pm.clone(), dentry: pd.clone() },
                None => Path { mount: m.clone(), dentry: m.root.clone() },
            };
            let Some(point) = r.path_of(&at) else { continue };
            let point = escape_mount_path(&point);
            let st = m.root.inode().stat();
            let fstype = match m.root.inode().statfs().f_type {
                vfs::inode::TMPFS_MAGIC => "tmpfs",
                vfs::inode::OVERLAYFS_MAGIC => "overlay",
                vfs::inode::PROC_MAGIC => "proc",
                vfs::inode::V9FS_MAGIC => "9p",
                _ => "none",
            };
            let rw = if m.flags.readonly { "ro" } else { "rw" };
            if info {
                let parent = m.parent.as_ref().map_or(m.id, |(pm, _)| pm.id);
                let (major, minor) = ((st.st_dev >> 8) & 0xfff, (st.st_dev & 0xff) | ((st.st_dev >> 12) & !0xff));
                out.extend_from_slice(format!("{} {parent} {major}:{minor} / ", m.id).as_bytes());
                out.extend_from_slice(&point);
                out.extend_from_slice(format!(" {rw},relatime - {fstype} none {rw}\n").as_bytes());
            } else {
                out.extend_from_slice(b"none ");
                out.extend_from_slice(&point);
                out.extend_from_slice(format!(" {fstype} {rw},relatime 0 0\n").as_bytes());
            }
        }
        out
    }

    fn fd_entry(&self, pid: i32, fd: i32) -> Result<Arc<FileDescription>, Errno> {
        self.task(pid)?.fds.file(fd).map_err(|_| Errno::ENOENT)
    }
}

/// A path as the mount tables show it: space, tab, newline and backslash in
/// octal.
fn escape_mount_path(p: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    for &b in p {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => s.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            _ => s.push(b),
        }
    }
    s
}

/// Names of a file that has no place in the tree, as Linux shows them.
fn anon_name(st: &Stat) -> Vec<u8> {
    match st.st_mode & S_IFMT {
        S_IFIFO => format!("pipe:[{}]", st.st_ino).into_bytes(),
        S_IFSOCK => format!("socket:[{}]", st.st_ino).into_bytes(),
        _ => b"anon_inode:[host]".to_vec(),
    }
}

/// The stat of an open file that has no place in the tree, as an inode.
struct OpenFileInode(Arc<FileDescription>);

impl Inode for OpenFileInode {
    fn stat(&self) -> Stat {
        self.0.ops().stat().unwrap_or_default()
    }
    fn setattr(&self, _: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        // Reopening a pipe or host fd through /proc is not offered yet.
        Err(Errno::ENXIO)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl Inode for ProcNode {
    fn stat(&self) -> Stat {
        let (uid, gid) = match self.kind {
            Kind::Root | Kind::SelfLink | Kind::MountsLink => (0, 0),
            Kind::PidDir(p) | Kind::TaskDir(p) => self.owner(p, true),
            Kind::Exe(p)
            | Kind::Cwd(p)
            | Kind::RootDir(p)
            | Kind::FdDir(p)
            | Kind::Fd(p, _)
            | Kind::Maps(p)
            | Kind::Mounts(p)
            | Kind::MountInfo(p)
            | Kind::Environ(p)
            | Kind::Mem(p)
            | Kind::OomScoreAdj(p)
            | Kind::OomScore(p) => self.owner(p, false),
        };
        let mode = match self.kind {
            Kind::Root | Kind::PidDir(_) | Kind::TaskDir(_) => S_IFDIR | 0o555,
            Kind::FdDir(_) => S_IFDIR | 0o500,
            Kind::SelfLink | Kind::MountsLink => S_IFLNK | 0o777,
            Kind::Exe(_) | Kind::Cwd(_) | Kind::RootDir(_) => S_IFLNK | 0o777,
            Kind::Fd(..) => S_IFLNK | 0o700,
            Kind::Maps(_) | Kind::Mounts(_) | Kind::MountInfo(_) | Kind::OomScore(_) => S_IFREG | 0o444,
            Kind::OomScoreAdj(_) => S_IFREG | 0o644,
            Kind::Environ(_) => S_IFREG | 0o400,
            Kind::Mem(_) => S_IFREG | 0o600,
        };
        let nlink = if self.file_type() == FileType::Directory { 2 } else { 1 };
        Stat {
            st_dev: PROC_DEV,
            st_ino: self.ino(),
            st_nlink: nlink,
            st_mode: mode,
            st_uid: uid,
            st_gid: gid,
            st_blksize: PAGE_SIZE as i64,
            ..Stat::default()
        }
    }

    fn setattr(&self, _attr: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// Linux's proc_fd_permission: a process may always look into its own
    /// fd directory, even while it is not dumpable (and root owns it).
    fn permission(&self, creds: &FsCreds, want: u32) -> bool {
        creds.may(&self.stat(), want)
            || matches!(self.kind, Kind::FdDir(p) if self.task(p).is_ok_and(|t| t.tgid == current_tgid()))
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, Errno> {
        let number = || std::str::from_utf8(name).ok().and_then(|s| s.parse::<i32>().ok()).filter(|&n| n >= 0);
        match self.kind {
            Kind::Root if name == b"self" => Ok(self.child(Kind::SelfLink)),
            Kind::Root if name == b"mounts" => Ok(self.child(Kind::MountsLink)),
            Kind::Root => {
                let pid = number().ok_or(Errno::ENOENT)?;
                self.task(pid)?;
                Ok(self.child(Kind::PidDir(pid)))
            }
            Kind::PidDir(p) => {
                self.task(p)?;
                match name {
                    b"exe" => Ok(self.child(Kind::Exe(p))),
                    b"cwd" => Ok(self.child(Kind::Cwd(p))),
                    b"root" => Ok(self.child(Kind::RootDir(p))),
                    b"fd" => Ok(self.child(Kind::FdDir(p))),
                    b"environ" => Ok(self.child(Kind::Environ(p))),
                    b"mem" => Ok(self.child(Kind::Mem(p))),
                    b"maps" => Ok(self.child(Kind::Maps(p))),
                    b"mounts" => Ok(self.child(Kind::Mounts(p))),
                    b"mountinfo" => Ok(self.child(Kind::MountInfo(p))),
                    b"oom_score" => Ok(self.child(Kind::OomScore(p))),
                    b"oom_score_adj" => Ok(self.child(Kind::OomScoreAdj(p))),
                    b"task" => Ok(self.child(Kind::TaskDir(p))),
                    _ => Err(Errno::ENOENT),
                }
            }
            Kind::TaskDir(p) => {
                let tid = number().ok_or(Errno::ENOENT)?;
                if !self.threads(p).contains(&tid) {
                    return Err(Errno::ENOENT);
                }
                Ok(self.child(Kind::PidDir(tid)))
            }
            Kind::FdDir(p) => {
                let fd = number().ok_or(Errno::ENOENT)?;
                self.fd_entry(p, fd)?;
                Ok(self.child(Kind::Fd(p, fd)))
            }
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let entry = |name: Vec<u8>, kind: Kind| {
            let n = ProcNode { kernel: self.kernel.clone(), kind };
            DirEntry { name, ino: n.ino(), kind: n.file_type() }
        };
        match self.kind {
            Kind::Root => {
                let k = self.kernel.upgrade().ok_or(Errno::ENOENT)?;
                let mut v = vec![entry(b"self".to_vec(), Kind::SelfLink), entry(b"mounts".to_vec(), Kind::MountsLink)];
                let tgids: Vec<i32> = k
                    .tasks
                    .lock()
                    .unwrap()
                    .processes
                    .values()
                    .filter(|p| !p.threads.is_empty())
                    .map(|p| p.tgid)
                    .collect();
                v.extend(tgids.into_iter().map(|p| entry(p.to_string().into_bytes(), Kind::PidDir(p))));
                Ok(v)
            }
            Kind::PidDir(p) => Ok(vec![
                entry(b"cwd".to_vec(), Kind::Cwd(p)),
                entry(b"environ".to_vec(), Kind::Environ(p)),
                entry(b"exe".to_vec(), Kind::Exe(p)),
                entry(b"fd".to_vec(), Kind::FdDir(p)),
                entry(b"maps".to_vec(), Kind::Maps(p)),
                entry(b"mem".to_vec(), Kind::Mem(p)),
                entry(b"mountinfo".to_vec(), Kind::MountInfo(p)),
                entry(b"mounts".to_vec(), Kind::Mounts(p)),
                entry(b"oom_score".to_vec(), Kind::OomScore(p)),
                entry(b"oom_score_adj".to_vec(), Kind::OomScoreAdj(p)),
                entry(b"root".to_vec(), Kind::RootDir(p)),
                entry(b"task".to_vec(), Kind::TaskDir(p)),
            ]),
            Kind::TaskDir(p) => {
                Ok(self.threads(p).into_iter().map(|t| entry(t.to_string().into_bytes(), Kind::PidDir(t))).collect())
            }
            Kind::FdDir(p) => {
                let fds = self.task(p)?.fds.fds();
                Ok(fds.into_iter().map(|(fd, _)| entry(fd.to_string().into_bytes(), Kind::Fd(p, fd))).collect())
            }
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        // Linux's proc_fd_access_allowed: a task's links show only to those
        // who may ptrace-read it.
        if let Kind::Exe(p) | Kind::Cwd(p) | Kind::RootDir(p) | Kind::Fd(p, _) = self.kind {
            self.may_access(p, PtraceMode::ReadFsCreds, false)?;
        }
        match self.kind {
            Kind::SelfLink => Ok(current_tgid().to_string().into_bytes()),
            Kind::MountsLink => Ok(b"self/mounts".to_vec()),
            Kind::Exe(p) => {
                let t = self.task(p)?;
                Ok(self.path_text(&t, &t.exe))
            }
            Kind::Cwd(p) => {
                let t = self.task(p)?;
                Ok(self.path_text(&t, &t.fs.cwd()))
            }
            Kind::RootDir(p) => {
                let t = self.task(p)?;
                Ok(self.path_text(&t, &t.fs.root()))
            }
            Kind::Fd(p, fd) => {
                let t = self.task(p)?;
                let file = self.fd_entry(p, fd)?;
                Ok(match file.path() {
                    Some(path) => self.path_text(&t, path),
                    None => match file.ops().anon_name() {
                        Some(name) => name.as_bytes().to_vec(),
                        None => anon_name(&file.ops().stat()?),
                    },
                })
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn statfs(&self) -> abi::structs::StatFs {
        vfs::inode::memory_statfs(vfs::inode::PROC_MAGIC)
    }

    fn magic_link(&self) -> Option<Result<Path, Errno>> {
        if let Kind::Exe(p) | Kind::Cwd(p) | Kind::RootDir(p) | Kind::Fd(p, _) = self.kind {
            if let Err(e) = self.may_access(p, PtraceMode::ReadFsCreds, false) {
                return Some(Err(e));
            }
        }
        match self.kind {
            Kind::Cwd(p) => Some(self.task(p).map(|t| t.fs.cwd())),
            Kind::RootDir(p) => Some(self.task(p).map(|t| t.fs.root())),
            Kind::Fd(p, fd) => Some(self.fd_entry(p, fd).map(|file| match file.path() {
                Some(path) => path.clone(),
                None => Path::detached(Arc::new(OpenFileInode(file.clone()))),
            })),
            Kind::Exe(p) => Some(self.task(p).map(|t| t.exe)),
            _ => None,
        }
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        match self.kind {
            Kind::Maps(p) => {
                let t = self.task(p)?;
                let image = self.path_text(&t, &t.exe);
                Ok(Box::new(SnapshotFile { data: t.mm.proc_maps(&image), stat: self.stat() }))
            }
            Kind::Mounts(p) | Kind::MountInfo(p) => {
                let t = self.task(p)?;
                let data = self.mount_table(&t, matches!(self.kind, Kind::MountInfo(_)));
                Ok(Box::new(SnapshotFile { data, stat: self.stat() }))
            }
            Kind::Environ(p) => {
                self.may_access(p, PtraceMode::ReadFsCreds, true)?;
                let mm = Arc::downgrade(&self.task(p)?.mm);
                Ok(Box::new(EnvironFile { mm, stat: self.stat() }))
            }
            Kind::Mem(p) => {
                self.may_access(p, PtraceMode::AttachFsCreds, true)?;
                let mm = Arc::downgrade(&self.task(p)?.mm);
                Ok(Box::new(MemFile { mm, stat: self.stat() }))
            }
            Kind::OomScoreAdj(p) => {
                let k = self.kernel.upgrade().ok_or(Errno::ENOENT)?;
                let tgid = self.task(p)?.tgid;
                let adj = k.tasks.lock().unwrap().process(tgid).ok_or(Errno::ESRCH)?.oom_score_adj;
                let text = SnapshotFile { data: format!("{adj}\n").into_bytes(), stat: self.stat() };
                Ok(Box::new(OomScoreAdjFile { kernel: self.kernel.clone(), tgid, text }))
            }
            Kind::OomScore(p) => {
                let k = self.kernel.upgrade().ok_or(Errno::ENOENT)?;
                let t = self.task(p)?;
                let adj = k.tasks.lock().unwrap().process(t.tgid).ok_or(Errno::ESRCH)?.oom_score_adj;
                let limit = k.memfile.limit();
                let points = crate::oom::badness(t.mm.resident_bytes(), adj, limit).unwrap_or(0).max(0);
                // Linux's proc_oom_score: badness scaled to 0..2000 of the
                // memory there is (here: the cap).
                let score = points * 1000 / (limit / PAGE_SIZE).max(1) as i64;
                Ok(Box::new(SnapshotFile { data: format!("{score}\n").into_bytes(), stat: self.stat() }))
            }
            Kind::Root | Kind::PidDir(_) | Kind::FdDir(_) => {
                Ok(Box::new(DirectoryFile::new(self.clone(), self.stat().st_ino)))
            }
            _ => Err(Errno::ELOOP),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// /proc/PID/oom_score_adj: reads the value as it was at open; a write sets
/// it, as Linux's oom_score_adj_write: an integer in -1000..=1000 (EINVAL
/// otherwise); going below the process's oom_score_adj_min takes
/// CAP_SYS_RESOURCE (EACCES), and a capable writer sets that minimum.
struct OomScoreAdjFile {
    kernel: Weak<Kernel>,
    tgid: i32,
    /// The value as it was at open, for reads.
    text: SnapshotFile,
}

impl FileOps for OomScoreAdjFile {
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        self.text.read(file, dst, offset)
    }
    fn write(&self, _: &FileDescription, src: &BlockSeq, _: Option<i64>) -> Result<usize, Errno> {
        let mut buf = [0u8; 24];
        let n = src.copy_to(&mut buf[..src.len().min(23)]);
        let text = std::str::from_utf8(&buf[..n]).map_err(|_| Errno::EINVAL)?;
        let adj: i32 = text.trim().parse().map_err(|_| Errno::EINVAL)?;
        if !(crate::oom::OOM_SCORE_ADJ_MIN..=crate::oom::OOM_SCORE_ADJ_MAX).contains(&adj) {
            return Err(Errno::EINVAL);
        }
        let k = self.kernel.upgrade().ok_or(Errno::ESRCH)?;
        let mut ts = k.tasks.lock().unwrap();
        let capable = ts.threads.get(&current_tid()).is_none_or(|me| me.view.creds.capable(CAP_SYS_RESOURCE));
        let p = ts.process_mut(self.tgid).ok_or(Errno::ESRCH)?;
        if adj < p.oom_score_adj_min && !capable {
            return Err(Errno::EACCES);
        }
        p.oom_score_adj = adj;
        if capable {
            p.oom_score_adj_min = adj;
        }
        Ok(src.len())
    }
    fn stat(&self) -> Result<Stat, Errno> {
        self.text.stat()
    }
    fn seekable(&self) -> bool {
        true
    }
    fn seek(&self, file: &FileDescription, off: i64, whence: i32) -> Result<i64, Errno> {
        self.text.seek(file, off, whence)
    }
}

/// lseek on a proc file, as seq_file's: SEEK_SET and SEEK_CUR only.
fn seek_proc_file(file: &FileDescription, off: i64, whence: i32) -> Result<i64, Errno> {
    let mut pos = file.pos();
    *pos = vfs::file::seek_set_or_cur(*pos, off, whence)?;
    Ok(*pos)
}

/// A proc file whose text is generated when it is opened.
struct SnapshotFile {
    data: Vec<u8>,
    stat: Stat,
}

impl FileOps for SnapshotFile {
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        let mut at_pos = None;
        let start = match offset {
            Some(o) => o as usize,
            None => {
                let g = file.pos();
                let p = *g as usize;
                at_pos = Some(g);
                p
            }
        };
        let start = start.min(self.data.len());
        let n = (self.data.len() - start).min(dst.len());
        let copied = dst.copy_from(&self.data[start..start + n]);
        if let Some(mut pos) = at_pos {
            *pos += copied as i64;
        }
        Ok(copied)
    }
    fn write(&self, _: &FileDescription, _: &BlockSeq, _: Option<i64>) -> Result<usize, Errno> {
        Err(Errno::EACCES)
    }
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.stat)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn seek(&self, file: &FileDescription, off: i64, whence: i32) -> Result<i64, Errno> {
        seek_proc_file(file, off, whence)
    }
}

/// Where a read or write of a proc file starts (`offset`, or the file's
/// position), and, for the position, a guard to move it on with.
fn start_at(file: &FileDescription, offset: Option<i64>) -> (i64, Option<std::sync::MutexGuard<'_, i64>>) {
    match offset {
        Some(o) => (o, None),
        None => {
            let g = file.pos();
            (*g, Some(g))
        }
    }
}

/// Copies up to `len` bytes of `mm` from `addr` into `dst`, stopping at the
/// first byte that cannot be read; returns how many were copied.
fn read_memory(mm: &MemoryManager, addr: u64, dst: &BlockSeq, len: usize) -> usize {
    let mut done = 0;
    while done < len {
        let Some(at) = addr.checked_add(done as u64) else { break };
        let Ok(src) = mm.blocks(at, (len - done).min(MEMORY_CHUNK) as u64, Access::Read) else { break };
        let before = done;
        for b in src.blocks() {
            done += dst.copy_from_block_at(done, b);
        }
        if done - before < src.len() || src.len() < (len - before).min(MEMORY_CHUNK) {
            break;
        }
    }
    done
}

/// The most one step of a /proc memory copy takes.
const MEMORY_CHUNK: usize = 1 << 16;

/// /proc/PID/environ: the environment strings in the process's memory, read
/// when asked (a process that has gone reads as empty).
struct EnvironFile {
    mm: Weak<MemoryManager>,
    stat: Stat,
}

impl FileOps for EnvironFile {
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        let (pos, guard) = start_at(file, offset);
        let Some(mm) = self.mm.upgrade() else { return Ok(0) };
        let (start, end) = mm.env_range();
        let pos = u64::try_from(pos).map_err(|_| Errno::EINVAL)?;
        let left = end.saturating_sub(start).saturating_sub(pos);
        if left == 0 {
            return Ok(0);
        }
        let len = left.min(dst.len() as u64) as usize;
        let n = read_memory(&mm, start + pos, dst, len);
        if let Some(mut g) = guard {
            *g += n as i64;
        }
        Ok(n)
    }
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.stat)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn seek(&self, file: &FileDescription, off: i64, whence: i32) -> Result<i64, Errno> {
        seek_proc_file(file, off, whence)
    }
}

/// /proc/PID/mem: the process's memory at the file offsets that are its
/// addresses. Unmapped addresses are EIO; writes go through read-only
/// private mappings, as a debugger's do (`Access::ForceWrite`).
struct MemFile {
    mm: Weak<MemoryManager>,
    stat: Stat,
}

impl FileOps for MemFile {
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        let (pos, guard) = start_at(file, offset);
        let Some(mm) = self.mm.upgrade() else { return Ok(0) };
        if dst.is_empty() {
            return Ok(0);
        }
        let n = read_memory(&mm, pos as u64, dst, dst.len());
        if n == 0 {
            return Err(Errno::EIO);
        }
        if let Some(mut g) = guard {
            *g = g.wrapping_add(n as i64);
        }
        Ok(n)
    }
    fn write(&self, file: &FileDescription, src: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        let (pos, guard) = start_at(file, offset);
        let Some(mm) = self.mm.upgrade() else { return Ok(0) };
        let mut done = 0;
        while done < src.len() {
            let Some(at) = (pos as u64).checked_add(done as u64) else { break };
            let want = (src.len() - done).min(MEMORY_CHUNK);
            let Ok(dst) = mm.blocks(at, want as u64, Access::ForceWrite) else { break };
            let before = done;
            for b in dst.blocks() {
                done += src.copy_to_block_at(done, b);
            }
            if done - before < want {
                break;
            }
        }
        if done == 0 && !src.is_empty() {
            return Err(Errno::EIO);
        }
        if let Some(mut g) = guard {
            *g = g.wrapping_add(done as i64);
        }
        Ok(done)
    }
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.stat)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn seek(&self, file: &FileDescription, off: i64, whence: i32) -> Result<i64, Errno> {
        seek_proc_file(file, off, whence)
    }
}
