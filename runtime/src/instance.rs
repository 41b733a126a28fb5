//! An instance ready for calls ([`Instantiated`]) and what crosses its boundary: making
//! one with only the granted imports and the call's fuel, passing the input in through
//! `wasmod_alloc`, running the entry point, reading the output region and, after a
//! trap, the guest's panic message.

use std::any::Any;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Instant;

use wasmer::{Extern, FunctionEnv, Instance, Module, RuntimeError, Store, TypedFunction};
use wasmod_host_abi::abi::{ALLOC_EXPORT, EntryResult, MEMORY_EXPORT, PANIC_MESSAGE_EXPORT, Region};

use crate::call_env::CallEnv;
use crate::host_call::host_function;
use crate::vm::fuel::Fuel;
use crate::vm::guest_memory::{copy_in, copy_out};
use crate::vm::pool;
use crate::{CallError, CallLimits, ErrorKind, LoadedFunction, Runtime};

/// The most fuel reading a panic message after a trap may use (of what the call has left).
const PANIC_READ_FUEL: i64 = 100_000;
/// The longest panic message read back.
const MAX_PANIC_MESSAGE: u32 = 64 << 10;

/// What one call is: who runs what, under which limits, with which data. It reaches a
/// store's environment ([`CallEnv`]) when the call starts.
pub(crate) struct PerCall<'a> {
    pub runtime: &'a Runtime,
    pub function: &'a LoadedFunction,
    pub limits: &'a CallLimits,
    pub data: Option<Arc<dyn Any + Send + Sync>>,
    pub depth: u32,
    pub deadline: Instant,
}

/// An instance, ready for calls: its store, what a call uses of it, and the pooled
/// memory the engine made for it (`None` if it has none of its own).
pub(crate) struct Instantiated {
    pub store: Store,
    pub instance: Instance,
    pub env: Option<FunctionEnv<CallEnv>>,
    pub fuel: Fuel,
    pub fuel_start: i64,
    pub memory: wasmer::Memory,
    pub alloc: TypedFunction<i32, i32>,
    pub entry: TypedFunction<(i32, i32), i64>,
    pub created: Option<NonNull<pool::PooledMemory>>,
}

/// What the host functions of a call recorded about how it ended, taken from the
/// store's environment once the guest is done.
#[derive(Default)]
pub(crate) struct HostReport {
    /// The watchdog's deadline passed during a host function (or a nested call).
    pub deadline_passed: bool,
    /// A host function trapped: its name and message.
    pub host_trap: Option<(String, String)>,
    /// The guest handed a host function a bad pointer.
    pub guest_fault: Option<String>,
    /// A host function was called from a callback into the guest: its name.
    pub reentrant: Option<String>,
}

impl HostReport {
    /// Whether nothing went wrong on the host side.
    pub(crate) fn is_clean(&self) -> bool {
        !self.deadline_passed && self.host_trap.is_none() && self.guest_fault.is_none() && self.reentrant.is_none()
    }
}

impl Runtime {
    /// A fresh store and instance of `module` (`call.function`'s code) with the granted
    /// imports, fuel set, and the exports a call needs.
    ///
    /// # Safety
    /// The store refers to `call.runtime` and `call.function` without owning them: they
    /// must outlive the call (see [`CallEnv::begin`]). `module`'s code must stay loaded
    /// for as long as the returned value lives (its engine must outlive it).
    pub(crate) unsafe fn instantiate(&self, module: &Module, call: PerCall<'_>) -> Result<Instantiated, CallError> {
        let f = call.function;
        let link = |e: &dyn std::fmt::Display| CallError::new(f, ErrorKind::Link { reason: e.to_string() }, None);
        let stack_bytes = self.inner.stack_bytes;
        let fuel_start = i64::try_from(call.limits.fuel).unwrap_or(i64::MAX);
        let mut store = Store::new(
            crate::vm::engine::thread_engine(stack_bytes).unwrap_or_else(|| self.inner.fallback_engine.clone()),
        );
        // Host functions need the per-call environment; a function without imports
        // does without it.
        // SAFETY: the caller's contract.
        let env = (!f.imports.is_empty()).then(|| FunctionEnv::new(&mut store, unsafe { CallEnv::new(call) }));
        let mut externs = Vec::with_capacity(f.imports.len());
        for (index, import) in f.imports.iter().enumerate() {
            match (import, &env) {
                (Ok(binding), Some(env)) => {
                    externs.push(Extern::Function(host_function(&mut store, env, index, &binding.ty)));
                }
                (Err(name), _) => {
                    return Err(link(&format!("import `{name}` is not granted to this function, so it cannot link")));
                }
                (Ok(_), None) => unreachable!("an environment exists whenever there are imports"),
            }
        }
        pool::forget_created();
        let instance = Instance::new_by_index(&mut store, module, &externs);
        // Taken even on failure: a memory made for a failed instance is gone already.
        let created = pool::take_created();
        let instance = instance.map_err(|e| link(&e))?;
        let exports = &instance.exports;
        // SAFETY: `fuel` is kept next to the store, which owns the globals, and dropped
        // with it (`Instantiated`).
        let fuel = unsafe { Fuel::find(&mut store) }
            .ok_or_else(|| link(&"the metering globals of the instance were not found"))?;
        fuel.set(fuel_start);
        let memory = exports.get_memory(MEMORY_EXPORT).map_err(|e| link(&e))?.clone();
        let alloc: TypedFunction<i32, i32> = exports.get_typed_function(&store, ALLOC_EXPORT).map_err(|e| link(&e))?;
        let entry: TypedFunction<(i32, i32), i64> =
            exports.get_typed_function(&store, &f.info.function).map_err(|e| link(&e))?;
        if let Some(env) = &env {
            let env = env.as_mut(&mut store);
            env.memory = Some(memory.clone());
            env.alloc = Some(alloc.clone());
            env.fuel = Some(fuel);
        }
        Ok(Instantiated { store, instance, env, fuel, fuel_start, memory, alloc, entry, created })
    }
}

impl Instantiated {
    /// Passes `input` in through `wasmod_alloc`, runs the entry point and reads back the
    /// region it returns (at most `max_output` bytes).
    pub(crate) fn run_entry(&mut self, input: &[u8], max_output: usize) -> Result<Vec<u8>, Failure> {
        let (ptr, len) = if input.is_empty() {
            (0, 0)
        } else {
            let len = i32::try_from(input.len())
                .map_err(|_| Failure::Boundary(ErrorKind::BadPointer { reason: "input larger than 2 GiB".into() }))?;
            let alloc = &self.alloc;
            let ptr = guest_callback(&mut self.store, self.env.as_ref(), |store| alloc.call(store, len))?;
            if ptr == 0 {
                return Err(Failure::Boundary(ErrorKind::BadPointer {
                    reason: format!("wasmod_alloc({len}) returned 0"),
                }));
            }
            if !copy_in(&self.memory.view(&self.store), u64::from(ptr as u32), input) {
                return Err(Failure::Boundary(ErrorKind::BadPointer {
                    reason: format!("wasmod_alloc({len}) returned {ptr:#x}, outside memory"),
                }));
            }
            (ptr, len)
        };
        let word = self.entry.call(&mut self.store, ptr, len)?;
        let (region, is_err) = match EntryResult::unpack(word) {
            EntryResult::Ok(r) => (r, false),
            EntryResult::Err(r) => (r, true),
        };
        let bytes = read_region(&self.store, &self.memory, region, max_output).map_err(Failure::Boundary)?;
        if is_err { Err(Failure::GuestError(String::from_utf8_lossy(&bytes).into_owned())) } else { Ok(bytes) }
    }

    /// Takes what the call's host functions recorded (nothing, for an instance without
    /// host imports).
    pub(crate) fn take_host_report(&mut self) -> HostReport {
        let Some(env) = &self.env else { return HostReport::default() };
        let state = env.as_mut(&mut self.store);
        HostReport {
            deadline_passed: state.deadline_passed,
            host_trap: state.host_trap.take(),
            guest_fault: state.guest_fault.take(),
            reentrant: state.reentrant.take(),
        }
    }

    /// The bytes the guest's host functions logged in this call.
    pub(crate) fn log_bytes(&self) -> u64 {
        self.env.as_ref().map_or(0, |env| env.as_ref(&self.store).log_bytes)
    }

    /// After an `unreachable` trap, asks the guest for its panic message (sdk guests
    /// record it in their panic hook). The export runs as a callback (host imports
    /// disabled) on at most [`PANIC_READ_FUEL`] of the fuel the call has left, and what it
    /// uses is charged to the call; the call's deadline still applies (the caller keeps
    /// the watch registered).
    pub(crate) fn panic_message(&mut self) -> Option<String> {
        let get: TypedFunction<(), i64> =
            self.instance.exports.get_typed_function(&self.store, PANIC_MESSAGE_EXPORT).ok()?;
        let fuel = self.fuel;
        let left = fuel.get().max(0);
        let budget = left.min(PANIC_READ_FUEL);
        fuel.set(budget);
        let word = guest_callback(&mut self.store, self.env.as_ref(), |store| get.call(store));
        // Charge what the reader used (all of its budget if it ran out).
        let used = budget - fuel.get().clamp(0, budget);
        fuel.set(left - used);
        let region = Region::unpack(word.ok()?)?;
        if region.len == 0 {
            return None;
        }
        let region = Region { len: region.len.min(MAX_PANIC_MESSAGE), ..region };
        read_region(&self.store, &self.memory, region, MAX_PANIC_MESSAGE as usize)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// Runs guest code the host calls back into (the allocator, the panic-message export)
/// with the call's host imports disabled: a host function it calls stops the call with
/// `ErrorKind::ReentrantHostCall` (see `host_function`).
fn guest_callback<R>(store: &mut Store, env: Option<&FunctionEnv<CallEnv>>, run: impl FnOnce(&mut Store) -> R) -> R {
    if let Some(env) = env {
        env.as_mut(store).in_callback = true;
    }
    let result = run(store);
    if let Some(env) = env {
        env.as_mut(store).in_callback = false;
    }
    result
}

/// Copies the output region `region` out of guest memory, refusing more than `max`
/// bytes or a range outside the memory.
pub(crate) fn read_region(
    store: &Store,
    memory: &wasmer::Memory,
    region: Region,
    max: usize,
) -> Result<Vec<u8>, ErrorKind> {
    if region.len as usize > max {
        return Err(ErrorKind::OutputTooLarge { len: u64::from(region.len), limit: max as u64 });
    }
    let view = memory.view(store);
    copy_out(&view, u64::from(region.ptr), region.len as usize).ok_or_else(|| ErrorKind::BadPointer {
        reason: format!(
            "the guest returned the range {:#x}+{} but its memory is {} bytes",
            region.ptr,
            region.len,
            view.data_size()
        ),
    })
}

/// How the guest part of a call failed, before classification.
pub(crate) enum Failure {
    /// A trap (or an error from wasmer).
    Wasm(RuntimeError),
    /// The entry returned an error message.
    GuestError(String),
    /// The input or the output could not cross the boundary.
    Boundary(ErrorKind),
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Self {
        Failure::Wasm(e)
    }
}
