//! A digest of an instance's observable state, for the differential fuzz target: memory
//! size and bytes, every numeric global's value, and whether each reference global is
//! null. A non-null reference is an address inside its own instance (a `funcref` points
//! at the instance's function record), so two instances of one module never agree on
//! its bits; what a guest can observe of it is whether it is null (and what calling it
//! does, which the outputs compare).

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
        let bytes = unsafe { global.vmglobal().as_ref().val.bytes };
        if global.ty().ty.is_ref() {
            h.update(&[u8::from(bytes.iter().all(|b| *b == 0))]);
        } else {
            h.update(&bytes);
        }
    }
    h.finalize().into()
}
