//! Extension points: which active functions implement a subsystem
//! ([`Activation::implementations`]), the activation rule for subsystems of cardinality
//! `one`, and calls by subsystem: of the single implementation
//! ([`Activation::call_one`]) or of each, in plan order ([`Activation::call_each`]).

use std::collections::BTreeMap;

use wasmod_runtime::CallOutcome;

use crate::activation::ActiveModule;
use crate::{Activation, Cardinality, Error, HostPolicy, ModuleName, OnError, Plan, Version};

/// One active function implementing a subsystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Implementation {
    /// The module it belongs to.
    pub module: ModuleName,
    /// The version of the module in the activation.
    pub version: Version,
    /// The function's name in the module's manifest.
    pub function: String,
}

impl std::fmt::Display for Implementation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{} ({})", self.module, self.version, self.function)
    }
}

/// The result of one implementation's call in [`Activation::call_each`].
#[derive(Debug)]
pub struct SubsystemCall {
    /// Which function was called.
    pub implementation: Implementation,
    /// What it returned, or how it failed (as [`Activation::call`] fails).
    pub result: Result<CallOutcome, Error>,
}

/// The implementations of `subsystem` among `modules`, in plan order, and within a module
/// by function name.
pub(crate) fn implementations_in(
    plan: &Plan,
    modules: &BTreeMap<ModuleName, ActiveModule>,
    subsystem: &str,
) -> Vec<Implementation> {
    let mut found = Vec::new();
    // The lifecycle hook is the activation's to run, once, in its init phase.
    if HostPolicy::is_lifecycle_hook(subsystem) {
        return found;
    }
    for planned in &plan.modules {
        let Some(active) = modules.get(&planned.name) else { continue };
        for (name, function) in &active.manifest.functions {
            if function.implements == subsystem {
                found.push(Implementation {
                    module: planned.name.clone(),
                    version: planned.version.clone(),
                    function: name.clone(),
                });
            }
        }
    }
    found
}

/// Refuses an activation in which a subsystem of cardinality `one` (listed, or taken
/// from `any_subsystem`) has more than one implementation, naming them all (the first
/// such subsystem by name).
pub(crate) fn check_cardinality(
    policy: &HostPolicy,
    plan: &Plan,
    modules: &BTreeMap<ModuleName, ActiveModule>,
) -> Result<(), Error> {
    let implemented: std::collections::BTreeSet<&str> =
        modules.values().flat_map(|m| m.manifest.functions.values().map(|f| f.implements.as_str())).collect();
    for subsystem in implemented {
        if policy.subsystem(subsystem).is_none_or(|def| def.cardinality != Cardinality::One) {
            continue;
        }
        let found = implementations_in(plan, modules, subsystem);
        if found.len() > 1 {
            return Err(Error::TooManyImplementations {
                subsystem: subsystem.to_owned(),
                implementations: found.iter().map(Implementation::to_string).collect(),
            });
        }
    }
    Ok(())
}

impl Activation {
    /// The active functions that implement `subsystem`, in plan order (dependencies
    /// first), and within a module by function name. Empty for a subsystem nothing
    /// implements.
    pub fn implementations(&self, subsystem: &str) -> Vec<Implementation> {
        implementations_in(&self.plan, &self.state.modules, subsystem)
    }

    /// Calls the single implementation of `subsystem`.
    ///
    /// # Errors
    /// [`Error::NoImplementation`] when no active function implements it,
    /// [`Error::TooManyImplementations`] when several do (call them with
    /// [`Activation::call_each`]), [`Error::Call`] when the call fails.
    pub fn call_one(&self, subsystem: &str, input: &[u8]) -> Result<CallOutcome, Error> {
        let found = self.implementations(subsystem);
        match found.as_slice() {
            [] => Err(Error::NoImplementation { subsystem: subsystem.to_owned() }),
            [only] => self.call(only.module.as_str(), &only.function, input),
            _ => Err(Error::TooManyImplementations {
                subsystem: subsystem.to_owned(),
                implementations: found.iter().map(Implementation::to_string).collect(),
            }),
        }
    }

    /// Calls every implementation of `subsystem` with the same input, in plan order.
    /// Under the subsystem's `on_error: stop` (the default) the list ends with the first
    /// failure and the implementations after it are not called; under `collect` every
    /// implementation is called. Empty when nothing implements it.
    pub fn call_each(&self, subsystem: &str, input: &[u8]) -> Vec<SubsystemCall> {
        let on_error = self.policy.subsystem(subsystem).map_or(OnError::Stop, |def| def.on_error);
        let mut results = Vec::new();
        for implementation in self.implementations(subsystem) {
            let result = self.call(implementation.module.as_str(), &implementation.function, input);
            let failed = result.is_err();
            results.push(SubsystemCall { implementation, result });
            if failed && on_error == OnError::Stop {
                break;
            }
        }
        results
    }
}
