//! Packing a wasmod module: from one wasm build (or prebuilt per-function files) and a
//! manifest to a package archive with one wasm file per function.
//!
//! [`split`] takes the single `cdylib` an author builds from one crate and produces, for
//! each function of the manifest, a file that keeps only that function's export, the ABI
//! exports (`memory`, `__wasmod_abi_v1`, `wasmod_alloc`, `__wasmod_panic_message`) and
//! what is reachable from them; everything else, unused host imports included, is
//! removed (walrus's dead-code pass). So each file's import section is exactly what its
//! function uses, which is what the host checks at install time.
//!
//! [`pack_build`] splits and writes the archive; [`pack_files`] writes an archive from
//! per-function files built some other way (WAT, C, another language).

#![deny(missing_docs)]

use std::collections::BTreeMap;

use walrus::{ExportItem, Module, ModuleConfig};
use wasmod_host_abi::abi::{ABI_EXPORTS, ABI_MARKER_EXPORT, ALLOC_EXPORT, MEMORY_EXPORT};
use wasmod_manifest::{ArchiveError, Manifest, ManifestError, write_package};

/// Why packing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The build is not a wasm module walrus can read.
    #[error("the build is not a readable wasm module: {reason}")]
    NotWasm {
        /// The parser's complaint.
        reason: String,
    },
    /// The build does not export a function the manifest lists.
    #[error(
        "function `{function}` is in module.ron but the build does not export it \
         (is it marked #[wasmod_sdk::function] and spelled the same?)"
    )]
    MissingExport {
        /// The function.
        function: String,
    },
    /// The build exports something of that name, but not a function.
    #[error("`{function}` is exported by the build but is not a function")]
    NotAFunction {
        /// The export.
        function: String,
    },
    /// The build lacks an export ABI v1 requires.
    #[error("the build does not export `{name}`, which ABI v1 requires (does the crate depend on wasmod-sdk?)")]
    MissingAbiExport {
        /// The export.
        name: &'static str,
    },
    /// Writing the archive failed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

fn parse(build: &[u8]) -> Result<Module, PackError> {
    ModuleConfig::new()
        .generate_producers_section(false)
        .parse(build)
        .map_err(|e| PackError::NotWasm { reason: format!("{e:#}") })
}

/// Splits one build into one wasm file per manifest function, keyed by the file path the
/// manifest gives.
pub fn split(manifest: &Manifest, build: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, PackError> {
    // Check the build once, with messages about the build rather than about a function.
    let module = parse(build)?;
    for required in [MEMORY_EXPORT, ABI_MARKER_EXPORT, ALLOC_EXPORT] {
        if !module.exports.iter().any(|e| e.name == required) {
            return Err(PackError::MissingAbiExport { name: required });
        }
    }
    for function in manifest.functions.keys() {
        match module.exports.iter().find(|e| e.name == *function) {
            None => return Err(PackError::MissingExport { function: function.clone() }),
            Some(e) if !matches!(e.item, ExportItem::Function(_)) => {
                return Err(PackError::NotAFunction { function: function.clone() });
            }
            Some(_) => {}
        }
    }
    drop(module);

    let mut files = BTreeMap::new();
    for (function, f) in &manifest.functions {
        let mut module = parse(build)?;
        let drop_ids: Vec<_> = module
            .exports
            .iter()
            .filter(|e| e.name != *function && !ABI_EXPORTS.iter().any(|a| a.name == e.name))
            .map(|e| e.id())
            .collect();
        for id in drop_ids {
            module.exports.delete(id);
        }
        // Custom sections other than names (kept for readable traps) describe the whole
        // build, not this function.
        let customs: Vec<String> =
            module.customs.iter().map(|(_, c)| c.name().to_string()).filter(|n| n != "name").collect();
        for name in customs {
            module.customs.remove_raw(&name);
        }
        walrus::passes::gc::run(&mut module);
        files.insert(f.file.clone(), module.emit_wasm());
    }
    Ok(files)
}

/// Splits a build per function and writes the package archive (deterministic bytes).
pub fn pack_build(manifest_source: &str, build: &[u8]) -> Result<Vec<u8>, PackError> {
    let manifest = Manifest::from_ron(manifest_source)?;
    let files = split(&manifest, build)?;
    Ok(write_package(manifest_source, &files)?)
}

/// Writes a package archive from prebuilt per-function files, keyed by the paths the
/// manifest gives. Every referenced file must be present and nothing else.
pub fn pack_files(manifest_source: &str, files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, PackError> {
    Ok(write_package(manifest_source, files)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD: &str = r#"(module
        (import "wasmod:log@1" "write" (func $log (param i32 i32 i32)))
        (import "wasmod:kv@1" "get" (func $kv_get (param i32 i32) (result i64)))
        (memory (export "memory") 1)
        (func (export "__wasmod_abi_v1"))
        (func (export "wasmod_alloc") (param i32) (result i32) i32.const 0)
        (func $helper (result i64) i64.const 7)
        (func (export "a") (param i32 i32) (result i64) (call $log (i32.const 0) (i32.const 0) (i32.const 0)) (call $helper))
        (func (export "b") (param i32 i32) (result i64) (call $kv_get (i32.const 0) (i32.const 0)))
        (func (export "c") (param i32 i32) (result i64) i64.const 0)
    )"#;

    const MANIFEST: &str = r#"(name: "t/m", version: "1.0.0", functions: {
        "a": (implements: "x", groups: ["log"]),
        "b": (implements: "x", groups: ["kv"]),
        "c": (implements: "x"),
    })"#;

    fn imports_exports(wasm: &[u8]) -> (Vec<String>, Vec<String>) {
        let mut imports = Vec::new();
        let mut exports = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.unwrap() {
                wasmparser::Payload::ImportSection(s) => {
                    for imp in s.into_imports() {
                        let imp = imp.unwrap();
                        imports.push(format!("{}.{}", imp.module, imp.name));
                    }
                }
                wasmparser::Payload::ExportSection(s) => {
                    for e in s {
                        exports.push(e.unwrap().name.to_string());
                    }
                }
                _ => {}
            }
        }
        exports.sort();
        (imports, exports)
    }

    #[test]
    fn each_file_keeps_only_its_function() {
        let manifest = Manifest::from_ron(MANIFEST).unwrap();
        let files = split(&manifest, &wat::parse_str(BUILD).unwrap()).unwrap();
        let (imports, exports) = imports_exports(&files["a.wasm"]);
        assert_eq!(imports, ["wasmod:log@1.write"]);
        assert_eq!(exports, ["__wasmod_abi_v1", "a", "memory", "wasmod_alloc"]);
        assert_eq!(imports_exports(&files["b.wasm"]).0, ["wasmod:kv@1.get"]);
        assert!(imports_exports(&files["c.wasm"]).0.is_empty());
    }

    #[test]
    fn missing_function_export_is_named() {
        let manifest =
            Manifest::from_ron(r#"(name: "t/m", version: "1.0.0", functions: { "zz": (implements: "x") })"#).unwrap();
        let err = split(&manifest, &wat::parse_str(BUILD).unwrap()).unwrap_err();
        assert!(matches!(err, PackError::MissingExport { ref function } if function == "zz"), "{err}");
    }

    #[test]
    fn build_without_abi_exports_is_refused() {
        let manifest = Manifest::from_ron(MANIFEST).unwrap();
        let err = split(&manifest, &wat::parse_str("(module (memory (export \"memory\") 1))").unwrap()).unwrap_err();
        assert!(matches!(err, PackError::MissingAbiExport { name: "__wasmod_abi_v1" }), "{err}");
    }

    #[test]
    fn garbage_is_not_wasm() {
        let manifest = Manifest::from_ron(MANIFEST).unwrap();
        assert!(matches!(split(&manifest, b"nope"), Err(PackError::NotWasm { .. })));
    }

    #[test]
    fn packing_is_deterministic() {
        let build = wat::parse_str(BUILD).unwrap();
        assert_eq!(pack_build(MANIFEST, &build).unwrap(), pack_build(MANIFEST, &build).unwrap());
    }
}
