//! wasmod: extend an application with WebAssembly modules, safely.
//!
//! This is the embedder's crate. A host application declares its extension points
//! (*subsystems*) and the host-function groups each may use, opens a module store, and
//! installs, activates and calls modules:
//!
//! ```no_run
//! use wasmod::{AppConfig, Host, Request};
//!
//! # fn main() -> Result<(), wasmod::Error> {
//! let host = Host::builder()
//!     .store("./.wasmod")
//!     .subsystem("orders.place", &["log", "kv", "modules"], "Places an order; JSON in and out.")
//!     .subsystem("pricing.quote", &["config", "log"], "Prices an order.")
//!     .subsystem("init", &["config", "log", "kv"], "Runs once when a module is activated.")
//!     .open()?;
//!
//! // Install: validated against the policy, compiled, written atomically.
//! let archive = std::fs::read("acme-orders-2.0.0.zip").unwrap();
//! let installed = host.install(&archive)?;
//! println!("installed {}", installed.id);
//!
//! // Activate: resolve dependencies, check config, run `init` hooks in order.
//! let mut config = AppConfig::new();
//! config.set("acme/pricing", "currency", "EUR");
//! let active = host.activate(&[Request::parse("acme/orders", None).unwrap()], &config)?;
//!
//! // Call: a fresh instance per call, only the function's granted groups linked.
//! let receipt = active.call("acme/orders", "place", br#"{"sku":"tea","quantity":2}"#)?;
//! println!("{}", String::from_utf8_lossy(&receipt.output));
//! # Ok(()) }
//! ```
//!
//! - **Store** ([`Host::install`], [`Host::uninstall`], [`Host::list`]): a directory
//!   (default `./.wasmod`) with every installed version of every module, its compiled
//!   artifacts, and the `kv` database. Installs and uninstalls are atomic: a crash leaves
//!   each version fully installed or absent. Several processes may use one store at once
//!   (a lock file orders them), and a version damaged outside wasmod is reported by
//!   [`Host::list`] and ignored. Installing a name and version again with other content
//!   is refused; uninstalling a version other modules need is refused unless forced.
//!   Compiled artifacts are loaded only if they carry a MAC under the host's artifact key,
//!   kept outside the store ([`HostBuilder::artifact_key_file`]).
//! - **Activation** ([`Host::activate`]): only the requested modules and their
//!   dependencies, one version each; config schemas merged and the application's values
//!   checked (every problem at once); `init` hooks run in dependency order, each may read
//!   its own and its dependencies' config and write its own keys (provenance recorded).
//!   A failing hook aborts the activation and nothing of it remains: its config and its
//!   `kv` writes are discarded.
//! - **Standard groups**: `log` (to `tracing`, target `wasmod::guest`), `config`, `clock`,
//!   `random`, `kv` (a namespace per module name in an embedded redb database, within the
//!   policy's [`KvLimits`]; see [`Host::purge_kv`] for whose it is), `modules` (calls to
//!   declared dependencies only; the callee runs in its own instance with its own grants,
//!   sharing the caller's fuel, memory and time). Embedders add groups with
//!   [`HostBuilder::custom_group`].
#![deny(missing_docs)]

mod activation;
mod config;
mod groups;
mod key;
mod kv;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use activation::Activation;
pub use config::{AppConfig, ConfigFileError, ConfigProblem, Provenance};
pub use key::{KEY_FILE_ENV, KeyError};
pub use kv::{KvError, MAX_KEY_BYTES, MAX_LIST_BYTES, MAX_VALUE_BYTES};
pub use semver::{Version, VersionReq};
pub use store::{DamagedVersion, InstalledModule, StoreIoError, StoreListing};
pub use wasmod_host_abi::{
    ConfigType, ConfigValue, GroupDef, HostFunctionDef, HostPolicy, KvLimits, Limits, Signature, ValType,
};
pub use wasmod_manifest::{ArchiveError, ArchiveLimits, Manifest, ManifestError, ModuleName, Package};
pub use wasmod_resolver::{Plan, PlannedModule, Request, ResolveError};
pub use wasmod_runtime::{
    CallError, CallLimits, CallMetrics, CallOutcome, ErrorKind, HostContext, HostError, HostGroup, HostValue,
};
pub use wasmod_validator::{Code, Diagnostic, Report, Severity, ValidatedPackage, function_imports, load_policy};

use activation::{ActivationState, ActiveModule, InitPhase};
use config::ConfigState;
use store::Store;
use wasmod_resolver::{Catalog, ModuleSpec};
use wasmod_runtime::{DirCache, LoadedFunction, Runtime};

/// Everything that can go wrong, with the context to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store directory could not be read or written.
    #[error(transparent)]
    Io(#[from] StoreIoError),
    /// The kv database failed.
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
        /// The module.
        module: String,
        /// Its installed versions, `name@version`.
        versions: Vec<String>,
    },
    /// A stored package no longer reads (the store was modified by hand or damaged).
    #[error("the stored package of {module} is damaged: {reason}")]
    CorruptStore {
        /// The module or path.
        module: String,
        /// Why.
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
        /// The diagnostics.
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
        /// Why.
        error: Box<CallError>,
    },
    /// The module is not part of the activation.
    #[error("{module} is not active (active: {active})")]
    NotActive {
        /// The module.
        module: String,
        /// The active modules.
        active: String,
    },
    /// The module has no such function.
    #[error("{module} has no function `{function}` (it has: {available})")]
    NoSuchFunction {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// Its functions.
        available: String,
    },
    /// The call failed.
    #[error(transparent)]
    Call(Box<CallError>),
}

/// How long the host's own kv writes (an activation's `init` writes) wait for the
/// write lock, which guests hold for one transaction at a time.
const HOST_WRITE_WAIT: Duration = Duration::from_secs(60);

/// A resolved request with its modules loaded, and the names of every installed module
/// (for the config check).
struct LoadedPlan {
    plan: Plan,
    modules: std::collections::BTreeMap<ModuleName, ActiveModule>,
    installed_names: std::collections::BTreeSet<String>,
}

/// What a module keeps in its `kv` namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvUsage {
    /// Bytes of keys and values.
    pub bytes: u64,
    /// Keys.
    pub keys: u64,
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct Installed {
    /// `name@version`.
    pub id: String,
    /// The warnings of validation (least privilege and the like).
    pub report: Report,
    /// `false` when exactly this package was already installed.
    pub newly_installed: bool,
}

struct Inner {
    store: Store,
    /// Opened by the first activation (see [`Host::kv`]).
    kv: Mutex<Option<Arc<kv::Kv>>>,
    runtime: Runtime,
    policy: HostPolicy,
    archive_limits: ArchiveLimits,
    /// Functions loaded, by module, version and the runtime's cache key (a hash of the
    /// engine, the wasm file and the entry point: their content), kept so that an
    /// activation never loads the same code twice.
    loaded: Mutex<HashMap<(ModuleName, Version, String), LoadedFunction>>,
    /// Serialises store mutations within this process (the store's lock file does it
    /// between processes).
    write_lock: RwLock<()>,
}

/// The embedder's handle on a module store. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("store", &self.inner.store.root()).finish()
    }
}

/// Builds a [`Host`].
pub struct HostBuilder {
    store: PathBuf,
    policy: HostPolicy,
    groups: Vec<Arc<dyn HostGroup>>,
    limits: CallLimits,
    archive_limits: ArchiveLimits,
    artifact_key: ArtifactKey,
    warm_instances: Option<bool>,
}

/// Where the artifact key comes from.
#[derive(Clone)]
enum ArtifactKey {
    /// [`key::default_path`].
    Default,
    File(PathBuf),
    Key([u8; 32]),
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder").field("store", &self.store).field("policy", &self.policy).finish()
    }
}

impl HostBuilder {
    /// The store directory (default `./.wasmod`).
    pub fn store(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store = dir.into();
        self
    }

    /// Replaces the whole policy (see [`load_policy`] to read one from RON).
    pub fn policy(mut self, policy: HostPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Adds a subsystem that may use `groups`.
    pub fn subsystem(mut self, name: &str, groups: &[&str], doc: &str) -> Self {
        self.policy = self.policy.with_subsystem(name, groups, doc);
        self
    }

    /// Adds an embedder-defined group: its definition goes into the policy, its
    /// implementation into the runtime.
    pub fn custom_group(mut self, group: Arc<dyn HostGroup>) -> Self {
        self.policy.custom_groups.retain(|g| g.name != group.def().name);
        self.policy.custom_groups.push(group.def().clone());
        self.groups.push(group);
        self
    }

    /// Default per-call limits.
    pub fn limits(mut self, limits: CallLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Limits applied when reading archives.
    pub fn archive_limits(mut self, limits: ArchiveLimits) -> Self {
        self.archive_limits = limits;
        self
    }

    /// The file holding the key that authenticates the store's compiled artifacts
    /// (made on first use, readable by its owner only; it must not be inside the store).
    /// The default is `$WASMOD_ARTIFACT_KEY`, else `$XDG_CONFIG_HOME/wasmod/artifact.key`
    /// or `~/.config/wasmod/artifact.key`. Processes that share a store should share
    /// the key, or each recompiles what the others cached.
    pub fn artifact_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.artifact_key = ArtifactKey::File(path.into());
        self
    }

    /// The artifact key itself, for embedders that keep it elsewhere (a secret store).
    pub fn artifact_key(mut self, key: [u8; 32]) -> Self {
        self.artifact_key = ArtifactKey::Key(key);
        self
    }

    /// Whether calls reuse a warm instance per function and thread, reset exactly after
    /// each call (on by default, unless `WASMOD_WARM_INSTANCES=off`; see
    /// [`wasmod_runtime::RuntimeBuilder::warm_instances`]). Calls observe the same state
    /// either way; off, every call instantiates afresh.
    pub fn warm_instances(mut self, on: bool) -> Self {
        self.warm_instances = Some(on);
        self
    }

    /// Opens (creating if needed) the store and builds the runtime.
    pub fn open(self) -> Result<Host, Error> {
        self.policy.check().map_err(Error::Policy)?;
        let store = Store::open(&self.store)?;
        let mut runtime = Runtime::builder().limits(self.limits);
        if let Some(on) = self.warm_instances {
            runtime = runtime.warm_instances(on);
        }
        let file = match self.artifact_key {
            ArtifactKey::Key(k) => {
                runtime = runtime.artifact_key(k);
                None
            }
            ArtifactKey::File(path) => Some(path),
            ArtifactKey::Default => {
                let path = key::default_path();
                if path.is_none() {
                    tracing::warn!(
                        "no HOME, XDG_CONFIG_HOME or {} to keep an artifact key in: using a key of this process, \
                         so artifacts cached by other processes are recompiled",
                        key::KEY_FILE_ENV
                    );
                }
                path
            }
        };
        if let Some(path) = file {
            runtime = runtime.artifact_key(key::load_or_create(&path, store.root())?);
        }
        for g in groups::standard().into_iter().chain(self.groups) {
            runtime = runtime.group(g);
        }
        Ok(Host {
            inner: Arc::new(Inner {
                store,
                kv: Mutex::new(None),
                runtime: runtime.build(),
                policy: self.policy,
                archive_limits: self.archive_limits,
                loaded: Mutex::new(HashMap::new()),
                write_lock: RwLock::new(()),
            }),
        })
    }
}

impl Host {
    /// A builder with the default store (`./.wasmod`), all standard groups offered and no
    /// subsystem yet.
    pub fn builder() -> HostBuilder {
        HostBuilder {
            store: PathBuf::from(".wasmod"),
            policy: HostPolicy::new(),
            groups: Vec::new(),
            limits: CallLimits::default(),
            archive_limits: ArchiveLimits::default(),
            artifact_key: ArtifactKey::Default,
            warm_instances: None,
        }
    }

    /// The store directory.
    pub fn store_dir(&self) -> &Path {
        self.inner.store.root()
    }

    /// The policy.
    pub fn policy(&self) -> &HostPolicy {
        &self.inner.policy
    }

    /// Validates an archive without installing it.
    pub fn validate(&self, archive: &[u8]) -> Result<ValidatedPackage, Report> {
        wasmod_validator::validate_archive(archive, &self.inner.policy, &self.inner.archive_limits)
    }

    /// Installs a package: validate, compile every function, write atomically.
    pub fn install(&self, archive: &[u8]) -> Result<Installed, Error> {
        let validated = self.validate(archive).map_err(Error::Rejected)?;
        let manifest = validated.manifest().clone();
        let id = manifest.id();
        // Compiling takes long and changes nothing: do it before taking the locks.
        let mut artifacts = Vec::new();
        for function in manifest.functions.keys() {
            let wasm = validated.function_bytes(function).expect("validated packages have every file");
            artifacts.push((
                self.inner.runtime.cache_key(wasm, function),
                self.inner.runtime.compile(&validated, function)?,
            ));
        }
        let _guard = self.inner.write_lock.write().unwrap_or_else(|p| p.into_inner());
        let _lock = self.inner.store.write_lock()?;
        if let Some(existing) = self.inner.store.package_bytes(&manifest.name, &manifest.version)? {
            return if blake3::hash(&existing) == blake3::hash(archive) {
                Ok(Installed { id, report: validated.report().clone(), newly_installed: false })
            } else {
                Err(Error::Conflict { module: id })
            };
        }
        self.inner.store.install(&manifest, archive, &artifacts)?;
        tracing::info!(module = %id, "installed");
        Ok(Installed { id, report: validated.report().clone(), newly_installed: true })
    }

    /// What the store holds: every intact module version by name then version, and the
    /// version directories that are damaged (they take no part in anything else).
    pub fn list(&self) -> Result<StoreListing, Error> {
        let _lock = self.inner.store.read_lock()?;
        self.listing()
    }

    /// [`Host::list`] under a lock the caller holds.
    fn listing(&self) -> Result<StoreListing, Error> {
        let listing = self.inner.store.list(&self.inner.archive_limits)?;
        for d in &listing.damaged {
            tracing::warn!(dir = %d.dir.display(), reason = %d.reason, "a damaged module version is ignored");
        }
        Ok(listing)
    }

    /// Uninstalls a version. Refused while another installed module needs it (a module
    /// with a requirement this version satisfies and no other installed version does),
    /// unless `force`.
    pub fn uninstall(&self, name: &ModuleName, version: &Version, force: bool) -> Result<(), Error> {
        let _guard = self.inner.write_lock.write().unwrap_or_else(|p| p.into_inner());
        let _lock = self.inner.store.write_lock()?;
        let id = format!("{name}@{version}");
        let installed = self.listing()?.installed;
        if !installed.iter().any(|m| &m.manifest.name == name && &m.manifest.version == version) {
            return Err(Error::NotInstalled { module: id });
        }
        let mut dependents = Vec::new();
        for m in installed.iter().filter(|m| &m.manifest.name != name) {
            if let Some(req) = m.manifest.dependencies.get(name)
                && req.matches(version)
                && !installed.iter().any(|o| {
                    &o.manifest.name == name && &o.manifest.version != version && req.matches(&o.manifest.version)
                })
            {
                dependents.push(format!("{} requires {req}", m.id()));
            }
        }
        if !dependents.is_empty() && !force {
            return Err(Error::InUse { module: id, dependents });
        }
        self.inner.store.uninstall(name, version)?;
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, f| !(&f.info().module == name && &f.info().version == version));
        tracing::info!(module = %id, forced = force && !dependents.is_empty(), "uninstalled");
        Ok(())
    }

    /// What a module keeps in its `kv` namespace, against its quota
    /// ([`KvLimits`] in the policy).
    pub fn kv_usage(&self, module: &ModuleName) -> Result<KvUsage, Error> {
        let (bytes, keys) = self.kv()?.usage(module.as_str())?;
        Ok(KvUsage { bytes, keys })
    }

    /// Deletes a module's whole `kv` namespace. The namespace belongs to the module
    /// *name*: every version shares it and it outlives uninstalls, so that upgrades and
    /// reinstalls keep their data, and whoever installs a module under that name later
    /// sees it. Remove it when a name is retired. Refused while any version of the
    /// module is installed; activations made before its uninstall still serve and may
    /// write again, so purge once they are gone. Returns how many keys were deleted.
    pub fn purge_kv(&self, module: &ModuleName) -> Result<u64, Error> {
        let kv = self.kv()?;
        let _guard = self.inner.write_lock.write().unwrap_or_else(|p| p.into_inner());
        let _lock = self.inner.store.write_lock()?;
        let versions: Vec<String> =
            self.listing()?.installed.iter().filter(|m| &m.manifest.name == module).map(InstalledModule::id).collect();
        if !versions.is_empty() {
            return Err(Error::StillInstalled { module: module.to_string(), versions });
        }
        Ok(kv.purge(module.as_str(), Instant::now() + HOST_WRITE_WAIT)?)
    }

    /// Resolves a request against the installed modules without running anything.
    pub fn resolve(&self, request: &[Request]) -> Result<Plan, Error> {
        let installed = self.list()?.installed;
        let catalog = Catalog::new(installed.iter().map(|m| ModuleSpec::from_manifest(&m.manifest)))?;
        Ok(catalog.resolve(request)?)
    }

    /// The store's kv database, opened on first use. Opening it for the first time
    /// creates it, which takes the store's write lock.
    fn kv(&self) -> Result<Arc<kv::Kv>, Error> {
        let mut kv = self.inner.kv.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(kv) = kv.as_ref() {
            return Ok(kv.clone());
        }
        let path = self.inner.store.root().join("kv.redb");
        let opened = if path.exists() {
            kv::Kv::shared(&path, &self.inner.store.staging())?
        } else {
            let _guard = self.inner.write_lock.write().unwrap_or_else(|p| p.into_inner());
            let _lock = self.inner.store.write_lock()?;
            kv::Kv::shared(&path, &self.inner.store.staging())?
        };
        Ok(kv.insert(opened).clone())
    }

    fn load(
        &self,
        validated: &ValidatedPackage,
        dir: &Path,
    ) -> Result<std::collections::BTreeMap<String, LoadedFunction>, Error> {
        let manifest = validated.manifest();
        let cache = DirCache::new(store::Store::artifacts_dir(dir));
        let mut out = std::collections::BTreeMap::new();
        for function in manifest.functions.keys() {
            let wasm = validated.function_bytes(function).expect("validated packages have every file");
            let key = (manifest.name.clone(), manifest.version.clone(), self.inner.runtime.cache_key(wasm, function));
            let cached = self.inner.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
            let loaded = match cached {
                Some(f) if f.info().grants.as_ref() == validated.grants(function) => f,
                _ => {
                    let f = self.inner.runtime.load(validated, function, &cache)?;
                    self.inner.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(key, f.clone());
                    f
                }
            };
            out.insert(function.clone(), loaded);
        }
        Ok(out)
    }

    /// Under the store's read lock: resolves the request against the intact installed
    /// versions, validates each planned package again and loads its functions.
    fn load_plan(&self, request: &[Request]) -> Result<LoadedPlan, Error> {
        let _guard = self.inner.write_lock.read().unwrap_or_else(|p| p.into_inner());
        let _lock = self.inner.store.read_lock()?;
        let installed = self.listing()?.installed;
        let catalog = Catalog::new(installed.iter().map(|m| ModuleSpec::from_manifest(&m.manifest)))?;
        let plan = catalog.resolve(request)?;
        let installed_names = installed.iter().map(|m| m.manifest.name.to_string()).collect();
        let mut modules = std::collections::BTreeMap::new();
        for planned in &plan.modules {
            let id = planned.to_string();
            let package = self
                .inner
                .store
                .read_package(&planned.name, &planned.version, &self.inner.archive_limits)?
                .ok_or_else(|| Error::NotInstalled { module: id.clone() })?;
            let validated = wasmod_validator::validate_package(package, &self.inner.policy)
                .map_err(|report| Error::NoLongerValid { module: id, report })?;
            let dir = self.inner.store.version_dir(&planned.name, &planned.version);
            let functions = self.load(&validated, &dir)?;
            modules.insert(planned.name.clone(), ActiveModule { manifest: validated.manifest().clone(), functions });
        }
        Ok(LoadedPlan { plan, modules, installed_names })
    }

    /// Activates the requested modules and their dependencies (see the crate docs).
    pub fn activate(&self, request: &[Request], config: &AppConfig) -> Result<Activation, Error> {
        // The kv data first: creating it takes the store's write lock.
        let kv = self.kv()?;
        let LoadedPlan { plan, modules, installed_names } = self.load_plan(request)?;
        // The store's locks are released: guest code (the hooks) never runs under them.
        let config = ConfigState::merge(modules.values().map(|m| &m.manifest), config, &installed_names)
            .map_err(Error::Config)?;
        let state = Arc::new(ActivationState {
            kv: kv.clone(),
            kv_limits: self.inner.policy.kv,
            modules,
            config: RwLock::new(config),
            init: Mutex::new(Some(InitPhase::default())),
        });
        let activation = Activation { state: state.clone(), plan, runtime: self.inner.runtime.clone() };

        for planned in &activation.plan.modules {
            let active = &state.modules[&planned.name];
            let Some((hook, _)) = active.manifest.init_function() else { continue };
            let hook = hook.to_owned();
            if let Ok(mut phase) = state.init.lock()
                && let Some(phase) = phase.as_mut()
            {
                phase.running = Some((planned.name.clone(), hook.clone()));
            }
            tracing::debug!(module = %planned, "running init");
            activation.call(planned.name.as_str(), &hook, b"").map_err(|e| Error::Init {
                module: planned.to_string(),
                error: match e {
                    Error::Call(c) => c,
                    other => unreachable!("the init function exists and is active: {other}"),
                },
            })?;
        }
        // Every hook succeeded: the activation's kv writes become real, in one
        // transaction, unless a module they belong to was uninstalled meanwhile (its data
        // may have been purged since; nothing is written then).
        let phase = state.init.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(phase) = phase
            && !phase.overlay.is_empty()
        {
            let _lock = self.inner.store.read_lock()?;
            let installed = self.listing()?.installed;
            for (module, _) in phase.overlay.keys() {
                if !installed.iter().any(|m| m.manifest.name.as_str() == module) {
                    return Err(Error::NotInstalled { module: module.clone() });
                }
            }
            kv.apply(&phase.overlay, &self.inner.policy.kv, Instant::now() + HOST_WRITE_WAIT)?;
        }
        Ok(activation)
    }
}
