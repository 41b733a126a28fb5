//! [`Runtime`] and [`RuntimeBuilder`]: building a runtime, loading functions (a
//! verified cached artifact or a compile), and the entry points of calls.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use wasmer::{Engine, FunctionType, Type};
use wasmod_host_abi::ValType;
use wasmod_host_abi::groups::parse_import_module;
use wasmod_validator::ValidatedPackage;

use crate::function::Binding;
use crate::vm::{copies, engine, signatures};
use crate::{
    ArtifactCache, ArtifactSource, CallError, CallLimits, CallOptions, CallOutcome, CallerInfo, HostGroup, LoadError,
    LoadedFunction, artifact, call, resettable, vm, warm,
};

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
    pub(crate) identity: String,
    /// Authenticates the artifacts this runtime compiles (see `artifact`).
    pub(crate) artifact_key: [u8; 32],
    pub(crate) groups: HashMap<(String, u32), Arc<dyn HostGroup>>,
    /// The groups' function types, and which of them collide.
    pub(crate) host_types: signatures::HostTypes,
    pub(crate) limits: CallLimits,
}

/// What an artifact is compiled from: a hash of the function file and of its entry
/// point's name.
fn compiled_input_hash(wasm: &[u8], function: &str) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(blake3::hash(wasm).as_bytes());
    h.update(function.as_bytes());
    h.finalize().into()
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

/// Builds a [`Runtime`].
pub struct RuntimeBuilder {
    groups: Vec<Arc<dyn HostGroup>>,
    limits: CallLimits,
    stack_bytes: Option<usize>,
    copy_after: Option<u32>,
    warm_instances: bool,
    artifact_key: Option<[u8; 32]>,
}

/// The environment variable that turns warm instances off for every runtime whose
/// builder does not say otherwise ([`RuntimeBuilder::warm_instances`]): `0`, `off`,
/// `false` or `no`. The test suite runs once with it set, once without.
pub const WARM_INSTANCES_ENV: &str = "WASMOD_WARM_INSTANCES";

fn warm_instances_by_default() -> bool {
    !matches!(
        std::env::var(WARM_INSTANCES_ENV).map(|v| v.to_ascii_lowercase()).as_deref(),
        Ok("0" | "off" | "false" | "no")
    )
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            groups: Vec::new(),
            limits: CallLimits::default(),
            stack_bytes: None,
            copy_after: Some(copies::COPY_AFTER),
            warm_instances: warm_instances_by_default(),
            artifact_key: None,
        }
    }
}

impl fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("groups", &self.groups.len())
            .field("limits", &self.limits)
            .field("stack_bytes", &self.stack_bytes)
            .field("per_thread_code", &self.copy_after)
            .field("warm_instances", &self.warm_instances)
            .field("artifact_key", &self.artifact_key.map(|_| "(set)"))
            .finish()
    }
}

impl RuntimeBuilder {
    /// Adds a host-function group implementation (a later one with the same name and
    /// version replaces an earlier one).
    pub fn group(mut self, group: Arc<dyn HostGroup>) -> Self {
        self.groups.push(group);
        self
    }

    /// The default limits of calls.
    pub fn limits(mut self, limits: CallLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The wasm stack size of calls, in bytes (wasmer's default when unset).
    pub fn stack_bytes(mut self, bytes: usize) -> Self {
        self.stack_bytes = Some(bytes);
        self
    }

    /// When a thread gets its own copy of a function's compiled code (ADR 0007):
    /// `Some(n)` after its `n`th call of the function on that thread (the default is
    /// 64), `None` never.
    ///
    /// Copies let calls on different threads share no reference counts, which is what
    /// lets two threads run nearly twice as many calls as one. Each copy costs the
    /// function's code size once per thread that calls it often; turn them off when
    /// many threads call many large functions and memory matters more than scaling.
    /// `Some(0)` and `Some(1)` both copy at the first call.
    pub fn per_thread_code(mut self, after_calls: Option<u32>) -> Self {
        self.copy_after = after_calls;
        self
    }

    /// Whether calls reuse a warm instance per function and thread, reset after each
    /// call to exactly the state a fresh instance has (ADR 0010); on by default, unless
    /// [`WARM_INSTANCES_ENV`] says `off`. A call observes the same state either way: a
    /// file whose state cannot be reset (one that changes tables or drops segments)
    /// always gets a fresh instance, and so does a call whose limits its instance does
    /// not fit. Off, every call instantiates afresh.
    pub fn warm_instances(mut self, on: bool) -> Self {
        self.warm_instances = on;
        self
    }

    /// The key that authenticates compiled artifacts: a runtime loads only artifacts
    /// sealed under its own key, so whoever can write an [`ArtifactCache`] cannot make it
    /// run code it did not compile. Keep the key where artifacts are not (an embedder's
    /// configuration, a file only the host may read); runtimes that share a cache share
    /// the key. Without one, a runtime makes a random key of its own: it then loads only
    /// what it compiled itself, and recompiles whatever other processes cached.
    pub fn artifact_key(mut self, key: [u8; 32]) -> Self {
        self.artifact_key = Some(key);
        self
    }

    /// Builds the runtime. The first runtime a process builds installs wasmer's
    /// signal handlers (see ADR 0005 for what an embedder with handlers of its own must
    /// do).
    pub fn build(self) -> Runtime {
        wasmer_vm::init_traps();
        let groups = self
            .groups
            .into_iter()
            .map(|g| ((g.def().name.to_string(), g.def().version), g))
            .collect::<HashMap<_, _>>();
        Runtime {
            inner: Arc::new(Inner {
                fallback_engine: engine::headless(self.stack_bytes),
                stack_bytes: self.stack_bytes,
                copy_after: self.copy_after,
                warm_instances: self.warm_instances,
                identity: engine::identity(),
                artifact_key: self.artifact_key.unwrap_or_else(random_key),
                host_types: signatures::HostTypes::new(
                    groups
                        .values()
                        .flat_map(|g| g.def().functions.iter().map(|f| to_function_type(&f.signature)))
                        .collect::<Vec<_>>()
                        .iter(),
                ),
                groups,
                limits: self.limits,
            }),
        }
    }
}

/// A key nobody else has.
fn random_key() -> [u8; 32] {
    let mut key = [0; 32];
    if getrandom::fill(&mut key).is_err() {
        // No OS randomness: a key derived from this process's address space layout and
        // the time is still unknown to whoever writes the cache beforehand.
        let mut h = blake3::Hasher::new();
        h.update(&(std::ptr::addr_of!(key) as usize).to_le_bytes());
        h.update(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
        key = h.finalize().into();
    }
    key
}

fn to_wasmer(t: &ValType) -> Type {
    match t {
        ValType::I32 => Type::I32,
        ValType::I64 => Type::I64,
        ValType::F32 => Type::F32,
        ValType::F64 => Type::F64,
    }
}

fn to_function_type(sig: &wasmod_host_abi::Signature) -> FunctionType {
    FunctionType::new(
        sig.params.iter().map(to_wasmer).collect::<Vec<_>>(),
        sig.results.iter().map(to_wasmer).collect::<Vec<_>>(),
    )
}

impl Runtime {
    /// A builder.
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
        let call = call::PerCall { runtime: self, function: f, limits, data: None, depth: 0, deadline };
        // SAFETY: the instance is dropped before this function returns, while `self` and
        // `f` are borrowed; `f`'s engine holds the shared module's code.
        let fresh = unsafe { self.instantiate(&f.module, call) };
        vm::pool::leave_call(previous);
        Some((warm, warm::digest_of_fresh(&mut fresh.ok()?)))
    }

    /// The default call limits.
    pub fn default_limits(&self) -> &CallLimits {
        &self.inner.limits
    }

    /// The key a function's artifact is cached under (in an [`ArtifactCache`]): a hash
    /// of the engine identity, the wasm bytes and the entry point (the artifact keeps
    /// only the exports a call of that entry uses, so two functions whose files are
    /// identical get different artifacts). Not to be confused with the secret
    /// [`RuntimeBuilder::artifact_key`].
    pub fn cache_key(&self, wasm: &[u8], function: &str) -> String {
        self.key_of(&compiled_input_hash(wasm, function))
    }

    fn key_of(&self, input_hash: &[u8; 32]) -> String {
        let mut h = blake3::Hasher::new();
        h.update(self.inner.identity.as_bytes());
        h.update(&[0]);
        h.update(input_hash);
        h.finalize().to_hex().to_string()
    }

    /// Compiles a function and returns its sealed artifact (for a store to keep).
    pub fn compile(&self, package: &ValidatedPackage, function: &str) -> Result<Vec<u8>, LoadError> {
        let module = package.manifest().name.to_string();
        let wasm = package
            .function_bytes(function)
            .ok_or_else(|| LoadError::NoSuchFunction { module: module.clone(), function: function.to_owned() })?;
        let payload = match std::panic::catch_unwind(AssertUnwindSafe(|| engine::compile(wasm, function))) {
            Ok(Ok(payload)) => payload,
            Ok(Err(reason)) => return Err(LoadError::Compile { module, function: function.to_owned(), reason }),
            Err(panic) => {
                let reason = format!("the compiler panicked: {}", vm::panic_text(panic.as_ref()));
                return Err(LoadError::Internal { module, function: function.to_owned(), reason });
            }
        };
        Ok(artifact::seal(
            &self.inner.artifact_key,
            &self.inner.identity,
            &compiled_input_hash(wasm, function),
            &payload,
        ))
    }

    /// Loads a function: a verified cached artifact if there is one, else compiles it
    /// and stores the artifact in `cache`.
    pub fn load(
        &self,
        package: &ValidatedPackage,
        function: &str,
        cache: &dyn ArtifactCache,
    ) -> Result<LoadedFunction, LoadError> {
        let manifest = package.manifest();
        let module_name = manifest.name.to_string();
        let wasm = package
            .function_bytes(function)
            .ok_or_else(|| LoadError::NoSuchFunction { module: module_name.clone(), function: function.to_owned() })?;
        let wasm_hash = compiled_input_hash(wasm, function);
        let key = self.key_of(&wasm_hash);
        let load_err =
            |reason: String| LoadError::Load { module: module_name.clone(), function: function.to_owned(), reason };

        let deserialize = |payload: &[u8]| {
            // SAFETY: callers pass a payload whose envelope was verified against this
            // engine's identity and these wasm bytes. A panic can poison only the
            // module's own engine, which goes with it.
            std::panic::catch_unwind(AssertUnwindSafe(|| unsafe { engine::load(payload, self.inner.stack_bytes) }))
                .unwrap_or_else(|panic| {
                    Err(format!("the engine panicked while loading: {}", vm::panic_text(panic.as_ref())))
                })
        };

        let mut source = ArtifactSource::CompiledMissing;
        let mut module = None;
        if let Some(bytes) = cache.get(&key) {
            match artifact::open(&self.inner.artifact_key, &bytes, &self.inner.identity, &wasm_hash) {
                // The envelope proves the payload is the artifact this engine compiled
                // from exactly these wasm bytes, unaltered.
                Ok(payload) => match deserialize(payload) {
                    Ok(m) => {
                        module = Some(m);
                        source = ArtifactSource::Cache;
                    }
                    Err(reason) => source = ArtifactSource::CompiledReplacing { reason },
                },
                Err(stale) => source = ArtifactSource::CompiledReplacing { reason: format!("{stale:?}") },
            }
        }
        let engine::OwnedModule { module, engine } = match module {
            Some(m) => m,
            None => {
                let sealed = self.compile(package, function)?;
                if let Err(e) = cache.put(&key, &sealed) {
                    tracing::warn!(module = %module_name, function, error = %e, "could not cache a compiled artifact");
                }
                let payload = artifact::open(&self.inner.artifact_key, &sealed, &self.inner.identity, &wasm_hash)
                    .map_err(|e| load_err(format!("{e:?}")))?;
                // Compiled just now by this engine's configuration.
                deserialize(payload).map_err(load_err)?
            }
        };

        let reset = match resettable::classify(wasm) {
            Ok(reset) => Some(reset),
            Err(why) => {
                tracing::debug!(module = %module_name, function, ?why, "every call gets a fresh instance");
                None
            }
        };
        let grants = package.grants(function);
        let mut imports = Vec::new();
        for import in module.imports() {
            let not_granted = || Err(format!("{}.{}", import.module(), import.name()));
            let Some((group, version)) = parse_import_module(import.module()) else {
                imports.push(not_granted());
                continue;
            };
            // Only granted groups are linked: anything else fails to instantiate.
            if !grants.iter().any(|g| g.group == group && g.version == version) {
                imports.push(not_granted());
                continue;
            }
            let implementation =
                self.inner.groups.get(&(group.to_string(), version)).ok_or_else(|| LoadError::MissingGroup {
                    module: module_name.clone(),
                    function: function.to_owned(),
                    group: group.to_string(),
                    version,
                })?;
            let def = implementation.def();
            let Some(index) = def.functions.iter().position(|f| f.name == import.name()) else {
                imports.push(not_granted());
                continue;
            };
            let ty = to_function_type(&def.functions[index].signature);
            self.inner.host_types.check(&ty).map_err(|c| LoadError::SignatureCollision {
                module: module_name.clone(),
                function: function.to_owned(),
                signature: c.signature.to_string(),
                owner: c.owner.to_string(),
            })?;
            imports.push(Ok(Binding { group: implementation.clone(), index, ty }));
        }
        Ok(LoadedFunction {
            info: Arc::new(CallerInfo {
                module: manifest.name.clone(),
                version: manifest.version.clone(),
                function: function.to_owned(),
                grants: grants.to_vec().into(),
            }),
            module,
            _engine: engine,
            imports: imports.into(),
            source,
            code: Arc::default(),
            reset,
        })
    }

    /// Loads every function of a package.
    pub fn load_all(
        &self,
        package: &ValidatedPackage,
        cache: &dyn ArtifactCache,
    ) -> Result<BTreeMap<String, LoadedFunction>, LoadError> {
        package.manifest().functions.keys().map(|f| Ok((f.clone(), self.load(package, f, cache)?))).collect()
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
        let nested = call::Nested { depth: 0, deadline: None };
        self.call_nested(function, input, limits, options.data.clone(), nested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, HostContext, HostError, HostValue, NoCache};

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
        let policy = wasmod_host_abi::HostPolicy::new().with_subsystem("t.run", &["kv"], "");
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
        fn call(&self, _: usize, _: &mut HostContext<'_>, _: &[HostValue]) -> Result<Option<HostValue>, HostError> {
            Err(HostError::Status(wasmod_host_abi::abi::status::NOT_FOUND))
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
