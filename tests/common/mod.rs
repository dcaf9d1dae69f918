//! Shared helpers of the integration tests: building guest programs with the
//! machine's gcc, and running them natively and under `rvisor do`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

pub const RVISOR: &str = env!("CARGO_BIN_EXE_rvisor");

/// The longest any single program run in a test may take.
pub const RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// How a guest is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// `gcc -static`: ET_EXEC.
    Static,
    /// `gcc -static-pie`: ET_DYN without an interpreter.
    StaticPie,
}

fn guest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guest")
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Where tests keep their files. The sandbox has its own /tmp, /dev and
/// /proc, so files under those host paths are invisible inside it; a target
/// directory there (a checkout under /tmp) is mirrored under /var/tmp.
pub fn test_dir() -> PathBuf {
    let t = Path::new(env!("CARGO_TARGET_TMPDIR"));
    if ["/tmp", "/dev", "/proc"].iter().any(|p| t.starts_with(p)) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        t.hash(&mut h);
        let d = PathBuf::from(format!("/var/tmp/rvisor-tests-{:x}", h.finish()));
        std::fs::create_dir_all(&d).unwrap();
        d
    } else {
        t.to_path_buf()
    }
}

/// Compiles tests/guest/NAME.c (once per link kind) and returns the binary.
pub fn build_guest(name: &str, link: Link) -> PathBuf {
    let _g = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = test_dir().join("guest");
    std::fs::create_dir_all(&out_dir).unwrap();
    let (flag, suffix) = match link {
        Link::Static => ("-static", "static"),
        Link::StaticPie => ("-static-pie", "static-pie"),
    };
    let src = guest_dir().join(format!("{name}.c"));
    let bin = out_dir.join(format!("{name}.{suffix}"));
    let fresh = |b: &Path| {
        let (Ok(bm), Ok(sm)) = (std::fs::metadata(b), std::fs::metadata(&src)) else { return false };
        let hm = std::fs::metadata(guest_dir().join("common.h")).unwrap();
        bm.modified().unwrap() >= sm.modified().unwrap() && bm.modified().unwrap() >= hm.modified().unwrap()
    };
    if !fresh(&bin) {
        // Built under a name of this process's and renamed into place, so
        // another test binary running at the same time (BUILD_LOCK is only
        // this one's) never runs or rebuilds a half-written file.
        let tmp = out_dir.join(format!(".{name}.{suffix}.{}", std::process::id()));
        let st = Command::new("gcc")
            .args([flag, "-O1", "-g", "-fno-stack-protector", "-w", "-o"])
            .arg(&tmp)
            .arg(&src)
            .status()
            .expect("gcc must be installed");
        assert!(st.success(), "gcc failed on {}", src.display());
        std::fs::rename(&tmp, &bin).unwrap();
    }
    bin
}

/// Runs a command with a fixed environment and the given stdin.
pub fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GUEST_A", "alpha")
        .env("GUEST_B", "beta=with=equals")
        .env("LANG", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Only stdio crosses into the program: the test runner may hold inherited
    // fds (a make jobserver) that a native run would otherwise see.
    // SAFETY: close_range is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(&data);
    });
    // No test run may hang the suite: past the deadline the run is killed
    // and the test fails saying so.
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if start.elapsed() > RUN_DEADLINE {
                    // SAFETY: signals the child we spawned (its process group too).
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            false
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(!watchdog.join().unwrap(), "a run took longer than {RUN_DEADLINE:?} and was killed");
    writer.join().unwrap();
    out
}

pub fn native(bin: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new(bin);
    c.args(args);
    run(c, stdin)
}

pub fn rvisor(flags: &[&str], bin: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new(RVISOR);
    c.arg("do").args(flags).arg("--").arg(bin).args(args);
    run(c, stdin)
}

/// The status as a shell reports it: the exit code, or 128 + the signal.
pub fn shell_status(o: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    o.status.code().unwrap_or_else(|| 128 + o.status.signal().unwrap())
}

/// Guests whose stderr is not the same from run to run, so it is not
/// compared. (None today: every guest writes to stderr only what it
/// would print the same way natively, or nothing.)
const NONDETERMINISTIC_STDERR: &[&str] = &[];

/// Runs a guest natively and under rVisor, linked both ways, and requires the
/// same stdout, the same stderr (unless the guest is in
/// `NONDETERMINISTIC_STDERR`) and the same status.
pub fn compare(name: &str, args: &[&str], stdin: &[u8]) {
    for link in [Link::Static, Link::StaticPie] {
        let bin = build_guest(name, link);
        let n = native(&bin, args, stdin);
        let r = rvisor(&[], &bin, args, stdin);
        let what = format!("{name} {args:?} ({link:?})");
        compare_outputs(&what, &n, &r, !NONDETERMINISTIC_STDERR.contains(&name));
    }
}

/// Requires a run under rVisor to match the native one: stdout, the status,
/// and, if `check_stderr`, stderr too (so nothing of rVisor's own leaks into
/// the application's stderr, and a guest silent there natively is silent
/// in the sandbox).
pub fn compare_outputs(what: &str, n: &Output, r: &Output, check_stderr: bool) {
    let (ns, rs) = (String::from_utf8_lossy(&n.stdout), String::from_utf8_lossy(&r.stdout));
    if ns != rs {
        let diff: Vec<String> = ns
            .lines()
            .zip(rs.lines())
            .filter(|(a, b)| a != b)
            .take(20)
            .map(|(a, b)| format!("  native: {}\n  rvisor: {}", trunc(a), trunc(b)))
            .collect();
        panic!(
            "{what}: stdout differs ({} vs {} lines, status {} vs {})\n{}\nrvisor stderr: {}",
            ns.lines().count(),
            rs.lines().count(),
            shell_status(n),
            shell_status(r),
            diff.join("\n"),
            String::from_utf8_lossy(&r.stderr)
        );
    }
    assert_eq!(
        shell_status(n),
        shell_status(r),
        "{what}: status differs; rvisor stderr: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    if check_stderr {
        assert_eq!(
            String::from_utf8_lossy(&n.stderr),
            String::from_utf8_lossy(&r.stderr),
            "{what}: stderr differs (native left, rvisor right)"
        );
    }
}

fn trunc(s: &str) -> &str {
    &s[..s.len().min(200)]
}
