//! The sdk's global allocator on wasm32 (feature `allocator`, on by default): dlmalloc
//! over memory that starts with what the module already has.
//!
//! Rust's standard allocator on `wasm32-unknown-unknown` takes its first block with
//! `memory.grow`, so a module grows its memory on every call although the linker left
//! the end of the initial memory, above `__heap_base`, unused. wasmod gives every call
//! a fresh (or exactly reset) instance, so that growth is paid again on every call. This
//! allocator hands dlmalloc that unused tail first (growing memory right after it if the
//! first request needs more, so that the block stays contiguous) and only then grows
//! memory, as the standard allocator does; it asks for memory in 4 KiB steps rather than
//! whole wasm pages, so that a small first allocation fits in that tail.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::ptr;

use dlmalloc::{Allocator, Dlmalloc};

const PAGE: usize = 64 * 1024;

unsafe extern "C" {
    /// The first byte after the data and the stack, defined by the linker.
    static __heap_base: u8;
}

/// Where dlmalloc gets its memory: the initial memory's tail once, then `memory.grow`.
struct InitialThenGrow {
    tail_taken: UnsafeCell<bool>,
}

// SAFETY: wasm32 modules run single-threaded (wasmod builds have no threads), so the
// cell is never touched concurrently.
unsafe impl Send for InitialThenGrow {}

fn grow(pages: usize) -> Option<usize> {
    let previous = wasm32::memory_grow(0, pages);
    (previous != usize::MAX).then_some(previous * PAGE)
}

// SAFETY: every region returned is memory of this module that nobody else uses: the tail
// above `__heap_base` (handed out once) or pages just grown; both read as zero.
unsafe impl Allocator for InitialThenGrow {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        // SAFETY: single-threaded (see `Send`).
        let taken = unsafe { &mut *self.tail_taken.get() };
        if !*taken && size != 0 {
            // The linker defines the symbol; only its address is used.
            let base = (&raw const __heap_base) as usize;
            let base = base.next_multiple_of(16);
            let end = wasm32::memory_size(0) * PAGE;
            if base < end {
                let have = end - base;
                if have >= size {
                    *taken = true;
                    return (base as *mut u8, have, 0);
                }
                // Grow right after the tail, so that the first block is one region
                // (nothing else runs between reading the size and growing). If growing
                // fails, the tail stays for a smaller request.
                let pages = (size - have).div_ceil(PAGE);
                return match grow(pages) {
                    Some(at) if at == end => {
                        *taken = true;
                        (base as *mut u8, have + pages * PAGE, 0)
                    }
                    _ => (ptr::null_mut(), 0, 0),
                };
            }
            *taken = true;
        }
        let pages = size.div_ceil(PAGE);
        match grow(pages) {
            Some(at) => (at as *mut u8, pages * PAGE, 0),
            None => (ptr::null_mut(), 0, 0),
        }
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

/// The global allocator the sdk installs.
pub(crate) struct Heap(UnsafeCell<Dlmalloc<InitialThenGrow>>);

// SAFETY: single-threaded (see `InitialThenGrow`).
unsafe impl Sync for Heap {}

/// What dlmalloc asks its source for at least: its default is a wasm page, which the
/// tail of the initial memory rarely has, so a module's first allocation would grow the
/// memory however small it is. The source still hands out whole wasm pages when it grows.
const GRANULARITY: usize = 4096;

impl Heap {
    const fn new() -> Heap {
        let mut dlmalloc = Dlmalloc::new_with_allocator(InitialThenGrow { tail_taken: UnsafeCell::new(false) });
        let accepted = dlmalloc.set_granularity(GRANULARITY);
        assert!(accepted, "a power of two above the malloc alignment");
        Heap(UnsafeCell::new(dlmalloc))
    }
}

// SAFETY: dlmalloc implements the allocation contract; calls never overlap (single
// thread, and dlmalloc does not allocate from inside itself).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { (*self.0.get()).malloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: see the impl; `ptr` came from this allocator with `layout`.
        unsafe { (*self.0.get()).free(ptr, layout.size(), layout.align()) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { (*self.0.get()).calloc(layout.size(), layout.align()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl; `ptr` came from this allocator with `layout`.
        unsafe { (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}

#[global_allocator]
static HEAP: Heap = Heap::new();
