//! [`Error`], everything the embedder's API can fail with.

use wasmod_runtime::CallError;

use crate::{ConfigProblem, KeyError, KvError, Report, ResolveError, StoreIoError};

/// Everything that can go wrong, with the context to act on it.
#[derive(Debug, thiserror::Error)]
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
    /// The host policy is incoherent.
    #[error("the host policy is incoherent:\n  {}", .0.join("\n  "))]
    Policy(Vec<String>),
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
}
