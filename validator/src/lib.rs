//! Install-time validation of a wasmod package against a host policy.
//!
//! [`validate_archive`] (or [`validate_package`] for an already-read [`Package`]) checks
//! everything that can be known before running anything, and reports *every* violation
//! at once as [`Diagnostic`]s with a stable [`Code`], the file and function, where
//! (import, export, byte offset, manifest field), a message and a hint:
//!
//! - the archive and `module.ron` obey their rules (`wasmod-manifest`);
//! - the package has no more functions than the host allows;
//! - every function implements a subsystem the host has (lifecycle hooks such as `init`
//!   are subsystems of the policy too), and declares only groups the host offers and the
//!   subsystem allows;
//! - every file is valid wasm under exactly the feature set the runtime compiles
//!   (`wasmod_host_abi::features`); a file needing another proposal is rejected naming it;
//! - every file exports the ABI v1 symbols and its entry point with the exact signatures
//!   of `wasmod-host-abi`;
//! - every import is a function of an offered group (right version, right name, exact
//!   signature), declared for that function in the manifest **and** allowed for its
//!   subsystem; no memory, table, global or tag is imported;
//! - file size, memory pages, table size, data size, imports and defined functions are
//!   within the policy's limits;
//! - no start function: it would run inside instantiation, before per-call fuel and
//!   deadlines apply, so it cannot be bounded (see ADR 0004);
//! - no function type has the engine identity (a 32-bit hash) of an ABI or host-group
//!   signature, or of another type of the file, without being that type: the engine
//!   cannot tell such types apart;
//! - a group declared but never imported is a warning (least privilege).
//!
//! Success is a [`ValidatedPackage`], which only this crate can construct: the runtime
//! and the store take one, so nothing unvalidated is ever compiled or installed.
#![deny(missing_docs)]

mod diagnostic;
mod features;
mod signatures;
mod wasm;

use std::collections::BTreeMap;

pub use diagnostic::{Code, Diagnostic, Location, Report, Severity};
pub use signatures::type_hashes;
use wasmod_host_abi::HostPolicy;
use wasmod_manifest::{ArchiveError, ArchiveLimits, Manifest, ManifestError, Package};

/// A group granted to a function: linked at run time, nothing else is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// The group name.
    pub group: String,
    /// The major version the host offers.
    pub version: u32,
}

/// A package that passed validation against a policy. Only [`validate_package`] and
/// [`validate_archive`] make one.
#[derive(Clone, Debug)]
pub struct ValidatedPackage {
    package: Package,
    grants: BTreeMap<String, Vec<Grant>>,
    report: Report,
}

impl ValidatedPackage {
    /// The package.
    pub fn package(&self) -> &Package {
        &self.package
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.package.manifest
    }

    /// The warnings validation produced (the report has no errors).
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The groups granted to a function (declared in the manifest, offered by the host,
    /// allowed for its subsystem), sorted; empty for an unknown function.
    pub fn grants(&self, function: &str) -> &[Grant] {
        self.grants.get(function).map_or(&[], Vec::as_slice)
    }

    /// The wasm bytes of a function.
    pub fn function_bytes(&self, function: &str) -> Option<&[u8]> {
        self.package.function_bytes(function)
    }

    /// Gives the package back.
    pub fn into_package(self) -> Package {
        self.package
    }
}

/// Why a host policy file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not RON of the policy's shape.
    #[error("policy:{line}:{column}: {message}")]
    Syntax {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Parsed, but incoherent.
    #[error("the policy is incoherent:\n  {}", .0.join("\n  "))]
    Incoherent(Vec<String>),
}

/// The imports of a wasm file as `(module, name)` pairs, in order (for tools such as
/// `wasmod inspect`). Fails with the parser's message on invalid wasm.
pub fn function_imports(wasm: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ImportSection(section) = payload.map_err(|e| e.to_string())? {
            for import in section.into_imports() {
                let import = import.map_err(|e| e.to_string())?;
                out.push((import.module.to_string(), import.name.to_string()));
            }
        }
    }
    Ok(out)
}

/// Loads a host policy from RON text and checks its coherence. The format is the
/// serde form of [`HostPolicy`]:
///
/// ```
/// let policy = wasmod_validator::load_policy(r#"(
///     subsystems: {
///         "orders.place": (groups: ["log", "kv", "modules"], doc: "Places an order."),
///         "init": (groups: ["config", "log"]),
///     },
///     limits: (max_memory_pages: 128),
/// )"#).unwrap();
/// assert_eq!(policy.limits.max_memory_pages, 128);
/// assert!(policy.group("kv").is_some());
/// ```
pub fn load_policy(text: &str) -> Result<HostPolicy, PolicyError> {
    let policy: HostPolicy = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .map_err(|e| PolicyError::Syntax {
            line: e.span.start.line,
            column: e.span.start.col,
            message: e.code.to_string(),
        })?;
    policy.check().map_err(PolicyError::Incoherent)?;
    Ok(policy)
}

/// Reads an archive under `limits` and validates it. See the [crate docs](crate).
pub fn validate_archive(bytes: &[u8], policy: &HostPolicy, limits: &ArchiveLimits) -> Result<ValidatedPackage, Report> {
    match Package::read(bytes, limits) {
        Ok(package) => validate_package(package, policy),
        Err(e) => Err(archive_report(e)),
    }
}

fn archive_report(e: ArchiveError) -> Report {
    let mut report = Report::default();
    match e {
        ArchiveError::Manifest(ManifestError::Syntax { at, message }) => report.push(Diagnostic::new(
            Code::ManifestSyntax,
            Location::Manifest { field: String::new(), line: Some(at.line), column: Some(at.column) },
            message,
            "fix the RON syntax of module.ron (the crate docs of wasmod-manifest show every field)",
        )),
        ArchiveError::Manifest(ManifestError::Invalid(problems)) => {
            for p in problems {
                report.push(Diagnostic::new(
                    Code::ManifestInvalid,
                    Location::Manifest {
                        field: p.field.clone(),
                        line: p.at.map(|l| l.line),
                        column: p.at.map(|l| l.column),
                    },
                    p.kind.to_string(),
                    p.kind.hint(),
                ));
            }
        }
        other => {
            let hint = other.hint();
            report.push(Diagnostic::new(Code::Archive, Location::Package, other.to_string(), hint));
        }
    }
    report
}

/// Below this many bytes of wasm a package's files are checked on the calling thread:
/// starting threads would cost more than it saves.
const PARALLEL_MIN_BYTES: usize = 64 << 10;

/// Each function of the package with its file's bytes (a missing file checks as empty,
/// which is refused as invalid wasm).
fn function_files<'a>(package: &'a Package, policy: &'a HostPolicy) -> Vec<(wasm::FunctionContext<'a>, &'a [u8])> {
    package
        .manifest
        .functions
        .iter()
        .map(|(name, function)| {
            let subsystem = policy.subsystem(&function.implements);
            let bytes = package.files.get(&function.file).map(Vec::as_slice).unwrap_or_default();
            (wasm::FunctionContext { name, function, subsystem, policy }, bytes)
        })
        .collect()
}

/// Checks every function file on up to `threads` threads, the findings of each file in
/// its own list, in file order. Files are independent and most of the work is
/// wasmparser's per-operator validation, which this divides; the result does not depend
/// on the thread count.
fn check_files(files: &[(wasm::FunctionContext<'_>, &[u8])], threads: usize) -> Vec<Vec<Diagnostic>> {
    let check = |(cx, bytes): &(wasm::FunctionContext<'_>, &[u8])| {
        let mut report = Report::default();
        wasm::check_file(cx, bytes, &mut report);
        report.diagnostics
    };
    let threads = threads.min(files.len());
    if threads < 2 {
        return files.iter().map(check).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, Vec<Diagnostic>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break done };
                        done.push((i, check(file)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, d)| d).collect()
}

/// Validates a package that was already read. See the [crate docs](crate).
pub fn validate_package(package: Package, policy: &HostPolicy) -> Result<ValidatedPackage, Report> {
    let manifest = &package.manifest;
    let mut report = Report { module: Some(manifest.id()), diagnostics: Vec::new() };
    let mut incoherent = policy.check().err().unwrap_or_default();
    incoherent.extend(signatures::policy_collisions(policy));
    if !incoherent.is_empty() {
        for p in incoherent {
            report.push(Diagnostic::new(
                Code::PolicyInvalid,
                Location::Package,
                p,
                "fix the host policy (this is the embedder's configuration, not the package)",
            ));
        }
    }
    if manifest.functions.len() as u64 > u64::from(policy.limits.max_functions) {
        report.push(Diagnostic::new(
            Code::TooManyFunctions,
            Location::Manifest { field: "functions".into(), line: None, column: None },
            format!(
                "the package has {} functions, more than the host's limit of {}",
                manifest.functions.len(),
                policy.limits.max_functions
            ),
            "split the module into several modules",
        ));
    }

    let field = |function: &str, f: &str| {
        let at = wasmod_manifest::locate_function_field(&package.manifest_source, function, Some(f));
        Location::Manifest {
            field: format!("functions.{function}.{f}"),
            line: at.map(|l| l.line),
            column: at.map(|l| l.column),
        }
    };
    let mut grants = BTreeMap::new();
    for (name, function) in &manifest.functions {
        let subsystem = policy.subsystem(&function.implements);
        if subsystem.is_none() {
            let known: Vec<&str> = policy.subsystems.keys().map(String::as_str).collect();
            report.push(
                Diagnostic::new(
                    Code::UnknownSubsystem,
                    field(name, "implements"),
                    format!("implements `{}`, which is not a subsystem of this host", function.implements),
                    format!(
                        "this host's subsystems: {}",
                        if known.is_empty() { "none".into() } else { known.join(", ") }
                    ),
                )
                .in_function(name, &function.file),
            );
        }
        let mut granted = Vec::new();
        for group in &function.groups {
            match policy.group(group) {
                None => report.push(
                    Diagnostic::new(
                        Code::UnknownGroup,
                        field(name, "groups"),
                        format!("declares group `{group}`, which this host does not offer"),
                        format!(
                            "this host offers: {}",
                            policy.groups().map(|g| g.name.as_ref()).collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .in_function(name, &function.file),
                ),
                Some(g) => {
                    if let Some(sub) = subsystem
                        && !sub.groups.iter().any(|a| a == group)
                    {
                        report.push(
                            Diagnostic::new(
                                Code::GroupNotAllowed,
                                field(name, "groups"),
                                format!(
                                    "declares group `{group}`, which the host does not allow for subsystem `{}`",
                                    function.implements
                                ),
                                format!(
                                    "remove it; subsystem `{}` may use only: {}",
                                    function.implements,
                                    if sub.groups.is_empty() { "no groups".into() } else { sub.groups.join(", ") }
                                ),
                            )
                            .in_function(name, &function.file),
                        );
                    }
                    granted.push(Grant { group: g.name.to_string(), version: g.version });
                }
            }
        }
        grants.insert(name.clone(), granted);
    }
    let files = function_files(&package, policy);
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    let threads =
        if total < PARALLEL_MIN_BYTES { 1 } else { std::thread::available_parallelism().map_or(1, usize::from) };
    for diagnostics in check_files(&files, threads) {
        report.diagnostics.extend(diagnostics);
    }

    report.sort();
    if report.is_ok() { Ok(ValidatedPackage { package, grants, report }) } else { Err(report) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ABI v1 file for function `name` carrying `padding` bytes of data, plus `imports`.
    fn function_file(name: &str, imports: &str, padding: usize) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module {imports}
                (memory (export "memory") 1)
                (data (i32.const 0) "{}")
                (func (export "__wasmod_abi_v1"))
                (func (export "wasmod_alloc") (param i32) (result i32) i32.const 0)
                (func (export "{name}") (param i32 i32) (result i64) i64.const 0))"#,
            "x".repeat(padding)
        ))
        .expect("valid WAT")
    }

    #[test]
    fn parallel_checks_find_what_sequential_checks_find_in_file_order() {
        let names = ["a", "b", "c", "d", "e"];
        let manifest = format!(
            r#"(name: "t/par", version: "1.0.0", functions: {{ {} }})"#,
            names.map(|n| format!(r#""{n}": (implements: "t.run", file: "{n}.wasm")"#)).join(", ")
        );
        let files = [
            function_file("a", "", 30_000),
            b"\0asm garbage".to_vec(),
            function_file("c", r#"(import "wasmod:kv@1" "get" (func (param i32 i32) (result i64)))"#, 30_000),
            function_file("d", "", 30_000),
            Vec::new(),
        ];
        let files = names.iter().zip(files).map(|(n, b)| (format!("{n}.wasm"), b)).collect();
        let package = Package::new(&manifest, files).expect("a valid manifest");
        let policy = HostPolicy::development();
        let contexts = function_files(&package, &policy);
        assert!(
            contexts.iter().map(|(_, b)| b.len()).sum::<usize>() >= PARALLEL_MIN_BYTES,
            "a package that gets threads"
        );

        let parallel = check_files(&contexts, 3);
        assert_eq!(parallel, check_files(&contexts, 1));
        let codes = |i: usize| parallel[i].iter().map(|d| d.code).collect::<Vec<_>>();
        assert!(codes(0).is_empty() && codes(3).is_empty(), "{parallel:?}");
        assert!(codes(1).contains(&Code::InvalidWasm), "{:?}", codes(1));
        assert!(codes(2).contains(&Code::ImportUndeclaredGroup), "{:?}", codes(2));
        assert!(!codes(4).is_empty(), "an empty file is refused");
        assert!(parallel[2].iter().all(|d| d.function.as_deref() == Some("c")));
    }
}
