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

mod coherence;
mod diagnostic;
mod features;
mod files;
mod policy;
mod signatures;
mod wasm;

use std::collections::BTreeMap;

pub use coherence::PolicyProblem;
pub use diagnostic::{Code, Diagnostic, DiagnosticLocation, Report, Severity};
pub use policy::{
    Cardinality, FileLimits, HostPolicy, KvLimits, OnError, PolicyError, QuarantinePolicy, SubsystemDef, load_policy,
};
pub use signatures::type_hashes;
use wasmod_manifest::{ArchiveError, ArchiveLimits, Function, Manifest, ManifestError, Package};

/// A group granted to a function: linked at run time, nothing else is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// The group's name, as module.ron declares it and `wasmod:<group>@<version>` imports it.
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
    /// The package as it was read: manifest, manifest source and files.
    pub fn package(&self) -> &Package {
        &self.package
    }

    /// The package's manifest.
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

    /// The wasm bytes of a function, by function name; `None` for an unknown function.
    pub fn function_bytes(&self, function: &str) -> Option<&[u8]> {
        self.package.function_bytes(function)
    }

    /// Gives the package back, dropping the grants and the warnings.
    pub fn into_package(self) -> Package {
        self.package
    }
}

/// Bytes that are not a wasm module wasmparser can read, with its message and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a readable wasm module: {message} (at byte {offset})")]
pub struct InvalidWasm {
    /// wasmparser's message.
    pub message: String,
    /// The byte offset in the file where reading stopped.
    pub offset: u64,
}

impl From<wasmparser::BinaryReaderError> for InvalidWasm {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        InvalidWasm { message: e.message().to_owned(), offset: e.offset() }
    }
}

/// The imports of a wasm file as `(module, name)` pairs, in order (for tools such as
/// `wasmod inspect`).
///
/// # Errors
/// [`InvalidWasm`] when the file cannot be read as far as its import section.
pub fn function_imports(wasm: &[u8]) -> Result<Vec<(String, String)>, InvalidWasm> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ImportSection(section) = payload? {
            for import in section.into_imports() {
                let import = import?;
                out.push((import.module.to_string(), import.name.to_string()));
            }
        }
    }
    Ok(out)
}

/// Reads an archive under `limits` and validates it. See the [crate docs](crate).
pub fn validate_archive(bytes: &[u8], policy: &HostPolicy, limits: &ArchiveLimits) -> Result<ValidatedPackage, Report> {
    match Package::read(bytes, limits) {
        Ok(package) => validate_package(package, policy),
        Err(e) => Err(archive_report(e)),
    }
}

/// The report on an archive that could not be read: each problem of its manifest, or the
/// archive rule it breaks.
fn archive_report(e: ArchiveError) -> Report {
    let mut report = Report::default();
    match e {
        ArchiveError::Manifest(ManifestError::Syntax { at, message }) => report.push(Diagnostic::new(
            Code::ManifestSyntax,
            DiagnosticLocation::Manifest { field: String::new(), line: Some(at.line), column: Some(at.column) },
            message,
            "fix the RON syntax of module.ron (the crate docs of wasmod-manifest show every field)",
        )),
        ArchiveError::Manifest(ManifestError::Invalid(problems)) => {
            for p in problems {
                report.push(Diagnostic::new(
                    Code::ManifestInvalid,
                    DiagnosticLocation::Manifest {
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
            report.push(Diagnostic::new(Code::Archive, DiagnosticLocation::Package, other.to_string(), hint));
        }
    }
    report
}

/// Validates a package that was already read. See the [crate docs](crate).
pub fn validate_package(package: Package, policy: &HostPolicy) -> Result<ValidatedPackage, Report> {
    let mut report = Report { module: Some(package.manifest.id()), diagnostics: Vec::new() };
    check_policy(policy, &mut report);
    check_function_count(&package.manifest, policy, &mut report);
    let grants = check_declarations(&package, policy, &mut report);
    files::check_function_files(&package, policy, &mut report);
    report.sort();
    if report.is_ok() { Ok(ValidatedPackage { package, grants, report }) } else { Err(report) }
}

/// The policy's own coherence, engine identities of its signatures included: an
/// incoherent policy rejects every package, and the report says it is the embedder's.
fn check_policy(policy: &HostPolicy, report: &mut Report) {
    let mut incoherent: Vec<String> =
        policy.check().err().unwrap_or_default().iter().map(ToString::to_string).collect();
    incoherent.extend(signatures::policy_collisions(policy));
    for p in incoherent {
        report.push(Diagnostic::new(
            Code::PolicyInvalid,
            DiagnosticLocation::Package,
            p,
            "fix the host policy (this is the embedder's configuration, not the package)",
        ));
    }
}

fn check_function_count(manifest: &Manifest, policy: &HostPolicy, report: &mut Report) {
    if manifest.functions.len() as u64 > u64::from(policy.limits.max_functions) {
        report.push(Diagnostic::new(
            Code::TooManyFunctions,
            DiagnosticLocation::Manifest { field: "functions".into(), line: None, column: None },
            format!(
                "the package has {} functions, more than the host's limit of {}",
                manifest.functions.len(),
                policy.limits.max_functions
            ),
            "split the module into several modules",
        ));
    }
}

/// Checks what module.ron declares for each function against the policy (its subsystem,
/// its groups); returns the groups granted to each function.
fn check_declarations(package: &Package, policy: &HostPolicy, report: &mut Report) -> BTreeMap<String, Vec<Grant>> {
    let mut check = DeclarationCheck { manifest_source: &package.manifest_source, policy, report };
    let mut grants = BTreeMap::new();
    for (name, function) in &package.manifest.functions {
        let subsystem = check.subsystem(name, function);
        grants.insert(name.clone(), check.groups(name, function, subsystem));
    }
    grants
}

/// The checks of the functions' declarations, and the report their findings go into.
struct DeclarationCheck<'a> {
    /// Where the findings' positions are looked up.
    manifest_source: &'a str,
    policy: &'a HostPolicy,
    report: &'a mut Report,
}

impl<'a> DeclarationCheck<'a> {
    /// Where `functions.<function>.<field>` is in module.ron.
    fn field(&self, function: &str, field: &str) -> DiagnosticLocation {
        let at = wasmod_manifest::locate_function_field(self.manifest_source, function, Some(field));
        DiagnosticLocation::Manifest {
            field: format!("functions.{function}.{field}"),
            line: at.map(|l| l.line),
            column: at.map(|l| l.column),
        }
    }

    /// The subsystem the function implements; `None`, reported, when the host has no such
    /// subsystem.
    fn subsystem(&mut self, name: &str, function: &Function) -> Option<&'a SubsystemDef> {
        let subsystem = self.policy.subsystem(&function.implements);
        if subsystem.is_none() {
            let known: Vec<&str> = self.policy.subsystems.keys().map(String::as_str).collect();
            self.report.push(
                Diagnostic::new(
                    Code::UnknownSubsystem,
                    self.field(name, "implements"),
                    format!("implements `{}`, which is not a subsystem of this host", function.implements),
                    format!(
                        "this host's subsystems: {}",
                        if known.is_empty() { "none".into() } else { known.join(", ") }
                    ),
                )
                .in_function(name, &function.file),
            );
        }
        subsystem
    }

    /// The function's declared groups that the host offers, as grants; reports each group
    /// the host does not offer, or `subsystem` does not allow.
    fn groups(&mut self, name: &str, function: &Function, subsystem: Option<&SubsystemDef>) -> Vec<Grant> {
        let mut granted = Vec::new();
        for group in &function.groups {
            let Some(g) = self.policy.group(group) else {
                let offered = self.policy.groups().map(|g| g.name.as_ref()).collect::<Vec<_>>().join(", ");
                self.report.push(
                    Diagnostic::new(
                        Code::UnknownGroup,
                        self.field(name, "groups"),
                        format!("declares group `{group}`, which this host does not offer"),
                        format!("this host offers: {offered}"),
                    )
                    .in_function(name, &function.file),
                );
                continue;
            };
            if let Some(sub) = subsystem
                && !sub.groups.iter().any(|a| a == group)
            {
                let implements = &function.implements;
                let allowed = sub.allowed_groups();
                self.report.push(
                    Diagnostic::new(
                        Code::GroupNotAllowed,
                        self.field(name, "groups"),
                        format!("declares group `{group}`, which the host does not allow for subsystem `{implements}`"),
                        format!("remove it; subsystem `{implements}` may use only: {allowed}"),
                    )
                    .in_function(name, &function.file),
                );
            }
            granted.push(Grant { group: g.name.to_string(), version: g.version });
        }
        granted
    }
}
