//! Engines: a throwaway compiling engine per function (Cranelift with a fresh metering
//! middleware, which can instrument only one module), a headless engine of its own for
//! every loaded module (see [`load`]), and per-thread headless engines for calls'
//! stores; all of them hand out pooled memories.
//!
//! wasmer's signature registry is per engine and cannot hold two different function
//! types with the same 32-bit identity (it panics, holding its locks). So no engine ever
//! holds the types of two files: a loaded module's engine holds its own file's types,
//! which the validator checked against each other and against every host signature, and
//! a thread engine holds only host-function types (the group signatures, checked against
//! each other by `signatures::HostTypes`).

use std::ptr::NonNull;
use std::sync::Arc;

use wasmer::sys::{
    CompilerConfig, Cranelift, CraneliftOptLevel, Features, FunctionMiddleware, MiddlewareError, ModuleMiddleware,
    NativeEngineExt, Target,
};
use wasmer::wasmparser::Operator;
use wasmer::{Engine, Module};
use wasmer_middlewares::Metering;
use wasmer_types::{LocalFunctionIndex, MemoryError, MemoryStyle, MemoryType, ModuleInfo, TableStyle, TableType};
use wasmer_vm::{VMConfig, VMMemory, VMMemoryDefinition, VMTable, VMTableDefinition};

use wasmod_host_abi::abi::{ALLOC_EXPORT, MEMORY_EXPORT, PANIC_MESSAGE_EXPORT};

use crate::vm::pool::PooledMemory;

/// The wasmer feature set, from the table validator and runtime share.
pub(crate) fn features() -> Features {
    let mut f = Features::none();
    for p in wasmod_host_abi::features::PROPOSALS.iter().filter(|p| p.enabled) {
        match p.name {
            "reference-types" => f.reference_types(true),
            "simd" => f.simd(true),
            "bulk-memory" => f.bulk_memory(true),
            "multi-value" => f.multi_value(true),
            "extended-const" => f.extended_const(true),
            // Always on in wasmer's validator.
            "mutable-global" | "saturating-float-to-int" | "sign-extension" => &mut f,
            other => panic!("proposal `{other}` is enabled in host-abi but not mapped to wasmer's features"),
        };
    }
    f
}

/// Every operator costs one unit of fuel. Simple, predictable, and enough to bound any
/// loop: every iteration passes a metering check.
fn cost(_: &Operator<'_>) -> u64 {
    1
}

type CostFn = fn(&Operator<'_>) -> u64;

/// The exports a call of `entry` uses: the ABI's memory, allocator and panic message,
/// and the entry itself.
fn used_export(name: &str, entry: &str) -> bool {
    name == entry || [MEMORY_EXPORT, ALLOC_EXPORT, PANIC_MESSAGE_EXPORT].contains(&name)
}

/// wasmer's metering, on a module that keeps only the exports a call of `entry` uses.
///
/// wasmer copies every export's name into a hash map for every instance. A file built
/// from a crate with many functions exports all their entries, the ABI marker and the
/// linker's globals; metering adds two globals with 32-character names. Dropping the
/// metering exports alone took 5 allocations off every call (42 → 37, `perf probe` on
/// `malloc`). The runtime finds the metering globals by position instead: metering
/// appends them after the module's own globals, remaining points first (`call::Fuel`).
#[derive(Debug)]
struct CallExportsOnly {
    metering: Metering<CostFn>,
    entry: String,
}

impl ModuleMiddleware for CallExportsOnly {
    fn generate_function_middleware<'a>(&self, index: LocalFunctionIndex) -> Box<dyn FunctionMiddleware<'a> + 'a> {
        self.metering.generate_function_middleware(index)
    }

    fn transform_module_info(&self, info: &mut ModuleInfo) -> Result<(), MiddlewareError> {
        self.metering.transform_module_info(info)?;
        info.exports.retain(|name, _| used_export(name, &self.entry));
        Ok(())
    }
}

/// The wasmer version, pinned with `=` in the workspace manifest; part of the engine
/// identity (a test checks it against Cargo.lock).
pub(crate) const WASMER_VERSION: &str = "7.4.2";

/// A version of what [`compile`] does to a file (the cost function, the exports kept);
/// part of the engine identity, so artifacts compiled another way are recompiled.
const COMPILE_VERSION: u32 = 4;

/// Memory and table creation for every engine: static-style memories from the
/// pool, tables bounded by the call's limit, everything else as wasmer does it.
pub(crate) struct PoolTunables {
    vmconfig: VMConfig,
}

impl PoolTunables {
    pub(crate) fn new(stack_bytes: Option<usize>) -> Self {
        PoolTunables { vmconfig: VMConfig { wasm_stack_size: stack_bytes } }
    }
}

/// The largest table wasmer makes (`wasmer_vm::table::TABLE_MAX_SIZE`, private there):
/// a larger declared maximum fails instantiation, so the limit is never above it.
const TABLE_MAX_ELEMENTS: u32 = 128 << 20;

impl wasmer::sys::Tunables for PoolTunables {
    fn memory_style(&self, _memory: &MemoryType) -> MemoryStyle {
        MemoryStyle::Static
    }

    fn table_style(&self, _table: &TableType) -> TableStyle {
        TableStyle::CallerChecksSignature
    }

    fn create_host_memory(&self, ty: &MemoryType, style: &MemoryStyle) -> Result<VMMemory, MemoryError> {
        VMMemory::new(ty, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        match style {
            MemoryStyle::Static if !ty.shared => {
                // SAFETY: the location is the instance's memory definition, valid for the
                // memory's lifetime (wasmer's contract for this method).
                let memory = unsafe { PooledMemory::new(ty, vm_definition_location)? };
                Ok(VMMemory(crate::vm::pool::boxed(memory)))
            }
            // SAFETY: as above.
            _ => unsafe { VMMemory::from_definition(ty, style, vm_definition_location) },
        }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        VMTable::new(ty, style)
    }

    /// A table whose maximum is at most the call's table limit. wasmer checks only a
    /// table's declared maximum before it resizes the table's vector on `table.grow`,
    /// so a table declared without one could ask for gigabytes of host heap in one
    /// instruction.
    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let limit = crate::vm::pool::table_limit().min(TABLE_MAX_ELEMENTS);
        if ty.minimum > limit {
            return Err(format!("a table of {} elements is larger than the call's limit of {limit}", ty.minimum));
        }
        let bounded = TableType { maximum: Some(ty.maximum.map_or(limit, |m| m.min(limit))), ..*ty };
        // SAFETY: wasmer's contract for this method.
        unsafe { VMTable::from_definition(&bounded, style, vm_definition_location) }
    }

    fn vmconfig(&self) -> &VMConfig {
        &self.vmconfig
    }
}

/// A headless engine (it loads artifacts only) with pooled memories.
pub(crate) fn headless(stack_bytes: Option<usize>) -> Engine {
    let mut engine = <Engine as NativeEngineExt>::headless();
    engine.set_tunables(PoolTunables::new(stack_bytes));
    engine
}

thread_local! {
    /// Per-thread engines, one per stack size in use.
    static THREAD_ENGINES: std::cell::RefCell<Vec<(Option<usize>, Engine)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// This thread's engine for `stack_bytes` (`None` once the thread is exiting): headless,
/// with the tunables of every other. Calls make their `Store`s with it.
///
/// A store uses its engine for the tunables at instantiation, for the signature registry
/// when a host function is created, and to look up the signature of a `funcref` read
/// through the API (the runtime never does). Signature hashes are computed from the
/// signature alone, so host functions made with this engine link against modules loaded
/// into any engine. What it saves, per call: cloning a shared engine bumps three
/// reference counts every thread shares, and every host function takes the engine's
/// mutex and its signature registry's write lock (ADR 0007).
pub(crate) fn thread_engine(stack_bytes: Option<usize>) -> Option<Engine> {
    THREAD_ENGINES
        .try_with(|engines| {
            let mut engines = engines.borrow_mut();
            if let Some((_, engine)) = engines.iter().find(|(s, _)| *s == stack_bytes) {
                return engine.clone();
            }
            let engine = headless(stack_bytes);
            engines.push((stack_bytes, engine.clone()));
            engine
        })
        .ok()
}

/// Forgets this thread's engines: the next call on the thread makes new ones. Called
/// after a panic inside wasmer, which may have left an engine's lock poisoned. Modules
/// already loaded into an old engine keep it alive for as long as they need it.
pub(crate) fn discard_thread_engine() {
    let _ = THREAD_ENGINES.try_with(|engines| engines.borrow_mut().clear());
}

/// What an artifact must have been compiled by to be loaded here: wasmer and Cranelift
/// version, target triple and CPU features, wasm features, what `compile` does, this
/// crate's version.
pub(crate) fn identity() -> String {
    let target = Target::default();
    let f = features();
    format!(
        "wasmer-{}/cranelift/{}/{:?}/features:{:?}/compile-v{COMPILE_VERSION}/wasmod-runtime-{}",
        WASMER_VERSION,
        target.triple(),
        target.cpu_features(),
        f,
        env!("CARGO_PKG_VERSION"),
    )
}

/// Compiles the function file of `entry` with Cranelift and metering (keeping only the
/// exports a call uses); returns wasmer's serialized artifact. The compiling engine is
/// dropped afterwards (with its code memory).
pub(crate) fn compile(wasm: &[u8], entry: &str) -> Result<Vec<u8>, String> {
    let mut config = Cranelift::new();
    config.opt_level(CraneliftOptLevel::Speed);
    // Zero initial points: nothing runs before the runtime sets the call's fuel.
    config.push_middleware(Arc::new(CallExportsOnly {
        metering: Metering::new(0, cost as CostFn),
        entry: entry.to_owned(),
    }));
    let mut engine = <Engine as NativeEngineExt>::new(Box::new(config), Target::default(), features());
    engine.set_tunables(PoolTunables::new(None));
    let module = Module::new(&engine, wasm).map_err(|e| e.to_string())?;
    module.serialize().map(|b| b.to_vec()).map_err(|e| e.to_string())
}

/// A loaded module and the engine of its own that holds its code (see the module docs).
/// The engine owns the code memory: keep it for as long as the module or any instance
/// of it is in use. Clone `module` freely; the engine goes with this value.
pub(crate) struct OwnedModule {
    /// Declared first, so dropped before the engine that holds its code.
    pub module: Module,
    pub engine: Engine,
}

/// Loads a serialized artifact into a headless engine of its own (see the module docs).
///
/// # Safety
/// `artifact` must be exactly what [`compile`] produced under this [`identity`]; the
/// caller verifies that (an authenticated envelope) before calling.
pub(crate) unsafe fn load(artifact: &[u8], stack_bytes: Option<usize>) -> Result<OwnedModule, String> {
    let engine = headless(stack_bytes);
    // SAFETY: per the contract, the bytes are a verified artifact of this configuration.
    let module = unsafe { Module::deserialize(&engine, artifact) }.map_err(|e| e.to_string())?;
    Ok(OwnedModule { module, engine })
}

#[cfg(test)]
mod tests {
    #[test]
    fn pinned_wasmer_version_matches_the_lock_file() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        let at = lock.find("name = \"wasmer\"\nversion = ").expect("wasmer is locked");
        let version = lock[at..].lines().nth(1).unwrap().trim_start_matches("version = ").trim_matches('"');
        assert_eq!(version, super::WASMER_VERSION);
    }

    #[test]
    fn artifacts_export_only_what_a_call_uses() {
        let wasm = wat::parse_str(
            r#"(module
                (memory (export "memory") 1)
                (global $g (export "__heap_base") i32 (i32.const 4096))
                (func $marker (export "__wasmod_abi_v1"))
                (func $alloc (export "wasmod_alloc") (param i32) (result i32) i32.const 16)
                (func $panic (export "__wasmod_panic_message") (result i64) i64.const 0)
                (func $one (export "one") (param i32 i32) (result i64) i64.const 1)
                (func $two (export "two") (param i32 i32) (result i64) i64.const 2))"#,
        )
        .unwrap();
        let artifact = super::compile(&wasm, "two").unwrap();
        // SAFETY: compiled just now by this configuration.
        let module = unsafe { super::load(&artifact, None) }.unwrap().module;
        let names: Vec<String> = module.exports().map(|e| e.name().to_string()).collect();
        assert_eq!(names, ["memory", "wasmod_alloc", "__wasmod_panic_message", "two"]);
    }

    #[test]
    fn features_follow_the_shared_table() {
        let f = super::features();
        assert!(f.bulk_memory && f.simd && f.reference_types && f.multi_value);
        assert!(!f.threads && !f.multi_memory && !f.memory64 && !f.relaxed_simd && !f.exceptions && !f.tail_call);
    }
}
