//! The image of a linear memory right after instantiation, and putting it back exactly.
//!
//! A fresh pooled memory reads as zero everywhere; instantiation writes the module's
//! active data segments into it. So its whole initial state is "zero, except these
//! pages", and the image keeps only those pages: the ones [`touched`](super::touched)
//! reports after instantiation that hold a byte other than zero.
//!
//! After a call, every page that may differ from the image is one the scan reports
//! (present or swapped out, read-and-written or only written; a page that was only read
//! maps the shared zero page and still reads as zero). Each such page gets the image's
//! bytes back if it is in the image, zeros otherwise; with the `mincore` method, ranges
//! that are not resident are discarded and their image pages written again. Pages the
//! scan does not report read as zero, and are not in the image (an image page is
//! written, so it is always reported). So after [`Image::restore`] every byte of the
//! memory equals the byte a fresh instantiation would have left there.
//!
//! Restoring writes image pages back whether or not the call wrote them (the scan
//! cannot tell a page the call wrote from one the image wrote); for the data segments
//! of real guests that is a few pages.

use std::io;

use crate::vm::touched::{Method, Work, os_page};

/// The pages of a memory that held bytes other than zero right after instantiation.
#[derive(Debug)]
pub(crate) struct Image {
    /// The memory's size in bytes then.
    bytes: usize,
    /// The OS page size.
    page: usize,
    /// Indices of the pages kept, ascending.
    pages: Vec<usize>,
    /// Their bytes, `page` per entry of `pages`.
    data: Vec<u8>,
}

impl Image {
    /// Reads the image of the `bytes` bytes at `base`.
    ///
    /// # Safety
    /// `[base, base + bytes)` must be a readable part of an anonymous private mapping
    /// that nobody writes meanwhile.
    pub(crate) unsafe fn capture(base: *mut u8, bytes: usize, method: Method) -> io::Result<Image> {
        let page = os_page();
        let mut image = Image { bytes, page, pages: Vec::new(), data: Vec::new() };
        method.for_each(base, bytes, &mut |from, to, _| {
            for p in from / page..to.div_ceil(page) {
                // SAFETY: inside the range (the caller's contract); `min` keeps a partial
                // last page in bounds.
                let bytes_of_page =
                    unsafe { std::slice::from_raw_parts(base.add(p * page), page.min(bytes - p * page)) };
                if bytes_of_page.iter().any(|b| *b != 0) {
                    image.pages.push(p);
                    image.data.extend_from_slice(bytes_of_page);
                    image.data.resize(image.pages.len() * page, 0);
                }
            }
        })?;
        Ok(image)
    }

    /// The memory's size when the image was taken.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The image's pages that lie in pages `[from, to)`, as indices into `pages`.
    fn kept_between(&self, from: usize, to: usize) -> std::ops::Range<usize> {
        self.pages.partition_point(|p| *p < from)..self.pages.partition_point(|p| *p < to)
    }

    /// Writes kept page number `i` of the image back.
    ///
    /// # Safety
    /// As for [`Image::restore`].
    unsafe fn write_kept(&self, base: *mut u8, i: usize) {
        let p = self.pages[i];
        let len = self.page.min(self.bytes - p * self.page);
        // SAFETY: inside the memory (the caller's contract); the image's buffer does
        // not overlap guest memory.
        unsafe { std::ptr::copy_nonoverlapping(self.data[i * self.page..].as_ptr(), base.add(p * self.page), len) };
    }

    /// Makes the `bytes()` bytes at `base` equal to the image again (see the module docs),
    /// and sets `resident` to the pages it wrote, ascending: after it, every other page
    /// reads as zero and holds nothing in swap. At most `keep_resident` bytes of pages
    /// outside the image are zeroed in place (they stay present, so the next call takes no
    /// fault on them); past that, the memory is discarded and the image written again.
    ///
    /// # Safety
    /// `[base, base + bytes())` must be a read-write part of an anonymous private mapping
    /// that nobody else reads or writes meanwhile.
    pub(crate) unsafe fn restore(
        &self,
        base: *mut u8,
        method: Method,
        resident: &mut Vec<usize>,
        keep_resident: usize,
    ) -> io::Result<()> {
        resident.clear();
        let page = self.page;
        let mut zeroed = 0;
        let mut discard_all = false;
        let mut failed = Ok(());
        method.for_each(base, self.bytes, &mut |from, to, work| {
            if discard_all || failed.is_err() {
                return;
            }
            let (first, end) = (from / page, to.div_ceil(page));
            match work {
                Work::Clear => {
                    let mut kept = self.kept_between(first, end).peekable();
                    for p in first..end {
                        resident.push(p);
                        if kept.peek().is_some_and(|i| self.pages[*i] == p) {
                            let i = kept.next().unwrap_or_default();
                            // SAFETY: the caller's contract.
                            unsafe { self.write_kept(base, i) };
                        } else {
                            let len = page.min(self.bytes - p * page);
                            zeroed += len;
                            if zeroed > keep_resident {
                                discard_all = true;
                                return;
                            }
                            // SAFETY: as above.
                            unsafe { std::ptr::write_bytes(base.add(p * page), 0, len) };
                        }
                    }
                }
                Work::Discard => {
                    // SAFETY: part of the mapping; discarding makes it read as zero.
                    if unsafe { libc::madvise(base.add(from).cast(), to - from, libc::MADV_DONTNEED) } != 0 {
                        failed = Err(io::Error::last_os_error());
                        return;
                    }
                    for i in self.kept_between(first, end) {
                        resident.push(self.pages[i]);
                        // SAFETY: the caller's contract.
                        unsafe { self.write_kept(base, i) };
                    }
                }
            }
        })?;
        failed?;
        if discard_all {
            // More touched than is worth zeroing in place: drop it all, write the image.
            // SAFETY: the caller's contract.
            unsafe { self.restore_minimal(base, resident) }?;
        }
        Ok(())
    }

    /// Makes the memory equal to the image with as few pages present as possible: all
    /// discarded, then the image written. Sets `resident` to the image's pages.
    ///
    /// # Safety
    /// As [`Image::restore`].
    pub(crate) unsafe fn restore_minimal(&self, base: *mut u8, resident: &mut Vec<usize>) -> io::Result<()> {
        // SAFETY: part of the mapping (the caller's contract); discarding makes it read
        // as zero, swapped-out pages included.
        if unsafe { libc::madvise(base.cast(), self.bytes, libc::MADV_DONTNEED) } != 0 {
            return Err(io::Error::last_os_error());
        }
        for i in 0..self.pages.len() {
            // SAFETY: the caller's contract.
            unsafe { self.write_kept(base, i) };
        }
        resident.clear();
        resident.extend_from_slice(&self.pages);
        Ok(())
    }

    /// Makes the memory equal to the image again without scanning it, writing only the
    /// pages of `resident` (the pages the last [`Image::restore`] wrote). Exact only if no
    /// other page became present since then: the caller proves that with an unchanged
    /// page-fault count of the only thread that uses the memory
    /// ([`faults_on_this_thread`](super::touched::faults_on_this_thread)), since in an
    /// anonymous private mapping a page becomes present only through a fault.
    ///
    /// # Safety
    /// As [`Image::restore`], and `resident` must be what the last restore of this
    /// memory set.
    pub(crate) unsafe fn restore_resident(&self, base: *mut u8, resident: &[usize]) {
        let mut kept = 0;
        for &p in resident {
            while kept < self.pages.len() && self.pages[kept] < p {
                kept += 1;
            }
            if kept < self.pages.len() && self.pages[kept] == p {
                // SAFETY: the caller's contract.
                unsafe { self.write_kept(base, kept) };
            } else {
                let len = self.page.min(self.bytes - p * self.page);
                // SAFETY: inside the memory (the caller's contract).
                unsafe { std::ptr::write_bytes(base.add(p * self.page), 0, len) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::slot::{KEEP_RESIDENT_BYTES, WASM_PAGE, checkout, give_back};

    fn methods() -> Vec<Method> {
        let mut m = vec![Method::Mincore];
        if let best @ Method::PagemapScan(_) = Method::best() {
            m.push(best);
        }
        m
    }

    #[test]
    fn restore_puts_back_the_image_and_zeroes_the_rest() {
        for method in methods() {
            let bytes = 4 * WASM_PAGE;
            let slot = checkout(bytes).unwrap();
            let base = slot.base.as_ptr();
            let page = os_page();
            // SAFETY: the four wasm pages are read-write and ours.
            unsafe {
                base.add(10).write(1);
                base.add(3 * page + 7).write(2);
                base.add(bytes - 1).write(3);
            }
            // SAFETY: as above.
            let image = unsafe { Image::capture(base, bytes, method) }.unwrap();
            assert_eq!(image.pages, [0, 3, bytes / page - 1], "{method:?}");
            for round in 0..3u8 {
                // SAFETY: as above.
                unsafe {
                    assert_eq!(
                        (base.add(10).read(), base.add(3 * page + 7).read(), base.add(bytes - 1).read()),
                        (1, 2, 3)
                    );
                    assert_eq!(base.add(5 * page).read(), 0, "{method:?} round {round}");
                    base.add(10).write(9 + round);
                    base.add(3 * page + 8).write(9);
                    base.add(5 * page).write(9);
                    base.add(bytes - 1).write(0);
                    image.restore(base, method, &mut Vec::new(), KEEP_RESIDENT_BYTES).unwrap();
                }
            }
            give_back(slot);
        }
    }

    #[test]
    fn the_pages_a_restore_wrote_are_enough_while_no_fault_made_another_present() {
        let bytes = 2 * WASM_PAGE;
        let slot = checkout(bytes).unwrap();
        let base = slot.base.as_ptr();
        let page = os_page();
        // SAFETY: read-write and ours; a pooled slot may come with zeroed pages present.
        unsafe {
            libc::madvise(base.cast(), bytes, libc::MADV_DONTNEED);
            base.add(page).write(4);
        }
        // SAFETY: as above.
        let image = unsafe { Image::capture(base, bytes, Method::best()) }.unwrap();
        let mut resident = Vec::new();
        // SAFETY: as above.
        unsafe {
            base.add(7 * page).write(1);
            image.restore(base, Method::best(), &mut resident, KEEP_RESIDENT_BYTES).unwrap();
        }
        assert_eq!(resident, [1, 7], "the image page and the page written");
        for round in 0..3u8 {
            let before = crate::vm::touched::faults_on_this_thread();
            // SAFETY: as above: both pages are present, so these writes take no fault.
            unsafe {
                base.add(page + 1).write(round + 1);
                base.add(7 * page + 9).write(round + 1);
            }
            assert_eq!(crate::vm::touched::faults_on_this_thread(), before, "writes to present pages take no fault");
            // SAFETY: as above; `resident` is what the last restore set.
            unsafe { image.restore_resident(base, &resident) };
            // SAFETY: as above.
            let all = unsafe { std::slice::from_raw_parts(base, bytes) };
            assert_eq!(all[page], 4);
            assert_eq!(all.iter().filter(|b| **b != 0).count(), 1, "round {round}");
        }
        give_back(slot);
    }

    #[test]
    fn restore_after_touching_more_than_is_zeroed_in_place() {
        for method in methods() {
            let bytes = 32 * WASM_PAGE;
            let slot = checkout(bytes).unwrap();
            let base = slot.base.as_ptr();
            // SAFETY: read-write and ours.
            unsafe { base.add(100).write(7) };
            // SAFETY: as above.
            let image = unsafe { Image::capture(base, bytes, method) }.unwrap();
            // SAFETY: as above.
            unsafe {
                std::ptr::write_bytes(base, 1, bytes);
                image.restore(base, method, &mut Vec::new(), KEEP_RESIDENT_BYTES).unwrap();
                let all = std::slice::from_raw_parts(base, bytes);
                assert_eq!(all[100], 7);
                assert_eq!(all.iter().filter(|b| **b != 0).count(), 1, "{method:?}");
            }
            give_back(slot);
        }
    }
}
