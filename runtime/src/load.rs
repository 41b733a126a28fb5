//! Loading a function: its compiled code from a verified cached artifact or a fresh
//! compile ([`Runtime::compile`]), then its imports bound to the runtime's host groups,
//! only those granted to the function.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use wasmer::{FunctionType, Type};
use wasmod_host_abi::ValType;
use wasmod_host_abi::groups::parse_import_module;
use wasmod_validator::ValidatedPackage;

use crate::function::Binding;
use crate::vm::engine;
use crate::{ArtifactCache, ArtifactSource, CallerInfo, LoadError, LoadedFunction, Runtime, artifact, resettable, vm};

/// What an artifact is compiled from: a hash of the function file and of its entry
/// point's name.
fn compiled_input_hash(wasm: &[u8], function: &str) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(blake3::hash(wasm).as_bytes());
    h.update(function.as_bytes());
    h.finalize().into()
}

fn to_wasmer(t: &ValType) -> Type {
    match t {
        ValType::I32 => Type::I32,
        ValType::I64 => Type::I64,
        ValType::F32 => Type::F32,
        ValType::F64 => Type::F64,
    }
}

/// The wasmer type of a host function's signature.
pub(crate) fn to_function_type(sig: &wasmod_host_abi::Signature) -> FunctionType {
    FunctionType::new(
        sig.params.iter().map(to_wasmer).collect::<Vec<_>>(),
        sig.results.iter().map(to_wasmer).collect::<Vec<_>>(),
    )
}

/// The function of a package being loaded, for errors and the artifact's key.
struct Target<'a> {
    module: String,
    function: &'a str,
    wasm: &'a [u8],
    /// [`compiled_input_hash`] of `wasm` and `function`.
    input_hash: [u8; 32],
}

impl<'a> Target<'a> {
    fn new(package: &'a ValidatedPackage, function: &'a str) -> Result<Self, LoadError> {
        let module = package.manifest().name.to_string();
        let Some(wasm) = package.function_bytes(function) else {
            return Err(LoadError::NoSuchFunction { module, function: function.to_owned() });
        };
        Ok(Target { input_hash: compiled_input_hash(wasm, function), module, function, wasm })
    }

    fn load_error(&self, reason: String) -> LoadError {
        LoadError::Load { module: self.module.clone(), function: self.function.to_owned(), reason }
    }
}

impl Runtime {
    /// The key a function's artifact is cached under (in an [`ArtifactCache`]): a hash
    /// of the engine identity, the wasm bytes and the entry point (the artifact keeps
    /// only the exports a call of that entry uses, so two functions whose files are
    /// identical get different artifacts). Not to be confused with the secret
    /// [`crate::RuntimeBuilder::artifact_key`].
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
        let target = Target::new(package, function)?;
        let payload = match std::panic::catch_unwind(AssertUnwindSafe(|| engine::compile(target.wasm, function))) {
            Ok(Ok(payload)) => payload,
            Ok(Err(reason)) => {
                return Err(LoadError::Compile { module: target.module, function: function.to_owned(), reason });
            }
            Err(panic) => {
                let reason = format!("the compiler panicked: {}", vm::panic_text(panic.as_ref()));
                return Err(LoadError::Internal { module: target.module, function: function.to_owned(), reason });
            }
        };
        Ok(artifact::seal(&self.inner.artifact_key, &self.inner.identity, &target.input_hash, &payload))
    }

    /// Loads a function: a verified cached artifact if there is one, else compiles it
    /// and stores the artifact in `cache`.
    pub fn load(
        &self,
        package: &ValidatedPackage,
        function: &str,
        cache: &dyn ArtifactCache,
    ) -> Result<LoadedFunction, LoadError> {
        let target = Target::new(package, function)?;
        let (engine::OwnedModule { module, engine }, source) = self.code_of(package, &target, cache)?;
        let reset = match resettable::classify(target.wasm) {
            Ok(reset) => Some(reset),
            Err(why) => {
                tracing::debug!(module = %target.module, function, ?why, "every call gets a fresh instance");
                None
            }
        };
        let imports = self.bind_imports(&module, package, &target)?;
        let manifest = package.manifest();
        Ok(LoadedFunction {
            info: Arc::new(CallerInfo {
                module: manifest.name.clone(),
                version: manifest.version.clone(),
                function: function.to_owned(),
                grants: package.grants(function).to_vec().into(),
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

    /// The function's code: deserialized from the cache if the artifact there opens under
    /// this runtime's key, identity and these wasm bytes, else compiled now (and cached).
    fn code_of(
        &self,
        package: &ValidatedPackage,
        target: &Target<'_>,
        cache: &dyn ArtifactCache,
    ) -> Result<(engine::OwnedModule, ArtifactSource), LoadError> {
        let key = self.key_of(&target.input_hash);
        let mut source = ArtifactSource::CompiledMissing;
        if let Some(bytes) = cache.get(&key) {
            match artifact::open(&self.inner.artifact_key, &bytes, &self.inner.identity, &target.input_hash) {
                // The envelope proves the payload is the artifact this engine compiled
                // from exactly these wasm bytes, unaltered.
                // SAFETY: the payload opened under this runtime's key, identity and the
                // hash of this function's wasm and entry point.
                Ok(payload) => match unsafe { self.deserialize(payload) } {
                    Ok(module) => return Ok((module, ArtifactSource::Cache)),
                    Err(reason) => source = ArtifactSource::CompiledReplacing { reason },
                },
                Err(stale) => source = ArtifactSource::CompiledReplacing { reason: format!("{stale:?}") },
            }
        }
        let sealed = self.compile(package, target.function)?;
        if let Err(e) = cache.put(&key, &sealed) {
            tracing::warn!(module = %target.module, function = target.function, error = %e,
                "could not cache a compiled artifact");
        }
        let payload = artifact::open(&self.inner.artifact_key, &sealed, &self.inner.identity, &target.input_hash)
            .map_err(|e| target.load_error(format!("{e:?}")))?;
        // SAFETY: as above: compiled just now by this engine's configuration, and opened
        // under the same key, identity and hash.
        let module = unsafe { self.deserialize(payload) }.map_err(|reason| target.load_error(reason))?;
        Ok((module, source))
    }

    /// Deserializes a verified payload into a module with an engine of its own.
    ///
    /// # Safety
    /// `payload` must be what `artifact::open` returned for an envelope under this
    /// runtime's artifact key, engine identity and the input hash of the function being
    /// loaded: wasmer's deserialization trusts its input to be code it compiled.
    unsafe fn deserialize(&self, payload: &[u8]) -> Result<engine::OwnedModule, String> {
        // SAFETY: the caller's contract. A panic can poison only the module's own
        // engine, which goes with it.
        std::panic::catch_unwind(AssertUnwindSafe(|| unsafe { engine::load(payload, self.inner.stack_bytes) }))
            .unwrap_or_else(|panic| {
                Err(format!("the engine panicked while loading: {}", vm::panic_text(panic.as_ref())))
            })
    }

    /// Binds each import of `module` to a function of a granted group this runtime
    /// implements, in import order. An import of anything not granted is kept as its
    /// name, and a call of the function then fails to link; a granted group the runtime
    /// lacks, or a host signature that collides, fails the load.
    fn bind_imports(
        &self,
        module: &wasmer::Module,
        package: &ValidatedPackage,
        target: &Target<'_>,
    ) -> Result<Vec<Result<Binding, String>>, LoadError> {
        let grants = package.grants(target.function);
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
                    module: target.module.clone(),
                    function: target.function.to_owned(),
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
                module: target.module.clone(),
                function: target.function.to_owned(),
                signature: c.signature.to_string(),
                owner: c.owner.to_string(),
            })?;
            imports.push(Ok(Binding { group: implementation.clone(), index, ty }));
        }
        Ok(imports)
    }
}
