//! Credentials: the set*id family, groups, filesystem ids and capabilities,
//! with Linux's rules for privileged (CAP_SETUID/CAP_SETGID) and
//! unprivileged callers and the capability changes that uid changes make.

use std::sync::Arc;

use abi::consts::{CAP_SETGID, CAP_SETPCAP, CAP_SETUID};
use abi::Errno;
use sentry::creds::Credentials;
use sentry::{SyscallResult, Task};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::args::UserPtr;

/// NGROUPS_MAX.
const NGROUPS_MAX: usize = 65536;
/// An id argument meaning "unchanged".
const KEEP: u32 = u32::MAX;

/// Linux's cap_emulate_setxuid: capabilities follow uid changes to and from 0.
fn fix_caps(old: &Credentials, new: &mut Credentials, keepcaps: bool) {
    let was_root = old.uid == 0 || old.euid == 0 || old.suid == 0;
    let is_root = new.uid == 0 || new.euid == 0 || new.suid == 0;
    if was_root && !is_root && !keepcaps {
        new.cap_permitted = 0;
        new.cap_effective = 0;
    }
    if old.euid == 0 && new.euid != 0 {
        new.cap_effective = 0;
    }
    if old.euid != 0 && new.euid == 0 {
        new.cap_effective = new.cap_permitted;
    }
    fix_fs_caps(old.fsuid, new);
}

/// The file-system capabilities follow the fs uid: dropped when it leaves
/// 0, given back (from the permitted set) when it returns.
fn fix_fs_caps(old_fsuid: u32, new: &mut Credentials) {
    use sentry::task::CAP_FS_MASK;
    if old_fsuid == 0 && new.fsuid != 0 {
        new.cap_effective &= !CAP_FS_MASK;
    }
    if old_fsuid != 0 && new.fsuid == 0 {
        new.cap_effective |= new.cap_permitted & CAP_FS_MASK;
    }
}

/// Applies new uids `(r, e, s)` (KEEP: unchanged), each of which an
/// unprivileged caller may only set to one of its current ids.
fn set_uids(t: &mut Task, r: u32, e: u32, s: u32, saved_follows: bool) -> SyscallResult {
    let old = t.creds.clone();
    let allowed = |id: u32| id == KEEP || id == old.uid || id == old.euid || id == old.suid;
    let permitted = allowed(r) && allowed(e) && allowed(s);
    if !(old.capable(CAP_SETUID) || permitted) {
        return Err(Errno::EPERM);
    }
    let mut new = old.clone();
    if r != KEEP {
        new.uid = r;
    }
    if e != KEEP {
        new.euid = e;
    }
    if s != KEEP {
        new.suid = s;
    } else if saved_follows && (r != KEEP || (e != KEEP && e != old.uid)) {
        // setreuid: setting the real id, or an effective one other than
        // the real, saves the new effective id.
        new.suid = new.euid;
    }
    new.fsuid = new.euid;
    fix_caps(&old, &mut new, t.keepcaps);
    t.commit_creds(new);
    Ok(0)
}

fn set_gids(t: &mut Task, r: u32, e: u32, s: u32, saved_follows: bool) -> SyscallResult {
    let old = t.creds.clone();
    let allowed = |id: u32| id == KEEP || id == old.gid || id == old.egid || id == old.sgid;
    let permitted = allowed(r) && allowed(e) && allowed(s);
    if !(old.capable(CAP_SETGID) || permitted) {
        return Err(Errno::EPERM);
    }
    let mut new = old.clone();
    if r != KEEP {
        new.gid = r;
    }
    if e != KEEP {
        new.egid = e;
    }
    if s != KEEP {
        new.sgid = s;
    } else if saved_follows && (r != KEEP || (e != KEEP && e != old.gid)) {
        new.sgid = new.egid;
    }
    new.fsgid = new.egid;
    t.commit_creds(new);
    Ok(0)
}

pub fn setuid(t: &mut Task, uid: u32) -> SyscallResult {
    if uid == KEEP {
        return Err(Errno::EINVAL);
    }
    if t.creds.capable(CAP_SETUID) {
        return set_uids(t, uid, uid, uid, false);
    }
    if uid != t.creds.uid && uid != t.creds.suid {
        return Err(Errno::EPERM);
    }
    set_uids(t, KEEP, uid, KEEP, false)
}

pub fn setgid(t: &mut Task, gid: u32) -> SyscallResult {
    if gid == KEEP {
        return Err(Errno::EINVAL);
    }
    if t.creds.capable(CAP_SETGID) {
        return set_gids(t, gid, gid, gid, false);
    }
    if gid != t.creds.gid && gid != t.creds.sgid {
        return Err(Errno::EPERM);
    }
    set_gids(t, KEEP, gid, KEEP, false)
}

pub fn setreuid(t: &mut Task, r: u32, e: u32) -> SyscallResult {
    // The real id may only become the effective one (or stay).
    if !t.creds.capable(CAP_SETUID) && r != KEEP && r != t.creds.uid && r != t.creds.euid {
        return Err(Errno::EPERM);
    }
    set_uids(t, r, e, KEEP, true)
}

pub fn setregid(t: &mut Task, r: u32, e: u32) -> SyscallResult {
    if !t.creds.capable(CAP_SETGID) && r != KEEP && r != t.creds.gid && r != t.creds.egid {
        return Err(Errno::EPERM);
    }
    set_gids(t, r, e, KEEP, true)
}

pub fn setresuid(t: &mut Task, r: u32, e: u32, s: u32) -> SyscallResult {
    set_uids(t, r, e, s, false)
}

pub fn setresgid(t: &mut Task, r: u32, e: u32, s: u32) -> SyscallResult {
    set_gids(t, r, e, s, false)
}

pub fn getresuid(t: &mut Task, r: UserPtr<u32>, e: UserPtr<u32>, s: UserPtr<u32>) -> SyscallResult {
    r.write(t, &t.creds.uid)?;
    e.write(t, &t.creds.euid)?;
    s.write(t, &t.creds.suid).map(|_| 0)
}

pub fn getresgid(t: &mut Task, r: UserPtr<u32>, e: UserPtr<u32>, s: UserPtr<u32>) -> SyscallResult {
    r.write(t, &t.creds.gid)?;
    e.write(t, &t.creds.egid)?;
    s.write(t, &t.creds.sgid).map(|_| 0)
}

/// setfsuid: returns the old fsuid whether or not the change is allowed.
pub fn setfsuid(t: &mut Task, uid: u32) -> SyscallResult {
    let c = &t.creds;
    let old = c.fsuid;
    if uid != KEEP && (c.capable(CAP_SETUID) || [c.uid, c.euid, c.suid, c.fsuid].contains(&uid)) {
        let mut new = c.clone();
        new.fsuid = uid;
        fix_fs_caps(old, &mut new);
        t.commit_creds(new);
    }
    Ok(old as u64)
}

pub fn setfsgid(t: &mut Task, gid: u32) -> SyscallResult {
    let c = &t.creds;
    let old = c.fsgid;
    if gid != KEEP && (c.capable(CAP_SETGID) || [c.gid, c.egid, c.sgid, c.fsgid].contains(&gid)) {
        let new = Credentials { fsgid: gid, ..c.clone() };
        t.commit_creds(new);
    }
    Ok(old as u64)
}

pub fn getgroups(t: &mut Task, size: i32, list: u64) -> SyscallResult {
    let groups = t.creds.groups.clone();
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    t.mm.copy_out(list, groups.as_bytes())?;
    Ok(groups.len() as u64)
}

pub fn setgroups(t: &mut Task, size: i32, list: u64) -> SyscallResult {
    if size < 0 || size as usize > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    if !t.creds.capable(CAP_SETGID) {
        return Err(Errno::EPERM);
    }
    let mut groups = vec![0u32; size as usize];
    t.mm.copy_in(list, groups.as_mut_bytes())?;
    groups.sort_unstable();
    let new = Credentials { groups: Arc::from(groups), ..t.creds.clone() };
    t.commit_creds(new);
    Ok(0)
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
pub struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V1: u32 = 0x1998_0330;
const CAP_V2: u32 = 0x2007_1026;
const CAP_V3: u32 = 0x2008_0522;

/// How many 32-bit data structs a header's version has; a bad version is
/// EINVAL, and the header learns the one Linux prefers.
/// (With a NULL data pointer, that is a query: 0.)
fn cap_words(t: &Task, hdr: UserPtr<CapHeader>, data: u64) -> Result<(CapHeader, usize), Errno> {
    let h = hdr.read(t)?;
    match h.version {
        CAP_V1 => Ok((h, 1)),
        CAP_V2 | CAP_V3 => Ok((h, 2)),
        _ => {
            hdr.write(t, &CapHeader { version: CAP_V3, ..h })?;
            Err(if data == 0 { Errno(0) } else { Errno::EINVAL })
        }
    }
}

pub fn capget(t: &mut Task, hdr: UserPtr<CapHeader>, data: u64) -> SyscallResult {
    let (h, words) = match cap_words(t, hdr, data) {
        Err(Errno(0)) => return Ok(0),
        r => r?,
    };
    if h.pid < 0 {
        return Err(Errno::EINVAL);
    }
    let c = if h.pid == 0 || h.pid == t.tid {
        t.creds.clone()
    } else {
        t.tasks().threads.get(&h.pid).map(|th| th.view.creds.clone()).ok_or(Errno::ESRCH)?
    };
    if data == 0 {
        return Ok(0);
    }
    let out: Vec<CapData> = (0..words)
        .map(|i| CapData {
            effective: (c.cap_effective >> (32 * i)) as u32,
            permitted: (c.cap_permitted >> (32 * i)) as u32,
            inheritable: (c.cap_inheritable >> (32 * i)) as u32,
        })
        .collect();
    t.mm.copy_out(data, out.as_bytes()).map(|_| 0)
}

pub fn capset(t: &mut Task, hdr: UserPtr<CapHeader>, data: u64) -> SyscallResult {
    let (h, words) = match cap_words(t, hdr, data) {
        Err(Errno(0)) => return Ok(0),
        r => r?,
    };
    if h.pid != 0 && h.pid != t.tid {
        return Err(Errno::EPERM);
    }
    let mut d = vec![CapData::default(); words];
    t.mm.copy_in(data, d.as_mut_bytes())?;
    let join = |f: fn(&CapData) -> u32| d.iter().enumerate().fold(0u64, |acc, (i, x)| acc | (f(x) as u64) << (32 * i));
    let (eff, perm, inh) = (join(|x| x.effective), join(|x| x.permitted), join(|x| x.inheritable));
    let c = &t.creds;
    let inh_limit =
        if c.capable(CAP_SETPCAP) { c.cap_inheritable | t.cap_bset } else { c.cap_inheritable | c.cap_permitted };
    if perm & !c.cap_permitted != 0
        || eff & !perm != 0
        || inh & !inh_limit != 0
        || inh & !(c.cap_inheritable | t.cap_bset) != 0
    {
        return Err(Errno::EPERM);
    }
    let new = Credentials { cap_effective: eff, cap_permitted: perm, cap_inheritable: inh, ..t.creds.clone() };
    t.commit_creds(new);
    Ok(0)
}
