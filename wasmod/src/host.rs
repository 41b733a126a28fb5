//! [`Host`], the embedder's handle on a module store: what it holds, and what it tells
//! about itself. Installing is `install.rs`, activating `activate.rs`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use wasmod_resolver::{Catalog, ModuleSpec};
use wasmod_runtime::{LoadedFunction, Runtime};

use crate::store::Store;
use crate::{ArchiveLimits, Error, HostPolicy, ModuleName, Plan, Report, Request, ValidatedPackage, Version, kv};

/// How long the host's own kv writes (an activation's `init` writes) wait for the
/// write lock, which guests hold for one transaction at a time.
pub(crate) const HOST_WRITE_WAIT: Duration = Duration::from_secs(60);

/// What every clone of a [`Host`] shares.
pub(crate) struct Inner {
    pub(crate) store: Store,
    /// Opened by its first use: an activation, or a kv usage or purge (see [`Host::kv`]).
    pub(crate) kv: Mutex<Option<Arc<kv::KvDatabase>>>,
    pub(crate) runtime: Runtime,
    pub(crate) policy: HostPolicy,
    pub(crate) archive_limits: ArchiveLimits,
    /// Functions loaded, by module, version and the runtime's cache key (a hash of the
    /// engine, the wasm file and the entry point: their content), kept so that an
    /// activation never loads the same code twice.
    pub(crate) loaded: Mutex<HashMap<(ModuleName, Version, String), LoadedFunction>>,
    /// Serialises store mutations within this process (the store's lock file does it
    /// between processes).
    pub(crate) write_lock: RwLock<()>,
    /// Every function's calls and quarantine, shared with the activations.
    pub(crate) stats: Arc<crate::stats::Statistics>,
}

/// The embedder's handle on a module store. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("store", &self.inner.store.root()).finish()
    }
}

impl Host {
    /// Every function's statistics: calls, failures by kind, wall time and fuel
    /// (p50, p99 over the last [`STATS_WINDOW`](crate::STATS_WINDOW) calls) and
    /// quarantine, by module, version and function, for every activation of this host.
    pub fn statistics(&self) -> Vec<crate::FunctionStats> {
        self.inner.stats.snapshot()
    }

    /// The store directory the host was opened on (`HostBuilder::store`, default `./.wasmod`).
    pub fn store_dir(&self) -> &Path {
        self.inner.store.root()
    }

    /// The policy the `HostBuilder` made: what packages are validated against, and kv limits.
    pub fn policy(&self) -> &HostPolicy {
        &self.inner.policy
    }

    /// Validates an archive without installing it.
    ///
    /// # Errors
    /// The [`Report`] of every problem when the package is rejected.
    pub fn validate(&self, archive: &[u8]) -> Result<ValidatedPackage, Report> {
        wasmod_validator::validate_archive(archive, &self.inner.policy, &self.inner.archive_limits)
    }

    /// Resolves a request against the installed modules without running anything.
    ///
    /// # Errors
    /// [`Error::Resolve`] with the reason the request cannot be resolved, [`Error::Io`] when
    /// the store cannot be read.
    pub fn resolve(&self, request: &[Request]) -> Result<Plan, Error> {
        let installed = self.list()?.installed;
        let catalog = Catalog::new(installed.iter().map(|m| ModuleSpec::from_manifest(&m.manifest)))?;
        Ok(catalog.resolve(request)?)
    }

    /// The store's kv database, opened on first use. Opening it for the first time
    /// creates it, which takes the store's write lock.
    pub(crate) fn kv(&self) -> Result<Arc<kv::KvDatabase>, Error> {
        let mut kv = self.inner.kv.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(kv) = kv.as_ref() {
            return Ok(kv.clone());
        }
        let path = self.inner.store.root().join("kv.redb");
        let opened = if path.exists() {
            kv::KvDatabase::shared(&path, &self.inner.store.staging())?
        } else {
            let _guard = self.inner.write_lock.write().unwrap_or_else(|p| p.into_inner());
            let _lock = self.inner.store.write_lock()?;
            kv::KvDatabase::shared(&path, &self.inner.store.staging())?
        };
        Ok(kv.insert(opened).clone())
    }
}
