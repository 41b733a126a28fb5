//! Host groups: how `host/` (the standard groups) and embedders (their own groups)
//! implement host functions, and what a host function can see.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use semver::Version;
use wasmer::{AsStoreMut, FunctionEnvMut, Memory, RuntimeError, TypedFunction};
use wasmod_host_abi::abi::Region;
use wasmod_host_abi::{GroupDef, HostFunctionDef};
use wasmod_manifest::ModuleName;
use wasmod_validator::Grant;

use crate::vm::borrowed::Borrowed;
use crate::{CallError, CallLimits, LoadedFunction, Runtime};

/// A wasm value crossing into or out of a host function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HostValue {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`
    F32(f32),
    /// `f64`
    F64(f64),
}

impl HostValue {
    /// The value as `i32`, if it is one.
    pub fn i32(self) -> Option<i32> {
        if let HostValue::I32(v) = self { Some(v) } else { None }
    }

    /// The value as `i64`, if it is one.
    pub fn i64(self) -> Option<i64> {
        if let HostValue::I64(v) = self { Some(v) } else { None }
    }
}

/// What a host function may fail with.
#[derive(Debug)]
pub enum HostError {
    /// A status code returned to the guest (as a negative `i32`/`i64`, see
    /// `wasmod_host_abi::abi::status`); the call goes on.
    Status(i32),
    /// Abort the whole call: the guest is stopped and the caller gets
    /// `ErrorKind::HostTrap` with this message.
    Trap(String),
    /// The guest passed a pointer and length outside its memory: a guest error.
    BadPointer {
        /// Pointer.
        ptr: u32,
        /// Length.
        len: u32,
        /// The guest memory size at that time.
        memory_bytes: u64,
    },
    /// The guest trapped while the host called back into it (e.g. in `wasmod_alloc`).
    Guest(RuntimeError),
    /// The host function could not finish before the call's deadline (it waited for a
    /// lock, say, until [`HostContext::remaining_time`] ran out): the call stops with
    /// `ErrorKind::DeadlineExceeded`.
    DeadlineExceeded,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Status(code) => {
                write!(f, "status {code} ({})", wasmod_host_abi::abi::status::describe(i64::from(*code)))
            }
            HostError::Trap(m) => f.write_str(m),
            HostError::BadPointer { ptr, len, memory_bytes } => {
                write!(f, "the guest passed the range {ptr:#x}+{len} but its memory is {memory_bytes} bytes")
            }
            HostError::Guest(e) => write!(f, "the guest trapped in a callback: {}", e.message()),
            HostError::DeadlineExceeded => f.write_str("the call's deadline passed inside the host function"),
        }
    }
}

/// A host-function group implementation. `def()` must describe exactly the functions
/// `call` implements; the runtime links the functions a module imports (and is granted)
/// and dispatches each call here with the index of the function in `def().functions`.
///
/// What the runtime guarantees a host function, and asks of it:
/// - **No re-entrancy.** While the host runs guest code on the guest's behalf (its
///   `wasmod_alloc`, as [`HostContext::return_bytes`] does, or its panic-message
///   export), the guest's host imports are disabled: a host function called then stops
///   the call with `ErrorKind::ReentrantHostCall` before it runs. So a host function is
///   never entered again from inside itself through the guest.
/// - **Nesting is bounded.** A host function may start calls of its own
///   ([`HostContext::call_module`], or a [`Runtime`] it holds); each runs one level
///   deeper on the host thread's stack, and one that would start with less than
///   [`crate::MIN_HOST_STACK`] left fails with `ErrorKind::HostStackLimit`.
/// - **Bound your own work.** The guest is not interrupted while a host function runs.
///   Finish within [`HostContext::remaining_time`]: wait for nothing longer, and return
///   [`HostError::DeadlineExceeded`] when time runs out. Bound the memory you allocate
///   on the guest's behalf (the guest chooses the lengths it passes).
/// - **Panics are contained.** A panic in `call` becomes `ErrorKind::HostTrap`, one in
///   `def` `ErrorKind::Internal`; either way the runtime stays usable.
pub trait HostGroup: Send + Sync + 'static {
    /// The group's name, version and functions with their signatures.
    fn def(&self) -> &GroupDef;

    /// Runs function number `function` of `def().functions` with `args` (already
    /// checked against its signature). Return the result value (or `None` for a
    /// function without results).
    fn call(
        &self,
        function: usize,
        cx: &mut HostContext<'_>,
        args: &[HostValue],
    ) -> Result<Option<HostValue>, HostError>;
}

/// Who is calling a host function.
#[derive(Debug, Clone)]
pub struct CallerInfo {
    /// The module.
    pub module: ModuleName,
    /// Its version.
    pub version: Version,
    /// The module function running.
    pub function: String,
    /// The groups it was granted.
    pub grants: Arc<[Grant]>,
}

/// The environment of a store's host functions. Its fields are per call: a fresh
/// instance gets a new one, a warm instance has it set again at the start of every call
/// ([`CallEnv::begin`]) and the embedder's data dropped at its end ([`CallEnv::end`]).
/// Between calls of a warm instance `runtime` and `function` may dangle; nothing reads
/// them then (no guest code runs).
pub(crate) struct CallEnv {
    pub runtime: Borrowed<Runtime>,
    pub function: Borrowed<LoadedFunction>,
    pub memory: Option<Memory>,
    pub alloc: Option<TypedFunction<i32, i32>>,
    pub fuel: Option<crate::vm::fuel::Fuel>,
    pub limits: CallLimits,
    pub deadline: Instant,
    pub depth: u32,
    pub data: Option<Arc<dyn Any + Send + Sync>>,
    /// Set when a host function aborted the call, to report why: `group.function`, message.
    pub host_trap: Option<(String, String)>,
    /// Set when the guest passed a bad pointer to a host function.
    pub guest_fault: Option<String>,
    /// The deadline passed inside a host function or a nested call: the whole chain
    /// stops with `ErrorKind::DeadlineExceeded`.
    pub deadline_passed: bool,
    /// The host is running guest code from inside a host function or after a trap (the
    /// allocator, the panic-message export): host imports are disabled meanwhile.
    pub in_callback: bool,
    /// Set when a host function was called during a callback: `group.function`.
    pub reentrant: Option<String>,
    /// Bytes of log lines charged so far ([`HostContext::charge_log`]).
    pub log_bytes: u64,
}

impl CallEnv {
    /// The environment of a call's fresh store (its memory, allocator and fuel are set
    /// once the instance exists).
    ///
    /// # Safety
    /// As [`CallEnv::begin`].
    pub(crate) unsafe fn new(call: crate::call::PerCall<'_>) -> CallEnv {
        CallEnv {
            // SAFETY: the caller's contract.
            runtime: unsafe { Borrowed::new(call.runtime) },
            // SAFETY: the caller's contract.
            function: unsafe { Borrowed::new(call.function) },
            memory: None,
            alloc: None,
            fuel: None,
            limits: *call.limits,
            deadline: call.deadline,
            depth: call.depth,
            data: call.data,
            host_trap: None,
            guest_fault: None,
            deadline_passed: false,
            in_callback: false,
            reentrant: None,
            log_bytes: 0,
        }
    }

    /// Makes the environment that of a new call (a warm instance's next call): every
    /// per-call field as [`CallEnv::new`] sets it.
    ///
    /// # Safety
    /// `call.runtime` and `call.function` must stay alive until the call ends: until
    /// [`CallEnv::end`], or until the store is dropped.
    pub(crate) unsafe fn begin(&mut self, call: crate::call::PerCall<'_>) {
        let (memory, alloc, fuel) = (self.memory.take(), self.alloc.take(), self.fuel);
        // SAFETY: the caller's contract.
        *self = CallEnv { memory, alloc, fuel, ..unsafe { CallEnv::new(call) } };
    }

    /// Ends a call of a warm instance: the embedder's per-call data goes with it.
    pub(crate) fn end(&mut self) {
        self.data = None;
    }
}

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
    /// The calling module function.
    pub fn caller(&self) -> &CallerInfo {
        // SAFETY: a host function runs during a call, which keeps its function alive.
        unsafe { self.env.data().function.get() }.info()
    }

    /// The host function being run.
    pub fn function(&self) -> &HostFunctionDef {
        self.function
    }

    /// The group being run.
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

    /// The call's limits.
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

    fn bad_pointer(&self, ptr: i32, len: usize) -> HostError {
        let memory_bytes = self.memory().view(&self.env).data_size();
        HostError::BadPointer { ptr: ptr as u32, len: u32::try_from(len).unwrap_or(u32::MAX), memory_bytes }
    }

    /// Copies `len` bytes at `ptr` out of guest memory.
    pub fn read(&self, ptr: i32, len: i32) -> Result<Vec<u8>, HostError> {
        let len = len as u32 as usize;
        crate::vm::guest_memory::copy_out(&self.memory().view(&self.env), u64::from(ptr as u32), len)
            .ok_or_else(|| self.bad_pointer(ptr, len))
    }

    /// Reads a UTF-8 string; invalid UTF-8 is `Status(INVALID)`.
    pub fn read_str(&self, ptr: i32, len: i32) -> Result<String, HostError> {
        String::from_utf8(self.read(ptr, len)?).map_err(|_| HostError::Status(wasmod_host_abi::abi::status::INVALID))
    }

    /// Copies bytes into guest memory at `ptr`.
    pub fn write(&self, ptr: i32, bytes: &[u8]) -> Result<(), HostError> {
        if crate::vm::guest_memory::copy_in(&self.memory().view(&self.env), u64::from(ptr as u32), bytes) {
            Ok(())
        } else {
            Err(self.bad_pointer(ptr, bytes.len()))
        }
    }

    /// Hands bytes to the guest: allocates them with the guest's `wasmod_alloc`, copies
    /// them, and returns the packed region to return from the host function.
    pub fn return_bytes(&mut self, bytes: &[u8]) -> Result<i64, HostError> {
        if bytes.is_empty() {
            return Ok(Region::default().pack());
        }
        let len = i32::try_from(bytes.len()).map_err(|_| HostError::Status(wasmod_host_abi::abi::status::LIMIT))?;
        let alloc = self.env.data().alloc.clone().expect("alloc is set before the guest runs");
        // A callback: host imports are disabled until it returns (ABI v1).
        self.env.data_mut().in_callback = true;
        let ptr = {
            let mut store = self.env.as_store_mut();
            alloc.call(&mut store, len)
        };
        self.env.data_mut().in_callback = false;
        let ptr = ptr.map_err(HostError::Guest)?;
        if ptr == 0 {
            return Err(HostError::Trap(format!("the guest could not allocate {len} bytes (wasmod_alloc returned 0)")));
        }
        self.write(ptr, bytes)?;
        Ok(Region { ptr: ptr as u32, len: len as u32 }.pack())
    }

    /// Calls a module function from within this call (the `modules` group): the callee
    /// runs in its own fresh instance with its own grants, one level deeper, under the
    /// same deadline, with at most the caller's remaining fuel and the memory pages the
    /// caller does not use; the fuel it uses is charged to the caller. So a chain of
    /// calls shares the top call's fuel, memory and time. Fails with
    /// `ErrorKind::DepthLimit` past the call's depth limit.
    pub fn call_module(
        &mut self,
        callee: &LoadedFunction,
        input: &[u8],
        data: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Result<Vec<u8>, CallError> {
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
        // SAFETY: a host function runs during a call, which keeps its runtime alive.
        let result = unsafe { runtime.get() }.call_nested(callee, input, &limits, data, nested);
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
        result.map(|o| o.output)
    }
}
