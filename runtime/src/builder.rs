//! [`RuntimeBuilder`]: the host groups, default limits, stack size, per-thread code,
//! warm instances and artifact key a [`Runtime`] is built with.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::load::to_function_type;
use crate::runtime::Inner;
use crate::vm::{copies, engine, signatures};
use crate::{CallLimits, HostGroup, Runtime};

/// Builds a [`Runtime`].
pub struct RuntimeBuilder {
    groups: Vec<Arc<dyn HostGroup>>,
    limits: CallLimits,
    stack_bytes: Option<usize>,
    copy_after: Option<u32>,
    warm_instances: bool,
    artifact_key: Option<[u8; 32]>,
}

/// The environment variable that turns warm instances off for every runtime whose
/// builder does not say otherwise ([`RuntimeBuilder::warm_instances`]): `0`, `off`,
/// `false` or `no`. The test suite runs once with it set, once without.
pub const WARM_INSTANCES_ENV: &str = "WASMOD_WARM_INSTANCES";

fn warm_instances_by_default() -> bool {
    !matches!(
        std::env::var(WARM_INSTANCES_ENV).map(|v| v.to_ascii_lowercase()).as_deref(),
        Ok("0" | "off" | "false" | "no")
    )
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            groups: Vec::new(),
            limits: CallLimits::default(),
            stack_bytes: None,
            copy_after: Some(copies::COPY_AFTER),
            warm_instances: warm_instances_by_default(),
            artifact_key: None,
        }
    }
}

impl fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("groups", &self.groups.len())
            .field("limits", &self.limits)
            .field("stack_bytes", &self.stack_bytes)
            .field("per_thread_code", &self.copy_after)
            .field("warm_instances", &self.warm_instances)
            .field("artifact_key", &self.artifact_key.map(|_| "(set)"))
            .finish()
    }
}

impl RuntimeBuilder {
    /// Adds a host-function group implementation (a later one with the same name and
    /// version replaces an earlier one).
    pub fn group(mut self, group: Arc<dyn HostGroup>) -> Self {
        self.groups.push(group);
        self
    }

    /// The default limits of calls.
    pub fn limits(mut self, limits: CallLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The wasm stack size of calls, in bytes (wasmer's default when unset).
    pub fn stack_bytes(mut self, bytes: usize) -> Self {
        self.stack_bytes = Some(bytes);
        self
    }

    /// When a thread gets its own copy of a function's compiled code (ADR 0007):
    /// `Some(n)` after its `n`th call of the function on that thread (the default is
    /// 64), `None` never.
    ///
    /// Copies let calls on different threads share no reference counts, which is what
    /// lets two threads run nearly twice as many calls as one. Each copy costs the
    /// function's code size once per thread that calls it often; turn them off when
    /// many threads call many large functions and memory matters more than scaling.
    /// `Some(0)` and `Some(1)` both copy at the first call.
    pub fn per_thread_code(mut self, after_calls: Option<u32>) -> Self {
        self.copy_after = after_calls;
        self
    }

    /// Whether calls reuse a warm instance per function and thread, reset after each
    /// call to exactly the state a fresh instance has (ADR 0010); on by default, unless
    /// [`WARM_INSTANCES_ENV`] says `off`. A call observes the same state either way: a
    /// file whose state cannot be reset (one that changes tables or drops segments)
    /// always gets a fresh instance, and so does a call whose limits its instance does
    /// not fit. Off, every call instantiates afresh.
    pub fn warm_instances(mut self, on: bool) -> Self {
        self.warm_instances = on;
        self
    }

    /// The key that authenticates compiled artifacts: a runtime loads only artifacts
    /// sealed under its own key, so whoever can write an [`ArtifactCache`](crate::ArtifactCache) cannot make it
    /// run code it did not compile. Keep the key where artifacts are not (an embedder's
    /// configuration, a file only the host may read); runtimes that share a cache share
    /// the key. Without one, a runtime makes a random key of its own: it then loads only
    /// what it compiled itself, and recompiles whatever other processes cached.
    pub fn artifact_key(mut self, key: [u8; 32]) -> Self {
        self.artifact_key = Some(key);
        self
    }

    /// Builds the runtime. The first runtime a process builds installs wasmer's
    /// signal handlers (see ADR 0005 for what an embedder with handlers of its own must
    /// do).
    pub fn build(self) -> Runtime {
        wasmer_vm::init_traps();
        let groups = self
            .groups
            .into_iter()
            .map(|g| ((g.def().name.to_string(), g.def().version), g))
            .collect::<HashMap<_, _>>();
        Runtime {
            inner: Arc::new(Inner {
                fallback_engine: engine::headless(self.stack_bytes),
                stack_bytes: self.stack_bytes,
                copy_after: self.copy_after,
                warm_instances: self.warm_instances,
                identity: engine::identity(),
                artifact_key: self.artifact_key.unwrap_or_else(random_key),
                host_types: signatures::HostTypes::new(
                    groups
                        .values()
                        .flat_map(|g| g.def().functions.iter().map(|f| to_function_type(&f.signature)))
                        .collect::<Vec<_>>()
                        .iter(),
                ),
                groups,
                limits: self.limits,
            }),
        }
    }
}

/// A key nobody else has.
fn random_key() -> [u8; 32] {
    let mut key = [0; 32];
    if getrandom::fill(&mut key).is_err() {
        // No OS randomness: a key derived from this process's address space layout and
        // the time is still unknown to whoever writes the cache beforehand.
        let mut h = blake3::Hasher::new();
        h.update(&(std::ptr::addr_of!(key) as usize).to_le_bytes());
        h.update(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
        key = h.finalize().into();
    }
    key
}
