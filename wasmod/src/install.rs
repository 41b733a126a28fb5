//! Changing what the store holds: [`Host::install`], [`Host::uninstall`] and
//! [`Host::purge_kv`], and reading it: [`Host::list`], [`Host::kv_usage`].

use std::time::Instant;

use crate::grants::{InstallOptions, new_dependencies, new_grants};
use crate::host::HOST_WRITE_WAIT;
use crate::{Error, Host, InstalledModule, Manifest, ModuleName, Report, StoreListing, Version};

/// What a module keeps in its `kv` namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvUsage {
    /// Bytes of keys and values.
    pub bytes: u64,
    /// How many keys it keeps.
    pub keys: u64,
}

/// What [`Host::install`] did.
#[derive(Debug, Clone)]
pub struct InstallOutcome {
    /// `name@version`.
    pub id: String,
    /// The warnings of validation (least privilege and the like).
    pub report: Report,
    /// `false` when exactly this package was already installed.
    pub newly_installed: bool,
}

impl Host {
    /// Installs a package: validate, compile every function, write atomically.
    ///
    /// # Errors
    /// [`Error::Rejected`] with the validation report (nothing is installed),
    /// [`Error::Conflict`] when the name and version are installed with other content,
    /// [`Error::Load`] when a function does not compile, [`Error::Io`] when the store
    /// cannot be written (the store is left as it was).
    pub fn install(&self, archive: &[u8]) -> Result<InstallOutcome, Error> {
        self.install_with(archive, &InstallOptions::default())
    }

    /// Installs a package with options: [`InstallOptions::allow_new_grants`] approves a
    /// version that asks for groups, or declares dependencies, the previously installed
    /// version did not.
    ///
    /// # Errors
    /// As [`Host::install`], and [`Error::NewGrants`] with the difference per function
    /// when the version asks for new groups and they are not approved.
    pub fn install_with(&self, archive: &[u8], options: &InstallOptions) -> Result<InstallOutcome, Error> {
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
                Ok(InstallOutcome { id, report: validated.report().clone(), newly_installed: false })
            } else {
                Err(Error::Conflict { module: id })
            };
        }
        if !options.allow_new_grants {
            self.refuse_new_grants(&manifest)?;
        }
        self.inner.store.install(&manifest, archive, &artifacts)?;
        tracing::info!(module = %id, "installed");
        Ok(InstallOutcome { id, report: validated.report().clone(), newly_installed: true })
    }

    /// Refuses `manifest` if it asks for groups, or declares dependencies, that the
    /// highest installed version of its module did not (under the store's write lock,
    /// which the caller holds).
    fn refuse_new_grants(&self, manifest: &Manifest) -> Result<(), Error> {
        let installed = self.listing()?.installed;
        let previous = installed
            .iter()
            .filter(|m| m.manifest.name == manifest.name && m.manifest.version != manifest.version)
            .max_by(|a, b| a.manifest.version.cmp(&b.manifest.version));
        let Some(previous) = previous else { return Ok(()) };
        let changes = new_grants(&previous.manifest, manifest);
        let new_dependencies = new_dependencies(&previous.manifest, manifest);
        if changes.is_empty() && new_dependencies.is_empty() {
            return Ok(());
        }
        Err(Error::NewGrants { module: manifest.id(), previous: previous.manifest.id(), changes, new_dependencies })
    }

    /// What the store holds: every intact module version by name then version, and the
    /// version directories that are damaged (they take no part in anything else).
    ///
    /// # Errors
    /// [`Error::Io`] when the store cannot be read (damaged versions are listed, not errors).
    pub fn list(&self) -> Result<StoreListing, Error> {
        let _lock = self.inner.store.read_lock()?;
        self.listing()
    }

    /// [`Host::list`] under a lock the caller holds.
    pub(crate) fn listing(&self) -> Result<StoreListing, Error> {
        let listing = self.inner.store.list(&self.inner.archive_limits)?;
        for d in &listing.damaged {
            tracing::warn!(dir = %d.dir.display(), reason = %d.reason, "a damaged module version is ignored");
        }
        Ok(listing)
    }

    /// Uninstalls a version. Refused with [`Error::InUse`] while another installed module
    /// needs it (a module with a requirement this version satisfies and no other
    /// installed version does); [`Host::uninstall_even_if_needed`] removes it anyway.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] when the version is not installed, [`Error::InUse`] naming
    /// every installed module that needs it, [`Error::Io`] when the store cannot be written.
    pub fn uninstall(&self, name: &ModuleName, version: &Version) -> Result<(), Error> {
        self.remove(name, version, IfNeeded::Refuse)
    }

    /// Uninstalls a version even if other installed modules need it: they stay
    /// installed, and activating them fails to resolve until a version that fits is
    /// installed again.
    ///
    /// # Errors
    /// As [`Host::uninstall`], without [`Error::InUse`].
    pub fn uninstall_even_if_needed(&self, name: &ModuleName, version: &Version) -> Result<(), Error> {
        self.remove(name, version, IfNeeded::Remove)
    }

    fn remove(&self, name: &ModuleName, version: &Version, if_needed: IfNeeded) -> Result<(), Error> {
        let _guard = self.inner.write_lock.write().unwrap_or_else(|p| p.into_inner());
        let _lock = self.inner.store.write_lock()?;
        let id = format!("{name}@{version}");
        let installed = self.listing()?.installed;
        if !installed.iter().any(|m| &m.manifest.name == name && &m.manifest.version == version) {
            return Err(Error::NotInstalled { module: id });
        }
        let dependents = dependents_of(&installed, name, version);
        if !dependents.is_empty() && if_needed == IfNeeded::Refuse {
            return Err(Error::InUse { module: id, dependents });
        }
        self.inner.store.uninstall(name, version)?;
        self.inner.stats.forget(name, version);
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, f| !(&f.info().module == name && &f.info().version == version));
        tracing::info!(module = %id, forced = !dependents.is_empty(), "uninstalled");
        Ok(())
    }

    /// What a module keeps in its `kv` namespace, against its quota
    /// ([`KvLimits`](crate::KvLimits) in the policy).
    ///
    /// # Errors
    /// [`Error::Kv`] when the kv data cannot be opened or read.
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
    ///
    /// # Errors
    /// [`Error::StillInstalled`] while a version of the module is installed, [`Error::Kv`]
    /// when the kv data cannot be written.
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
}

/// What to do when other installed modules need the version being uninstalled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IfNeeded {
    Refuse,
    Remove,
}

/// The installed modules that need `name@version`: each has a requirement on `name` that
/// this version satisfies and no other installed version does (`dependent@version
/// requires REQ`).
fn dependents_of(installed: &[InstalledModule], name: &ModuleName, version: &Version) -> Vec<String> {
    let mut dependents = Vec::new();
    for m in installed.iter().filter(|m| &m.manifest.name != name) {
        if let Some(req) = m.manifest.dependencies.get(name)
            && req.matches(version)
            && !installed
                .iter()
                .any(|o| &o.manifest.name == name && &o.manifest.version != version && req.matches(&o.manifest.version))
        {
            dependents.push(format!("{} requires {req}", m.id()));
        }
    }
    dependents
}
