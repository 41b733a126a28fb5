//! Helpers for wasmod's integration tests: where the built fixtures are, and small
//! builders for hostile packages written in WAT.
//!
//! Guest fixtures are Rust crates under `tests/fixtures/` built for wasm32 and packed by
//! `cargo xtask build-fixtures` (which `cargo xtask test` runs first) into
//! `target/fixtures/`. Hostile cases are WAT, compiled here with the `wat` crate.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub mod fuzz;
pub mod groups;
pub mod hostile_gen;
pub mod warm_gen;

/// The workspace root: the parent of this crate's directory, `tests/`.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

fn read_built(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the guest fixtures first: `cargo xtask build-fixtures` (or run `cargo xtask test`)",
            path.display()
        )
    })
}

/// The package archive of fixture `name` (a directory under `tests/fixtures/`).
pub fn package(name: &str) -> Vec<u8> {
    read_built(root().join("target/fixtures/packages").join(format!("{name}.zip")))
}

/// The unsplit `cdylib` build of fixture `name`.
pub fn build(name: &str) -> Vec<u8> {
    read_built(
        root()
            .join("target/fixtures/wasm32-unknown-unknown/release")
            .join(format!("fixture_{}.wasm", name.replace('-', "_"))),
    )
}

/// The text of a WAT fixture under `tests/fixtures/wat/`.
pub fn wat_source(name: &str) -> String {
    let path = root().join("tests/fixtures/wat").join(format!("{name}.wat"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compiles WAT to wasm, panicking with the parser's message on a typo.
pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|e| panic!("bad WAT in a test: {e}"))
}

/// Packs prebuilt function files into an archive.
pub fn package_from_files(manifest: &str, files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let files: BTreeMap<String, Vec<u8>> = files.iter().map(|(n, b)| (n.to_string(), b.clone())).collect();
    wasmod_pack::pack_files(manifest, &files).unwrap_or_else(|e| panic!("packing a test package: {e}"))
}

/// The imports of a wasm file as `(module, name, params, results)`.
pub fn imports(wasm: &[u8]) -> Vec<(String, String, Vec<wasmparser::ValType>, Vec<wasmparser::ValType>)> {
    let mut types = Vec::new();
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.expect("valid wasm") {
            wasmparser::Payload::TypeSection(s) => {
                for ty in s.into_iter_err_on_gc_types() {
                    let f = ty.expect("valid type");
                    types.push((f.params().to_vec(), f.results().to_vec()));
                }
            }
            wasmparser::Payload::ImportSection(s) => {
                for imp in s.into_imports() {
                    let imp = imp.expect("valid import");
                    let wasmparser::TypeRef::Func(t) = imp.ty else { panic!("non-function import {}", imp.name) };
                    let (p, r) = types[t as usize].clone();
                    out.push((imp.module.to_string(), imp.name.to_string(), p, r));
                }
            }
            _ => {}
        }
    }
    out
}

/// The policy the tests install under: subsystem `test.run` may use every standard
/// group and the embedder group `acme.inventory@1`; `test.pure` may use none; `init`
/// may use `config`, `log` and `kv`. A module may keep 8 MiB of kv data (so that quota
/// tests stay quick).
pub fn test_policy() -> wasmod_validator::HostPolicy {
    use std::borrow::Cow;
    use wasmod_host_abi::{GroupDef, HostFunctionDef, abi::BYTES_CALL_SIGNATURE};
    use wasmod_validator::HostPolicy;
    let inventory = GroupDef {
        name: Cow::Borrowed("acme.inventory"),
        version: 1,
        doc: Cow::Borrowed("Stock levels."),
        functions: Cow::Owned(vec![HostFunctionDef {
            name: Cow::Borrowed("stock"),
            signature: BYTES_CALL_SIGNATURE,
            doc: Cow::Borrowed("stock(sku) -> level"),
        }]),
    };
    let mut policy = HostPolicy::new()
        .with_custom_group(inventory)
        .with_subsystem(
            "test.run",
            &["log", "config", "clock", "random", "kv", "modules", "acme.inventory"],
            "Anything goes.",
        )
        .with_subsystem("test.pure", &[], "No host calls.")
        .with_subsystem("init", &["config", "log", "kv"], "Lifecycle hook.");
    policy.kv.max_bytes_per_module = 8 << 20;
    policy
}

/// A minimal ABI v1 module in WAT with an entry point `run`: `imports` go before the
/// memory, `body` is the entry's body (must leave an i64), `extra` goes at the end.
pub fn abi_module(imports: &str, body: &str, extra: &str) -> String {
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "run") (param i32 i32) (result i64) {body})
  {extra}
)"#
    )
}

/// A one-function manifest for `run`, implementing `subsystem` with `groups`.
pub fn run_manifest(subsystem: &str, groups: &[&str]) -> String {
    let groups: Vec<String> = groups.iter().map(|g| format!("{g:?}")).collect();
    format!(
        r#"(name: "hostile/m", version: "1.0.0", functions: {{ "run": (implements: {subsystem:?}, groups: [{}]) }})"#,
        groups.join(", ")
    )
}

/// A one-function package: `run` implemented by the given wasm.
pub fn run_package(subsystem: &str, groups: &[&str], wasm: Vec<u8>) -> Vec<u8> {
    package_from_files(&run_manifest(subsystem, groups), &[("run.wasm", wasm)])
}

/// An archive written without the packer's checks (for broken manifests).
pub fn package_from_files_unchecked(manifest: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("module.ron", options).expect("zip");
    zip.write_all(manifest.as_bytes()).expect("zip");
    for (name, bytes) in files {
        zip.start_file(*name, options).expect("zip");
        zip.write_all(bytes).expect("zip");
    }
    zip.finish().expect("zip").into_inner()
}

/// Validates a package archive under [`test_policy`], panicking with the report.
pub fn validated(archive: &[u8]) -> wasmod_validator::ValidatedPackage {
    wasmod_validator::validate_archive(archive, &test_policy(), &wasmod_manifest::ArchiveLimits::default())
        .unwrap_or_else(|r| panic!("the test package is invalid:\n{r}"))
}

/// A one-function package of a WAT fixture (`tests/fixtures/wat/<name>.wat`), its
/// function `run` implementing `test.run` with `groups`.
pub fn wat_fixture_package(name: &str, groups: &[&str]) -> Vec<u8> {
    run_package("test.run", groups, wat(&wat_source(name)))
}

/// The entry word of a successful return of the `len` bytes at `ptr` (ABI v1).
pub fn ok_word(ptr: u32, len: u32) -> i64 {
    (i64::from(len) << 32) | i64::from(ptr)
}

/// A module `name` whose function `run` implements `subsystem` and returns `output`
/// (or fails with it as its error message when `fails`); `deps` are its dependencies.
pub fn constant_module(name: &str, subsystem: &str, output: &str, fails: bool, deps: &[&str]) -> Vec<u8> {
    let word = ok_word(16, output.len() as u32) | if fails { i64::MIN } else { 0 };
    let body = format!("i64.const {word}");
    let extra = format!("(data (i32.const 16) {output:?})");
    let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}: \"^1\"")).collect();
    let manifest = format!(
        r#"(name: {name:?}, version: "1.0.0", dependencies: {{ {} }}, functions: {{ "run": (implements: {subsystem:?}) }})"#,
        deps.join(", ")
    );
    package_from_files(&manifest, &[("run.wasm", wat(&abi_module("", &body, &extra)))])
}
