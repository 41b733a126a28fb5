//! The typed, checked manifest.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use semver::{Version, VersionReq};
use serde::{Serialize, Serializer};
use wasmod_host_abi::{ConfigType, ConfigValue};

/// A checked module name, `namespace/name` (see
/// [`check_module_name`](wasmod_host_abi::names::check_module_name)). Cheap to clone
/// (shared, immutable).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleName(Arc<str>);

/// A string that is not a valid module name, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("module name `{name}` {reason}")]
pub struct InvalidModuleName {
    /// The string given.
    pub name: String,
    /// Which rule of the syntax it breaks (its text is a phrase: `must have exactly two
    /// segments, ...`).
    pub reason: wasmod_host_abi::names::NameError,
}

impl ModuleName {
    /// Checks and wraps a name.
    ///
    /// # Errors
    /// [`InvalidModuleName`] when `name` breaks the syntax, with the rule it breaks.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidModuleName> {
        let name = name.into();
        match wasmod_host_abi::names::check_module_name(&name) {
            Ok(()) => Ok(ModuleName(name.into())),
            Err(reason) => Err(InvalidModuleName { name, reason }),
        }
    }

    /// The whole name, `namespace/name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the slash.
    pub fn namespace(&self) -> &str {
        self.0.split_once('/').map_or("", |(ns, _)| ns)
    }
}

impl fmt::Display for ModuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ModuleName {
    type Err = InvalidModuleName;
    fn from_str(s: &str) -> Result<Self, InvalidModuleName> {
        ModuleName::new(s)
    }
}

impl AsRef<str> for ModuleName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ModuleName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Serialize for ModuleName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A module manifest (`module.ron`), checked. Build one with
/// [`Manifest::from_ron`]; write it back with [`Manifest::to_ron`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename = "Manifest")]
pub struct Manifest {
    /// The module's name, `namespace/name`.
    pub name: ModuleName,
    /// The semver version of this release.
    pub version: Version,
    /// A one-paragraph description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Modules this module depends on, with the versions it accepts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<ModuleName, VersionReq>,
    /// The config keys this module contributes to the application's config.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, ConfigKey>,
    /// The module's functions by name; the name is also the wasm export.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub functions: BTreeMap<String, Function>,
}

/// One config key a module contributes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename = "ConfigKey")]
pub struct ConfigKey {
    /// The type the application's value, and the default, must have.
    #[serde(rename = "type")]
    pub ty: ConfigType,
    /// The value used when the application sets none. Always of type [`ty`](Self::ty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<ConfigValue>,
    /// Whether the application must set it (only meaningful without a default).
    #[serde(skip_serializing_if = "is_false")]
    pub required: bool,
    /// What the key means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One function of a module: one wasm file in the package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename = "Function")]
pub struct Function {
    /// The wasm file in the package, a relative, normalised path ending in `.wasm`.
    pub file: String,
    /// The host subsystem function it implements, or the lifecycle hook `init`.
    pub implements: String,
    /// The host-function groups it imports from, sorted.
    pub groups: Vec<String>,
}

impl Manifest {
    /// The function implementing the `init` lifecycle hook, if any.
    pub fn init_function(&self) -> Option<(&str, &Function)> {
        self.functions
            .iter()
            .find(|(_, f)| f.implements == wasmod_host_abi::abi::INIT_HOOK)
            .map(|(n, f)| (n.as_str(), f))
    }

    /// `name@version`, for messages.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}
