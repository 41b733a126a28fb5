//! What a call may use and what it reports: [`CallLimits`], [`CallOptions`],
//! [`CallMetrics`], [`CallOutcome`].

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What one call may use; a call that names none gets `Runtime::default_limits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// Instructions (metering units; one per wasm operator).
    pub fuel: u64,
    /// Linear-memory pages (64 KiB) the call may have. A module call's callee gets what
    /// its caller does not use, so a chain of calls shares this.
    pub memory_pages: u32,
    /// Elements each table of the instance may have: a `table.grow` past it fails
    /// (returns -1, as past a declared maximum, which applies when it is lower), and a
    /// table declared larger does not instantiate.
    pub table_elements: u32,
    /// Wall-clock time from the start of the call.
    pub timeout: Duration,
    /// Largest output accepted, in bytes.
    pub max_output_bytes: usize,
    /// Bytes of log lines the call's host functions may emit on its behalf (the
    /// standard `log` group drops the lines past it); a chain of module calls shares it.
    pub max_log_bytes: u64,
    /// How deep module-to-module calls may nest.
    pub max_depth: u32,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            fuel: 1_000_000_000,
            memory_pages: 256,
            table_elements: 10_000,
            timeout: Duration::from_secs(5),
            max_output_bytes: 16 << 20,
            max_log_bytes: 1 << 20,
            max_depth: 8,
        }
    }
}

/// What a call measured, in its `CallOutcome`, or its `CallError` when the guest ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallMetrics {
    /// Wall-clock time, instantiation included.
    pub wall: Duration,
    /// Fuel consumed, in metering units (one per wasm operator, as `CallLimits::fuel`).
    pub fuel_used: u64,
    /// Linear-memory pages at the end (the peak: memories only grow).
    pub memory_pages: u32,
    /// Bytes of log lines charged to the call (its module calls' included).
    pub log_bytes: u64,
}

/// What a call returns when the function succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// The function's output bytes.
    pub output: Vec<u8>,
    /// Time, fuel, memory and log bytes the call used.
    pub metrics: CallMetrics,
}

/// Options of one call, for `Runtime::call_with`; the default uses the runtime's limits.
#[derive(Clone, Default)]
pub struct CallOptions {
    /// Limits; the runtime's defaults when `None`.
    pub limits: Option<CallLimits>,
    /// Data host functions can read through [`HostContext::data`](crate::HostContext::data).
    pub data: Option<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOptions").field("limits", &self.limits).field("data", &self.data.is_some()).finish()
    }
}
