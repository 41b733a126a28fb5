//! `wasmod uninstall`: one installed version removed.

use anyhow::Result;
use serde::Serialize;

use crate::args::{Cli, UninstallArgs};
use crate::output::Render;
use crate::setup::{open, parse_id};

/// The version removed, as the operator named it.
#[derive(Debug, Serialize)]
pub(crate) struct Uninstalled {
    uninstalled: String,
}

impl Render for Uninstalled {
    fn text(&self) -> std::io::Result<()> {
        println!("uninstalled {}", self.uninstalled);
        Ok(())
    }
}

pub(crate) fn run(cli: &Cli, args: &UninstallArgs) -> Result<Uninstalled> {
    let (name, version) = parse_id(&args.module)?;
    let host = open(cli)?;
    if args.force {
        host.uninstall_even_if_needed(&name, &version)?
    } else {
        host.uninstall(&name, &version)?
    }
    Ok(Uninstalled { uninstalled: args.module.clone() })
}
