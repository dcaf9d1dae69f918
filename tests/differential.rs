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
        "sigreturn-bad-mxcsr",
        "sigreturn-bad-mxcsr-bit",
        "sigreturn-bad-xstate-bv",
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
    compare_host_programs(&[
        &["/bin/ls", "-la", "/etc/hostname", "/usr/bin/ls"],
        &["/bin/cat", "/etc/debian_version"],
        &["/usr/bin/head", "-n", "3", "/etc/passwd"],
        &["/usr/bin/stat", "-c", "%s %a %F %h %U", "/etc/passwd", "/usr", "/etc/os-release"],
        &["/usr/bin/wc", "-c", "/usr/bin/ls"],
        &["/usr/bin/sort", "-r", "/etc/shells"],
        &["/usr/bin/md5sum", "/usr/bin/true"],
        &["/bin/ls", "/nonexistent"],
        &["/usr/bin/readlink", "-f", "/proc/self/exe"],
    ]);
}

/// Runs each host program natively and in the sandbox: same stdout, same
/// stderr, same status.
fn compare_host_programs(cases: &[&[&str]]) {
    for args in cases {
        let bin = Path::new(args[0]);
        let n = common::native(bin, &args[1..], b"");
        let r = common::rvisor(&[], bin, &args[1..], b"");
        common::compare_outputs(&format!("{args:?}"), &n, &r, true);
    }
}

/// The issue's real programs that need no fork: coreutils, text tools, tar,
/// gzip, bash builtins with redirections and here-docs, python file work and
/// sqlite3, and the sqlite3 CLI. Natively they write under the host's /tmp,
/// in the sandbox under its own; names are unique and removed after.
#[test]
fn real_programs_from_the_host() {
    let tag = format!("rvisor-real-{}", std::process::id());
    let (db, cp) = (format!("/tmp/{tag}.db"), format!("/tmp/{tag}-cp"));
    let sql = "create table t(a, b); insert into t values (1, 'x'), (2, 'y'); \
               select group_concat(b), sum(a) from t; pragma integrity_check;";
    let python = "import os, tempfile, shutil, sqlite3, tarfile, gzip, io\n\
        d = tempfile.mkdtemp()\n\
        os.makedirs(os.path.join(d, 'a', 'b'))\n\
        for i in range(5):\n    open(os.path.join(d, 'a', 'b', f'f{i}'), 'w').write(str(i) * 1000)\n\
        shutil.copytree(d, d + '.copy')\n\
        print(sorted((os.path.relpath(r, d + '.copy'), sorted(fs)) for r, _, fs in os.walk(d + '.copy')))\n\
        c = sqlite3.connect(os.path.join(d, 'db'))\n\
        c.execute('create table t(a)'); c.executemany('insert into t values (?)', [(i,) for i in range(100)]); c.commit()\n\
        print(c.execute('select count(*), sum(a) from t').fetchone())\n\
        buf = io.BytesIO()\n\
        with tarfile.open(fileobj=buf, mode='w:gz') as t: t.add(d + '.copy', arcname='x')\n\
        buf.seek(0)\n\
        with tarfile.open(fileobj=buf, mode='r:gz') as t: print(sorted(m.name for m in t.getmembers()))\n\
        print(gzip.decompress(gzip.compress(b'round trip')).decode())\n\
        shutil.rmtree(d); shutil.rmtree(d + '.copy'); print(os.path.exists(d))\n";
    let f = format!("/tmp/{tag}.f");
    let bash = format!(
        "echo hi > {f}; read x < {f}; echo \"$x ${{#x}}\"; \
         while read l; do echo \"[$l]\"; done <<EOF\none\ntwo $x\nEOF\n\
         printf '%s\\n' a b c >> {f}; mapfile -t L < {f}; echo ${{#L[@]}} ${{L[2]}}"
    );
    compare_host_programs(&[
        &["/usr/bin/find", "/usr/share/doc/bash"],
        &["/usr/bin/du", "-s", "/usr/share/doc/bash"],
        &["/bin/grep", "-c", "root", "/etc/passwd"],
        &["/bin/sed", "-n", "1,3p", "/etc/passwd"],
        &["/usr/bin/awk", "-F:", "{print $1, $3}", "/etc/passwd"],
        &["/usr/bin/sha256sum", "/etc/passwd"],
        &["/bin/gzip", "-c", "/etc/passwd"],
        &["/bin/tar", "cf", "-", "/usr/share/doc/bash"],
        &["/bin/cp", "-rv", "/usr/share/doc/bash", &cp],
        &["/usr/bin/sqlite3", &db, sql],
        &["/usr/bin/python3", "-c", python],
        &["/bin/bash", "--norc", "-c", &bash],
    ]);
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(&f);
    let _ = std::fs::remove_dir_all(&cp);
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

/// Files held at exit, kill and exec close on the way out, /proc files among
/// them, with an inotify watch in the sandbox (issue 7: this wedged the Sentry).
#[test]
fn files_close_at_exit_and_exec() {
    compare("exit_files", &[], b"");
}

#[test]
fn rename_exchange() {
    compare("exchange", &[], b"");
}

#[test]
fn fork_wait_and_exit_statuses() {
    compare("fork", &[], b"");
}

#[test]
fn exec() {
    compare("exec", &[], b"");
}

#[test]
fn process_groups_and_sessions() {
    compare("pgrp", &[], b"");
}

#[test]
fn job_control() {
    compare("jobctl", &[], b"");
}

#[test]
fn signal_handlers_frames_and_masks() {
    compare("signals", &[], b"hi\n");
}

#[test]
fn sigchld_stop_continue_and_sigpipe() {
    compare("sigchld", &[], b"hi\n");
}

#[test]
fn timers_clocks_and_scheduling() {
    compare("timers", &[], b"hi\n");
}

/// PI futexes: the word protocol, hand-over at unlock and exit, timeouts,
/// signals, processes sharing a lock, and glibc's PRIO_INHERIT mutexes.
#[test]
fn pi_futexes() {
    compare("futex_pi", &[], b"");
}

/// The vDSO: mapped and announced as Linux's, exporting what the C libraries
/// look up, with clocks that agree with the system calls over many parameter
/// updates, never go back, and fault on bad pointers.
#[test]
fn vdso_clocks() {
    compare("vdso", &[], b"");
}

/// The processes issue's real programs: shells with pipelines, subshells,
/// background jobs, traps and command substitution; python threads,
/// subprocesses, process pools and signals; perl's fork; make -j2 with gcc;
/// git; timeout, xargs -P2 and sleep. Files go under /tmp (the host's
/// natively, the sandbox's own inside), with unique names removed after.
#[test]
fn real_programs_with_processes() {
    let tag = format!("rvisor-proc-{}", std::process::id());
    let dir = format!("/tmp/{tag}");
    let shell = "trap 'echo got USR1' USR1; kill -USR1 $$; \
        sleep 5 & pid=$!; kill %1; wait $pid; echo \"killed: $?\"; \
        (echo in a subshell; exit 3); echo \"subshell: $?\"; \
        echo \"$(echo substituted | tr a-z A-Z)\"; \
        seq 1 20 | grep 1 | sort -r | head -3; \
        seq 1 6 | xargs -P2 -n1 echo | sort -n | tr '\\n' ' '; echo; \
        timeout 1 sleep 5; echo \"timeout: $?\"; sleep 0.2; echo slept";
    let python = "import threading, subprocess, os, signal, time, concurrent.futures as cf\n\
        n = [0]; lock = threading.Lock()\n\
        def work():\n    for _ in range(2000):\n        with lock: n[0] += 1\n\
        ts = [threading.Thread(target=work) for _ in range(8)]\n\
        [t.start() for t in ts]; [t.join() for t in ts]; print('threads', n[0])\n\
        print(subprocess.run(['sh', '-c', 'echo from sh; exit 4'], capture_output=True))\n\
        pid = os.fork()\n\
        if pid == 0: os._exit(7)\n\
        print('fork', os.waitpid(pid, 0)[1] >> 8)\n\
        with cf.ThreadPoolExecutor(4) as ex: print('thread pool', sum(ex.map(lambda x: x * x, range(100))))\n\
        with cf.ProcessPoolExecutor(2) as ex: print('process pool', sum(ex.map(abs, range(-50, 50))))\n\
        got = []\n\
        signal.signal(signal.SIGALRM, lambda s, f: got.append(s))\n\
        signal.setitimer(signal.ITIMER_REAL, 0.05)\n\
        time.sleep(0.3); print('alarm', got)\n";
    let perl = "my $p = fork(); if ($p == 0) { print \"child\\n\"; exit 3 } waitpid($p, 0); print \"status \", $? >> 8, \"\\n\"";
    let make = format!(
        "mkdir -p {dir}/make && cd {dir}/make && \
         printf 'int f(void);\\n#include <stdio.h>\\nint main(void) {{ printf(\"%%d\\\\n\", f()); return 0; }}\\n' > a.c && \
         printf 'int f(void) {{ return 42; }}\\n' > b.c && \
         printf 'app: a.o b.o\\n\\tgcc -o app a.o b.o\\n%%%%.o: %%%%.c\\n\\tgcc -c $< -o $@\\n' > Makefile && \
         make -s -j2 && ./app"
    );
    let git = format!(
        "mkdir -p {dir}/git && cd {dir}/git && git init -q && git config user.email a@b.c && \
         git config user.name rvisor && echo hello > f && git add f && git commit -qm first && \
         echo more >> f && git commit -qam second && git log --format=%s && git status --short | wc -l"
    );
    compare_host_programs(&[
        &["/bin/bash", "--norc", "-c", shell],
        &["/bin/busybox", "sh", "-c", "echo a | tr a b; x=$(echo c); echo $x; sleep 0.1 & wait; echo done"],
        &["/usr/bin/python3", "-c", python],
        &["/usr/bin/perl", "-e", perl],
        &["/bin/sh", "-c", &make],
        &["/bin/sh", "-c", &git],
    ]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn signalfd_and_pidfds() {
    compare("eventfiles", &[], b"");
}

#[test]
fn ptrace_access_checks() {
    compare("ptrace_access", &[], b"");
}

#[test]
fn resource_limits_enforced() {
    compare("rlimits", &[], b"");
}

#[test]
fn stress_forks_signal_storm_threads_and_exec() {
    compare("stress", &[], b"");
}

#[test]
fn threads_futexes_and_robust_mutexes() {
    compare("threads", &[], b"");
}

#[test]
fn credentials_and_capabilities() {
    compare("creds", &[], b"");
}

#[test]
fn legacy_vsyscall_page() {
    compare("vsyscall", &[], b"");
}
