//! Slots: 8 GiB reservations made once and reused by pooled memories, cached per
//! thread with a process-wide overflow list, and zeroed (`touched` finds what may hold
//! data) before anyone gets one again. See `pool` for why.

use std::cell::RefCell;
use std::io;
use std::ptr::NonNull;
use std::sync::Mutex;

use crate::vm::touched::{Method, Work};

pub(crate) const WASM_PAGE: usize = 65536;
/// What a static-style memory needs reserved: the 4 GiB index space plus wasmer's offset
/// guard (4 GiB and one wasm page).
const SLOT_RESERVE: usize = (1 << 32) + (1 << 32) + WASM_PAGE;
/// Up to this many resident bytes are zeroed in place; beyond, the range is discarded.
pub(crate) const KEEP_RESIDENT_BYTES: usize = 1 << 20;
/// Idle slots each thread keeps for reuse; a slot given back past it goes to the global list.
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
    pub(crate) fn set_accessible(&mut self, bytes: usize) -> io::Result<()> {
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
                Work::Discard => {
                    // SAFETY: part of our reservation; discarding anonymous private pages
                    // (swapped out ones included) makes them read as zero.
                    let rc = unsafe { libc::madvise(base.add(from).cast(), to - from, libc::MADV_DONTNEED) };
                    failed = check(rc)
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
}

/// A slot whose first `bytes` are read-write and zero: this thread's own idle slot of
/// that size if it has one, else any idle slot, else a new reservation.
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

/// Returns a slot for reuse once it is zeroed; one that cannot be proven zero is unmapped.
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
