//! Resolution errors, each explaining itself.

use std::fmt;

use semver::{Version, VersionReq};
use wasmod_manifest::ModuleName;

/// Who made a requirement.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requirer {
    /// The application's request.
    Request,
    /// A module version, through its dependencies.
    Module(ModuleName, Version),
}

impl fmt::Display for Requirer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirer::Request => f.write_str("the request"),
            Requirer::Module(n, v) => write!(f, "{n}@{v}"),
        }
    }
}

/// A requirement on a module and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// Who made the requirement: the request, or a module version through its
    /// dependencies.
    pub by: Requirer,
    /// What versions it accepts (`*` when the request names a module without a version).
    pub req: VersionReq,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} requires {}", self.by, self.req)
    }
}

fn list<T: fmt::Display>(items: &[T], sep: &str) -> String {
    items.iter().map(T::to_string).collect::<Vec<_>>().join(sep)
}

/// Why a request cannot be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A module that is required is not in the catalog at all.
    #[error("module `{name}` is not installed; needed by {}", list(.required_by, ", "))]
    MissingModule {
        /// The name required, of which the catalog holds no version.
        name: ModuleName,
        /// Who requires it, and how.
        required_by: Vec<Requirement>,
    },
    /// No version of a module satisfies every requirement made on it.
    #[error(
        "no version of `{name}` satisfies every requirement: {}; available: {}",
        list(.requirements, "; "),
        if .available.is_empty() { "none".to_string() } else { list(.available, ", ") }
    )]
    NoVersionSatisfies {
        /// The module every version of which fails some requirement.
        name: ModuleName,
        /// Every requirement made on it at the point of conflict.
        requirements: Vec<Requirement>,
        /// The versions the catalog holds, ascending.
        available: Vec<Version>,
    },
    /// The chosen versions depend on each other in a cycle.
    #[error("dependency cycle: {}", list(.path, " → "))]
    Cycle {
        /// The cycle, starting and ending with the same module.
        path: Vec<CycleStep>,
    },
    /// The catalog holds one name and version twice.
    #[error("`{name}@{version}` is defined more than once")]
    Duplicate {
        /// The module name given twice with one version.
        name: ModuleName,
        /// The version given twice for that name.
        version: Version,
    },
    /// The search gave up after its step budget.
    #[error("resolution gave up after {steps} steps; the requirements are too entangled")]
    TooComplex {
        /// The step budget that ran out, in candidate versions tried: one million for
        /// [`Catalog::resolve`](crate::Catalog::resolve), or the budget given to
        /// [`Catalog::resolve_with_budget`](crate::Catalog::resolve_with_budget).
        steps: u64,
    },
}

/// One module version on a cycle path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleStep {
    /// A module on the cycle; its chosen version depends on the next step's module.
    pub name: ModuleName,
    /// The version the search chose for it.
    pub version: Version,
}

impl fmt::Display for CycleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}
