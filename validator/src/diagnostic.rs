//! Diagnostics: what is wrong, where, and what to do about it.

use std::fmt::{self, Write as _};

use serde::Serialize;

/// How bad a diagnostic is. Errors reject the package; warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The package is rejected.
    Error,
    /// The package is accepted, but something deserves attention.
    Warning,
}

/// A stable diagnostic code. The kebab-case string form (see [`Code::as_str`]) is what
/// tools and tests match on; it never changes meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Code {
    /// The archive breaks an archive rule.
    Archive,
    /// `module.ron` does not parse.
    ManifestSyntax,
    /// `module.ron` breaks a semantic rule.
    ManifestInvalid,
    /// The host policy itself is incoherent.
    PolicyInvalid,
    /// More functions than the host allows in one package.
    TooManyFunctions,
    /// The function implements a subsystem the host does not have.
    UnknownSubsystem,
    /// The manifest declares a group the host does not offer.
    UnknownGroup,
    /// The manifest declares a group the subsystem does not allow.
    GroupNotAllowed,
    /// A file is not valid wasm.
    InvalidWasm,
    /// A file uses a wasm proposal wasmod does not support.
    UnsupportedFeature,
    /// A file is larger than allowed.
    FileTooLarge,
    /// An ABI export is missing.
    MissingAbiExport,
    /// An ABI export has the wrong kind or signature.
    BadAbiExport,
    /// The entry point is not exported.
    MissingEntry,
    /// The entry point has the wrong signature.
    BadEntrySignature,
    /// An import's module is not a `wasmod:<group>@<version>` name.
    ImportNotAGroup,
    /// An import names a group (or version) the host does not offer.
    ImportUnknownGroup,
    /// An import names a function its group does not have.
    ImportUnknownFunction,
    /// An import has the wrong signature.
    ImportBadSignature,
    /// An import's group is not declared for this function in the manifest.
    ImportUndeclaredGroup,
    /// An import's group is not allowed for the function's subsystem.
    ImportGroupNotAllowed,
    /// An import of a memory, table, global or tag.
    ImportNotAFunction,
    /// Initial memory above the host's limit.
    MemoryTooLarge,
    /// Maximum memory above the host's limit (growth will be capped).
    MemoryMaximumAboveLimit,
    /// A table starts with more elements than the host allows.
    TableTooLarge,
    /// The data segments of a file hold more bytes than the host allows.
    DataTooLarge,
    /// A file has more imports than the host allows.
    TooManyImports,
    /// A file defines more functions than the host allows.
    TooManyDefinedFunctions,
    /// A file has a start function, which would run outside every per-call limit.
    StartFunction,
    /// A group is declared but never imported (least privilege).
    UnusedGroup,
    /// A function type whose engine identity (a 32-bit hash) equals that of another
    /// type: an ABI or host-group signature, or another type of the file.
    SignatureCollision,
}

impl Code {
    /// The kebab-case form tools and tests match on, e.g. `import-undeclared-group`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Archive => "archive",
            Code::ManifestSyntax => "manifest-syntax",
            Code::ManifestInvalid => "manifest-invalid",
            Code::PolicyInvalid => "policy-invalid",
            Code::TooManyFunctions => "too-many-functions",
            Code::UnknownSubsystem => "unknown-subsystem",
            Code::UnknownGroup => "unknown-group",
            Code::GroupNotAllowed => "group-not-allowed",
            Code::InvalidWasm => "invalid-wasm",
            Code::UnsupportedFeature => "unsupported-feature",
            Code::FileTooLarge => "file-too-large",
            Code::MissingAbiExport => "missing-abi-export",
            Code::BadAbiExport => "bad-abi-export",
            Code::MissingEntry => "missing-entry",
            Code::BadEntrySignature => "bad-entry-signature",
            Code::ImportNotAGroup => "import-not-a-group",
            Code::ImportUnknownGroup => "import-unknown-group",
            Code::ImportUnknownFunction => "import-unknown-function",
            Code::ImportBadSignature => "import-bad-signature",
            Code::ImportUndeclaredGroup => "import-undeclared-group",
            Code::ImportGroupNotAllowed => "import-group-not-allowed",
            Code::ImportNotAFunction => "import-not-a-function",
            Code::MemoryTooLarge => "memory-too-large",
            Code::MemoryMaximumAboveLimit => "memory-maximum-above-limit",
            Code::TableTooLarge => "table-too-large",
            Code::DataTooLarge => "data-too-large",
            Code::TooManyImports => "too-many-imports",
            Code::TooManyDefinedFunctions => "too-many-defined-functions",
            Code::StartFunction => "start-function",
            Code::UnusedGroup => "unused-group",
            Code::SignatureCollision => "signature-collision",
        }
    }

    /// The severity this code always has: a warning for `unused-group` and
    /// `memory-maximum-above-limit`, an error for every other code.
    pub fn severity(self) -> Severity {
        match self {
            Code::UnusedGroup | Code::MemoryMaximumAboveLimit => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Where in the package a diagnostic points: the package, a field of `module.ron`, or a
/// place in a wasm file (the file itself is [`Diagnostic::file`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
// Serialized under its former name, so that no format that writes type names changes.
#[serde(tag = "kind", rename_all = "kebab-case", rename = "Location")]
pub enum DiagnosticLocation {
    /// The package as a whole.
    Package,
    /// A field of `module.ron`, with its position when known.
    Manifest {
        /// The field path, e.g. `functions.place_order.groups`.
        field: String,
        /// 1-based line.
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
        /// 1-based column.
        #[serde(skip_serializing_if = "Option::is_none")]
        column: Option<usize>,
    },
    /// An import of a wasm file.
    Import {
        /// The module the import names, e.g. `wasmod:kv@1`.
        module: String,
        /// The function name within that module, e.g. `get`.
        name: String,
    },
    /// An export of a wasm file.
    Export {
        /// The exported name: an ABI export such as `wasmod_alloc`, or the entry point.
        name: String,
    },
    /// A byte offset in a wasm file.
    Offset {
        /// Bytes from the start of the file.
        offset: u64,
    },
    /// A section of a wasm file.
    Section {
        /// The section's name in the wasm spec: `import`, `function`, `table`, `memory`,
        /// `data` or `type`.
        section: &'static str,
    },
}

impl fmt::Display for DiagnosticLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Package => f.write_str("the package"),
            Self::Manifest { field, line: Some(l), column: Some(c) } => write!(f, "module.ron:{l}:{c} `{field}`"),
            Self::Manifest { field, .. } => write!(f, "module.ron `{field}`"),
            Self::Import { module, name } => write!(f, "import \"{module}\" \"{name}\""),
            Self::Export { name } => write!(f, "export \"{name}\""),
            Self::Offset { offset } => write!(f, "byte offset {offset:#x}"),
            Self::Section { section } => write!(f, "{section} section"),
        }
    }
}

/// One finding: which rule failed, where, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The rule that failed.
    pub code: Code,
    /// Always [`code.severity()`](Code::severity); whether the finding rejects the package.
    pub severity: Severity,
    /// The wasm file, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The module function, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Where in the package, or in [`file`](Self::file), the finding points.
    pub location: DiagnosticLocation,
    /// What is wrong, naming the values involved.
    pub message: String,
    /// What the author (for `policy-invalid`, the embedder) can do about it.
    pub hint: String,
}

impl Diagnostic {
    pub(crate) fn new(
        code: Code,
        location: DiagnosticLocation,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            file: None,
            function: None,
            location,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub(crate) fn in_function(mut self, function: &str, file: &str) -> Self {
        self.function = Some(function.to_owned());
        self.file = Some(file.to_owned());
        self
    }
}

/// All diagnostics of one validation, errors first, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `name@version` of the package, when the manifest could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The findings, in the report's order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    pub(crate) fn sort(&mut self) {
        self.diagnostics.sort_by(|a, b| {
            (a.severity, &a.function, &a.file, a.code).cmp(&(b.severity, &b.function, &b.file, b.code))
        });
    }

    /// The findings that reject the package.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The findings that do not reject the package.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// Whether nothing rejects the package (there may be warnings).
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The codes, in report order (handy in tests).
    pub fn codes(&self) -> Vec<Code> {
        self.diagnostics.iter().map(|d| d.code).collect()
    }

    /// A human rendering; with `color`, ANSI colours for a terminal.
    pub fn render(&self, color: bool) -> String {
        let (red, yellow, bold, dim, reset) =
            if color { ("\x1b[31;1m", "\x1b[33;1m", "\x1b[1m", "\x1b[2m", "\x1b[0m") } else { ("", "", "", "", "") };
        let mut out = String::new();
        for d in &self.diagnostics {
            let (label, colour) = match d.severity {
                Severity::Error => ("error", red),
                Severity::Warning => ("warning", yellow),
            };
            let _ = writeln!(out, "{colour}{label}[{}]{reset}{bold}: {}{reset}", d.code, d.message);
            let mut at = String::new();
            if let Some(file) = &d.file {
                let _ = write!(at, "{file}");
                if let Some(function) = &d.function {
                    let _ = write!(at, " (function `{function}`)");
                }
                at.push_str(", ");
            }
            let _ = writeln!(out, "  {dim}-->{reset} {at}{}", d.location);
            let _ = writeln!(out, "  {dim}={reset} hint: {}", d.hint);
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        let subject = self.module.as_deref().unwrap_or("the package");
        if errors > 0 {
            let _ = writeln!(out, "{red}rejected{reset}: {subject}: {errors} error(s), {warnings} warning(s)");
        } else {
            let _ = writeln!(out, "ok: {subject}: {warnings} warning(s)");
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}
