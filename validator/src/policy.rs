//! The host policy: which groups a host offers, which subsystems it has, which groups
//! each subsystem may use, and the limits on a package's files and its modules' `kv`
//! data. Plain data, so a host can build it in code or load it from a RON file
//! ([`load_policy`]). It is the host's side only: guests never see it, which is why it
//! lives here, with what checks packages against it, and not in the ABI crate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use wasmod_host_abi::abi::INIT_HOOK;
use wasmod_host_abi::groups::{GroupDef, STANDARD_GROUPS, standard_group};

use crate::PolicyProblem;

/// A subsystem function of the host (an extension point), or a lifecycle hook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsystemDef {
    /// The groups a module function implementing this subsystem may import.
    pub groups: Vec<String>,
    /// What the subsystem is for and what it passes in and expects out.
    #[serde(default)]
    pub doc: String,
    /// How many active functions may implement it: `one` (an activation with two is
    /// refused, naming both) or `many` (hooks, called in plan order), the default.
    #[serde(default)]
    pub cardinality: Cardinality,
    /// What a failing implementation does when every implementation is called
    /// (`Activation::call_each`): `stop` there (the default) or `collect` every result.
    #[serde(default)]
    pub on_error: OnError,
}

/// How many active functions may implement a subsystem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cardinality {
    /// At most one: the extension point has a single provider.
    One,
    /// Any number: a hook every active implementation gets, in plan order.
    #[default]
    Many,
}

/// What a failing implementation does when every implementation of a subsystem is called.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop at the first failure: the implementations after it are not called.
    #[default]
    Stop,
    /// Call every implementation and report each result.
    Collect,
}

impl SubsystemDef {
    /// A subsystem whose implementations may import `groups`, with cardinality `many`
    /// and `stop` on error.
    pub fn new(groups: &[&str], doc: &str) -> Self {
        SubsystemDef {
            groups: groups.iter().map(|g| g.to_string()).collect(),
            doc: doc.to_owned(),
            cardinality: Cardinality::Many,
            on_error: OnError::Stop,
        }
    }

    /// The same with cardinality `one`: at most one active implementation.
    pub fn one(self) -> Self {
        SubsystemDef { cardinality: Cardinality::One, ..self }
    }

    /// The same with `collect` on error: calling every implementation goes on past a
    /// failure.
    pub fn collect_errors(self) -> Self {
        SubsystemDef { on_error: OnError::Collect, ..self }
    }

    /// The groups it allows, for a message: `log, kv`, or `no groups`.
    pub(crate) fn allowed_groups(&self) -> String {
        if self.groups.is_empty() { "no groups".into() } else { self.groups.join(", ") }
    }
}

/// Static limits on a package's function files. Only the validator reads them (a host
/// runs it at install and again at every activation); nothing here is enforced while a
/// call runs: a call's memory, tables, fuel and time are the runtime's `CallLimits`, set
/// independently of the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// The serde name stays `Limits`, so policy files that name the struct still load.
#[serde(rename = "Limits", deny_unknown_fields, default)]
pub struct FileLimits {
    /// Largest function file, in bytes.
    pub max_file_bytes: u64,
    /// Most functions in one package.
    pub max_functions: u32,
    /// Most linear-memory pages (64 KiB each) a function file's memory may start with:
    /// a larger initial size is an error, and a declared maximum above it only a
    /// warning. It does not stop `memory.grow` at run time; the runtime's
    /// `CallLimits::memory_pages` does, whatever this value is.
    pub max_memory_pages: u32,
    /// Most elements any one table of a function file may start with. It does not stop
    /// `table.grow` at run time; the runtime's `CallLimits::table_elements` does.
    pub max_table_elements: u32,
    /// Most bytes of data segments in one function file.
    pub max_data_bytes: u64,
    /// Most imports in one function file.
    pub max_imports: u32,
    /// Most functions defined inside one function file.
    pub max_defined_functions: u32,
}

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            max_file_bytes: 8 << 20,
            max_functions: 64,
            max_memory_pages: 256,
            max_table_elements: 10_000,
            max_data_bytes: 4 << 20,
            max_imports: 64,
            max_defined_functions: 20_000,
        }
    }
}

/// Bounds on the `kv` data of modules. A write that would take a module past them gets
/// the status `LIMIT`; nothing is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvLimits {
    /// Most bytes (keys plus values) one module may keep.
    pub max_bytes_per_module: u64,
    /// Most keys one module may keep.
    pub max_keys_per_module: u64,
    /// Most bytes (keys plus values) the `init` hooks of one activation may write in
    /// all: their writes are held in memory until every hook has succeeded.
    pub max_init_bytes: u64,
}

impl Default for KvLimits {
    fn default() -> Self {
        KvLimits { max_bytes_per_module: 64 << 20, max_keys_per_module: 100_000, max_init_bytes: 16 << 20 }
    }
}

/// When a function is quarantined: after `after_failures` consecutive failed calls
/// that were not the function's own error return (traps, panics, timeouts, running out
/// of fuel or memory, bad pointers, host traps), its calls fail fast for `cooldown_ms`;
/// the first call after the cooldown runs again. A call that returns (a value or its own
/// error) ends the streak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantinePolicy {
    /// Consecutive failures before the quarantine starts; `0` never quarantines.
    pub after_failures: u32,
    /// How long the quarantine lasts, in milliseconds.
    pub cooldown_ms: u64,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        QuarantinePolicy { after_failures: 5, cooldown_ms: 30_000 }
    }
}

/// Everything a host allows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPolicy {
    /// The standard groups (from [`STANDARD_GROUPS`]) this host offers, by name.
    /// Defaults to all of them.
    #[serde(default = "all_standard_group_names")]
    pub standard_groups: Vec<String>,
    /// Groups the embedder defines itself.
    #[serde(default)]
    pub custom_groups: Vec<GroupDef>,
    /// The subsystems (extension points and lifecycle hooks) by name.
    pub subsystems: BTreeMap<String, SubsystemDef>,
    /// Limits on each function file of a package, checked by the validator (see
    /// [`FileLimits`]); not the limits of a running call.
    #[serde(default)]
    pub limits: FileLimits,
    /// Bounds on modules' `kv` data.
    #[serde(default)]
    pub kv: KvLimits,
    /// When a function that keeps failing is set aside for a while.
    #[serde(default)]
    pub quarantine: QuarantinePolicy,
    /// What a subsystem that is not listed may use. `None` (the default) refuses
    /// functions implementing unlisted subsystems; a development host can set it to
    /// accept any subsystem name.
    #[serde(default)]
    pub any_subsystem: Option<SubsystemDef>,
}

fn all_standard_group_names() -> Vec<String> {
    STANDARD_GROUPS.iter().map(|g| g.name.to_string()).collect()
}

impl HostPolicy {
    /// A policy offering every standard group and no subsystem yet.
    pub fn new() -> Self {
        HostPolicy {
            standard_groups: all_standard_group_names(),
            custom_groups: Vec::new(),
            subsystems: BTreeMap::new(),
            limits: FileLimits::default(),
            kv: KvLimits::default(),
            quarantine: QuarantinePolicy::default(),
            any_subsystem: None,
        }
    }

    /// A permissive policy for development: every standard group offered, and any
    /// subsystem (listed or not) may use all of them.
    pub fn development() -> Self {
        let groups = all_standard_group_names();
        HostPolicy {
            any_subsystem: Some(SubsystemDef {
                groups,
                ..SubsystemDef::new(&[], "any subsystem (development policy)")
            }),
            ..HostPolicy::new()
        }
    }

    /// Adds (or replaces) a subsystem that may use the given groups.
    pub fn with_subsystem(mut self, name: &str, groups: &[&str], doc: &str) -> Self {
        self.subsystems.insert(name.to_owned(), SubsystemDef::new(groups, doc));
        self
    }

    /// Adds (or replaces) a subsystem with every setting given (cardinality, failure
    /// mode).
    pub fn with_subsystem_def(mut self, name: &str, def: SubsystemDef) -> Self {
        self.subsystems.insert(name.to_owned(), def);
        self
    }

    /// Adds an embedder-defined group.
    pub fn with_custom_group(mut self, group: GroupDef) -> Self {
        self.custom_groups.push(group);
        self
    }

    /// Looks up an offered group by name.
    pub fn group(&self, name: &str) -> Option<&GroupDef> {
        if self.standard_groups.iter().any(|g| g == name) {
            return standard_group(name);
        }
        self.custom_groups.iter().find(|g| g.name == name)
    }

    /// All offered groups, standard first.
    pub fn groups(&self) -> impl Iterator<Item = &GroupDef> {
        self.standard_groups.iter().filter_map(|n| standard_group(n)).chain(self.custom_groups.iter())
    }

    /// Looks up a subsystem (falling back to [`any_subsystem`](Self::any_subsystem)).
    pub fn subsystem(&self, name: &str) -> Option<&SubsystemDef> {
        self.subsystems.get(name).or(self.any_subsystem.as_ref())
    }

    /// Whether `name` is the lifecycle hook.
    pub fn is_lifecycle_hook(name: &str) -> bool {
        name == INIT_HOOK
    }
}

impl Default for HostPolicy {
    fn default() -> Self {
        HostPolicy::new()
    }
}

/// Why a host policy file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not RON of the policy's shape.
    #[error("policy:{line}:{column}: {message}")]
    Syntax {
        /// The 1-based line where the parser stopped.
        line: usize,
        /// The 1-based column where the parser stopped.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Parsed, but breaks the policy's own rules ([`HostPolicy::check`]); every problem,
    /// one message each.
    #[error("the policy is incoherent:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Incoherent(Vec<PolicyProblem>),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;
    use wasmod_host_abi::groups::HostFunctionDef;
    use wasmod_host_abi::types::{Signature, ValType};

    fn inventory() -> GroupDef {
        GroupDef {
            name: Cow::Borrowed("acme.inventory"),
            version: 2,
            doc: Cow::Borrowed(""),
            functions: Cow::Owned(vec![HostFunctionDef {
                name: "stock".into(),
                signature: Signature::new(&[ValType::I32, ValType::I32], &[ValType::I64]),
                doc: "".into(),
            }]),
        }
    }

    #[test]
    fn coherent_policy_passes() {
        let p = HostPolicy::new()
            .with_custom_group(inventory())
            .with_subsystem("orders.place", &["log", "kv", "acme.inventory"], "")
            .with_subsystem("init", &["config"], "");
        p.check().unwrap();
        assert_eq!(p.group("acme.inventory").unwrap().version, 2);
        assert_eq!(p.group("kv").unwrap().name, "kv");
        assert_eq!(p.groups().count(), STANDARD_GROUPS.len() + 1);
    }

    #[test]
    fn incoherent_policy_reports_everything() {
        let mut p = HostPolicy::new().with_custom_group(inventory()).with_custom_group(inventory()).with_subsystem(
            "Bad",
            &["nope"],
            "",
        );
        p.standard_groups.push("fs".into());
        let problems = p.check().unwrap_err();
        assert!(
            matches!(
                problems.as_slice(),
                [
                    PolicyProblem::UnknownStandardGroup(fs),
                    PolicyProblem::GroupDefinedTwice(twice),
                    PolicyProblem::BadSubsystemName { subsystem: bad, .. },
                    PolicyProblem::GroupNotOffered { subsystem: bad2, group: nope },
                ] if fs == "fs" && twice == "acme.inventory" && bad == "Bad" && bad2 == "Bad" && nope == "nope"
            ),
            "{problems:#?}"
        );
    }

    #[test]
    fn development_policy_accepts_any_subsystem() {
        let p = HostPolicy::development();
        p.check().unwrap();
        assert_eq!(p.subsystem("anything.at.all").unwrap().groups.len(), STANDARD_GROUPS.len());
        assert!(HostPolicy::new().subsystem("anything").is_none());
    }

    #[test]
    fn withheld_standard_group_is_not_offered() {
        let mut p = HostPolicy::new();
        p.standard_groups.retain(|g| g != "random");
        assert!(p.group("random").is_none());
    }
}
