//! [`Host::activate`]: resolve the request against the store, validate and load each
//! planned module again, refuse a subsystem of cardinality `one` with several
//! implementations, check the application's config, and run the `init` hooks in plan
//! order with their kv writes held back until all succeed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use wasmod_resolver::{Catalog, ModuleSpec};
use wasmod_runtime::{DirCache, LoadedFunction};

use crate::activation::{ActivationState, ActiveModule, InitPhase};
use crate::config::ConfigState;
use crate::host::HOST_WRITE_WAIT;
use crate::{Activation, AppConfig, Error, Host, ModuleName, Plan, Request, ValidatedPackage, store};

/// A resolved request with its modules loaded, and the names of every installed module
/// (for the config check).
struct LoadedPlan {
    plan: Plan,
    modules: BTreeMap<ModuleName, ActiveModule>,
    installed_names: BTreeSet<String>,
}

impl Host {
    fn load(&self, validated: &ValidatedPackage, dir: &Path) -> Result<BTreeMap<String, LoadedFunction>, Error> {
        let manifest = validated.manifest();
        let cache = DirCache::new(store::Store::artifacts_dir(dir));
        let mut out = BTreeMap::new();
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
        let mut modules = BTreeMap::new();
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
    ///
    /// # Errors
    /// [`Error::Resolve`] when the request cannot be resolved, [`Error::NoLongerValid`]
    /// when a planned module fails validation under the current policy,
    /// [`Error::TooManyImplementations`] when a subsystem of cardinality `one` would have
    /// several implementations, [`Error::Config`] with every config problem, [`Error::Load`]
    /// when a function cannot be compiled or loaded, [`Error::Init`] when an `init` hook
    /// fails, and [`Error::Io`] or [`Error::Kv`] when the store or its kv data fail. Nothing
    /// of a failed activation remains.
    pub fn activate(&self, request: &[Request], config: &AppConfig) -> Result<Activation, Error> {
        // The kv data first: creating it takes the store's write lock.
        let kv = self.kv()?;
        let LoadedPlan { plan, modules, installed_names } = self.load_plan(request)?;
        crate::extension::check_cardinality(&self.inner.policy, &plan, &modules)?;
        // The store's locks are released: guest code (the hooks) never runs under them.
        let config = ConfigState::merge(modules.values().map(|m| &m.manifest), config, &installed_names)
            .map_err(Error::Config)?;
        let state = Arc::new(ActivationState {
            kv: kv.clone(),
            kv_limits: self.inner.policy.kv,
            modules,
            config: RwLock::new(config),
            init: Mutex::new(Some(InitPhase::default())),
            stats: self.inner.stats.clone(),
        });
        let policy = Arc::new(self.inner.policy.clone());
        let stats = self.inner.stats.clone();
        let activation = Activation { state: state.clone(), plan, runtime: self.inner.runtime.clone(), policy, stats };

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
            activation.run_init(active, &hook)?;
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
