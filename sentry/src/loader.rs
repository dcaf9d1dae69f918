//! The ELF loader: maps a static x86-64 ELF (ET_EXEC or static-pie ET_DYN) and
//! builds the initial stack with argv, envp and the auxiliary vector.
//!
//! Dynamic executables (PT_INTERP) need the interpreter from the sandbox's
//! filesystem, which arrives with the filesystem issue; until then they fail
//! with ENOENT, which is what Linux says when the interpreter is missing.

use abi::consts::*;
use abi::Errno;

use crate::mm::{page_down, page_up, Access, MemoryManager, MmapRequest, VmaName};

/// Something an executable can be read from.
pub trait ExecSource {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<usize>;
    fn size(&self) -> std::io::Result<u64>;
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

/// Loads `src` into `mm` and builds the stack. `execfn` is the path as exec'd.
pub fn load(
    mm: &MemoryManager,
    src: &dyn ExecSource,
    execfn: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    aux: &AuxInfo,
    place: Placement,
) -> Result<Loaded, ExecError> {
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
    let e_entry = u64_at(&eh, 24);
    let e_phoff = u64_at(&eh, 32);
    let e_phentsize = u16_at(&eh, 54) as usize;
    let e_phnum = u16_at(&eh, 56) as usize;
    if e_phentsize != PHDR_SIZE || e_phnum == 0 || e_phnum * PHDR_SIZE > 65536 {
        return Err(enoexec("bad program header table"));
    }
    let ph_len = (e_phnum * PHDR_SIZE) as u64;
    if e_phoff.checked_add(ph_len).is_none_or(|e| e > file_len) {
        return Err(enoexec("program headers lie beyond the end of the file"));
    }
    let mut phb = vec![0u8; ph_len as usize];
    read_exact_at(src, e_phoff, &mut phb)?;
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

    if let Some(interp) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        let mut name = vec![0u8; interp.p_filesz.min(4096) as usize];
        read_exact_at(src, interp.p_offset, &mut name)?;
        let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or(&[])).into_owned();
        return Err(ExecError {
            errno: Errno::ENOENT,
            msg: format!("interpreter {name} not found: dynamic executables need the sandbox filesystem, which rVisor does not have yet"),
        });
    }
    let loads: Vec<Phdr> = phdrs.iter().copied().filter(|p| p.p_type == PT_LOAD).collect();
    if loads.is_empty() {
        return Err(enoexec("no loadable segments"));
    }
    let layout = mm.layout();
    for p in &loads {
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
    let min_vaddr = loads.iter().map(|p| page_down(p.p_vaddr)).min().unwrap();
    let bias = if e_type == ET_DYN {
        let align =
            loads.iter().map(|p| p.p_align).filter(|a| a.is_power_of_two()).max().unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
        (place.pie_base & !(align - 1)).wrapping_sub(min_vaddr)
    } else {
        0
    };
    let mut image_end = 0u64;
    // Linux skips segments that occupy no memory.
    for p in loads.iter().filter(|p| p.p_memsz > 0) {
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
        if end > start {
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
                name: VmaName::Image,
            };
            mm.mmap(req).map_err(|e| ExecError { errno: e, msg: format!("cannot map segment: {e}") })?;
        }
        // The file's bytes from the start of the page, as a file mapping shows them.
        let lead = vaddr - start;
        let mut data = vec![0u8; (lead + p.p_filesz) as usize];
        read_exact_at(src, p.p_offset - lead, &mut data)?;
        mm.copy_out_with(start, &data, Access::Force)
            .map_err(|e| ExecError { errno: e, msg: format!("cannot fill segment: {e}") })?;
    }
    // AT_PHDR: where the program headers lie in memory, from the segment whose
    // file range holds them (Linux ignores PT_PHDR for this).
    let phdr_addr = loads
        .iter()
        .find(|p| p.p_offset <= e_phoff && e_phoff < p.p_offset + p.p_filesz)
        .map_or(0, |p| (e_phoff - p.p_offset).wrapping_add(p.p_vaddr).wrapping_add(bias));
    mm.set_brk_start(image_end + place.brk_offset);

    let entry = e_entry.wrapping_add(bias);
    if entry >= layout.max_addr {
        return Err(ExecError { errno: Errno::EINVAL, msg: "entry point outside the user address space".into() });
    }
    let auxv = [
        (AT_MINSIGSTKSZ, aux.minsigstksz),
        (AT_HWCAP, aux.hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, 100),
        (AT_PHDR, phdr_addr),
        (AT_PHENT, PHDR_SIZE as u64),
        (AT_PHNUM, e_phnum as u64),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, entry),
        (AT_UID, aux.uid as u64),
        (AT_EUID, aux.euid as u64),
        (AT_GID, aux.gid as u64),
        (AT_EGID, aux.egid as u64),
        (AT_SECURE, 0),
    ];
    let sp = build_stack(mm, place, execfn, argv, envp, &auxv, aux)?;
    Ok(Loaded { entry, sp })
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
    let vma_len = page_up(need).unwrap() + INITIAL_STACK_EXTRA;
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
