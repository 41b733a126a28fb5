//! Which pages of an anonymous private mapping may hold bytes other than zero.
//!
//! A page of such a mapping that was never written reads as zero. One that was written
//! is either *present* (mapped in the page table) or *swapped* (its bytes are in swap,
//! zram or the swap cache, to come back on the next access). Clearing a pooled memory
//! must reach both, and nothing else needs work.
//!
//! - **`PAGEMAP_SCAN`** (Linux 6.7 and later): one `ioctl` on `/proc/self/pagemap`
//!   returns the ranges whose pages are present or swapped, leaving out pages that map
//!   the shared zero page (read but never written). Exact.
//! - **`mincore`** (everywhere else): reports a page *resident* if it is mapped or in
//!   the swap cache, but a page swapped out and dropped from the swap cache reads as not
//!   resident although it still holds its bytes. So the fallback returns the resident
//!   ranges as ranges to clear, and the others as ranges to *discard*
//!   (`MADV_DONTNEED`, which drops swap entries too): exact as well, at the cost of a
//!   system call per range that is not resident.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// What to do with a range of pages to make it read as zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// It may hold data where it is: write zeros (or discard it).
    Clear,
    /// It is not resident but may be swapped out: discard it.
    Discard,
}

/// `struct page_region` of the kernel's uapi.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// `struct pm_scan_arg` of the kernel's uapi.
#[repr(C)]
#[derive(Default)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: libc::c_ulong = (3 << 30) | ((size_of::<PmScanArg>() as libc::c_ulong) << 16) | (0x66 << 8) | 16;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
const PAGE_IS_PFNZERO: u64 = 1 << 5;

/// The file descriptor of `/proc/self/pagemap` once opened and found to answer
/// `PAGEMAP_SCAN`; [`UNKNOWN`] before, [`UNSUPPORTED`] where the kernel lacks it.
static PAGEMAP: AtomicI32 = AtomicI32::new(UNKNOWN);
const UNKNOWN: i32 = -1;
const UNSUPPORTED: i32 = -2;

/// In a child after `fork`: the inherited descriptor still reads the *parent's* page
/// tables (the kernel binds an open pagemap to the address space that opened it), so it
/// must not be used; the child opens its own.
extern "C" fn forget_pagemap_after_fork() {
    // Page-fault counts start again at zero in the child: counts taken in the parent
    // prove nothing there (see `faults_on_this_thread`).
    FORKS.fetch_add(1, Ordering::SeqCst);
    let fd = PAGEMAP.swap(UNKNOWN, Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: our own descriptor; `close` is async-signal-safe, as a child of a
        // multi-threaded fork requires.
        unsafe { libc::close(fd) };
    }
}

/// `/proc/self/pagemap` of this process, if this kernel answers `PAGEMAP_SCAN` on it.
fn pagemap() -> Option<RawFd> {
    match PAGEMAP.load(Ordering::Acquire) {
        UNSUPPORTED => return None,
        UNKNOWN => {}
        fd => return Some(fd),
    }
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a handler that only swaps an atomic and closes a descriptor.
    AT_FORK.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forget_pagemap_after_fork));
    });
    let opened = File::open("/proc/self/pagemap").ok().filter(|file| {
        // Probe with an empty range: kernels without the ioctl answer ENOTTY.
        let mut arg = PmScanArg { size: size_of::<PmScanArg>() as u64, ..Default::default() };
        let mut probe = [PageRegion::default(); 1];
        arg.vec = probe.as_mut_ptr() as u64;
        arg.vec_len = 1;
        arg.category_anyof_mask = PAGE_IS_PRESENT;
        arg.return_mask = PAGE_IS_PRESENT;
        // SAFETY: a valid fd, and `arg` and `probe` outlive the call.
        unsafe { libc::ioctl(file.as_raw_fd(), PAGEMAP_SCAN, &mut arg) >= 0 }
    });
    let fd = opened.map_or(UNSUPPORTED, IntoRawFd::into_raw_fd);
    match PAGEMAP.compare_exchange(UNKNOWN, fd, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => (fd >= 0).then_some(fd),
        Err(theirs) => {
            // Another thread got there first: keep its answer.
            if fd >= 0 {
                // SAFETY: the descriptor opened above, used by nobody.
                unsafe { libc::close(fd) };
            }
            (theirs >= 0).then_some(theirs)
        }
    }
}

/// How the pages that may hold data are found.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Method {
    /// `PAGEMAP_SCAN` on `/proc/self/pagemap` (its descriptor).
    PagemapScan(RawFd),
    /// `mincore`, discarding what is not resident.
    Mincore,
}

impl Method {
    /// `PAGEMAP_SCAN` where the kernel has it, else `mincore`.
    pub(crate) fn best() -> Method {
        pagemap().map_or(Method::Mincore, Method::PagemapScan)
    }

    /// Calls `work` for every range of `[base, base + len)` (page-aligned, in order)
    /// that may hold a byte other than zero, with what it takes to zero it. The range
    /// must be a mapped part of an anonymous private mapping of the caller's.
    pub(crate) fn for_each(
        self,
        base: *mut u8,
        len: usize,
        work: &mut dyn FnMut(usize, usize, Work),
    ) -> io::Result<()> {
        match self {
            Method::PagemapScan(fd) => scan(fd, base, len, work),
            Method::Mincore => by_mincore(base, len, work),
        }
    }
}

fn scan(fd: RawFd, base: *mut u8, len: usize, work: &mut dyn FnMut(usize, usize, Work)) -> io::Result<()> {
    let start = base as u64;
    let end = start + len as u64;
    let mut regions = [PageRegion::default(); 32];
    let mut from = start;
    while from < end {
        let mut arg = PmScanArg {
            size: size_of::<PmScanArg>() as u64,
            start: from,
            end,
            vec: regions.as_mut_ptr() as u64,
            vec_len: regions.len() as u64,
            // Present or swapped, but not the shared zero page.
            category_inverted: PAGE_IS_PFNZERO,
            category_mask: PAGE_IS_PFNZERO,
            category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
            return_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
            ..Default::default()
        };
        // SAFETY: an open pagemap descriptor of this process; `arg` and `regions` outlive
        // the call, and `vec_len` is the length of `regions`.
        let found = unsafe { libc::ioctl(fd, PAGEMAP_SCAN, &mut arg) };
        if found < 0 {
            return Err(io::Error::last_os_error());
        }
        for r in &regions[..found as usize] {
            work((r.start - start) as usize, (r.end - start) as usize, Work::Clear);
        }
        if arg.walk_end <= from {
            return Err(io::Error::other("PAGEMAP_SCAN made no progress"));
        }
        from = arg.walk_end;
    }
    Ok(())
}

/// How many times this process is a `fork` child of the process that first asked for the
/// page-table scan (the handler that counts is registered then; `Method::best` asks).
static FORKS: AtomicU64 = AtomicU64::new(0);

/// The page faults the calling thread has taken, as a value to compare with a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Faults {
    /// Forks since the handler was registered (a child's counts start again at zero).
    forks: u64,
    /// Minor and major faults of the thread.
    faults: u64,
}

/// The calling thread's page faults so far, or `None` if the kernel does not say. Every
/// page of an anonymous private mapping that becomes present, or comes back from swap,
/// does so through a fault of the task that touches it, so an unchanged count proves that
/// this thread made no page present meanwhile (provided huge pages are off for the range:
/// khugepaged could otherwise fill one without a fault).
pub(crate) fn faults_on_this_thread() -> Option<Faults> {
    // The fork handler must be in place before a count is worth anything.
    pagemap();
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a writable `rusage`.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call (and zeroed before).
    let usage = unsafe { usage.assume_init() };
    Some(Faults { forks: FORKS.load(Ordering::SeqCst), faults: usage.ru_minflt as u64 + usage.ru_majflt as u64 })
}

pub(crate) fn os_page() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as usize } else { 4096 }
}

fn by_mincore(base: *mut u8, len: usize, work: &mut dyn FnMut(usize, usize, Work)) -> io::Result<()> {
    let page = os_page();
    let pages = len.div_ceil(page);
    // One byte per page; ranges up to 2 MiB (most memories) need no allocation.
    let mut on_stack = [0u8; 512];
    let mut on_heap = Vec::new();
    let resident = if pages <= on_stack.len() {
        &mut on_stack[..pages]
    } else {
        on_heap.resize(pages, 0);
        &mut on_heap[..]
    };
    // SAFETY: the range is mapped (the caller's contract) and `resident` has one byte
    // per page.
    if unsafe { libc::mincore(base.cast(), len, resident.as_mut_ptr().cast()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut i = 0;
    while i < pages {
        let state = resident[i] & 1;
        let from = i;
        while i < pages && resident[i] & 1 == state {
            i += 1;
        }
        let kind = if state != 0 { Work::Clear } else { Work::Discard };
        work(from * page, (i * page).min(len), kind);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An anonymous private mapping of `pages` pages for a test, unmapped on drop.
    struct Mapping(*mut u8, usize);

    impl Mapping {
        fn new(pages: usize) -> Mapping {
            let len = pages * os_page();
            // SAFETY: a fresh anonymous mapping.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            Mapping(p.cast(), len)
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: our own mapping.
            unsafe { libc::munmap(self.0.cast(), self.1) };
        }
    }

    fn ranges(m: &Mapping, method: Method) -> Vec<(usize, usize, Work)> {
        let mut out = Vec::new();
        method.for_each(m.0, m.1, &mut |a, b, w| out.push((a / os_page(), b / os_page(), w))).unwrap();
        out
    }

    #[test]
    fn written_pages_are_found_and_pages_only_read_are_not() {
        let m = Mapping::new(64);
        let page = os_page();
        // SAFETY: inside the mapping.
        unsafe {
            m.0.write(1);
            m.0.add(5 * page).write(1);
            m.0.add(6 * page + 100).write(1);
            std::ptr::read_volatile(m.0.add(10 * page));
            m.0.add(63 * page).write(1);
        }
        let mincore = ranges(&m, Method::Mincore);
        let clear: Vec<_> = mincore.iter().filter(|r| r.2 == Work::Clear).map(|r| (r.0, r.1)).collect();
        // mincore also counts the page that was only read.
        assert_eq!(clear, [(0, 1), (5, 7), (10, 11), (63, 64)]);
        let discard: Vec<_> = mincore.iter().filter(|r| r.2 == Work::Discard).map(|r| (r.0, r.1)).collect();
        assert_eq!(discard, [(1, 5), (7, 10), (11, 63)], "every other range is discarded");
        if let Some(fd) = pagemap() {
            let found = ranges(&m, Method::PagemapScan(fd));
            assert_eq!(found, [(0, 1, Work::Clear), (5, 7, Work::Clear), (63, 64, Work::Clear)]);
        }
    }

    /// A child made by `fork` scans its own page tables, not its parent's: a page only
    /// the child wrote is found. (The descriptor it inherits reads the parent's.) Forking
    /// is safe only in a process with one busy thread, so the test runs itself again,
    /// alone, in a process of its own.
    #[test]
    fn a_forked_child_scans_its_own_pages() {
        const ALONE: &str = "WASMOD_FORK_TEST_ALONE";
        if std::env::var_os(ALONE).is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "vm::touched::tests::a_forked_child_scans_its_own_pages", "--test-threads=1"])
                .env(ALONE, "1")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let m = Mapping::new(8);
        let page = os_page();
        // The parent has its pagemap open before it forks.
        let before = ranges(&m, Method::best());
        assert!(before.iter().all(|r| r.2 == Work::Discard), "{before:?}");
        // SAFETY: this process runs this test only; the child does its work and leaves
        // with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: inside the child's copy of the mapping.
            unsafe { m.0.add(3 * page).write(1) };
            let found = ranges(&m, Method::best());
            let ok = found.iter().any(|r| r.2 == Work::Clear && r.0 <= 3 && 3 < r.1);
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child did not find the page it wrote");
    }

    /// Whether the running kernel is 6.7 or later, which has `PAGEMAP_SCAN`.
    fn kernel_has_pagemap_scan() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (6, 7)
    }

    #[test]
    fn the_page_table_scan_is_used_where_the_kernel_has_it() {
        assert_eq!(pagemap().is_some(), kernel_has_pagemap_scan());
        assert_eq!(matches!(Method::best(), Method::PagemapScan(_)), kernel_has_pagemap_scan());
    }

    #[test]
    #[allow(clippy::print_stdout, reason = "a test that cannot run says so")]
    fn scans_with_more_ranges_than_one_call_returns_go_on() {
        let Some(fd) = pagemap() else {
            println!("this kernel has no PAGEMAP_SCAN: nothing to scan with (the mincore path is tested above)");
            return;
        };
        let m = Mapping::new(200);
        let page = os_page();
        for i in (0..200).step_by(2) {
            // SAFETY: inside the mapping.
            unsafe { m.0.add(i * page).write(1) };
        }
        let found: Vec<usize> = ranges(&m, Method::PagemapScan(fd)).iter().map(|r| r.0).collect();
        assert_eq!(found, (0..200).step_by(2).collect::<Vec<_>>());
    }
}
