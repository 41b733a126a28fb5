//! Per-thread copies of the code of functions a thread calls often (ADR 0007).
//!
//! Every wasmer instance takes and releases references on its module's shared parts
//! (the artifact, the module info). When one function is called on two threads at once,
//! those reference counts, and the data that shares their cache lines, move between
//! the two cores on every call. Measured with `cargo bench -p wasmod-runtime --bench
//! scaling`: 2 threads reached 85–92% of the throughput of 2 processes with one shared
//! module, 98% with a module per thread.
//!
//! So once a thread has called a function [`COPY_AFTER`] times, it gets its own copy of
//! the function's code: the shared module serialized and loaded again into an engine of
//! the copy's own (`engine::load`). Threads that call a function only a few times
//! never pay for a copy. A copy lives in a thread-local table until the thread exits,
//! or until the function is dropped everywhere (its entry is found dead and removed the
//! next time this thread adds an entry); its code memory goes with it.
//!
//! Isolation is unchanged: a copy is the same compiled code, and every call still gets
//! a fresh instance.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Weak};

use wasmer::Module;

/// Calls of a function on one thread before that thread gets its own copy, unless the
/// runtime is built with another number (`RuntimeBuilder::per_thread_code`).
pub(crate) const COPY_AFTER: u32 = 64;

/// The identity of one loaded function, shared by its clones.
#[derive(Debug, Default)]
pub(crate) struct CodeId(());

enum State {
    Counting(u32),
    Copied(crate::vm::engine::OwnedModule),
    /// Copying failed; this thread keeps using the shared module.
    Shared,
}

struct Entry {
    /// Keeps the `CodeId` allocation (the key) from being reused while the entry exists.
    owner: Weak<CodeId>,
    state: State,
}

/// Hashes a key that is already an address: one multiply, no SipHash on every call.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // Addresses end in zero bits; fold the high product bits into the low ones,
        // which pick the bucket.
        let h = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Table = HashMap<usize, Entry, BuildHasherDefault<AddressHasher>>;

thread_local! {
    static COPIES: RefCell<Table> = RefCell::new(Table::default());
}

/// The module to instantiate for a call of the function `id` on this thread: its own
/// copy once this thread has called it `copy_after` times, else the shared one.
pub(crate) fn module_for_this_thread(
    id: &Arc<CodeId>,
    shared: &Module,
    stack_bytes: Option<usize>,
    copy_after: u32,
) -> Module {
    let key = Arc::as_ptr(id) as usize;
    let found = COPIES.try_with(|copies| {
        let mut copies = copies.borrow_mut();
        let entry = match copies.get_mut(&key) {
            Some(entry) => entry,
            None => {
                // This thread's first call of the function: forget functions dropped since.
                copies.retain(|_, e| e.owner.strong_count() > 0);
                copies.entry(key).or_insert(Entry { owner: Arc::downgrade(id), state: State::Counting(0) })
            }
        };
        match &mut entry.state {
            State::Copied(copy) => Some(copy.module.clone()),
            State::Shared => None,
            State::Counting(calls) if *calls + 1 < copy_after => {
                *calls += 1;
                None
            }
            State::Counting(_) => match copy(shared, stack_bytes) {
                Ok(copy) => {
                    let module = copy.module.clone();
                    entry.state = State::Copied(copy);
                    Some(module)
                }
                Err(reason) => {
                    tracing::debug!(%reason, "no per-thread copy of a function's code; using the shared one");
                    entry.state = State::Shared;
                    None
                }
            },
        }
    });
    found.ok().flatten().unwrap_or_else(|| shared.clone())
}

/// The shared module loaded again, into an engine of its own for this thread. A panic
/// in wasmer is a failure like any other (the thread keeps the shared module).
fn copy(shared: &Module, stack_bytes: Option<usize>) -> Result<crate::vm::engine::OwnedModule, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let bytes = shared.serialize().map_err(|e| e.to_string())?;
        // SAFETY: the bytes are what wasmer serialized from a module this process loaded
        // (after verifying its artifact), for an engine of the same configuration.
        unsafe { crate::vm::engine::load(&bytes, stack_bytes) }
    }))
    .unwrap_or_else(|panic| Err(format!("the engine panicked: {}", crate::vm::panic_text(panic.as_ref()))))
}

/// How many functions have a copy on this thread (for tests).
#[cfg(test)]
pub(crate) fn copies_on_this_thread() -> usize {
    COPIES.with(|c| c.borrow().values().filter(|e| matches!(e.state, State::Copied(_))).count())
}

/// How many functions this thread has an entry for (for tests).
#[cfg(test)]
pub(crate) fn entries_on_this_thread() -> usize {
    COPIES.with(|c| c.borrow().len())
}
