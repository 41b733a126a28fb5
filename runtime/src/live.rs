//! An instance kept alive across calls and never reset, for benchmarks: the floor of
//! what a call can cost.

use std::time::{Duration, Instant};

use wasmod_host_abi::abi::EntryResult;

use crate::instance::{Instantiated, PerCall, read_region};
use crate::vm::guest_memory::copy_in;
use crate::{CallError, LoadedFunction, Runtime};

/// An instance kept alive across calls. The product never does this (every call gets a
/// fresh instance); it exists only so benchmarks can measure the floor of the per-call
/// cost. Calls reuse whatever the previous call left in memory.
#[doc(hidden)]
pub struct LiveInstance {
    // Declared first, so dropped before what its store points to.
    inner: Instantiated,
    max_output: usize,
    _runtime: Box<Runtime>,
    _function: Box<LoadedFunction>,
}

impl std::fmt::Debug for LiveInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveInstance")
    }
}

impl LiveInstance {
    /// Calls the entry point again in the same instance (fuel is topped up).
    pub fn call(&mut self, input: &[u8]) -> Result<Vec<u8>, String> {
        let i = &mut self.inner;
        i.fuel.set(i.fuel_start);
        let (ptr, len) = if input.is_empty() {
            (0, 0)
        } else {
            let len = input.len() as i32;
            let ptr = i.alloc.call(&mut i.store, len).map_err(|e| e.message())?;
            if !copy_in(&i.memory.view(&i.store), u64::from(ptr as u32), input) {
                return Err(format!("wasmod_alloc returned {ptr:#x}, outside memory"));
            }
            (ptr, len)
        };
        let word = i.entry.call(&mut i.store, ptr, len).map_err(|e| e.message())?;
        let (EntryResult::Ok(region) | EntryResult::Err(region)) = EntryResult::unpack(word);
        read_region(&i.store, &i.memory, region, self.max_output).map_err(|e| e.to_string())
    }
}

impl Runtime {
    /// Instantiates a function once for repeated calls (benchmarks only, see
    /// [`LiveInstance`]).
    #[doc(hidden)]
    pub fn live_instance(&self, f: &LoadedFunction) -> Result<LiveInstance, CallError> {
        let limits = self.inner.limits;
        let deadline = Instant::now() + Duration::from_secs(3600 * 24 * 365);
        let runtime = Box::new(self.clone());
        let function = Box::new(f.clone());
        let call = PerCall { runtime: &runtime, function: &function, limits: &limits, data: None, depth: 0, deadline };
        // SAFETY: both live in boxes that `LiveInstance` drops after the store, and the
        // function's own engine (in the box) holds the shared module's code.
        // The shared module, never this thread's copy: a live instance may outlive this
        // thread's table of copies (it is not `Send`, but it can be kept past a thread's
        // last call, into its thread-local destructors).
        let inner = unsafe { runtime.instantiate(&function.module, call) }?;
        Ok(LiveInstance { inner, max_output: limits.max_output_bytes, _runtime: runtime, _function: function })
    }
}
