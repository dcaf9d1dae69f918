//! The sandbox's OOM killer. The memory file caps the application memory a
//! sandbox may hold (`--memory`); an allocation past the cap fails, and, as
//! in Linux, a process is killed to make room and the allocation is tried
//! again. So the host's OOM killer never has to end the Sentry.
//!
//! The choice is Linux's oom_badness: the process with the most memory,
//! counted in pages, plus its oom_score_adj in thousandths of the cap;
//! -1000 is never chosen. Rounds run on a Sentry thread of their own, which
//! holds no lock when it looks at every address space; the task that hit
//! the cap gave up its locks (its fault or syscall returned ENOMEM) and
//! waits for the round before it tries again.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use abi::consts::PAGE_SIZE;
use abi::signal::{SigInfo, SIGKILL, SI_KERNEL};

use vfs::memfile::MemoryFile;

use crate::process::Target;
use crate::process::Tasks;

/// The oom_score_adj that exempts a process.
pub const OOM_SCORE_ADJ_MIN: i32 = -1000;
pub const OOM_SCORE_ADJ_MAX: i32 = 1000;

/// How long a round waits for its victim's memory to come back.
const VICTIM_GRACE: Duration = Duration::from_secs(2);
/// How long a task waits for a round before it gives up (and its
/// allocation fails for good).
const ROUND_WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Rounds {
    /// Rounds asked for, and rounds finished.
    asked: u64,
    done: u64,
    /// Whether the last round made room (killed a process, or found memory
    /// back): when it could not, every process being exempt, the
    /// allocation fails for good.
    made_room: bool,
}

#[derive(Default)]
pub struct OomKiller {
    rounds: Mutex<Rounds>,
    /// Wakes the killer's thread.
    ask: Condvar,
    /// Wakes tasks waiting for a round.
    finished: Condvar,
}

impl OomKiller {
    /// Asks for a round. Never blocks: the memory file calls it where an
    /// allocation failed, locks held.
    pub fn request(&self) {
        self.rounds.lock().unwrap().asked += 1;
        self.ask.notify_one();
    }

    /// Waits until a round asked for by now has finished (or a while), or
    /// until `killed` says the waiting task itself is being killed (it may
    /// be the round's victim, whose end the round waits for). Whether to
    /// try the allocation again: false when the round could make no room.
    pub fn wait_round(&self, killed: &dyn Fn() -> bool) -> bool {
        let deadline = Instant::now() + ROUND_WAIT;
        let mut r = self.rounds.lock().unwrap();
        let want = r.asked.max(r.done + 1);
        if r.asked < want {
            r.asked = want;
            self.ask.notify_one();
        }
        while r.done < want && !killed() && Instant::now() < deadline {
            r = self.finished.wait_timeout(r, Duration::from_millis(5)).unwrap().0;
        }
        r.done < want || r.made_room
    }

    /// Starts the killer's thread. `round` runs one round (see
    /// `kill_one`), or says the kernel is gone (None), which ends the thread.
    pub fn start(self: &Arc<Self>, round: impl Fn() -> Option<bool> + Send + 'static) -> std::io::Result<()> {
        let oom = self.clone();
        std::thread::Builder::new().spawn(move || oom.run(round)).map(|_| ())
    }

    fn run(&self, round: impl Fn() -> Option<bool>) {
        loop {
            let target = {
                let mut r = self.rounds.lock().unwrap();
                while r.asked == r.done {
                    r = self.ask.wait(r).unwrap();
                }
                r.asked
            };
            let Some(made_room) = round() else { return };
            let mut r = self.rounds.lock().unwrap();
            r.done = r.done.max(target);
            r.made_room = made_room;
            self.finished.notify_all();
        }
    }
}

/// Linux's oom_badness, in pages: resident pages plus the adjustment in
/// thousandths of the cap. None for an exempt process.
pub fn badness(resident: u64, adj: i32, limit: u64) -> Option<i64> {
    if adj <= OOM_SCORE_ADJ_MIN {
        return None;
    }
    let total = (limit / PAGE_SIZE) as i64;
    Some((resident / PAGE_SIZE) as i64 + adj as i64 * total / 1000)
}

/// One round over the sandbox's memory file and tasks: if memory is still
/// short, kill the process with the worst badness and wait (a while) until
/// its memory is back. Whether there is room now, or a process was killed
/// for it.
pub fn kill_one(memfile: &MemoryFile, tasks: &Mutex<Tasks>) -> bool {
    let limit = memfile.limit();
    // Room for a fault's whole chunk: nothing to do.
    if memfile.used() + crate::mm::FAULT_CHUNK <= limit {
        return true;
    }
    // The candidates' address spaces, taken under the task lock and
    // measured without it.
    let candidates: Vec<(i32, i32, Arc<crate::mm::MemoryManager>)> = {
        let ts = tasks.lock().unwrap();
        ts.processes
            .values()
            .filter(|p| p.alive())
            .filter_map(|p| {
                let view = &ts.threads.get(p.threads.first()?)?.view;
                Some((p.tgid, p.oom_score_adj, view.mm.clone()))
            })
            .collect()
    };
    let victim = candidates
        .iter()
        .filter_map(|(tgid, adj, mm)| Some((badness(mm.resident_bytes(), *adj, limit)?, *tgid, mm.resident_bytes())))
        .max_by_key(|&(score, tgid, _)| (score, -tgid));
    drop(candidates);
    let Some((_, tgid, resident)) = victim else {
        tracing::warn!(limit, "out of memory, and every process is exempt (oom_score_adj -1000)");
        return false;
    };
    tracing::warn!(pid = tgid, resident_kb = resident / 1024, limit, "out of memory: killed process");
    if tasks.lock().unwrap().send(Target::Process(tgid), SigInfo::new(SIGKILL, SI_KERNEL)).is_err() {
        return false;
    }
    // Until the victim is gone (its memory freed) or memory is back.
    let deadline = Instant::now() + VICTIM_GRACE;
    while Instant::now() < deadline {
        let gone = tasks.lock().unwrap().process(tgid).is_none_or(|p| p.threads.is_empty());
        if gone || memfile.used() + crate::mm::FAULT_CHUNK <= limit {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badness_follows_linux() {
        let limit = 1000 * PAGE_SIZE;
        assert_eq!(badness(10 * PAGE_SIZE, 0, limit), Some(10));
        assert_eq!(badness(10 * PAGE_SIZE, 500, limit), Some(510));
        assert_eq!(badness(10 * PAGE_SIZE, -999, limit), Some(-989));
        assert_eq!(badness(10 * PAGE_SIZE, OOM_SCORE_ADJ_MIN, limit), None);
        // A small process asking to go first beats a big one.
        assert!(badness(PAGE_SIZE, 1000, limit) > badness(900 * PAGE_SIZE, 0, limit));
    }
}
