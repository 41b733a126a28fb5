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
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

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

/// `/proc/self/pagemap`, if this kernel answers `PAGEMAP_SCAN` on it.
fn pagemap() -> Option<&'static File> {
    static PAGEMAP: OnceLock<Option<File>> = OnceLock::new();
    PAGEMAP
        .get_or_init(|| {
            let file = File::open("/proc/self/pagemap").ok()?;
            // Probe with an empty range: kernels without the ioctl answer ENOTTY.
            let mut arg = PmScanArg { size: size_of::<PmScanArg>() as u64, ..Default::default() };
            let mut probe = [PageRegion::default(); 1];
            arg.vec = probe.as_mut_ptr() as u64;
            arg.vec_len = 1;
            arg.category_anyof_mask = PAGE_IS_PRESENT;
            arg.return_mask = PAGE_IS_PRESENT;
            // SAFETY: a valid fd, and `arg` and `probe` outlive the call.
            let rc = unsafe { libc::ioctl(file.as_raw_fd(), PAGEMAP_SCAN, &mut arg) };
            (rc >= 0).then_some(file)
        })
        .as_ref()
}

/// How the pages that may hold data are found.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Method {
    /// `PAGEMAP_SCAN` on `/proc/self/pagemap`.
    PagemapScan(&'static File),
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
            Method::PagemapScan(file) => scan(file, base, len, work),
            Method::Mincore => by_mincore(base, len, work),
        }
    }
}

fn scan(file: &File, base: *mut u8, len: usize, work: &mut dyn FnMut(usize, usize, Work)) -> io::Result<()> {
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
        // SAFETY: a valid fd; `arg` and `regions` outlive the call, and `vec_len` is
        // the length of `regions`.
        let found = unsafe { libc::ioctl(file.as_raw_fd(), PAGEMAP_SCAN, &mut arg) };
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
pub(crate) mod tests {
    use super::*;

    /// An anonymous private mapping of `pages` pages for a test, unmapped on drop.
    pub(crate) struct Mapping(pub *mut u8, pub usize);

    impl Mapping {
        pub(crate) fn new(pages: usize) -> Mapping {
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
        if let Some(file) = pagemap() {
            let found = ranges(&m, Method::PagemapScan(file));
            assert_eq!(found, [(0, 1, Work::Clear), (5, 7, Work::Clear), (63, 64, Work::Clear)]);
        }
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
        let Some(file) = pagemap() else {
            println!("this kernel has no PAGEMAP_SCAN: nothing to scan with (the mincore path is tested above)");
            return;
        };
        let m = Mapping::new(200);
        let page = os_page();
        for i in (0..200).step_by(2) {
            // SAFETY: inside the mapping.
            unsafe { m.0.add(i * page).write(1) };
        }
        let found: Vec<usize> = ranges(&m, Method::PagemapScan(file)).iter().map(|r| r.0).collect();
        assert_eq!(found, (0..200).step_by(2).collect::<Vec<_>>());
    }
}
