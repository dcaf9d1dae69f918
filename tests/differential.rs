//! The differential harness: each guest program runs natively and under
//! `rvisor do`; stdout and exit status must be the same.

mod common;

use std::path::Path;

use common::compare;

#[test]
fn args_env_and_auxv() {
    compare("args_env_auxv", &[], b"");
    compare("args_env_auxv", &["one", "two words", "", "--flag=3"], b"");
}

#[test]
fn stdio_io() {
    let mut stdin = b"abcdefghij\n".to_vec();
    stdin.extend(std::iter::repeat_n(b'q', 200_000));
    compare("stdio_io", &[], &stdin);
}

#[test]
fn memory() {
    compare("memory", &[], b"some stdin data\n");
}

#[test]
fn misc_calls() {
    compare("misc", &[], b"");
}

#[test]
fn exit_codes() {
    for code in ["0", "1", "42", "255", "256", "-1"] {
        compare("exit_signal", &[code], b"");
    }
    compare("exit_signal", &["exit-thread"], b"");
}

#[test]
fn death_by_signal() {
    for how in [
        "null",
        "kernel-addr",
        "noncanonical",
        "prot-none",
        "ro-write",
        "unmapped",
        "stack-overflow",
        "munmap-everything",
        "abort",
        "raise-term",
        "kill-self",
        "ignored-term",
        "blocked-then-unblocked",
        "sigchld-default",
        "divide",
        "ud2",
        "int3",
        "hlt",
    ] {
        compare("exit_signal", &[how], b"");
    }
}

#[test]
fn files_and_directories() {
    compare("files", &[], b"");
}

#[test]
fn dev_memory_devices() {
    compare("devices", &[], b"");
}

#[test]
fn proc_self() {
    compare("proc", &[], b"");
}

/// Dynamic programs from the host's own root, loaded by ld.so in the sandbox,
/// against the same programs run natively.
#[test]
fn dynamic_host_programs() {
    let cases: &[&[&str]] = &[
        &["/bin/ls", "-la", "/etc/hostname", "/usr/bin/ls"],
        &["/bin/cat", "/etc/debian_version"],
        &["/usr/bin/head", "-n", "3", "/etc/passwd"],
        &["/usr/bin/stat", "-c", "%s %a %F %h %U", "/etc/passwd", "/usr", "/etc/os-release"],
        &["/usr/bin/wc", "-c", "/usr/bin/ls"],
        &["/usr/bin/sort", "-r", "/etc/shells"],
        &["/usr/bin/md5sum", "/usr/bin/true"],
        &["/bin/ls", "/nonexistent"],
        &["/usr/bin/readlink", "-f", "/proc/self/exe"],
    ];
    for args in cases {
        let bin = Path::new(args[0]);
        let n = common::native(bin, &args[1..], b"");
        let r = common::rvisor(&[], bin, &args[1..], b"");
        assert_eq!(
            String::from_utf8_lossy(&n.stdout),
            String::from_utf8_lossy(&r.stdout),
            "{args:?}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert_eq!(
            common::shell_status(&n),
            common::shell_status(&r),
            "{args:?}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
}

#[test]
fn poll_and_ppoll() {
    compare("poll", &[], b"input\n");
}

#[test]
fn more_file_calls() {
    compare("fsmisc", &[], b"piped input\n");
}

#[test]
fn pipes_and_fifos() {
    compare("pipes", &[], b"");
}

#[test]
fn eventfds() {
    compare("eventfd", &[], b"");
}

#[test]
fn splice_tee_and_copy_file_range() {
    compare("splice", &[], b"");
}

#[test]
fn epoll() {
    compare("epoll", &[], b"");
}

#[test]
fn fallocate() {
    compare("fallocate", &[], b"");
}

#[test]
fn openat2_resolve_scopes() {
    compare("openat2", &[], b"");
}

#[test]
fn o_tmpfile() {
    compare("tmpfile", &[], b"");
}

#[test]
fn memfd_seals() {
    compare("seals", &[], b"");
}

#[test]
fn inotify_events() {
    compare("inotify", &[], b"");
}
