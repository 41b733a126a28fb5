//! Host groups: how `wasmod/` (the standard groups) and embedders (their own groups)
//! implement host functions ([`HostGroup`]), the values and errors that cross into and
//! out of them, and who is calling ([`CallerInfo`]). What a host function sees of the
//! call is `host_context.rs`.

use std::fmt;
use std::sync::Arc;

use semver::Version;
use wasmer::RuntimeError;
use wasmod_host_abi::GroupDef;
use wasmod_manifest::ModuleName;
use wasmod_validator::Grant;

use crate::HostContext;

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

/// A trap of the guest while the host ran guest code on its behalf. Only the runtime
/// makes one; a host function passes it on in [`HostFunctionError::Guest`], which is how
/// the call learns what stopped the guest.
pub struct GuestTrap(pub(crate) RuntimeError);

impl fmt::Debug for GuestTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GuestTrap").field(&self.0.message()).finish()
    }
}

impl fmt::Display for GuestTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message())
    }
}

impl std::error::Error for GuestTrap {}

/// What a host function may fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum HostFunctionError {
    /// A status code returned to the guest (as a negative `i32`/`i64`, see
    /// `wasmod_host_abi::abi::status`); the call goes on.
    Status(i32),
    /// Abort the whole call: the guest is stopped and the caller gets
    /// `ErrorKind::HostTrap` with this message.
    Trap(String),
    /// The guest passed a pointer and length outside its memory: a guest error.
    BadPointer {
        /// The start of the range, an offset into the guest's linear memory.
        ptr: u32,
        /// The length of the range, in bytes.
        len: u32,
        /// The guest memory size at that time.
        memory_bytes: u64,
    },
    /// The guest trapped while the host called back into it (e.g. in `wasmod_alloc`,
    /// from [`HostContext::return_bytes`]): pass it on with `?`, and the call ends as
    /// the trap says (out of fuel, past the deadline, a trap).
    Guest(GuestTrap),
    /// The host function could not finish before the call's deadline (it waited for a
    /// lock, say, until [`HostContext::remaining_time`] ran out): the call stops with
    /// `ErrorKind::DeadlineExceeded`.
    DeadlineExceeded,
}

impl fmt::Display for HostFunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostFunctionError::Status(code) => {
                write!(f, "status {code} ({})", wasmod_host_abi::abi::status::describe(i64::from(*code)))
            }
            HostFunctionError::Trap(m) => f.write_str(m),
            HostFunctionError::BadPointer { ptr, len, memory_bytes } => {
                write!(f, "the guest passed the range {ptr:#x}+{len} but its memory is {memory_bytes} bytes")
            }
            HostFunctionError::Guest(e) => write!(f, "the guest trapped in a callback: {e}"),
            HostFunctionError::DeadlineExceeded => f.write_str("the call's deadline passed inside the host function"),
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
///   ([`HostContext::call_module`], or a [`Runtime`](crate::Runtime) it holds); each runs one level
///   deeper on the host thread's stack, and one that would start with less than
///   [`crate::MIN_HOST_STACK`] left fails with `ErrorKind::HostStackLimit`.
/// - **Bound your own work.** The guest is not interrupted while a host function runs.
///   Finish within [`HostContext::remaining_time`]: wait for nothing longer, and return
///   [`HostFunctionError::DeadlineExceeded`] when time runs out. Bound the memory you allocate
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
    ) -> Result<Option<HostValue>, HostFunctionError>;
}

/// Who is calling a host function.
#[derive(Debug, Clone)]
pub struct CallerInfo {
    /// The name of the calling function's module, from its manifest.
    pub module: ModuleName,
    /// That module's version, from its manifest.
    pub version: Version,
    /// The name of the module function running, as its manifest declares it.
    pub function: String,
    /// The groups it was granted.
    pub grants: Arc<[Grant]>,
}
