//! wasmod: extend an application with WebAssembly modules, safely.
//!
//! This is the embedder's crate. A host application declares its extension points
//! (*subsystems*) and the host-function groups each may use, opens a module store, and
//! installs, activates and calls modules:
//!
//! ```
#![doc = include_str!("../examples/embed.rs")]
//! ```
//!
//! (This is `examples/embed.rs`; it runs as this crate's doctest. The same flow with a
//! module built from Rust on the sdk and installed from a file is `cargo xtask demo`.)
//!
//! - **Store** ([`Host::install`], [`Host::uninstall`], [`Host::list`]): a directory
//!   (default `./.wasmod`) with every installed version of every module, its compiled
//!   artifacts, and the `kv` database. Installs and uninstalls are atomic: a crash leaves
//!   each version fully installed or absent. Several processes may use one store at once
//!   (a lock file orders them), and a version damaged outside wasmod is reported by
//!   [`Host::list`] and ignored. Installing a name and version again with other content
//!   is refused; uninstalling a version other modules need is refused
//!   ([`Host::uninstall_even_if_needed`] removes it anyway).
//!   Compiled artifacts are loaded only if they carry a MAC under the host's artifact key,
//!   kept outside the store ([`HostBuilder::artifact_key_file`]).
//! - **Activation** ([`Host::activate`]): only the requested modules and their
//!   dependencies, one version each; config schemas merged and the application's values
//!   checked (every problem at once); `init` hooks run in dependency order, each may read
//!   its own and its dependencies' config and write its own keys (provenance recorded).
//!   A failing hook aborts the activation and nothing of it remains: its config and its
//!   `kv` writes are discarded.
//! - **Extension points**: each subsystem of the policy says how many active functions
//!   may implement it ([`Cardinality`]: `one`, or `many` for hooks). An activation lists
//!   them in plan order ([`Activation::implementations`]) and calls by subsystem: the
//!   single implementation ([`Activation::call_one`]) or each of them
//!   ([`Activation::call_each`], stopping at the first failure or collecting every
//!   result, as the subsystem's [`OnError`] says).
//! - **Upgrades**: installing a newer version never touches an activation that is
//!   serving calls. Activate again beside it ([`Host::activate`]) and swap to the new
//!   [`Activation`] when that succeeds; a failure (a config the new schemas refuse, a
//!   failing `init`) leaves the old one serving, and the `kv` data carries over (it
//!   belongs to the module name). A version whose functions ask for groups the
//!   installed version's did not, or that declares new dependencies, is refused unless
//!   approved ([`Host::install_with`], [`InstallOptions::allow_new_grants`]).
//! - **Failure policy**: every call of a function is counted, the embedder's, the
//!   `init` hooks' and other modules' (`modules.call`) ([`Host::statistics`]); a
//!   function that fails too often in a row is quarantined for a while
//!   ([`QuarantinePolicy`]).
//! - **Typed calls**: [`Activation::call_json`] and [`Activation::call_postcard`] encode
//!   the input and decode the output as the sdk does on the guest's side.
//! - **Standard groups**: `log` (to `tracing`, target `wasmod::guest`), `config`, `clock`,
//!   `random`, `kv` (a namespace per module name in an embedded redb database, within the
//!   policy's [`KvLimits`]; see [`Host::purge_kv`] for whose it is), `modules` (calls to
//!   declared dependencies only; the callee runs in its own instance with its own grants,
//!   sharing the caller's fuel, memory and time). Embedders add groups with
//!   [`HostBuilder::custom_group`].
#![deny(missing_docs)]

mod activate;
mod activation;
mod builder;
mod config;
mod error;
mod extension;
mod grants;
mod groups;
mod host;
mod install;
mod key;
mod kv;
mod stats;
mod store;
mod typed_call;
mod write_gate;

pub use activation::Activation;
pub use builder::HostBuilder;
pub use config::{AppConfig, ConfigFileError, ConfigProblem, Provenance};
pub use error::Error;
pub use extension::{Implementation, SubsystemCall};
pub use grants::{GrantChange, InstallOptions};
pub use host::Host;
pub use install::{InstallOutcome, KvUsage};
pub use key::{KEY_FILE_ENV, KeyError};
pub use kv::{KvError, MAX_KEY_BYTES, MAX_LIST_BYTES, MAX_VALUE_BYTES};
pub use semver::{Version, VersionReq};
pub use stats::{FunctionStats, STATS_WINDOW};
pub use store::{DamagedVersion, InstalledModule, StoreIoError, StoreListing};
pub use wasmod_host_abi::{ConfigType, ConfigValue, GroupDef, HostFunctionDef, Signature, ValType};
pub use wasmod_manifest::{
    ArchiveError, ArchiveLimits, ConfigKey, Function, InvalidModuleName, Manifest, ManifestError, ModuleName,
    NameError, Package, Problem, ProblemKind, TextPosition,
};
pub use wasmod_resolver::{CycleStep, ParseError, Plan, PlannedModule, Request, Requirement, Requirer, ResolveError};
pub use wasmod_runtime::{
    CallError, CallLimits, CallMetrics, CallOutcome, CallerInfo, ErrorKind, GroupBuilder, GuestTrap, HostContext,
    HostFunctionError, HostGroup, HostValue, IntoHostFunction, LoadError, LoadedFunction, LogCharge, WasmResult,
    WasmValue,
};
pub use wasmod_validator::{
    Cardinality, Code, Diagnostic, DiagnosticLocation, FileLimits, HostPolicy, InvalidWasm, KvLimits, OnError,
    PolicyError, PolicyProblem, QuarantinePolicy, Report, Severity, SubsystemDef, ValidatedPackage, function_imports,
    load_policy,
};
