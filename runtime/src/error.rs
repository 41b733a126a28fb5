//! How calls and loads fail: [`ErrorKind`], [`CallError`], [`LoadError`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use semver::Version;
use wasmod_manifest::ModuleName;

use crate::vm::stack;
use crate::{CallMetrics, CallerInfo, LoadedFunction};

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The function returned an error (its message).
    #[error("returned an error: {message}")]
    GuestError {
        /// The guest's message.
        message: String,
    },
    /// The guest panicked.
    #[error("panicked: {message}")]
    GuestPanic {
        /// The panic message and location.
        message: String,
    },
    /// Out of fuel.
    #[error("ran out of fuel ({fuel} units)")]
    FuelExhausted {
        /// The fuel it had.
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
        /// The limit.
        limit_pages: u32,
    },
    /// Recursed too deep.
    #[error("overflowed its stack")]
    StackOverflow,
    /// Any other trap (`unreachable`, division by zero, out-of-bounds access, ...).
    #[error("trapped: {message}")]
    Trap {
        /// What wasmer reported.
        message: String,
    },
    /// The guest returned, or passed to a host function, a pointer and length outside
    /// its memory.
    #[error("passed a bad pointer: {reason}")]
    BadPointer {
        /// Which.
        reason: String,
    },
    /// The output is larger than the call's limit.
    #[error("returned {len} bytes, more than the limit of {limit}")]
    OutputTooLarge {
        /// Its size.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A host function aborted the call.
    #[error("was stopped by host function {function}: {message}")]
    HostTrap {
        /// The host function, `group.function`.
        function: String,
        /// Why.
        message: String,
    },
    /// Module calls nested deeper than allowed.
    #[error("was not run: module calls nest deeper than {limit}")]
    DepthLimit {
        /// The limit.
        limit: u32,
    },
    /// The thread running the call had too little of its own stack left to start it
    /// (calls nested through host functions too deeply).
    #[error(
        "was not run: only {remaining_bytes} bytes are left on the host thread's stack, and a call needs {}",
        stack::MIN_HOST_STACK
    )]
    HostStackLimit {
        /// What was left.
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
        /// What went wrong.
        message: String,
    },
    /// The instance could not be created (an import not granted, memory above the limit).
    #[error("could not be instantiated: {reason}")]
    Link {
        /// wasmer's explanation.
        reason: String,
    },
}

/// A failed call: which function, what went wrong, and what it measured until then.
#[derive(Clone, Debug)]
pub struct CallError {
    caller: Arc<CallerInfo>,
    /// What happened.
    pub kind: ErrorKind,
    /// Measurements, when the guest ran at all.
    pub metrics: Option<CallMetrics>,
}

impl CallError {
    pub(crate) fn new(f: &LoadedFunction, kind: ErrorKind, metrics: Option<CallMetrics>) -> CallError {
        CallError { caller: f.info.clone(), kind, metrics }
    }

    /// The module.
    pub fn module(&self) -> &ModuleName {
        &self.caller.module
    }

    /// Its version.
    pub fn version(&self) -> &Version {
        &self.caller.version
    }

    /// The function.
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
pub enum LoadError {
    /// The package has no such function.
    #[error("{module} has no function `{function}`")]
    NoSuchFunction {
        /// The module.
        module: String,
        /// The function.
        function: String,
    },
    /// Cranelift failed.
    #[error("{module} function `{function}` does not compile: {reason}")]
    Compile {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The compiler's message.
        reason: String,
    },
    /// A freshly compiled artifact failed to load (a runtime bug).
    #[error("{module} function `{function}` does not load: {reason}")]
    Load {
        /// The module.
        module: String,
        /// The function.
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
        /// The module.
        module: String,
        /// The function.
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
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// What went wrong.
        reason: String,
    },
    /// A group granted to the function has no implementation in this runtime.
    #[error("{module} function `{function}` is granted `{group}@{version}`, which this runtime does not implement")]
    MissingGroup {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The group.
        group: String,
        /// Its version.
        version: u32,
    },
}
