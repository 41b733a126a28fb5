//! A policy's coherence ([`HostPolicy::check`]): the groups it offers exist and are
//! defined once, its subsystems are well named and allow only offered groups. An
//! incoherent policy rejects every package, with a diagnostic that says it is the
//! embedder's configuration at fault.

use wasmod_host_abi::groups::standard_group;
use wasmod_host_abi::names::{NameError, check_dotted_name};

use crate::HostPolicy;

/// One way a policy contradicts itself ([`HostPolicy::check`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyProblem {
    /// `standard_groups` names a group that is not a standard group.
    #[error("standard_groups: `{0}` is not a standard group")]
    UnknownStandardGroup(String),
    /// A custom group's name breaks the dotted-name syntax.
    #[error("custom group `{group}`: name {reason}")]
    BadGroupName {
        /// The group's name as given.
        group: String,
        /// Which rule of the syntax it breaks.
        reason: NameError,
    },
    /// A custom group takes the name of a standard group.
    #[error("custom group `{0}` has the name of a standard group")]
    GroupShadowsStandard(String),
    /// Two custom groups have the same name.
    #[error("custom group `{0}` is defined twice")]
    GroupDefinedTwice(String),
    /// A custom group defines a function name twice.
    #[error("custom group `{group}`: function `{function}` is defined twice")]
    FunctionDefinedTwice {
        /// The group.
        group: String,
        /// The function defined twice.
        function: String,
    },
    /// `any_subsystem` allows a group the policy does not offer.
    #[error("any_subsystem allows group `{0}`, which this policy does not offer")]
    AnySubsystemGroupNotOffered(String),
    /// A subsystem's name breaks the dotted-name syntax.
    #[error("subsystem `{subsystem}`: name {reason}")]
    BadSubsystemName {
        /// The subsystem's name as given.
        subsystem: String,
        /// Which rule of the syntax it breaks.
        reason: NameError,
    },
    /// A subsystem allows a group the policy does not offer.
    #[error("subsystem `{subsystem}` allows group `{group}`, which this policy does not offer")]
    GroupNotOffered {
        /// The subsystem.
        subsystem: String,
        /// The group it allows.
        group: String,
    },
}

impl HostPolicy {
    /// Checks that the policy itself is coherent.
    ///
    /// # Errors
    /// Every problem found, in the order of the policy's fields.
    pub fn check(&self) -> Result<(), Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        for name in &self.standard_groups {
            if standard_group(name).is_none() {
                problems.push(PolicyProblem::UnknownStandardGroup(name.clone()));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for g in &self.custom_groups {
            if let Err(reason) = check_dotted_name(&g.name) {
                problems.push(PolicyProblem::BadGroupName { group: g.name.to_string(), reason });
            }
            if standard_group(&g.name).is_some() {
                problems.push(PolicyProblem::GroupShadowsStandard(g.name.to_string()));
            }
            if !seen.insert(&g.name) {
                problems.push(PolicyProblem::GroupDefinedTwice(g.name.to_string()));
            }
            let mut fns = std::collections::BTreeSet::new();
            for f in g.functions.iter() {
                if !fns.insert(&f.name) {
                    problems.push(PolicyProblem::FunctionDefinedTwice {
                        group: g.name.to_string(),
                        function: f.name.to_string(),
                    });
                }
            }
        }
        if let Some(any) = &self.any_subsystem {
            for g in &any.groups {
                if self.group(g).is_none() {
                    problems.push(PolicyProblem::AnySubsystemGroupNotOffered(g.clone()));
                }
            }
        }
        for (name, sub) in &self.subsystems {
            if let Err(reason) = check_dotted_name(name) {
                problems.push(PolicyProblem::BadSubsystemName { subsystem: name.clone(), reason });
            }
            for g in &sub.groups {
                if self.group(g).is_none() {
                    problems.push(PolicyProblem::GroupNotOffered { subsystem: name.clone(), group: g.clone() });
                }
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}
