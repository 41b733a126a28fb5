//! An activation: the modules an application asked for plus their dependencies, resolved,
//! configured, initialised in dependency order, and ready to call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use wasmod_host_abi::ConfigValue;
use wasmod_manifest::{Manifest, ModuleName};
use wasmod_resolver::Plan;
use wasmod_runtime::{CallLimits, CallOptions, CallOutcome, LoadedFunction, Runtime};
use wasmod_validator::{HostPolicy, KvLimits};

use crate::Error;
use crate::config::{ConfigState, Provenance};
use crate::kv::{KvDatabase, KvError, Writes};
use crate::stats::{FunctionStats, Statistics};

/// One module of an activation: its manifest and its functions, loaded, by name.
#[derive(Debug)]
pub(crate) struct ActiveModule {
    pub manifest: Manifest,
    pub functions: BTreeMap<String, LoadedFunction>,
}

/// What an entry of the init overlay costs in host memory besides its bytes: the map's
/// node share and the two allocations of its key.
const OVERLAY_ENTRY_BYTES: usize = 64;

/// While hooks run: whose `init` is running, and the `kv` writes of the activation so
/// far (applied only if every hook succeeds), with what they cost in host memory.
#[derive(Debug, Default)]
pub(crate) struct InitPhase {
    pub running: Option<(ModuleName, String)>,
    pub overlay: Writes,
    pub overlay_bytes: u64,
}

/// What the standard groups see of an activation.
#[derive(Debug)]
pub(crate) struct ActivationState {
    pub kv: Arc<KvDatabase>,
    pub kv_limits: KvLimits,
    pub modules: BTreeMap<ModuleName, ActiveModule>,
    pub config: RwLock<ConfigState>,
    pub init: Mutex<Option<InitPhase>>,
    /// The host's statistics, which nested calls (`modules.call`) add to.
    pub stats: Arc<Statistics>,
}

impl ActivationState {
    /// Whether `caller` declares `module` as a dependency.
    pub(crate) fn depends_on(&self, caller: &ModuleName, module: &str) -> bool {
        self.modules.get(caller).is_some_and(|m| m.manifest.dependencies.contains_key(module))
    }

    /// Whether `function` of `module` is the init hook running now.
    pub(crate) fn in_init_of(&self, module: &ModuleName, function: &str) -> bool {
        self.init
            .lock()
            .ok()
            .and_then(|phase| phase.as_ref().and_then(|p| p.running.clone()))
            .is_some_and(|(m, f)| &m == module && f == function)
    }

    pub(crate) fn function(&self, module: &str, function: &str) -> Option<LoadedFunction> {
        self.modules.get(module).and_then(|m| m.functions.get(function)).cloned()
    }

    pub(crate) fn kv_get(&self, module: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        if let Ok(phase) = self.init.lock()
            && let Some(phase) = phase.as_ref()
            && let Some(pending) = phase.overlay.get(&(module.to_owned(), key.to_vec()))
        {
            return Ok(pending.clone());
        }
        self.kv.get(module, key)
    }

    /// Writes or deletes a key (`None`): straight into the database, or, while `init`
    /// hooks run, into the activation's overlay, which may hold at most
    /// `KvLimits::max_init_bytes`. Returns whether the key existed.
    pub(crate) fn kv_set(
        &self,
        module: &str,
        key: &[u8],
        value: Option<Vec<u8>>,
        deadline: Instant,
    ) -> Result<bool, KvError> {
        if let Ok(mut phase) = self.init.lock()
            && let Some(phase) = phase.as_mut()
        {
            let limit = self.kv_limits.max_init_bytes;
            let id = (module.to_owned(), key.to_vec());
            // Every entry costs what it holds, deletes included, plus its bookkeeping.
            let cost = |value: Option<&Vec<u8>>| {
                (module.len() + key.len() + value.map_or(0, Vec::len) + OVERLAY_ENTRY_BYTES) as u64
            };
            let old = phase.overlay.get(&id).map_or(0, |pending| cost(pending.as_ref()));
            let bytes = phase.overlay_bytes - old + cost(value.as_ref());
            if bytes > limit {
                return Err(KvError::InitBudget { limit });
            }
            let existed = match phase.overlay.get(&id) {
                Some(pending) => pending.is_some(),
                None => self.kv.get(module, key)?.is_some(),
            };
            phase.overlay_bytes = bytes;
            phase.overlay.insert(id, value);
            return Ok(existed);
        }
        self.kv.write(module, key, value.as_deref(), &self.kv_limits, deadline)
    }

    /// The keys of `module` starting with `prefix`, overlay included; `None` if they
    /// come to more than `max_bytes`.
    pub(crate) fn kv_list(
        &self,
        module: &str,
        prefix: &[u8],
        max_bytes: usize,
    ) -> Result<Option<Vec<Vec<u8>>>, KvError> {
        let phase = self.init.lock().unwrap_or_else(|p| p.into_inner());
        let Some(phase) = phase.as_ref() else { return self.kv.list(module, prefix, max_bytes) };
        // The overlay can add keys and delete some of those listed: list with room for
        // what it deletes, then apply it, then bound the result.
        let deleted: usize = phase
            .overlay
            .iter()
            .filter(|((m, k), v)| m == module && k.starts_with(prefix) && v.is_none())
            .map(|((_, k), _)| k.len())
            .sum();
        let Some(listed) = self.kv.list(module, prefix, max_bytes + deleted)? else { return Ok(None) };
        let mut keys: std::collections::BTreeSet<Vec<u8>> = listed.into_iter().collect();
        for ((m, k), v) in &phase.overlay {
            if m == module && k.starts_with(prefix) {
                if v.is_some() {
                    keys.insert(k.clone());
                } else {
                    keys.remove(k);
                }
            }
        }
        if keys.iter().map(Vec::len).sum::<usize>() > max_bytes {
            return Ok(None);
        }
        Ok(Some(keys.into_iter().collect()))
    }
}

/// Active modules, ready to call. Create one with [`Host::activate`](crate::Host::activate).
/// Cheap to clone; calls may run from many threads at once.
#[derive(Clone, Debug)]
pub struct Activation {
    pub(crate) state: Arc<ActivationState>,
    pub(crate) plan: Plan,
    pub(crate) runtime: Runtime,
    /// The policy the activation was made under: its subsystems' settings decide how
    /// calls by subsystem behave.
    pub(crate) policy: Arc<HostPolicy>,
    /// The host's statistics, which this activation's calls add to.
    pub(crate) stats: Arc<Statistics>,
}

impl Activation {
    /// The resolved plan: modules in initialisation order.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The manifest of an active module.
    pub fn manifest(&self, module: &str) -> Option<&Manifest> {
        self.state.modules.get(module).map(|m| &m.manifest)
    }

    /// A config value of an active module and who set it.
    pub fn config(&self, module: &str, key: &str) -> Option<(ConfigValue, Provenance)> {
        self.state.config.read().ok()?.get(module, key).cloned()
    }

    /// Every config value with its provenance: `(module, key, value, provenance)`.
    pub fn config_entries(&self) -> Vec<(ModuleName, String, ConfigValue, Provenance)> {
        match self.state.config.read() {
            Ok(c) => c.entries().map(|(m, k, v, p)| (m.clone(), k.to_owned(), v.clone(), p.clone())).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Calls `function` of `module` with the runtime's default limits.
    ///
    /// # Errors
    /// [`Error::NotActive`] or [`Error::NoSuchFunction`] when there is no such function
    /// in the activation, [`Error::Quarantined`] while the function is quarantined (the
    /// call is not run), [`Error::Call`] when the call fails.
    pub fn call(&self, module: &str, function: &str, input: &[u8]) -> Result<CallOutcome, Error> {
        self.run(module, function, input, None)
    }

    /// Calls `function` of `module` under `limits` instead of the runtime's defaults.
    ///
    /// # Errors
    /// As [`Activation::call`].
    pub fn call_with(
        &self,
        module: &str,
        function: &str,
        input: &[u8],
        limits: CallLimits,
    ) -> Result<CallOutcome, Error> {
        self.run(module, function, input, Some(limits))
    }

    /// Runs the `init` hook `hook` of an active module with no input: a failure of the
    /// call is [`Error::Init`].
    pub(crate) fn run_init(&self, module: &ActiveModule, hook: &str) -> Result<(), Error> {
        let id = module.manifest.id();
        let f = module.functions.get(hook).ok_or_else(|| Error::NoSuchFunction {
            module: id.clone(),
            function: hook.to_owned(),
            available: module.functions.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        // Counted like any call; an init hook is not refused by a quarantine (the
        // activation fails when it fails).
        let result = self.runtime.call_with(f, b"", &self.options(None));
        self.stats.finish(&self.stats.record(f.info()), &result);
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(Error::Init { module: id, error: Box::new(error) }),
        }
    }

    /// Every function's statistics, of this activation's calls and of every other
    /// activation of the same host ([`Host::statistics`](crate::Host::statistics)).
    pub fn statistics(&self) -> Vec<FunctionStats> {
        self.stats.snapshot()
    }

    /// A call of a function, counted in the statistics; refused while the function is
    /// quarantined.
    fn run(
        &self,
        module: &str,
        function: &str,
        input: &[u8],
        limits: Option<CallLimits>,
    ) -> Result<CallOutcome, Error> {
        let f = self.function(module, function)?;
        let record = self.stats.admit(f.info())?;
        let result = self.runtime.call_with(f, input, &self.options(limits));
        self.stats.finish(&record, &result);
        result.map_err(|e| Error::Call(Box::new(e)))
    }

    fn options(&self, limits: Option<CallLimits>) -> CallOptions {
        CallOptions { limits, data: Some(self.state.clone()) }
    }

    fn function(&self, module: &str, function: &str) -> Result<&LoadedFunction, Error> {
        let active = self.state.modules.get(module).ok_or_else(|| Error::NotActive {
            module: module.to_owned(),
            active: self.state.modules.keys().map(|m| m.to_string()).collect::<Vec<_>>().join(", "),
        })?;
        active.functions.get(function).ok_or_else(|| Error::NoSuchFunction {
            module: module.to_owned(),
            function: function.to_owned(),
            available: active.functions.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}
