//! The two metering globals of an instance, by address: how the runtime sets a call's
//! fuel, reads what it used, and lets the watchdog stop it.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, Ordering};

use wasmer::Store;

/// The two metering globals of one instance, by address: the remaining points (which
/// the watchdog also writes) and the "exhausted" flag. They are not exported (see
/// `engine::CallExportsOnly`); metering appends them after the module's own globals,
/// so in a call's fresh store they are its last two globals.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fuel {
    remaining: NonNull<i64>,
    exhausted: NonNull<i32>,
}

// SAFETY: the pointers refer to globals of one call's store; they are used only on the
// thread running that call (and by the watchdog, through atomics) while the store lives.
unsafe impl Send for Fuel {}
// SAFETY: as above.
unsafe impl Sync for Fuel {}

impl Fuel {
    /// Finds the metering globals of the only instance in `store`, checking their types.
    ///
    /// # Safety
    /// The result must not be used after `store` is dropped.
    pub(crate) unsafe fn find(store: &mut Store) -> Option<Fuel> {
        use wasmer::AsStoreMut;
        use wasmer_types::{Mutability, Type};
        let mut store = store.as_store_mut();
        let globals = store.objects_mut().as_sys().iter_globals().as_slice();
        let [.., remaining, exhausted] = globals else { return None };
        let is = |g: &wasmer_vm::VMGlobal, ty: Type| g.ty().ty == ty && g.ty().mutability == Mutability::Var;
        if !is(remaining, Type::I64) || !is(exhausted, Type::I32) {
            return None;
        }
        // The value sits at the start of a global's definition (wasmer aligns it to 16).
        Some(Fuel { remaining: remaining.vmglobal().cast(), exhausted: exhausted.vmglobal().cast() })
    }

    fn atomic(&self) -> &AtomicI64 {
        // SAFETY: a live, aligned i64 global (see `find`); the watchdog writes it atomically.
        unsafe { AtomicI64::from_ptr(self.remaining.as_ptr()) }
    }

    /// Points left (negative once a metering check failed).
    pub(crate) fn get(&self) -> i64 {
        self.atomic().load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self, points: i64) {
        self.atomic().store(points, Ordering::SeqCst);
    }

    /// Whether a metering check ran out of points.
    pub(crate) fn exhausted(&self) -> bool {
        // SAFETY: a live i32 global (see `find`), written only by the guest, which is not
        // running now.
        unsafe { self.exhausted.as_ptr().read() != 0 }
    }

    pub(crate) fn remaining_ptr(&self) -> *mut i64 {
        self.remaining.as_ptr()
    }
}
