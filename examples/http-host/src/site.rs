//! The site: the host, what it activates, and the activation being served with its
//! routes. A reload installs the packages dropped into the packages directory, reads
//! the application config again, activates the requested modules (their newest
//! installed versions) beside the serving activation, and swaps only when every step
//! succeeded. A failed reload leaves the serving activation in place and says why. What
//! a failed reload did before failing stays done: the packages it installed (each
//! install is atomic), and the `kv` writes of the new activation's `init` hooks when it
//! failed on the routes, after activating.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use wasmod::{Activation, AppConfig, Host, ModuleName, Request};

use crate::metrics::ServerCounts;
use crate::routes::{RouteError, RouteTable, SUBSYSTEM};

/// What the site activates.
#[derive(Clone, Debug, Default)]
pub struct SiteOptions {
    /// A directory whose `*.zip` packages are installed at start and at every reload, in
    /// name order; `None` serves what the store holds.
    pub packages: Option<PathBuf>,
    /// The application config (RON: module → key → value), read at every reload.
    pub config: Option<PathBuf>,
    /// The modules to activate; when empty, every installed module with a function
    /// implementing `http.handle`.
    pub modules: Vec<Request>,
}

/// Why the site could not (re)load; a serving activation stays in place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SiteError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A package was refused (earlier packages of the same reload stay installed).
    #[error("cannot install {}: {source}", path.display())]
    Install {
        /// The package.
        path: PathBuf,
        /// Why.
        source: Box<wasmod::Error>,
    },
    /// The application config is not valid RON.
    #[error("{}: {source}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// Where and what.
        source: wasmod::ConfigFileError,
    },
    /// The store could not be listed.
    #[error("cannot list the store: {0}")]
    Store(Box<wasmod::Error>),
    /// Nothing to serve: no module was requested and none installed implements the
    /// extension point.
    #[error("no installed module implements {SUBSYSTEM}, and none was requested")]
    NothingToServe,
    /// The activation failed (resolution, config, an init hook, cardinality, …).
    #[error("cannot activate: {0}")]
    Activate(Box<wasmod::Error>),
    /// The routes of the new activation do not fit together.
    #[error(transparent)]
    Routes(#[from] RouteError),
    /// The reload's thread ended before it did (it panicked, or the runtime is stopping).
    #[error("the reload did not finish: {0}")]
    Interrupted(tokio::task::JoinError),
}

/// What is being served: an activation and its routes.
#[derive(Debug)]
pub struct Live {
    /// The activation calls go to.
    pub activation: Activation,
    /// Its routes.
    pub routes: RouteTable,
    /// 1 for the first activation, one more at each successful reload.
    pub generation: u64,
}

/// What a successful reload did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Reloaded {
    /// The generation now served.
    pub generation: u64,
    /// Packages newly installed, `name@version`.
    pub installed: Vec<String>,
    /// The modules active now, `name@version`, in plan order.
    pub active: Vec<String>,
    /// Every route with its handler.
    pub routes: Vec<(String, String)>,
}

/// The site (see the module docs). Shared by the request handlers.
#[derive(Debug)]
pub struct Site {
    host: Host,
    options: SiteOptions,
    live: RwLock<Arc<Live>>,
    /// One reload at a time.
    reloading: Mutex<()>,
    /// Requests answered, read by the `http.host` group too.
    pub requests: Arc<AtomicU64>,
    /// Requests no route matched.
    pub unrouted: AtomicU64,
    /// Module calls running now.
    pub calls_in_flight: AtomicU64,
    reloads: AtomicU64,
    failed_reloads: AtomicU64,
}

impl Site {
    /// Installs the packages, activates and builds the routes: the first generation.
    /// `requests` is the count the `http.host` group reads.
    ///
    /// # Errors
    /// Every [`SiteError`].
    pub fn open(host: Host, options: SiteOptions, requests: Arc<AtomicU64>) -> Result<(Site, Reloaded), SiteError> {
        let (live, installed) = prepare(&host, &options, 1)?;
        let report = report(&live, installed);
        let site = Site {
            host,
            options,
            live: RwLock::new(Arc::new(live)),
            reloading: Mutex::new(()),
            requests,
            unrouted: AtomicU64::new(0),
            calls_in_flight: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            failed_reloads: AtomicU64::new(0),
        };
        Ok((site, report))
    }

    /// The activation being served now. A request keeps the one it started with, even
    /// across a reload.
    pub fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Prepares the next generation and swaps it in (see the module docs). Blocks while
    /// modules compile: run it off the async threads.
    ///
    /// # Errors
    /// Every [`SiteError`]; the serving activation is unchanged.
    pub fn reload(&self) -> Result<Reloaded, SiteError> {
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let next = self.live().generation + 1;
        match prepare(&self.host, &self.options, next) {
            Ok((live, installed)) => {
                let report = report(&live, installed);
                let previous =
                    std::mem::replace(&mut *self.live.write().unwrap_or_else(|p| p.into_inner()), Arc::new(live));
                // Dropped outside the lock: tearing an activation down blocks no reader.
                drop(previous);
                self.reloads.fetch_add(1, Ordering::Relaxed);
                Ok(report)
            }
            Err(e) => {
                self.failed_reloads.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// The server's own counts, for `/metrics`.
    pub fn counts(&self) -> ServerCounts {
        let live = self.live();
        ServerCounts {
            calls_in_flight: self.calls_in_flight.load(Ordering::Relaxed),
            generation: live.generation,
            requests: self.requests.load(Ordering::Relaxed),
            unrouted: self.unrouted.load(Ordering::Relaxed),
            reloads: self.reloads.load(Ordering::Relaxed),
            failed_reloads: self.failed_reloads.load(Ordering::Relaxed),
            routes: live.routes.len(),
        }
    }
}

/// Installs, reads the config, activates, routes: a generation not yet served, and the
/// packages it newly installed.
fn prepare(host: &Host, options: &SiteOptions, generation: u64) -> Result<(Live, Vec<String>), SiteError> {
    let installed = match &options.packages {
        Some(dir) => install_dir(host, dir)?,
        None => Vec::new(),
    };
    let config = match &options.config {
        Some(path) => {
            let text = read(path)?;
            AppConfig::from_ron(&text).map_err(|source| SiteError::Config { path: path.clone(), source })?
        }
        None => AppConfig::new(),
    };
    let modules = if options.modules.is_empty() { handlers_installed(host)? } else { options.modules.clone() };
    let activation = host.activate(&modules, &config).map_err(|e| SiteError::Activate(Box::new(e)))?;
    let routes = RouteTable::of(&activation)?;
    Ok((Live { activation, routes, generation }, installed))
}

/// Installs every `*.zip` of `dir`, in name order; returns those that were new.
fn install_dir(host: &Host, dir: &Path) -> Result<Vec<String>, SiteError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SiteError::Read { path: dir.to_owned(), source })?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| SiteError::Read { path: dir.to_owned(), source })?.path();
        if path.extension().is_some_and(|e| e == "zip") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut installed = Vec::new();
    for path in paths {
        let archive = std::fs::read(&path).map_err(|source| SiteError::Read { path: path.clone(), source })?;
        let outcome = host
            .install(&archive)
            .map_err(|source| SiteError::Install { path: path.clone(), source: Box::new(source) })?;
        if outcome.newly_installed {
            tracing::info!("installed {}", outcome.id);
            installed.push(outcome.id);
        }
    }
    Ok(installed)
}

/// A request (any version) for every installed module with a function implementing the
/// extension point.
fn handlers_installed(host: &Host) -> Result<Vec<Request>, SiteError> {
    let listing = host.list().map_err(|e| SiteError::Store(Box::new(e)))?;
    let mut names: Vec<&ModuleName> = listing
        .installed
        .iter()
        .filter(|m| m.manifest.functions.values().any(|f| f.implements == SUBSYSTEM))
        .map(|m| &m.manifest.name)
        .collect();
    names.dedup();
    if names.is_empty() {
        return Err(SiteError::NothingToServe);
    }
    Ok(names.into_iter().map(|name| Request::any(name.clone())).collect())
}

fn read(path: &Path) -> Result<String, SiteError> {
    std::fs::read_to_string(path).map_err(|source| SiteError::Read { path: path.to_owned(), source })
}

fn report(live: &Live, installed: Vec<String>) -> Reloaded {
    Reloaded {
        generation: live.generation,
        installed,
        active: live.activation.plan().modules.iter().map(|m| format!("{}@{}", m.name, m.version)).collect(),
        routes: live.routes.described(),
    }
}
