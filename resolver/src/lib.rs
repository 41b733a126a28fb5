//! Dependency resolution for wasmod modules. Pure: no I/O, no wasm, no clock.
//!
//! Input: a [`Catalog`] of available module versions (each with its dependencies as
//! semver requirements) and a request: module names, each optionally with a version
//! requirement. Output: a [`Plan`] with exactly one version per module of the closure of
//! the request — the highest that satisfies every requirement made on it, backtracking
//! when a higher choice leads to a conflict — listed in topological order (dependencies
//! first, ties broken by name).
//!
//! Every failure is explained ([`ResolveError`]): a missing module and who needs it; a
//! module no version of which satisfies every requirement, with each requirement, who
//! made it and which versions exist; a dependency cycle with its full path; a duplicate
//! definition of one name and version.
//!
//! The same catalog and request give the same plan (or the same error) whatever the
//! order in which either was given.
//!
//! ```
//! use wasmod_resolver::{Catalog, ModuleSpec, Request};
//!
//! let catalog = Catalog::new([
//!     ModuleSpec::parse("acme/audit", "1.0.0", &[]).unwrap(),
//!     ModuleSpec::parse("acme/audit", "1.4.0", &[]).unwrap(),
//!     ModuleSpec::parse("acme/orders", "2.0.0", &[("acme/audit", "^1.2")]).unwrap(),
//! ])
//! .unwrap();
//! let plan = catalog.resolve(&[Request::parse("acme/orders", None).unwrap()]).unwrap();
//! let order: Vec<String> = plan.modules.iter().map(|m| m.to_string()).collect();
//! assert_eq!(order, ["acme/audit@1.4.0", "acme/orders@2.0.0"]);
//! ```
#![deny(missing_docs)]

mod error;
mod plan;
mod solve;

use std::collections::BTreeMap;
use std::fmt;

pub use error::{CycleStep, Requirement, Requirer, ResolveError};
use semver::{Version, VersionReq};
use wasmod_manifest::{Manifest, ModuleName};

/// One available version of a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSpec {
    /// The module's name; the catalog groups versions by it.
    pub name: ModuleName,
    /// The version this spec describes; a catalog holds each name and version once.
    pub version: Version,
    /// Its dependencies: each module name with the semver requirement this version makes
    /// on it.
    pub dependencies: BTreeMap<ModuleName, VersionReq>,
}

impl ModuleSpec {
    /// The spec of a manifest.
    pub fn from_manifest(manifest: &Manifest) -> ModuleSpec {
        ModuleSpec {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            dependencies: manifest.dependencies.clone(),
        }
    }

    /// Builds a spec from strings (for tests, examples and tools).
    ///
    /// # Errors
    /// [`ParseError`] naming the first string that is not a module name, a version or
    /// a requirement.
    pub fn parse(name: &str, version: &str, dependencies: &[(&str, &str)]) -> Result<ModuleSpec, ParseError> {
        Ok(ModuleSpec {
            name: ModuleName::new(name)?,
            version: Version::parse(version)
                .map_err(|e| ParseError::Version { text: version.to_owned(), reason: e.to_string() })?,
            dependencies: dependencies
                .iter()
                .map(|(n, r)| Ok((ModuleName::new(*n)?, parse_requirement(r)?)))
                .collect::<Result<_, ParseError>>()?,
        })
    }
}

/// A requested module, optionally restricted to some versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The module wanted; resolution adds its dependencies.
    pub name: ModuleName,
    /// Acceptable versions; any if `None`.
    pub version: Option<VersionReq>,
}

impl Request {
    /// Requests any version of a module.
    pub fn any(name: ModuleName) -> Request {
        Request { name, version: None }
    }

    /// Builds a request from a module name and, optionally, a semver requirement.
    ///
    /// # Errors
    /// [`ParseError`] when the name is not a module name or the requirement does not
    /// parse.
    pub fn parse(name: &str, version: Option<&str>) -> Result<Request, ParseError> {
        Ok(Request { name: ModuleName::new(name)?, version: version.map(parse_requirement).transpose()? })
    }
}

/// `name` or `name@requirement`, as an operator writes it: `acme/orders`,
/// `acme/orders@^2`, `acme/orders@=2.0.1`.
///
/// ```
/// let request: wasmod_resolver::Request = "acme/orders@^2".parse().unwrap();
/// assert_eq!(request.name.as_str(), "acme/orders");
/// assert!(request.version.unwrap().matches(&"2.4.0".parse().unwrap()));
/// assert!("acme/orders@not-semver".parse::<wasmod_resolver::Request>().is_err());
/// ```
impl std::str::FromStr for Request {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Request, ParseError> {
        match text.split_once('@') {
            Some((name, requirement)) => Request::parse(name, Some(requirement)),
            None => Request::parse(text, None),
        }
    }
}

fn parse_requirement(text: &str) -> Result<VersionReq, ParseError> {
    VersionReq::parse(text).map_err(|e| ParseError::Requirement { text: text.to_owned(), reason: e.to_string() })
}

/// A module name, version or requirement given as a string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not a module name.
    #[error(transparent)]
    Name(#[from] wasmod_manifest::InvalidModuleName),
    /// Not a semver version.
    #[error("version `{text}`: {reason}")]
    Version {
        /// The string given.
        text: String,
        /// The semver parser's message.
        reason: String,
    },
    /// Not a semver requirement.
    #[error("requirement `{text}`: {reason}")]
    Requirement {
        /// The string given.
        text: String,
        /// The semver parser's message.
        reason: String,
    },
}

/// The available module versions, indexed. Building it rejects a name and version
/// given twice.
///
/// Internally every module name is interned to its rank in name order and every
/// dependency is pre-resolved to that index, so the search works on dense vectors, and
/// "smallest index" means "smallest name".
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Module names, sorted; a module's index is its position here.
    names: Vec<ModuleName>,
    /// Per module: its versions, ascending.
    versions: Vec<Vec<VersionEntry>>,
}

#[derive(Clone, Debug)]
struct VersionEntry {
    version: Version,
    dependencies: BTreeMap<ModuleName, VersionReq>,
    /// The same dependencies, with targets resolved to module indices where they exist.
    resolved: Vec<(DepTarget, VersionReq)>,
}

#[derive(Clone, Debug)]
enum DepTarget {
    Known(usize),
    Missing(ModuleName),
}

impl Catalog {
    /// Indexes the specs. Two specs with the same name and version are an error, even if
    /// identical: a catalog must not be ambiguous.
    pub fn new(specs: impl IntoIterator<Item = ModuleSpec>) -> Result<Catalog, ResolveError> {
        let mut by_name: BTreeMap<ModuleName, BTreeMap<Version, BTreeMap<ModuleName, VersionReq>>> = BTreeMap::new();
        let mut duplicates = Vec::new();
        for spec in specs {
            match by_name.entry(spec.name.clone()).or_default().entry(spec.version) {
                std::collections::btree_map::Entry::Occupied(e) => duplicates.push((spec.name, e.key().clone())),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(spec.dependencies);
                }
            }
        }
        if let Some((name, version)) = duplicates.into_iter().min() {
            return Err(ResolveError::Duplicate { name, version });
        }
        let names: Vec<ModuleName> = by_name.keys().cloned().collect();
        let index = |n: &ModuleName| names.binary_search(n).ok();
        let versions = by_name
            .into_values()
            .map(|versions| {
                versions
                    .into_iter()
                    .map(|(version, dependencies)| {
                        let resolved = dependencies
                            .iter()
                            .map(|(n, r)| {
                                (index(n).map_or_else(|| DepTarget::Missing(n.clone()), DepTarget::Known), r.clone())
                            })
                            .collect();
                        VersionEntry { version, dependencies, resolved }
                    })
                    .collect()
            })
            .collect();
        Ok(Catalog { names, versions })
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }

    /// The versions available for a module, ascending.
    pub fn versions(&self, name: &str) -> impl Iterator<Item = &Version> {
        self.index_of(name).into_iter().flat_map(|i| self.versions[i].iter().map(|e| &e.version))
    }

    /// The dependencies of one version.
    pub fn dependencies(&self, name: &str, version: &Version) -> Option<&BTreeMap<ModuleName, VersionReq>> {
        let i = self.index_of(name)?;
        self.versions[i].iter().find(|e| e.version == *version).map(|e| &e.dependencies)
    }

    /// Number of module versions, counting every version of every module.
    pub fn len(&self) -> usize {
        self.versions.iter().map(Vec::len).sum()
    }

    /// Whether the catalog holds no module version at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Resolves a request into a plan. See the [crate docs](crate).
    pub fn resolve(&self, request: &[Request]) -> Result<Plan, ResolveError> {
        solve::resolve(self, request, solve::DEFAULT_STEP_BUDGET)
    }

    /// [`resolve`](Self::resolve) with an explicit bound on search steps (each try of a
    /// candidate version is a step); exceeding it is [`ResolveError::TooComplex`].
    pub fn resolve_with_budget(&self, request: &[Request], steps: u64) -> Result<Plan, ResolveError> {
        solve::resolve(self, request, steps)
    }
}

/// One module of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedModule {
    /// The module's name; a plan holds each name once.
    pub name: ModuleName,
    /// The version chosen: the highest that satisfies every requirement made on the module
    /// without leading to a conflict (see the [crate docs](crate)).
    pub version: Version,
    /// Its direct dependencies (all in the plan, before it).
    pub dependencies: Vec<ModuleName>,
    /// Whether the request named it (rather than only a dependency chain).
    pub requested: bool,
}

impl fmt::Display for PlannedModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// An activation plan: one version per module, dependencies first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The modules in topological order, ties broken by name.
    pub modules: Vec<PlannedModule>,
}

impl Plan {
    /// The chosen version of a module, if it is in the plan.
    pub fn version_of(&self, name: &str) -> Option<&Version> {
        self.modules.iter().find(|m| m.name.as_str() == name).map(|m| &m.version)
    }
}
