//! Finding and opening a program to exec, in the sandbox's own filesystem.

use std::sync::{Arc, Mutex};

use abi::consts::*;
use abi::Errno;
use vfs::file::FileDescription;
use vfs::inode::{file_type, FileType, MAY_EXEC};
use vfs::resolve::Resolver;
use vfs::{FsCreds, MountNamespace, Path};

use crate::creds::Credentials;
use crate::kernel::Kernel;
use crate::loader::{self, AuxInfo, Placement};
use crate::loader::{ExecError, ExecSource};
use crate::mm::{Layout, MemoryManager, MMAP_MIN_ADDR};
use crate::platform::AddressSpace;
use crate::Task;
use vfs::dev::getrandom;

/// An executable read through the VFS; its segments map pages of the file
/// (the file's own in the memory file, or a page cache of it in `mf`).
pub struct VfsExec(pub Arc<FileDescription>, pub Arc<vfs::memfile::MemoryFile>);

impl ExecSource for VfsExec {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read_at(buf, off).map_err(|e| std::io::Error::from_raw_os_error(e.0))
    }
    fn size(&self) -> std::io::Result<u64> {
        self.0.ops().stat().map(|st| st.st_size as u64).map_err(|e| std::io::Error::from_raw_os_error(e.0))
    }
    fn pages(&self) -> Option<Arc<dyn vfs::file::Mappable>> {
        if let Some(m) = self.0.ops().mappable() {
            return Some(m);
        }
        let st = self.0.ops().stat().ok()?;
        Some(vfs::filecache::cache_of(&self.0, &st, &self.1))
    }
}

/// An executable, opened.
pub struct Executable {
    pub file: Arc<FileDescription>,
    pub path: Path,
    /// The path as exec'd (AT_EXECFN): as given, or the PATH entry it was found in.
    pub execfn: Vec<u8>,
}

fn fail(errno: Errno, msg: &str) -> ExecError {
    ExecError { errno, msg: msg.to_string() }
}

/// Opens `p` for exec (execve and execveat resolve the path themselves);
/// `execfn` is the name the program sees as AT_EXECFN.
pub fn open_executable(p: Path, creds: &FsCreds, execfn: Vec<u8>) -> Result<Executable, ExecError> {
    let (file, path) = open_checked(p, creds)?;
    Ok(Executable { file, path, execfn })
}

/// Linux's checks on a file to exec, then opens it for reading.
fn open_checked(p: Path, creds: &FsCreds) -> Result<(Arc<FileDescription>, Path), ExecError> {
    match file_type(&**p.inode()) {
        FileType::Regular => {}
        FileType::Directory => return Err(fail(Errno::EACCES, "Is a directory")),
        _ => return Err(fail(Errno::EACCES, "Permission denied")),
    }
    let st = p.inode().stat();
    if !p.inode().permission(creds, MAY_EXEC) {
        return Err(fail(Errno::EACCES, "Permission denied"));
    }
    if vfs::file::open_for_writing(&st) {
        return Err(fail(Errno::ETXTBSY, "Text file busy"));
    }
    let ops = p.inode().clone().open(O_RDONLY).map_err(|e| ExecError { errno: e, msg: e.message().to_string() })?;
    let file = Arc::new(FileDescription::new(O_RDONLY | O_LARGEFILE, ops, Some(p.clone())));
    Ok((file, p))
}

/// Resolves `name` as execvp does: a name with a '/' is a path (from `cwd`),
/// anything else is searched in `path_env` (a PATH value). Without a PATH,
/// as execve, every name is a path.
pub fn find_executable(
    ns: &MountNamespace,
    root: &Path,
    cwd: &Path,
    creds: &FsCreds,
    name: &[u8],
    path_env: Option<&[u8]>,
) -> Result<Executable, ExecError> {
    let r = Resolver { ns, root, creds, restrict: 0 };
    let not_found = |e: Errno| ExecError { errno: e, msg: e.message().to_string() };
    if name.is_empty() {
        return Err(not_found(Errno::ENOENT));
    }
    let Some(path_env) = path_env.filter(|_| !name.contains(&b'/')) else {
        let p = r.resolve(cwd, name, true).map_err(not_found)?;
        let (file, path) = open_checked(p, creds)?;
        return Ok(Executable { file, path, execfn: name.to_vec() });
    };
    let mut denied = None;
    for dir in path_env.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let cand = [dir, b"/", name].concat();
        let Ok(p) = r.resolve(cwd, &cand, true) else { continue };
        match open_checked(p, creds) {
            Ok((file, path)) => return Ok(Executable { file, path, execfn: cand }),
            Err(e) => denied = Some(e),
        }
    }
    Err(denied.unwrap_or_else(|| fail(Errno::ENOENT, "command not found")))
}

/// Opens a program's interpreter (an absolute path in the sandbox).
pub fn open_interpreter(
    ns: &MountNamespace,
    root: &Path,
    creds: &FsCreds,
    name: &[u8],
    mf: &Arc<vfs::memfile::MemoryFile>,
) -> Result<Box<dyn ExecSource>, ExecError> {
    let shown = String::from_utf8_lossy(name).into_owned();
    let p = Resolver { ns, root, creds, restrict: 0 }
        .resolve(root, name, true)
        .map_err(|e| ExecError { errno: e, msg: format!("interpreter {shown}: {}", e.message()) })?;
    let (file, _) = open_checked(p, creds)
        .map_err(|e| ExecError { errno: e.errno, msg: format!("interpreter {shown}: {}", e.msg) })?;
    Ok(Box::new(VfsExec(file, mf.clone())))
}

/// The interpreter line of a `#!` script, as binfmt_script reads it from the
/// first 256 bytes: the interpreter and at most one argument (the rest of the
/// line, trimmed). None if the file is not a script.
pub fn script_interpreter(head: &[u8]) -> Option<Result<ScriptLine, ExecError>> {
    let rest = head.strip_prefix(b"#!")?;
    let line = match rest.iter().position(|&b| b == b'\n') {
        Some(n) => &rest[..n],
        // No end of line within the buffer: Linux refuses a truncated name.
        None if head.len() >= SCRIPT_HEAD => return Some(Err(fail(Errno::ENOEXEC, "#! line too long"))),
        None => rest,
    };
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let line: Vec<u8> = line.iter().copied().skip_while(is_space).collect();
    let end = line.iter().position(is_space).unwrap_or(line.len());
    let (interp, arg) = line.split_at(end);
    if interp.is_empty() {
        return Some(Err(fail(Errno::ENOEXEC, "#! names no interpreter")));
    }
    let arg: Vec<u8> = arg.iter().copied().skip_while(is_space).collect();
    let arg = arg.iter().rposition(|b| !is_space(b)).map(|n| arg[..=n].to_vec());
    Some(Ok(ScriptLine { interp: interp.to_vec(), arg }))
}

/// A `#!` line: the interpreter and its optional single argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptLine {
    pub interp: Vec<u8>,
    pub arg: Option<Vec<u8>>,
}

/// How much of a file binfmt_script looks at (BINPRM_BUF_SIZE).
pub const SCRIPT_HEAD: usize = 256;
/// Interpreters may themselves be scripts this many times (BINPRM_MAX_RECURSION).
pub const MAX_SCRIPT_DEPTH: usize = 4;

/// What execve has read from the application: the program (resolved in the
/// sandbox), its name as given, AT_EXECFN, the arguments and environment,
/// and whether the path will be unreachable once the fd it was relative
/// to is closed on exec.
pub struct ExecveArgs {
    pub target: vfs::Path,
    pub name: Vec<u8>,
    pub execfn: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    pub path_inaccessible: bool,
}

/// Linux's do_execveat_common past the reading of its arguments: loads the
/// program in a new address space, ends the other threads (de_thread), and
/// past the point of no return swaps the task over to it.
pub fn execve(t: &mut Task, args: ExecveArgs) -> Result<(), Errno> {
    let ExecveArgs { target, name, execfn, argv, envp, path_inaccessible } = args;
    let creds = t.fs_creds();
    // Linux's would_dump: a program the caller may not read leaves the
    // process not dumpable.
    let readable = target.inode().permission(&creds, vfs::inode::MAY_READ);
    let exe = open_executable(target, &creds, execfn).map_err(|e| e.errno)?;

    let kernel = t.kernel.clone();
    let aspace = kernel.platform.new_address_space().map_err(|_| Errno::ENOMEM)?;
    let (root, cwd) = (t.fs.root(), t.fs.cwd());
    let req = ExecRequest {
        prog: &name,
        path_env: None,
        file: Some(exe),
        path_inaccessible,
        root: &root,
        cwd: &cwd,
        creds: &t.creds,
        argv,
        envp: &envp,
        stack_limit: t.limits.get(RLIMIT_STACK).rlim_cur,
    };
    let program = kernel.load_program(aspace, req).map_err(|e| e.errno)?;
    // Other threads end first (Linux's de_thread).
    t.end_other_threads()?;

    // The point of no return: the old program is gone.
    t.release_robust_futexes();
    if t.clear_child_tid != 0 {
        if t.mm.write_obj(t.clear_child_tid, &0u32).is_ok() {
            if let Ok(key) = crate::futex::Key::of(&t.mm, t.clear_child_tid, false) {
                kernel.futexes.wake(key, 1, u32::MAX);
            }
        }
        t.clear_child_tid = 0;
    }
    t.mm.address_space().release_thread();
    t.mm = Arc::new(program.mm);
    t.regs = crate::platform::Registers::for_exec(program.entry, program.sp);
    t.exe = program.exe;
    t.comm = crate::task::comm_of(&name);
    // The fd table is the process's own from here on (CLONE_FILES ends).
    t.fds = Arc::new(t.fds.copy());
    t.fds.close_on_exec();
    let mut handlers = t.handlers.lock().unwrap().clone();
    handlers.reset_for_exec();
    t.handlers = Arc::new(Mutex::new(handlers));
    t.altstack = crate::sigframe::DISABLED_ALTSTACK;
    t.restart_block = None;
    let old_view = {
        let mut ts = t.tasks();
        let view = t.view();
        let old_view = std::mem::replace(&mut ts.current_thread_mut(t).view, view);
        let p = ts.current_process_mut(t);
        p.handlers = t.handlers.clone();
        p.did_exec = true;
        // The new memory is dumpable unless the ids differ (a set-id
        // program; suid_dumpable 0) or the program was unreadable.
        p.dumpable = readable && t.creds.euid == t.creds.uid && t.creds.egid == t.creds.gid;
        // POSIX timers do not survive exec (interval timers do).
        p.posix_timers.clear();
        old_view
    };
    // The old view may hold the last references to the old fd table (its
    // close-on-exec files close now) and the old memory: they go with
    // `Kernel::tasks` let go, as closing a file may take that lock (see
    // `Task::exit_files`).
    drop(old_view);
    if let Some(v) = t.vfork_done.take() {
        v.release();
    }
    Ok(())
}

/// A random page-aligned offset below `max`.
fn random_pages(max: u64) -> u64 {
    let mut b = [0u8; 8];
    getrandom(&mut b);
    (u64::from_le_bytes(b) % max) & !(PAGE_SIZE - 1)
}

/// What exec loads: the program as named, where to look for it, and what it gets.
pub struct ExecRequest<'a> {
    pub prog: &'a [u8],
    /// A PATH value to search when `prog` has no '/' (the first process
    /// only: execve itself never searches).
    pub path_env: Option<&'a [u8]>,
    /// An opened executable (execveat on an fd) instead of `prog`.
    pub file: Option<Executable>,
    /// Named through a close-on-exec fd: an interpreter could not open it
    /// again, so a `#!` script is ENOENT.
    pub path_inaccessible: bool,
    pub root: &'a Path,
    pub cwd: &'a Path,
    pub creds: &'a Credentials,
    pub argv: Vec<Vec<u8>>,
    pub envp: &'a [Vec<u8>],
    pub stack_limit: u64,
}

/// A program loaded into a fresh address space, ready to run.
pub struct Program {
    pub mm: MemoryManager,
    pub entry: u64,
    pub sp: u64,
    pub exe: Path,
}

impl Kernel {
    /// An empty address space, laid out at random as Linux does, on the
    /// host thread that will run it.
    fn new_mm(&self, aspace: Arc<dyn AddressSpace>, stack_limit: u64) -> (MemoryManager, Placement) {
        let max_addr = self.platform.max_user_address() & !(PAGE_SIZE - 1);
        let stack_top = max_addr - PAGE_SIZE - random_pages(1 << 30);
        let gap = stack_limit.clamp(128 << 20, max_addr / 6 * 5) + crate::mm::STACK_GUARD_GAP;
        let mmap_base = stack_top - gap - random_pages(1 << 36);
        let layout = Layout { min_addr: MMAP_MIN_ADDR, max_addr, mmap_base };
        let mm = MemoryManager::new(aspace, self.memfile.clone(), layout, stack_limit);
        let place = Placement {
            pie_base: 0x5555_5555_4000 + random_pages(1 << 36),
            stack_top,
            brk_offset: random_pages(32 << 20),
            stack_limit,
            stack_offset: {
                let mut b = [0u8; 2];
                getrandom(&mut b);
                u16::from_le_bytes(b) as u64 % 8192
            },
        };
        (mm, place)
    }

    /// exec's work up to the point of no return: finds the program (through
    /// `#!` interpreters), and loads it into the fresh address space `aspace`.
    pub fn load_program(&self, aspace: Arc<dyn AddressSpace>, req: ExecRequest<'_>) -> Result<Program, ExecError> {
        let (mm, place) = self.new_mm(aspace, req.stack_limit);
        let creds = req.creds;
        let mut aux = AuxInfo {
            uid: creds.uid,
            euid: creds.euid,
            gid: creds.gid,
            egid: creds.egid,
            hwcap: self.host.hwcap,
            hwcap2: self.host.hwcap2,
            minsigstksz: self.host.minsigstksz,
            random: [0; 16],
        };
        getrandom(&mut aux.random);
        let fs_creds = vfs::FsCreds { uid: creds.euid, gid: creds.egid, groups: Vec::new() };
        let (root, cwd) = (req.root, req.cwd);
        let mut exe = match req.file {
            Some(f) => f,
            None => find_executable(&self.mounts, root, cwd, &fs_creds, req.prog, req.path_env)?,
        };
        // `#!` scripts: run the interpreter on the script, as binfmt_script does.
        let execfn = exe.execfn.clone();
        let mut argv = req.argv;
        for depth in 0..=MAX_SCRIPT_DEPTH + 1 {
            let mut head = vec![0u8; SCRIPT_HEAD];
            let n = exe.file.read_at(&mut head, 0).map_err(|e| ExecError { errno: e, msg: e.message().into() })?;
            head.truncate(n);
            let Some(line) = script_interpreter(&head) else { break };
            if req.path_inaccessible {
                return Err(ExecError { errno: Errno::ENOENT, msg: "a script named by a close-on-exec fd".into() });
            }
            if depth > MAX_SCRIPT_DEPTH {
                return Err(ExecError { errno: Errno::ELOOP, msg: "too many levels of #! interpreters".into() });
            }
            let ScriptLine { interp, arg } = line?;
            let mut new_argv = vec![interp.clone()];
            new_argv.extend(arg);
            new_argv.push(exe.execfn.clone());
            new_argv.extend(argv.into_iter().skip(1));
            argv = new_argv;
            let mut found = find_executable(&self.mounts, root, cwd, &fs_creds, &interp, None)
                .map_err(|e| ExecError { errno: e.errno, msg: format!("{} (the #! interpreter)", e.msg) })?;
            found.execfn = interp;
            exe = found;
        }
        let open_interp = |name: &[u8]| open_interpreter(&self.mounts, root, &fs_creds, name, &self.memfile);
        let src = VfsExec(exe.file.clone(), self.memfile.clone());
        let loaded = loader::load(&mm, &src, &execfn, &argv, req.envp, &aux, place, &open_interp, &self.vdso)?;
        Ok(Program { mm, entry: loaded.entry, sp: loaded.sp, exe: exe.path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_lines_parse_as_linux_does() {
        let ok = |s: &[u8]| {
            let l = script_interpreter(s).unwrap().unwrap();
            (l.interp, l.arg)
        };
        assert_eq!(ok(b"#!/bin/sh\necho"), (b"/bin/sh".to_vec(), None));
        assert_eq!(ok(b"#! /usr/bin/env  python3 -u \n"), (b"/usr/bin/env".to_vec(), Some(b"python3 -u".to_vec())));
        assert_eq!(ok(b"#!/bin/sh"), (b"/bin/sh".to_vec(), None));
        assert!(script_interpreter(b"#!\n").unwrap().is_err());
        assert!(script_interpreter(b"\x7fELF").is_none());
        let long = [b"#!/".as_slice(), &[b'a'; 300]].concat();
        assert!(script_interpreter(&long[..SCRIPT_HEAD]).unwrap().is_err());
    }
}
