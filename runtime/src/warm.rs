//! Warm instances: one kept per function and thread, put back after every call into
//! exactly the state a fresh instantiation leaves (ADR 0010).
//!
//! The first call of a resettable function on a thread instantiates it as the fresh
//! path would, then, before any guest code runs, records the image of its memory
//! (`vm::image`) and the values of its mutable globals (`vm::globals`, the metering
//! globals included). After a call in which the guest returned normally (no trap, no
//! timeout, fuel left, no host trap), the memory is shrunk back to its initial size,
//! its bytes made equal to the image again and the globals written back; the instance
//! then waits in this thread's table for the next call. Finding the bytes to restore
//! takes a page-table scan only when this thread took a page fault since the last
//! reset; otherwise the pages that reset left present are all that may differ, and they
//! are rewritten without a scan (ADR 0010 says why that is exact). After any other end, or if the
//! reset fails, it is dropped. A call of a function whose warm instance is in use
//! further up the same thread's stack (a module calling itself through the `modules`
//! group) takes the fresh path.
//!
//! The table holds, per function, the instance, the store it lives in and the
//! function's engine (which holds the code). An entry whose function has been dropped
//! everywhere is removed the next time this thread adds one, or when the thread exits.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::io;
use std::sync::{Arc, Weak};

use wasmer::Engine;

use crate::LoadedFunction;
use crate::instance::{Instantiated, PerCall};
use crate::vm::copies::{AddressHasher, CodeId};
use crate::vm::globals::Globals;
use crate::vm::image::Image;
use crate::vm::touched::{Faults, Method, faults_on_this_thread};

/// The most bytes outside the image a reset keeps present (zeroed in place) for the
/// next call; past it, the memory is discarded and the image written again. Every reset
/// that does not scan writes all the pages kept, so this bounds its cost.
const KEEP_RESIDENT: usize = 256 << 10;

/// An instance kept for the next call of its function on this thread.
pub(crate) struct Warm {
    // Declared first: dropped before the engine that holds its code.
    instance: Instantiated,
    image: Image,
    globals: Globals,
    /// The initial size of the memory, in wasm pages.
    pages: u32,
    /// The pages of the memory the last reset wrote (all that may differ from zero).
    resident: Vec<usize>,
    /// This thread's page-fault count when the last reset ended (`None`: scan).
    faults: Option<Faults>,
    /// Whether a reset may skip the scan when the fault count has not moved (only where
    /// huge pages are off for the memory).
    may_skip_scan: bool,
    /// Whether it has been kept in the table before (counted against the thread's cap).
    kept: bool,
    /// The stack size of the runtime that made it (its store's engine has it).
    stack_bytes: Option<usize>,
    _engine: Engine,
}

impl Warm {
    /// Takes the image of a freshly made instance of `f`; gives the instance back if
    /// there is no pooled memory to take it from, or the scan fails.
    pub(crate) fn new(
        mut instance: Instantiated,
        f: &LoadedFunction,
        stack_bytes: Option<usize>,
    ) -> Result<Box<Warm>, Box<Instantiated>> {
        let Some(created) = instance.created else { return Err(Box::new(instance)) };
        let (base, bytes, may_skip_scan) = {
            // SAFETY: the memory lives as long as the instance's store, which outlives
            // this use; no guest code runs.
            let memory = unsafe { crate::vm::pool::memory_at(created) };
            (memory.base(), memory.bytes(), memory.no_huge_pages())
        };
        let Some(base) = base else { return Err(Box::new(instance)) };
        // The memory the engine made must be the one the instance exports.
        if instance.memory.view(&instance.store).data_ptr() != base.as_ptr() {
            return Err(Box::new(instance));
        }
        // SAFETY: the whole memory is read-write and nothing runs in the instance.
        let Ok(image) = (unsafe { Image::capture(base.as_ptr(), bytes, Method::best()) }) else {
            return Err(Box::new(instance));
        };
        // SAFETY: kept next to the store (in `Warm`), dropped with it.
        let globals = unsafe { Globals::capture(&mut instance.store) };
        let pages = (bytes / crate::vm::slot::WASM_PAGE) as u32;
        // Start with only the image's pages present (a pooled slot comes with the pages
        // its last user touched, zeroed): the first reset then scans a small set.
        let mut resident = Vec::new();
        // SAFETY: as above.
        if unsafe { image.restore_minimal(base.as_ptr(), &mut resident) }.is_err() {
            return Err(Box::new(instance));
        }
        let faults = if may_skip_scan { faults_on_this_thread() } else { None };
        Ok(Box::new(Warm {
            instance,
            image,
            globals,
            pages,
            resident,
            faults,
            may_skip_scan,
            kept: false,
            stack_bytes,
            _engine: f._engine.clone(),
        }))
    }

    /// The instance, for a call.
    pub(crate) fn instance(&mut self) -> &mut Instantiated {
        &mut self.instance
    }

    /// Starts a call in the instance: its environment becomes the call's.
    ///
    /// # Safety
    /// As [`crate::call_env::CallEnv::begin`].
    pub(crate) unsafe fn begin(&mut self, call: PerCall<'_>) {
        if let Some(env) = &self.instance.env {
            // SAFETY: the caller's contract.
            unsafe { env.as_mut(&mut self.instance.store).begin(call) };
        }
    }

    /// Puts the instance back into the state it had before its first call (see the
    /// module docs) and ends the call's environment.
    pub(crate) fn reset(&mut self) -> io::Result<()> {
        let created = self.instance.created.ok_or_else(|| io::Error::other("no pooled memory"))?;
        // SAFETY: the memory lives as long as the store, which `self` owns; no guest
        // code runs and no reference to the memory is held (wasmer uses it only while
        // the guest runs or through the API, which nothing calls meanwhile).
        let memory = unsafe { crate::vm::pool::memory_at(created) };
        // Read first: a fault from here on is counted against the next reset.
        let faults = faults_on_this_thread();
        let grown = memory.bytes() > self.image.bytes();
        memory.shrink_to(self.pages)?;
        let base = memory.base().ok_or_else(|| io::Error::other("the memory has no slot"))?;
        if memory.bytes() != self.image.bytes() {
            return Err(io::Error::other("the memory is smaller than its image"));
        }
        match (self.faults, faults) {
            // No page of this thread became present since the last reset (growing takes
            // faults too, but say so anyway): the pages that reset wrote are all that
            // may differ now.
            (Some(before), Some(now)) if before == now && !grown => {
                // SAFETY: the memory's `bytes()` are read-write, no guest code runs, and
                // `resident` is what the last restore of this memory set.
                unsafe { self.image.restore_resident(base.as_ptr(), &self.resident) };
                self.faults = faults;
                let _ = SCANS_SKIPPED.try_with(|n| n.set(n.get() + 1));
            }
            _ => {
                // SAFETY: the memory's `bytes()` are read-write and no guest code runs.
                unsafe { self.image.restore(base.as_ptr(), Method::best(), &mut self.resident, KEEP_RESIDENT) }?;
                self.faults = if self.may_skip_scan { faults_on_this_thread() } else { None };
            }
        }
        // SAFETY: the store is alive (`self` owns it) and no guest code runs.
        unsafe { self.globals.restore() };
        if let Some(env) = &self.instance.env {
            env.as_mut(&mut self.instance.store).end();
        }
        Ok(())
    }
}

struct Entry {
    /// Keeps the `CodeId` allocation (the key) from being reused while the entry exists.
    owner: Weak<CodeId>,
    /// The instance waiting for the next call.
    warm: Option<Box<Warm>>,
    /// A call of the function is running on this thread (it holds a [`Lease`]).
    busy: bool,
}

type Table = HashMap<usize, Entry, BuildHasherDefault<AddressHasher>>;

thread_local! {
    static WARM: RefCell<Table> = RefCell::new(Table::default());
    /// Resets on this thread that skipped the page-table scan (for tests).
    static SCANS_SKIPPED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many resets on this thread skipped the page-table scan.
pub(crate) fn scans_skipped_on_this_thread() -> u64 {
    SCANS_SKIPPED.try_with(std::cell::Cell::get).unwrap_or(0)
}

/// Whether this thread keeps a warm instance of `f`, waiting for a call.
pub(crate) fn has(f: &LoadedFunction) -> bool {
    WARM.try_with(|t| t.borrow().get(&key(f)).is_some_and(|e| e.warm.is_some())).unwrap_or(false)
}

fn key(f: &LoadedFunction) -> usize {
    Arc::as_ptr(&f.code) as usize
}

/// What this thread has for a call of a function.
pub(crate) enum Taken {
    /// Its warm instance, now the call's.
    Ready(Box<Warm>, Lease),
    /// None yet (or one made for a runtime with another stack size, now dropped): the
    /// call makes one.
    Empty(Lease),
    /// A call of the function further up this thread's stack is running: this call
    /// takes the fresh path.
    Busy,
}

/// A call's claim on its function's entry: while it lives, other calls of the function
/// on this thread are [`Taken::Busy`]. Dropped when the call ends, however it ends.
pub(crate) struct Lease {
    key: usize,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = WARM.try_with(|table| {
            if let Ok(mut table) = table.try_borrow_mut()
                && let Some(entry) = table.get_mut(&self.key)
            {
                entry.busy = false;
            }
        });
    }
}

/// Takes this thread's warm instance of `f` for a call by a runtime with `stack_bytes`.
pub(crate) fn take(f: &LoadedFunction, stack_bytes: Option<usize>) -> Taken {
    let key = key(f);
    WARM.try_with(|table| {
        let mut table = table.borrow_mut();
        if !table.contains_key(&key) {
            // A new entry: forget functions dropped since.
            table.retain(|_, e| e.owner.strong_count() > 0);
        }
        let entry =
            table.entry(key).or_insert_with(|| Entry { owner: Arc::downgrade(&f.code), warm: None, busy: false });
        if entry.busy {
            return Taken::Busy;
        }
        entry.busy = true;
        match entry.warm.take() {
            Some(warm) if warm.stack_bytes == stack_bytes => Taken::Ready(warm, Lease { key }),
            _ => Taken::Empty(Lease { key }),
        }
    })
    .unwrap_or(Taken::Busy)
}

/// The most warm instances a thread keeps: each holds a memory slot (8 GiB of address
/// space) and its function's code. Keeping one more drops that of another function.
pub(crate) const MAX_PER_THREAD: usize = 64;

/// Keeps `warm` (reset) as this thread's warm instance of `f`, for the next call. A new
/// one past [`MAX_PER_THREAD`] first drops the warm instance of another function, one no
/// call is using.
pub(crate) fn put(f: &LoadedFunction, mut warm: Box<Warm>) {
    let key = key(f);
    let _ = WARM.try_with(|table| {
        let mut table = table.borrow_mut();
        if !warm.kept {
            warm.kept = true;
            let kept = table.values().filter(|e| e.warm.is_some()).count();
            if kept >= MAX_PER_THREAD
                && let Some((_, other)) = table.iter_mut().find(|(k, e)| **k != key && e.warm.is_some() && !e.busy)
            {
                other.warm = None;
            }
        }
        if let Some(entry) = table.get_mut(&key) {
            entry.warm = Some(warm);
        }
    });
}

/// Drops every warm instance of this thread (after a panic in the engine).
pub(crate) fn discard_this_thread() {
    let _ = WARM.try_with(|table| table.borrow_mut().clear());
}

/// How many warm instances this thread keeps, waiting for a call.
pub(crate) fn on_this_thread() -> usize {
    WARM.try_with(|t| t.borrow().values().filter(|e| e.warm.is_some()).count()).unwrap_or(0)
}

/// The state digest of this thread's warm instance of `f`, if it has one waiting.
pub(crate) fn digest_of_warm(f: &LoadedFunction, stack_bytes: Option<usize>) -> Option<[u8; 32]> {
    let Taken::Ready(mut warm, _lease) = take(f, stack_bytes) else { return None };
    let d = digest(warm.instance());
    put(f, warm);
    Some(d)
}

/// The state digest of a fresh instance of `f`, never called.
pub(crate) fn digest_of_fresh(instance: &mut Instantiated) -> [u8; 32] {
    digest(instance)
}

fn digest(instance: &mut Instantiated) -> [u8; 32] {
    // SAFETY: no guest code of the instance runs while the digest is taken.
    unsafe { crate::vm::digest::of(&mut instance.store, &instance.memory) }
}
