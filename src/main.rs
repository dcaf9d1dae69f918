//! `rvisor`: runs untrusted Linux programs under the Sentry.

mod boot;
mod gofer_cmd;
mod launch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rvisor", version, about = "A user-space application kernel in the style of gVisor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone, Debug)]
pub struct SandboxOpts {
    /// How application code runs: ptrace (stub processes traced with
    /// PTRACE_SYSEMU). KVM comes with its own issue.
    #[arg(long, value_enum, default_value_t = PlatformKind::Ptrace)]
    platform: PlatformKind,
    /// Print one strace-style line per syscall (to stderr, or --strace-log).
    #[arg(long)]
    strace: bool,
    /// Write the --strace lines to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    strace_log: Option<PathBuf>,
    /// Write debug messages (e.g. unimplemented syscalls) to FILE.
    #[arg(long, value_name = "FILE")]
    debug_log: Option<PathBuf>,
    /// The sandbox's hostname.
    #[arg(long, default_value = "rvisor")]
    hostname: String,
    /// The directory the sandbox sees as its root (read-only, through the gofer).
    #[arg(long, value_name = "DIR", default_value = "/")]
    rootfs: PathBuf,
    /// The program's working directory, a path in the sandbox (default: the
    /// caller's working directory's path, which the sandbox must have).
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Mount host directory HOST at SANDBOX (absolute); writes reach the host
    /// unless :ro is given. Repeatable; not at /, /dev or /proc, and an
    /// inner volume after the outer one.
    #[arg(long = "volume", value_name = "HOST:SANDBOX[:ro]")]
    volumes: Vec<String>,
    /// Cap the sandbox's application memory at BYTES (suffixes k, m, g):
    /// past it, the Sentry's OOM killer ends a process of the sandbox.
    /// Default: the host's memory minus an eighth (at least 512 MiB).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    memory: Option<u64>,
    /// Cap the sandbox's tasks (processes and threads) at N: past it, fork
    /// and clone fail with EAGAIN. Default: 1024, or less on a host with a
    /// small pid space.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pids: Option<u32>,
    /// Print the host seccomp policies this sandbox would install (the
    /// Sentry's, its supervisor's, the stub factory's and stubs', the
    /// gofer's), with the reason for each rule, and exit without running.
    #[arg(long)]
    print_seccomp: bool,
    /// Make the Sentry try a forbidden host syscall once its seccomp filter is
    /// in force (it must be killed).
    #[arg(long, hide = true)]
    selftest_forbidden_syscall: bool,
}

/// The platforms rVisor can run application code on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformKind {
    Ptrace,
}

impl PlatformKind {
    pub fn name(self) -> &'static str {
        match self {
            PlatformKind::Ptrace => "ptrace",
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a program in a fresh sandbox: rvisor do [OPTIONS] -- PROG [ARGS...]
    Do {
        #[command(flatten)]
        opts: SandboxOpts,
        /// The program and its arguments. Everything after PROG is passed to
        /// it as is; an option of rvisor's own must come before PROG (and an
        /// unknown one is an error), and `--` lets PROG itself start with '-'.
        #[arg(required_unless_present = "print_seccomp", trailing_var_arg = true, value_name = "PROG")]
        argv: Vec<std::ffi::OsString>,
    },
    /// The Sentry process of a sandbox (started by rvisor itself).
    #[command(hide = true)]
    Boot(boot::BootArgs),
    /// The gofer process of a sandbox (started by rvisor itself).
    #[command(hide = true)]
    Gofer(gofer_cmd::GoferArgs),
    /// Print the syscall table (markdown).
    Syscalls,
}

/// A size in bytes, with an optional k, m or g suffix (powers of 1024).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a size: BYTES, or a number with k, m or g");
    let (digits, shift) = match s.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('k') => (&s[..s.len() - 1], 10),
        Some('m') => (&s[..s.len() - 1], 20),
        Some('g') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(1 << shift).ok_or_else(bad)?;
    if bytes < 1 << 20 {
        return Err(format!("{s:?}: the least is 1m"));
    }
    Ok(bytes)
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Do { opts, .. } if opts.print_seccomp => launch::print_seccomp(&opts),
        Command::Do { opts, argv } => launch::run_do(&opts, &argv),
        Command::Boot(args) => boot::boot(args),
        Command::Gofer(args) => gofer_cmd::gofer(args),
        Command::Syscalls => {
            print!("{}", syscalls::markdown_table());
            0
        }
    };
    std::process::exit(code);
}
