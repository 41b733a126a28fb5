//! Engines: a throwaway compiling engine per function (Cranelift with a fresh metering
//! middleware, which can instrument only one module), and one shared headless engine
//! that loads the serialized artifacts and hands out pooled memories.

use std::ptr::NonNull;
use std::sync::Arc;

use wasmer::sys::{CompilerConfig, Cranelift, CraneliftOptLevel, Features, NativeEngineExt, Target};
use wasmer::wasmparser::Operator;
use wasmer::{Engine, Module};
use wasmer_middlewares::Metering;
use wasmer_types::{MemoryError, MemoryStyle, MemoryType, TableStyle, TableType};
use wasmer_vm::{VMConfig, VMMemory, VMMemoryDefinition, VMTable, VMTableDefinition};

use crate::pool::PooledMemory;

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

/// The wasmer version, pinned with `=` in the workspace manifest; part of the engine
/// identity (a test checks it against Cargo.lock).
pub(crate) const WASMER_VERSION: &str = "7.4.2";

/// A version of the cost function; part of the engine identity, so artifacts compiled
/// with another cost model are recompiled.
const METERING_VERSION: u32 = 1;

/// Memory and table creation for the shared engine: static-style memories from the
/// pool, everything else as wasmer does it.
pub(crate) struct PoolTunables {
    vmconfig: VMConfig,
}

impl PoolTunables {
    pub(crate) fn new(stack_bytes: Option<usize>) -> Self {
        PoolTunables { vmconfig: VMConfig { wasm_stack_size: stack_bytes } }
    }
}

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
            // SAFETY: the location is the instance's memory definition, valid for the
            // memory's lifetime (wasmer's contract for this method).
            MemoryStyle::Static if !ty.shared => {
                Ok(VMMemory(Box::new(unsafe { PooledMemory::new(ty, vm_definition_location)? })))
            }
            // SAFETY: as above.
            _ => unsafe { VMMemory::from_definition(ty, style, vm_definition_location) },
        }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        VMTable::new(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        // SAFETY: wasmer's contract for this method.
        unsafe { VMTable::from_definition(ty, style, vm_definition_location) }
    }

    fn vmconfig(&self) -> &VMConfig {
        &self.vmconfig
    }
}

/// The shared engine: headless (loads artifacts only), pooled memories.
pub(crate) fn shared_engine(stack_bytes: Option<usize>) -> Engine {
    let mut engine = <Engine as NativeEngineExt>::headless();
    engine.set_tunables(PoolTunables::new(stack_bytes));
    engine
}

/// What an artifact must have been compiled by to be loaded here: wasmer and Cranelift
/// version, target triple and CPU features, wasm features, metering model, this crate's
/// version.
pub(crate) fn identity() -> String {
    let target = Target::default();
    let f = features();
    format!(
        "wasmer-{}/cranelift/{}/{:?}/features:{:?}/metering-v{METERING_VERSION}/wasmod-runtime-{}",
        WASMER_VERSION,
        target.triple(),
        target.cpu_features(),
        f,
        env!("CARGO_PKG_VERSION"),
    )
}

/// Compiles a function file with Cranelift and metering; returns wasmer's serialized
/// artifact. The compiling engine is dropped afterwards (with its code memory).
pub(crate) fn compile(wasm: &[u8]) -> Result<Vec<u8>, String> {
    let mut config = Cranelift::new();
    config.opt_level(CraneliftOptLevel::Speed);
    // Zero initial points: nothing runs before the runtime sets the call's fuel.
    config.push_middleware(Arc::new(Metering::new(0, cost)));
    let mut engine = <Engine as NativeEngineExt>::new(Box::new(config), Target::default(), features());
    engine.set_tunables(PoolTunables::new(None));
    let module = Module::new(&engine, wasm).map_err(|e| e.to_string())?;
    module.serialize().map(|b| b.to_vec()).map_err(|e| e.to_string())
}

/// Loads a serialized artifact into the shared engine.
///
/// # Safety
/// `artifact` must be exactly what [`compile`] produced under this [`identity`]; the
/// caller verifies that with a hash before calling.
pub(crate) unsafe fn load(engine: &Engine, artifact: &[u8]) -> Result<Module, String> {
    // SAFETY: per the contract, the bytes are a verified artifact of this engine.
    unsafe { Module::deserialize(engine, artifact) }.map_err(|e| e.to_string())
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
    fn features_follow_the_shared_table() {
        let f = super::features();
        assert!(f.bulk_memory && f.simd && f.reference_types && f.multi_value);
        assert!(!f.threads && !f.multi_memory && !f.memory64 && !f.relaxed_simd && !f.exceptions && !f.tail_call);
    }
}
