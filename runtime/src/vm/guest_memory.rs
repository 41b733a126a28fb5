//! Plain copies into and out of a guest's linear memory.

/// Copies `bytes` into guest memory at `offset`; `false` if they do not fit.
///
/// wasmer's `MemoryView::write` copies with volatile accesses, because another thread
/// may change a shared memory meanwhile. wasmod memories are never shared (the threads
/// proposal is off), and no guest code runs while the host copies (the guest is either
/// not started or suspended in a host call on this thread), so a plain copy is sound.
pub(crate) fn copy_in(view: &wasmer::MemoryView<'_>, offset: u64, bytes: &[u8]) -> bool {
    let fits = offset.checked_add(bytes.len() as u64).is_some_and(|end| end <= view.data_size());
    if fits {
        // SAFETY: in bounds (checked above), and nothing else touches the memory now
        // (see above); `ptr::copy` allows the two ranges to overlap.
        unsafe { std::ptr::copy(bytes.as_ptr(), view.data_ptr().add(offset as usize), bytes.len()) };
    }
    fits
}

/// Copies `len` bytes at `offset` out of guest memory; `None` if out of bounds. See
/// [`copy_in`] for why a plain copy is sound.
pub(crate) fn copy_out(view: &wasmer::MemoryView<'_>, offset: u64, len: usize) -> Option<Vec<u8>> {
    let end = offset.checked_add(len as u64)?;
    if end > view.data_size() {
        return None;
    }
    // SAFETY: in bounds (checked above), and nothing writes the memory meanwhile.
    Some(unsafe { std::slice::from_raw_parts(view.data_ptr().add(offset as usize), len) }.to_vec())
}
