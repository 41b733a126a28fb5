//! A digest of an instance's observable state, for the differential fuzz target: memory
//! size and bytes, and every global's value.

use wasmer::{AsStoreMut, Memory, Store};

/// The digest of `store`'s globals and `memory`.
///
/// # Safety
/// No guest code of the store may run meanwhile (the memory is read with plain loads).
pub(crate) unsafe fn of(store: &mut Store, memory: &Memory) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    let view = memory.view(store);
    h.update(&view.size().0.to_le_bytes());
    // SAFETY: the whole memory is readable, and nothing writes it meanwhile (the
    // caller's contract).
    h.update(unsafe { std::slice::from_raw_parts(view.data_ptr(), view.data_size() as usize) });
    let mut store = store.as_store_mut();
    for global in store.objects_mut().as_sys().iter_globals() {
        // SAFETY: a live global of the store, read while no guest code runs.
        h.update(&unsafe { global.vmglobal().as_ref().val.bytes });
    }
    h.finalize().into()
}
