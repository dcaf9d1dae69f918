//! Finding and opening a program to exec, in the sandbox's own filesystem.

use std::sync::Arc;

use abi::consts::*;
use abi::Errno;
use vfs::file::FileDescription;
use vfs::inode::{file_type, FileType, MAY_EXEC};
use vfs::resolve::Resolver;
use vfs::{FsCreds, MountNamespace, Path};

use crate::loader::{ExecError, ExecSource};

/// An executable read through the VFS.
pub struct VfsExec(pub Arc<FileDescription>);

impl ExecSource for VfsExec {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read_at(buf, off).map_err(|e| std::io::Error::from_raw_os_error(e.0))
    }
    fn size(&self) -> std::io::Result<u64> {
        self.0.ops().stat().map(|st| st.st_size as u64).map_err(|e| std::io::Error::from_raw_os_error(e.0))
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

/// Linux's checks on a file to exec, then opens it for reading.
fn open_checked(p: Path, creds: &FsCreds) -> Result<(Arc<FileDescription>, Path), ExecError> {
    match file_type(&**p.inode()) {
        FileType::Regular => {}
        FileType::Directory => return Err(fail(Errno::EACCES, "Is a directory")),
        _ => return Err(fail(Errno::EACCES, "Permission denied")),
    }
    if !creds.may(&p.inode().stat(), MAY_EXEC) {
        return Err(fail(Errno::EACCES, "Permission denied"));
    }
    let ops = p.inode().clone().open(O_RDONLY).map_err(|e| ExecError { errno: e, msg: e.message().to_string() })?;
    let file = Arc::new(FileDescription::new(O_RDONLY | O_LARGEFILE, ops, Some(p.clone())));
    Ok((file, p))
}

/// Resolves `name` as execvp does: a name with a '/' is a path (from `cwd`),
/// anything else is searched in `path_env` (a PATH value).
pub fn find_executable(
    ns: &MountNamespace,
    root: &Path,
    cwd: &Path,
    creds: &FsCreds,
    name: &[u8],
    path_env: &[u8],
) -> Result<Executable, ExecError> {
    let r = Resolver { ns, root, creds };
    let not_found = |e: Errno| ExecError { errno: e, msg: e.message().to_string() };
    if name.is_empty() {
        return Err(not_found(Errno::ENOENT));
    }
    if name.contains(&b'/') {
        let p = r.resolve(cwd, name, true).map_err(not_found)?;
        let (file, path) = open_checked(p, creds)?;
        return Ok(Executable { file, path, execfn: name.to_vec() });
    }
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
) -> Result<Box<dyn ExecSource>, ExecError> {
    let shown = String::from_utf8_lossy(name).into_owned();
    let p = Resolver { ns, root, creds }
        .resolve(root, name, true)
        .map_err(|e| ExecError { errno: e, msg: format!("interpreter {shown}: {}", e.message()) })?;
    let (file, _) = open_checked(p, creds)
        .map_err(|e| ExecError { errno: e.errno, msg: format!("interpreter {shown}: {}", e.msg) })?;
    Ok(Box::new(VfsExec(file)))
}
