//! `wasmod install`: packages validated, compiled and installed one by one (each one
//! atomically); a package that fails leaves the store as it was and the rest go on.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::args::{Cli, InstallArgs};
use crate::output::{Render, color, print_json};
use crate::setup::{open, read_archive};

/// What became of one package.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum PackageResult {
    /// Installed now, or found installed already.
    Installed { installed: String, new: bool, package: PathBuf, report: wasmod::Report },
    /// Validation rejected it under the host policy; nothing was installed from it.
    Rejected {
        package: PathBuf,
        /// Always `true`: the JSON form names the outcome by this key.
        rejected: bool,
        report: wasmod::Report,
    },
    /// Something else went wrong (the store, the compiler, ...).
    Failed { error: String, package: PathBuf },
}

impl PackageResult {
    fn failed(&self) -> bool {
        !matches!(self, PackageResult::Installed { .. })
    }
}

impl Render for PackageResult {
    fn text(&self) -> std::io::Result<()> {
        match self {
            PackageResult::Installed { installed, new, report, .. } => {
                if !report.diagnostics.is_empty() {
                    eprint!("{}", report.render(color()));
                }
                let what = if *new { "installed" } else { "already installed" };
                println!("{what} {installed}");
            }
            PackageResult::Rejected { package, report, .. } => {
                eprint!("{}", report.render(color()));
                eprintln!("nothing was installed from {}", package.display());
            }
            PackageResult::Failed { error, package } => eprintln!("error: {}: {error}", package.display()),
        }
        Ok(())
    }
}

/// Installs every package, rendering each result as it comes in text (and all of them
/// at the end in JSON). Returns whether any failed.
pub(crate) fn run(cli: &Cli, args: &InstallArgs) -> Result<bool> {
    let host = open(cli)?;
    let options = wasmod::InstallOptions { allow_new_grants: args.allow_new_grants };
    let mut results = Vec::new();
    for path in &args.packages {
        let package = path.clone();
        let result = match host.install_with(&read_archive(path)?, &options) {
            Ok(done) => {
                PackageResult::Installed { installed: done.id, new: done.newly_installed, package, report: done.report }
            }
            Err(wasmod::Error::Rejected(report)) => PackageResult::Rejected { package, rejected: true, report },
            Err(e) => PackageResult::Failed { error: e.to_string(), package },
        };
        if !cli.json {
            result.text()?;
        }
        results.push(result);
    }
    if cli.json {
        print_json(&results)?;
    }
    Ok(results.iter().any(PackageResult::failed))
}
