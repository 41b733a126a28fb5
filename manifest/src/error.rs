//! Manifest errors: a syntax error, or every semantic problem found.

use std::fmt;

use wasmod_host_abi::names::NameError;
use wasmod_host_abi::{ConfigType, ConfigValue};

/// A position in the text of `module.ron`: 1-based line and column, shown as
/// `line:column`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TextPosition {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for TextPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The text is not RON of the manifest's shape (bad syntax, unknown or missing field,
    /// wrong value type, a key given twice).
    #[error("module.ron:{at}: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: TextPosition,
        /// What it expected, naming the field where it can.
        message: String,
    },
    /// The text parsed, but breaks one or more rules; every problem is listed.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

impl ManifestError {
    /// The semantic problems (empty for a syntax error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ManifestError::Invalid(p) => p,
            ManifestError::Syntax { .. } => &[],
        }
    }
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = format!("module.ron has {} problem(s):", problems.len());
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

/// One semantic problem, with the field it concerns and where that field is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The rule it breaks, with the values involved.
    pub kind: ProblemKind,
    /// The field path, e.g. `functions.place_order.file`.
    pub field: String,
    /// Where in `module.ron` the offending value is, when it can be found.
    pub at: Option<TextPosition>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "module.ron:{at}: ")?,
            None => f.write_str("module.ron: ")?,
        }
        write!(f, "`{}`: {} (hint: {})", self.field, self.kind, self.kind.hint())
    }
}

/// The rules a manifest can break, one variant each.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// `name` is not `namespace/name` in the allowed alphabet.
    #[error("module name `{value}` {reason}")]
    InvalidModuleName {
        /// The name as written.
        value: String,
        /// The rule it breaks, as a phrase after the name (`is empty`, ...).
        reason: NameError,
    },
    /// `version` is not a semver version.
    #[error("`{value}` is not a semver version: {reason}")]
    InvalidVersion {
        /// The version as written.
        value: String,
        /// The semver parser's complaint.
        reason: String,
    },
    /// A dependency key is not a valid module name.
    #[error("dependency `{value}`: module name {reason}")]
    InvalidDependencyName {
        /// The dependency's name as written.
        value: String,
        /// The rule it breaks, as a phrase after the name.
        reason: NameError,
    },
    /// A dependency's requirement is not a semver requirement.
    #[error("dependency `{module}`: `{value}` is not a semver requirement: {reason}")]
    InvalidVersionReq {
        /// The dependency whose requirement it is.
        module: String,
        /// The requirement as written.
        value: String,
        /// The semver parser's complaint.
        reason: String,
    },
    /// The module lists itself as a dependency.
    #[error("module `{module}` depends on itself")]
    SelfDependency {
        /// The module's own name, as listed in `dependencies`.
        module: String,
    },
    /// A function name is not an identifier, or is reserved by the ABI.
    #[error("function name `{function}` {reason}")]
    InvalidFunctionName {
        /// The function name as written.
        function: String,
        /// The rule it breaks, as a phrase after the name.
        reason: NameError,
    },
    /// A group name is not a dotted lowercase name.
    #[error("function `{function}`: group name `{group}` {reason}")]
    InvalidGroupName {
        /// The function that lists the group.
        function: String,
        /// The group name as written.
        group: String,
        /// The rule it breaks, as a phrase after the name.
        reason: NameError,
    },
    /// A group is listed twice for one function.
    #[error("function `{function}`: group `{group}` is listed twice")]
    DuplicateGroup {
        /// The function that lists the group.
        function: String,
        /// The group listed more than once.
        group: String,
    },
    /// `implements` is not a dotted lowercase name.
    #[error("function `{function}`: `implements: \"{value}\"` {reason}")]
    InvalidSubsystemName {
        /// The function whose `implements` it is.
        function: String,
        /// The subsystem name as written.
        value: String,
        /// The rule it breaks, as a phrase after the name.
        reason: NameError,
    },
    /// `file` is not a relative, normalised path to a `.wasm` file.
    #[error("function `{function}`: file `{value}` {reason}")]
    InvalidFilePath {
        /// The function whose `file` it is.
        function: String,
        /// The path as written, or the default `<function>.wasm`.
        value: String,
        /// The rule it breaks, as a phrase after the path.
        reason: String,
    },
    /// Two functions name the same file.
    #[error("functions `{first}` and `{second}` both use file `{file}`")]
    DuplicateFile {
        /// The path both use.
        file: String,
        /// The first function, by name order, that uses it.
        first: String,
        /// A later function that uses it too.
        second: String,
    },
    /// More than one function implements the `init` hook.
    #[error("functions `{first}` and `{second}` both implement the `init` hook")]
    DuplicateInitHook {
        /// The first function, by name order, that implements `init`.
        first: String,
        /// A later function that implements it too.
        second: String,
    },
    /// A config key name breaks the key syntax.
    #[error("config key `{key}` {reason}")]
    InvalidConfigKey {
        /// The key as written.
        key: String,
        /// The rule it breaks, as a phrase after the key.
        reason: NameError,
    },
    /// A config default is not of the key's declared type.
    #[error("config key `{key}`: default {value} is not of type {ty}")]
    DefaultTypeMismatch {
        /// The key whose default it is.
        key: String,
        /// The key's declared type.
        ty: ConfigType,
        /// The default as written.
        value: ConfigValue,
    },
    /// A config key has a default and is also marked required.
    #[error("config key `{key}` has a default and is marked `required: true`")]
    RequiredWithDefault {
        /// The key marked both ways.
        key: String,
    },
}

impl ProblemKind {
    /// What the author should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ProblemKind::InvalidModuleName { .. } | ProblemKind::InvalidDependencyName { .. } => {
                "write `namespace/name` in lowercase ASCII letters, digits, `-`, `_` and `.`, e.g. `acme/orders`"
            }
            ProblemKind::InvalidVersion { .. } => "write a full semver version such as `1.2.0`",
            ProblemKind::InvalidVersionReq { .. } => {
                "write a semver requirement such as `^1.2`, `~1.2.3`, `>=1, <3` or `*`"
            }
            ProblemKind::SelfDependency { .. } => "remove the module's own name from `dependencies`",
            ProblemKind::InvalidFunctionName { .. } => {
                "use an identifier (`[A-Za-z_][A-Za-z0-9_]*`) that does not start with `wasmod_` or `__wasmod` and is not `memory`"
            }
            ProblemKind::InvalidGroupName { .. } => {
                "group names are lowercase dotted names such as `kv` or `acme.inventory`"
            }
            ProblemKind::DuplicateGroup { .. } => "list each group once",
            ProblemKind::InvalidSubsystemName { .. } => {
                "name a subsystem of the host, a lowercase dotted name such as `orders.place`, or `init`"
            }
            ProblemKind::InvalidFilePath { .. } => {
                "use a relative path with `/` separators, no `.` or `..` segments, ending in `.wasm`, e.g. `place_order.wasm`"
            }
            ProblemKind::DuplicateFile { .. } => "give every function its own wasm file",
            ProblemKind::DuplicateInitHook { .. } => "implement `init` in exactly one function",
            ProblemKind::InvalidConfigKey { .. } => {
                "config keys are lowercase ASCII letters, digits, `_`, `-` and `.`, starting with a letter"
            }
            ProblemKind::DefaultTypeMismatch { .. } => {
                "make the default a literal of the declared type, or change the type"
            }
            ProblemKind::RequiredWithDefault { .. } => "drop the default, or drop `required: true`",
        }
    }
}
