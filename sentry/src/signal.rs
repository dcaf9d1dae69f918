//! Signal dispositions and their default actions. Sending and delivery are in
//! `process` and `task`, frames in `sigframe`.

use abi::signal::*;

/// What a signal does when its disposition is SIG_DFL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    CoreDump,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: i32) -> DefaultAction {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGCONT => DefaultAction::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => {
            DefaultAction::CoreDump
        }
        _ => DefaultAction::Terminate,
    }
}

/// The sigaction table of a thread group.
#[derive(Clone, Debug)]
pub struct SignalHandlers {
    actions: [KernelSigaction; SIGRTMAX as usize],
}

impl Default for SignalHandlers {
    fn default() -> Self {
        SignalHandlers { actions: [KernelSigaction::default(); SIGRTMAX as usize] }
    }
}

impl SignalHandlers {
    pub fn get(&self, sig: i32) -> KernelSigaction {
        self.actions[(sig - 1) as usize]
    }

    pub fn set(&mut self, sig: i32, act: KernelSigaction) {
        self.actions[(sig - 1) as usize] = act;
    }

    /// CLONE_CLEAR_SIGHAND: handled signals go back to SIG_DFL.
    pub fn reset_handled(&mut self) {
        for a in &mut self.actions {
            if a.handler != SIG_IGN {
                *a = KernelSigaction::default();
            }
        }
    }

    /// execve: handled signals go back to SIG_DFL, ignored ones stay
    /// ignored; no flags or masks survive.
    pub fn reset_for_exec(&mut self) {
        for a in &mut self.actions {
            let ignored = a.handler == SIG_IGN;
            *a = KernelSigaction { handler: if ignored { SIG_IGN } else { SIG_DFL }, ..Default::default() };
        }
    }
}
