//! `wasmod validate`: a package checked against the policy, nothing installed.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::args::{Cli, ValidateArgs};
use crate::output::{Render, color};
use crate::setup::{open, read_archive};

/// The verdict on one package.
#[derive(Debug, Serialize)]
pub(crate) struct Validated {
    /// Whether the host accepted the package (what the exit code says).
    #[serde(skip)]
    accepted: bool,
    ok: bool,
    package: PathBuf,
    report: wasmod::Report,
}

impl Validated {
    /// Whether the host accepted the package.
    pub(crate) fn accepted(&self) -> bool {
        self.accepted
    }
}

impl Render for Validated {
    /// The report goes to stderr: it is diagnostics.
    fn text(&self) -> std::io::Result<()> {
        eprint!("{}", self.report.render(color()));
        Ok(())
    }
}

pub(crate) fn run(cli: &Cli, args: &ValidateArgs) -> Result<Validated> {
    let host = open(cli)?;
    let (accepted, report) = match host.validate(&read_archive(&args.package)?) {
        Ok(v) => (true, v.report().clone()),
        Err(r) => (false, r),
    };
    Ok(Validated { accepted, ok: report.is_ok(), package: args.package.clone(), report })
}
