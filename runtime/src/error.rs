//! How calls and loads fail: [`ErrorKind`], [`CallError`], [`LoadError`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use semver::Version;
use wasmod_manifest::ModuleName;

use crate::vm::stack;
use crate::{CallMetrics, CallerInfo, LoadedFunction};

/// Why a call failed: the `kind` of a [`CallError`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The function returned an error (its message).
    #[error("returned an error: {message}")]
    GuestError {
        /// The guest's message.
        message: String,
    },
    /// The guest trapped on `unreachable` and its panic-message export then gave a message.
    #[error("panicked: {message}")]
    GuestPanic {
        /// The panic message and location.
        message: String,
    },
    /// Used up its fuel (`CallLimits::fuel`) before returning.
    #[error("ran out of fuel ({fuel} units)")]
    FuelExhausted {
        /// The call's fuel limit, in metering units (one per wasm operator).
        fuel: u64,
    },
    /// Past the wall-clock deadline.
    #[error("exceeded its deadline of {timeout:?}")]
    DeadlineExceeded {
        /// The call's timeout.
        timeout: Duration,
    },
    /// Needed more memory than the limit.
    #[error("hit the memory limit of {limit_pages} pages")]
    MemoryLimit {
        /// The call's memory limit, in 64 KiB wasm pages (`CallLimits::memory_pages`).
        limit_pages: u32,
    },
    /// Overflowed the wasm stack (`RuntimeBuilder::stack_bytes`), as deep recursion does.
    #[error("overflowed its stack")]
    StackOverflow,
    /// Any other trap (`unreachable`, division by zero, out-of-bounds access, ...).
    #[error("trapped: {message}")]
    Trap {
        /// wasmer's message for the trap, or the name of its trap code.
        message: String,
    },
    /// The guest returned, or passed to a host function, a pointer and length outside
    /// its memory.
    #[error("passed a bad pointer: {reason}")]
    BadPointer {
        /// What was wrong, as text: the range passed or returned and the memory size (and
        /// the host function it went to), or what `wasmod_alloc` returned for the input.
        reason: String,
    },
    /// The output is larger than the call's limit.
    #[error("returned {len} bytes, more than the limit of {limit}")]
    OutputTooLarge {
        /// The length of the output the guest returned, in bytes.
        len: u64,
        /// The call's output limit, in bytes (`CallLimits::max_output_bytes`).
        limit: u64,
    },
    /// A host function aborted the call.
    #[error("was stopped by host function {function}: {message}")]
    HostTrap {
        /// The host function, `group.function`.
        function: String,
        /// The host function's `HostFunctionError::Trap` message, or the runtime's account
        /// of its panic, its ill-typed result, or a status its signature cannot return.
        message: String,
    },
    /// Module calls nested deeper than allowed.
    #[error("was not run: module calls nest deeper than {limit}")]
    DepthLimit {
        /// The call's nesting limit (`CallLimits::max_depth`).
        limit: u32,
    },
    /// The thread running the call had too little of its own stack left to start it
    /// (calls nested through host functions too deeply).
    #[error(
        "was not run: only {remaining_bytes} bytes are left on the host thread's stack, and a call needs {}",
        stack::MIN_HOST_STACK
    )]
    HostStackLimit {
        /// Bytes left on the host thread's stack when the call was refused.
        remaining_bytes: usize,
    },
    /// The guest called a host function while the host was running guest code on its
    /// behalf (its `wasmod_alloc`, or its panic-message export), which ABI v1 forbids:
    /// such callbacks run with host imports disabled, so they cannot nest.
    #[error("called host function {function} from inside a callback into the guest, which ABI v1 forbids")]
    ReentrantHostCall {
        /// The host function, `group.function`.
        function: String,
    },
    /// wasmer failed in a way it should not (it panicked). The call was abandoned; the
    /// runtime stays usable.
    #[error("was abandoned after an internal error ({message}); the runtime is still usable")]
    Internal {
        /// The engine's panic message, as `the engine panicked: ...`.
        message: String,
    },
    /// The instance could not be created (an import not granted, memory above the limit).
    #[error("could not be instantiated: {reason}")]
    Link {
        /// wasmer's explanation.
        reason: String,
    },
}

impl ErrorKind {
    /// A stable name of the kind, for statistics and metrics labels: `guest_error`,
    /// `guest_panic`, `fuel_exhausted`, `deadline_exceeded`, `memory_limit`,
    /// `stack_overflow`, `trap`, `bad_pointer`, `output_too_large`, `host_trap`,
    /// `depth_limit`, `host_stack_limit`, `reentrant_host_call`, `internal` or `link`.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::GuestError { .. } => "guest_error",
            ErrorKind::GuestPanic { .. } => "guest_panic",
            ErrorKind::FuelExhausted { .. } => "fuel_exhausted",
            ErrorKind::DeadlineExceeded { .. } => "deadline_exceeded",
            ErrorKind::MemoryLimit { .. } => "memory_limit",
            ErrorKind::StackOverflow => "stack_overflow",
            ErrorKind::Trap { .. } => "trap",
            ErrorKind::BadPointer { .. } => "bad_pointer",
            ErrorKind::OutputTooLarge { .. } => "output_too_large",
            ErrorKind::HostTrap { .. } => "host_trap",
            ErrorKind::DepthLimit { .. } => "depth_limit",
            ErrorKind::HostStackLimit { .. } => "host_stack_limit",
            ErrorKind::ReentrantHostCall { .. } => "reentrant_host_call",
            ErrorKind::Internal { .. } => "internal",
            ErrorKind::Link { .. } => "link",
        }
    }
}

/// A failed call: which function, what went wrong, and what it measured until then.
#[derive(Clone, Debug)]
pub struct CallError {
    caller: Arc<CallerInfo>,
    /// Why the call failed.
    pub kind: ErrorKind,
    /// Measurements, when the guest ran at all.
    pub metrics: Option<CallMetrics>,
}

impl CallError {
    pub(crate) fn new(f: &LoadedFunction, kind: ErrorKind, metrics: Option<CallMetrics>) -> CallError {
        CallError { caller: f.info.clone(), kind, metrics }
    }

    /// The name of the called function's module.
    pub fn module(&self) -> &ModuleName {
        &self.caller.module
    }

    /// The version of that module (from its manifest).
    pub fn version(&self) -> &Version {
        &self.caller.version
    }

    /// The name of the function called, as the module's manifest declares it.
    pub fn function(&self) -> &str {
        &self.caller.function
    }
}

impl PartialEq for CallError {
    fn eq(&self, other: &Self) -> bool {
        (self.module(), self.version(), self.function(), &self.kind, &self.metrics)
            == (other.module(), other.version(), other.function(), &other.kind, &other.metrics)
    }
}

impl Eq for CallError {}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} function `{}` {}", self.module(), self.version(), self.function(), self.kind)
    }
}

impl std::error::Error for CallError {}

/// Why a function could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The package has no such function.
    #[error("{module} has no function `{function}`")]
    NoSuchFunction {
        /// The package's module name (without its version).
        module: String,
        /// The function name asked for.
        function: String,
    },
    /// Compiling the function's wasm with Cranelift (or serializing the result) failed.
    #[error("{module} function `{function}` does not compile: {reason}")]
    Compile {
        /// The package's module name (without its version).
        module: String,
        /// The function's name in the manifest.
        function: String,
        /// The compiler's message.
        reason: String,
    },
    /// A freshly compiled artifact failed to load (a runtime bug).
    #[error("{module} function `{function}` does not load: {reason}")]
    Load {
        /// The package's module name (without its version).
        module: String,
        /// The function's name in the manifest.
        function: String,
        /// wasmer's message.
        reason: String,
    },
    /// The function imports a host function whose type has the engine identity (a
    /// 32-bit hash) of another host-function type of this runtime's groups (two of the
    /// embedder's group signatures collide): the engine cannot tell them apart, so the
    /// function is not loaded.
    #[error(
        "{module} function `{function}` imports a host function of type {signature}, which the engine cannot \
         tell apart from {owner}, the type of another of this runtime's host functions; it is not loaded"
    )]
    SignatureCollision {
        /// The package's module name (without its version).
        module: String,
        /// The function's name in the manifest.
        function: String,
        /// The type of the file.
        signature: String,
        /// The type that has its identity.
        owner: String,
    },
    /// wasmer failed in a way it should not (it panicked) while compiling or loading;
    /// the runtime stays usable.
    #[error(
        "{module} function `{function}` could not be loaded after an internal error ({reason}); the runtime is still usable"
    )]
    Internal {
        /// The package's module name (without its version).
        module: String,
        /// The function's name in the manifest.
        function: String,
        /// What panicked and its message, as `the compiler panicked: ...`.
        reason: String,
    },
    /// A group granted to the function has no implementation in this runtime.
    #[error("{module} function `{function}` is granted `{group}@{version}`, which this runtime does not implement")]
    MissingGroup {
        /// The package's module name (without its version).
        module: String,
        /// The function's name in the manifest.
        function: String,
        /// The granted group's name, e.g. `kv`.
        group: String,
        /// The granted group's version, the `1` of `kv@1`.
        version: u32,
    },
}
