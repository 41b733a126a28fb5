//! One call from start to end: its checks (depth, host stack), its tracing span and
//! panic boundary, the choice between this thread's warm instance and a fresh one, the
//! fuel and deadline of the run, and every way it can go wrong turned into an
//! [`ErrorKind`]. Making the instance and crossing its boundary is `instance.rs`.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmer::{Module, RuntimeError};
use wasmer_types::TrapCode;

use crate::instance::{Failure, HostReport, Instantiated, PerCall};
use crate::vm::panic_text;
use crate::vm::pool;
use crate::vm::watchdog::Watch;
use crate::warm::Taken;
use crate::{CallError, CallLimits, CallMetrics, CallOutcome, ErrorKind, LoadedFunction, Runtime};

/// Where a call sits in a chain of module calls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Nested {
    pub depth: u32,
    /// The caller's deadline (`None` for a call from the host, which has only its own).
    pub deadline: Option<Instant>,
}

impl Nested {
    /// A call from the host: depth 0, no deadline but its own.
    pub(crate) const TOP: Nested = Nested { depth: 0, deadline: None };
}

/// A call as it is asked for: the function, its input, its limits, the embedder's data
/// and where in a chain of module calls it sits.
pub(crate) struct CallRequest<'a> {
    pub function: &'a LoadedFunction,
    pub input: &'a [u8],
    pub limits: &'a CallLimits,
    pub data: Option<Arc<dyn Any + Send + Sync>>,
    pub nested: Nested,
}

/// What the run of a call in an instance needs to know, once it has started.
#[derive(Clone, Copy)]
struct Running<'a> {
    function: &'a LoadedFunction,
    input: &'a [u8],
    limits: &'a CallLimits,
    /// The earlier of the call's own deadline and its caller's.
    deadline: Instant,
    started: Instant,
}

impl Runtime {
    /// Runs a call: refuses it past the depth limit or without enough host stack, and
    /// otherwise runs it under `catch_unwind`, so that no panic leaves it.
    pub(crate) fn call_nested(&self, request: CallRequest<'_>) -> Result<CallOutcome, CallError> {
        let (f, limits, nested) = (request.function, request.limits, request.nested);
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
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.run(request, started))).unwrap_or_else(|panic| {
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

    /// Sets the call's deadline and runs it in a warm instance, or in a fresh one.
    fn run(&self, request: CallRequest<'_>, started: Instant) -> Result<CallOutcome, CallError> {
        let CallRequest { function: f, input, limits, data, nested } = request;
        // A timeout too long to represent is no deadline at all (about 136 years).
        let own = started.checked_add(limits.timeout).unwrap_or_else(|| started + Duration::from_secs(u32::MAX.into()));
        let deadline = nested.deadline.map_or(own, |outer| outer.min(own));
        let running = Running { function: f, input, limits, deadline, started };
        let call = PerCall { runtime: self, function: f, limits, data, depth: nested.depth, deadline };
        // A warm instance serves the call if the file is resettable and its instance fits
        // the call's limits; otherwise the fresh path reports what does not fit.
        if self.inner.warm_instances
            && let Some(reset) = f.reset
            && reset.min_pages <= limits.memory_pages
            && reset.table_elements <= limits.table_elements
        {
            return self.run_warm(call, running);
        }
        // SAFETY: the store is dropped at the end of this function, while `self` and `f`
        // are borrowed.
        let mut fresh = unsafe { self.instantiate(&self.module_for_this_call(f), call) }?;
        call_in(&mut fresh, running).0
    }

    /// A call in this thread's warm instance of `f` (made now if there is none, or if the
    /// one there is in use by a call further up this thread's stack, which then keeps it),
    /// reset after the call and kept only if the guest returned normally.
    fn run_warm(&self, call: PerCall<'_>, running: Running<'_>) -> Result<CallOutcome, CallError> {
        let f = running.function;
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
                return call_in(&mut fresh, running).0;
            }
            Taken::Empty(lease) => {
                // SAFETY: `self` and `f` are borrowed until this call ends, and the
                // instance, which outlives it as the thread's warm instance, is reset
                // (`end`: nothing of this call is left in its environment) or dropped
                // before this function returns; the function's own engine, which the
                // warm instance keeps, holds the shared module's code.
                let made = unsafe { self.instantiate(&f.module, call) }?;
                match crate::warm::Warm::new(made, f, self.inner.stack_bytes) {
                    Ok(warm) => (warm, lease),
                    // Could not take its image: this call runs in it as a fresh instance.
                    Err(mut fresh) => return call_in(&mut fresh, running).0,
                }
            }
        };
        let (result, clean) = call_in(warm.instance(), running);
        if clean {
            match warm.reset() {
                Ok(()) => crate::warm::put(f, warm),
                Err(e) => tracing::debug!(error = %e, "a warm instance could not be reset; it is dropped"),
            }
        }
        result
    }
}

/// Runs the call in `inst` under the call's fuel and deadline, and classifies how it
/// ended. Also says whether the guest returned normally, without a trap, a timeout or
/// running out of fuel (only then may a warm instance be reused).
fn call_in(inst: &mut Instantiated, call: Running<'_>) -> (Result<CallOutcome, CallError>, bool) {
    let fuel = inst.fuel;
    // The fuel of this call (a warm instance was made for an earlier one).
    let fuel_start = i64::try_from(call.limits.fuel).unwrap_or(i64::MAX);
    fuel.set(fuel_start);

    // The watchdog zeroes the fuel global when the deadline passes.
    // SAFETY: the global lives in the instance, which outlives this function; `watch`
    // is finished before it returns.
    let watch = unsafe { Watch::register(call.deadline, fuel.remaining_ptr()) };
    let outcome = inst.run_entry(call.input, call.limits.max_output_bytes);
    // Out of fuel, or stopped by the watchdog, which zeroes the fuel: known before the
    // panic reader may set the flag again.
    let exhausted = fuel.exhausted();
    // After a plain `unreachable`, ask the guest for its panic message: still under
    // the call's deadline, on what is left of its fuel, with host imports disabled.
    let panic = match &outcome {
        Err(Failure::Wasm(e)) if !exhausted && e.clone().to_trap() == Some(TrapCode::UnreachableCodeReached) => {
            inst.panic_message()
        }
        _ => None,
    };
    let timed_out = watch.finish();

    let metrics = CallMetrics {
        wall: call.started.elapsed(),
        fuel_used: (fuel_start - fuel.get().max(0)).max(0) as u64,
        memory_pages: inst.memory.view(&inst.store).size().0,
        log_bytes: inst.log_bytes(),
    };
    let host = inst.take_host_report();
    let stopped = Stopped { exhausted, timed_out, panic };
    let clean = !(exhausted || timed_out) && host.is_clean() && !matches!(outcome, Err(Failure::Wasm(_)));
    let kind = match outcome {
        Ok(output) => return (Ok(CallOutcome { output, metrics }), clean),
        Err(Failure::GuestError(message)) => ErrorKind::GuestError { message },
        Err(Failure::Boundary(kind)) => kind,
        Err(Failure::Wasm(error)) => classify_trap(&error, stopped, host, call.limits),
    };
    (Err(CallError::new(call.function, kind, Some(metrics))), clean)
}

/// What stopped the guest, as seen from outside it.
struct Stopped {
    /// The fuel ran out (or the watchdog zeroed it).
    exhausted: bool,
    /// The watchdog fired: the call's deadline passed while the guest ran.
    timed_out: bool,
    /// The guest's panic message, after an `unreachable` trap.
    panic: Option<String>,
}

/// The error kind of a call the engine stopped: the deadline and fuel come first (they
/// explain any trap that follows), then what the host functions recorded, then the
/// guest's own panic message, then the trap itself.
fn classify_trap(error: &RuntimeError, stopped: Stopped, host: HostReport, limits: &CallLimits) -> ErrorKind {
    if stopped.timed_out || host.deadline_passed {
        ErrorKind::DeadlineExceeded { timeout: limits.timeout }
    } else if stopped.exhausted {
        ErrorKind::FuelExhausted { fuel: limits.fuel }
    } else if let Some(function) = host.reentrant {
        ErrorKind::ReentrantHostCall { function }
    } else if let Some((function, message)) = host.host_trap {
        ErrorKind::HostTrap { function, message }
    } else if let Some(reason) = host.guest_fault {
        ErrorKind::BadPointer { reason }
    } else if let Some(message) = stopped.panic {
        ErrorKind::GuestPanic { message }
    } else {
        match error.clone().to_trap() {
            Some(TrapCode::StackOverflow) => ErrorKind::StackOverflow,
            Some(TrapCode::UnreachableCodeReached) | None => ErrorKind::Trap { message: error.message() },
            Some(code) => ErrorKind::Trap { message: code.to_string() },
        }
    }
}
