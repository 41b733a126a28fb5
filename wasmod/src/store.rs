//! The module store: a directory holding installed packages (several versions per
//! module), their compiled artifacts, and the `kv` database.
//!
//! ```text
//! <store>/
//!   modules/<namespace>/<name>/<version>/package.zip     the archive as installed
//!   modules/<namespace>/<name>/<version>/artifacts/       compiled functions (verified before use)
//!   staging/                                              installs in progress
//!   trash/                                                uninstalls in progress
//!   kv.redb                                               per-module key-value data
//!
//!   lock                                                  the inter-process lock
//! ```
//!
//! An install writes everything into a fresh directory under `staging/`, flushes it to
//! disk, and renames it into `modules/…/<version>` (an atomic rename on the same file
//! system). An uninstall renames the version directory into `trash/` first and deletes it
//! afterwards. A crash at any point therefore leaves each version either fully installed
//! or absent.
//!
//! Several processes may use one store (an embedder serving calls, `wasmod list` and
//! `wasmod install` beside it). They agree through `lock`, a file locked with `flock`:
//! operations that change the store hold it exclusively ([`Store::write_lock`]), and
//! reads hold it shared ([`Store::read_lock`]). Leftovers of interrupted operations in
//! `staging/` and `trash/` are removed only by a holder of the exclusive lock, when no
//! other operation can be in flight, so one process never deletes another's install
//! in progress.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use semver::Version;
use wasmod_manifest::{ArchiveLimits, Manifest, ModuleName, Package};

/// A store failure with the path involved.
#[derive(Debug, thiserror::Error)]
#[error("{action} `{}`: {source}", path.display())]
pub struct StoreIoError {
    /// What was being done to `path`, as a verb phrase for the message (`creating`, `locking`).
    pub action: &'static str,
    /// The file or directory of the store the operation was on.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

pub(crate) fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreIoError + 'a {
    move |source| StoreIoError { action, path: path.to_path_buf(), source }
}

/// One intact installed module version (a damaged one is a [`DamagedVersion`]).
#[derive(Clone, Debug)]
pub struct InstalledModule {
    /// The manifest read back from the stored package (name, version, functions, ...).
    pub manifest: Manifest,
    /// The version's directory, `<store>/modules/<namespace>/<name>/<version>`.
    pub dir: PathBuf,
}

impl InstalledModule {
    /// `name@version`.
    pub fn id(&self) -> String {
        self.manifest.id()
    }
}

/// A version directory that does not hold a readable package for its place (changed
/// or damaged outside wasmod). It takes no part in resolution or activation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedVersion {
    /// The version's directory.
    pub dir: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// What the store holds: the intact versions by name then version, and the damaged ones.
#[derive(Clone, Debug, Default)]
pub struct StoreListing {
    /// Intact versions, sorted by name then version.
    pub installed: Vec<InstalledModule>,
    /// Version directories that are damaged, sorted by path.
    pub damaged: Vec<DamagedVersion>,
}

/// A held store lock (shared or exclusive); released when dropped.
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: fs::File,
}

/// The directory store (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
}

pub(crate) const PACKAGE_FILE: &str = "package.zip";
const ARTIFACTS_DIR: &str = "artifacts";
const LOCK_FILE: &str = "lock";

/// Flushes a directory's entries (a rename or link into it) to disk.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    fs::File::open(path).and_then(|d| d.sync_all())
}

/// [`sync_dir`] for the store's own directories, with the path in the error.
fn sync_store_dir(path: &Path) -> Result<(), StoreIoError> {
    sync_dir(path).map_err(io_err("syncing", path))
}

/// A name no other operation uses: `prefix`, the process id and 64 random bits.
pub(crate) fn unique_name(prefix: &str) -> String {
    let mut random = [0u8; 8];
    let _ = getrandom::fill(&mut random);
    format!("{prefix}-{}-{:016x}", std::process::id(), u64::from_le_bytes(random))
}

impl Store {
    /// Opens (creating if needed) the store at `root`. Interrupted operations are cleared
    /// now if no other process is using the store, else by the next writer.
    pub(crate) fn open(root: &Path) -> Result<Store, StoreIoError> {
        for dir in ["modules", "staging", "trash"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_err("creating", &path))?;
        }
        let store = Store { root: root.to_path_buf() };
        let file = store.lock_file()?;
        match file.try_lock() {
            Ok(()) => store.clear_interrupted()?,
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(io_err("locking", &store.lock_path())(e)),
        }
        Ok(store)
    }

    fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    fn lock_file(&self) -> Result<fs::File, StoreIoError> {
        let path = self.lock_path();
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err("opening", &path))
    }

    /// Waits for and takes the shared lock: no other process changes the store while it
    /// is held.
    pub(crate) fn read_lock(&self) -> Result<StoreLock, StoreIoError> {
        let file = self.lock_file()?;
        file.lock_shared().map_err(io_err("locking", &self.lock_path()))?;
        Ok(StoreLock { _file: file })
    }

    /// Waits for and takes the exclusive lock, then removes what interrupted operations
    /// left in `staging/` and `trash/` (nobody else can be using them now).
    pub(crate) fn write_lock(&self) -> Result<StoreLock, StoreIoError> {
        let file = self.lock_file()?;
        file.lock().map_err(io_err("locking", &self.lock_path()))?;
        self.clear_interrupted()?;
        Ok(StoreLock { _file: file })
    }

    /// Removes the contents of `staging/` and `trash/`; only with the exclusive lock.
    fn clear_interrupted(&self) -> Result<(), StoreIoError> {
        for dir in ["staging", "trash"] {
            let path = self.root.join(dir);
            for entry in fs::read_dir(&path).map_err(io_err("reading", &path))? {
                let entry = entry.map_err(io_err("reading", &path))?;
                let leftover = entry.path();
                let removed =
                    if leftover.is_dir() { fs::remove_dir_all(&leftover) } else { fs::remove_file(&leftover) };
                removed.map_err(io_err("removing an interrupted operation at", &leftover))?;
            }
        }
        Ok(())
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Where operations in progress build their results; emptied by [`Store::open`].
    pub(crate) fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }

    pub(crate) fn version_dir(&self, name: &ModuleName, version: &Version) -> PathBuf {
        let mut dir = self.root.join("modules");
        for part in name.as_str().split('/') {
            dir.push(part);
        }
        dir.push(version.to_string());
        dir
    }

    pub(crate) fn artifacts_dir(dir: &Path) -> PathBuf {
        dir.join(ARTIFACTS_DIR)
    }

    /// The archive bytes of an installed version, if installed.
    pub(crate) fn package_bytes(&self, name: &ModuleName, version: &Version) -> Result<Option<Vec<u8>>, StoreIoError> {
        let path = self.version_dir(name, version).join(PACKAGE_FILE);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    /// Reads an installed package (checking the archive again: the store is not trusted
    /// more than any other input).
    pub(crate) fn read_package(
        &self,
        name: &ModuleName,
        version: &Version,
        limits: &ArchiveLimits,
    ) -> Result<Option<Package>, crate::Error> {
        let Some(bytes) = self.package_bytes(name, version)? else { return Ok(None) };
        Package::read(&bytes, limits)
            .map(Some)
            .map_err(|e| crate::Error::CorruptStore { module: format!("{name}@{version}"), reason: e.to_string() })
    }

    /// Every version directory: the intact ones, and the damaged ones with the reason.
    /// The caller holds a lock (so nothing is renamed in or out meanwhile).
    pub(crate) fn list(&self, limits: &ArchiveLimits) -> Result<StoreListing, StoreIoError> {
        let modules = self.root.join("modules");
        let mut listing = StoreListing::default();
        for namespace in read_dirs(&modules)? {
            for name in read_dirs(&namespace)? {
                for version in read_dirs(&name)? {
                    match self.read_version(&modules, &version, limits) {
                        Ok(manifest) => listing.installed.push(InstalledModule { manifest, dir: version }),
                        Err(reason) => listing.damaged.push(DamagedVersion { dir: version, reason }),
                    }
                }
            }
        }
        listing
            .installed
            .sort_by(|a, b| (&a.manifest.name, &a.manifest.version).cmp(&(&b.manifest.name, &b.manifest.version)));
        Ok(listing)
    }

    /// The manifest of the package in a version directory, if it is the package that
    /// belongs there.
    fn read_version(&self, modules: &Path, dir: &Path, limits: &ArchiveLimits) -> Result<Manifest, String> {
        let package = dir.join(PACKAGE_FILE);
        let bytes = fs::read(&package).map_err(|e| format!("{} cannot be read: {e}", package.display()))?;
        let manifest = Package::read(&bytes, limits).map_err(|e| format!("its package does not read: {e}"))?.manifest;
        if self.version_dir(&manifest.name, &manifest.version) != dir {
            let place = dir.strip_prefix(modules).unwrap_or(dir).display().to_string();
            return Err(format!("it holds {} but sits at {place}", manifest.id()));
        }
        Ok(manifest)
    }

    /// Installs a package atomically: `artifacts` are (cache key, sealed artifact).
    pub(crate) fn install(
        &self,
        manifest: &Manifest,
        archive: &[u8],
        artifacts: &[(String, Vec<u8>)],
    ) -> Result<PathBuf, StoreIoError> {
        let staging = self.staging().join(unique_name("install"));
        fs::create_dir_all(Self::artifacts_dir(&staging)).map_err(io_err("creating", &staging))?;
        write_synced(&staging.join(PACKAGE_FILE), archive)?;
        for (key, bytes) in artifacts {
            write_synced(&Self::artifacts_dir(&staging).join(format!("{key}.artifact")), bytes)?;
        }
        sync_store_dir(&Self::artifacts_dir(&staging))?;
        sync_store_dir(&staging)?;
        let target = self.version_dir(&manifest.name, &manifest.version);
        let parent = target.parent().expect("a version dir has a parent");
        fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
        fs::rename(&staging, &target).map_err(io_err("moving the install into place at", &target))?;
        sync_store_dir(parent)?;
        Ok(target)
    }

    /// Removes an installed version atomically (rename to trash, then delete).
    pub(crate) fn uninstall(&self, name: &ModuleName, version: &Version) -> Result<bool, StoreIoError> {
        let dir = self.version_dir(name, version);
        if !dir.exists() {
            return Ok(false);
        }
        let trash = self.root.join("trash").join(unique_name("uninstall"));
        fs::rename(&dir, &trash).map_err(io_err("moving to the trash", &dir))?;
        if let Some(parent) = dir.parent() {
            sync_store_dir(parent)?;
            // Drop empty name and namespace directories (harmless if it fails).
            let _ = fs::remove_dir(parent);
            if let Some(ns) = parent.parent() {
                let _ = fs::remove_dir(ns);
            }
        }
        fs::remove_dir_all(&trash).map_err(io_err("deleting", &trash))?;
        Ok(true)
    }
}

fn read_dirs(path: &Path) -> Result<Vec<PathBuf>, StoreIoError> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(path).map_err(io_err("reading", path))? {
        let entry = entry.map_err(io_err("reading", path))?;
        if entry.file_type().map_err(io_err("reading", path))?.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreIoError> {
    let mut f = fs::File::create(path).map_err(io_err("creating", path))?;
    f.write_all(bytes).map_err(io_err("writing", path))?;
    f.sync_all().map_err(io_err("syncing", path))
}
