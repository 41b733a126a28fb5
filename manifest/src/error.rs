//! Manifest errors: a syntax error, or every semantic problem found.

use std::fmt;

use wasmod_host_abi::{ConfigType, ConfigValue};

/// A 1-based line and column in `module.ron`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    /// The text is not RON of the manifest's shape (bad syntax, unknown or missing field,
    /// wrong value type, a key given twice).
    #[error("module.ron:{at}: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: Location,
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
    /// What is wrong.
    pub kind: ProblemKind,
    /// The field path, e.g. `functions.place_order.file`.
    pub field: String,
    /// Where in `module.ron` the offending value is, when it can be found.
    pub at: Option<Location>,
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
pub enum ProblemKind {
    /// `name` is not `namespace/name` in the allowed alphabet.
    #[error("module name `{value}` {reason}")]
    InvalidModuleName {
        /// The name given.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// `version` is not a semver version.
    #[error("`{value}` is not a semver version: {reason}")]
    InvalidVersion {
        /// The version given.
        value: String,
        /// The semver parser's complaint.
        reason: String,
    },
    /// A dependency key is not a valid module name.
    #[error("dependency `{value}`: module name {reason}")]
    InvalidDependencyName {
        /// The name given.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A dependency's requirement is not a semver requirement.
    #[error("dependency `{module}`: `{value}` is not a semver requirement: {reason}")]
    InvalidVersionReq {
        /// The dependency.
        module: String,
        /// The requirement given.
        value: String,
        /// The semver parser's complaint.
        reason: String,
    },
    /// The module lists itself as a dependency.
    #[error("module `{module}` depends on itself")]
    SelfDependency {
        /// The module.
        module: String,
    },
    /// A function name is not an identifier, or is reserved by the ABI.
    #[error("function name `{function}` {reason}")]
    InvalidFunctionName {
        /// The name given.
        function: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A group name is not a dotted lowercase name.
    #[error("function `{function}`: group name `{group}` {reason}")]
    InvalidGroupName {
        /// The function.
        function: String,
        /// The group given.
        group: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A group is listed twice for one function.
    #[error("function `{function}`: group `{group}` is listed twice")]
    DuplicateGroup {
        /// The function.
        function: String,
        /// The group.
        group: String,
    },
    /// `implements` is not a dotted lowercase name.
    #[error("function `{function}`: `implements: \"{value}\"` {reason}")]
    InvalidSubsystemName {
        /// The function.
        function: String,
        /// The subsystem given.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// `file` is not a relative, normalised path to a `.wasm` file.
    #[error("function `{function}`: file `{value}` {reason}")]
    InvalidFilePath {
        /// The function.
        function: String,
        /// The path given.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// Two functions name the same file.
    #[error("functions `{first}` and `{second}` both use file `{file}`")]
    DuplicateFile {
        /// The file.
        file: String,
        /// The first function, by name order.
        first: String,
        /// The second function.
        second: String,
    },
    /// More than one function implements the `init` hook.
    #[error("functions `{first}` and `{second}` both implement the `init` hook")]
    DuplicateInitHook {
        /// The first function, by name order.
        first: String,
        /// The second function.
        second: String,
    },
    /// A config key name breaks the key syntax.
    #[error("config key `{key}` {reason}")]
    InvalidConfigKey {
        /// The key.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A config default is not of the key's declared type.
    #[error("config key `{key}`: default {value} is not of type {ty}")]
    DefaultTypeMismatch {
        /// The key.
        key: String,
        /// The declared type.
        ty: ConfigType,
        /// The default given.
        value: ConfigValue,
    },
    /// A config key has a default and is also marked required.
    #[error("config key `{key}` has a default and is marked `required: true`")]
    RequiredWithDefault {
        /// The key.
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
