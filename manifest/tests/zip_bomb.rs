//! A zip bomb (one entry that inflates to 1 GiB) is rejected quickly and without
//! allocating anything near its size. Alone in its test binary so that the allocation
//! counter sees only this test.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{MANIFEST, RawEntry, build_zip, deflate_bomb};
use wasmod_manifest::{ArchiveError, ArchiveLimits, read_package};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every allocation is the system allocator's, unchanged; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn one_gib_bomb_is_rejected_fast_without_allocating_it() {
    const GIB_IN_MIB: usize = 1024;
    let data = deflate_bomb(GIB_IN_MIB);
    let bomb = RawEntry {
        name: b"run.wasm".to_vec(),
        method: 8,
        data,
        crc: 0,
        uncompressed_size: u32::MAX, // honest would be 2^30; the header cannot lower any limit anyway
        mode: 0o100644,
        flags: 0x0800,
    };
    let zip = build_zip(&[RawEntry::stored("module.ron", MANIFEST.as_bytes()), bomb]);
    assert!(zip.len() < 8 << 20, "the bomb itself is small: {} bytes", zip.len());

    let baseline = CURRENT.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let started = Instant::now();
    let err = read_package(&zip, &ArchiveLimits::default()).unwrap_err();
    let elapsed = started.elapsed();
    let peak_extra = PEAK.load(Ordering::Relaxed) - baseline;

    assert!(matches!(err, ArchiveError::CompressionRatio { ref name, .. } if name == "run.wasm"), "{err}");
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert!(peak_extra < 16 << 20, "allocated {peak_extra} bytes while reading a 1 GiB bomb");
}
