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
