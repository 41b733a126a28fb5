//! What an upgrade asks for: the groups each function of a new version requests that
//! the same function of the previously installed version did not, and the dependencies
//! it declares that the previous version did not. An install that asks for more is
//! refused unless approved ([`InstallOptions::allow_new_grants`]).

use std::fmt;

use crate::Manifest;

/// How an install treats a version that asks for more than the one installed before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Install even if a function requests groups the previously installed version's
    /// function of that name did not (a new function counts as requesting all of its
    /// groups). Off by default: the refusal lists the difference for an operator to
    /// approve.
    pub allow_new_grants: bool,
}

/// The groups one function of a new version requests beyond the previous version's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantChange {
    /// The function, by its manifest name.
    pub function: String,
    /// Whether the previous version had no function of that name.
    pub new_function: bool,
    /// The groups it requests that the previous version's function did not, sorted.
    pub added: Vec<String>,
}

impl fmt::Display for GrantChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let new = if self.new_function { " (new)" } else { "" };
        let added: Vec<String> = self.added.iter().map(|g| format!("+{g}")).collect();
        write!(f, "{}{new}: {}", self.function, added.join(" "))
    }
}

/// The dependencies `next` declares that `previous` did not, by name. Each widens what
/// the module reaches (its config through `config`, its functions through `modules`).
pub(crate) fn new_dependencies(previous: &Manifest, next: &Manifest) -> Vec<String> {
    next.dependencies.keys().filter(|d| !previous.dependencies.contains_key(*d)).map(ToString::to_string).collect()
}

/// Every function of `next` that requests a group its namesake in `previous` did not,
/// in function-name order.
pub(crate) fn new_grants(previous: &Manifest, next: &Manifest) -> Vec<GrantChange> {
    next.functions
        .iter()
        .filter_map(|(name, function)| {
            let before = previous.functions.get(name);
            let added: Vec<String> =
                function.groups.iter().filter(|g| before.is_none_or(|b| !b.groups.contains(g))).cloned().collect();
            (!added.is_empty()).then(|| GrantChange { function: name.clone(), new_function: before.is_none(), added })
        })
        .collect()
}
