//! Resource limits (getrlimit/setrlimit/prlimit64).

use abi::consts::*;
use abi::structs::Rlimit;

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
        Limits { limits }
    }

    pub fn get(&self, resource: u32) -> Rlimit {
        self.limits[resource as usize]
    }

    pub fn set(&mut self, resource: u32, l: Rlimit) {
        self.limits[resource as usize] = l;
    }
}
