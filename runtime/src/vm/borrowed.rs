//! A shared reference without a lifetime, for what a call's store points at.

use std::ptr::NonNull;

/// A shared reference that a call's store carries without a lifetime: the runtime and
/// the function being called. Holding these instead of clones keeps reference counts
/// that every thread shares out of the per-call path.
pub(crate) struct Borrowed<T>(NonNull<T>);

impl<T> Clone for Borrowed<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Borrowed<T> {}

// SAFETY: only shared references are ever made from it, and `T` is `Sync`.
unsafe impl<T: Sync> Send for Borrowed<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Borrowed<T> {}

impl<T> Borrowed<T> {
    /// # Safety
    /// `value` must outlive every use of the pointer ([`Borrowed::get`]).
    pub(crate) unsafe fn new(value: &T) -> Self {
        Borrowed(NonNull::from(value))
    }

    /// A shared reference to the value the pointer was made from ([`Borrowed::new`]).
    ///
    /// # Safety
    /// Only while the value lives: during the call that stored the pointer (see
    /// `CallEnv`).
    pub(crate) unsafe fn get(&self) -> &T {
        // SAFETY: the caller's contract.
        unsafe { self.0.as_ref() }
    }
}
