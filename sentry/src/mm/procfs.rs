//! What /proc shows of an address space: the maps text, its resident and
//! total sizes, and where exec put the environment strings.

use abi::consts::*;

use super::{MemoryManager, Vma, VmaName};

impl MemoryManager {
    /// Records where exec put the environment strings, `[start, end)`
    /// (Linux's mm->env_start and env_end, which /proc/PID/environ reads).
    pub fn set_env_range(&self, start: u64, end: u64) {
        self.lock().env = (start, end);
    }

    /// Where the environment strings are: `[start, end)`.
    pub fn env_range(&self) -> (u64, u64) {
        self.lock().env
    }

    /// The text of /proc/[pid]/maps; `image` is the executable's path.
    pub fn proc_maps(&self, image: &[u8]) -> Vec<u8> {
        let s = self.lock();
        let mut out = Vec::new();
        for (&start, v) in &s.vmas {
            let perm = |p: Prot, c: char| if v.prot.contains(p) { c } else { '-' };
            let line = format!(
                "{:08x}-{:08x} {}{}{}{} 00000000 00:00 0",
                start,
                v.end,
                perm(Prot::READ, 'r'),
                perm(Prot::WRITE, 'w'),
                perm(Prot::EXEC, 'x'),
                // The parameter page is a shared mapping that Linux shows as private.
                if v.shared && v.name != VmaName::Vvar { 's' } else { 'p' }
            );
            let name: &[u8] = match v.name {
                VmaName::Anon => b"",
                VmaName::Heap => b"[heap]",
                VmaName::Stack => b"[stack]",
                VmaName::Image => image,
                VmaName::Vvar => b"[vvar]",
                VmaName::Vdso => b"[vdso]",
            };
            out.extend_from_slice(line.as_bytes());
            if !name.is_empty() {
                // Linux pads the fixed columns to 73 characters before the name.
                out.resize(out.len() + 73usize.saturating_sub(line.len()), b' ');
                out.extend_from_slice(name);
            }
            out.push(b'\n');
        }
        out
    }

    /// Bytes of memory backing the address space (its resident set, as far
    /// as the Sentry knows: pages it handed out).
    pub fn resident_bytes(&self) -> u64 {
        self.lock().pmas.iter().map(|(&s, p)| p.end - s).sum()
    }

    /// The size of the address space (what RLIMIT_AS bounds).
    pub fn total_vm(&self) -> u64 {
        self.lock().vmas.iter().map(|(&s, v)| v.end - s).sum()
    }

    /// A copy of the VMA map, for inspection.
    pub fn vmas(&self) -> Vec<(u64, Vma)> {
        self.lock().vmas.iter().map(|(&s, &v)| (s, v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::MmapRequest;
    use super::*;

    #[test]
    fn maps_lines_and_sizes() {
        let (mm, _host, _mf) = new_mm();
        mm.mmap(MmapRequest { name: VmaName::Image, ..fixed(A, P, R | Prot::EXEC) }).unwrap();
        mm.mmap(MmapRequest { shared: true, ..fixed(A + 2 * P, 2 * P, RW) }).unwrap();
        let maps = String::from_utf8(mm.proc_maps(b"/bin/prog")).unwrap();
        let image = format!("{:<73}/bin/prog", "10000000-10001000 r-xp 00000000 00:00 0");
        assert_eq!(maps, format!("{image}\n10002000-10004000 rw-s 00000000 00:00 0\n"));
        assert_eq!(mm.total_vm(), 3 * P);
        assert_eq!(mm.resident_bytes(), 0, "nothing touched yet");
        mm.copy_out(A + 2 * P, b"x").unwrap();
        assert_eq!(mm.resident_bytes(), 2 * P);
    }
}
