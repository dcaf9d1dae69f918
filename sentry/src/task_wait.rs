//! wait4 and waitid: Linux's do_wait. A parent finds a child whose state
//! change it asks for (exit, stop, continue), and reaps it unless WNOWAIT.

use abi::consts::*;
use abi::signal::*;
use abi::Errno;

use crate::process::{JobReport, Life};
use crate::Task;

/// Which children a wait is for.
#[derive(Clone, Copy, Debug)]
pub enum Which {
    Any,
    Pid(i32),
    Pgid(i32),
}

/// A child's state change, as a wait reports it.
pub struct ChildEvent {
    pub pid: i32,
    /// The wait4 status word.
    pub status: i32,
    /// waitid's si_code and si_status.
    pub code: i32,
    pub si_status: i32,
    /// The child's resource use (with its own reaped children's).
    pub usage: crate::process::Usage,
}

/// Finds (or with WNOHANG, looks for) a child whose state change `options`
/// ask for; consumes it unless WNOWAIT.
pub fn wait_child(t: &Task, which: Which, options: i32) -> Result<Option<ChildEvent>, Errno> {
    let kernel = t.kernel.clone();
    let mut ts = kernel.tasks.lock().unwrap();
    loop {
        let me = ts.current_process(t);
        let kids: Vec<i32> = me
            .children
            .iter()
            .filter_map(|c| ts.process(*c))
            .filter(|p| {
                let selected = match which {
                    Which::Any => true,
                    Which::Pid(pid) => p.tgid == pid,
                    Which::Pgid(g) => p.pgid == g,
                };
                // __WCLONE: children that report with another signal than
                // SIGCHLD; __WALL: all.
                let clone_child = p.exit_signal != SIGCHLD;
                selected && (options & WALL != 0 || clone_child == (options & WCLONE != 0))
            })
            .map(|p| p.tgid)
            .collect();
        if kids.is_empty() {
            return Err(Errno::ECHILD);
        }
        let keep = options & WNOWAIT != 0;
        for k in kids {
            let Some(p) = ts.process(k) else { continue };
            if let (Life::Zombie(st), true) = (p.life, options & WEXITED != 0) {
                let (code, si_status) = st.child_code();
                let mut usage = p.usage;
                usage.add(&p.children_usage);
                if !keep {
                    ts.reap(k);
                }
                return Ok(Some(ChildEvent { pid: k, status: st.wait_status(), code, si_status, usage }));
            }
            let usage = ts.process_usage(k);
            let Some(p) = ts.process_mut(k) else { continue };
            match p.job_report {
                Some(JobReport::Stopped(sig)) if options & WUNTRACED != 0 => {
                    if !keep {
                        p.job_report = None;
                    }
                    let status = (sig << 8) | 0x7f;
                    return Ok(Some(ChildEvent { pid: k, status, code: CLD_STOPPED, si_status: sig, usage }));
                }
                Some(JobReport::Continued) if options & WCONTINUED != 0 => {
                    if !keep {
                        p.job_report = None;
                    }
                    let status = 0xffff;
                    return Ok(Some(ChildEvent { pid: k, status, code: CLD_CONTINUED, si_status: SIGCONT, usage }));
                }
                _ => {}
            }
        }
        if options & WNOHANG != 0 {
            return Ok(None);
        }
        let events = ts.current_process(t).child_events.clone();
        ts = events.sleep(&kernel.tasks, ts)?;
    }
}
