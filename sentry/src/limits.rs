//! Resource limits (getrlimit/setrlimit/prlimit64).

use std::sync::{Arc, Mutex};

use abi::consts::*;
use abi::structs::Rlimit;

/// fs.nr_open: the highest RLIMIT_NOFILE the sandbox allows (Linux's default).
pub const NR_OPEN: u64 = 1 << 20;

/// A process's resource limits, shared by its threads (`share`); a new
/// process gets a copy (`copy`).
#[derive(Debug)]
pub struct Limits {
    limits: Arc<Mutex<[Rlimit; RLIM_NLIMITS as usize]>>,
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
        Limits { limits: Arc::new(Mutex::new(limits)) }
    }

    pub fn get(&self, resource: u32) -> Rlimit {
        self.limits.lock().unwrap()[resource as usize]
    }

    pub fn set(&self, resource: u32, l: Rlimit) {
        self.limits.lock().unwrap()[resource as usize] = l;
    }

    /// The same limits, seen by another thread of the process.
    pub fn share(&self) -> Limits {
        Limits { limits: self.limits.clone() }
    }

    /// Limits of their own for a new process, equal to these now.
    pub fn copy(&self) -> Limits {
        Limits { limits: Arc::new(Mutex::new(*self.limits.lock().unwrap())) }
    }
}
