//! A loaded function: its code, its engine, its granted imports, and where it came from.

use std::fmt;
use std::sync::Arc;

use wasmer::{Engine, FunctionType, Module};

use crate::vm::copies;
use crate::{CallerInfo, HostGroup};

/// Where a loaded function's code came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArtifactSource {
    /// A verified artifact from the cache.
    Cache,
    /// Compiled now: there was no artifact.
    CompiledMissing,
    /// Compiled now: the cached artifact was stale or corrupt (not loaded).
    CompiledReplacing {
        /// Why the cached one was refused.
        reason: String,
    },
}

/// One host function a module imports and is granted: how to link it.
#[derive(Clone)]
pub(crate) struct Binding {
    pub(crate) group: Arc<dyn HostGroup>,
    pub(crate) index: usize,
    pub(crate) ty: FunctionType,
}

/// A function ready to call: compiled, loaded into an engine of its own, its granted
/// imports resolved. Cheap to clone; keep it rather than loading again (every load
/// holds its own copy of the code, freed when the last clone goes).
#[derive(Clone)]
pub struct LoadedFunction {
    pub(crate) info: Arc<CallerInfo>,
    pub(crate) module: Module,
    /// The engine of the module's own that holds its code (`engine::load`); it lives as
    /// long as any clone of this function.
    pub(crate) _engine: Engine,
    /// For each import of the module, in order: the binding that satisfies it, or the
    /// `module.name` of an import that is not granted (the call then cannot link).
    pub(crate) imports: Arc<[Result<Binding, String>]>,
    pub(crate) source: ArtifactSource,
    /// Names this load of the code for per-thread copies and warm instances.
    pub(crate) code: Arc<copies::CodeId>,
    /// What a warm instance of the file needs, if the file can have one (`resettable`).
    pub(crate) reset: Option<crate::resettable::Resettable>,
}

impl LoadedFunction {
    /// Module, version, function and grants.
    pub fn info(&self) -> &CallerInfo {
        &self.info
    }

    /// Where the code came from.
    pub fn source(&self) -> &ArtifactSource {
        &self.source
    }
}

impl fmt::Debug for LoadedFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedFunction").field("info", &self.info).field("source", &self.source).finish()
    }
}
