//! One call: a fresh store and instance, only the granted imports, fuel, memory limit
//! and deadline, bytes in and out, and every way it can go wrong turned into an error.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmer::{Extern, FunctionEnv, Instance, Module, RuntimeError, Store, TypedFunction};
use wasmer_types::TrapCode;
use wasmod_host_abi::abi::{ALLOC_EXPORT, EntryResult, MEMORY_EXPORT, PANIC_MESSAGE_EXPORT, Region};

use crate::host::CallEnv;
use crate::host_call::host_function;
use crate::vm::fuel::Fuel;
use crate::vm::guest_memory::{copy_in, copy_out};
use crate::vm::panic_text;
use crate::vm::pool;
use crate::vm::watchdog::Watch;
use crate::warm::Taken;
use crate::{CallError, CallLimits, CallMetrics, CallOutcome, ErrorKind, LoadedFunction, Runtime};

/// The most fuel reading a panic message after a trap may use (of what the call has left).
const PANIC_READ_FUEL: i64 = 100_000;
/// The longest panic message read back.
const MAX_PANIC_MESSAGE: u32 = 64 << 10;

/// Where a call sits in a chain of module calls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Nested {
    pub depth: u32,
    /// The caller's deadline (`None` for a call from the host, which has only its own).
    pub deadline: Option<Instant>,
}

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

impl Runtime {
    pub(crate) fn call_nested(
        &self,
        f: &LoadedFunction,
        input: &[u8],
        limits: &CallLimits,
        data: Option<Arc<dyn Any + Send + Sync>>,
        nested: Nested,
    ) -> Result<CallOutcome, CallError> {
        if nested.depth > limits.max_depth {
            return Err(CallError::new(f, ErrorKind::DepthLimit { limit: limits.max_depth }, None));
        }
        if let Some(left) = crate::vm::stack::remaining()
            && left < crate::vm::stack::MIN_HOST_STACK
        {
            return Err(CallError::new(f, ErrorKind::HostStackLimit { remaining_bytes: left }, None));
        }
        let span = tracing::debug_span!(
            "wasmod.call",
            module = %f.info.module,
            version = %f.info.version,
            function = %f.info.function,
            depth = nested.depth,
            fuel_used = tracing::field::Empty,
            memory_pages = tracing::field::Empty,
        );
        let _entered = span.enter();
        let previous = pool::enter_call(limits.memory_pages, limits.table_elements);
        let started = Instant::now();
        // No panic leaves a call, wherever in wasmer it starts: the call is abandoned, and
        // the thread's engine, which a panic may have left with a poisoned lock, is
        // replaced before the next call (and so are its warm instances).
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| self.run(f, input, limits, data, nested, started)))
            .unwrap_or_else(|panic| {
                // Dropping what the engine may have left broken could panic too.
                let _ = std::panic::catch_unwind(|| {
                    crate::vm::engine::discard_thread_engine();
                    crate::warm::discard_this_thread();
                });
                let message = format!("the engine panicked: {}", panic_text(panic.as_ref()));
                Err(CallError::new(f, ErrorKind::Internal { message }, None))
            });
        let memory = pool::leave_call(previous);
        let result = result.map_err(|mut e| {
            // A refused `memory.grow` followed by a trap is the memory limit at work (Rust
            // guests abort when allocation fails).
            if memory.denied
                && matches!(e.kind, ErrorKind::Trap { .. } | ErrorKind::GuestPanic { .. } | ErrorKind::Link { .. })
            {
                e.kind = ErrorKind::MemoryLimit { limit_pages: limits.memory_pages };
            }
            e
        });
        match &result {
            Ok(o) => {
                span.record("fuel_used", o.metrics.fuel_used);
                span.record("memory_pages", o.metrics.memory_pages);
            }
            Err(e) => tracing::debug!(error = %e, "call failed"),
        }
        result
    }

    /// The code a call of `f` on this thread instantiates: the thread's own copy once it
    /// has one (`copies`), else the shared module. A copy's code lives in a thread-local
    /// table of this thread, so only calls that end on this thread may use it.
    fn module_for_this_call(&self, f: &LoadedFunction) -> Module {
        match self.inner.copy_after {
            Some(after) => crate::vm::copies::module_for_this_thread(&f.code, &f.module, self.inner.stack_bytes, after),
            None => f.module.clone(),
        }
    }

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

    fn run(
        &self,
        f: &LoadedFunction,
        input: &[u8],
        limits: &CallLimits,
        data: Option<Arc<dyn Any + Send + Sync>>,
        nested: Nested,
        started: Instant,
    ) -> Result<CallOutcome, CallError> {
        // A timeout too long to represent is no deadline at all (about 136 years).
        let own = started.checked_add(limits.timeout).unwrap_or_else(|| started + Duration::from_secs(u32::MAX.into()));
        let deadline = nested.deadline.map_or(own, |outer| outer.min(own));
        let call = PerCall { runtime: self, function: f, limits, data, depth: nested.depth, deadline };
        // A warm instance serves the call if the file is resettable and its instance fits
        // the call's limits; otherwise the fresh path reports what does not fit.
        if self.inner.warm_instances
            && let Some(reset) = f.reset
            && reset.min_pages <= limits.memory_pages
            && reset.table_elements <= limits.table_elements
        {
            return self.run_warm(call, input, started);
        }
        // SAFETY: the store is dropped at the end of this function, while `self` and `f`
        // are borrowed.
        let mut fresh = unsafe { self.instantiate(&self.module_for_this_call(f), call) }?;
        self.call_in(&mut fresh, f, input, limits, deadline, started).0
    }

    /// A call in this thread's warm instance of `f` (made now if there is none, or if the
    /// one there is in use by a call further up this thread's stack, which then keeps it),
    /// reset after the call and kept only if the guest returned normally.
    fn run_warm(&self, call: PerCall<'_>, input: &[u8], started: Instant) -> Result<CallOutcome, CallError> {
        let (f, limits, deadline) = (call.function, call.limits, call.deadline);
        // Held until this call ends: a call of `f` from inside it takes the fresh path.
        let (mut warm, _lease) = match crate::warm::take(f, self.inner.stack_bytes) {
            Taken::Ready(mut warm, lease) => {
                // SAFETY: `self` and `f` are borrowed until this call ends; the warm
                // instance is reset (`end`) or dropped before this function returns.
                unsafe { warm.begin(call) };
                (warm, lease)
            }
            // A call of the same function further up this thread's stack has it.
            Taken::Busy => {
                // SAFETY: the store is dropped at the end of this block, while `self` and
                // `f` are borrowed.
                let mut fresh = unsafe { self.instantiate(&self.module_for_this_call(f), call) }?;
                return self.call_in(&mut fresh, f, input, limits, deadline, started).0;
            }
            // SAFETY: as above; the function's own engine, which the warm instance keeps,
            // holds the shared module's code.
            Taken::Empty(lease) => {
                match crate::warm::Warm::new(unsafe { self.instantiate(&f.module, call) }?, f, self.inner.stack_bytes) {
                    Ok(warm) => (warm, lease),
                    // Could not take its image: this call runs in it as a fresh instance.
                    Err(mut fresh) => return self.call_in(&mut fresh, f, input, limits, deadline, started).0,
                }
            }
        };
        let (result, clean) = self.call_in(warm.instance(), f, input, limits, deadline, started);
        if clean {
            match warm.reset() {
                Ok(()) => crate::warm::put(f, warm),
                Err(e) => tracing::debug!(error = %e, "a warm instance could not be reset; it is dropped"),
            }
        }
        result
    }

    /// Runs the call in `inst`: input in, entry point, output out, every failure
    /// classified. Also says whether the guest returned normally, without a trap, a
    /// timeout or running out of fuel (only then may a warm instance be reused).
    fn call_in(
        &self,
        inst: &mut Instantiated,
        f: &LoadedFunction,
        input: &[u8],
        limits: &CallLimits,
        deadline: Instant,
        started: Instant,
    ) -> (Result<CallOutcome, CallError>, bool) {
        let fail = |kind: ErrorKind, metrics: Option<CallMetrics>| Err(CallError::new(f, kind, metrics));
        let Instantiated { store, instance, env, fuel, memory, alloc, entry, .. } = inst;
        let fuel = *fuel;
        // The fuel of this call (a warm instance was made for an earlier one).
        let fuel_start = i64::try_from(limits.fuel).unwrap_or(i64::MAX);
        fuel.set(fuel_start);

        // The watchdog zeroes the fuel global when the deadline passes.
        // SAFETY: the global lives in the instance, which outlives this function; `watch`
        // is finished before it returns.
        let watch = unsafe { Watch::register(deadline, fuel.remaining_ptr()) };

        let outcome = (|| -> Result<Vec<u8>, Failure> {
            let (ptr, len) = if input.is_empty() {
                (0, 0)
            } else {
                let len = i32::try_from(input.len()).map_err(|_| {
                    Failure::Boundary(ErrorKind::BadPointer { reason: "input larger than 2 GiB".into() })
                })?;
                let ptr = guest_callback(store, env.as_ref(), |store| alloc.call(store, len))?;
                if ptr == 0 {
                    return Err(Failure::Boundary(ErrorKind::BadPointer {
                        reason: format!("wasmod_alloc({len}) returned 0"),
                    }));
                }
                if !copy_in(&memory.view(store), u64::from(ptr as u32), input) {
                    return Err(Failure::Boundary(ErrorKind::BadPointer {
                        reason: format!("wasmod_alloc({len}) returned {ptr:#x}, outside memory"),
                    }));
                }
                (ptr, len)
            };
            let word = entry.call(store, ptr, len)?;
            let (region, is_err) = match EntryResult::unpack(word) {
                EntryResult::Ok(r) => (r, false),
                EntryResult::Err(r) => (r, true),
            };
            let bytes = read_region(store, memory, region, limits.max_output_bytes).map_err(Failure::Boundary)?;
            if is_err { Err(Failure::GuestError(String::from_utf8_lossy(&bytes).into_owned())) } else { Ok(bytes) }
        })();
        // Out of fuel, or stopped by the watchdog, which zeroes the fuel: known before the
        // panic reader may set the flag again.
        let exhausted = fuel.exhausted();
        // After a plain `unreachable`, ask the guest for its panic message: still under
        // the call's deadline, on what is left of its fuel, with host imports disabled.
        let panic = match &outcome {
            Err(Failure::Wasm(e)) if !exhausted && e.clone().to_trap() == Some(TrapCode::UnreachableCodeReached) => {
                panic_message(store, env.as_ref(), instance, fuel, memory)
            }
            _ => None,
        };
        let timed_out = watch.finish();

        let remaining = fuel.get();
        let metrics = CallMetrics {
            wall: started.elapsed(),
            fuel_used: (fuel_start - remaining.max(0)).max(0) as u64,
            memory_pages: memory.view(store).size().0,
            log_bytes: env.as_ref().map_or(0, |env| env.as_ref(store).log_bytes),
        };
        let (deadline_passed, host_trap, guest_fault, reentrant) = match &env {
            Some(env) => {
                let state = env.as_mut(store);
                (state.deadline_passed, state.host_trap.take(), state.guest_fault.take(), state.reentrant.take())
            }
            None => (false, None, None, None),
        };
        let clean = !(exhausted || timed_out || deadline_passed)
            && host_trap.is_none()
            && guest_fault.is_none()
            && reentrant.is_none()
            && !matches!(outcome, Err(Failure::Wasm(_)));
        let error = match outcome {
            Ok(output) => return (Ok(CallOutcome { output, metrics }), clean),
            Err(Failure::GuestError(message)) => {
                return (fail(ErrorKind::GuestError { message }, Some(metrics)), clean);
            }
            Err(Failure::Boundary(kind)) => return (fail(kind, Some(metrics)), clean),
            Err(Failure::Wasm(e)) => e,
        };
        let kind = if timed_out || deadline_passed {
            ErrorKind::DeadlineExceeded { timeout: limits.timeout }
        } else if exhausted {
            ErrorKind::FuelExhausted { fuel: limits.fuel }
        } else if let Some(function) = reentrant {
            ErrorKind::ReentrantHostCall { function }
        } else if let Some((function, message)) = host_trap {
            ErrorKind::HostTrap { function, message }
        } else if let Some(reason) = guest_fault {
            ErrorKind::BadPointer { reason }
        } else if let Some(message) = panic {
            ErrorKind::GuestPanic { message }
        } else {
            match error.clone().to_trap() {
                Some(TrapCode::StackOverflow) => ErrorKind::StackOverflow,
                Some(TrapCode::UnreachableCodeReached) | None => ErrorKind::Trap { message: error.message() },
                Some(code) => ErrorKind::Trap { message: code.to_string() },
            }
        };
        (fail(kind, Some(metrics)), clean)
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
    pub created: Option<NonNull<crate::vm::pool::PooledMemory>>,
}

/// How the guest part of a call failed, before classification.
enum Failure {
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

/// After an `unreachable` trap, asks the guest for its panic message (sdk guests record
/// it in their panic hook). The export runs as a callback (host imports disabled) on at
/// most [`PANIC_READ_FUEL`] of the fuel the call has left, and what it uses is charged
/// to the call; the call's deadline still applies (the caller keeps the watch
/// registered).
fn panic_message(
    store: &mut Store,
    env: Option<&FunctionEnv<CallEnv>>,
    instance: &Instance,
    fuel: Fuel,
    memory: &wasmer::Memory,
) -> Option<String> {
    let get: TypedFunction<(), i64> = instance.exports.get_typed_function(store, PANIC_MESSAGE_EXPORT).ok()?;
    let left = fuel.get().max(0);
    let budget = left.min(PANIC_READ_FUEL);
    fuel.set(budget);
    let word = guest_callback(store, env, |store| get.call(store));
    // Charge what the reader used (all of its budget if it ran out).
    let used = budget - fuel.get().clamp(0, budget);
    fuel.set(left - used);
    let region = Region::unpack(word.ok()?)?;
    if region.len == 0 {
        return None;
    }
    let region = Region { len: region.len.min(MAX_PANIC_MESSAGE), ..region };
    read_region(store, memory, region, MAX_PANIC_MESSAGE as usize)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}
