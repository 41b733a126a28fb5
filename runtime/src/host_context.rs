//! [`HostContext`]: what a host function sees of the call it serves: its caller, the
//! guest's memory through bounds-checked accessors, the time and log budget left, the
//! embedder's data, and nested module calls.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmer::{AsStoreMut, FunctionEnvMut, Memory};
use wasmod_host_abi::abi::Region;
use wasmod_host_abi::{GroupDef, HostFunctionDef};

use crate::call_env::CallEnv;
use crate::{CallError, CallLimits, CallOutcome, CallerInfo, GuestTrap, HostFunctionError, LoadedFunction};

/// The answer of [`HostContext::charge_log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogCharge {
    /// Within the call's budget: emit the line.
    Allowed,
    /// Past it, for the first time in this call: drop the line (and say so once).
    FirstRefusal,
    /// Past it again: drop the line.
    Refused,
}

/// What a host function sees: its caller, the guest's memory (bounds-checked), the
/// call's limits, and the embedder's per-call data.
pub struct HostContext<'a> {
    pub(crate) env: FunctionEnvMut<'a, CallEnv>,
    pub(crate) group: &'a GroupDef,
    pub(crate) function: &'a HostFunctionDef,
}

impl fmt::Debug for HostContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostContext")
            .field("group", &self.group.name)
            .field("function", &self.function.name)
            .field("caller", self.caller())
            .finish()
    }
}

impl HostContext<'_> {
    /// The module function whose call runs this host function, with its version and grants.
    pub fn caller(&self) -> &CallerInfo {
        // SAFETY: a host function runs during a call, which keeps its function alive.
        unsafe { self.env.data().function.get() }.info()
    }

    /// The host function being run.
    pub fn function(&self) -> &HostFunctionDef {
        self.function
    }

    /// The definition of the group the running host function belongs to.
    pub fn group(&self) -> &GroupDef {
        self.group
    }

    /// The embedder's per-call data, if it is of type `T`.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.env.data().data.as_deref().and_then(|d| d.downcast_ref())
    }

    /// The embedder's per-call data as an `Arc`, if it is of type `T`.
    pub fn data_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.env.data().data.clone().and_then(|d| d.downcast().ok())
    }

    /// The limits the call started under (a module call's are what its callers left it).
    pub fn limits(&self) -> &CallLimits {
        &self.env.data().limits
    }

    /// Time left before the call's deadline.
    pub fn remaining_time(&self) -> Duration {
        self.env.data().deadline.saturating_duration_since(Instant::now())
    }

    /// How many module calls deep this call is (0 for a call from the host).
    pub fn depth(&self) -> u32 {
        self.env.data().depth
    }

    /// Charges `bytes` of log output against the call's `CallLimits::max_log_bytes`. A
    /// host function that writes on the guest's behalf to somewhere outside the
    /// process's memory (a log, a terminal) asks first, so that a guest cannot flood it.
    pub fn charge_log(&mut self, bytes: usize) -> LogCharge {
        let env = self.env.data_mut();
        let limit = env.limits.max_log_bytes;
        // Spent already: by this call, or by its callers (then its budget is 0, and they
        // said so).
        if env.log_bytes > limit || limit == 0 {
            return LogCharge::Refused;
        }
        env.log_bytes = env.log_bytes.saturating_add(bytes as u64);
        if env.log_bytes > limit { LogCharge::FirstRefusal } else { LogCharge::Allowed }
    }

    fn memory(&self) -> &Memory {
        self.env.data().memory.as_ref().expect("memory is set before the guest runs")
    }

    fn bad_pointer(&self, ptr: i32, len: usize) -> HostFunctionError {
        let memory_bytes = self.memory().view(&self.env).data_size();
        HostFunctionError::BadPointer { ptr: ptr as u32, len: u32::try_from(len).unwrap_or(u32::MAX), memory_bytes }
    }

    /// Copies `len` bytes at `ptr` out of guest memory.
    pub fn read(&self, ptr: i32, len: i32) -> Result<Vec<u8>, HostFunctionError> {
        let len = len as u32 as usize;
        crate::vm::guest_memory::copy_out(&self.memory().view(&self.env), u64::from(ptr as u32), len)
            .ok_or_else(|| self.bad_pointer(ptr, len))
    }

    /// Reads a UTF-8 string; invalid UTF-8 is `Status(INVALID)`.
    pub fn read_str(&self, ptr: i32, len: i32) -> Result<String, HostFunctionError> {
        String::from_utf8(self.read(ptr, len)?)
            .map_err(|_| HostFunctionError::Status(wasmod_host_abi::abi::status::INVALID))
    }

    /// Copies bytes into guest memory at `ptr`.
    pub fn write(&self, ptr: i32, bytes: &[u8]) -> Result<(), HostFunctionError> {
        if crate::vm::guest_memory::copy_in(&self.memory().view(&self.env), u64::from(ptr as u32), bytes) {
            Ok(())
        } else {
            Err(self.bad_pointer(ptr, bytes.len()))
        }
    }

    /// Hands bytes to the guest: allocates them with the guest's `wasmod_alloc`, copies
    /// them, and returns the packed region to return from the host function.
    pub fn return_bytes(&mut self, bytes: &[u8]) -> Result<i64, HostFunctionError> {
        if bytes.is_empty() {
            return Ok(Region::default().pack());
        }
        let len =
            i32::try_from(bytes.len()).map_err(|_| HostFunctionError::Status(wasmod_host_abi::abi::status::LIMIT))?;
        let alloc = self.env.data().alloc.clone().expect("alloc is set before the guest runs");
        // A callback: host imports are disabled until it returns (ABI v1).
        self.env.data_mut().in_callback = true;
        let ptr = {
            let mut store = self.env.as_store_mut();
            alloc.call(&mut store, len)
        };
        self.env.data_mut().in_callback = false;
        let ptr = ptr.map_err(|e| HostFunctionError::Guest(GuestTrap(e)))?;
        if ptr == 0 {
            return Err(HostFunctionError::Trap(format!(
                "the guest could not allocate {len} bytes (wasmod_alloc returned 0)"
            )));
        }
        self.write(ptr, bytes)?;
        Ok(Region { ptr: ptr as u32, len: len as u32 }.pack())
    }

    /// Calls a module function from within this call (the `modules` group): the callee
    /// runs in its own fresh instance with its own grants, one level deeper, under the
    /// same deadline, with at most the caller's remaining fuel and the memory pages the
    /// caller does not use; the fuel it uses is charged to the caller. So a chain of
    /// calls shares the top call's fuel, memory and time. Fails with
    /// `ErrorKind::DepthLimit` past the call's depth limit. Returns the callee's output
    /// and what it measured.
    pub fn call_module(
        &mut self,
        callee: &LoadedFunction,
        input: &[u8],
        data: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Result<CallOutcome, CallError> {
        let (runtime, mut limits, deadline, depth, fuel) = {
            let env = self.env.data();
            (env.runtime, env.limits, env.deadline, env.depth, env.fuel)
        };
        let remaining = fuel.map_or(limits.fuel, |f| f.get().max(0) as u64);
        limits.fuel = remaining;
        // The caller cannot grow while the callee runs, so what it holds now is what the
        // chain above the callee holds (each caller's limit is already net of its own
        // callers').
        let held = self.memory().view(&self.env).size().0;
        limits.memory_pages = limits.memory_pages.saturating_sub(held);
        let logged = self.env.data().log_bytes;
        limits.max_log_bytes = limits.max_log_bytes.saturating_sub(logged);
        let nested = crate::call::Nested { depth: depth + 1, deadline: Some(deadline) };
        let request = crate::call::CallRequest { function: callee, input, limits: &limits, data, nested };
        // SAFETY: a host function runs during a call, which keeps its runtime alive.
        let result = unsafe { runtime.get() }.call_nested(request);
        let metrics = match &result {
            Ok(o) => Some(&o.metrics),
            Err(e) => e.metrics.as_ref(),
        };
        let (used, logged) = metrics.map_or((0, 0), |m| (m.fuel_used, m.log_bytes));
        // The chain shares the log budget: what the callee wrote is the caller's too.
        let env = self.env.data_mut();
        env.log_bytes = env.log_bytes.saturating_add(logged);
        if let Some(f) = fuel {
            // Charge the caller; the guest sees its budget shrink by what the callee used.
            f.set(i64::try_from(remaining.saturating_sub(used)).unwrap_or(i64::MAX));
        }
        if let Err(e) = &result
            && matches!(e.kind, crate::ErrorKind::DeadlineExceeded { .. })
        {
            self.env.data_mut().deadline_passed = true;
        }
        result
    }
}
