//! Pooled linear memories.
//!
//! Creating and destroying a wasmer memory maps and unmaps an 8 GiB reservation (the
//! 4 GiB index space plus guard pages that let compiled code skip bounds checks). On
//! these machines that is nearly the whole cost of a fresh instance, and `mmap`/`munmap`
//! contend on the process's memory map, so two threads were slower than one.
//!
//! Instead, memories come from *slots*: reservations made once and reused. A slot keeps
//! its reservation; only its accessible prefix (the memory's current size) is
//! read-write, the rest stays `PROT_NONE`, so out-of-bounds accesses still trap exactly
//! as in a fresh memory. When a memory is dropped its slot is zeroed before reuse: the
//! pages that may hold data, present *or swapped out*, are found (`touched`: one
//! `PAGEMAP_SCAN`, or `mincore` plus discarding what is not resident) and cleared with
//! `memset` (touched pages stay resident, so the next call takes no page faults); when
//! more than [`KEEP_RESIDENT_BYTES`] would be cleared the whole range is dropped with
//! `madvise(MADV_DONTNEED)` instead. Either way the next user sees only zeros, so no
//! call ever observes a byte an earlier call wrote, whatever the kernel swapped out
//! meanwhile.
//!
//! Slots are cached per thread (a memory is created and dropped on the thread that owns
//! its `Store`), with a process-wide overflow list, so the hot path takes no lock and
//! makes no `mmap`, `munmap` or `mprotect` call when a function is called repeatedly.

use std::cell::{Cell, RefCell};
use std::io;
use std::ptr::NonNull;
use std::sync::Mutex;

use wasmer_types::{MemoryError, MemoryStyle, MemoryType, Pages};
use wasmer_vm::{LinearMemory, VMMemoryDefinition};

use crate::vm::touched::{Method, Work};

pub(crate) const WASM_PAGE: usize = 65536;
/// What a static-style memory needs reserved: the 4 GiB index space plus wasmer's offset
/// guard (4 GiB and one wasm page).
const SLOT_RESERVE: usize = (1 << 32) + (1 << 32) + WASM_PAGE;
/// Up to this many resident bytes are zeroed in place; beyond, the range is discarded.
pub(crate) const KEEP_RESIDENT_BYTES: usize = 1 << 20;
/// Slots kept per thread.
const LOCAL_SLOTS: usize = 8;
/// Idle slots kept process-wide.
const GLOBAL_SLOTS: usize = 64;

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// One reservation of [`SLOT_RESERVE`] bytes, of which `accessible` are read-write and
/// all are zero whenever the slot is idle.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) base: NonNull<u8>,
    accessible: usize,
    /// `MADV_NOHUGEPAGE` was accepted for the whole reservation.
    pub(crate) no_huge_pages: bool,
}

// SAFETY: a slot is an exclusively owned address range; moving it between threads is
// fine (it is only ever used by one thread at a time).
unsafe impl Send for Slot {}

impl Slot {
    fn reserve() -> io::Result<Slot> {
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SLOT_RESERVE,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Huge pages would turn one touched byte into 2 MiB to zero on every call (and
        // khugepaged could make pages present without a fault, which a warm reset's
        // fault-count shortcut relies on: it is used only where this advice took).
        // SAFETY: the range was just mapped; the advice only changes how it is backed.
        let no_huge_pages = unsafe { libc::madvise(ptr, SLOT_RESERVE, libc::MADV_NOHUGEPAGE) } == 0;
        let base = NonNull::new(ptr.cast()).expect("mmap never returns null on success");
        Ok(Slot { base, accessible: 0, no_huge_pages })
    }

    /// Makes exactly the first `bytes` read-write.
    fn set_accessible(&mut self, bytes: usize) -> io::Result<()> {
        let base = self.base.as_ptr();
        if bytes > self.accessible {
            // SAFETY: the range lies inside our reservation.
            check(unsafe {
                libc::mprotect(
                    base.add(self.accessible).cast(),
                    bytes - self.accessible,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            })?;
        } else if bytes < self.accessible {
            let tail = self.accessible - bytes;
            // SAFETY: the range lies inside our reservation; discarding keeps it zero.
            check(unsafe { libc::madvise(base.add(bytes).cast(), tail, libc::MADV_DONTNEED) })?;
            // SAFETY: as above.
            check(unsafe { libc::mprotect(base.add(bytes).cast(), tail, libc::PROT_NONE) })?;
        }
        self.accessible = bytes;
        Ok(())
    }

    /// Zeroes the accessible range (see the module docs): every page that may hold data
    /// (`touched`: present or swapped out) is cleared in place, unless that comes to more
    /// than [`KEEP_RESIDENT_BYTES`], when the whole range is discarded instead.
    pub(crate) fn clear(&mut self) -> io::Result<()> {
        self.clear_by(Method::best())
    }

    /// [`Slot::clear`], finding the pages to clear by `method`.
    pub(crate) fn clear_by(&mut self, method: Method) -> io::Result<()> {
        if self.accessible == 0 {
            return Ok(());
        }
        let base = self.base.as_ptr();
        let mut cleared = 0;
        let mut discard_all = false;
        let mut failed = Ok(());
        method.for_each(base, self.accessible, &mut |from, to, work| {
            if discard_all || failed.is_err() {
                return;
            }
            match work {
                Work::Clear if cleared + (to - from) <= KEEP_RESIDENT_BYTES => {
                    // SAFETY: a read-write part of our reservation, not referenced by anyone.
                    unsafe { std::ptr::write_bytes(base.add(from), 0, to - from) };
                    cleared += to - from;
                }
                Work::Clear => discard_all = true,
                // SAFETY: part of our reservation; discarding anonymous private pages
                // (swapped out ones included) makes them read as zero.
                Work::Discard => {
                    failed = check(unsafe { libc::madvise(base.add(from).cast(), to - from, libc::MADV_DONTNEED) })
                }
            }
        })?;
        failed?;
        if discard_all {
            // SAFETY: as above, for the whole accessible range.
            check(unsafe { libc::madvise(base.cast(), self.accessible, libc::MADV_DONTNEED) })?;
        }
        Ok(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: unmapping our own reservation; nothing points into it any more.
        unsafe { libc::munmap(self.base.as_ptr().cast(), SLOT_RESERVE) };
    }
}

static GLOBAL: Mutex<Vec<Slot>> = Mutex::new(Vec::new());

/// Per-thread idle slots; returned to the global list when the thread exits.
struct LocalSlots(Vec<Slot>);

impl Drop for LocalSlots {
    fn drop(&mut self) {
        if let Ok(mut global) = GLOBAL.lock() {
            while let Some(slot) = self.0.pop() {
                if global.len() < GLOBAL_SLOTS {
                    global.push(slot);
                }
            }
        }
    }
}

thread_local! {
    static LOCAL: RefCell<LocalSlots> = const { RefCell::new(LocalSlots(Vec::new())) };
    static CALL: Cell<CallMemory> = const {
        Cell::new(CallMemory { limit_pages: u32::MAX, table_elements: u32::MAX, denied: false })
    };
}

/// The memory and table limits of the call running on this thread (the engine's
/// tunables read them when the call's instance creates its memory and tables), and
/// whether a `memory.grow` was refused because of the memory limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallMemory {
    pub limit_pages: u32,
    pub table_elements: u32,
    pub denied: bool,
}

/// Sets the current thread's call memory state, returning the previous one (restore it
/// after the call: calls nest when a module calls another).
pub(crate) fn enter_call(limit_pages: u32, table_elements: u32) -> CallMemory {
    CALL.replace(CallMemory { limit_pages, table_elements, denied: false })
}

/// The table elements the running call's instance may have.
pub(crate) fn table_limit() -> u32 {
    CALL.get().table_elements
}

/// Restores the previous state, returning the one of the call that ends.
pub(crate) fn leave_call(previous: CallMemory) -> CallMemory {
    CALL.replace(previous)
}

pub(crate) fn checkout(bytes: usize) -> io::Result<Slot> {
    let local = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let slots = &mut l.0;
        match slots.iter().position(|s| s.accessible == bytes) {
            Some(i) => Some(slots.swap_remove(i)),
            None => slots.pop(),
        }
    });
    let mut slot = match local {
        Some(s) => s,
        None => match GLOBAL.lock().ok().and_then(|mut g| g.pop()) {
            Some(s) => s,
            None => Slot::reserve()?,
        },
    };
    slot.set_accessible(bytes)?;
    Ok(slot)
}

pub(crate) fn give_back(mut slot: Slot) {
    if slot.clear().is_err() {
        // Could not prove it zero: never reuse it.
        return;
    }
    let overflow = LOCAL.try_with(|l| {
        let mut l = l.borrow_mut();
        if l.0.len() < LOCAL_SLOTS {
            l.0.push(slot);
            None
        } else {
            Some(slot)
        }
    });
    let overflow = match overflow {
        Ok(o) => o,
        // The thread is exiting: its cache is gone; the slot is unmapped.
        Err(_) => return,
    };
    if let Some(slot) = overflow
        && let Ok(mut global) = GLOBAL.lock()
        && global.len() < GLOBAL_SLOTS
    {
        global.push(slot);
    }
}

/// A linear memory living in a pooled slot. Its limit is read from the running call at
/// every `memory.grow` (a warm instance serves calls with different limits).
#[derive(Debug)]
pub(crate) struct PooledMemory {
    slot: Option<Slot>,
    definition: NonNull<VMMemoryDefinition>,
    ty: MemoryType,
    pages: u32,
}

// SAFETY: the memory is owned by one instance; the raw pointers refer to its slot and to
// its definition inside the instance's VMContext, both valid for the memory's lifetime.
unsafe impl Send for PooledMemory {}
// SAFETY: as above; wasmer requires Sync for memories and never mutates them through
// shared references concurrently (our instances are single-threaded).
unsafe impl Sync for PooledMemory {}

impl PooledMemory {
    /// Creates a memory of `ty.minimum` pages for a VM-owned definition.
    ///
    /// # Safety
    /// `definition` must point to the instance's memory definition and stay valid for
    /// the memory's lifetime.
    pub(crate) unsafe fn new(ty: &MemoryType, definition: NonNull<VMMemoryDefinition>) -> Result<Self, MemoryError> {
        let call = CALL.get();
        let limit = limit_pages(ty, call);
        if ty.minimum.0 > limit {
            CALL.set(CallMemory { denied: true, ..call });
            return Err(MemoryError::MinimumMemoryTooLarge { min_requested: ty.minimum, max_allowed: Pages(limit) });
        }
        let bytes = ty.minimum.0 as usize * WASM_PAGE;
        let slot = checkout(bytes).map_err(|e| MemoryError::Region(e.to_string()))?;
        // SAFETY: per the contract, `definition` is valid and ours to write.
        unsafe {
            let d = &mut *definition.as_ptr();
            d.base = slot.base.as_ptr();
            d.current_length = bytes;
        }
        Ok(PooledMemory { slot: Some(slot), definition, ty: *ty, pages: ty.minimum.0 })
    }

    /// The slot's first byte (the memory's base address).
    pub(crate) fn base(&self) -> Option<NonNull<u8>> {
        self.slot.as_ref().map(|s| s.base)
    }

    /// Whether the memory's slot is never backed by huge pages.
    pub(crate) fn no_huge_pages(&self) -> bool {
        self.slot.as_ref().is_some_and(|s| s.no_huge_pages)
    }

    /// The memory's size in bytes now.
    pub(crate) fn bytes(&self) -> usize {
        self.pages as usize * WASM_PAGE
    }

    /// Shrinks the memory back to `pages` (a warm instance's initial size after a call
    /// grew it): the tail is discarded and made inaccessible again, so a load past the
    /// new end traps as in a fresh memory, and `memory.size` answers `pages`.
    pub(crate) fn shrink_to(&mut self, pages: u32) -> io::Result<()> {
        if pages >= self.pages {
            return Ok(());
        }
        let slot = self.slot.as_mut().ok_or_else(|| io::Error::other("the memory has no slot"))?;
        slot.set_accessible(pages as usize * WASM_PAGE)?;
        self.pages = pages;
        // SAFETY: the definition is valid for the memory's lifetime (see `new`).
        unsafe { (*self.definition.as_ptr()).current_length = pages as usize * WASM_PAGE };
        Ok(())
    }
}

/// The pages a memory of type `ty` may have during the call `call`.
fn limit_pages(ty: &MemoryType, call: CallMemory) -> u32 {
    ty.maximum.map_or(call.limit_pages, |m| m.0.min(call.limit_pages)).min(Pages::max_value().0)
}

thread_local! {
    /// The memory the engine created last on this thread (see [`created`]).
    static CREATED: Cell<Option<NonNull<PooledMemory>>> = const { Cell::new(None) };
}

/// Boxes a new pooled memory and notes where it lives, for [`take_created`]. The pointer
/// is valid only while the instance that owns the box lives; the runtime takes it right
/// after instantiating (no guest code runs during instantiation: modules have no start
/// function) and forgets it before the next.
pub(crate) fn boxed(memory: PooledMemory) -> Box<PooledMemory> {
    let memory = Box::new(memory);
    CREATED.set(Some(NonNull::from(&*memory)));
    memory
}

/// The memory at `memory` (a pointer from [`take_created`]).
///
/// # Safety
/// The instance that owns the memory must be alive for `'a`, and nothing else may use the
/// memory meanwhile: no guest code of the instance runs and no `wasmer::Memory` call is
/// made on it (wasmer reaches the memory only then).
pub(crate) unsafe fn memory_at<'a>(memory: NonNull<PooledMemory>) -> &'a mut PooledMemory {
    // SAFETY: the caller's contract.
    unsafe { &mut *memory.as_ptr() }
}

/// Forgets the memory noted last (call before instantiating).
pub(crate) fn forget_created() {
    CREATED.set(None);
}

/// The memory created on this thread since [`forget_created`], if any: the address of
/// the box wasmer owns. It stays valid for as long as the instance that owns it.
pub(crate) fn take_created() -> Option<NonNull<PooledMemory>> {
    CREATED.take()
}

impl LinearMemory for PooledMemory {
    fn ty(&self) -> MemoryType {
        MemoryType { minimum: Pages(self.pages), ..self.ty }
    }

    fn size(&self) -> Pages {
        Pages(self.pages)
    }

    fn style(&self) -> MemoryStyle {
        MemoryStyle::Static
    }

    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let previous = Pages(self.pages);
        let denied = || MemoryError::CouldNotGrow { current: previous, attempted_delta: delta };
        let new = self.pages.checked_add(delta.0).ok_or_else(denied)?;
        let call = CALL.get();
        if new > limit_pages(&self.ty, call) {
            CALL.set(CallMemory { denied: true, ..call });
            return Err(denied());
        }
        if delta.0 == 0 {
            return Ok(previous);
        }
        let slot = self.slot.as_mut().expect("a live memory has its slot");
        slot.set_accessible(new as usize * WASM_PAGE).map_err(|e| MemoryError::Region(e.to_string()))?;
        self.pages = new;
        // SAFETY: the definition is valid for the memory's lifetime.
        unsafe { (*self.definition.as_ptr()).current_length = new as usize * WASM_PAGE };
        Ok(previous)
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.definition
    }

    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::Generic("pooled memories cannot be cloned".into()))
    }

    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::Generic("pooled memories cannot be copied".into()))
    }
}

impl Drop for PooledMemory {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            give_back(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::touched::os_page;

    #[test]
    fn slots_come_back_zeroed_and_keep_guard_pages() {
        let mut slot = checkout(2 * WASM_PAGE).unwrap();
        let base = slot.base.as_ptr();
        // SAFETY: the first two wasm pages are read-write.
        unsafe {
            base.write(7);
            base.add(WASM_PAGE + 5).write(9);
        }
        slot.clear().unwrap();
        // SAFETY: still read-write.
        unsafe {
            assert_eq!(base.read(), 0);
            assert_eq!(base.add(WASM_PAGE + 5).read(), 0);
        }
        slot.set_accessible(WASM_PAGE).unwrap();
        assert_eq!(slot.accessible, WASM_PAGE);
        let mut resident = vec![0u8; 2 * WASM_PAGE / os_page()];
        // SAFETY: the whole range is still mapped (only its protection changed).
        unsafe { libc::mincore(base.cast(), 2 * WASM_PAGE, resident.as_mut_ptr().cast()) };
        assert!(resident[WASM_PAGE / os_page()..].iter().all(|r| r & 1 == 0), "shrinking discards the tail");
        give_back(slot);
    }

    #[test]
    fn memories_past_the_stack_buffer_are_cleared_too() {
        // 40 wasm pages: more pages than `clear` tracks on its stack.
        let bytes = 40 * WASM_PAGE;
        let mut slot = checkout(bytes).unwrap();
        // SAFETY: the last byte of a read-write range.
        unsafe { slot.base.as_ptr().add(bytes - 1).write(5) };
        slot.clear().unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { slot.base.as_ptr().add(bytes - 1).read() }, 0);
        give_back(slot);
    }

    #[test]
    fn large_resident_sets_are_discarded_not_memset() {
        let mut slot = checkout(32 * WASM_PAGE).unwrap();
        // SAFETY: 2 MiB read-write.
        unsafe { std::ptr::write_bytes(slot.base.as_ptr(), 1, 32 * WASM_PAGE) };
        slot.clear().unwrap();
        let mut resident = vec![0u8; 32 * WASM_PAGE / os_page()];
        // SAFETY: mapped range.
        unsafe { libc::mincore(slot.base.as_ptr().cast(), 32 * WASM_PAGE, resident.as_mut_ptr().cast()) };
        assert!(resident.iter().all(|r| r & 1 == 0));
        // SAFETY: read-write.
        assert_eq!(unsafe { slot.base.as_ptr().add(12345).read() }, 0);
    }
}
