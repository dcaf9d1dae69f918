//! The ELF loader: maps an x86-64 ELF (ET_EXEC, ET_DYN, static or dynamic) and
//! builds the initial stack with argv, envp and the auxiliary vector.
//!
//! A dynamic executable's interpreter (PT_INTERP) is found in the sandbox's
//! filesystem and loaded where mmap would put it; AT_BASE says where.

use std::sync::Arc;

use abi::consts::*;
use abi::Errno;

use crate::mm::{page_down, page_up, Access, MemoryManager, MmapRequest, VmaName};
use crate::vdso::Vdso;

/// Something an executable can be read from.
pub trait ExecSource {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<usize>;
    fn size(&self) -> std::io::Result<u64>;
    /// The file's pages, to map segments from (None: segments are copied).
    fn pages(&self) -> Option<Arc<dyn vfs::file::Mappable>> {
        None
    }
}

/// A failed exec: the errno execve would return and a message for the user.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct ExecError {
    pub errno: Errno,
    pub msg: String,
}

fn enoexec(msg: impl Into<String>) -> ExecError {
    ExecError { errno: Errno::ENOEXEC, msg: msg.into() }
}

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
const PHDR_SIZE: usize = 56;
/// Longest single argument or environment string (MAX_ARG_STRLEN).
const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;
/// Initial stack VMA below the arguments, as Linux's setup_arg_pages leaves.
const INITIAL_STACK_EXTRA: u64 = 128 << 10;

#[derive(Clone, Copy, Debug)]
struct Phdr {
    p_type: u32,
    p_flags: u32,
    p_offset: u64,
    p_vaddr: u64,
    p_filesz: u64,
    p_memsz: u64,
    p_align: u64,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

fn read_exact_at(src: &dyn ExecSource, off: u64, buf: &mut [u8]) -> Result<(), ExecError> {
    let mut done = 0;
    while done < buf.len() {
        match src.read_at(off + done as u64, &mut buf[done..]) {
            Ok(0) => return Err(enoexec("file is truncated")),
            Ok(n) => done += n,
            Err(e) => return Err(ExecError { errno: Errno::from_io(&e), msg: format!("read failed: {e}") }),
        }
    }
    Ok(())
}

/// What the new program starts with.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub entry: u64,
    pub sp: u64,
}

/// Host facts the auxiliary vector reports.
#[derive(Clone, Debug)]
pub struct AuxInfo {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub hwcap: u64,
    pub hwcap2: u64,
    pub minsigstksz: u64,
    pub random: [u8; 16],
}

/// Where the loader puts things; randomised by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    /// Load address of a position-independent executable.
    pub pie_base: u64,
    /// Highest address of the stack.
    pub stack_top: u64,
    /// Random offset added to the start of the brk area.
    pub brk_offset: u64,
    /// RLIMIT_STACK: arguments may take up to a quarter of it.
    pub stack_limit: u64,
    /// Random offset (below 8 KiB) between the strings and the tables.
    pub stack_offset: u64,
}

/// A parsed ELF header and program headers.
struct Elf {
    e_type: u16,
    entry: u64,
    phoff: u64,
    phnum: usize,
    phdrs: Vec<Phdr>,
    file_len: u64,
}

impl Elf {
    fn parse(src: &dyn ExecSource) -> Result<Elf, ExecError> {
        let file_len = src.size().map_err(|e| ExecError { errno: Errno::from_io(&e), msg: e.to_string() })?;
        let mut eh = [0u8; 64];
        if file_len < 64 {
            return Err(enoexec("not an ELF file (too short)"));
        }
        read_exact_at(src, 0, &mut eh)?;
        if &eh[..4] != b"\x7fELF" {
            return Err(enoexec("not an ELF file (bad magic)"));
        }
        if eh[4] != 2 || eh[5] != 1 || eh[6] != 1 {
            return Err(enoexec("not a little-endian ELF64 version 1 file"));
        }
        let e_type = u16_at(&eh, 16);
        if u16_at(&eh, 18) != EM_X86_64 {
            return Err(enoexec("not an x86-64 executable"));
        }
        if e_type != ET_EXEC && e_type != ET_DYN {
            return Err(enoexec(format!("ELF type {e_type} is not executable")));
        }
        let phoff = u64_at(&eh, 32);
        let phentsize = u16_at(&eh, 54) as usize;
        let phnum = u16_at(&eh, 56) as usize;
        if phentsize != PHDR_SIZE || phnum == 0 || phnum * PHDR_SIZE > 65536 {
            return Err(enoexec("bad program header table"));
        }
        let ph_len = (phnum * PHDR_SIZE) as u64;
        if phoff.checked_add(ph_len).is_none_or(|e| e > file_len) {
            return Err(enoexec("program headers lie beyond the end of the file"));
        }
        let mut phb = vec![0u8; ph_len as usize];
        read_exact_at(src, phoff, &mut phb)?;
        let phdrs: Vec<Phdr> = phb
            .chunks_exact(PHDR_SIZE)
            .map(|b| Phdr {
                p_type: u32_at(b, 0),
                p_flags: u32_at(b, 4),
                p_offset: u64_at(b, 8),
                p_vaddr: u64_at(b, 16),
                p_filesz: u64_at(b, 32),
                p_memsz: u64_at(b, 40),
                p_align: u64_at(b, 48),
            })
            .collect();
        let elf = Elf { e_type, entry: u64_at(&eh, 24), phoff, phnum, phdrs, file_len };
        for p in elf.loads() {
            if p.p_filesz > p.p_memsz {
                return Err(enoexec("segment file size exceeds its memory size"));
            }
            if p.p_offset.checked_add(p.p_filesz).is_none_or(|e| e > file_len) {
                return Err(enoexec("segment lies beyond the end of the file (truncated?)"));
            }
            if p.p_vaddr % PAGE_SIZE != p.p_offset % PAGE_SIZE {
                return Err(enoexec("segment offset and address are not congruent modulo the page size"));
            }
        }
        if elf.loads().next().is_none() {
            return Err(enoexec("no loadable segments"));
        }
        Ok(elf)
    }

    /// The loadable segments that occupy memory (Linux skips empty ones).
    fn loads(&self) -> impl Iterator<Item = &Phdr> {
        self.phdrs.iter().filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0)
    }

    /// The PT_INTERP path, if the program asks for an interpreter.
    fn interp(&self, src: &dyn ExecSource) -> Result<Option<Vec<u8>>, ExecError> {
        let Some(p) = self.phdrs.iter().find(|p| p.p_type == PT_INTERP) else { return Ok(None) };
        if p.p_filesz < 2
            || p.p_filesz > PATH_MAX as u64
            || p.p_offset.checked_add(p.p_filesz).is_none_or(|e| e > self.file_len)
        {
            return Err(enoexec("bad PT_INTERP"));
        }
        let mut name = vec![0u8; p.p_filesz as usize];
        read_exact_at(src, p.p_offset, &mut name)?;
        if name.last() != Some(&0) {
            return Err(enoexec("PT_INTERP is not NUL-terminated"));
        }
        name.pop();
        Ok(Some(name))
    }

    /// Lowest page and one past the highest byte of the image, unbiased.
    fn span(&self) -> (u64, u64) {
        let lo = self.loads().map(|p| page_down(p.p_vaddr)).min().unwrap_or(0);
        let hi = self.loads().map(|p| p.p_vaddr.saturating_add(p.p_memsz)).max().unwrap_or(0);
        (lo, hi)
    }

    fn max_align(&self) -> u64 {
        self.loads().map(|p| p.p_align).filter(|a| a.is_power_of_two()).max().unwrap_or(PAGE_SIZE).max(PAGE_SIZE)
    }
}

/// Maps every loadable segment at its address plus `bias`; returns the end of
/// the image (page-aligned).
fn map_segments(
    mm: &MemoryManager,
    src: &dyn ExecSource,
    elf: &Elf,
    bias: u64,
    name: VmaName,
) -> Result<u64, ExecError> {
    let layout = mm.layout();
    let mut image_end = 0u64;
    for p in elf.loads() {
        let vaddr = p.p_vaddr.wrapping_add(bias);
        let start = page_down(vaddr);
        let end = vaddr.checked_add(p.p_memsz).and_then(page_up).filter(|&e| e <= layout.max_addr);
        let Some(end) = end else {
            return Err(enoexec("segment lies outside the user address space"));
        };
        if start < layout.min_addr {
            return Err(ExecError { errno: Errno::EPERM, msg: "segment below the lowest mappable address".into() });
        }
        image_end = image_end.max(end);
        let mut prot = Prot::empty();
        if p.p_flags & PF_R != 0 {
            prot |= Prot::READ;
        }
        if p.p_flags & PF_W != 0 {
            prot |= Prot::WRITE;
        }
        if p.p_flags & PF_X != 0 {
            prot |= Prot::EXEC;
        }
        let req = MmapRequest {
            addr: start,
            len: end - start,
            prot,
            shared: false,
            fixed: true,
            noreplace: false,
            growsdown: false,
            populate: false,
            low_2g: false,
            name,
        };
        let lead = vaddr - start;
        let file_end = vaddr + p.p_filesz;
        // Mapping needs the file offset and the address to agree within a page.
        let aligned = p.p_offset % PAGE_SIZE == lead;
        let pages = src.pages().filter(|_| p.p_filesz > 0 && aligned);
        let mapped = match pages {
            // The file's pages, copied on write, as far as the segment's file
            // part reaches; anonymous zeroes (the bss) after them.
            Some(m) => {
                let file_pages_end = page_up(file_end).unwrap_or(end).min(end);
                let file_req = MmapRequest { len: file_pages_end - start, ..req };
                let r = mm.mmap_file(file_req, m, p.p_offset - lead, true);
                if r.is_ok() && file_pages_end < end {
                    mm.mmap(MmapRequest { addr: file_pages_end, len: end - file_pages_end, ..req })
                        .map_err(|e| ExecError { errno: e, msg: format!("cannot map segment: {e}") })?;
                }
                r.map(|_| true)
            }
            None => mm.mmap(req).map(|_| false),
        };
        let file_backed = mapped.map_err(|e| ExecError { errno: e, msg: format!("cannot map segment: {e}") })?;
        if file_backed {
            // The rest of the last file page belongs to the bss: zero it.
            let tail = page_up(file_end).unwrap_or(file_end).min(end) - file_end;
            if tail > 0 && p.p_memsz > p.p_filesz {
                mm.copy_out_with(file_end, &vec![0u8; tail as usize], Access::Force)
                    .map_err(|e| ExecError { errno: e, msg: format!("cannot clear the bss: {e}") })?;
            }
            continue;
        }
        // The file's bytes from the start of the page, as a file mapping shows them.
        let mut data = vec![0u8; (lead + p.p_filesz) as usize];
        read_exact_at(src, p.p_offset - lead, &mut data)?;
        mm.copy_out_with(start, &data, Access::Force)
            .map_err(|e| ExecError { errno: e, msg: format!("cannot fill segment: {e}") })?;
    }
    Ok(image_end)
}

/// Finds and opens a program's interpreter (PT_INTERP) in the sandbox.
pub type OpenInterp<'a> = dyn Fn(&[u8]) -> Result<Box<dyn ExecSource>, ExecError> + 'a;

/// Loads `src` (and its interpreter, through `open_interp`) into `mm`, maps
/// the vDSO where mmap would put it (after the program, as Linux does, so
/// that no fixed segment can land on it) and builds the stack. `execfn` is
/// the path as exec'd.
#[allow(clippy::too_many_arguments)]
pub fn load(
    mm: &MemoryManager,
    src: &dyn ExecSource,
    execfn: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    aux: &AuxInfo,
    place: Placement,
    open_interp: &OpenInterp<'_>,
    vdso: &Arc<Vdso>,
) -> Result<Loaded, ExecError> {
    let elf = Elf::parse(src)?;
    let interp = elf.interp(src)?;
    let layout = mm.layout();
    let (lo, _) = elf.span();
    let bias = if elf.e_type == ET_DYN { (place.pie_base & !(elf.max_align() - 1)).wrapping_sub(lo) } else { 0 };
    let image_end = map_segments(mm, src, &elf, bias, VmaName::Image)?;

    // AT_PHDR: where the program headers lie in memory, from the segment whose
    // file range holds them (Linux ignores PT_PHDR for this).
    let phdr_addr = elf
        .loads()
        .find(|p| p.p_offset <= elf.phoff && elf.phoff < p.p_offset + p.p_filesz)
        .map_or(0, |p| (elf.phoff - p.p_offset).wrapping_add(p.p_vaddr).wrapping_add(bias));
    mm.set_brk_start(image_end + place.brk_offset);

    let entry = elf.entry.wrapping_add(bias);
    if entry >= layout.max_addr {
        return Err(ExecError { errno: Errno::EINVAL, msg: "entry point outside the user address space".into() });
    }
    let (start, base) = match interp {
        None => (entry, 0),
        Some(name) => {
            let isrc = open_interp(&name)?;
            let ielf = Elf::parse(&*isrc).map_err(|e| ExecError {
                errno: Errno::ELIBBAD,
                msg: format!("interpreter {}: {}", String::from_utf8_lossy(&name), e.msg),
            })?;
            if ielf.e_type != ET_DYN || ielf.interp(&*isrc)?.is_some() {
                return Err(ExecError { errno: Errno::ELIBBAD, msg: "the interpreter must be a static ET_DYN".into() });
            }
            // Where mmap would put it: reserve the whole span, then map into it.
            let (ilo, ihi) = ielf.span();
            let span = page_up(ihi - ilo).ok_or_else(|| enoexec("interpreter too large"))?;
            let reserve = MmapRequest::anon(0, span + ielf.max_align(), Prot::empty());
            let at = mm
                .mmap(reserve)
                .map_err(|e| ExecError { errno: e, msg: format!("no room for the interpreter: {e}") })?;
            let ibase = (at + ielf.max_align() - 1) & !(ielf.max_align() - 1);
            let ibias = ibase.wrapping_sub(ilo);
            map_segments(mm, &*isrc, &ielf, ibias, VmaName::Anon)?;
            (ielf.entry.wrapping_add(ibias), ibias)
        }
    };

    let sysinfo_ehdr = vdso.map(mm).map_err(|e| ExecError { errno: e, msg: format!("cannot map the vDSO: {e}") })?;
    let auxv = [
        (AT_SYSINFO_EHDR, sysinfo_ehdr),
        (AT_MINSIGSTKSZ, aux.minsigstksz),
        (AT_HWCAP, aux.hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, 100),
        (AT_PHDR, phdr_addr),
        (AT_PHENT, PHDR_SIZE as u64),
        (AT_PHNUM, elf.phnum as u64),
        (AT_BASE, base),
        (AT_FLAGS, 0),
        (AT_ENTRY, entry),
        (AT_UID, aux.uid as u64),
        (AT_EUID, aux.euid as u64),
        (AT_GID, aux.gid as u64),
        (AT_EGID, aux.egid as u64),
        (AT_SECURE, 0),
    ];
    let sp = build_stack(mm, place, execfn, argv, envp, &auxv, aux)?;
    Ok(Loaded { entry: start, sp })
}

/// Writes strings, AT_RANDOM bytes, the platform string, auxv, envp, argv and
/// argc below `top`, as Linux's create_elf_tables does; returns the new sp.
fn build_stack(
    mm: &MemoryManager,
    place: Placement,
    execfn: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    auxv: &[(u64, u64)],
    aux: &AuxInfo,
) -> Result<u64, ExecError> {
    let e2big = |m: &str| ExecError { errno: Errno::E2BIG, msg: m.into() };
    if argv.iter().chain(envp).any(|s| s.len() + 1 > MAX_ARG_STRLEN) {
        return Err(e2big("an argument or environment string is too long"));
    }
    let strings: usize = argv.iter().chain(envp).map(|s| s.len() + 1).sum::<usize>() + execfn.len() + 1;
    let ptrs = (argv.len() + envp.len() + 3 + (auxv.len() + 4) * 2) * 8;
    let need = (strings + ptrs + 64) as u64;
    let top = place.stack_top;
    // Linux allows arguments up to a quarter of the stack limit, at most 3/4 of
    // _STK_LIM (6 MiB) and at least ARG_MAX (128 KiB).
    if need > (place.stack_limit / 4).clamp(128 << 10, 6 << 20) {
        return Err(e2big("argument list too long"));
    }
    let vma_len = page_up(need).ok_or_else(|| e2big("argument list too long"))? + INITIAL_STACK_EXTRA;
    let req = MmapRequest {
        addr: top - vma_len,
        len: vma_len,
        prot: Prot::READ | Prot::WRITE,
        shared: false,
        fixed: true,
        noreplace: true,
        growsdown: true,
        populate: false,
        low_2g: false,
        name: VmaName::Stack,
    };
    let fail = |e: Errno| ExecError { errno: e, msg: format!("cannot set up the stack: {e}") };
    mm.mmap(req).map_err(fail)?;

    // Pushes a NUL-terminated string below `p`; returns its address.
    let push_str = |p: &mut u64, s: &[u8]| -> Result<u64, ExecError> {
        *p -= s.len() as u64 + 1;
        let mut b = s.to_vec();
        b.push(0);
        mm.copy_out(*p, &b).map_err(fail)?;
        Ok(*p)
    };
    let mut p = top - 8;
    let execfn_addr = push_str(&mut p, execfn)?;
    let mut env_addrs: Vec<u64> = envp.iter().rev().map(|s| push_str(&mut p, s)).collect::<Result<_, _>>()?;
    env_addrs.reverse();
    // The environment strings lie together just below the file name.
    mm.set_env_range(p, execfn_addr);
    let mut arg_addrs: Vec<u64> = argv.iter().rev().map(|s| push_str(&mut p, s)).collect::<Result<_, _>>()?;
    arg_addrs.reverse();
    // arch_align_stack: a random offset below the strings, 16-byte aligned.
    p = (p - place.stack_offset) & !15;
    let platform_addr = push_str(&mut p, b"x86_64")?;
    p -= aux.random.len() as u64;
    let random_addr = p;
    mm.copy_out(random_addr, &aux.random).map_err(fail)?;

    let mut vec: Vec<u64> = Vec::new();
    vec.push(argv.len() as u64);
    vec.extend(&arg_addrs);
    vec.push(0);
    vec.extend(&env_addrs);
    vec.push(0);
    for &(k, v) in auxv {
        vec.extend([k, v]);
    }
    vec.extend([AT_RANDOM, random_addr, AT_HWCAP2, aux.hwcap2, AT_EXECFN, execfn_addr, AT_PLATFORM, platform_addr]);
    vec.extend([AT_NULL, 0]);
    let sp = (p - vec.len() as u64 * 8) & !15;
    let bytes: Vec<u8> = vec.iter().flat_map(|v| v.to_le_bytes()).collect();
    mm.copy_out(sp, &bytes).map_err(fail)?;
    Ok(sp)
}
