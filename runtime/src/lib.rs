//! The wasmod runtime: the only crate that knows wasmer.
//!
//! - **Compile and cache.** [`Runtime::load`] takes a function of a
//!   [`wasmod_validator::ValidatedPackage`], looks for its compiled
//!   artifact in an [`ArtifactCache`], verifies it (engine identity, hash of the wasm,
//!   hash of the payload) before the `unsafe` deserialization, and otherwise compiles it
//!   with Cranelift and a fresh metering middleware, then caches it. Stale or corrupt
//!   artifacts are recompiled, never loaded.
//! - **Call.** [`Runtime::call`] runs every call with the state of a fresh instance:
//!   input bytes in, output bytes out (ABI v1), with only the host functions of the
//!   groups granted to that function linked. An import of an ungranted group cannot even
//!   link. The instance is this thread's warm instance of the function, put back after
//!   every call into exactly the state instantiation left it in (ADR 0010), or, for files
//!   whose state cannot be reset, a new one ([`RuntimeBuilder::warm_instances`]).
//! - **Host groups** are [`HostGroup`] implementations; a host function sees its
//!   caller, the guest memory through bounds-checked accessors, the call's limits and
//!   the embedder's per-call data ([`HostContext`]).
//! - **Limits** per call ([`CallLimits`]): fuel (instruction metering), memory pages,
//!   table elements, a wall-clock deadline (a watchdog thread zeroes the fuel counter,
//!   ADR 0005), output size, module-call depth; a chain of module calls shares its fuel,
//!   memory and deadline. Callbacks into the guest run with host imports disabled, and a
//!   call needs [`MIN_HOST_STACK`] of the thread's stack, so nothing nests without bound.
//!   Each failure is its own [`ErrorKind`] and names module and function; no panic
//!   escapes, and the runtime keeps serving afterwards (ADR 0008).
//! - **Artifacts** are loaded only if they carry a MAC under the runtime's artifact key
//!   ([`RuntimeBuilder::artifact_key`]): whoever can write a cache cannot make the
//!   runtime deserialize code it did not compile.
//! - **Speed.** A warm call costs the call itself plus a page-table scan and the pages
//!   to restore. Linear memories come from a pool of pre-reserved slots that are zeroed
//!   on return (only touched pages), so a fresh instance costs a few microseconds, and
//!   threads do not contend on the process memory map. Host functions of the standard
//!   groups' signatures are typed (called natively by wasmer).
//! - **Metrics.** Each call reports wall time, fuel used and memory pages
//!   ([`CallMetrics`]) and runs in a `tracing` span `wasmod.call`.
//!
//! [`Runtime`] is `Send + Sync` and cheap to clone; calls run in parallel from any
//! number of threads.
#![deny(missing_docs)]

mod artifact;
mod builder;
mod call;
mod call_env;
mod error;
mod function;
mod group_builder;
mod host_call;
mod host_context;
mod host_group;
mod instance;
mod limits;
mod live;
mod load;
mod resettable;
mod runtime;
mod vm;
mod warm;

pub use artifact::{ArtifactCache, DirCache, NoCache};
pub use builder::{RuntimeBuilder, WARM_INSTANCES_ENV};
pub use error::{CallError, ErrorKind, LoadError};
pub use function::{ArtifactSource, LoadedFunction};
pub use group_builder::{GroupBuilder, IntoHostFunction, WasmResult, WasmValue};
pub use host_context::{HostContext, LogCharge};
pub use host_group::{CallerInfo, GuestTrap, HostFunctionError, HostGroup, HostValue};
pub use limits::{CallLimits, CallMetrics, CallOptions, CallOutcome};
#[doc(hidden)]
pub use live::LiveInstance;
pub use runtime::Runtime;
pub use vm::stack::MIN_HOST_STACK;
