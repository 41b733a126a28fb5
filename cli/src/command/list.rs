//! `wasmod list`: the store's intact versions and the damaged ones.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::args::Cli;
use crate::output::Render;
use crate::setup::open;

/// What the store holds: intact versions by name then version, damaged directories by path.
#[derive(Debug, Serialize)]
pub(crate) struct Listing {
    damaged: Vec<Damaged>,
    installed: Vec<Listed>,
    /// The store's directory, for the text form of an empty listing.
    #[serde(skip)]
    store: PathBuf,
}

/// One intact version, as its manifest describes it.
#[derive(Debug, Serialize)]
struct Listed {
    /// Dependency name to version requirement.
    dependencies: BTreeMap<String, String>,
    description: Option<String>,
    /// Function name to the subsystem function it implements.
    functions: BTreeMap<String, String>,
    name: String,
    version: String,
}

/// A version directory that does not hold a readable package.
#[derive(Debug, Serialize)]
struct Damaged {
    dir: String,
    reason: String,
}

impl Render for Listing {
    fn text(&self) -> std::io::Result<()> {
        if self.installed.is_empty() && self.damaged.is_empty() {
            println!("no modules installed in {}", self.store.display());
        }
        for m in &self.installed {
            let functions: Vec<String> =
                m.functions.iter().map(|(n, implements)| format!("{n} ({implements})")).collect();
            println!("{:<32} {}", format!("{}@{}", m.name, m.version), functions.join(", "));
        }
        for d in &self.damaged {
            println!("{:<32} DAMAGED: {}", d.dir, d.reason);
        }
        Ok(())
    }
}

pub(crate) fn run(cli: &Cli) -> Result<Listing> {
    let listing = open(cli)?.list()?;
    let installed = listing
        .installed
        .iter()
        .map(|m| Listed {
            dependencies: m.manifest.dependencies.iter().map(|(n, r)| (n.to_string(), r.to_string())).collect(),
            description: m.manifest.description.clone(),
            functions: m.manifest.functions.iter().map(|(n, f)| (n.clone(), f.implements.clone())).collect(),
            name: m.manifest.name.as_str().to_owned(),
            version: m.manifest.version.to_string(),
        })
        .collect();
    let damaged = listing
        .damaged
        .iter()
        .map(|d| Damaged { dir: d.dir.display().to_string(), reason: d.reason.clone() })
        .collect();
    Ok(Listing { damaged, installed, store: cli.store.clone() })
}
