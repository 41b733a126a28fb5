//! [`CallEnv`], the per-call environment a store's host functions share: who runs, under
//! which limits and deadline, with which data, and what the host functions recorded.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use wasmer::{Memory, TypedFunction};

use crate::vm::borrowed::Borrowed;
use crate::{CallLimits, LoadedFunction, Runtime};

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
    /// Bytes of log lines charged so far ([`crate::HostContext::charge_log`]).
    pub log_bytes: u64,
}

impl CallEnv {
    /// The environment of a call's fresh store (its memory, allocator and fuel are set
    /// once the instance exists).
    ///
    /// # Safety
    /// As [`CallEnv::begin`].
    pub(crate) unsafe fn new(call: crate::instance::PerCall<'_>) -> CallEnv {
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
    pub(crate) unsafe fn begin(&mut self, call: crate::instance::PerCall<'_>) {
        let (memory, alloc, fuel) = (self.memory.take(), self.alloc.take(), self.fuel);
        // SAFETY: the caller's contract.
        *self = CallEnv { memory, alloc, fuel, ..unsafe { CallEnv::new(call) } };
    }

    /// Ends a call of a warm instance: the embedder's per-call data goes with it.
    pub(crate) fn end(&mut self) {
        self.data = None;
    }
}
