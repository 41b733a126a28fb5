//! The layer under the API: every primitive that reaches into wasmer's VM or the
//! operating system, each with its safety contract. The API layer (every module outside
//! `vm/`) builds calls from these and holds no `unsafe` of its own beyond calling them.
//!
//! - `engine`: compiling, loading into engines of their own, per-thread engines, the
//!   tunables that hand out pooled memories and bounded tables.
//! - `pool`: linear memories in reused slots, `slot`: the slots themselves, zeroed
//!   before reuse (`touched` finds the pages that may hold data); `pageout_tests`
//!   proves it for swapped-out pages.
//! - `image`, `globals`: a memory's and an instance's state after instantiation, and
//!   putting it back (warm instances).
//! - `fuel`: the metering globals.
//! - `digest`: a digest of an instance's state (for the differential fuzz target).
//! - `guest_memory`: plain copies into and out of a guest's memory.
//! - `borrowed`: what a store points at without owning it.
//! - `copies`: per-thread copies of hot functions' code.
//! - `watchdog`: deadlines, by zeroing a call's fuel.
//! - `stack`: how much of the host thread's stack is left.
//! - `signatures`: the engine identities of host-function types, and their collisions.

pub(crate) mod borrowed;
pub(crate) mod copies;
pub(crate) mod digest;
pub(crate) mod engine;
pub(crate) mod fuel;
pub(crate) mod globals;
pub(crate) mod guest_memory;
pub(crate) mod image;
#[cfg(test)]
mod pageout_tests;
pub(crate) mod pool;
pub(crate) mod signatures;
pub(crate) mod slot;
pub(crate) mod stack;
pub(crate) mod touched;
pub(crate) mod watchdog;

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
