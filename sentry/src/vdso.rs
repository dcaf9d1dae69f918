//! The sandbox's vDSO: clock_gettime, gettimeofday and time without a trap.
//!
//! The image (built from `sentry/vdso/vdso.c`) lives in the memory file once
//! per sandbox. exec maps it into every address space, private and
//! copy-on-write as Linux's is, one page after a shared read-only parameter
//! page ("[vvar]"), and names it in AT_SYSINFO_EHDR.
//!
//! Its clocks read the TSC and scale it by the parameters. A Sentry thread
//! (the timekeeper) samples the TSC against the host's CLOCK_MONOTONIC every
//! `PERIOD` and rewrites them under a sequence count. Each new line starts
//! where the old one had got to, and its slope corrects the gap to the host
//! clock over the next period (by at most 50 ppm). So CLOCK_MONOTONIC read
//! through the vDSO never goes back, and it stays within a few hundred
//! nanoseconds of the host clock that the Sentry's own timeouts use. A line
//! not updated for a second is stale: the vDSO then makes the system call
//! until the timekeeper runs again. REALTIME, BOOTTIME and TAI are
//! MONOTONIC plus offsets sampled from the host at each update. Without an
//! invariant TSC the parameters never become ready, and every call is the
//! system call.

use std::sync::atomic::{fence, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use abi::consts::{Prot, PAGE_SIZE};
use abi::Errno;
use vfs::memfile::MemoryFile;

use crate::mm::{MemoryManager, MmapRequest, VmaName};

/// The vDSO image, built by build.rs.
pub static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// How often the timekeeper rewrites the parameters.
const PERIOD: Duration = Duration::from_millis(50);
/// The first updates, each followed for longer as the rate, measured over
/// all of them, grows more exact: a rate from 1 ms is good to some 50 ppm,
/// which is 0.25 µs over the 5 ms it is used for.
const FIRST_PERIODS: [Duration; 3] = [Duration::from_millis(1), Duration::from_millis(5), Duration::from_millis(20)];
/// How long the first exec waits for the first update.
const READY_WAIT: Duration = Duration::from_millis(100);
/// Samples kept for the rate: it is measured over up to this many periods.
const RATE_WINDOW: usize = 40;
/// A gap to the host clock larger than this is stepped over, not slewed.
const MAX_SLEW_NS: i64 = 50_000;
/// The most the slope is changed to close a gap, in parts per billion (50
/// ppm): a timekeeper held up for a while drifts from the host clock by at
/// most this rate (the gap of a normal period needs a few ppm).
const MAX_SLEW_PPB: i128 = 50_000;
/// How long the vDSO follows a line without an update before it falls back
/// to the system call.
const STALE_AFTER: Duration = Duration::from_secs(1);

/// The parameter page, as `struct params` in vdso.c reads it.
#[repr(C)]
struct Params {
    seq: AtomicU64,
    ready: AtomicU64,
    base_tsc: AtomicU64,
    base_ns: AtomicI64,
    /// Nanoseconds per TSC cycle, as a 32.32 fixed-point number.
    mult: AtomicU64,
    /// Cycles past `base_tsc` after which the vDSO makes the system call.
    max_delta: AtomicU64,
    realtime_offset: AtomicI64,
    boottime_offset: AtomicI64,
    tai_offset: AtomicI64,
}

/// The line the vDSO follows: CLOCK_MONOTONIC at `tsc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Line {
    base_tsc: u64,
    base_ns: i64,
    mult: u64,
}

impl Line {
    /// The line's time at `tsc` (as vdso.c computes it).
    fn at(&self, tsc: u64) -> i64 {
        let delta = if (tsc.wrapping_sub(self.base_tsc) as i64) > 0 { tsc - self.base_tsc } else { 0 };
        self.base_ns + ((delta as u128 * self.mult as u128) >> 32) as i64
    }
}

/// The host's clocks read at one TSC value.
#[derive(Clone, Copy, Debug)]
struct Sample {
    tsc: u64,
    mono: i64,
    realtime_offset: i64,
    boottime_offset: i64,
    tai_offset: i64,
}

/// The next line, from the one in force (if any), a fresh sample and the
/// oldest kept sample (for the TSC rate). The rate is the host clock's
/// nanoseconds per cycle over the window; the line starts where the old one
/// is at the sample's TSC and is steeper or flatter by what it takes to meet
/// the host clock one period later.
fn next_line(old: Option<Line>, now: &Sample, oldest: &Sample) -> Option<Line> {
    let cycles = now.tsc.checked_sub(oldest.tsc).filter(|&c| c > 0)?;
    let ns = now.mono.checked_sub(oldest.mono).filter(|&n| n > 0)?;
    let rate = ((ns as u128) << 32) / cycles as u128;
    let rate = u64::try_from(rate).ok().filter(|&r| r > 0)?;
    let stepped = Line { base_tsc: now.tsc, base_ns: now.mono, mult: rate };
    let Some(old) = old else { return Some(stepped) };
    let at = old.at(now.tsc);
    let gap = now.mono - at;
    if gap.abs() > MAX_SLEW_NS {
        return Some(stepped);
    }
    let period = PERIOD.as_nanos() as i128;
    let slew = (gap as i128 * 1_000_000_000 / period).clamp(-MAX_SLEW_PPB, MAX_SLEW_PPB);
    let mult = rate as i128 + rate as i128 * slew / 1_000_000_000;
    Some(Line { base_tsc: now.tsc, base_ns: at, mult: u64::try_from(mult).ok()? })
}

fn rdtsc() -> u64 {
    // SAFETY: lfence and rdtsc only order and read the time-stamp counter;
    // x86-64 has both, and the Sentry does not disable rdtsc.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

fn host_ns(clock: libc::clockid_t) -> i64 {
    // The clocks asked for (monotonic, realtime, boottime, TAI) always exist.
    crate::host::clock_gettime(clock).map_or(0, |ts| ts.tv_sec * 1_000_000_000 + ts.tv_nsec)
}

/// Reads the TSC and the host clocks as close together as it can: the best of
/// a few tries, so that a preemption between two reads does not count.
fn sample() -> Sample {
    let mut best: Option<(u64, Sample)> = None;
    for _ in 0..5 {
        let t0 = rdtsc();
        let mono = host_ns(libc::CLOCK_MONOTONIC);
        let t1 = rdtsc();
        let spread = t1.wrapping_sub(t0);
        if best.as_ref().is_some_and(|(s, _)| *s <= spread) {
            continue;
        }
        let offset = |clock| {
            let before = host_ns(libc::CLOCK_MONOTONIC);
            let v = host_ns(clock);
            let after = host_ns(libc::CLOCK_MONOTONIC);
            v - (before + (after - before) / 2)
        };
        let s = Sample {
            tsc: t0 + spread / 2,
            mono,
            realtime_offset: offset(libc::CLOCK_REALTIME),
            boottime_offset: offset(libc::CLOCK_BOOTTIME),
            tai_offset: offset(libc::CLOCK_TAI),
        };
        best = Some((spread, s));
    }
    best.expect("five tries").1
}

/// Whether the CPU's TSC runs at a constant rate in every state (CPUID
/// 0x80000007 EDX bit 8), which the vDSO's clocks need.
fn invariant_tsc() -> bool {
    use core::arch::x86_64::__cpuid;
    let max = __cpuid(0x8000_0000).eax;
    max >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
}

/// The vDSO of one sandbox: its image and parameter page in the memory file.
pub struct Vdso {
    mf: Arc<MemoryFile>,
    /// The parameter page, then the image's pages.
    off: u64,
    pages: u64,
    /// Whether the timekeeper runs (the CPU has an invariant TSC).
    timekeeping: bool,
}

impl Vdso {
    /// Puts the image and a parameter page in the memory file and, on a CPU
    /// with an invariant TSC, starts the timekeeper.
    pub fn new(mf: Arc<MemoryFile>) -> Result<Arc<Vdso>, Errno> {
        let image_pages = (IMAGE.len() as u64).div_ceil(PAGE_SIZE);
        let pages = 1 + image_pages;
        let off = mf.allocate(pages * PAGE_SIZE)?;
        let timekeeping = invariant_tsc();
        let v = Arc::new(Vdso { mf, off, pages, timekeeping });
        vfs::BlockSeq::new(vec![v.mf.block(off + PAGE_SIZE, image_pages * PAGE_SIZE)]).copy_from(IMAGE);
        if timekeeping {
            let weak = Arc::downgrade(&v);
            // Unnamed: naming a thread is a host call the Sentry's seccomp policy refuses.
            std::thread::Builder::new().spawn(move || timekeeper(weak)).map_err(|_| Errno::EAGAIN)?;
        }
        Ok(v)
    }

    fn params(&self) -> &Params {
        let p = self.mf.block(self.off, PAGE_SIZE).as_ptr();
        // SAFETY: the page lies in the memory file's mapping, which lives as
        // long as `self.mf`; it is page-aligned, so aligned for the atomics,
        // and only ever accessed through atomics (by the Sentry) or read (by
        // the application).
        unsafe { &*p.cast::<Params>() }
    }

    fn line(&self) -> Option<Line> {
        let p = self.params();
        (p.ready.load(Ordering::Relaxed) != 0).then(|| Line {
            base_tsc: p.base_tsc.load(Ordering::Relaxed),
            base_ns: p.base_ns.load(Ordering::Relaxed),
            mult: p.mult.load(Ordering::Relaxed),
        })
    }

    /// Publishes a new line and offsets (only the timekeeper writes).
    fn publish(&self, line: Line, s: &Sample) {
        let p = self.params();
        let seq = p.seq.load(Ordering::Relaxed);
        p.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        p.base_tsc.store(line.base_tsc, Ordering::Relaxed);
        p.base_ns.store(line.base_ns, Ordering::Relaxed);
        p.mult.store(line.mult, Ordering::Relaxed);
        let stale = ((STALE_AFTER.as_nanos() << 32) / line.mult as u128).min(u64::MAX as u128);
        p.max_delta.store(stale as u64, Ordering::Relaxed);
        p.realtime_offset.store(s.realtime_offset, Ordering::Relaxed);
        p.boottime_offset.store(s.boottime_offset, Ordering::Relaxed);
        p.tai_offset.store(s.tai_offset, Ordering::Relaxed);
        p.ready.store(1, Ordering::Relaxed);
        p.seq.store(seq + 2, Ordering::Release);
    }

    /// Maps the parameter page and the image into `mm`, where mmap would put
    /// them; returns the image's address (AT_SYSINFO_EHDR).
    /// The first exec waits (at most READY_WAIT) for the first update, so
    /// that its program sees the same clocks from its first instruction (a
    /// vDSO that is not ready makes the system call, which reports a bad
    /// pointer as EFAULT where the vDSO faults).
    pub fn map(self: &Arc<Self>, mm: &MemoryManager) -> Result<u64, Errno> {
        if self.timekeeping {
            let start = std::time::Instant::now();
            while self.line().is_none() && start.elapsed() < READY_WAIT {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let req = MmapRequest {
            addr: 0,
            len: self.pages * PAGE_SIZE,
            prot: Prot::READ,
            shared: true,
            fixed: false,
            noreplace: false,
            growsdown: false,
            populate: false,
            low_2g: false,
            name: VmaName::Vvar,
        };
        let at = mm.mmap_file(req, self.clone(), 0, false)?;
        let image = at + PAGE_SIZE;
        let text = MmapRequest {
            addr: image,
            len: (self.pages - 1) * PAGE_SIZE,
            prot: Prot::READ | Prot::EXEC,
            shared: false,
            fixed: true,
            name: VmaName::Vdso,
            ..req
        };
        mm.mmap_file(text, self.clone(), PAGE_SIZE, true)?;
        Ok(image)
    }
}

impl vfs::file::Mappable for Vdso {
    fn map_page(&self, index: u64) -> Result<u64, Errno> {
        if index >= self.pages {
            return Err(Errno::EFAULT);
        }
        let off = self.off + index * PAGE_SIZE;
        self.mf.share(off, PAGE_SIZE);
        Ok(off)
    }
}

impl Drop for Vdso {
    fn drop(&mut self) {
        self.mf.free(self.off, self.pages * PAGE_SIZE);
    }
}

/// Keeps the parameters in step with the host clock while the vDSO lives.
fn timekeeper(vdso: Weak<Vdso>) {
    let mut window = std::collections::VecDeque::with_capacity(RATE_WINDOW);
    window.push_back(sample());
    for wait in FIRST_PERIODS.into_iter().chain(std::iter::repeat(PERIOD)) {
        std::thread::sleep(wait);
        let Some(v) = vdso.upgrade() else { return };
        let now = sample();
        let oldest = *window.front().expect("the window is never empty");
        if let Some(line) = next_line(v.line(), &now, &oldest) {
            v.publish(line, &now);
        }
        if window.len() == RATE_WINDOW {
            window.pop_front();
        }
        window.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(tsc: u64, mono: i64) -> Sample {
        Sample { tsc, mono, realtime_offset: 0, boottime_offset: 0, tai_offset: 0 }
    }

    /// 2 cycles per nanosecond: mult is half of 2^32.
    const HALF: u64 = 1 << 31;

    #[test]
    fn first_line_is_the_host_rate_through_the_sample() {
        let l = next_line(None, &s(3_000, 1_500), &s(1_000, 500)).unwrap();
        assert_eq!(l, Line { base_tsc: 3_000, base_ns: 1_500, mult: HALF });
        assert_eq!(l.at(5_000), 2_500);
        // A TSC behind the base reads the base.
        assert_eq!(l.at(2_000), 1_500);
    }

    #[test]
    fn a_small_gap_is_slewed_from_where_the_old_line_is() {
        let old = Line { base_tsc: 0, base_ns: 0, mult: HALF };
        let period_cycles = PERIOD.as_nanos() as u64 * 2;
        // The host is 1000 ns ahead of the old line at the sample.
        let now = s(period_cycles, PERIOD.as_nanos() as i64 + 1_000);
        let l = next_line(Some(old), &now, &s(0, 1_000)).unwrap();
        assert_eq!(l.base_ns, old.at(now.tsc), "continuous: no jump");
        let later = l.at(now.tsc + period_cycles);
        let host_later = now.mono + PERIOD.as_nanos() as i64;
        assert!((later - host_later).abs() < 5, "meets the host one period on: {later} vs {host_later}");
    }

    #[test]
    fn the_slope_changes_by_at_most_50_ppm() {
        let old = Line { base_tsc: 0, base_ns: 0, mult: HALF };
        let period_cycles = PERIOD.as_nanos() as u64 * 2;
        let now = s(period_cycles, PERIOD.as_nanos() as i64 + 40_000);
        let l = next_line(Some(old), &now, &s(0, 40_000)).unwrap();
        assert_eq!(l.base_ns, old.at(now.tsc));
        let gained = l.at(now.tsc + period_cycles) - l.base_ns - PERIOD.as_nanos() as i64;
        assert!((2_400..=2_500).contains(&gained), "50 ppm of 50 ms, not the 40 µs gap: {gained}");
    }

    #[test]
    fn a_large_gap_is_stepped() {
        let old = Line { base_tsc: 0, base_ns: 0, mult: HALF };
        let l = next_line(Some(old), &s(2_000_000, 10_000_000), &s(0, 9_000_000)).unwrap();
        assert_eq!(l.base_ns, 10_000_000);
    }

    #[test]
    fn no_rate_without_time_passing() {
        assert_eq!(next_line(None, &s(1_000, 500), &s(1_000, 500)), None);
    }

    #[test]
    fn image_is_a_relocation_free_shared_object() {
        assert_eq!(&IMAGE[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([IMAGE[16], IMAGE[17]]), 3, "ET_DYN");
        let text = String::from_utf8_lossy(IMAGE);
        for sym in ["__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "LINUX_2.6", "linux-vdso.so.1"] {
            assert!(text.contains(sym), "{sym} missing");
        }
        // No DT_RELA/DT_REL in the dynamic section: the C libraries do not
        // relocate a vDSO.
        let phoff = u64::from_le_bytes(IMAGE[32..40].try_into().unwrap()) as usize;
        let phnum = u16::from_le_bytes([IMAGE[56], IMAGE[57]]) as usize;
        let dynamic = (0..phnum)
            .map(|i| &IMAGE[phoff + i * 56..phoff + (i + 1) * 56])
            .find(|ph| u32::from_le_bytes(ph[0..4].try_into().unwrap()) == 2)
            .expect("PT_DYNAMIC");
        let (off, size) = (
            u64::from_le_bytes(dynamic[8..16].try_into().unwrap()) as usize,
            u64::from_le_bytes(dynamic[32..40].try_into().unwrap()) as usize,
        );
        for d in IMAGE[off..off + size].chunks(16) {
            let tag = u64::from_le_bytes(d[0..8].try_into().unwrap());
            assert!(![7, 17, 23, 0x6fff_fff9].contains(&tag), "relocation tag {tag:#x}");
        }
    }
}
