//! Resource limits (getrlimit/setrlimit/prlimit64).

use abi::consts::*;
use abi::structs::Rlimit;

/// fs.nr_open: the highest RLIMIT_NOFILE the sandbox allows (Linux's default).
pub const NR_OPEN: u64 = 1 << 20;

#[derive(Clone, Debug)]
pub struct Limits {
    limits: [Rlimit; RLIM_NLIMITS as usize],
}

impl Limits {
    /// The limits the sandbox starts with: the launcher's own, as a process
    /// started from the same shell would have them.
    pub fn from_host() -> Limits {
        let mut limits = [Rlimit::default(); RLIM_NLIMITS as usize];
        for (r, l) in limits.iter_mut().enumerate() {
            let mut h = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: getrlimit writes one struct rlimit.
            if unsafe { libc::getrlimit(r as _, &mut h) } == 0 {
                *l = Rlimit { rlim_cur: h.rlim_cur, rlim_max: h.rlim_max };
            }
        }
        // fs.nr_open bounds the fd table, whatever the host allows.
        let nofile = &mut limits[RLIMIT_NOFILE as usize];
        nofile.rlim_cur = nofile.rlim_cur.min(NR_OPEN);
        nofile.rlim_max = nofile.rlim_max.min(NR_OPEN);
        Limits { limits }
    }

    pub fn get(&self, resource: u32) -> Rlimit {
        self.limits[resource as usize]
    }

    pub fn set(&mut self, resource: u32, l: Rlimit) {
        self.limits[resource as usize] = l;
    }
}
