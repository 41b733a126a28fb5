//! One call: a fresh store and instance, only the granted imports, fuel, memory limit
//! and deadline, bytes in and out, and every way it can go wrong turned into an error.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use wasmer::{
    Extern, Function, FunctionEnv, FunctionEnvMut, Instance, Module, RuntimeError, Store, TypedFunction, Value,
};
use wasmer_types::TrapCode;
use wasmod_host_abi::ValType;
use wasmod_host_abi::abi::{ALLOC_EXPORT, EntryResult, MEMORY_EXPORT, PANIC_MESSAGE_EXPORT, Region};

use crate::host::{Borrowed, CallEnv, HostContext, HostError, HostValue};
use crate::pool;
use crate::watchdog::Watch;
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

fn to_host(v: &Value) -> HostValue {
    match v {
        Value::I32(x) => HostValue::I32(*x),
        Value::I64(x) => HostValue::I64(*x),
        Value::F32(x) => HostValue::F32(*x),
        Value::F64(x) => HostValue::F64(*x),
        _ => HostValue::I32(0),
    }
}

fn to_wasm(v: HostValue) -> Value {
    match v {
        HostValue::I32(x) => Value::I32(x),
        HostValue::I64(x) => Value::I64(x),
        HostValue::F32(x) => Value::F32(x),
        HostValue::F64(x) => Value::F64(x),
    }
}

fn matches_type(v: HostValue, t: ValType) -> bool {
    matches!(
        (v, t),
        (HostValue::I32(_), ValType::I32)
            | (HostValue::I64(_), ValType::I64)
            | (HostValue::F32(_), ValType::F32)
            | (HostValue::F64(_), ValType::F64)
    )
}

/// Builds the wasmer host function for import `import` of `function`.
fn host_function(
    store: &mut Store,
    env: &FunctionEnv<CallEnv>,
    function: Borrowed<LoadedFunction>,
    import: usize,
    ty: &wasmer::FunctionType,
) -> Function {
    Function::new_with_env(store, env, ty.clone(), move |mut env: FunctionEnvMut<'_, CallEnv>, args: &[Value]| {
        let Ok(binding) = &function.get().imports[import] else {
            unreachable!("only granted imports get a host function");
        };
        let (group, index) = (&binding.group, binding.index);
        let def = group.def();
        let function = &def.functions[index];
        // ABI v1: a callback into the guest runs with host imports disabled. This is the
        // one place the rule is enforced; it bounds every nesting through the allocator.
        if env.data().in_callback {
            let name = format!("{}.{}", def.name, function.name);
            let message = format!("host function {name} was called from inside a callback into the guest");
            env.data_mut().reentrant = Some(name);
            return Err(RuntimeError::new(message));
        }
        let args: Vec<HostValue> = args.iter().map(to_host).collect();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut cx = HostContext { env: env.as_mut(), group: def, function };
            group.call(index, &mut cx, &args)
        }));
        let results = &function.signature.results;
        let fail = |env: &mut FunctionEnvMut<'_, CallEnv>, message: String| {
            env.data_mut().host_trap = Some((format!("{}.{}", def.name, function.name), message.clone()));
            Err(RuntimeError::new(message))
        };
        match result {
            Ok(Ok(value)) => match (value, results.first()) {
                (None, None) => Ok(Vec::new()),
                (Some(v), Some(t)) if results.len() == 1 && matches_type(v, *t) => Ok(vec![to_wasm(v)]),
                (v, _) => {
                    fail(&mut env, format!("host function returned {v:?}, which does not match {}", function.signature))
                }
            },
            Ok(Err(HostError::Status(code))) => match results.first() {
                Some(ValType::I32) => Ok(vec![Value::I32(code)]),
                Some(ValType::I64) => Ok(vec![Value::I64(i64::from(code))]),
                _ => fail(&mut env, format!("host function failed with status {code}")),
            },
            Ok(Err(HostError::Trap(message))) => fail(&mut env, message),
            Ok(Err(e @ HostError::BadPointer { .. })) => {
                let message = format!("in {}.{}: {e}", def.name, function.name);
                env.data_mut().guest_fault = Some(message.clone());
                Err(RuntimeError::new(message))
            }
            Ok(Err(HostError::Guest(e))) => Err(e),
            Ok(Err(HostError::DeadlineExceeded)) => {
                env.data_mut().deadline_passed = true;
                Err(RuntimeError::new(format!(
                    "the deadline passed inside host function {}.{}",
                    def.name, function.name
                )))
            }
            Err(panic) => fail(&mut env, format!("the host function panicked: {}", panic_text(panic.as_ref()))),
        }
    })
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
        if let Some(left) = crate::stack::remaining()
            && left < crate::stack::MIN_HOST_STACK
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
        // replaced before the next call.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| self.run(f, input, limits, data, nested, started)))
            .unwrap_or_else(|panic| {
                crate::engine::discard_thread_engine();
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
            Some(after) => crate::copies::module_for_this_thread(&f.code, &f.module, self.inner.stack_bytes, after),
            None => f.module.clone(),
        }
    }

    /// A fresh store and instance of `module` (`f`'s code) with the granted imports, fuel
    /// set, and the exports a call needs.
    ///
    /// # Safety
    /// The store refers to `self` and `f` without owning them: the returned value must be
    /// dropped while both are still borrowed. `module`'s code must stay loaded for as long
    /// as the returned value lives (its engine must outlive it).
    unsafe fn instantiate(
        &self,
        f: &LoadedFunction,
        module: &Module,
        limits: &CallLimits,
        data: Option<Arc<dyn Any + Send + Sync>>,
        depth: u32,
        deadline: Instant,
    ) -> Result<Instantiated, CallError> {
        let link = |e: &dyn std::fmt::Display| CallError::new(f, ErrorKind::Link { reason: e.to_string() }, None);
        let stack_bytes = self.inner.stack_bytes;
        let mut store =
            Store::new(crate::engine::thread_engine(stack_bytes).unwrap_or_else(|| self.inner.fallback_engine.clone()));
        // Host functions need the per-call environment; a function without imports
        // does without it.
        let env = (!f.imports.is_empty()).then(|| {
            FunctionEnv::new(
                &mut store,
                CallEnv {
                    // SAFETY: the caller drops the store before `self` and `f` go.
                    runtime: unsafe { Borrowed::new(self) },
                    // SAFETY: as above.
                    function: unsafe { Borrowed::new(f) },
                    memory: None,
                    alloc: None,
                    fuel: None,
                    limits: *limits,
                    deadline,
                    depth,
                    data,
                    host_trap: None,
                    guest_fault: None,
                    deadline_passed: false,
                    in_callback: false,
                    reentrant: None,
                    log_bytes: 0,
                },
            )
        });
        let mut externs = Vec::with_capacity(f.imports.len());
        for (index, import) in f.imports.iter().enumerate() {
            match (import, &env) {
                (Ok(binding), Some(env)) => {
                    // SAFETY: as above; the host function lives in the store.
                    let function = unsafe { Borrowed::new(f) };
                    externs.push(Extern::Function(host_function(&mut store, env, function, index, &binding.ty)));
                }
                (Err(name), _) => {
                    return Err(link(&format!("import `{name}` is not granted to this function, so it cannot link")));
                }
                (Ok(_), None) => unreachable!("an environment exists whenever there are imports"),
            }
        }
        let instance = Instance::new_by_index(&mut store, module, &externs).map_err(|e| link(&e))?;
        let exports = &instance.exports;
        // SAFETY: `fuel` is kept next to the store, which owns the globals, and dropped
        // with it (`Instantiated`).
        let fuel = unsafe { Fuel::find(&mut store) }
            .ok_or_else(|| link(&"the metering globals of the instance were not found"))?;
        let fuel_start = i64::try_from(limits.fuel).unwrap_or(i64::MAX);
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
        Ok(Instantiated { store, instance, env, fuel, fuel_start, memory, alloc, entry })
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
        let fail = |kind: ErrorKind, metrics: Option<CallMetrics>| Err(CallError::new(f, kind, metrics));
        // A timeout too long to represent is no deadline at all (about 136 years).
        let own = started.checked_add(limits.timeout).unwrap_or_else(|| started + Duration::from_secs(u32::MAX.into()));
        let deadline = nested.deadline.map_or(own, |outer| outer.min(own));
        // SAFETY: the store is dropped at the end of this function, while `self` and `f`
        // are borrowed.
        let Instantiated { mut store, instance, env, fuel, fuel_start, memory, alloc, entry } =
            unsafe { self.instantiate(f, &self.module_for_this_call(f), limits, data, nested.depth, deadline) }?;

        // The watchdog zeroes the fuel global when the deadline passes.
        // SAFETY: the global lives in the instance, which the store keeps alive until the
        // end of this function; `watch` is dropped explicitly before that.
        let watch = unsafe { Watch::register(deadline, fuel.remaining_ptr()) };

        let outcome = (|| -> Result<Vec<u8>, Failure> {
            let (ptr, len) = if input.is_empty() {
                (0, 0)
            } else {
                let len = i32::try_from(input.len()).map_err(|_| {
                    Failure::Boundary(ErrorKind::BadPointer { reason: "input larger than 2 GiB".into() })
                })?;
                let ptr = guest_callback(&mut store, env.as_ref(), |store| alloc.call(store, len))?;
                if ptr == 0 {
                    return Err(Failure::Boundary(ErrorKind::BadPointer {
                        reason: format!("wasmod_alloc({len}) returned 0"),
                    }));
                }
                if !copy_in(&memory.view(&store), u64::from(ptr as u32), input) {
                    return Err(Failure::Boundary(ErrorKind::BadPointer {
                        reason: format!("wasmod_alloc({len}) returned {ptr:#x}, outside memory"),
                    }));
                }
                (ptr, len)
            };
            let word = entry.call(&mut store, ptr, len)?;
            let (region, is_err) = match EntryResult::unpack(word) {
                EntryResult::Ok(r) => (r, false),
                EntryResult::Err(r) => (r, true),
            };
            let bytes = read_region(&store, &memory, region, limits.max_output_bytes).map_err(Failure::Boundary)?;
            if is_err { Err(Failure::GuestError(String::from_utf8_lossy(&bytes).into_owned())) } else { Ok(bytes) }
        })();
        // Out of fuel, or stopped by the watchdog, which zeroes the fuel: known before the
        // panic reader may set the flag again.
        let exhausted = fuel.exhausted();
        // After a plain `unreachable`, ask the guest for its panic message: still under
        // the call's deadline, on what is left of its fuel, with host imports disabled.
        let panic = match &outcome {
            Err(Failure::Wasm(e)) if !exhausted && e.clone().to_trap() == Some(TrapCode::UnreachableCodeReached) => {
                panic_message(&mut store, env.as_ref(), &instance, fuel, &memory)
            }
            _ => None,
        };
        let timed_out = watch.finish();

        let remaining = fuel.get();
        let metrics = CallMetrics {
            wall: started.elapsed(),
            fuel_used: (fuel_start - remaining.max(0)).max(0) as u64,
            memory_pages: memory.view(&store).size().0,
            log_bytes: env.as_ref().map_or(0, |env| env.as_ref(&store).log_bytes),
        };
        let error = match outcome {
            Ok(output) => return Ok(CallOutcome { output, metrics }),
            Err(Failure::GuestError(message)) => return fail(ErrorKind::GuestError { message }, Some(metrics)),
            Err(Failure::Boundary(kind)) => return fail(kind, Some(metrics)),
            Err(Failure::Wasm(e)) => e,
        };
        let (deadline_passed, host_trap, guest_fault, reentrant) = match &env {
            Some(env) => {
                let state = env.as_mut(&mut store);
                (state.deadline_passed, state.host_trap.take(), state.guest_fault.take(), state.reentrant.take())
            }
            None => (false, None, None, None),
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
        fail(kind, Some(metrics))
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

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// A fresh instance, ready for one call.
struct Instantiated {
    store: Store,
    instance: Instance,
    env: Option<FunctionEnv<CallEnv>>,
    fuel: Fuel,
    fuel_start: i64,
    memory: wasmer::Memory,
    alloc: TypedFunction<i32, i32>,
    entry: TypedFunction<(i32, i32), i64>,
}

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
        // SAFETY: both live in boxes that `LiveInstance` drops after the store, and the
        // function's own engine (in the box) holds the shared module's code.
        // The shared module, never this thread's copy: a live instance may move to another
        // thread and outlive this one (and with it the copy's code).
        let inner = unsafe { runtime.instantiate(&function, &function.module, &limits, None, 0, deadline) }?;
        Ok(LiveInstance { inner, max_output: limits.max_output_bytes, _runtime: runtime, _function: function })
    }
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

/// Copies `bytes` into guest memory at `offset`; `false` if they do not fit.
///
/// wasmer's `MemoryView::write` copies with volatile accesses, because another thread
/// may change a shared memory meanwhile. wasmod memories are never shared (the threads
/// proposal is off), and no guest code runs while the host copies (the guest is either
/// not started or suspended in a host call on this thread), so a plain copy is sound.
pub(crate) fn copy_in(view: &wasmer::MemoryView<'_>, offset: u64, bytes: &[u8]) -> bool {
    let fits = offset.checked_add(bytes.len() as u64).is_some_and(|end| end <= view.data_size());
    if fits {
        // SAFETY: in bounds (checked above), and nothing else touches the memory now
        // (see above); `ptr::copy` allows the two ranges to overlap.
        unsafe { std::ptr::copy(bytes.as_ptr(), view.data_ptr().add(offset as usize), bytes.len()) };
    }
    fits
}

/// Copies `len` bytes at `offset` out of guest memory; `None` if out of bounds. See
/// [`copy_in`] for why a plain copy is sound.
pub(crate) fn copy_out(view: &wasmer::MemoryView<'_>, offset: u64, len: usize) -> Option<Vec<u8>> {
    let end = offset.checked_add(len as u64)?;
    if end > view.data_size() {
        return None;
    }
    // SAFETY: in bounds (checked above), and nothing writes the memory meanwhile.
    Some(unsafe { std::slice::from_raw_parts(view.data_ptr().add(offset as usize), len) }.to_vec())
}

fn read_region(store: &Store, memory: &wasmer::Memory, region: Region, max: usize) -> Result<Vec<u8>, ErrorKind> {
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
    unsafe fn find(store: &mut Store) -> Option<Fuel> {
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
    fn exhausted(&self) -> bool {
        // SAFETY: a live i32 global (see `find`), written only by the guest, which is not
        // running now.
        unsafe { self.exhausted.as_ptr().read() != 0 }
    }

    fn remaining_ptr(&self) -> *mut i64 {
        self.remaining.as_ptr()
    }
}
