//! strace-style lines: `[pid:tid] name(args) = ret <elapsed>`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use abi::consts::{MapFlags, Prot, AT_FDCWD};
use abi::structs::Iovec;
use abi::Errno;
use sentry::observe::{Observer, TaskObserver, Watched};

/// How strace shows one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Signed decimal.
    Int,
    /// Unsigned decimal (sizes, counts).
    Uint,
    Hex,
    Oct,
    Fd,
    /// A dirfd of the *at calls (AT_FDCWD by name).
    DirFd,
    /// A pointer shown as an address, or NULL.
    Ptr,
    /// Bytes the call reads from the application, length in argument `n`.
    InBuf(u8),
    /// Bytes the call writes to the application: as many as it returned.
    OutBuf,
    /// An iovec array the call reads from, count in argument `n`.
    InIov(u8),
    /// An iovec array the call fills, count in argument `n`.
    OutIov(u8),
    /// A NUL-terminated string.
    Str,
    Prot,
    MapFlags,
    Signal,
}

/// How strace shows the return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Int,
    Hex,
    /// The call does not return (exit, exit_group).
    None,
}

const MAX_STR: usize = 32;

fn quote(bytes: &[u8], truncated: bool, out: &mut String) {
    out.push('"');
    for &b in bytes.iter().take(MAX_STR) {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:o}");
            }
        }
    }
    out.push('"');
    if truncated || bytes.len() > MAX_STR {
        out.push_str("...");
    }
}

fn buf(t: &Watched<'_>, addr: u64, len: u64, out: &mut String) {
    let n = len.min(MAX_STR as u64 + 1) as usize;
    let mut b = vec![0u8; n];
    if t.mm.copy_in(addr, &mut b).is_ok() {
        quote(&b, len > n as u64, out);
    } else {
        let _ = write!(out, "{addr:#x}");
    }
}

fn iov(t: &Watched<'_>, addr: u64, count: u64, limit: Option<u64>, out: &mut String) {
    let Ok(n) = usize::try_from(count.min(8)) else { return };
    let mut v = vec![Iovec::default(); n];
    if addr == 0 || count > 1024 || t.mm.copy_in(addr, zerocopy::IntoBytes::as_mut_bytes(&mut v[..])).is_err() {
        let _ = write!(out, "{addr:#x}");
        return;
    }
    let mut left = limit.unwrap_or(u64::MAX);
    out.push('[');
    for (i, io) in v.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{iov_base=");
        buf(t, io.base, io.len.min(left), out);
        left = left.saturating_sub(io.len);
        let _ = write!(out, ", iov_len={}}}", io.len);
    }
    if count > 8 {
        out.push_str(", ...");
    }
    out.push(']');
}

fn flags<F: bitflags::Flags<Bits = u64> + Copy>(v: u64, prefix: &str, zero: &str, out: &mut String) {
    let f = F::from_bits_retain(v);
    let mut parts: Vec<String> = f.iter_names().map(|(n, _)| format!("{prefix}{n}")).collect();
    let unknown = v & !F::all().bits();
    if unknown != 0 {
        parts.push(format!("{unknown:#x}"));
    }
    if parts.is_empty() {
        out.push_str(zero);
    } else {
        out.push_str(&parts.join("|"));
    }
}

/// Formats one finished syscall.
pub fn line(
    t: &Watched<'_>,
    name: &str,
    kinds: &[Arg],
    ret_kind: Ret,
    args: &[u64; 6],
    ret: &Result<u64, Errno>,
    elapsed: Duration,
) -> String {
    let mut s = format!("[{}:{}] {}(", t.tgid, t.tid, name);
    for (i, k) in kinds.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let v = args[i];
        match *k {
            Arg::Int => {
                let _ = write!(s, "{}", v as i64);
            }
            Arg::Uint => {
                let _ = write!(s, "{v}");
            }
            Arg::Hex => {
                let _ = write!(s, "{v:#x}");
            }
            Arg::Oct => {
                let _ = write!(s, "{v:#o}");
            }
            Arg::Fd => {
                let _ = write!(s, "{}", v as i32);
            }
            Arg::DirFd if v as i32 == AT_FDCWD => s.push_str("AT_FDCWD"),
            Arg::DirFd => {
                let _ = write!(s, "{}", v as i32);
            }
            Arg::Ptr if v == 0 => s.push_str("NULL"),
            Arg::Ptr => {
                let _ = write!(s, "{v:#x}");
            }
            Arg::InBuf(n) => buf(t, v, args[n as usize], &mut s),
            Arg::OutBuf => match ret {
                Ok(n) => buf(t, v, *n, &mut s),
                Err(_) => {
                    let _ = write!(s, "{v:#x}");
                }
            },
            Arg::InIov(n) => iov(t, v, args[n as usize], None, &mut s),
            Arg::OutIov(n) => match ret {
                Ok(r) => iov(t, v, args[n as usize], Some(*r), &mut s),
                Err(_) => {
                    let _ = write!(s, "{v:#x}");
                }
            },
            Arg::Str if v == 0 => s.push_str("NULL"),
            Arg::Str => match t.mm.read_cstring(v, 4096) {
                Ok(b) => quote(&b, false, &mut s),
                Err(_) => {
                    let _ = write!(s, "{v:#x}");
                }
            },
            Arg::Prot => flags::<Prot>(v, "PROT_", "PROT_NONE", &mut s),
            Arg::MapFlags => flags::<MapFlags>(v, "MAP_", "0", &mut s),
            Arg::Signal => s.push_str(&abi::signal::name(v as i32)),
        }
    }
    s.push_str(") = ");
    match (ret, ret_kind) {
        (_, Ret::None) => s.push('?'),
        (Ok(v), Ret::Hex) => {
            let _ = write!(s, "{v:#x}");
        }
        (Ok(v), _) => {
            let _ = write!(s, "{}", *v as i64);
        }
        (Err(e), _) => {
            let _ = write!(s, "-1 {} ({})", e.name().unwrap_or("E?"), e.message());
        }
    }
    let _ = write!(s, " <{}.{:06}>", elapsed.as_secs(), elapsed.subsec_micros());
    s.push('\n');
    s
}

/// `--strace`, an observer of every task: one line per syscall, written
/// with one write of its own to `sink` (so lines of different threads never
/// mix, and no lock is taken).
pub struct Strace {
    sink: Arc<File>,
}

impl Strace {
    pub fn new(sink: File) -> Strace {
        Strace { sink: Arc::new(sink) }
    }
}

impl Observer for Strace {
    fn task_started(&self) -> Box<dyn TaskObserver> {
        Box::new(StraceTask { sink: self.sink.clone() })
    }
}

struct StraceTask {
    sink: Arc<File>,
}

impl TaskObserver for StraceTask {
    fn syscall_exit(&mut self, t: &Watched<'_>, nr: u64, args: &[u64; 6], ret: u64, elapsed: Duration) {
        let ret = match ret as i64 {
            e @ -4095..=-1 => Err(Errno(-e as i32)),
            _ => Ok(ret),
        };
        let text = match crate::entry(nr) {
            Some(e) => line(t, e.name, e.args, e.ret, args, &ret, elapsed),
            None => {
                let name = usize::try_from(nr)
                    .ok()
                    .and_then(abi::sysno::name)
                    .map_or(format!("syscall_{nr:#x}"), String::from);
                line(t, &name, &[Arg::Hex; 6], Ret::Int, args, &ret, elapsed)
            }
        };
        let _ = (&*self.sink).write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_strace() {
        let mut s = String::new();
        quote(b"hi\n\"x\"\x01", false, &mut s);
        assert_eq!(s, r#""hi\n\"x\"\1""#);
        let mut s = String::new();
        quote(&[b'a'; 40], false, &mut s);
        assert_eq!(s.len(), 2 + 32 + 3);
        let mut s = String::new();
        flags::<Prot>(3, "PROT_", "PROT_NONE", &mut s);
        assert_eq!(s, "PROT_READ|PROT_WRITE");
        let mut s = String::new();
        flags::<MapFlags>(0x22, "MAP_", "0", &mut s);
        assert_eq!(s, "MAP_PRIVATE|MAP_ANONYMOUS");
    }
}
