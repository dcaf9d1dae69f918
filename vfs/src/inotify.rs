//! inotify: watches on inodes, and the events the VFS reports to them.
//!
//! Watches ("marks") are kept in one table keyed by the watched inode's
//! (device, inode number). The syscall layer reports each change where Linux's
//! VFS calls fsnotify: `notify_file` for an event on a file (its own watches,
//! and its directory's watches with its name), `notify_child` for a name
//! made, removed or moved in a directory. While no watch exists anywhere,
//! reporting costs one atomic load.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use crate::waiter::WaitQueue;

use abi::consts::*;
use abi::structs::Stat;
use abi::Errno;

use crate::file::{FileDescription, FileOps, UserIo, POLLIN, POLLRDNORM};
use crate::mount::Path;
use crate::safemem::BlockSeq;

/// Linux's default /proc/sys/fs/inotify/max_queued_events.
const MAX_QUEUED: usize = 16384;
/// sizeof(struct inotify_event) without the name.
const EVENT_HEADER: usize = 16;

type Key = (u64, u64);

fn key_of(st: &Stat) -> Key {
    (st.st_dev, st.st_ino)
}

struct Mark {
    group: Weak<Group>,
    wd: i32,
    mask: u32,
}

/// Every watch in the sandbox, by watched inode.
static MARKS: LazyLock<Mutex<HashMap<Key, Vec<Mark>>>> = LazyLock::new(Mutex::default);
/// How many watches exist: the fast path when there are none.
static WATCHES: AtomicUsize = AtomicUsize::new(0);
static COOKIE: AtomicU32 = AtomicU32::new(0);

/// A cookie that ties an IN_MOVED_FROM to its IN_MOVED_TO.
pub fn next_cookie() -> u32 {
    COOKIE.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
}

fn any_watch() -> bool {
    WATCHES.load(Ordering::Relaxed) > 0
}

/// Queues `mask` (with `name`) for every watch on `key` that asks for it.
fn deliver(key: Key, mask: u32, cookie: u32, name: &[u8]) {
    let mut marks = MARKS.lock().unwrap();
    let Some(list) = marks.get_mut(&key) else { return };
    let event_bits = mask & IN_ALL_EVENTS;
    let mut gone = Vec::new();
    for (i, m) in list.iter().enumerate() {
        // Events about a watched inode itself (DELETE_SELF, IGNORED) always go.
        if m.mask & event_bits == 0 && event_bits != 0 {
            continue;
        }
        let Some(g) = m.group.upgrade() else {
            gone.push(i);
            continue;
        };
        g.queue(Event { wd: m.wd, mask, cookie, name: name.to_vec() });
        if m.mask & IN_ONESHOT != 0 {
            g.queue(Event { wd: m.wd, mask: IN_IGNORED, cookie: 0, name: Vec::new() });
            g.forget(m.wd);
            gone.push(i);
        }
    }
    for i in gone.into_iter().rev() {
        list.remove(i);
        WATCHES.fetch_sub(1, Ordering::Relaxed);
    }
    if list.is_empty() {
        marks.remove(&key);
    }
}

/// An event on the file at `p`: to its directory's watches with its name,
/// then to its own watches.
pub fn notify_file(p: &Path, mask: u32) {
    if !any_watch() {
        return;
    }
    let st = p.inode().stat();
    let dir_bit = if st.st_mode & S_IFMT == S_IFDIR { IN_ISDIR } else { 0 };
    // The directory's watches hear first, as in Linux.
    if let Some(parent) = p.dentry.parent().filter(|_| !p.dentry.is_deleted()) {
        deliver(key_of(&parent.inode().stat()), mask | dir_bit, 0, &p.dentry.name());
    }
    deliver(key_of(&st), mask | dir_bit, 0, b"");
}

/// An event on an inode for its own watches only (a link count change, a
/// move of the inode itself).
pub fn notify_inode(st: &Stat, mask: u32) {
    if !any_watch() {
        return;
    }
    let dir_bit = if st.st_mode & S_IFMT == S_IFDIR { IN_ISDIR } else { 0 };
    deliver(key_of(st), mask | dir_bit, 0, b"");
}

/// An event about `name` in the directory `dir` (made, removed, moved).
pub fn notify_child(dir: &Path, name: &[u8], mask: u32, cookie: u32, is_dir: bool) {
    if !any_watch() {
        return;
    }
    let dir_bit = if is_dir { IN_ISDIR } else { 0 };
    deliver(key_of(&dir.inode().stat()), mask | dir_bit, cookie, name);
}

/// The file at `st` lost its last link: IN_DELETE_SELF, and its watches end.
pub fn notify_gone(st: &Stat) {
    if !any_watch() {
        return;
    }
    let key = key_of(st);
    deliver(key, IN_DELETE_SELF, 0, b"");
    let removed = MARKS.lock().unwrap().remove(&key).unwrap_or_default();
    WATCHES.fetch_sub(removed.len(), Ordering::Relaxed);
    for m in removed {
        if let Some(g) = m.group.upgrade() {
            g.queue(Event { wd: m.wd, mask: IN_IGNORED, cookie: 0, name: Vec::new() });
            g.forget(m.wd);
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// The name's length on the wire: NUL-padded to a multiple of the header.
    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).div_ceil(EVENT_HEADER) * EVENT_HEADER
        }
    }

    fn size(&self) -> usize {
        EVENT_HEADER + self.name_len()
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Event>,
    /// wd -> watched inode.
    watches: HashMap<i32, Key>,
    last_wd: i32,
    overflowed: bool,
}

/// One inotify instance.
#[derive(Default)]
struct Group {
    state: Mutex<State>,
    changed: Arc<WaitQueue>,
}

impl Group {
    fn queue(&self, e: Event) {
        let mut s = self.state.lock().unwrap();
        // An event like the last one queued is merged into it, as Linux does.
        if s.queue.back() == Some(&e) {
            return;
        }
        if s.queue.len() >= MAX_QUEUED {
            if !s.overflowed {
                s.overflowed = true;
                s.queue.push_back(Event { wd: -1, mask: IN_Q_OVERFLOW, cookie: 0, name: Vec::new() });
            }
            return;
        }
        s.queue.push_back(e);
        drop(s);
        self.changed.notify_all();
    }

    fn forget(&self, wd: i32) {
        self.state.lock().unwrap().watches.remove(&wd);
    }
}

/// The file behind an inotify fd.
pub struct Inotify {
    group: Arc<Group>,
}

impl Default for Inotify {
    fn default() -> Self {
        Self::new()
    }
}

impl Inotify {
    pub fn new() -> Inotify {
        Inotify { group: Arc::new(Group::default()) }
    }

    /// inotify_add_watch on the file whose stat is `st`: its watch
    /// descriptor.
    pub fn add_watch(&self, st: &Stat, mask: u32) -> Result<i32, Errno> {
        let key = key_of(st);
        let mut marks = MARKS.lock().unwrap();
        let mut s = self.group.state.lock().unwrap();
        let list = marks.entry(key).or_default();
        if let Some(m) = list.iter_mut().find(|m| std::ptr::eq(m.group.as_ptr(), Arc::as_ptr(&self.group))) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(Errno::EEXIST);
            }
            let keep = if mask & IN_MASK_ADD != 0 { m.mask } else { 0 };
            m.mask = keep | (mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK));
            return Ok(m.wd);
        }
        s.last_wd += 1;
        let wd = s.last_wd;
        s.watches.insert(wd, key);
        list.push(Mark {
            group: Arc::downgrade(&self.group),
            wd,
            mask: mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK),
        });
        WATCHES.fetch_add(1, Ordering::Relaxed);
        Ok(wd)
    }

    /// inotify_rm_watch: the watch ends with IN_IGNORED.
    pub fn rm_watch(&self, wd: i32) -> Result<(), Errno> {
        let mut marks = MARKS.lock().unwrap();
        let key = self.group.state.lock().unwrap().watches.remove(&wd).ok_or(Errno::EINVAL)?;
        if let Some(list) = marks.get_mut(&key) {
            let before = list.len();
            list.retain(|m| !(m.wd == wd && std::ptr::eq(m.group.as_ptr(), Arc::as_ptr(&self.group))));
            WATCHES.fetch_sub(before - list.len(), Ordering::Relaxed);
            if list.is_empty() {
                marks.remove(&key);
            }
        }
        drop(marks);
        self.group.queue(Event { wd, mask: IN_IGNORED, cookie: 0, name: Vec::new() });
        Ok(())
    }

    fn queued_bytes(&self) -> usize {
        self.group.state.lock().unwrap().queue.iter().map(Event::size).sum()
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let keys: Vec<Key> = self.group.state.lock().unwrap().watches.values().copied().collect();
        let mut marks = MARKS.lock().unwrap();
        for key in keys {
            if let Some(list) = marks.get_mut(&key) {
                let before = list.len();
                list.retain(|m| !std::ptr::eq(m.group.as_ptr(), Arc::as_ptr(&self.group)));
                WATCHES.fetch_sub(before - list.len(), Ordering::Relaxed);
                if list.is_empty() {
                    marks.remove(&key);
                }
            }
        }
    }
}

impl FileOps for Inotify {
    fn wait_queues(&self) -> Vec<Arc<WaitQueue>> {
        vec![self.group.changed.clone()]
    }

    /// Whole events, as many as fit; EINVAL if the first does not.
    fn read(&self, file: &FileDescription, dst: &BlockSeq, offset: Option<i64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        let mut s = self.group.state.lock().unwrap();
        while s.queue.is_empty() {
            if file.flags() & O_NONBLOCK != 0 {
                return Err(Errno::EAGAIN);
            }
            s = self.group.changed.sleep(&self.group.state, s)?;
        }
        let mut out = Vec::new();
        while let Some(e) = s.queue.front() {
            if out.len() + e.size() > dst.len() {
                break;
            }
            out.extend_from_slice(&e.wd.to_ne_bytes());
            out.extend_from_slice(&e.mask.to_ne_bytes());
            out.extend_from_slice(&e.cookie.to_ne_bytes());
            out.extend_from_slice(&(e.name_len() as u32).to_ne_bytes());
            let mut name = e.name.clone();
            name.resize(e.name_len(), 0);
            out.extend_from_slice(&name);
            if e.mask == IN_Q_OVERFLOW {
                s.overflowed = false;
            }
            s.queue.pop_front();
        }
        if out.is_empty() {
            return Err(Errno::EINVAL);
        }
        drop(s);
        dst.copy_from_at(0, &out);
        Ok(out.len())
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(crate::file::anon_inode_stat())
    }

    fn ioctl(&self, _file: &FileDescription, io: &dyn UserIo, cmd: u32, arg: u64) -> Result<u64, Errno> {
        match cmd {
            FIONREAD => {
                let n = self.queued_bytes() as i32;
                io.copy_out(arg, &n.to_ne_bytes())?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn readiness(&self, events: u32) -> u32 {
        if self.group.state.lock().unwrap().queue.is_empty() {
            0
        } else {
            events & (POLLIN | POLLRDNORM)
        }
    }

    fn pollable(&self) -> bool {
        true
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("anon_inode:inotify")
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Whether the file `file` was opened for writing (for IN_CLOSE_WRITE).
pub fn close_event(file: &FileDescription) -> u32 {
    if file.writable() {
        IN_CLOSE_WRITE
    } else {
        IN_CLOSE_NOWRITE
    }
}

impl Inotify {
    /// The inotify instance behind `file`, if it is an inotify fd.
    pub fn of(file: &FileDescription) -> Option<&Inotify> {
        file.ops().as_any()?.downcast_ref::<Inotify>()
    }
}
