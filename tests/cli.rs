//! `rvisor` driven as a user drives it: real programs, --strace, exit status,
//! bad input, and the Sentry's confinement.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{build_guest, native, rvisor, shell_status, Link, RVISOR};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn hello_static_and_static_pie_with_and_without_strace() {
    for link in [Link::Static, Link::StaticPie] {
        let bin = build_guest("hello", link);
        let plain = rvisor(&[], &bin, &["world"], b"");
        assert_eq!(String::from_utf8_lossy(&plain.stdout), "hello from world\n");
        assert_eq!(shell_status(&plain), 0, "{}", stderr(&plain));
        assert!(plain.stderr.is_empty(), "no strace output without --strace: {}", stderr(&plain));

        let traced = rvisor(&["--strace"], &bin, &["world", "x"], b"");
        assert_eq!(String::from_utf8_lossy(&traced.stdout), "hello from world\n");
        assert_eq!(shell_status(&traced), 7);
        let err = stderr(&traced);
        assert!(err.contains(r#"[1:1] write(1, "hello from world\n", 17) = 17 <"#), "{err}");
        assert!(err.contains("[1:1] exit_group(7) = ?"), "{err}");
        assert!(err.contains("brk(NULL) = 0x"), "{err}");
        assert!(err.contains("-1 ENOSYS (Function not implemented)"), "rseq is refused: {err}");
        for line in err.lines() {
            assert!(line.starts_with("[1:1] ") && line.contains(" = "), "not an strace line: {line}");
        }
    }
}

#[test]
fn strace_log_goes_to_a_file() {
    let bin = build_guest("hello", Link::Static);
    let log = common::test_dir().join("strace.log");
    let o = rvisor(&["--strace-log", log.to_str().unwrap()], &bin, &[], b"");
    assert_eq!(shell_status(&o), 0);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("write(1, \"hello from the sandbox\\n\", 23) = 23"), "{text}");
    // Errors are shown with their errno name and message.
    let bad = build_guest("stdio_io", Link::Static);
    let o = rvisor(&["--strace-log", log.to_str().unwrap()], &bad, &[], b"x");
    assert_eq!(shell_status(&o), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("read(99, 0x") && text.contains("= -1 EBADF (Bad file descriptor)"), "{text}");
    assert!(text.contains("= -1 EFAULT (Bad address)"), "{text}");
}

fn busybox() -> Option<&'static str> {
    ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| Path::new(p).exists())
}

#[test]
fn busybox_applets() {
    let Some(bb) = busybox() else {
        panic!("busybox-static is required (apt-get install busybox-static; .ci/run installs it)");
    };
    let bb = Path::new(bb);
    let o = rvisor(&[], bb, &["echo", "hello", "world"], b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello world\n");
    assert_eq!(shell_status(&o), 0, "{}", stderr(&o));
    let o = rvisor(&["--strace"], bb, &["echo", "-n", "traced"], b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "traced");
    assert!(stderr(&o).contains("write(1, \"traced\", 6) = 6"), "{}", stderr(&o));
    // Applets that need no files, against the same applets run natively.
    for args in [
        &["cat"][..],
        &["wc", "-c"],
        &["tr", "a-z", "A-Z"],
        &["sort"],
        &["uniq", "-c"],
        &["expr", "6", "*", "7"],
        &["seq", "3", "12"],
        &["printf", "%05d|%s\\n", "42", "x"],
        &["false"],
        &["true"],
        &["sh", "-c", "echo $((6*7)); exit 3"],
    ] {
        let input = b"banana\napple\napple\ncherry\n";
        let n = native(bb, args, input);
        let r = rvisor(&[], bb, args, input);
        assert_eq!(String::from_utf8_lossy(&n.stdout), String::from_utf8_lossy(&r.stdout), "busybox {args:?}");
        assert_eq!(shell_status(&n), shell_status(&r), "busybox {args:?}: {}", stderr(&r));
    }
    let o = rvisor(&[], bb, &["uname", "-n", "-s", "-m"], b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Linux rvisor x86_64\n");
    let mut c = Command::new(RVISOR);
    c.args(["do", "--hostname", "sandbox7", "--"]).arg(bb).args(["uname", "-n"]);
    let o = common::run(c, b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "sandbox7\n");
}

#[test]
fn exit_status_and_death_by_signal() {
    let bin = build_guest("exit_signal", Link::Static);
    for (arg, want) in
        [("0", 0), ("3", 3), ("255", 255), ("null", 139), ("prot-none", 139), ("abort", 134), ("divide", 136)]
    {
        let o = rvisor(&[], &bin, &[arg], b"");
        assert_eq!(shell_status(&o), want, "{arg}: {}", stderr(&o));
        assert!(o.status.code().is_some(), "rvisor itself exits (128+signal), it is not killed");
    }
}

#[test]
fn missing_garbage_and_unrunnable_executables() {
    let dir = common::test_dir().join("bad-exe");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, data: &[u8], mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let real = std::fs::read(build_guest("hello", Link::Static)).unwrap();
    let mut bad_phdrs = real.clone();
    bad_phdrs[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // e_phoff
    let mut wrong_machine = real.clone();
    wrong_machine[18] = 3; // EM_386
    let cases: Vec<(&str, std::path::PathBuf, i32, &str)> = vec![
        ("empty", write("empty", b"", 0o755), 126, "Exec format error"),
        ("garbage", write("garbage", &[0x55; 4096], 0o755), 126, "bad magic"),
        ("truncated", write("truncated", &real[..real.len() / 3], 0o755), 126, "Exec format error"),
        ("header only", write("header", &real[..64], 0o755), 126, "Exec format error"),
        ("bad phoff", write("badph", &bad_phdrs, 0o755), 126, "program headers"),
        ("wrong machine", write("i386", &wrong_machine, 0o755), 126, "x86-64"),
        ("not executable", write("noexec", &real, 0o644), 126, "Permission denied"),
        ("directory", dir.clone(), 126, "Is a directory"),
        ("missing", dir.join("does-not-exist"), 127, "No such file"),
    ];
    for (what, path, code, msg) in cases {
        let o = rvisor(&[], &path, &[], b"");
        assert_eq!(shell_status(&o), code, "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{what}: want '{msg}' in: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{what}: {}", stderr(&o));
    }
    let o = common::run(
        {
            let mut c = Command::new(RVISOR);
            c.args(["do", "--", "no-such-command-anywhere"]);
            c
        },
        b"",
    );
    assert_eq!(shell_status(&o), 127);
    assert!(stderr(&o).contains("command not found"), "{}", stderr(&o));
    // A dynamic executable whose interpreter is missing: ENOENT, as Linux says.
    let dynamic = std::fs::read("/bin/true").unwrap();
    let at = dynamic.windows(10).position(|w| w == b"/lib64/ld-").expect("a PT_INTERP string");
    let mut broken = dynamic.clone();
    broken[at + 1..at + 6].copy_from_slice(b"nope_");
    let p = write("no-interp", &broken, 0o755);
    let o = rvisor(&[], &p, &[], b"");
    assert_eq!(shell_status(&o), 127, "{}", stderr(&o));
    assert!(stderr(&o).contains("interpreter /nope_"), "{}", stderr(&o));
}

#[test]
fn unknown_syscalls_are_enosys_and_logged_once() {
    let bin = build_guest("misc", Link::Static);
    let log = common::test_dir().join("debug.log");
    let o = rvisor(&["--debug-log", log.to_str().unwrap()], &bin, &[], b"");
    assert_eq!(shell_status(&o), 0, "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("unknown syscall 500 = -1 ENOSYS"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("unimplemented syscall 500 ").count(), 1, "{text}");
}

/// Finds the sandbox's Sentry (the child of the rvisor process running `do`)
/// and its stub (the Sentry's child).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if ppid == pid {
            out.push(p);
        }
    }
    out
}

fn status_field(pid: u32, field: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines().find(|l| l.starts_with(field)).unwrap_or_default().split_once(':').unwrap().1.trim().to_string()
}

/// The host processes of one sandbox, found from its launcher (`rvisor do`).
struct SandboxProcesses {
    /// `rvisor boot` as the launcher started it, outside the namespaces.
    supervisor: u32,
    /// Its child: the Sentry, pid 1 of its own pid namespace.
    sentry: u32,
    /// The stub processes the Sentry's threads trace.
    stubs: Vec<u32>,
    gofer: u32,
}

fn role(pid: u32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

fn is_role(pid: u32, word: &[u8]) -> bool {
    role(pid).split(|&b| b == 0).nth(1) == Some(word)
}

/// Every process that descends from `pid` (children of any of its threads).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = children(pid);
    let mut i = 0;
    while i < out.len() {
        let more = children(out[i]);
        out.extend(more);
        i += 1;
    }
    out
}

/// Waits until the launcher `pid` has a supervisor, a Sentry with at least
/// `stubs` stub processes, and a gofer.
fn sandbox_processes(pid: u32, stubs: usize) -> SandboxProcesses {
    for _ in 0..500 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let kids = children(pid);
        let supervisor = kids.iter().copied().find(|&p| is_role(p, b"boot"));
        let gofer = kids.iter().copied().find(|&p| is_role(p, b"gofer"));
        let (Some(supervisor), Some(gofer)) = (supervisor, gofer) else { continue };
        let Some(&sentry) = children(supervisor).first() else { continue };
        // Stubs are the Sentry's descendants that some Sentry thread traces.
        let traced: Vec<u32> = descendants(sentry)
            .into_iter()
            .filter(|&p| {
                let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
                let tracer = status.lines().find_map(|l| l.strip_prefix("TracerPid:")).map(str::trim);
                tracer.is_some_and(|t| t != "0" && std::path::Path::new(&format!("/proc/{sentry}/task/{t}")).exists())
            })
            .collect();
        if traced.len() >= stubs {
            return SandboxProcesses { supervisor, sentry, stubs: traced, gofer };
        }
    }
    panic!("no supervisor, sentry, stubs and gofer under launcher {pid}");
}

/// The threads of process `pid`.
fn threads(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

#[test]
fn sentry_is_under_seccomp_and_pinned_with_its_stub() {
    let bin = build_guest("read_stdin_block", Link::Static);
    let mut child = Command::new(RVISOR)
        .arg("do")
        .arg("--")
        .arg(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The application blocks reading stdin: find the Sentry, its stub and the gofer.
    let SandboxProcesses { sentry, stubs, gofer, .. } = sandbox_processes(child.id(), 1);
    let stub = stubs[0];
    assert_eq!(status_field(gofer, "Seccomp"), "2", "the gofer runs under its own seccomp filter");
    assert_eq!(status_field(gofer, "NoNewPrivs"), "1");
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    assert_ne!(ns(&gofer.to_string()), ns("self"), "the gofer has a mount namespace of its own");
    // The Sentry is sealed: its own mount namespace, an empty root.
    assert_ne!(ns(&sentry.to_string()), ns("self"));
    let root_entries = std::fs::read_dir(format!("/proc/{sentry}/root")).unwrap().count();
    assert_eq!(root_entries, 0, "the Sentry's root is empty");
    assert_eq!(status_field(sentry, "Seccomp"), "2", "the Sentry runs under a seccomp filter");
    assert_eq!(status_field(sentry, "NoNewPrivs"), "1");
    assert_eq!(status_field(stub, "Seccomp"), "2", "the stub has its own filter");
    // A thread of the Sentry (the task's own) traces the stub, and the two
    // share one CPU.
    let tracer = status_field(stub, "TracerPid");
    let task_status = std::fs::read_to_string(format!("/proc/{sentry}/task/{tracer}/status"))
        .expect("the stub's tracer is a thread of the Sentry");
    let cpus = status_field(stub, "Cpus_allowed_list");
    assert!(!cpus.contains(',') && !cpus.contains('-'), "stub pinned to one CPU: {cpus}");
    assert!(task_status.lines().any(|l| l.starts_with("Cpus_allowed_list:") && l.ends_with(&cpus)));
    // The stub keeps nothing of the Sentry: application memory (the memory
    // file), one page of stub code, and no fds but the memory file.
    let maps = std::fs::read_to_string(format!("/proc/{stub}/maps")).unwrap();
    let other: Vec<&str> =
        maps.lines().filter(|l| !l.contains("/memfd:rvisor-memory") && !l.contains("[vsyscall]")).collect();
    assert_eq!(other.len(), 1, "only the stub page besides application memory: {maps}");
    let range = other[0].split(' ').next().unwrap();
    let (a, b) = range.split_once('-').unwrap();
    let len = u64::from_str_radix(b, 16).unwrap() - u64::from_str_radix(a, 16).unwrap();
    assert_eq!(len, 4096, "{maps}");
    assert!(other[0].contains(" r-xp "), "{maps}");
    let fds = std::fs::read_dir(format!("/proc/{stub}/fd")).unwrap().count();
    assert_eq!(fds, 1, "the stub holds only the memory file");
    child.stdin.take().unwrap().write_all(b"12345").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "read 5 bytes\n");
}

/// How a privilege test starts rvisor: as root, as a plain user, or as a
/// plain user's root in a user namespace of its own (rootless).
#[derive(Clone, Copy, Debug)]
enum Caller {
    Root,
    User,
    Rootless,
}

/// The unprivileged host id the tests run rvisor as.
const TEST_UID: u32 = 4242;

/// The host id the sandbox's processes run as, for each caller.
fn sandbox_host_id(caller: Caller) -> u32 {
    match caller {
        Caller::Root => 65534,
        Caller::User | Caller::Rootless => TEST_UID,
    }
}

/// Checks a process: `host_id` as every uid and gid, no capability (none in
/// the bounding set either, with `bounded`), seccomp and no_new_privs.
/// A thread that has meanwhile ended is skipped.
fn assert_no_privilege(pid: u32, what: &str, host_id: u32, bounded: bool) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return };
    assert_status_unprivileged(&status, pid, what, host_id, bounded);
}

/// `assert_no_privilege` on the text of /proc/`pid`/status, read once.
fn assert_status_unprivileged(status: &str, pid: u32, what: &str, host_id: u32, bounded: bool) {
    let field = |name: &str| {
        let line = status.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':'));
        line.unwrap_or_default().trim().to_string()
    };
    let id = format!("{host_id}\t{host_id}\t{host_id}\t{host_id}");
    assert_eq!(field("Uid"), id, "{what} {pid}: uids");
    assert_eq!(field("Gid"), id, "{what} {pid}: gids");
    let sets: &[&str] = if bounded {
        &["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
    } else {
        &["CapInh", "CapPrm", "CapEff", "CapAmb"]
    };
    for set in sets {
        assert_eq!(field(set), "0000000000000000", "{what} {pid}: {set}");
    }
    assert_eq!(field("Seccomp"), "2", "{what} {pid}: under a seccomp filter");
    assert_eq!(field("NoNewPrivs"), "1", "{what} {pid}: no_new_privs");
}

/// Checks stub process `stub` and its threads: no privilege, in the
/// Sentry's pid namespace. False (having checked what it read) if the stub
/// ended meanwhile.
fn check_stub(stub: u32, caller: Caller, host_id: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{stub}/status")) else { return false };
    let what = format!("{caller:?}: stub");
    assert_status_unprivileged(&status, stub, &what, host_id, true);
    let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:")).unwrap_or_default().trim();
    assert_eq!(nspid.split('\t').count(), 2, "{what} {stub}: in the Sentry's pid namespace: {nspid}");
    for t in threads(stub) {
        assert_no_privilege(t, &format!("{what} thread"), host_id, true);
    }
    std::path::Path::new(&format!("/proc/{stub}")).exists()
}

fn check_sandbox_privilege(caller: Caller) {
    let mut cmd = match caller {
        Caller::Root => Command::new(RVISOR),
        Caller::User | Caller::Rootless => {
            let mut c = Command::new("setpriv");
            let id = TEST_UID.to_string();
            c.args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"]);
            if matches!(caller, Caller::Rootless) {
                c.args(["unshare", "--user", "--map-root-user", "--"]);
            }
            c.arg(RVISOR);
            c
        }
    };
    // Processes (sh and two cats) on stubs of their own, blocked on stdin.
    let script = "cat >/dev/null & cat >/dev/null; wait";
    cmd.args(["do", "--", "/bin/busybox", "sh", "-c", script])
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // setpriv and unshare exec in place: the launcher keeps the pid.
    let procs = sandbox_processes(child.id(), 2);
    let host_id = sandbox_host_id(caller);
    // The Sentry: pid 1 of a pid namespace of its own, in a user namespace
    // that maps one unprivileged host id, with no capability anywhere.
    let nspid = status_field(procs.sentry, "NSpid");
    assert_eq!(nspid.split('\t').nth(1), Some("1"), "{caller:?}: the Sentry is pid 1 of its pid namespace: {nspid}");
    let map = std::fs::read_to_string(format!("/proc/{}/uid_map", procs.sentry)).unwrap();
    let fields: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "{caller:?}: one line maps one id: {map}");
    assert_eq!((fields[1], fields[2]), (host_id.to_string().as_str(), "1"), "{caller:?}: {map}");
    for ns in ["user", "pid", "net", "ipc", "uts", "mnt"] {
        let of = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_ne!(of(&procs.sentry.to_string()), of("self"), "{caller:?}: the Sentry's own {ns} namespace");
    }
    for t in threads(procs.sentry) {
        assert_no_privilege(t, &format!("{caller:?}: Sentry thread"), host_id, true);
    }
    // Stubs come and go while the sandbox starts: the shell's child runs on
    // a stub of its own until it execs cat, whose new address space takes a
    // new stub, and the old one is killed. A stub found a moment ago may be
    // gone before it is checked (under load, often), so the stubs are
    // looked for again until every stub found was checked whole; the
    // sandbox settles (sh and two cats, blocked on stdin) and keeps its
    // stubs until stdin closes. Whatever a pass reads is checked.
    let mut whole = false;
    for _ in 0..100 {
        let procs = sandbox_processes(child.id(), 2);
        if procs.stubs.iter().all(|&stub| check_stub(stub, caller, host_id)) {
            whole = true;
            break;
        }
    }
    assert!(whole, "{caller:?}: the sandbox's stubs never stayed alive long enough to be checked");
    // An unprivileged supervisor cannot empty its bounding set (it has no
    // CAP_SETPCAP), and with nothing permitted gains nothing from it.
    let bounded = matches!(caller, Caller::Root);
    assert_no_privilege(procs.supervisor, &format!("{caller:?}: supervisor"), host_id, bounded);
    // The gofer keeps only what reading the rootfs takes: DAC_OVERRIDE and
    // DAC_READ_SEARCH.
    let gofer_caps = u64::from_str_radix(&status_field(procs.gofer, "CapEff"), 16).unwrap();
    assert_eq!(gofer_caps & !0x6, 0, "{caller:?}: gofer capabilities {gofer_caps:#x}");
    assert_eq!(status_field(procs.gofer, "Seccomp"), "2");
    assert_eq!(status_field(procs.gofer, "NoNewPrivs"), "1");
    // The gofer sees the read-only rootfs through read-only mounts only:
    // no write below it can succeed, whatever its code asks.
    let mounts = std::fs::read_to_string(format!("/proc/{}/mountinfo", procs.gofer)).unwrap();
    for line in mounts.lines() {
        let options = line.split(' ').nth(5).unwrap_or_default();
        assert!(options.split(',').any(|o| o == "ro"), "{caller:?}: a writable mount in the gofer: {line}");
    }
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{caller:?}: {}", stderr(&o));
}

#[test]
fn the_sentry_holds_no_host_privilege() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the privilege test starts rvisor as root, as a user and rootless; it needs root");
        return;
    }
    for caller in [Caller::Root, Caller::User, Caller::Rootless] {
        check_sandbox_privilege(caller);
    }
}

/// The allowed-syscall count on a policy's header line of --print-seccomp.
fn policy_count(printed: &str, title: &str) -> usize {
    let line =
        printed.lines().find(|l| l.starts_with(&format!("# {title}"))).unwrap_or_else(|| panic!("{title}: {printed}"));
    line.split(": ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap()
}

#[test]
fn seccomp_policies_are_small_and_explained() {
    let print = |extra: &[&str]| {
        let o = Command::new(RVISOR).arg("do").arg("--print-seccomp").args(extra).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let plain = print(&[]);
    let volume = common::test_dir().join("seccomp-volume");
    std::fs::create_dir_all(&volume).unwrap();
    let writable = print(&["--volume", &format!("{}:/v", volume.display())]);
    // gVisor's Sentry allows 71 host syscalls and its gofer 52.
    let sentry = policy_count(&plain, "Sentry");
    assert!(sentry <= 45, "the Sentry allows {sentry} host syscalls:\n{plain}");
    let gofer_ro = policy_count(&plain, "gofer (read-only exports)");
    let gofer_rw = policy_count(&writable, "gofer (with a writable volume)");
    assert!(gofer_ro < gofer_rw && gofer_rw <= 28, "gofer: {gofer_ro} read-only, {gofer_rw} writable");
    assert!(policy_count(&plain, "the Sentry's supervisor") <= 8);
    // Every rule says why, and a read-only gofer may not open for writing.
    let allows = plain.lines().filter(|l| l.starts_with("allow ")).count();
    let whys = plain.lines().filter(|l| l.trim_start().starts_with("why: ")).count();
    assert_eq!(allows, whys, "{plain}");
    let ro_gofer = &plain[plain.find("# gofer").unwrap()..];
    assert!(ro_gofer.contains("allow openat             arg2 & "), "{ro_gofer}");
    assert!(!ro_gofer.contains("allow unlinkat"), "{ro_gofer}");
    // No executable memory for the Sentry itself.
    let sentry_part = &plain[..plain.find("# the Sentry's supervisor").unwrap()];
    assert!(sentry_part.contains("allow mmap               arg2 & 0x4 == 0x0"), "{sentry_part}");
    // --print-seccomp runs nothing; without it a program is required.
    let o = Command::new(RVISOR).arg("do").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn the_memory_cap_has_an_oom_killer() {
    let bin = build_guest("oom", Link::Static);
    let o = rvisor(&["--memory", "64m"], &bin, &[], b"");
    assert_eq!(shell_status(&o), 0, "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // With CAP_SYS_RESOURCE (not every host's root has it), a process may
    // exempt itself; an exempt hog with nothing left to kill then fails.
    let exempt = out.lines().find(|l| l.starts_with("exempt hog: ")).unwrap_or_default().to_string();
    assert!(["exempt hog: killed by signal 7", "exempt hog: skipped (EACCES)"].contains(&exempt.as_str()), "{out}");
    let expected = format!(
        "totalram = 64 MiB\n\
         init oom_score_adj = 0\n\
         set oom_score_adj 1001: EINVAL\n\
         set oom_score_adj -1001: EINVAL\n\
         set oom_score_adj ten: EINVAL\n\
         oom_score readable = 1\n\
         hog: killed by signal 9\n\
         first to go: the small one, killed by signal 9\n\
         then: the big one, killed by signal 9\n\
         {exempt}\n\
         unprivileged oom_score_adj = 100\n\
         set oom_score_adj -1: EACCES\n\
         unprivileged oom_score_adj = 100\n\
         done\n"
    );
    assert_eq!(out, expected);
}

#[test]
fn a_fork_bomb_meets_the_task_cap() {
    use std::io::BufRead;
    // The default cap (1024 tasks, or less on a small host) holds a bash
    // fork bomb: forks fail with EAGAIN, the host stays responsive, and the
    // shell that started the bomb carries on and ends the sandbox. The
    // shell waits without forking (read -t on /dev/zero, which never gives
    // it a line) and counts processes with a builtin glob.
    let script = "f() { f | f & }; f 2>/dev/null; \
                  for ((i = 0; i < 300; i++)); do read -t 1 x; n=(/proc/[0-9]*); \
                  if ((${#n[@]} >= 900)); then echo at the cap; break; fi; done; \
                  read -t 1 x; echo survived";
    let mut bomb = Command::new(RVISOR)
        .args(["do", "--", "bash", "-c", script])
        .current_dir("/")
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(bomb.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "at the cap\n");
    // The host can still start and run a process while the bomb is at its cap.
    let host = Command::new("/bin/sh").args(["-c", "echo alive"]).output().expect("the host can fork");
    assert_eq!(String::from_utf8_lossy(&host.stdout), "alive\n");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "survived\n");
    assert!(bomb.wait().unwrap().success());
    // An explicit cap: a sandbox capped at 3 tasks forks twice, then gets
    // EAGAIN; threads count too, and a task that ends makes room.
    let forks = "import os, errno, signal, threading\n\
                 kids = []\n\
                 while True:\n\
                 \x20   try: pid = os.fork()\n\
                 \x20   except OSError as e: print(len(kids), errno.errorcode[e.errno]); break\n\
                 \x20   if pid == 0: signal.pause(); os._exit(0)\n\
                 \x20   kids.append(pid)\n\
                 try: threading.Thread(target=print).start()\n\
                 except RuntimeError as e: print('thread:', e)\n\
                 os.kill(kids.pop(), 9); os.wait()\n\
                 t = threading.Thread(target=print, args=('thread after one ended',)); t.start(); t.join()\n";
    let o = Command::new(RVISOR)
        .args(["do", "--pids", "3", "--", "/usr/bin/python3", "-c", forks])
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "2 EAGAIN\nthread: can't start new thread\nthread after one ended\n",
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_forbidden_host_syscall_kills_the_sentry() {
    let bin = build_guest("hello", Link::Static);
    let o = rvisor(&["--selftest-forbidden-syscall"], &bin, &[], b"");
    assert_eq!(shell_status(&o), 128 + 31, "{}", stderr(&o));
    assert!(stderr(&o).contains("killed by SIGSYS"), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "the application never ran");
}

#[test]
fn readme_syscall_table_is_generated_from_the_table() {
    let table = Command::new(RVISOR).arg("syscalls").output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(readme.contains(&table), "README.md's syscall table is stale: paste `rvisor syscalls` into it");
}

/// Runs `cmd` with a new pseudo-terminal as its controlling terminal and stdio;
/// returns what it wrote there and its status.
fn run_on_pty(mut cmd: Command) -> (String, i32) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    let ws = libc::winsize { ws_row: 33, ws_col: 101, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two fds; the other pointers may be NULL or valid.
    let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty");
    // SAFETY: fresh fds we own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(slave);
    drop(cmd);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reads into our buffer; EIO means the last slave fd closed.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    let st = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    (String::from_utf8_lossy(&out).into_owned(), st.code().unwrap_or_else(|| 128 + st.signal().unwrap()))
}

#[test]
fn terminal_ioctls_on_a_host_tty() {
    for link in [Link::Static, Link::StaticPie] {
        let bin = build_guest("tty", link);
        let (native_out, native_st) = run_on_pty(Command::new(&bin));
        let mut c = Command::new(RVISOR);
        c.arg("do").arg("--").arg(&bin);
        let (sandbox_out, sandbox_st) = run_on_pty(c);
        assert!(native_out.contains("rows=33 cols=101"), "{native_out}");
        assert_eq!(native_out, sandbox_out);
        assert_eq!(native_st, sandbox_st);
    }
}

#[test]
fn sigpipe_on_a_closed_stdout() {
    let Some(bb) = busybox() else { panic!("busybox-static is required") };
    // `yes` writes until the reader goes away, then dies of SIGPIPE (141).
    let mut c = Command::new(RVISOR);
    c.args(["do", "--", bb, "yes"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 4];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"y\ny\n");
    drop(out);
    let o = child.wait_with_output().unwrap();
    assert_eq!(shell_status(&o), 141, "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "the Sentry survives the broken pipe quietly: {}", stderr(&o));
}

#[test]
fn the_32_bit_syscall_abi_is_refused() {
    let bin = build_guest("int80", Link::Static);
    let log = common::test_dir().join("int80.log");
    let o = rvisor(&["--debug-log", log.to_str().unwrap()], &bin, &[], b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "int 0x80 getpid = -38\n", "{}", stderr(&o));
    assert!(std::fs::read_to_string(&log).unwrap().contains("int 0x80"));
}

#[test]
fn random_hostile_syscalls_never_hurt_the_sentry() {
    let bin = build_guest("syscall_fuzz", Link::Static);
    let mut survived = 0;
    for seed in 1..=40 {
        let seed = seed.to_string();
        let o = rvisor(&[], &bin, &[&seed, "2000"], b"");
        let err = stderr(&o);
        // The application may die of its own doing; the Sentry may not.
        assert!(!err.contains("panicked") && !err.contains("rvisor:"), "seed {seed}: {err}");
        assert!(o.status.code().is_some(), "seed {seed}: the launcher itself died");
        survived += String::from_utf8_lossy(&o.stdout).contains("survived") as i32;
    }
    assert!(survived >= 10, "only {survived} of 40 runs got through their calls: the test lost its teeth");
}

#[test]
fn the_rootfs_is_a_jail() {
    let Some(bb) = busybox() else { panic!("busybox-static is required") };
    let root = common::test_dir().join("jail-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    // The program itself comes from the sandbox's root.
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    std::fs::write(root.join("data/inside.txt"), b"inside\n").unwrap();
    std::os::unix::fs::symlink("../../../../../../etc", root.join("data/up")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("data/abs")).unwrap();
    let fifo = std::ffi::CString::new(root.join("fifo").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    // A socket that a host process listens on.
    let _listener = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let run = |args: &[&str]| {
        let mut c = Command::new(RVISOR);
        c.arg("do").arg("--rootfs").arg(&root).args(["--cwd", "/", "--", "/bin/busybox"]).args(args);
        common::run(c, b"")
    };
    let o = run(&["cat", "/data/inside.txt"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "inside\n", "{}", stderr(&o));
    // Symlinks resolve inside the sandbox's root, whatever they say.
    for link in [
        "/data/up/hostname",
        "/data/abs/hostname",
        "/../../etc/hostname",
        "/proc/self/root/etc/hostname",
        "/proc/self/cwd/../../../etc/hostname",
        "/proc/1/cwd/../../etc/hostname",
    ] {
        let o = run(&["cat", link]);
        assert!(o.stdout.is_empty(), "{link} leaked: {}", String::from_utf8_lossy(&o.stdout));
        assert!(stderr(&o).contains("No such file"), "{link}: {}", stderr(&o));
    }
    let o = run(&["ls", "/"]);
    // The mount points the rootfs lacks are made in the overlay.
    assert_eq!(String::from_utf8_lossy(&o.stdout), "bin\ndata\ndev\nfifo\nproc\nsock\ntmp\n");
    // A FIFO or a socket in the rootfs is never opened on the host (and
    // never blocks).
    for special in ["/fifo", "/sock"] {
        let o = run(&["cat", special]);
        assert_ne!(shell_status(&o), 0);
        assert!(stderr(&o).contains("No such device or address"), "{special}: {}", stderr(&o));
    }
    // Writes to the root succeed in the sandbox and stay out of the host.
    let before = snapshot(&root.join("data"));
    for args in [
        &["sh", "-c", "echo x > /data/new; read l < /data/new; echo $l"][..],
        &["mkdir", "/data/d"],
        &["rm", "/data/inside.txt"],
        &["mv", "/data/inside.txt", "/data/moved"],
    ] {
        let o = run(args);
        assert_eq!(shell_status(&o), 0, "{args:?}: {}", stderr(&o));
    }
    assert_eq!(
        String::from_utf8_lossy(&run(&["sh", "-c", "echo x > /data/new; read l < /data/new; echo $l"]).stdout),
        "x\n"
    );
    assert_eq!(snapshot(&root.join("data")), before, "the host tree is unchanged");
    // A missing rootfs is a clear error, before anything starts.
    let mut c = Command::new(RVISOR);
    c.args(["do", "--rootfs", "/no/such/dir", "--"]).arg(bb).arg("true");
    let o = common::run(c, b"");
    assert_eq!(shell_status(&o), 125);
    assert!(stderr(&o).contains("--rootfs /no/such/dir: not a directory"), "{}", stderr(&o));
}

#[test]
fn the_program_starts_in_the_callers_directory() {
    let dir = common::test_dir();
    let bin = build_guest("hello", Link::Static);
    let rel = bin.strip_prefix(&dir).unwrap();
    let mut c = Command::new(RVISOR);
    c.current_dir(&dir).args(["do", "--"]).arg(rel).arg("relative");
    let o = common::run(c, b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello from relative\n", "{}", stderr(&o));
    let mut c = Command::new(RVISOR);
    c.current_dir(&dir).args(["do", "--", "/bin/pwd"]);
    let o = common::run(c, b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim_end(), dir.to_str().unwrap(), "{}", stderr(&o));
}

/// The working directory is a path in the sandbox: the caller's own, or
/// --cwd. One the sandbox does not have (under the host's /tmp, /proc, or
/// outside --rootfs) is a clear error before the program starts, as runc's
/// "chdir to cwd".
#[test]
fn the_working_directory_must_exist_in_the_sandbox() {
    let Some(bb) = busybox() else { panic!("busybox-static is required") };
    let refused = |o: &std::process::Output, words: &[&str]| {
        assert_eq!(shell_status(o), 125, "{}", stderr(o));
        assert!(o.stdout.is_empty(), "the program ran: {}", String::from_utf8_lossy(&o.stdout));
        for w in words {
            assert!(stderr(o).contains(w), "{w:?} missing: {}", stderr(o));
        }
    };
    let pwd = |o: &std::process::Output| {
        assert_eq!(shell_status(o), 0, "{}", stderr(o));
        String::from_utf8_lossy(&o.stdout).trim_end().to_string()
    };
    let host_tmp = std::env::temp_dir().join(format!("rvisor-cwd-{}", std::process::id()));
    std::fs::create_dir_all(&host_tmp).unwrap();
    let shown = host_tmp.to_str().unwrap();
    // Under the host's /tmp: the sandbox's /tmp is its own.
    let mut c = Command::new(RVISOR);
    c.current_dir(&host_tmp).args(["do", "--", "/bin/pwd"]);
    let o = common::run(c, b"");
    if host_tmp.starts_with("/tmp") {
        refused(&o, &[shown, "No such file or directory", "/tmp is its own", "--cwd"]);
    }
    // --cwd names the directory in the sandbox, wherever rvisor runs.
    let mut c = Command::new(RVISOR);
    c.current_dir(&host_tmp).args(["do", "--cwd", "/etc", "--", "/bin/pwd"]);
    assert_eq!(pwd(&common::run(c, b"")), "/etc");
    std::fs::remove_dir_all(&host_tmp).unwrap();
    // A host /proc directory the sandbox's /proc lacks.
    let mut c = Command::new(RVISOR);
    c.current_dir("/proc/self/fdinfo").args(["do", "--", "/bin/pwd"]);
    refused(&common::run(c, b""), &["/fdinfo", "/proc is its own", "--cwd"]);
    // A --cwd that is missing, not a directory, or relative.
    for (dir, why) in [
        ("/no/such/dir", "--cwd /no/such/dir: cannot chdir to it in the sandbox: No such file or directory"),
        ("/etc/passwd", "--cwd /etc/passwd: cannot chdir to it in the sandbox: Not a directory"),
        ("etc", "--cwd etc: must be an absolute path"),
    ] {
        let mut c = Command::new(RVISOR);
        c.args(["do", "--cwd", dir, "--", "/bin/pwd"]);
        refused(&common::run(c, b""), &[why]);
    }
    // With --rootfs, the caller's directory is looked up in that root.
    let root = common::test_dir().join("cwd-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("work/sub")).unwrap();
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    let in_root = |dir: &Path, cwd: Option<&str>| {
        let mut c = Command::new(RVISOR);
        c.current_dir(dir).arg("do").arg("--rootfs").arg(&root);
        if let Some(cwd) = cwd {
            c.args(["--cwd", cwd]);
        }
        c.args(["--", "/bin/busybox", "pwd"]);
        common::run(c, b"")
    };
    let here = std::env::current_dir().unwrap();
    refused(&in_root(&here, None), &[here.to_str().unwrap(), "No such file or directory", "--cwd"]);
    assert_eq!(pwd(&in_root(&here, Some("/work/sub"))), "/work/sub");
    // "/" is in every root.
    assert_eq!(pwd(&in_root(Path::new("/"), None)), "/");
    // A volume's directory works as the working directory too.
    let vol = common::test_dir().join("cwd-volume");
    std::fs::create_dir_all(&vol).unwrap();
    let mut c = Command::new(RVISOR);
    c.args(["do", "--volume", &format!("{}:/data", vol.display()), "--cwd", "/data", "--", "/bin/pwd"]);
    assert_eq!(pwd(&common::run(c, b"")), "/data");
}

/// The Sentry mounts the root, its own /tmp, /dev (its devices and links)
/// and /dev/shm, then the volumes in order, then /proc; a mount hides what
/// lies at and below its target. A volume that would be hidden, or would
/// hide /dev, is refused before anything starts.
#[test]
fn volume_targets_that_a_mount_would_hide_are_refused() {
    let base = common::test_dir();
    let (a, b) = (base.join("hide-volume-a"), base.join("hide-volume-b"));
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
    std::fs::create_dir_all(a.join("inner")).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let run = |volumes: &[String], prog: &[&str]| {
        let mut c = Command::new(RVISOR);
        c.current_dir("/").arg("do");
        for v in volumes {
            c.args(["--volume", v]);
        }
        c.arg("--").args(prog);
        common::run(c, b"")
    };
    for (volumes, why) in [
        (vec![format!("{a}:/")], "a volume cannot be the sandbox's root"),
        (vec![format!("{a}:/proc")], "the sandbox's /proc is mounted over it"),
        (vec![format!("{a}:/proc/sys/x")], "the sandbox's /proc is mounted over it"),
        (vec![format!("{a}:/dev")], "it would hide the sandbox's /dev"),
        (vec![format!("{a}:/dev/")], "it would hide the sandbox's /dev"),
        (vec![format!("{a}:/dev/null")], "the sandbox makes /dev/null itself"),
        (vec![format!("{a}:/dev/fd/7")], "the sandbox makes /dev/fd itself"),
        (vec![format!("{a}:/x/../proc")], "may not contain . or .."),
        (vec![format!("{a}:/data"), format!("{b}:/data/")], "has the same target and would hide it"),
        (vec![format!("{a}:/data/inner"), format!("{b}://data")], "is mounted above it and would hide it"),
    ] {
        let o = run(&volumes, &["/bin/echo", "ran"]);
        assert_eq!(shell_status(&o), 125, "{volumes:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{volumes:?}: the program ran");
        let first_bad = stderr(&o);
        assert!(first_bad.starts_with("rvisor: --volume ") && first_bad.contains(why), "{volumes:?}: {first_bad}");
    }
    // The outer volume first, the inner one after: both are seen.
    std::fs::write(
        Path::new(a).join("outer.txt"),
        "outer
",
    )
    .unwrap();
    std::fs::write(
        Path::new(b).join("inner.txt"),
        "inner
",
    )
    .unwrap();
    let o = run(
        &[format!("{a}:/data"), format!("{b}:/data/inner:ro")],
        &["/bin/cat", "/data/outer.txt", "/data/inner/inner.txt"],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "outer
inner
",
        "{}",
        stderr(&o)
    );
    // A volume may take the place of the sandbox's /tmp or /dev/shm, and
    // live below /tmp or /dev.
    for at in ["/tmp", "/dev/shm", "/tmp/deeper", "/dev/host"] {
        let o = run(&[format!("{b}:{at}:ro")], &["/bin/cat", &format!("{at}/inner.txt")]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "inner
",
            "{at}: {}",
            stderr(&o)
        );
    }
}

/// Options of rvisor's own come before the program; an unknown one is a
/// usage error, never taken as the program. Everything after the program
/// is its own, dashes included.
#[test]
fn unknown_options_are_usage_errors_and_the_programs_arguments_pass_as_is() {
    let mut c = Command::new(RVISOR);
    c.args(["do", "--bogus-option", "/bin/true"]);
    let o = common::run(c, b"");
    assert_eq!(shell_status(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("unexpected argument '--bogus-option'"), "{}", stderr(&o));
    let mut c = Command::new(RVISOR);
    c.args(["do", "-z"]);
    assert_eq!(shell_status(&common::run(c, b"")), 2);
    // Without "--": the program's own options, and ones that look like
    // rvisor's, are the program's.
    let mut c = Command::new(RVISOR);
    c.current_dir("/").args(["do", "/bin/echo", "-n", "--strace", "--bogus", "--", "x"]);
    let o = common::run(c, b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "--strace --bogus -- x", "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let native = Command::new("ls").args(["-la", "/etc/hostname"]).output().unwrap();
    let mut c = Command::new(RVISOR);
    c.current_dir("/").args(["do", "ls", "-la", "/etc/hostname"]);
    let o = common::run(c, b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&native.stdout), "{}", stderr(&o));
    // After "--", a program may even start with a dash (and is not found).
    let mut c = Command::new(RVISOR);
    c.args(["do", "--", "-x"]);
    let o = common::run(c, b"");
    assert_eq!(shell_status(&o), 127, "{}", stderr(&o));
}

#[test]
fn hashbang_scripts() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::test_dir().join("scripts");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = |name: &str, body: String| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let s1 = script("s1", "#!/bin/sh\necho script \"$0\" \"$@\"\nexit 4\n".into());
    let s2 = script("s2", "#!  /bin/echo   one  arg  \n".into());
    for (p, args) in [(&s1, &["a", "b c"][..]), (&s2, &["x"])] {
        let n = native(p, args, b"");
        let r = rvisor(&[], p, args, b"");
        assert_eq!(String::from_utf8_lossy(&n.stdout), String::from_utf8_lossy(&r.stdout), "{}", stderr(&r));
        assert_eq!(shell_status(&n), shell_status(&r));
    }
    // Interpreters may be scripts, four levels deep and no more.
    for i in 0..6 {
        script(&format!("l{i}"), format!("#!{}/l{}\n", dir.display(), i + 1));
    }
    script("l6", "#!/bin/echo deep\n".into());
    let o = rvisor(&[], &dir.join("l2"), &[], b"");
    assert_eq!(shell_status(&o), 0, "{}", stderr(&o));
    let o = rvisor(&[], &dir.join("l0"), &[], b"");
    assert_eq!(shell_status(&o), 126);
    assert!(stderr(&o).contains("Too many levels of symbolic links"), "{}", stderr(&o));
    let o = rvisor(&[], &script("empty", "#!\n".into()), &[], b"");
    assert_eq!(shell_status(&o), 126, "{}", stderr(&o));
    let o = rvisor(&[], &script("missing", "#!/no/such/interpreter\n".into()), &[], b"");
    assert_eq!(shell_status(&o), 127, "{}", stderr(&o));
}

/// A host directory the overlay tests start from.
fn overlay_tree(at: &Path) {
    let _ = std::fs::remove_dir_all(at);
    std::fs::create_dir_all(at.join("sub")).unwrap();
    for (name, body) in [
        ("keep.txt", "keep\n"),
        ("trunc.txt", "truncate me\n"),
        ("gone.txt", "gone\n"),
        ("move.txt", "moving\n"),
        ("sub/inner.txt", "inner\n"),
    ] {
        std::fs::write(at.join(name), body).unwrap();
    }
}

/// Every path and file content below `at`, for comparing trees.
fn snapshot(at: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![at.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(at).unwrap().display().to_string();
            let ty = std::fs::symlink_metadata(&p).unwrap().file_type();
            if ty.is_symlink() {
                out.push((rel, std::fs::read_link(&p).unwrap().into_os_string().into_encoded_bytes()));
            } else if ty.is_dir() {
                out.push((rel, Vec::new()));
                stack.push(p);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_root_is_an_overlay_and_writes_stay_in_the_sandbox() {
    let base = common::test_dir();
    let (native_dir, sandbox_dir) = (base.join("overlay-native"), base.join("overlay-sandbox"));
    overlay_tree(&native_dir);
    overlay_tree(&sandbox_dir);
    let before = snapshot(&sandbox_dir);
    let bin = build_guest("overlay", Link::Static);
    let n = native(&bin, &[native_dir.to_str().unwrap()], b"");
    let r = rvisor(&[], &bin, &[sandbox_dir.to_str().unwrap()], b"");
    assert_eq!(String::from_utf8_lossy(&n.stdout), String::from_utf8_lossy(&r.stdout), "{}", stderr(&r));
    assert_eq!(shell_status(&r), 0);
    assert_ne!(snapshot(&native_dir), before, "the native run did change its tree");
    assert_eq!(snapshot(&sandbox_dir), before, "nothing the sandbox wrote reached the host");
}

fn volume_tree(at: &Path) {
    let _ = std::fs::remove_dir_all(at);
    std::fs::create_dir_all(at).unwrap();
    std::fs::write(at.join("existing.txt"), b"on the host\n").unwrap();
    std::fs::write(at.join("gone.txt"), b"to be removed\n").unwrap();
    std::os::unix::fs::symlink("/etc", at.join("etclink")).unwrap();
    std::os::unix::fs::symlink("../../../../..", at.join("up")).unwrap();
}

#[test]
fn volumes_write_through_to_the_host() {
    let base = common::test_dir();
    let (a, b) = (base.join("volume-native"), base.join("volume-sandbox"));
    volume_tree(&a);
    volume_tree(&b);
    let bin = build_guest("volume", Link::Static);
    let n = native(&bin, &[a.to_str().unwrap()], b"");
    let vol = format!("{}:/vol", b.display());
    let r = rvisor(&["--volume", &vol], &bin, &["/vol"], b"");
    assert_eq!(String::from_utf8_lossy(&n.stdout), String::from_utf8_lossy(&r.stdout), "{}", stderr(&r));
    assert_eq!(snapshot(&a), snapshot(&b), "the volume's host tree changed exactly as natively");
    // Read-only: every change refused, nothing changed.
    volume_tree(&b);
    let before = snapshot(&b);
    let ro = format!("{}:/vol:ro", b.display());
    let r = rvisor(&["--volume", &ro], &bin, &["/vol"], b"");
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(
        out.contains("create = 0") && out.contains("mkdir = -1 EROFS") && out.contains("unlink = -1 EROFS"),
        "{out}"
    );
    assert_eq!(snapshot(&b), before);
    // A rename out of the volume crosses a mount: EXDEV.
    volume_tree(&b);
    let r = rvisor(&["--volume", &vol], &bin, &["/vol", "/tmp/outside.txt"], b"");
    assert!(String::from_utf8_lossy(&r.stdout).contains("rename across a mount = -1 EXDEV"), "{}", stderr(&r));
    assert!(b.join("existing.txt").exists());
}

#[test]
fn the_mount_table_lists_the_sandbox_mounts() {
    let vol = common::test_dir().join("mounts-volume");
    std::fs::create_dir_all(&vol).unwrap();
    let spec = format!("{}:/data:ro", vol.display());
    let mut c = Command::new(RVISOR);
    c.args(["do", "--volume", &spec, "--", "/bin/cat", "/proc/mounts", "/proc/self/mountinfo"]);
    let o = common::run(c, b"");
    let out = String::from_utf8_lossy(&o.stdout);
    for line in [
        "none / overlay rw,relatime 0 0\n",
        "none /tmp tmpfs rw,relatime 0 0\n",
        "none /dev/shm tmpfs rw,relatime 0 0\n",
        "none /data 9p ro,relatime 0 0\n",
        "none /proc proc rw,relatime 0 0\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from\n{out}{}", stderr(&o));
    }
    assert!(out.lines().any(|l| l.starts_with("1 1 ") && l.contains(" / / rw,relatime - overlay none rw")), "{out}");
    // A volume's statfs figures are the host filesystem's.
    let mut c = Command::new(RVISOR);
    c.args(["do", "--volume", &spec, "--", "/usr/bin/stat", "-f", "-c", "%b %S %l", "/data"]);
    let o = common::run(c, b"");
    let host = Command::new("/usr/bin/stat").args(["-f", "-c", "%b %S %l"]).arg(&vol).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&host.stdout), "{}", stderr(&o));
}

#[test]
fn volumes_do_not_open_a_way_out_of_the_jail() {
    let Some(bb) = busybox() else { panic!("busybox-static is required") };
    let base = common::test_dir();
    let root = base.join("vol-jail-root");
    let vol = base.join("vol-jail-volume");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    volume_tree(&vol);
    let spec = format!("{}:/vol", vol.display());
    let run = |args: &[&str]| {
        let mut c = Command::new(RVISOR);
        c.arg("do").arg("--rootfs").arg(&root).args(["--cwd", "/", "--volume", &spec, "--", "/bin/busybox"]).args(args);
        common::run(c, b"")
    };
    // Symlinks in the volume resolve in the sandbox: no host /etc there.
    for path in ["/vol/etclink/hostname", "/vol/up/etc/hostname", "/vol/../../etc/hostname"] {
        let o = run(&["cat", path]);
        assert!(o.stdout.is_empty() && stderr(&o).contains("No such file"), "{path}: {}", stderr(&o));
    }
    // ".." from the volume's root is the sandbox's root, whose writes stay in
    // the sandbox.
    let o = run(&["sh", "-c", "echo x > /vol/../escaped.txt"]);
    assert_eq!(shell_status(&o), 0, "{}", stderr(&o));
    assert!(!vol.join("../escaped.txt").exists() && !root.join("escaped.txt").exists());
}

/// After sandboxes that made many processes and threads have exited, none of
/// their host processes (Sentry, stubs, gofer) is left: each carries the
/// sandbox's unique hostname on its command line, so a scan of /proc finds
/// any leftover.
#[test]
fn no_host_processes_outlive_their_sandbox() {
    let bin = build_guest("stress", Link::Static);
    let marker = format!("rvisor-leak-check-{}", std::process::id());
    for _ in 0..2 {
        let mut c = Command::new(RVISOR);
        c.args(["do", "--hostname", &marker, "--"]).arg(&bin);
        let o = common::run(c, b"");
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // Exiting processes may take a moment to be reaped by the host.
    let mut left = Vec::new();
    for _ in 0..100 {
        left = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
            .filter(|p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                cmd.windows(marker.len()).any(|w| w == marker.as_bytes())
            })
            .collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(left.is_empty(), "host processes left behind: {left:?}");
}

/// A signal sent to the Sentry from outside (Ctrl-C reaches the Sentry's
/// process group) goes to the sandbox's first process, whose handler runs.
#[test]
fn host_signals_reach_the_sandbox() {
    use std::io::BufRead;
    let bin = build_guest("wait_sigint", Link::Static);
    let mut child = Command::new(RVISOR)
        .args(["do", "--"])
        .arg(&bin)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let sentry = children(child.id())
        .into_iter()
        .find(|&p| {
            std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default().split(|&b| b == 0).nth(1) == Some(b"boot")
        })
        .expect("the sentry");
    // SAFETY: signals the Sentry this test started.
    unsafe { libc::kill(sentry as i32, libc::SIGINT) };
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got 2\n");
    assert!(child.wait().unwrap().success());
}
