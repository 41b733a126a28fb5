//! [`Runtime`]: what a runtime holds, what it tells about itself, and the entry points
//! of calls. It is built by `builder.rs` and loads functions in `load.rs`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wasmer::Engine;

use crate::vm::signatures;
use crate::{
    CallError, CallLimits, CallOptions, CallOutcome, HostGroup, LoadedFunction, RuntimeBuilder, call, vm, warm,
};

/// What every clone of a [`Runtime`] shares.
pub(crate) struct Inner {
    /// The engine of calls' stores on a thread whose own engine is gone (it is exiting).
    pub(crate) fallback_engine: Engine,
    /// The wasm stack size of this runtime's calls (`None`: wasmer's default).
    pub(crate) stack_bytes: Option<usize>,
    /// Calls of a function on one thread before the thread gets its own copy of the
    /// code (`None`: never).
    pub(crate) copy_after: Option<u32>,
    /// Whether calls of resettable functions reuse a warm instance (`warm`).
    pub(crate) warm_instances: bool,
    /// The compiler configuration's identity, which artifacts must carry.
    pub(crate) identity: String,
    /// Authenticates the artifacts this runtime compiles (see `artifact`).
    pub(crate) artifact_key: [u8; 32],
    /// The host groups, by name and version.
    pub(crate) groups: HashMap<(String, u32), Arc<dyn HostGroup>>,
    /// The groups' function types, and which of them collide.
    pub(crate) host_types: signatures::HostTypes,
    /// The limits of a call that names none.
    pub(crate) limits: CallLimits,
}

/// The runtime. See the [crate docs](crate).
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups: Vec<String> = self.inner.groups.keys().map(|(n, v)| format!("{n}@{v}")).collect();
        groups.sort();
        f.debug_struct("Runtime").field("groups", &groups).field("limits", &self.inner.limits).finish()
    }
}

impl Runtime {
    /// A builder with no host groups and `CallLimits::default()`; see [`RuntimeBuilder`].
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The identity of the compiler configuration artifacts must match.
    pub fn engine_identity(&self) -> &str {
        &self.inner.identity
    }

    /// Whether calls reuse warm instances ([`RuntimeBuilder::warm_instances`]).
    pub fn uses_warm_instances(&self) -> bool {
        self.inner.warm_instances
    }

    /// How many warm instances the calling thread keeps, of all runtimes (for tests that
    /// check which path a call took).
    #[doc(hidden)]
    pub fn warm_instances_on_this_thread() -> usize {
        warm::on_this_thread()
    }

    /// Whether the calling thread keeps a warm instance of `f` (for tests).
    #[doc(hidden)]
    pub fn has_warm_instance(f: &LoadedFunction) -> bool {
        warm::has(f)
    }

    /// How many warm resets on the calling thread skipped the page-table scan because
    /// the thread took no page fault since the reset before (for tests).
    #[doc(hidden)]
    pub fn warm_scans_skipped_on_this_thread() -> u64 {
        warm::scans_skipped_on_this_thread()
    }

    /// Digests of the observable state (memory size and bytes, every global) of this
    /// thread's warm instance of `f` after its last reset, and of a fresh instance of `f`
    /// made with `limits`, never called: equal whenever the reset is exact (the warm
    /// instance must have been made by a call with the same fuel). `None` when there is
    /// no warm instance waiting. For the differential fuzz target.
    #[doc(hidden)]
    pub fn state_digests(&self, f: &LoadedFunction, limits: &CallLimits) -> Option<([u8; 32], [u8; 32])> {
        let warm = warm::digest_of_warm(f, self.inner.stack_bytes)?;
        let previous = vm::pool::enter_call(limits.memory_pages, limits.table_elements);
        let deadline = std::time::Instant::now() + limits.timeout.min(Duration::from_secs(3600));
        let call = crate::instance::PerCall { runtime: self, function: f, limits, data: None, depth: 0, deadline };
        // SAFETY: the instance is dropped before this function returns, while `self` and
        // `f` are borrowed; `f`'s engine holds the shared module's code.
        let fresh = unsafe { self.instantiate(&f.module, call) };
        vm::pool::leave_call(previous);
        Some((warm, warm::digest_of_fresh(&mut fresh.ok()?)))
    }

    /// The limits of calls that name none (`RuntimeBuilder::limits`, else `CallLimits::default()`).
    pub fn default_limits(&self) -> &CallLimits {
        &self.inner.limits
    }

    /// Calls a function with the default limits.
    pub fn call(&self, function: &LoadedFunction, input: &[u8]) -> Result<CallOutcome, CallError> {
        self.call_with(function, input, &CallOptions::default())
    }

    /// Calls a function with explicit limits and per-call data.
    pub fn call_with(
        &self,
        function: &LoadedFunction,
        input: &[u8],
        options: &CallOptions,
    ) -> Result<CallOutcome, CallError> {
        let limits = options.limits.as_ref().unwrap_or(&self.inner.limits);
        // (`limits` is Copy; the reference keeps the default path allocation-free.)
        let data = options.data.clone();
        self.call_nested(call::CallRequest { function, input, limits, data, nested: call::Nested::TOP })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::copies;
    use crate::{ErrorKind, HostContext, HostFunctionError, HostValue, LoadError, NoCache};

    /// A validated package whose function `run` imports `kv.get` and has body `run`.
    fn kv_package(run: &str) -> wasmod_validator::ValidatedPackage {
        let wat = format!(
            r#"(module
            (import "wasmod:kv@1" "get" (func (param i32 i32) (result i64)))
            (memory (export "memory") 1)
            (func (export "__wasmod_abi_v1"))
            (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "run") (param i32 i32) (result i64) {run}))"#
        );
        let manifest =
            r#"(name: "t/kv", version: "1.0.0", functions: { "run": (implements: "t.run", groups: ["kv"]) })"#;
        let files = [("run.wasm".to_string(), wat::parse_str(wat).unwrap())].into_iter().collect();
        let package = wasmod_manifest::Package::new(manifest, files).unwrap();
        let policy = wasmod_validator::HostPolicy::new().with_subsystem("t.run", &["kv"], "");
        wasmod_validator::validate_package(package, &policy).unwrap()
    }

    fn kv_function(runtime: &Runtime) -> LoadedFunction {
        runtime.load(&kv_package("(call 0 (i32.const 0) (i32.const 0))"), "run", &NoCache).unwrap()
    }

    struct NotFound;
    impl HostGroup for NotFound {
        fn def(&self) -> &wasmod_host_abi::GroupDef {
            static KV: wasmod_host_abi::GroupDef = wasmod_host_abi::groups::KV;
            &KV
        }
        fn call(
            &self,
            _: usize,
            _: &mut HostContext<'_>,
            _: &[HostValue],
        ) -> Result<Option<HostValue>, HostFunctionError> {
            Err(HostFunctionError::Status(wasmod_host_abi::abi::status::NOT_FOUND))
        }
    }

    #[test]
    fn an_ungranted_import_cannot_link() {
        let runtime = Runtime::builder().group(Arc::new(NotFound)).build();
        let granted = kv_function(&runtime);
        // Granted: it links and runs (kv.get answers NOT_FOUND, which the guest returns
        // as its packed result: an error region with a huge length, refused as output).
        assert!(!matches!(runtime.call(&granted, b"").unwrap_err().kind, ErrorKind::Link { .. }));
        // The same module with the grant withdrawn: the import is not linked at all.
        // (A load of its own: the imports are part of what a warm instance was made for.)
        let withdrawn = LoadedFunction {
            imports: vec![Err("wasmod:kv@1.get".to_string())].into(),
            code: Arc::default(),
            ..granted
        };
        let err = runtime.call(&withdrawn, b"").unwrap_err();
        assert!(matches!(&err.kind, ErrorKind::Link { reason } if reason.contains("wasmod:kv@1.get")), "{err}");
    }

    #[test]
    fn a_thread_gets_its_own_copy_of_a_hot_function_and_drops_it_with_the_function() {
        let package = kv_package(
            "(i64.or (i64.shl (i64.extend_i32_u (local.get 1)) (i64.const 32)) (i64.extend_i32_u (local.get 0)))",
        );
        // Copies serve the fresh path; warm instances would take every call here.
        let runtime = Runtime::builder().group(Arc::new(NotFound)).warm_instances(false).build();
        std::thread::spawn(move || {
            let echo = runtime.load(&package, "run", &NoCache).unwrap();
            for i in 0..copies::COPY_AFTER + 10 {
                let input = i.to_le_bytes();
                assert_eq!(runtime.call(&echo, &input).unwrap().output, input, "call {i}");
                let expected = usize::from(i + 1 >= copies::COPY_AFTER);
                assert_eq!(copies::copies_on_this_thread(), expected, "after call {i}");
            }
            // The function goes; the next function this thread calls clears its entry.
            drop(echo);
            let other = runtime.load(&package, "run", &NoCache).unwrap();
            assert_eq!(runtime.call(&other, b"x").unwrap().output, b"x");
            assert_eq!((copies::entries_on_this_thread(), copies::copies_on_this_thread()), (1, 0));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn per_thread_copies_can_be_turned_off_or_made_sooner() {
        let package = kv_package("i64.const 0");
        // `Some(n)`: the copy is made at the `n`th call (at the first for 0 and 1).
        for setting in [None, Some(0), Some(1), Some(3)] {
            let runtime =
                Runtime::builder().group(Arc::new(NotFound)).per_thread_code(setting).warm_instances(false).build();
            let package = package.clone();
            std::thread::spawn(move || {
                let f = runtime.load(&package, "run", &NoCache).unwrap();
                for call in 1..=copies::COPY_AFTER + 5 {
                    assert_eq!(runtime.call(&f, b"").unwrap().output, b"");
                    let expected = usize::from(setting.is_some_and(|n| call >= n));
                    assert_eq!(copies::copies_on_this_thread(), expected, "{setting:?}, after call {call}");
                }
            })
            .join()
            .unwrap();
        }
    }

    #[test]
    fn a_thread_keeps_at_most_its_cap_of_warm_instances() {
        let runtime = Runtime::builder().group(Arc::new(NotFound)).warm_instances(true).build();
        let package = kv_package("i64.const 0");
        std::thread::spawn(move || {
            let functions: Vec<LoadedFunction> =
                (0..warm::MAX_PER_THREAD + 6).map(|_| runtime.load(&package, "run", &NoCache).unwrap()).collect();
            for (i, f) in functions.iter().enumerate() {
                runtime.call(f, b"").unwrap();
                assert_eq!(warm::on_this_thread(), (i + 1).min(warm::MAX_PER_THREAD), "after call {i}");
            }
            // The newest is always kept.
            assert!(warm::has(functions.last().unwrap()));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn an_unrepresentably_long_timeout_means_no_deadline() {
        let runtime = Runtime::builder().group(Arc::new(NotFound)).build();
        let f = runtime.load(&kv_package("i64.const 0"), "run", &NoCache).unwrap();
        let limits = CallLimits { timeout: std::time::Duration::MAX, ..*runtime.default_limits() };
        let options = CallOptions { limits: Some(limits), ..Default::default() };
        assert_eq!(runtime.call_with(&f, b"", &options).unwrap().output, b"");
    }

    #[test]
    fn a_granted_group_without_implementation_fails_at_load() {
        let runtime = Runtime::builder().build();
        let err = runtime.load(&kv_package("i64.const 0"), "run", &NoCache).unwrap_err();
        assert!(matches!(err, LoadError::MissingGroup { ref group, version: 1, .. } if group == "kv"), "{err}");
    }
}
