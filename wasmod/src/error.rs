//! [`Error`], everything the embedder's API can fail with.

use wasmod_runtime::CallError;

use crate::{ConfigProblem, KeyError, KvError, PolicyProblem, Report, ResolveError, StoreIoError};

/// Everything that can go wrong, with the context to act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store directory could not be read or written.
    #[error(transparent)]
    Io(#[from] StoreIoError),
    /// The store's kv data could not be opened, read or written (see [`KvError`]).
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The artifact key could not be read or made.
    #[error(transparent)]
    ArtifactKey(#[from] KeyError),
    /// The host policy is incoherent: every problem found.
    #[error("the host policy is incoherent:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Policy(Vec<PolicyProblem>),
    /// The package was rejected by validation (nothing was installed).
    #[error("{0}")]
    Rejected(Report),
    /// This name and version is installed with different content.
    #[error("{module} is already installed with different content; bump the version to publish a change")]
    Conflict {
        /// `name@version`.
        module: String,
    },
    /// The module version is not installed.
    #[error("{module} is not installed")]
    NotInstalled {
        /// `name@version`.
        module: String,
    },
    /// Other installed modules need the version being uninstalled.
    #[error("{module} is needed by {}; uninstall them first or force", .dependents.join(", "))]
    InUse {
        /// `name@version`.
        module: String,
        /// `dependent@version requires REQ`, one per dependent.
        dependents: Vec<String>,
    },
    /// The module's kv data cannot be purged while versions of it are installed.
    #[error("{module} still has installed versions ({}); uninstall them before purging its kv data", .versions.join(", "))]
    StillInstalled {
        /// The module's name, without a version (kv data belongs to the name).
        module: String,
        /// Its installed versions, `name@version`.
        versions: Vec<String>,
    },
    /// A stored package no longer reads (the store was modified by hand or damaged).
    #[error("the stored package of {module} is damaged: {reason}")]
    CorruptStore {
        /// The damaged module version, as `name@version`.
        module: String,
        /// Why the stored archive does not read: the package reader's error, as text.
        reason: String,
    },
    /// The request cannot be resolved.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// An installed module no longer passes validation under the current policy.
    #[error("{module} does not pass validation under the current policy:\n{report}")]
    NoLongerValid {
        /// `name@version`.
        module: String,
        /// The validator's diagnostics under the current policy.
        report: Report,
    },
    /// The application's config does not fit the active modules' schemas.
    #[error("the config has {} problem(s):\n  {}", .0.len(), .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
    Config(Vec<ConfigProblem>),
    /// A function could not be compiled or loaded.
    #[error(transparent)]
    Load(#[from] wasmod_runtime::LoadError),
    /// A module's `init` hook failed; the activation was abandoned.
    #[error("activation abandoned: the init hook of {module} failed: {error}")]
    Init {
        /// `name@version`.
        module: String,
        /// The failed call of the hook (what went wrong and what it measured).
        error: Box<CallError>,
    },
    /// The module is not part of the activation.
    #[error("{module} is not active (active: {active})")]
    NotActive {
        /// The module name asked for.
        module: String,
        /// The names of the activation's modules, comma-separated.
        active: String,
    },
    /// The module has no such function.
    #[error("{module} has no function `{function}` (it has: {available})")]
    NoSuchFunction {
        /// The module name asked for, or `name@version` when an `init` hook is missing.
        module: String,
        /// The function name asked for, or the `init` hook's.
        function: String,
        /// The names of the module's functions, comma-separated.
        available: String,
    },
    /// A function of an active module ran and failed (see `CallError::kind`).
    #[error(transparent)]
    Call(Box<CallError>),
    /// An activation would have more than one implementation of a subsystem of
    /// cardinality `one`, or a call of the single implementation found several.
    #[error("subsystem `{subsystem}` needs exactly one implementation here, but the activation has {}: {}", .implementations.len(), .implementations.join(", "))]
    TooManyImplementations {
        /// The subsystem.
        subsystem: String,
        /// Each implementation, as `name@version (function)`, in plan order.
        implementations: Vec<String>,
    },
    /// The function failed too often in a row and is quarantined: the call was not
    /// run ([`QuarantinePolicy`](crate::QuarantinePolicy)).
    #[error(
        "{module} function `{function}` is quarantined after {failures} failures in a row; retry in {retry_after:?}"
    )]
    Quarantined {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The failures in a row that started the quarantine.
        failures: u32,
        /// How long until it may run again.
        retry_after: std::time::Duration,
    },
    /// A new version of a module asks for groups, or declares dependencies, the
    /// previously installed version did not, and the install did not approve them
    /// ([`InstallOptions::allow_new_grants`](crate::InstallOptions::allow_new_grants)).
    #[error(
        "{module} asks for more than {previous} was granted: {}; approve it to install (`InstallOptions::allow_new_grants`, or the CLI's `--allow-new-grants`)",
        new_grants_text(changes, new_dependencies)
    )]
    NewGrants {
        /// The version being installed, `name@version`.
        module: String,
        /// The installed version it is compared with (the highest), `name@version`.
        previous: String,
        /// What each function asks for beyond the previous version's.
        changes: Vec<crate::GrantChange>,
        /// The modules it depends on that the previous version did not (whose config
        /// and functions it can then reach), by name.
        new_dependencies: Vec<String>,
    },
    /// No active function implements the subsystem called.
    #[error("no active module implements subsystem `{subsystem}`")]
    NoImplementation {
        /// The subsystem.
        subsystem: String,
    },
    /// A typed call's input could not be encoded, or its output is not the type asked
    /// for ([`Activation::call_json`](crate::Activation::call_json)).
    #[error("{module}: the {direction} of `{function}` is not {format} of the type asked for: {reason}")]
    Encoding {
        /// The module called.
        module: String,
        /// The function called.
        function: String,
        /// `JSON` or `postcard`.
        format: &'static str,
        /// `input` (encoding failed) or `output` (decoding failed).
        direction: &'static str,
        /// The encoder's or decoder's message.
        reason: String,
    },
}

/// The difference of [`Error::NewGrants`] as text: `run: +kv; extra (new): +log;
/// depends on: +acme/lib`.
fn new_grants_text(changes: &[crate::GrantChange], new_dependencies: &[String]) -> String {
    let mut parts: Vec<String> = changes.iter().map(ToString::to_string).collect();
    if !new_dependencies.is_empty() {
        let added: Vec<String> = new_dependencies.iter().map(|d| format!("+{d}")).collect();
        parts.push(format!("depends on: {}", added.join(" ")));
    }
    parts.join("; ")
}
