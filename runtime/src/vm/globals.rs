//! The values of an instance's mutable globals, taken right after instantiation and
//! written back after each call of a warm instance. The two metering globals (points
//! left, "exhausted" flag) are globals like any other, so they are restored too.

use std::ptr::NonNull;

use wasmer::{AsStoreMut, Store};
use wasmer_types::{Mutability, RawValue};
use wasmer_vm::VMGlobalDefinition;

/// The mutable globals of one store, by address, with their values at capture.
#[derive(Debug)]
pub(crate) struct Globals {
    saved: Vec<(NonNull<VMGlobalDefinition>, Saved)>,
}

/// A global's 16 bytes of value, whatever its type (numbers, `v128`, references).
#[derive(Clone, Copy)]
struct Saved(RawValue);

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SAFETY: every field of the union is plain bytes; `bytes` covers all 16.
        write!(f, "{:02x?}", unsafe { self.0.bytes })
    }
}

impl Globals {
    /// Records the value of every mutable global in `store`.
    ///
    /// # Safety
    /// The result must not be used after `store` is dropped.
    pub(crate) unsafe fn capture(store: &mut Store) -> Globals {
        let mut store = store.as_store_mut();
        let saved = store
            .objects_mut()
            .as_sys()
            .iter_globals()
            .filter(|g| g.ty().mutability == Mutability::Var)
            .map(|g| {
                let at = g.vmglobal();
                // SAFETY: a live global of the store, read while no guest code runs.
                (at, Saved(unsafe { at.as_ref().val }))
            })
            .collect();
        Globals { saved }
    }

    /// Writes the recorded values back.
    ///
    /// # Safety
    /// The store captured must still be alive, and no guest code of it running.
    pub(crate) unsafe fn restore(&self) {
        for (at, value) in &self.saved {
            // SAFETY: per the contract, the definition is alive and nobody uses it.
            unsafe { (*at.as_ptr()).val = value.0 };
        }
    }
}
