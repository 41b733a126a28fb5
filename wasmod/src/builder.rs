//! [`HostBuilder`]: the store, policy, custom groups, limits and artifact key a [`Host`]
//! is opened with.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use wasmod_runtime::Runtime;

use crate::host::Inner;
use crate::store::Store;
use crate::{ArchiveLimits, CallLimits, Error, Host, HostGroup, HostPolicy, groups, key};

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

    /// Replaces the whole policy (see [`load_policy`](crate::load_policy) to read one from RON).
    pub fn policy(mut self, policy: HostPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Adds a subsystem that may use `groups`, with cardinality `many` (see
    /// [`HostBuilder::extension_point`] for the rest).
    pub fn subsystem(mut self, name: &str, groups: &[&str], doc: &str) -> Self {
        self.policy = self.policy.with_subsystem(name, groups, doc);
        self
    }

    /// Adds a subsystem with every setting given: its groups, its cardinality (`one`:
    /// at most one active implementation) and what a failure does when every
    /// implementation is called. For example
    /// `SubsystemDef::new(&["log"], "Prices an order.").one()`.
    pub fn extension_point(mut self, name: &str, def: crate::SubsystemDef) -> Self {
        self.policy = self.policy.with_subsystem_def(name, def);
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

    /// The limits of calls that name none (`Activation::call`); `CallLimits::default()` if unset.
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
    ///
    /// # Errors
    /// [`Error::Policy`] with every problem of an incoherent policy, [`Error::Io`] when the
    /// store directory cannot be made or read, [`Error::ArtifactKey`] when the key file
    /// cannot be read or made.
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
                stats: Arc::new(crate::stats::Statistics::new(self.policy.quarantine)),
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
}
