//! Checks of one function file against the ABI, the manifest and the host policy.
//!
//! [`check_file`] runs the checks in a fixed order, each pushing its findings into the
//! report: size, validity under the accepted features, imports (`imports.rs`), ABI
//! exports, entry point, limits, start function, engine type identities, unused groups.
//! `shape.rs` gathers what they look at.

mod imports;
mod shape;

use std::collections::BTreeSet;

use crate::policy::{FileLimits, HostPolicy, SubsystemDef};
use wasmod_host_abi::abi::{ABI_EXPORTS, AbiExport, ENTRY_SIGNATURE, ExportKind};
use wasmod_manifest::Function;
use wasmparser::{BinaryReaderError, ExternalKind, Validator};

use crate::diagnostic::{Code, Diagnostic, DiagnosticLocation, Report};
use crate::features::{self, Rejection};
use shape::{Shape, shape, show};

/// What is known about the function being checked.
pub(crate) struct FunctionContext<'a> {
    /// The function's name in the manifest, which is also its entry-point export.
    pub name: &'a str,
    pub function: &'a Function,
    /// `None` when the subsystem is unknown (already reported).
    pub subsystem: Option<&'a SubsystemDef>,
    pub policy: &'a HostPolicy,
}

/// Checks one file, pushing every finding into `report`; returns the groups it imports
/// from.
pub(crate) fn check_file(cx: &FunctionContext<'_>, bytes: &[u8], report: &mut Report) -> BTreeSet<String> {
    let mut pass = FilePass { cx, report };
    pass.check_size(bytes);
    let Some(s) = pass.parse(bytes) else { return BTreeSet::new() };
    let used = pass.check_imports(&s);
    pass.check_abi_exports(&s);
    pass.check_entry_point(&s);
    pass.check_limits(&s);
    pass.check_start(&s);
    pass.check_type_identities(&s);
    pass.check_unused_groups(&used);
    used
}

/// The checks of one file: the function it belongs to, and the report every finding goes
/// into, tagged with that function and its file.
struct FilePass<'p, 'a> {
    cx: &'p FunctionContext<'a>,
    report: &'p mut Report,
}

impl<'a> FilePass<'_, 'a> {
    fn push(&mut self, d: Diagnostic) {
        self.report.push(d.in_function(self.cx.name, &self.cx.function.file));
    }

    fn limits(&self) -> &'a FileLimits {
        &self.cx.policy.limits
    }

    /// The groups module.ron declares for the function.
    fn declared_groups(&self) -> BTreeSet<&'a str> {
        self.cx.function.groups.iter().map(String::as_str).collect()
    }

    fn check_size(&mut self, bytes: &[u8]) {
        let limits = self.limits();
        if bytes.len() as u64 > limits.max_file_bytes {
            self.push(Diagnostic::new(
                Code::FileTooLarge,
                DiagnosticLocation::Package,
                format!("the file is {} bytes, more than the host's limit of {}", bytes.len(), limits.max_file_bytes),
                "build in release mode with `opt-level = \"s\"` and `strip`, or split the function",
            ));
        }
    }

    /// Validates the file under the features wasmod accepts and gathers its shape; `None`,
    /// with the reason reported, when it is not wasm the runtime would compile.
    fn parse(&mut self, bytes: &[u8]) -> Option<Shape> {
        if let Err(e) = Validator::new_with_features(features::accepted()).validate_all(bytes) {
            self.push(rejection(bytes, &e));
            return None;
        }
        match shape(bytes) {
            Ok(s) => Some(s),
            Err(e) => {
                self.push(Diagnostic::new(
                    Code::InvalidWasm,
                    DiagnosticLocation::Offset { offset: e.offset() },
                    format!("not a valid wasm module: {}", e.message()),
                    "rebuild the file",
                ));
                None
            }
        }
    }

    /// Exports: the ABI's, each of the right kind and signature.
    fn check_abi_exports(&mut self, s: &Shape) {
        for abi in ABI_EXPORTS {
            self.check_abi_export(s, abi);
        }
    }

    fn check_abi_export(&mut self, s: &Shape, abi: &AbiExport) {
        let at = || DiagnosticLocation::Export { name: abi.name.into() };
        match (s.exports.get(abi.name), abi.kind) {
            (None, _) if abi.required => self.push(Diagnostic::new(
                Code::MissingAbiExport,
                at(),
                format!("does not export `{}`, which ABI v1 requires", abi.name),
                "build with wasmod-sdk (or export it by hand, see the host-abi docs)",
            )),
            (None, _) => {}
            (Some((ExternalKind::Memory, _)), ExportKind::Memory) => {}
            (Some((ExternalKind::Func, index)), ExportKind::Func(expected)) => match s.func_signature(*index) {
                Some(sig) if expected.matches(&sig.0, &sig.1) => {}
                sig => self.push(Diagnostic::new(
                    Code::BadAbiExport,
                    at(),
                    format!("exports `{}` as {}, but ABI v1 requires {expected}", abi.name, show(sig)),
                    "build with a wasmod-sdk that speaks ABI v1",
                )),
            },
            (Some((kind, _)), expected) => self.push(Diagnostic::new(
                Code::BadAbiExport,
                at(),
                format!(
                    "exports `{}` as a {kind:?}, but ABI v1 requires a {}",
                    abi.name,
                    match expected {
                        ExportKind::Memory => "memory",
                        ExportKind::Func(_) => "function",
                    }
                ),
                "build with a wasmod-sdk that speaks ABI v1",
            )),
        }
    }

    /// The entry point: a function export named after the manifest function, with
    /// ABI v1's entry signature.
    fn check_entry_point(&mut self, s: &Shape) {
        let name = self.cx.name;
        let at = || DiagnosticLocation::Export { name: name.into() };
        match s.exports.get(name) {
            None => self.push(Diagnostic::new(
                Code::MissingEntry,
                at(),
                format!("does not export the entry point `{name}`"),
                format!("mark the function #[wasmod_sdk::function] and name it `{name}`, or fix module.ron"),
            )),
            Some((ExternalKind::Func, index)) => match s.func_signature(*index) {
                Some(sig) if ENTRY_SIGNATURE.matches(&sig.0, &sig.1) => {}
                sig => self.push(Diagnostic::new(
                    Code::BadEntrySignature,
                    at(),
                    format!("exports `{name}` as {}, but an entry point must be {ENTRY_SIGNATURE}", show(sig)),
                    "use #[wasmod_sdk::function], or follow ABI v1 (input ptr, len -> packed result)",
                )),
            },
            Some((kind, _)) => self.push(Diagnostic::new(
                Code::BadEntrySignature,
                at(),
                format!("exports `{name}` as a {kind:?}, not a function"),
                "export the entry point as a function",
            )),
        }
    }

    /// The policy's static limits: memories, tables, data, defined functions.
    fn check_limits(&mut self, s: &Shape) {
        let limits = self.limits();
        for memory in &s.memories {
            self.check_memory(memory, u64::from(limits.max_memory_pages));
        }
        for table in &s.tables {
            if table.initial > u64::from(limits.max_table_elements) {
                self.push(Diagnostic::new(
                    Code::TableTooLarge,
                    DiagnosticLocation::Section { section: "table" },
                    format!(
                        "a table starts with {} elements, more than the host's limit of {}",
                        table.initial, limits.max_table_elements
                    ),
                    "use fewer indirect-call targets",
                ));
            }
        }
        if s.data_bytes > limits.max_data_bytes {
            self.push(Diagnostic::new(
                Code::DataTooLarge,
                DiagnosticLocation::Section { section: "data" },
                format!(
                    "{} bytes of data segments, more than the host's limit of {}",
                    s.data_bytes, limits.max_data_bytes
                ),
                "embed less static data",
            ));
        }
        let defined = s.func_types.len() - s.imported_funcs;
        if defined as u64 > u64::from(limits.max_defined_functions) {
            self.push(Diagnostic::new(
                Code::TooManyDefinedFunctions,
                DiagnosticLocation::Section { section: "function" },
                format!("defines {defined} functions, more than the host's limit of {}", limits.max_defined_functions),
                "pack with `wasmod pack` so each file keeps only what its function reaches",
            ));
        }
    }

    /// A memory's initial size (an error) and declared maximum (a warning) against
    /// `limit` pages.
    fn check_memory(&mut self, memory: &wasmparser::MemoryType, limit: u64) {
        if memory.initial > limit {
            self.push(Diagnostic::new(
                Code::MemoryTooLarge,
                DiagnosticLocation::Section { section: "memory" },
                format!(
                    "the memory starts at {} pages (64 KiB each), more than the host's limit of {limit}",
                    memory.initial
                ),
                "reduce static data and the stack size (Rust: `-C link-arg=-zstack-size=...`)",
            ));
        } else if memory.maximum.is_some_and(|m| m > limit) {
            self.push(Diagnostic::new(
                Code::MemoryMaximumAboveLimit,
                DiagnosticLocation::Section { section: "memory" },
                format!(
                    "the memory may grow to {} pages, but this host stops growth at {limit}",
                    memory.maximum.unwrap_or_default()
                ),
                "expect `memory.grow` to fail past the host's limit, or lower the declared maximum",
            ));
        }
    }

    /// No start function: it would run during instantiation, before per-call limits apply.
    fn check_start(&mut self, s: &Shape) {
        if let Some((func, offset)) = s.start {
            self.push(Diagnostic::new(
                Code::StartFunction,
                DiagnosticLocation::Offset { offset },
                format!(
                    "has a start function (function {func}); it would run during instantiation, outside every per-call limit"
                ),
                "remove the start function; do setup in the `init` hook or lazily in the function",
            ));
        }
    }

    /// Types the engine cannot tell apart from another.
    fn check_type_identities(&mut self, s: &Shape) {
        for (index, text, other) in crate::signatures::collisions(&s.engine_types, self.cx.policy) {
            self.push(Diagnostic::new(
                Code::SignatureCollision,
                DiagnosticLocation::Section { section: "type" },
                format!(
                    "type {index} {text} has the same engine identity (a 32-bit hash) as {other}; the engine \
                     cannot tell the two apart"
                ),
                "such a type does not come out of a compiler by chance: rebuild the file from its source",
            ));
        }
    }

    /// Least privilege: a group declared but never imported from (a warning).
    fn check_unused_groups(&mut self, used: &BTreeSet<String>) {
        let name = self.cx.name;
        for group in self.declared_groups().iter().filter(|g| !used.contains(**g)) {
            self.push(Diagnostic::new(
                Code::UnusedGroup,
                DiagnosticLocation::Manifest { field: format!("functions.{name}.groups"), line: None, column: None },
                format!("declares group `{group}` but never imports from it"),
                format!("remove \"{group}\" from `functions.{name}.groups`: grant only what the function uses"),
            ));
        }
    }
}

/// The diagnostic for a file the validator refused: a proposal wasmod does not support
/// when one would make it valid, otherwise invalid wasm.
fn rejection(bytes: &[u8], e: &BinaryReaderError) -> Diagnostic {
    let at = DiagnosticLocation::Offset { offset: e.offset() };
    match features::diagnose(bytes) {
        Rejection::Needs(p) => Diagnostic::new(
            Code::UnsupportedFeature,
            at,
            format!("the file uses the `{}` proposal, which wasmod does not support: {}", p.name, p.why),
            format!("build without `{}` (check the target features of your toolchain)", p.name),
        ),
        Rejection::NeedsSeveral => Diagnostic::new(
            Code::UnsupportedFeature,
            at,
            format!("the file uses wasm proposals wasmod does not support ({})", e.message()),
            "build for plain wasm32 without extra target features",
        ),
        Rejection::Invalid => Diagnostic::new(
            Code::InvalidWasm,
            at,
            format!("not a valid wasm module: {}", e.message()),
            "rebuild the file; it may be truncated or not wasm at all",
        ),
    }
}
